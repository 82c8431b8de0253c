//! The sweep: orphaned deployments rolled back, deployments still driven left alone, late
//! continuations, and clicks on orphans.

use super::*;

/// EventBridge's `Scheduled Event`, as the template's schedule sends it every minute.
fn scheduled_event() -> Value {
    json!({
        "version": "0",
        "id": "53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa",
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "123456789012",
        "time": "2026-12-07T12:00:00Z",
        "region": "us-east-1",
        "resources": ["arn:aws:events:us-east-1:123456789012:rule/gantry-SweepOrphanedDeployments"],
        "detail": {}
    })
}

/// One sweep, as the schedule invokes the function: its answer.
async fn sweep(shifter: &TrafficShifter) -> Value {
    let mut context = lambda_runtime::Context::default();
    context.deadline = gantry_core::clock::now_epoch_millis() as u64 + 60_000;
    traffic_shifter::handle_any(
        shifter,
        lambda_runtime::LambdaEvent::new(scheduled_event(), context),
    )
    .await
    .expect("the sweep ran")
}

/// The deployments a sweep's answer lists under `what` (`rolled_back`, `left`, …).
fn swept(answer: &Value, what: &str) -> Vec<String> {
    answer[what]
        .as_array()
        .unwrap_or_else(|| panic!("{what} in {answer}"))
        .iter()
        .map(|v| v.as_str().unwrap_or_default().to_string())
        .collect()
}

/// A rig whose deployments count as orphaned after `orphan_after` seconds unwatched, its
/// progress posted to `slack` in an execution thread opened for each job it starts.
async fn sweep_rig(slack: &SlackNs, orphan_after: u32) -> Rig {
    let mut setup = Setup::new("shop", &json!({"slack_bot_token": "xoxb-gantry"})).await;
    setup.env.insert(
        "GANTRY_ORPHAN_AFTER_SECONDS".into(),
        orphan_after.to_string(),
    );
    started(setup.with_slack_progress(slack.api_url())).await
}

/// The texts of every `chat.postMessage` the shifter made (progress and thread replies).
async fn posted(slack: &SlackNs) -> Vec<String> {
    slack
        .calls(Some("chat.postMessage"))
        .await
        .iter()
        .map(|c| c["body"]["text"].as_str().unwrap_or_default().to_string())
        .collect()
}

/// Everything a second sweep must leave as it was: the listener's weight changes, each job's
/// results, the Slack calls.
async fn world_seen(rig: &Rig, slack: &SlackNs, jobs: &[&str]) -> Value {
    let mut results = Vec::new();
    for j in jobs {
        results.push(job(j).await["results"].clone());
    }
    json!({
        "weights": rig.shop.green_shares(false).await,
        "results": results,
        "slack": slack.calls(None).await.len(),
        "green": rig.shop.service(&rig.shop.green_service).await.1,
    })
}

#[tokio::test]
async fn a_canary_whose_continuation_keeps_failing_is_rolled_back_by_the_sweep() {
    let slack = SlackNs::new();
    let rig = sweep_rig(&slack, 2).await;
    let shop = &rig.shop;
    let green_before = shop.service(&shop.green_service).await;
    let (first, second) = canary_handed_over(&rig, 600).await;
    let deployment = id(&first).to_string();
    let execution = shop.execution_of(&deployment).await;
    open_execution_thread(shop, &rig.table, &execution, "1767225600.000100").await;

    // CodePipeline's GetJobDetails is down for the continuation: Lambda's invocation and its
    // two retries all fail, and the event goes to the dead-letter queue.
    gantry_tests::http::post(
        &format!("{}/_gantry/faults", gantry_tests::emulator_url()),
        &json!({"operation": "GetJobDetails", "count": 1000, "match": id(&second)}),
    )
    .await;
    for _ in 0..3 {
        let r = traffic_shifter::handle(&*rig.shifter, lambda_event(&second["event"])).await;
        assert!(r.is_err(), "the continuation cannot go on: {r:?}");
    }
    assert_eq!(shop.weights(false).await, (90, 10), "left split");

    // Once nothing has watched it for GANTRY_ORPHAN_AFTER_SECONDS, the sweep rolls it back,
    // GetJobDetails still down.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let answer = sweep(&rig.shifter).await;
    assert_eq!(
        swept(&answer, "rolled_back"),
        vec![deployment.clone()],
        "{answer}"
    );
    assert_eq!(
        shop.weights(false).await,
        (100, 0),
        "all traffic back on blue"
    );
    assert_eq!(
        shop.service(&shop.green_service).await,
        green_before,
        "green scaled back to what it ran"
    );
    let views = vec![job(id(&second)).await];
    assert_eq!(status(&views), "Failed", "the open job is failed");
    let message = failure_message(&views);
    assert!(
        message.starts_with("rolled back at 10% green: no invocation of the traffic shifter has watched this deployment for"),
        "{message}"
    );
    assert_eq!(
        record(&rig, &deployment).await["status"].as_s().unwrap(),
        "rolled_back"
    );
    let texts = posted(&slack).await;
    assert!(
        texts.iter().any(|t| t.starts_with(":broom: Gantry's sweep rolled this deployment back: no invocation of the traffic shifter had checked this deployment for")
            && t.contains("CodePipeline's next invocation kept failing")),
        "the thread is told why: {texts:#?}"
    );

    // A second sweep, once the wait has passed again, changes nothing.
    let before = world_seen(&rig, &slack, &[id(&first), id(&second)]).await;
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let again = sweep(&rig.shifter).await;
    assert!(swept(&again, "rolled_back").is_empty(), "{again}");
    assert_eq!(
        world_seen(&rig, &slack, &[id(&first), id(&second)]).await,
        before
    );
}

#[tokio::test]
async fn a_sweep_never_touches_a_deployment_still_being_driven() {
    let slack = SlackNs::new();
    // Unwatched for a second would be orphaned: only the running leases keep it safe.
    let rig = sweep_rig(&slack, 1).await;
    let first = start(&rig, canary(5)).await;
    let running = spawn_run(&rig.shifter, &first);
    let mut sweeps = 0;
    while !running.is_finished() {
        let answer = sweep(&rig.shifter).await;
        assert!(swept(&answer, "rolled_back").is_empty(), "{answer}");
        sweeps += 1;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let views = running.await.unwrap();
    assert_eq!(status(&views), "Succeeded", "{views:?}");
    assert!(
        views.len() > 1,
        "the deployment spanned several invocations"
    );
    assert!(sweeps > 5, "swept all along: {sweeps}");
    assert_eq!(rig.shop.green_shares(false).await, vec![10, 100]);
    // Finished, it leaves the sweep's index.
    let answer = sweep(&rig.shifter).await;
    assert_eq!(swept(&answer, "rolled_back"), Vec::<String>::new());
    let answer = sweep(&rig.shifter).await;
    assert!(
        !swept(&answer, "left").contains(&id(&first).to_string()),
        "{answer}"
    );
}

#[tokio::test]
async fn a_roll_back_click_on_an_orphaned_deployment_is_applied_by_the_next_sweep() {
    let slack = SlackNs::new();
    // The default wait: the click, not the time unwatched, makes it the sweep's.
    let rig = sweep_rig(&slack, 600).await;
    let shop = &rig.shop;
    let (first, second) = canary_handed_over(&rig, 600).await;
    let deployment = id(&first).to_string();
    let execution = shop.execution_of(&deployment).await;
    open_execution_thread(shop, &rig.table, &execution, "1767225600.000100").await;
    // GetPipeline is down: the continuation and its two retries fail (its event goes to the
    // dead-letter queue). U0RELEASE clicks Roll back, which no invocation will read.
    gantry_tests::http::post(
        &format!("{}/_gantry/faults", gantry_tests::emulator_url()),
        &json!({"operation": "GetPipeline", "count": 1000, "match": shop.pipeline}),
    )
    .await;
    for _ in 0..3 {
        let r = traffic_shifter::handle(&*rig.shifter, lambda_event(&second["event"])).await;
        assert!(r.is_err(), "the continuation cannot go on: {r:?}");
    }
    click(&rig, &deployment, "rollback").await;
    let answer = sweep(&rig.shifter).await;
    assert_eq!(
        swept(&answer, "rolled_back"),
        vec![deployment.clone()],
        "{answer}"
    );
    assert_eq!(shop.weights(false).await, (100, 0));
    assert_eq!(
        failure_message(&[job(id(&second)).await]),
        "rolled back at 10% green: rollback requested by <@U0RELEASE>"
    );
    let texts = posted(&slack).await;
    assert!(
        texts.iter().any(|t| t.contains(
            "<@U0RELEASE> asked to roll back while no invocation was driving this deployment"
        )),
        "{texts:#?}"
    );
    gantry_tests::http::post(
        &format!("{}/_gantry/faults", gantry_tests::emulator_url()),
        &json!({"operation": "GetPipeline", "count": 0, "match": shop.pipeline}),
    )
    .await;
}

#[tokio::test]
async fn a_continuation_the_sweep_could_not_know_fails_its_job_when_it_arrives_late() {
    let slack = SlackNs::new();
    let rig = sweep_rig(&slack, 600).await;
    let shop = &rig.shop;
    let (first, second) = canary_handed_over(&rig, 600).await;
    let deployment = id(&first).to_string();
    // The continuation has not run yet (Lambda's queue holds it), so the sweep knows only the
    // first job, closed already; a Roll back click makes the deployment the sweep's.
    click(&rig, &deployment, "rollback").await;
    let answer = sweep(&rig.shifter).await;
    assert_eq!(
        swept(&answer, "rolled_back"),
        vec![deployment.clone()],
        "{answer}"
    );
    assert_eq!(job(id(&second)).await["status"], "InProgress");
    // The continuation arrives: overtaken by the sweep, it fails its own job with the
    // rollback's message instead of leaving it open until CodePipeline times it out.
    let late = invoke(&*rig.shifter, &second["event"]).await;
    assert_eq!(late["outcome"], "failed", "{late}");
    assert_eq!(
        failure_message(&[job(id(&second)).await]),
        "rolled back at 10% green: rollback requested by <@U0RELEASE>"
    );
    assert_eq!(
        shop.green_shares(false).await,
        vec![10, 0],
        "nothing moved again"
    );
}

#[tokio::test]
async fn pause_and_extend_past_the_actions_limit_are_refused_naming_the_time_left() {
    let slack = SlackNs::new();
    let rig = sweep_rig(&slack, 600).await;
    let shop = &rig.shop;
    // The longest bake CodePipeline's one-day limit allows with these timings: ready 30 s and
    // a 1 s check, scale-down 1 s and a check; about 30 s of room once green is ready.
    let first = start(&rig, canary(86_366)).await;
    let deployment = id(&first).to_string();
    let execution = shop.execution_of(&deployment).await;
    open_execution_thread(shop, &rig.table, &execution, "1767225600.000100").await;
    let running = spawn_run(&rig.shifter, &first);
    shop.until_green_at(10).await;

    for (command, minutes, says) in [
        ("pause", None, "which leaves"),
        ("extend", Some(10), "so the bake can be extended by at most"),
    ] {
        let at = gantry_core::clock::now_epoch_seconds() as u64;
        let c = Command {
            command,
            at,
            version: Some(0),
            minutes,
        };
        write_command(shop, &rig.table, &deployment, &c).await;
        // The shifter reads it at its next check and says why in the thread.
        let deadline = Instant::now() + Duration::from_secs(20);
        let refusal = loop {
            let texts = posted(&slack).await;
            if let Some(t) = texts
                .iter()
                .find(|t| t.starts_with(command) && t.contains("refused"))
            {
                break t.clone();
            }
            assert!(
                Instant::now() < deadline,
                "no refusal of {command} in {texts:#?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        assert!(
            refusal.contains("refused: CodePipeline ends this action in 23 h 59 min")
                && refusal.contains(says),
            "{refusal}"
        );
    }
    let trail = record(&rig, &deployment).await["controls"].clone();
    assert!(
        trail
            .as_l()
            .unwrap()
            .iter()
            .all(|e| e.as_s().unwrap().contains("refused")),
        "neither was applied: {trail:?}"
    );
    click(&rig, &deployment, "rollback").await;
    let views = running.await.unwrap();
    assert_eq!(
        failure_message(&views),
        "rolled back at 10% green: rollback requested by <@U0RELEASE>"
    );
}
