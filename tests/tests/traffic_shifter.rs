//! The traffic shifter end to end: CodePipeline jobs (and their continuations) through the
//! Lambda adapter, against ECS, an ALB, CloudWatch alarms and DynamoDB in the emulator.

use aws_lambda_events::event::codepipeline_job::CodePipelineJobEvent;
use aws_sdk_dynamodb::types::AttributeValue;
use gantry_core::traffic::{ForwardTarget, TargetHealth, TrafficControl};
use gantry_core::traffic::{LoadBalancer, ShiftError};
use gantry_tests::aws::sdk;
use gantry_tests::shifter::{
    deployment_record, invoke, lambda_event, open_execution_thread, run_to_end, spawn_run,
    with_stand_ins, write_command, Command, Setup, NEW_IMAGE,
};
use gantry_tests::slack::{buttons, SlackNs};
use gantry_tests::traffic::{
    alarm_when_traffic_moves, failure_message, job, last_result, outcome, run_job, Shop, CONTAINER,
    FIRST_IMAGE,
};
use gantry_tests::unique;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};
use traffic_shifter::TrafficShifter;

struct Rig {
    shop: Shop,
    shifter: Arc<TrafficShifter>,
    table: String,
}

/// A shop (blue live with two tasks), a state table, and the shifter with a short time slice
/// so that deployments span several invocations.
async fn rig() -> Rig {
    rig_granting(|_| json!({})).await
}

/// `rig`, its stack's template parameters also set to `extra(shop)` (the shifter's role is
/// resolved from them).
async fn rig_granting(extra: fn(&Shop) -> Value) -> Rig {
    let mut setup = Setup::new("shop", &json!({})).await;
    if let (Some(parameters), Value::Object(extra)) = (
        setup.stack.parameters[0].as_object_mut(),
        extra(&setup.shop),
    ) {
        parameters.extend(extra);
    }
    started(setup).await
}

/// The rig `setup` makes, its shifter started.
async fn started(setup: Setup) -> Rig {
    let shifter = setup.shifter().await;
    Rig {
        shop: setup.shop,
        shifter: Arc::new(shifter),
        table: setup.table,
    }
}

/// A rig whose shifter posts progress to `slack` (channel C0DEPLOYS), and the first job of a
/// 2-second canary of NEW_IMAGE: (rig, job event, deployment id).
async fn slack_rig_with_canary(slack: &SlackNs) -> (Rig, Value, String) {
    let setup = Setup::new("shop", &json!({"slack_bot_token": "xoxb-gantry"})).await;
    let rig = started(setup.with_slack_progress(slack.api_url())).await;
    let first = start(&rig, canary(2)).await;
    let deployment = id(&first).to_string();
    (rig, first, deployment)
}

/// Starts a job deploying NEW_IMAGE with `strategy`; returns `{job_id, event}`.
async fn start(rig: &Rig, strategy: Value) -> Value {
    let shop = &rig.shop;
    shop.start_job(&shop.user_parameters(NEW_IMAGE, strategy), json!([]))
        .await
}

/// A job with `params`, run to its end.
async fn run_with(rig: &Rig, params: &Value) -> Vec<Value> {
    run_to_end(&rig.shifter, &rig.shop.start_job(params, json!([])).await).await
}

/// A rig running a 10% canary of NEW_IMAGE baking `bake_seconds` in the background, green at
/// its 10%: (rig, the first job, the run).
async fn canary_at_ten(bake_seconds: u64) -> (Rig, Value, tokio::task::JoinHandle<Vec<Value>>) {
    let rig = rig().await;
    let first = start(&rig, canary(bake_seconds)).await;
    let running = spawn_run(&rig.shifter, &first);
    rig.shop.until_green_at(10).await;
    (rig, first, running)
}

/// Starts a 10% canary of NEW_IMAGE baking `bake_seconds` and makes its first invocation,
/// which shifts green to 10% and hands over: (the first job, its continuation).
async fn canary_handed_over(rig: &Rig, bake_seconds: u64) -> (Value, Value) {
    let first = start(rig, canary(bake_seconds)).await;
    invoke(&*rig.shifter, &first["event"]).await;
    assert_eq!(rig.shop.weights(false).await, (90, 10));
    let second = next_job(&first).await;
    (first, second)
}

/// The continuation token a job's `data` holds, parsed.
fn continuation_token(data: &Value) -> Value {
    let token = data["continuationToken"]
        .as_str()
        .expect("a continuation token");
    serde_json::from_str(token).expect("the token is JSON")
}

/// A job's id (of `{job_id, event}` or of a view's `next_job`).
fn id(job: &Value) -> &str {
    job["job_id"].as_str().expect("job_id")
}

/// The continuation CodePipeline created when `of` handed over.
async fn next_job(of: &Value) -> Value {
    job(id(of)).await["next_job"].clone()
}

/// How the last job ended (`Succeeded`, `Failed`, …).
fn status(views: &[Value]) -> &Value {
    &views.last().expect("a job")["status"]
}

/// Of the results sent for a job, CodePipeline accepted exactly one (`why` says what that
/// shows).
async fn assert_one_result_accepted(job_id: &str, why: &str) {
    let results = job(job_id).await["results"].clone();
    let accepted = results
        .as_array()
        .expect("results")
        .iter()
        .filter(|r| r["error"].is_null())
        .count();
    assert_eq!(accepted, 1, "{why}: {results}");
}

/// The invocation answered `outcome`, its message saying `says`.
fn assert_answer(answer: &Value, outcome: &str, says: &str) {
    assert_eq!(answer["outcome"], outcome, "{answer}");
    assert!(
        answer["message"]
            .as_str()
            .expect("a message")
            .contains(says),
        "{answer}"
    );
}

/// A job in `first`'s execution made by someone who can answer jobs: the parameters of the
/// job `data` describes, with `token` as its continuation token (CodePipeline hands it to the
/// next invocation). Returns `{job_id, event}`.
async fn job_with_token(shop: &Shop, first: &Value, data: &Value, token: &Value) -> Value {
    let execution = shop.execution_of(id(first)).await;
    gantry_tests::http::post(
        &format!("{}/_gantry/codepipeline/jobs", gantry_tests::emulator_url()),
        &json!({"pipeline": shop.pipeline, "stage": "Deploy", "action": "Deploy",
                "execution_id": execution,
                "user_parameters": data["actionConfiguration"]["configuration"]["UserParameters"],
                "continuation_token": token.to_string()}),
    )
    .await
}

/// Edits a job event's UserParameters to deploy another image (what an attacker would want).
fn deploy_another_image(shop: &Shop, event: &mut Value) {
    event["CodePipeline.job"]["data"]["actionConfiguration"]["configuration"]["UserParameters"] =
        json!(shop
            .user_parameters("evil.example/shop:666", all_at_once())
            .to_string());
}

fn all_at_once() -> Value {
    json!("CodeDeployDefault.ECSAllAtOnce")
}

fn canary(bake_seconds: u64) -> Value {
    json!({"type": "canary", "percent": 10, "bake_seconds": bake_seconds})
}

/// Writes an operator's command into the deployment record, as the approval function does
/// when someone clicks a button.
async fn click(rig: &Rig, deployment: &str, command: &str) {
    let command = Command {
        command,
        ..Command::default()
    };
    write_command(&rig.shop, &rig.table, deployment, &command).await;
}

async fn record(rig: &Rig, deployment: &str) -> HashMap<String, AttributeValue> {
    deployment_record(&rig.shop, &rig.table, deployment)
        .await
        .expect("the deployment record")
}

#[tokio::test]
async fn a_canary_goes_to_the_end_and_the_roles_swap() {
    let rig = rig().await;
    let shop = &rig.shop;
    let (old_task_definition, _) = shop.service(&shop.green_service).await;
    let first = start(&rig, canary(2)).await;
    let views = run_to_end(&rig.shifter, &first).await;

    assert_eq!(
        shop.green_shares(false).await,
        vec![10, 100],
        "canary: 10%, bake, the rest"
    );
    assert_eq!(shop.weights(false).await, (0, 100));
    assert!(
        views.len() >= 2,
        "a deployment longer than a slice continues: {} invocations",
        views.len()
    );
    assert!(views[..views.len() - 1]
        .iter()
        .all(|v| v["status"] == "Continued"));
    assert_eq!(status(&views), "Succeeded");

    let (green_td, green_desired) = shop.service(&shop.green_service).await;
    assert_ne!(
        green_td, old_task_definition,
        "a new revision was registered"
    );
    assert_eq!(shop.image(&green_td, CONTAINER).await, NEW_IMAGE);
    assert_eq!(
        shop.image(&green_td, "log-router").await,
        "fluent-bit:3",
        "the rest is copied"
    );
    assert_eq!(green_desired, 2, "green runs what blue ran");
    assert_eq!(
        shop.service(&shop.blue_service).await.1,
        0,
        "blue is scaled down"
    );
    assert_eq!(
        shop.image(&shop.service(&shop.blue_service).await.0, CONTAINER)
            .await,
        FIRST_IMAGE
    );

    let done = last_result(&views);
    assert_eq!(done["operation"], "PutJobSuccessResult");
    assert!(done["body"].get("continuationToken").is_none());
    let summary = done["body"]["executionDetails"]["summary"]
        .as_str()
        .unwrap();
    assert!(
        summary.starts_with(&format!(
            "green ({}) is live on {}",
            shop.green_service, shop.name
        )),
        "{summary}"
    );
    // Every hand-over reported its progress, and the token stayed within CodePipeline's limit.
    let percents: Vec<i64> = views
        .iter()
        .filter_map(|v| v["results"][0]["body"]["executionDetails"]["percentComplete"].as_i64())
        .collect();
    assert!(percents.windows(2).all(|w| w[0] <= w[1]), "{percents:?}");
    assert_eq!(percents.last(), Some(&100));
    for v in &views[..views.len() - 1] {
        let token = v["results"][0]["body"]["continuationToken"]
            .as_str()
            .unwrap();
        assert!(token.len() <= 2048);
    }
}

#[tokio::test]
async fn a_second_deployment_goes_from_green_back_to_blue() {
    let rig = rig().await;
    let shop = &rig.shop;
    let params = shop.user_parameters(NEW_IMAGE, json!({"type": "all_at_once"}));
    run_with(&rig, &params).await;
    assert_eq!(shop.weights(false).await, (0, 100));

    let third = "123456789012.dkr.ecr.us-east-1.amazonaws.com/shop:3";
    let params = shop.user_parameters(third, json!({"type": "all_at_once"}));
    let views = run_with(&rig, &params).await;
    assert_eq!(status(&views), "Succeeded");
    assert_eq!(shop.weights(false).await, (100, 0), "blue is live again");
    let (blue_td, blue_desired) = shop.service(&shop.blue_service).await;
    assert_eq!(shop.image(&blue_td, CONTAINER).await, third);
    assert_eq!(blue_desired, 2);
    assert_eq!(shop.service(&shop.green_service).await.1, 0);
}

/// What the local demo shows: a canary that goes through, then one that an alarm rolls back.
#[tokio::test]
async fn the_demo_story_a_good_canary_then_a_bad_one() {
    let rig = rig().await;
    let shop = &rig.shop;
    let good = shop.user_parameters(NEW_IMAGE, canary(1));
    let views = run_with(&rig, &good).await;
    assert!(
        outcome(&views).starts_with("Succeeded: green"),
        "{}",
        outcome(&views)
    );

    let bad = shop.user_parameters(
        "123456789012.dkr.ecr.us-east-1.amazonaws.com/shop:3",
        canary(30),
    );
    let alarm = alarm_when_traffic_moves(shop, &shop.alarms[1]);
    let views = run_with(&rig, &bad).await;
    alarm.await.unwrap();
    assert_eq!(
        outcome(&views),
        format!(
            "Failed: rolled back at 10% blue: alarm {} went to ALARM",
            shop.alarms[1]
        )
    );
    assert_eq!(
        shop.weights(false).await,
        (0, 100),
        "green, the good version, stays live"
    );
    assert_eq!(shop.green_shares(false).await, vec![10, 100, 90, 100]);
}

#[tokio::test]
async fn linear_shifts_in_equal_steps() {
    let rig = rig().await;
    let shop = &rig.shop;
    let strategy = json!({"type": "linear", "step_percent": 40, "interval_seconds": 1});
    let views = run_to_end(&rig.shifter, &start(&rig, strategy).await).await;
    assert_eq!(status(&views), "Succeeded");
    assert_eq!(shop.green_shares(false).await, vec![40, 80, 100]);
}

#[tokio::test]
async fn all_at_once_is_one_shift() {
    let rig = rig().await;
    let shop = &rig.shop;
    let params = shop.user_parameters(NEW_IMAGE, json!("CodeDeployDefault.ECSAllAtOnce"));
    let views = run_with(&rig, &params).await;
    assert_eq!(status(&views), "Succeeded");
    assert_eq!(shop.green_shares(false).await, vec![100]);
}

#[tokio::test]
async fn weights_on_a_listener_rule_are_shifted_there() {
    let rig = rig().await;
    let shop = &rig.shop;
    let mut params = shop.user_parameters(NEW_IMAGE, canary(1));
    params.as_object_mut().unwrap().remove("listener_arn");
    params["listener_rule_arn"] = json!(shop.rule);
    let views = run_with(&rig, &params).await;
    assert_eq!(status(&views), "Succeeded");
    assert_eq!(shop.green_shares(true).await, vec![10, 100]);
    assert_eq!(
        shop.weights(false).await,
        (100, 0),
        "the default action is left alone"
    );
}

#[tokio::test]
async fn an_alarm_at_step_two_rolls_everything_back() {
    let rig = rig().await;
    let shop = &rig.shop;
    let (green_td_before, _) = shop.service(&shop.green_service).await;
    let strategy = json!({"type": "linear", "step_percent": 25, "interval_seconds": 3});
    let first = start(&rig, strategy).await;
    let running = spawn_run(&rig.shifter, &first);
    shop.until_green_at(50).await;
    let alarmed = Instant::now();
    shop.set_alarm(&shop.alarms[0], "ALARM").await;
    let views = running.await.unwrap();

    assert!(
        alarmed.elapsed() < Duration::from_secs(3),
        "back within about one check interval"
    );
    assert_eq!(
        failure_message(&views),
        format!(
            "rolled back at 50% green: alarm {} went to ALARM",
            shop.alarms[0]
        )
    );
    assert_eq!(status(&views), "Failed");
    assert_eq!(shop.green_shares(false).await, vec![25, 50, 0]);
    assert_eq!(shop.weights(false).await, (100, 0));
    assert_eq!(
        shop.service(&shop.green_service).await,
        (green_td_before, 0),
        "green is back to what it ran, at zero"
    );
    assert_eq!(
        shop.service(&shop.blue_service).await.1,
        2,
        "blue never stopped"
    );
}

#[tokio::test]
async fn unhealthy_green_targets_roll_back() {
    let (rig, _, running) = canary_at_ten(5).await;
    let shop = &rig.shop;
    shop.set_target_health(true, "unhealthy").await;
    let views = running.await.unwrap();
    assert_eq!(
        failure_message(&views),
        format!(
            "rolled back at 10% green: target group {}-green has 2 unhealthy targets (Target.FailedHealthChecks)",
            shop.name
        )
    );
    assert_eq!(shop.weights(false).await, (100, 0));
    assert_eq!(shop.service(&shop.green_service).await.1, 0);
}

#[tokio::test]
async fn green_that_never_gets_healthy_is_given_up_before_any_traffic() {
    let rig = rig().await;
    let shop = &rig.shop;
    shop.set_target_health(true, "unhealthy").await;
    let mut params = shop.user_parameters(NEW_IMAGE, canary(1));
    params["ready_timeout_seconds"] = json!(2);
    let views = run_with(&rig, &params).await;
    let message = failure_message(&views);
    assert!(
        message.starts_with("rolled back at 0% green: the new version was not ready after"),
        "{message}"
    );
    let detail = format!(
        "0/2 targets healthy in {}-green, 2 unhealthy (Target.FailedHealthChecks)",
        shop.name
    );
    assert!(message.ends_with(&detail), "{message}");
    assert!(
        shop.green_shares(false).await.is_empty(),
        "no traffic ever moved"
    );
    assert_eq!(shop.service(&shop.green_service).await.1, 0);
}

#[tokio::test]
async fn the_roll_back_button_rolls_back() {
    let (rig, first, running) = canary_at_ten(60).await;
    let shop = &rig.shop;
    let deployment = id(&first).to_string();
    click(&rig, &deployment, "rollback").await;
    let views = running.await.unwrap();
    assert_eq!(
        failure_message(&views),
        "rolled back at 10% green: rollback requested by <@U0RELEASE>"
    );
    assert_eq!(shop.weights(false).await, (100, 0));
    let r = record(&rig, &deployment).await;
    assert_eq!(r["status"].as_s().unwrap(), "rolled_back");
}

#[tokio::test]
async fn promote_now_skips_the_remaining_bake() {
    let rig = rig().await;
    let shop = &rig.shop;
    let first = start(&rig, canary(600)).await;
    let deployment = id(&first).to_string();
    let started = Instant::now();
    let running = spawn_run(&rig.shifter, &first);
    shop.until_green_at(10).await;
    click(&rig, &deployment, "promote").await;
    let views = running.await.unwrap();
    assert_eq!(status(&views), "Succeeded");
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "the 10-minute bake was skipped"
    );
    assert_eq!(shop.green_shares(false).await, vec![10, 100]);
    let r = record(&rig, &deployment).await;
    assert!(!r.contains_key("command"), "the command was consumed");
    assert_eq!(r["status"].as_s().unwrap(), "succeeded");
    assert_eq!(r["pipeline"].as_s().unwrap(), &shop.pipeline);
    assert_eq!(r["stage"].as_s().unwrap(), "Deploy");
    assert_eq!(
        r["execution_id"].as_s().unwrap(),
        &shop.execution_of(&deployment).await
    );
}

#[tokio::test]
async fn a_repeated_invocation_changes_nothing_twice() {
    let rig = rig().await;
    let shop = &rig.shop;
    let first = start(&rig, canary(8)).await;
    // The first invocation starts green and shifts 10%, then hands over; so does the second.
    invoke(&*rig.shifter, &first["event"]).await;
    assert_eq!(shop.green_shares(false).await, vec![10]);
    let second = next_job(&first).await;
    invoke(&*rig.shifter, &second["event"]).await;
    let third = next_job(&second).await;
    assert!(third.is_object(), "still baking: handed over again");

    // Lambda delivers the first and second events again.
    assert_eq!(
        invoke(&*rig.shifter, &first["event"]).await["outcome"],
        "already_finished"
    );
    assert_eq!(
        invoke(&*rig.shifter, &second["event"]).await["outcome"],
        "already_finished"
    );
    assert_eq!(
        shop.green_shares(false).await,
        vec![10],
        "nothing moved again"
    );
    let (green_td, _) = shop.service(&shop.green_service).await;

    let views = run_to_end(&rig.shifter, &third).await;
    assert_eq!(status(&views), "Succeeded");
    assert_eq!(shop.green_shares(false).await, vec![10, 100]);
    assert_eq!(
        shop.service(&shop.green_service).await.0,
        green_td,
        "no second revision"
    );
    assert_one_result_accepted(id(&second), "reported once").await;
}

#[tokio::test]
async fn a_stopped_pipeline_execution_rolls_the_deployment_back() {
    let (rig, first, running) = canary_at_ten(60).await;
    let shop = &rig.shop;
    // CodePipeline gives up on the job (the execution was stopped, or the job timed out).
    let mut current = id(&first).to_string();
    while let Some(next) = job(&current).await["next_job"]["job_id"].as_str() {
        current = next.to_string();
    }
    aws_sdk_codepipeline::Client::new(&shop.sdk)
        .put_job_failure_result()
        .job_id(&current)
        .failure_details(
            aws_sdk_codepipeline::types::FailureDetails::builder()
                .r#type(aws_sdk_codepipeline::types::FailureType::JobFailed)
                .message("Stopped by the user")
                .build()
                .unwrap(),
        )
        .send()
        .await
        .expect("stop the job");
    running.await.unwrap();
    assert_eq!(
        shop.weights(false).await,
        (100, 0),
        "traffic is not left split"
    );
    assert_eq!(shop.service(&shop.green_service).await.1, 0);
}

/// What a test makes happen right after the shifter changes the weights (given them).
type AfterShift =
    Box<dyn Fn(Vec<(String, u32)>) -> Pin<Box<dyn Future<Output = ()> + Send>> + Send + Sync>;

/// The real load balancer, with something happening right after each weight change it makes
/// (the process dying, a person editing the listener by hand).
struct ThenAfterShift<L>(L, AfterShift);

impl<L: LoadBalancer + Sync> LoadBalancer for ThenAfterShift<L> {
    async fn forward(&self, control: &TrafficControl) -> Result<Vec<ForwardTarget>, ShiftError> {
        self.0.forward(control).await
    }

    async fn set_weights(
        &self,
        control: &TrafficControl,
        weights: &[(String, u32)],
    ) -> Result<(), ShiftError> {
        self.0.set_weights(control, weights).await?;
        (self.1)(weights.to_vec()).await;
        Ok(())
    }

    async fn target_health(&self, arn: &str) -> Result<TargetHealth, ShiftError> {
        self.0.target_health(arn).await
    }
}

#[tokio::test]
async fn an_invocation_that_died_after_a_shift_is_resumed_without_shifting_twice() {
    let rig = rig().await;
    let shop = &rig.shop;
    let s = &*rig.shifter;
    let crashing = Arc::new(with_stand_ins(
        s,
        s.cluster.clone(),
        // The process "dies" right after the first weight change.
        ThenAfterShift(
            s.balancer.clone(),
            Box::new(|_| Box::pin(async { panic!("the invocation died right after shifting") })),
        ),
        s.hooks.clone(),
        s.slice,
    ));
    let first = start(&rig, canary(1)).await;
    let event = first["event"].clone();
    let died = tokio::spawn(async move { invoke(&*crashing, &event).await }).await;
    assert!(died.unwrap_err().is_panic());
    assert_eq!(shop.green_shares(false).await, vec![10]);
    assert_eq!(job(id(&first)).await["status"], "InProgress");

    // Lambda retries the same event (a minute later): the dead invocation's lease has run out.
    tokio::time::sleep(s.slice + gantry_core::traffic::turn::LEASE_MARGIN).await;
    let views = run_to_end(&rig.shifter, &first).await;
    assert_eq!(status(&views), "Succeeded");
    assert_eq!(
        shop.green_shares(false).await,
        vec![10, 100],
        "10% was not set twice"
    );
    assert_eq!(shop.service(&shop.blue_service).await.1, 0);
}

/// A job with `params`, run to its end: it must fail at once with `expected` in its message,
/// and nothing may have moved.
async fn refused(rig: &Rig, params: Value, expected: &str) {
    let shop = &rig.shop;
    let shares_before = shop.green_shares(false).await;
    let green_before = shop.service(&shop.green_service).await;
    let views = run_with(rig, &params).await;
    assert_eq!(views.len(), 1, "refused in the first invocation");
    let r = last_result(&views);
    assert_eq!(
        r["body"]["failureDetails"]["type"], "ConfigurationError",
        "{r}"
    );
    let message = failure_message(&views);
    assert!(
        message.contains(expected),
        "{message:?} should say {expected:?}"
    );
    assert_eq!(
        shop.green_shares(false).await,
        shares_before,
        "no weight moved"
    );
    assert_eq!(
        shop.service(&shop.green_service).await,
        green_before,
        "green untouched"
    );
    assert_eq!(
        shop.service(&shop.blue_service).await.1,
        2,
        "blue untouched"
    );
}

/// `refused`, for the parameters of a 1-second canary of NEW_IMAGE: what the shop is set up
/// with is what is wrong.
async fn refused_as_set_up(rig: &Rig, expected: &str) {
    let shop = &rig.shop;
    refused(rig, shop.user_parameters(NEW_IMAGE, canary(1)), expected).await;
}

#[tokio::test]
async fn bad_user_parameters_fail_at_once_naming_the_problem() {
    // A stack whose QA environment names a service that does not exist (a mistyped parameter):
    // the role grants it, as the template would, so the shifter sees what ECS answers.
    let rig = rig_granting(
        |shop| json!({"QaCluster": shop.cluster, "QaGreenService": "no-such-service"}),
    )
    .await;
    let shop = &rig.shop;
    let good = shop.user_parameters(NEW_IMAGE, canary(1));

    let mut p = good.clone();
    p.as_object_mut().unwrap().remove("listener_arn");
    refused(&rig, p, "UserParameters: listener_arn is missing").await;

    let mut p = good.clone();
    p["strategy"] = json!({"type": "canary", "percent": 10});
    refused(&rig, p, "UserParameters: strategy.bake_seconds is missing").await;

    let mut p = good.clone();
    p["alarms"] = json!(["no-such-alarm"]);
    refused(
        &rig,
        p,
        "alarms: CloudWatch has no alarm named no-such-alarm",
    )
    .await;

    shop.set_alarm(&shop.alarms[1], "ALARM").await;
    refused(
        &rig,
        good.clone(),
        &format!("alarms: {} is in ALARM already", shop.alarms[1]),
    )
    .await;
    shop.set_alarm(&shop.alarms[1], "OK").await;

    let mut p = good.clone();
    p["green"]["service"] = json!("no-such-service");
    refused(
        &rig,
        p,
        "green.service no-such-service is not an active service",
    )
    .await;

    let mut p = good.clone();
    p["container"] = json!("api");
    refused(&rig, p, "container api is not in task definition").await;

    let mut p = good;
    p["image"] = json!("shop:#{BuildVariables.IMAGE_TAG}");
    refused(
        &rig,
        p,
        "UserParameters: image still holds an unresolved pipeline variable",
    )
    .await;
}

#[tokio::test]
async fn target_groups_that_do_not_match_the_listener_are_refused() {
    let rig = rig().await;
    let shop = &rig.shop;
    let stray = shop.stray_target_group(&format!("{}-x", shop.name)).await;

    // The parameters name a green target group the listener does not forward to.
    let mut p = shop.user_parameters(NEW_IMAGE, canary(1));
    p["green"]["target_group_arn"] = json!(stray);
    refused(
        &rig,
        p,
        &format!(
            "forwards to {}, which is neither blue.target_group_arn nor green.target_group_arn",
            shop.green_target_group
        ),
    )
    .await;

    // The listener forwards to blue alone: green's target group is not on it.
    shop.forward_listener_to(&[(&shop.blue_target_group, 1)])
        .await;
    refused_as_set_up(
        &rig,
        &format!(
            "green.target_group_arn {} is not on listener",
            shop.green_target_group
        ),
    )
    .await;

    // The listener is part-way through a shift nobody finished.
    shop.forward_listener_to(&[
        (&shop.blue_target_group, 90),
        (&shop.green_target_group, 10),
    ])
    .await;
    refused_as_set_up(&rig, "is part-way through a shift (blue 90, green 10)").await;
}

#[tokio::test]
async fn the_image_can_come_from_an_imagedefinitions_artifact() {
    let rig = rig().await;
    let shop = &rig.shop;
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&shop.sdk)
            .force_path_style(true)
            .build(),
    );
    let bucket = unique("artifacts");
    s3.create_bucket()
        .bucket(&bucket)
        .send()
        .await
        .expect("bucket");
    let definitions = format!(r#"[{{"name": "{CONTAINER}", "imageUri": "{NEW_IMAGE}"}}]"#);
    let zip = gantry_core::traffic::images::zip_archive(&[(
        "imagedefinitions.json",
        definitions.as_bytes(),
    )]);
    s3.put_object()
        .bucket(&bucket)
        .key("shop/BuildOutpu/Xk2r9Qa")
        .body(zip.into())
        .send()
        .await
        .expect("artifact");
    let mut params = shop.user_parameters(NEW_IMAGE, json!({"type": "all_at_once"}));
    params.as_object_mut().unwrap().remove("image");
    params.as_object_mut().unwrap().remove("container");
    let artifacts =
        json!([{"name": "BuildOutput", "bucket": bucket, "key": "shop/BuildOutpu/Xk2r9Qa"}]);
    let views = run_to_end(&rig.shifter, &shop.start_job(&params, artifacts).await).await;
    assert_eq!(status(&views), "Succeeded", "{}", views.last().unwrap());
    let (green_td, _) = shop.service(&shop.green_service).await;
    assert_eq!(shop.image(&green_td, CONTAINER).await, NEW_IMAGE);
}

#[tokio::test]
async fn a_progress_post_slack_took_despite_internal_error_is_updated_not_posted_again() {
    let slack = SlackNs::new();
    let (rig, first, deployment) = slack_rig_with_canary(&slack).await;
    let shop = &rig.shop;
    let execution = shop.execution_of(&deployment).await;
    // The notifier's parent message, which opened the execution's thread.
    let parent = gantry_adapters::slack::SlackClient::new(
        &slack.api_url(),
        gantry_core::secrets::SecretString::new("xoxb-gantry"),
    )
    .post_message(&json!({"channel": "C0DEPLOYS", "text": "shop: execution started"}))
    .await
    .expect("parent");
    open_execution_thread(shop, &rig.table, &execution, &parent.ts).await;
    // Slack stores the first progress post, then answers internal_error.
    slack
        .fault(
            "chat.postMessage",
            json!([{"error": "internal_error", "after_effect": true}]),
        )
        .await;
    let views = run_to_end(&rig.shifter, &first).await;
    assert_eq!(status(&views), "Succeeded");

    let messages: Vec<_> = slack
        .messages()
        .await
        .into_iter()
        .filter(|m| m["thread_ts"] == parent.ts.as_str())
        .collect();
    assert_eq!(
        messages.len(),
        1,
        "found and updated, not posted twice: {messages:#?}"
    );
    assert_eq!(
        slack.calls(Some("chat.postMessage")).await.len(),
        2,
        "the parent and one post"
    );
    assert!(messages[0]["text"]
        .as_str()
        .unwrap()
        .starts_with("Blue/green deployment succeeded"));
    assert_eq!(
        record(&rig, &deployment).await["slack_ts"].as_s().unwrap(),
        messages[0]["ts"].as_str().unwrap()
    );
}

#[tokio::test]
async fn progress_is_posted_in_the_executions_slack_thread() {
    let slack = SlackNs::new();
    let (rig, first, deployment) = slack_rig_with_canary(&slack).await;
    let shop = &rig.shop;
    // The notifier has opened the execution's thread.
    let execution = shop.execution_of(&deployment).await;
    open_execution_thread(shop, &rig.table, &execution, "1767225600.000100").await;
    let views = run_to_end(&rig.shifter, &first).await;
    assert_eq!(status(&views), "Succeeded");

    let messages = slack.messages().await;
    assert_eq!(
        messages.len(),
        1,
        "one progress message, updated in place: {messages:#?}"
    );
    let m = &messages[0];
    assert_eq!(
        (m["channel"].as_str(), m["thread_ts"].as_str()),
        (Some("C0DEPLOYS"), Some("1767225600.000100"))
    );
    let first_version = &m["history"][0];
    let buttons: Vec<String> = buttons(first_version)
        .into_iter()
        .map(|(action_id, _)| action_id)
        .collect();
    assert_eq!(
        buttons,
        vec![
            "gantry.deploy.promote",
            "gantry.deploy.rollback",
            "gantry.deploy.pause",
            "gantry.deploy.extend"
        ]
    );
    let texts = gantry_tests::strings_at(&m["history"], "text");
    assert!(
        texts.iter().any(|t| t.contains("10% of traffic on green")),
        "{texts:#?}"
    );
    assert!(
        m["text"]
            .as_str()
            .unwrap()
            .starts_with("Blue/green deployment succeeded"),
        "{}",
        m["text"]
    );
    assert!(
        !m["blocks"]
            .as_array()
            .unwrap()
            .iter()
            .any(|b| b["type"] == "actions"),
        "no buttons once done"
    );
    assert_eq!(
        record(&rig, &deployment).await["slack_ts"].as_s().unwrap(),
        m["ts"].as_str().unwrap()
    );
}

#[tokio::test]
async fn a_succeeded_deployments_message_offers_to_roll_back_to_the_stages_previous_commit() {
    let slack = SlackNs::new();
    let (rig, first, deployment) = slack_rig_with_canary(&slack).await;
    let shop = &rig.shop;
    let execution = shop.execution_of(&deployment).await;
    open_execution_thread(shop, &rig.table, &execution, "1767225600.000100").await;
    // What the notifier's status projection says the stage ran before this execution.
    let stage = "Deploy";
    let previous = "6113728f27ae82c7b1a177c8d03f9e96e0adf246";
    aws_sdk_dynamodb::Client::new(&shop.sdk)
        .put_item()
        .table_name(&rig.table)
        .item("pk", AttributeValue::S("STATUS".into()))
        .item(
            "sk",
            AttributeValue::S(format!("{}#{stage}#live", shop.pipeline)),
        )
        .item("kind", AttributeValue::S("status_row".into()))
        .item("at", AttributeValue::N("1767225000".into()))
        .item(
            "run",
            AttributeValue::S(
                json!({"pipeline": shop.pipeline, "stage": stage, "execution_id": "e-previous",
                       "state": "succeeded", "at": 1767225000, "commit": previous})
                .to_string(),
            ),
        )
        .send()
        .await
        .expect("status row");
    let views = run_to_end(&rig.shifter, &first).await;
    assert_eq!(status(&views), "Succeeded");
    let messages = slack.messages().await;
    let m = &messages[0];
    assert_eq!(
        buttons(m),
        vec![(
            "gantry.operate.roll_back_to".to_string(),
            format!("{}|{stage}|{execution}", shop.pipeline)
        )],
        "{m:#}"
    );
    assert!(m.to_string().contains("Roll back to 6113728"), "{m:#}");
}

#[tokio::test]
async fn the_sample_events_are_jobs_with_valid_parameters() {
    for file in [
        "traffic-shifter-job.json",
        "traffic-shifter-imagedefinitions-job.json",
    ] {
        let path = gantry_tests::root().join("events").join(file);
        let event: CodePipelineJobEvent =
            serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        let job = gantry_core::traffic::Job::from_event(&event).unwrap();
        gantry_core::traffic::params::parse(&job.user_parameters)
            .unwrap_or_else(|e| panic!("{file}: {e}"));
    }
}

#[tokio::test]
async fn a_role_scoped_to_another_listener_cannot_shift_and_the_job_fails_with_traffic_unmoved() {
    // The stack's DevListenerArn names another listener: the role's ModifyListener grant does
    // not cover the one the deployment's parameters name, and IAM refuses the shift.
    let rig = rig_granting(|shop| {
        let (head, _) = shop.listener.rsplit_once('/').expect("listener ARN");
        json!({"DevListenerArn": format!("{head}/0123456789abcdef")})
    })
    .await;
    let shop = &rig.shop;
    let shares_before = shop.green_shares(false).await;
    let params = shop.user_parameters(NEW_IMAGE, json!({"type": "all_at_once"}));
    let views = run_with(&rig, &params).await;
    let r = last_result(&views);
    assert_eq!(r["operation"], "PutJobFailureResult", "{r}");
    assert_eq!(
        shop.green_shares(false).await,
        shares_before,
        "no weight moved"
    );
    let refusals = gantry_tests::iam::refusals().await;
    assert!(
        refusals
            .iter()
            .any(|x| x["action"] == "elasticloadbalancing:ModifyListener"
                && x["resource"] == shop.listener.as_str()),
        "{refusals:?}"
    );
}

#[tokio::test]
async fn an_aws_refusal_fails_the_job_with_a_short_reason_and_no_aws_error_text() {
    // IAM refuses the shift (as above). AWS's answer names the role's ARN, the account and the
    // listener; the failure message (what CodePipeline shows, and the Slack thread quotes)
    // says only what failed and why in short.
    let rig = rig_granting(|shop| {
        let (head, _) = shop.listener.rsplit_once('/').expect("listener ARN");
        json!({"DevListenerArn": format!("{head}/0123456789abcdef")})
    })
    .await;
    let params = rig
        .shop
        .user_parameters(NEW_IMAGE, json!({"type": "all_at_once"}));
    let views = run_with(&rig, &params).await;
    let message = failure_message(&views);
    assert!(
        message.contains("ELB ModifyListener failed: access denied"),
        "{message}"
    );
    for aws_text in ["arn:aws:iam", "123456789012", "is not authorized", "GANTRY"] {
        assert!(!message.contains(aws_text), "{aws_text:?} in {message}");
    }
}

#[tokio::test]
async fn stickiness_on_the_forward_action_is_refused_at_the_start() {
    let rig = rig().await;
    let shop = &rig.shop;
    use aws_sdk_elasticloadbalancingv2::types::{
        Action, ActionTypeEnum, ForwardActionConfig, TargetGroupStickinessConfig, TargetGroupTuple,
    };
    let tuple = |arn: &str, w: i32| {
        TargetGroupTuple::builder()
            .target_group_arn(arn)
            .weight(w)
            .build()
    };
    aws_sdk_elasticloadbalancingv2::Client::new(&shop.sdk)
        .modify_listener()
        .listener_arn(&shop.listener)
        .default_actions(
            Action::builder()
                .r#type(ActionTypeEnum::Forward)
                .forward_config(
                    ForwardActionConfig::builder()
                        .target_groups(tuple(&shop.blue_target_group, 100))
                        .target_groups(tuple(&shop.green_target_group, 0))
                        .target_group_stickiness_config(
                            TargetGroupStickinessConfig::builder()
                                .enabled(true)
                                .duration_seconds(3600)
                                .build(),
                        )
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .expect("sticky listener");
    refused_as_set_up(&rig, "has target group stickiness on").await;
}

#[tokio::test]
async fn a_plan_that_can_outlast_codepipelines_action_limit_is_refused_naming_it() {
    let rig = rig().await;
    let shop = &rig.shop;
    let mut p = shop.user_parameters(NEW_IMAGE, canary(60));
    p["scale_down_after_seconds"] = json!(86_400);
    refused(
        &rig,
        p,
        "over the 24 h CodePipeline gives a Lambda invoke action",
    )
    .await;
    let mut p = shop.user_parameters(NEW_IMAGE, canary(60));
    p["scale_down_after_seconds"] = json!(86_400);
    refused(&rig, p, "Quotas in AWS CodePipeline").await;
}

#[tokio::test]
async fn draining_green_targets_count_as_unhealthy_and_roll_back() {
    let (rig, _, running) = canary_at_ten(30).await;
    let shop = &rig.shop;
    shop.set_target_health(true, "draining").await;
    let views = running.await.unwrap();
    let message = failure_message(&views);
    assert!(message.starts_with("rolled back at 10% green"), "{message}");
    assert!(
        message.contains("Target.DeregistrationInProgress"),
        "{message}"
    );
    assert_eq!(shop.weights(false).await, (100, 0));
}

#[tokio::test]
async fn the_same_event_delivered_twice_at_once_drives_once() {
    let rig = rig().await;
    let shop = &rig.shop;
    let first = start(&rig, canary(2)).await;
    let twin = |rig: &Rig| {
        let (shifter, event) = (rig.shifter.clone(), first["event"].clone());
        tokio::spawn(async move { traffic_shifter::handle(&*shifter, lambda_event(&event)).await })
    };
    let (a, b) = (twin(&rig), twin(&rig));
    let outcomes: Vec<String> = [a.await.unwrap(), b.await.unwrap()]
        .into_iter()
        .map(|r| match r {
            Ok(v) => v["outcome"].as_str().unwrap_or_default().to_string(),
            Err(_) => "error (Lambda retries)".to_string(),
        })
        .collect();
    assert_eq!(
        outcomes.iter().filter(|o| *o == "continued").count(),
        1,
        "exactly one drove: {outcomes:?}"
    );
    let next = next_job(&first).await;
    let views = run_to_end(&rig.shifter, &next).await;
    assert_eq!(status(&views), "Succeeded", "{}", outcome(&views));
    assert_eq!(
        shop.green_shares(false).await,
        vec![10, 100],
        "each weight set once, no rollback"
    );
    assert_one_result_accepted(id(&first), "the first job got one result").await;
}

/// The real cluster, counting the writes that start a deployment: task definitions registered,
/// and services updated to one. Registering takes half a second more, as a slow ECS would,
/// so that two copies of one event are both past their reads before either writes.
struct CountedStart<C> {
    cluster: C,
    registered: Arc<std::sync::atomic::AtomicUsize>,
    updated: Arc<std::sync::atomic::AtomicUsize>,
}

impl<C: gantry_core::traffic::Cluster + Sync> gantry_core::traffic::Cluster for CountedStart<C> {
    async fn service(
        &self,
        cluster: &str,
        name: &str,
    ) -> Result<Option<gantry_core::traffic::ServiceStatus>, ShiftError> {
        self.cluster.service(cluster, name).await
    }

    async fn task_definition(
        &self,
        arn: &str,
    ) -> Result<gantry_core::traffic::TaskDefinitionInfo, ShiftError> {
        self.cluster.task_definition(arn).await
    }

    async fn register_with_images(
        &self,
        arn: &str,
        updates: &[gantry_core::traffic::images::ImageUpdate],
    ) -> Result<String, ShiftError> {
        tokio::time::sleep(Duration::from_millis(500)).await;
        self.registered
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.cluster.register_with_images(arn, updates).await
    }

    async fn update_service(
        &self,
        cluster: &str,
        name: &str,
        task_definition: Option<&str>,
        desired: i32,
    ) -> Result<(), ShiftError> {
        if task_definition.is_some() {
            self.updated
                .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
        self.cluster
            .update_service(cluster, name, task_definition, desired)
            .await
    }
}

/// The revisions of the shop's task definition family ECS holds.
async fn revisions(shop: &Shop) -> Vec<String> {
    let listed = aws_sdk_ecs::Client::new(&shop.sdk)
        .list_task_definitions()
        .family_prefix(&shop.name)
        .send()
        .await
        .expect("task definitions");
    let family = format!("task-definition/{}:", shop.name);
    listed
        .task_definition_arns
        .unwrap_or_default()
        .into_iter()
        .filter(|arn| arn.contains(&family))
        .collect()
}

#[tokio::test]
async fn two_copies_of_one_job_event_at_once_register_one_revision_and_deploy_once() {
    let rig = rig().await;
    let shop = &rig.shop;
    let s = &*rig.shifter;
    let (registered, updated) = (Arc::default(), Arc::default());
    let counted = Arc::new(with_stand_ins(
        s,
        CountedStart {
            cluster: s.cluster.clone(),
            registered: Arc::clone(&registered),
            updated: Arc::clone(&updated),
        },
        s.balancer.clone(),
        s.hooks.clone(),
        s.slice,
    ));
    assert_eq!(revisions(shop).await.len(), 1, "the shop's first revision");
    let first = start(&rig, canary(2)).await;
    let copy = || {
        let (shifter, event) = (counted.clone(), first["event"].clone());
        tokio::spawn(async move {
            // The copy that loses may fail its invocation (Lambda retries it): it wrote nothing.
            let _ = traffic_shifter::handle(&*shifter, lambda_event(&event)).await;
        })
    };
    let (a, b) = (copy(), copy());
    let ((), ()) = (a.await.unwrap(), b.await.unwrap());
    let count =
        |n: &Arc<std::sync::atomic::AtomicUsize>| n.load(std::sync::atomic::Ordering::SeqCst);
    assert_eq!(count(&registered), 1, "one task definition registered");
    assert_eq!(count(&updated), 1, "green updated once");
    assert_eq!(revisions(shop).await.len(), 2, "no stray revision");

    let next = next_job(&first).await;
    if next.is_object() {
        let views = run_to_end(&rig.shifter, &next).await;
        assert_eq!(status(&views), "Succeeded", "{}", outcome(&views));
    }
    let (green_td, _) = shop.service(&shop.green_service).await;
    assert_eq!(revisions(shop).await.len(), 2);
    assert!(revisions(shop).await.contains(&green_td), "green runs it");
    assert_eq!(shop.green_shares(false).await, vec![10, 100]);
    assert_one_result_accepted(id(&first), "the first job got one result").await;
}

#[tokio::test]
async fn a_rollback_retries_the_listener_until_traffic_is_back_on_the_live_side() {
    let (rig, _, running) = canary_at_ten(30).await;
    let shop = &rig.shop;
    // The ELB API has a blip (4 failures: more than the SDK's own 3 tries) just as the alarm
    // fires.
    shop.fail_listener_calls("ModifyListener", 4).await;
    shop.set_alarm(&shop.alarms[0], "ALARM").await;
    let views = running.await.unwrap();
    let message = failure_message(&views);
    assert!(message.starts_with("rolled back at 10% green"), "{message}");
    assert!(!message.contains("INCOMPLETE"), "{message}");
    assert_eq!(shop.weights(false).await, (100, 0), "weights end on blue");
    assert_eq!(shop.service(&shop.green_service).await.1, 0);
}

#[tokio::test]
async fn a_blip_reading_the_listener_mid_canary_holds_the_weights_and_does_not_roll_back() {
    let (rig, _, running) = canary_at_ten(3).await;
    let shop = &rig.shop;
    // The ELB API fails 6 reads in a row: twice the SDK's own 3 tries, so two checks see
    // nothing at all.
    shop.fail_listener_calls("DescribeListeners", 6).await;
    let views = running.await.unwrap();
    assert_eq!(status(&views), "Succeeded", "{views:?}");
    assert_eq!(
        shop.green_shares(false).await,
        vec![10, 100],
        "no weight moved back while blind"
    );
}

#[tokio::test]
async fn a_rollback_that_cannot_finish_fails_the_invocation_and_its_retry_finishes_it() {
    let rig = rig().await;
    let shop = &rig.shop;
    let (first, second) = canary_handed_over(&rig, 30).await;
    // ELB is down for longer than the invocation's time: every try fails.
    shop.fail_listener_calls("ModifyListener", 1000).await;
    shop.set_alarm(&shop.alarms[0], "ALARM").await;
    let r = traffic_shifter::handle(&*rig.shifter, lambda_event(&second["event"])).await;
    assert!(
        r.is_err(),
        "the invocation fails, so Lambda retries it: {r:?}"
    );
    let deployment = id(&first);
    assert_eq!(
        record(&rig, deployment).await["status"].as_s().unwrap(),
        "rolling_back"
    );
    assert_eq!(job(id(&second)).await["status"], "InProgress");
    // ELB is back; Lambda retries the event once the lease has run out.
    shop.fail_listener_calls("ModifyListener", 0).await;
    tokio::time::sleep(rig.shifter.slice + gantry_core::traffic::turn::LEASE_MARGIN).await;
    let views = run_to_end(&rig.shifter, &second).await;
    assert!(failure_message(&views).starts_with("rolled back at 10% green"));
    assert_eq!(shop.weights(false).await, (100, 0));
    assert_eq!(
        record(&rig, deployment).await["status"].as_s().unwrap(),
        "rolled_back"
    );
}

#[tokio::test]
async fn a_rollback_first_restores_the_live_sides_tasks_if_they_were_scaled_in() {
    let (rig, _, running) = canary_at_ten(30).await;
    let shop = &rig.shop;
    // Auto scaling scales blue in while green takes traffic.
    shop.set_desired_count(&shop.blue_service, 1).await;
    shop.set_alarm(&shop.alarms[0], "ALARM").await;
    let views = running.await.unwrap();
    assert!(failure_message(&views).starts_with("rolled back at 10% green"));
    assert_eq!(shop.weights(false).await, (100, 0));
    assert_eq!(
        shop.service(&shop.blue_service).await.1,
        2,
        "blue back to 2 tasks"
    );
}

/// A person who edits the listener by hand (50/50) right after the shifter's first weight
/// change (one neither all blue nor all green).
fn edited_by_hand(shop: &Shop) -> AfterShift {
    let shop = shop.clone();
    Box::new(move |weights| {
        let shop = shop.clone();
        Box::pin(async move {
            if weights.iter().any(|(_, w)| *w != 0 && *w != 100) {
                shop.forward_listener_to(&[
                    (&shop.blue_target_group, 50),
                    (&shop.green_target_group, 50),
                ])
                .await;
            }
        })
    })
}

#[tokio::test]
async fn a_listener_edited_by_hand_mid_shift_is_noticed_at_once_and_rolled_back() {
    let rig = rig().await;
    let shop = &rig.shop;
    let s = &*rig.shifter;
    // A long slice and check interval: only the read-back can notice the edit quickly.
    let shifter = with_stand_ins(
        s,
        s.cluster.clone(),
        ThenAfterShift(s.balancer.clone(), edited_by_hand(shop)),
        s.hooks.clone(),
        Duration::from_secs(100),
    );
    let mut params = shop.user_parameters(NEW_IMAGE, canary(60));
    params["check_interval_seconds"] = json!(60);
    let first = shop.start_job(&params, json!([])).await;
    let started = Instant::now();
    let views = run_job(&first, |event| {
        let shifter = &shifter;
        async move {
            invoke(shifter, &event).await;
        }
    })
    .await;
    let message = failure_message(&views);
    assert!(
        message.contains(
            "the listener's weights were changed outside this deployment (blue 50, green 50)"
        ),
        "{message}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(40),
        "noticed at once, not at the next check a minute later"
    );
    assert_eq!(shop.weights(false).await, (100, 0));
}

#[tokio::test]
async fn an_execution_stopped_mid_bake_is_noticed_within_a_check_and_the_old_side_keeps_its_tasks()
{
    let rig = rig().await;
    let shop = &rig.shop;
    let first = start(&rig, canary(60)).await;
    let execution = shop.execution_of(id(&first)).await;
    let running = spawn_run(&rig.shifter, &first);
    shop.until_green_at(10).await;
    let stopped = Instant::now();
    gantry_tests::http::post(
        &format!(
            "{}/_gantry/codepipeline/executions/{}/{execution}",
            gantry_tests::emulator_url(),
            shop.pipeline
        ),
        &json!({"status": "Stopping"}),
    )
    .await;
    let views = running.await.unwrap();
    assert!(
        stopped.elapsed() < Duration::from_secs(4),
        "noticed within about one check interval"
    );
    let message = failure_message(&views);
    assert!(
        message.contains("the pipeline execution was stopped (its status is Stopping)"),
        "{message}"
    );
    assert_eq!(shop.weights(false).await, (100, 0));
    assert_eq!(
        shop.service(&shop.blue_service).await.1,
        2,
        "blue keeps its tasks"
    );
}

/// The real cluster, except that the process "dies" as it is about to update a service.
struct CrashBeforeServiceUpdate<C>(C);

impl<C: gantry_core::traffic::Cluster + Sync> gantry_core::traffic::Cluster
    for CrashBeforeServiceUpdate<C>
{
    async fn service(
        &self,
        cluster: &str,
        name: &str,
    ) -> Result<Option<gantry_core::traffic::ServiceStatus>, ShiftError> {
        self.0.service(cluster, name).await
    }

    async fn task_definition(
        &self,
        arn: &str,
    ) -> Result<gantry_core::traffic::TaskDefinitionInfo, ShiftError> {
        self.0.task_definition(arn).await
    }

    async fn register_with_images(
        &self,
        arn: &str,
        updates: &[gantry_core::traffic::images::ImageUpdate],
    ) -> Result<String, ShiftError> {
        self.0.register_with_images(arn, updates).await
    }

    async fn update_service(
        &self,
        _cluster: &str,
        _name: &str,
        _task_definition: Option<&str>,
        _desired: i32,
    ) -> Result<(), ShiftError> {
        panic!("the invocation died between recording the deployment and updating the service");
    }
}

#[tokio::test]
async fn a_crash_after_recording_the_deployment_resumes_it_instead_of_rolling_back() {
    let rig = rig().await;
    let shop = &rig.shop;
    let s = &*rig.shifter;
    let crashing = Arc::new(with_stand_ins(
        s,
        CrashBeforeServiceUpdate(s.cluster.clone()),
        s.balancer.clone(),
        s.hooks.clone(),
        s.slice,
    ));
    let first = start(&rig, canary(1)).await;
    let event = first["event"].clone();
    let died = tokio::spawn(async move { invoke(&*crashing, &event).await }).await;
    assert!(died.unwrap_err().is_panic());
    let deployment = id(&first);
    assert!(!record(&rig, deployment).await.is_empty(), "recorded");
    assert_eq!(
        shop.service(&shop.green_service).await.1,
        0,
        "green not updated"
    );

    // Lambda retries the same event, a minute later: by then the dead invocation's lease (its
    // slice and a margin) has run out.
    tokio::time::sleep(s.slice + gantry_core::traffic::turn::LEASE_MARGIN).await;
    let views = run_to_end(&rig.shifter, &first).await;
    assert_eq!(status(&views), "Succeeded", "{}", outcome(&views));
    let (green_td, _) = shop.service(&shop.green_service).await;
    assert_eq!(shop.image(&green_td, CONTAINER).await, NEW_IMAGE);
    assert_eq!(shop.green_shares(false).await, vec![10, 100]);
}

#[tokio::test]
async fn a_tampered_continuation_token_moves_nothing() {
    let rig = rig().await;
    let shop = &rig.shop;
    let (first, second) = canary_handed_over(&rig, 30).await;
    let (blue_before, green_before) = (
        shop.service(&shop.blue_service).await,
        shop.service(&shop.green_service).await,
    );
    let data = &second["event"]["CodePipeline.job"]["data"];
    let mut token = continuation_token(data);
    token["was"]["td"] = json!("arn:aws:ecs:us-east-1:123456789012:task-definition/evil:1");
    // Someone who can invoke the function edits the token in the event: CodePipeline holds
    // another one for the job, so the invocation is not believed at all.
    let mut event = second["event"].clone();
    event["CodePipeline.job"]["data"]["continuationToken"] = json!(token.to_string());
    let answer = invoke(&*rig.shifter, &event).await;
    assert_answer(
        &answer,
        "refused",
        "differs from the one CodePipeline holds",
    );
    // Someone who can answer the job puts another rollback target into the token, so
    // CodePipeline hands it to the next job.
    let answered = job_with_token(shop, &first, data, &token).await;
    let answer = invoke(&*rig.shifter, &answered["event"]).await;
    assert_answer(
        &answer,
        "failed",
        "does not match the deployment Gantry recorded",
    );
    assert_eq!(shop.weights(false).await, (90, 10), "no weight moved");
    assert_eq!(shop.service(&shop.blue_service).await, blue_before);
    assert_eq!(
        shop.service(&shop.green_service).await,
        green_before,
        "green not touched"
    );
}

#[tokio::test]
async fn a_continuation_token_with_its_phase_moved_on_moves_nothing() {
    let rig = rig().await;
    let shop = &rig.shop;
    let (first, second) = canary_handed_over(&rig, 300).await;
    let data = &second["event"]["CodePipeline.job"]["data"];
    let mut token = continuation_token(data);
    // Someone who can answer the job backdates the canary step, so its bake is long over and
    // the next check would send everything to the new version, and CodePipeline hands that
    // token to the next job. The deployment's fixed part is untouched.
    token["ph"]["t"] = json!(0);
    let answered = job_with_token(shop, &first, data, &token).await;
    let before = world(shop).await;
    let answer = invoke(&*rig.shifter, &answered["event"]).await;
    assert_answer(&answer, "failed", "not the token Gantry handed over");
    assert_eq!(world(shop).await, before, "nothing moved");
}

/// Everything an invocation could have moved: both services and the listener's weights.
async fn world(shop: &Shop) -> ((String, i32), (String, i32), (i32, i32)) {
    (
        shop.service(&shop.blue_service).await,
        shop.service(&shop.green_service).await,
        shop.weights(false).await,
    )
}

#[tokio::test]
async fn an_invocation_with_a_job_codepipeline_never_issued_moves_nothing_and_reports_nothing() {
    let rig = rig().await;
    let shop = &rig.shop;
    let real = start(&rig, all_at_once()).await;
    let before = world(shop).await;
    // Anyone allowed lambda:InvokeFunction sends a job event with a made-up id and their image.
    let mut forged = real["event"].clone();
    forged["CodePipeline.job"]["id"] = json!("6a3f2c1e-0000-4000-8000-000000000001");
    deploy_another_image(shop, &mut forged);
    let answer = invoke(&*rig.shifter, &forged).await;
    assert_answer(&answer, "refused", "CodePipeline has no job");
    assert_eq!(world(shop).await, before, "nothing moved");
    // The real job is untouched and still runs as CodePipeline asked.
    let real_job = job(id(&real)).await;
    assert_eq!(real_job["status"], "InProgress", "{real_job}");
    let views = run_to_end(&rig.shifter, &real).await;
    assert_eq!(status(&views), "Succeeded", "{views:?}");
    assert_eq!(shop.green_shares(false).await, vec![100]);
}

#[tokio::test]
async fn a_real_jobs_event_with_another_image_moves_nothing_and_the_job_goes_on() {
    let rig = rig().await;
    let shop = &rig.shop;
    let real = start(&rig, all_at_once()).await;
    let before = world(shop).await;
    // A real job's id (from a log), with another image: the approval would be skipped.
    let mut forged = real["event"].clone();
    deploy_another_image(shop, &mut forged);
    let answer = invoke(&*rig.shifter, &forged).await;
    assert_answer(
        &answer,
        "refused",
        "differ from the ones CodePipeline holds",
    );
    assert_eq!(world(shop).await, before, "nothing moved");
    let real_job = job(id(&real)).await;
    assert_eq!(
        real_job["status"], "InProgress",
        "the real job was not failed: {real_job}"
    );
    assert!(
        real_job["results"].as_array().unwrap().is_empty(),
        "{real_job}"
    );
}

#[tokio::test]
async fn a_job_whose_parameters_the_pipeline_does_not_declare_moves_nothing() {
    let rig = rig().await;
    let shop = &rig.shop;
    let job_event = start(&rig, all_at_once()).await;
    // The pipeline now declares another deployment for the action (as if the job had been
    // made for parameters the pipeline never had).
    gantry_tests::aws::declare_lambda_action(
        &shop.sdk,
        &shop.pipeline,
        "Deploy",
        gantry_tests::traffic::SHIFTER_FUNCTION,
        &shop.user_parameters(FIRST_IMAGE, all_at_once()).to_string(),
    )
    .await;
    let before = world(shop).await;
    let answer = invoke(&*rig.shifter, &job_event["event"]).await;
    assert_answer(&answer, "refused", "do not fit");
    assert_eq!(world(shop).await, before, "nothing moved");
}

/// Starts an execution and a job for NEW_IMAGE, all at once, whose GetJobDetails answer has no
/// `pipelineContext.pipelineExecutionId` (the API reference lists it as optional). With
/// `named`, the pipeline passes the execution in the parameters as the template does
/// (`"execution_id": "#{codepipeline.PipelineExecutionId}"`). Returns (`{job_id, event}`, the
/// execution).
async fn start_without_execution_in_job_details(rig: &Rig, named: bool) -> (Value, String) {
    let shop = &rig.shop;
    let mut declared = shop.user_parameters(NEW_IMAGE, all_at_once());
    if named {
        declared["execution_id"] = json!("#{codepipeline.PipelineExecutionId}");
    }
    gantry_tests::aws::declare_lambda_action(
        &shop.sdk,
        &shop.pipeline,
        "Deploy",
        gantry_tests::traffic::SHIFTER_FUNCTION,
        &declared.to_string(),
    )
    .await;
    let execution = aws_sdk_codepipeline::Client::new(&shop.sdk)
        .start_pipeline_execution()
        .name(&shop.pipeline)
        .send()
        .await
        .expect("start execution")
        .pipeline_execution_id
        .expect("execution id");
    let mut resolved = declared;
    if named {
        resolved["execution_id"] = json!(execution);
    }
    let first = gantry_tests::http::post(
        &format!("{}/_gantry/codepipeline/jobs", gantry_tests::emulator_url()),
        &json!({"pipeline": shop.pipeline, "stage": "Deploy", "action": "Deploy",
                "execution_id": execution, "omit_execution_id": true,
                "user_parameters": resolved.to_string()}),
    )
    .await;
    (first, execution)
}

#[tokio::test]
async fn job_details_without_an_execution_id_fall_back_on_the_parameters_execution_id() {
    let rig = rig().await;
    let shop = &rig.shop;
    let (first, execution) = start_without_execution_in_job_details(&rig, true).await;
    let views = run_to_end(&rig.shifter, &first).await;
    assert_eq!(status(&views), "Succeeded", "{}", outcome(&views));
    assert_eq!(shop.green_shares(false).await, vec![100]);
    // The deployment is filed under the execution the parameters named.
    let r = record(&rig, id(&first)).await;
    assert_eq!(r["execution_id"].as_s().unwrap(), &execution);
}

#[tokio::test]
async fn a_job_in_no_known_execution_fails_at_once_saying_what_to_add() {
    let rig = rig().await;
    let shop = &rig.shop;
    let (first, _) = start_without_execution_in_job_details(&rig, false).await;
    let before = world(shop).await;
    let answer = invoke(&*rig.shifter, &first["event"]).await;
    assert_eq!(answer["outcome"], "failed", "{answer}");
    let views = vec![job(id(&first)).await];
    assert_eq!(status(&views), "Failed", "not left to time out");
    let message = failure_message(&views);
    assert!(
        message.contains(r##"add "execution_id": "#{codepipeline.PipelineExecutionId}""##),
        "{message}"
    );
    assert_eq!(world(shop).await, before, "nothing moved");
}

/// Counts the requests a client sends (each attempt reaches the transport once).
#[derive(Debug)]
struct CountCalls(Arc<std::sync::atomic::AtomicUsize>);

impl aws_sdk_cloudwatch::config::Intercept for CountCalls {
    fn name(&self) -> &'static str {
        "CountCalls"
    }

    fn read_before_transmit(
        &self,
        _: &aws_sdk_cloudwatch::config::interceptors::BeforeTransmitInterceptorContextRef<'_>,
        _: &aws_sdk_cloudwatch::config::RuntimeComponents,
        _: &mut aws_sdk_cloudwatch::config::ConfigBag,
    ) -> Result<(), aws_sdk_cloudwatch::error::BoxError> {
        self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Ok(())
    }
}

/// One check's alarm read costs one DescribeAlarms call per 100 alarms (AWS's limit on the names a
/// call takes and the records a page holds), so a deployment watching 100 alarms makes one call,
/// and 250 alarms make three, each alarm's state read (issue 16).
#[tokio::test]
async fn a_check_reads_a_hundred_alarms_with_one_describe_alarms_call() {
    use gantry_adapters::cloudwatch::CloudWatchAlarms;
    use gantry_core::traffic::{AlarmState, AlarmWatch};
    let sdk = sdk().await;
    let cloudwatch = aws_sdk_cloudwatch::Client::new(&sdk);
    let prefix = unique("many-alarms");
    let names: Vec<String> = (0..250).map(|i| format!("{prefix}-{i:03}")).collect();
    for name in &names {
        gantry_tests::traffic::create_alarm(&cloudwatch, name).await;
    }
    let calls = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = aws_sdk_cloudwatch::config::Builder::from(&sdk)
        .interceptor(CountCalls(calls.clone()))
        .build();
    let watch = CloudWatchAlarms {
        client: aws_sdk_cloudwatch::Client::from_conf(counted),
    };
    let count = || calls.swap(0, std::sync::atomic::Ordering::SeqCst);

    let hundred = watch.states(&names[..100]).await.expect("states");
    assert_eq!(count(), 1, "DescribeAlarms calls for 100 alarms");
    assert_eq!(hundred.len(), 100);
    assert!(hundred.iter().all(|r| r.state != AlarmState::Missing));

    let all = watch.states(&names).await.expect("states");
    assert_eq!(count(), 3, "DescribeAlarms calls for 250 alarms");
    assert_eq!(all.len(), 250);
    assert!(all.iter().all(|r| r.state != AlarmState::Missing));
}

// ---------------------------------------------------------------- the sweep (issue 23)

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
