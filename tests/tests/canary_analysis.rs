//! The canary judge end to end (docs/analysis.md): the traffic shifter with `UserParameters.analysis`,
//! reading what an ALB publishes per target group (60-second periods, through the emulator's
//! `GetMetricData` statistics), against ECS, the ALB, DynamoDB and the Slack stand-in.

use gantry_core::approval::interaction::Click;
use gantry_core::clock::now_epoch_seconds;
use gantry_core::config::ApprovalConfig;
use gantry_tests::alb_metrics::{publish, Period};
use gantry_tests::aws::function_start;
use gantry_tests::rig::{self, click, click_with, running_at_ten};
use gantry_tests::shifter::spawn_run;
use gantry_tests::shifter::{
    deployment_record, open_execution_thread, Command, Setup, CHANNEL, NEW_IMAGE, THREAD_TS,
};
use gantry_tests::slack::{buttons, SlackNs};
use gantry_tests::traffic::{failure_message, Shop};
use gantry_tests::unique;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

/// The shifter's rig, with the approval function and the Slack stand-in beside it.
struct Rig {
    base: rig::Rig,
    /// The approval function on the same table: Slack's clicks on the deployment's buttons.
    approval: approval::App,
    slack: SlackNs,
}

impl std::ops::Deref for Rig {
    type Target = rig::Rig;
    fn deref(&self) -> &rig::Rig {
        &self.base
    }
}

/// Who may steer the deployment from Slack (`GANTRY_APPROVERS` for the `Deploy` stage).
const RELEASE: (&str, &str) = ("U0RELEASE", "rel");
const SIGNING_SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";

/// A shop, a state table, Slack progress on, and the shifter judging each published window at
/// once (a real one waits two minutes for CloudWatch to finish a window).
async fn rig() -> Rig {
    let slack = SlackNs::new();
    let setup = Setup::new(
        "shop",
        &json!({"slack_bot_token": "xoxb-gantry", "slack_signing_secret": SIGNING_SECRET}),
    )
    .await
    .with_slack_progress(slack.api_url());
    let mut shifter = setup.shifter().await;
    shifter.analysis_settle_seconds = -3600;
    let mut approval_vars = setup.env.clone();
    approval_vars.insert(
        "GANTRY_APPROVERS".into(),
        json!({ &setup.shop.pipeline: {"Deploy": {"users": [RELEASE.0]}} }).to_string(),
    );
    let approval_config = ApprovalConfig::from_env(&approval_vars).expect("approval config");
    let (own, secrets) = function_start("approval", &setup.stack).await;
    let approval =
        approval::build(approval_config, &secrets, approval::Clients::new(&own)).expect("approval");
    Rig {
        base: rig::Rig::new(setup, shifter),
        approval,
        slack,
    }
}

/// Starts a canary (10%, `bake_seconds`) judged with `analysis`, in an execution whose Slack
/// thread the notifier has opened.
async fn start(rig: &Rig, bake_seconds: u64, analysis: Value) -> (Value, String) {
    let shop = &rig.shop;
    let mut params = shop.user_parameters(
        NEW_IMAGE,
        json!({"type": "canary", "percent": 10, "bake_seconds": bake_seconds}),
    );
    params["analysis"] = analysis;
    let first = shop.start_job(&params, json!([])).await;
    let deployment = first["job_id"].as_str().unwrap().to_string();
    let execution = shop.execution_of(&deployment).await;
    open_execution_thread(shop, &rig.table, &execution, THREAD_TS).await;
    (first, deployment)
}

/// A rig running a canary (10%, `bake_seconds`, the judge's defaults) in the background, green
/// at its 10%: (rig, deployment id, the run).
async fn canary_at_ten(bake_seconds: u64) -> (Rig, String, tokio::task::JoinHandle<Vec<Value>>) {
    let rig = rig().await;
    let (first, deployment) = start(&rig, bake_seconds, Value::Null).await;
    let running = running_at_ten(&rig, &first).await;
    (rig, deployment, running)
}

/// The run ends with the deployment through: Succeeded (`why` says what that shows), green
/// having had 10% and then everything.
async fn assert_went_through(shop: &Shop, running: tokio::task::JoinHandle<Vec<Value>>, why: &str) {
    let views = running.await.expect("the run");
    assert_eq!(views.last().expect("a job")["status"], "Succeeded", "{why}");
    assert_eq!(shop.green_shares(false).await, vec![10, 100]);
}

/// One minute of traffic on both sides: (requests, 5xx, p99 seconds) each.
type Minute = ((u64, u64, f64), (u64, u64, f64));

/// Publishes what the ALB would for green (new) and blue (live), one 60-second period each,
/// from the minute after now on.
async fn publish_minutes(shop: &Shop, minutes: &[Minute]) {
    publish_minutes_after(shop, 0, minutes).await
}

/// As `publish_minutes`, leaving the first `skip` minutes to what was published before.
async fn publish_minutes_after(shop: &Shop, skip: i64, minutes: &[Minute]) {
    let load_balancer = shop
        .listener
        .rsplit_once('/')
        .map(|(lb, _)| lb.replace(":listener/", ":loadbalancer/"))
        .expect("listener arn");
    let now = gantry_core::clock::now_epoch_seconds();
    let first = (now / 60 + 1) * 60;
    for (i, (new, live)) in minutes.iter().enumerate() {
        let timestamp = first + 60 * (skip + i as i64) + 5;
        for (group, (requests, errors, p99)) in [
            (&shop.green_target_group, new),
            (&shop.blue_target_group, live),
        ] {
            publish(
                &load_balancer,
                group,
                &Period {
                    timestamp,
                    requests: *requests,
                    errors_5xx: *errors,
                    typical_seconds: 0.05,
                    p99_seconds: *p99,
                },
            )
            .await;
        }
    }
}

/// The deployment's progress message (the one with blocks) and the thread's other replies.
async fn thread(slack: &SlackNs) -> (Value, Vec<String>) {
    let messages = slack.messages().await;
    let progress = messages
        .iter()
        .find(|m| m["metadata"]["event_type"] == "gantry_deployment_progress")
        .cloned()
        .unwrap_or(Value::Null);
    let replies = messages
        .iter()
        .filter(|m| m["metadata"]["event_type"] != "gantry_deployment_progress")
        .filter(|m| m["thread_ts"] == THREAD_TS)
        .map(|m| m["text"].as_str().unwrap_or_default().to_string())
        .collect();
    (progress, replies)
}

fn blocks_text(message: &Value) -> String {
    message["blocks"]
        .as_array()
        .map(|b| {
            b.iter()
                .map(|b| b["text"]["text"].as_str().unwrap_or_default())
                .collect::<Vec<_>>()
                .join("\n")
        })
        .unwrap_or_default()
}

const GOOD: Minute = ((300, 3, 0.12), (2700, 27, 0.11));

#[tokio::test]
async fn a_good_canary_completes_with_pass_verdicts_in_its_slack_message() {
    let rig = rig().await;
    let shop = &rig.shop;
    publish_minutes(shop, &[GOOD, GOOD, GOOD]).await;
    let (first, _) = start(&rig, 4, json!({})).await;
    let views = spawn_run(&rig.shifter, &first).await.unwrap();
    assert_eq!(views.last().unwrap()["status"], "Succeeded", "{views:#?}");
    assert_eq!(shop.green_shares(false).await, vec![10, 100]);

    let (progress, replies) = thread(&rig.slack).await;
    let text = blocks_text(&progress);
    assert!(text.contains("Canary vs live"), "{text}");
    assert_eq!(
        text.matches(":white_check_mark: pass").count(),
        3,
        "one line per window: {text}"
    );
    assert!(
        text.contains("new 1.00% 5xx (3/300), p99 120 ms · live 1.00% 5xx (27/2700), p99 110 ms"),
        "both sides' error rate and p99: {text}"
    );
    assert!(replies.is_empty(), "nothing to report: {replies:?}");
}

#[tokio::test]
async fn a_canary_with_ten_times_the_errors_is_rolled_back_by_the_judge_with_the_evidence() {
    let rig = rig().await;
    let shop = &rig.shop;
    let bad: Minute = ((300, 30, 0.12), (2700, 27, 0.11));
    publish_minutes(shop, &[bad, bad, bad]).await;
    let (first, deployment) = start(&rig, 600, json!({})).await;
    let started = Instant::now();
    let views = spawn_run(&rig.shifter, &first).await.unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "rolled back at once, not at the end of the 10-minute bake"
    );
    let message = failure_message(&views);
    assert!(
        message.starts_with(
            "rolled back at 10% green: analysis: fail (new side's 5xx rate is worse than live)"
        ),
        "{message}"
    );
    assert!(
        message.contains("new 30/300 5xx (10.00%), live 27/2700 (1.00%)"),
        "{message}"
    );
    assert!(
        message.contains("ratio 10.00x") && message.contains("p = "),
        "{message}"
    );
    assert_eq!(
        shop.weights(false).await,
        (100, 0),
        "all traffic back on blue"
    );
    for alarm in &shop.alarms {
        let state = aws_sdk_cloudwatch::Client::new(&shop.sdk)
            .describe_alarms()
            .alarm_names(alarm)
            .send()
            .await
            .expect("alarms")
            .metric_alarms()[0]
            .state_value()
            .cloned();
        assert_ne!(
            state,
            Some(aws_sdk_cloudwatch::types::StateValue::Alarm),
            "no alarm fired"
        );
    }
    let (progress, replies) = thread(&rig.slack).await;
    assert!(
        progress["text"]
            .as_str()
            .unwrap_or_default()
            .starts_with("Blue/green deployment rolled back"),
        "{progress}"
    );
    assert!(blocks_text(&progress).contains(":x: fail"), "{progress}");
    assert!(
        replies
            .iter()
            .any(|r| r.starts_with("analysis: fail") && r.contains("new 30/300 5xx")),
        "the evidence is in the execution's thread: {replies:?}"
    );
    let _ = deployment;
}

#[tokio::test]
async fn a_low_traffic_canary_is_never_rolled_back_on_noise_and_waits_for_a_person() {
    let rig = rig().await;
    let shop = &rig.shop;
    // 20 requests a minute on the canary: an error now and then is noise, not evidence.
    let quiet = |new_errors, live_errors| ((20, new_errors, 0.3), (180, live_errors, 0.1));
    publish_minutes(
        shop,
        &[
            quiet(1, 2),
            quiet(0, 1),
            quiet(1, 2),
            quiet(0, 1),
            quiet(1, 2),
        ],
    )
    .await;
    let (first, deployment) = start(&rig, 3, json!({})).await;
    let running = spawn_run(&rig.shifter, &first);
    let deadline = Instant::now() + Duration::from_secs(40);
    let asked = loop {
        let (_, replies) = thread(&rig.slack).await;
        if let Some(r) = replies.iter().find(|r| r.contains("inconclusive")) {
            break r.clone();
        }
        assert!(Instant::now() < deadline, "nobody was asked");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(asked.contains("on_inconclusive is pause"), "{asked}");
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(
        shop.weights(false).await,
        (90, 10),
        "the weights are held, neither advanced nor rolled back"
    );
    let (progress, _) = thread(&rig.slack).await;
    let text = blocks_text(&progress);
    assert_eq!(
        text.matches(":grey_question: inconclusive").count(),
        5,
        "{text}"
    );
    assert!(!text.contains(":x: fail"), "{text}");

    click(&rig, &deployment, "promote").await;
    assert_went_through(shop, running, "").await;
}

#[tokio::test]
async fn a_canary_that_looks_worse_without_significance_holds_past_its_bake_until_the_evidence_clears(
) {
    // 2 of 100 on the canary against 2 of 900 live: eight times the rate, p = 0.06, which no
    // look can call significant after 100 requests. Not a Pass either. Then the evidence clears:
    // ten times the traffic, no new error on the canary.
    holds_past_its_bake_until_the_evidence_clears(
        ((100, 2, 0.12), (900, 2, 0.11)),
        ((1000, 0, 0.12), (9000, 20, 0.11)),
        "looks higher than live, watching",
    )
    .await;
}

#[tokio::test]
async fn a_quiet_canary_whose_errors_cannot_rule_out_ten_times_live_holds_until_they_do() {
    // 1 of 300 on the canary against 3 of 2,700 live: the same rate, but four 5xx cannot tell
    // that from ten times live's (a 10x canary shows this little one time in five at a 0.1%
    // base rate). Then a minute with five live errors and none new rules it out.
    holds_past_its_bake_until_the_evidence_clears(
        ((300, 1, 0.12), (2700, 3, 0.11)),
        ((300, 0, 0.12), (2700, 5, 0.11)),
        "too few 5xx yet to rule out 10x live's, holding",
    )
    .await;
}

/// A canary whose first minute leaves the judge holding (`why`, in the Slack message) stays at
/// 10% past its 4-second bake, asking nobody, and moves on by itself once `clearing` is judged.
async fn holds_past_its_bake_until_the_evidence_clears(first: Minute, clearing: Minute, why: &str) {
    let rig = rig().await;
    let shop = &rig.shop;
    publish_minutes(shop, &[first]).await;
    let (job, _) = start(&rig, 4, json!({})).await;
    let running = spawn_run(&rig.shifter, &job);
    shop.until_green_at(10).await;
    // Past the 4-second bake, short of as long again: held, nobody asked yet.
    tokio::time::sleep(Duration::from_secs(6)).await;
    assert_eq!(
        shop.weights(false).await,
        (90, 10),
        "a canary the judge holds does not move on at its bake's end"
    );
    let (progress, replies) = thread(&rig.slack).await;
    let text = blocks_text(&progress);
    assert!(text.contains(":grey_question: inconclusive"), "{progress}");
    assert!(text.contains(why), "{text}");
    assert!(replies.is_empty(), "{replies:?}");
    publish_minutes_after(shop, 1, &[clearing]).await;
    assert_went_through(
        shop,
        running,
        "the hold cleared, so the canary went on by itself",
    )
    .await;
    let (progress, _) = thread(&rig.slack).await;
    assert!(
        blocks_text(&progress).contains(":white_check_mark: pass"),
        "{progress}"
    );
}

/// Writes a Pause / Resume / Extend bake click into the deployment record, as the approval
/// function does, with the controls' version the clicked message showed.
async fn control(rig: &Rig, deployment: &str, command: &str, version: u32, minutes: u32) {
    let command = Command {
        command,
        at: version.into(),
        version: Some(version),
        minutes: Some(minutes),
    };
    click_with(rig, deployment, &command).await;
}

async fn audit_trail(rig: &Rig, deployment: &str) -> Vec<String> {
    let item = deployment_record(&rig.shop, &rig.table, deployment)
        .await
        .unwrap_or_default();
    item.get("controls")
        .and_then(|c| c.as_l().ok())
        .map(|l| l.iter().filter_map(|e| e.as_s().ok().cloned()).collect())
        .unwrap_or_default()
}

async fn until_audited(rig: &Rig, deployment: &str, n: usize) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let trail = audit_trail(rig, deployment).await;
        if trail.len() >= n {
            return trail;
        }
        assert!(Instant::now() < deadline, "not audited: {trail:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn pause_holds_the_weights_across_a_hand_over_and_resume_carries_on() {
    let (rig, deployment, running) = canary_at_ten(2).await;
    let shop = &rig.shop;
    control(&rig, &deployment, "pause", 0, 0).await;
    let trail = until_audited(&rig, &deployment, 1).await;
    assert!(
        trail[0].ends_with("pause by <@U0RELEASE> (controls v0): applied: the weights hold"),
        "{trail:?}"
    );
    // The 2-second bake and at least one 2.5-second slice go by: still paused.
    tokio::time::sleep(Duration::from_secs(6)).await;
    assert_eq!(shop.weights(false).await, (90, 10), "held while paused");
    let (progress, _) = thread(&rig.slack).await;
    let buttons: Vec<String> = buttons(&progress)
        .into_iter()
        .map(|(action_id, value)| format!("{action_id}={value}"))
        .collect();
    assert!(
        buttons.contains(&format!("gantry.deploy.resume={deployment}|1")),
        "Resume, at the controls' new version: {buttons:?}"
    );
    control(&rig, &deployment, "resume", 1, 0).await;
    assert_went_through(shop, running, "").await;
    let trail = audit_trail(&rig, &deployment).await;
    assert!(
        trail[1].contains("resume by <@U0RELEASE> (controls v1): applied"),
        "{trail:?}"
    );
}

#[tokio::test]
async fn extend_bake_delays_the_next_step() {
    let (rig, deployment, running) = canary_at_ten(2).await;
    let shop = &rig.shop;
    control(&rig, &deployment, "extend", 0, 1).await;
    let trail = until_audited(&rig, &deployment, 1).await;
    assert!(
        trail[0].contains("extend bake +1 min by <@U0RELEASE> (controls v0): applied"),
        "{trail:?}"
    );
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(
        shop.weights(false).await,
        (90, 10),
        "the 2-second bake was extended by a minute"
    );
    click(&rig, &deployment, "promote").await;
    let views = running.await.unwrap();
    assert_eq!(views.last().unwrap()["status"], "Succeeded");
}

#[tokio::test]
async fn a_stale_pause_click_does_nothing() {
    let (rig, deployment, running) = canary_at_ten(4).await;
    let shop = &rig.shop;
    // A click on a message from before three other controls.
    control(&rig, &deployment, "pause", 3, 0).await;
    assert_went_through(shop, running, "not paused").await;
    let trail = audit_trail(&rig, &deployment).await;
    assert_eq!(trail.len(), 1, "{trail:?}");
    assert!(
        trail[0]
            .ends_with("pause by <@U0RELEASE> (controls v3): ignored, stale (controls are at v0)"),
        "{trail:?}"
    );
}

/// A signed Slack click on one of the deployment message's buttons, through the approval
/// function (as Slack sends it: a form body in a Function URL event). Returns the HTTP status
/// and what the clicker was told privately, if anything.
async fn slack_click(
    rig: &Rig,
    user: (&str, &str),
    action_id: &str,
    value: &str,
) -> (u64, Option<String>) {
    let path = unique("click");
    let request = Click {
        user_id: user.0,
        username: user.1,
        action_id,
        value,
        channel: CHANNEL,
        message_ts: THREAD_TS,
        response_url: &rig.slack.response_url(&path),
        reason: None,
    }
    .signed_request(SIGNING_SECRET, now_epoch_seconds());
    let answer = approval::handle(&rig.approval, request.function_url_event())
        .await
        .expect("answered");
    let told = rig
        .slack
        .calls(Some("response_url"))
        .await
        .iter()
        .rev()
        .find(|c| c["path"].as_str().is_some_and(|p| p.ends_with(&path)))
        .and_then(|c| c["body"]["text"].as_str().map(str::to_string));
    (answer["statusCode"].as_u64().unwrap_or(0), told)
}

async fn record_field(rig: &Rig, deployment: &str, name: &str) -> Option<String> {
    let item = deployment_record(&rig.shop, &rig.table, deployment)
        .await
        .unwrap_or_default();
    item.get(name)
        .and_then(|v| v.as_s().or_else(|_| v.as_n()).ok().cloned())
}

#[tokio::test]
async fn signed_slack_clicks_extend_pause_and_resume_a_running_deployment() {
    use gantry_core::traffic::steps::report::{
        EXTEND_ACTION, EXTEND_MINUTES, PAUSE_ACTION, PROMOTE_ACTION, RESUME_ACTION,
    };
    let (rig, deployment, running) = canary_at_ten(2).await;
    let shop = &rig.shop;

    // The values the deployment's message carries: `<id>|<controls version>[|<minutes>]`.
    let (status, told) = slack_click(
        &rig,
        RELEASE,
        EXTEND_ACTION,
        &format!("{deployment}|0|{EXTEND_MINUTES}"),
    )
    .await;
    assert_eq!((status, told), (200, None));
    let trail = until_audited(&rig, &deployment, 1).await;
    assert!(
        trail[0].contains("extend bake +10 min by <@U0RELEASE> (controls v0): applied"),
        "{trail:?}"
    );
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(shop.weights(false).await, (90, 10), "the bake was extended");

    slack_click(&rig, RELEASE, PAUSE_ACTION, &format!("{deployment}|1")).await;
    let trail = until_audited(&rig, &deployment, 2).await;
    assert!(
        trail[1].ends_with("pause by <@U0RELEASE> (controls v1): applied: the weights hold"),
        "{trail:?}"
    );
    // A second click on the message as it was before the pause: stale, nothing written.
    let (status, told) = slack_click(&rig, RELEASE, PAUSE_ACTION, &format!("{deployment}|1")).await;
    assert_eq!(status, 200);
    assert!(told.unwrap_or_default().contains("out of date"));
    assert_eq!(record_field(&rig, &deployment, "command").await, None);

    slack_click(&rig, RELEASE, RESUME_ACTION, &format!("{deployment}|2")).await;
    let trail = until_audited(&rig, &deployment, 3).await;
    assert!(
        trail[2].contains("resume by <@U0RELEASE> (controls v2): applied"),
        "{trail:?}"
    );
    // Still within the extended bake: Promote now (also a click) finishes it.
    assert_eq!(shop.weights(false).await, (90, 10));
    slack_click(&rig, RELEASE, PROMOTE_ACTION, &deployment).await;
    assert_went_through(shop, running, "").await;
}

#[tokio::test]
async fn a_slack_click_from_someone_not_an_approver_changes_nothing() {
    use gantry_core::traffic::steps::report::PAUSE_ACTION;
    let (rig, deployment, running) = canary_at_ten(3).await;
    let shop = &rig.shop;
    let (status, told) = slack_click(
        &rig,
        ("U0STRANGER", "sam"),
        PAUSE_ACTION,
        &format!("{deployment}|0"),
    )
    .await;
    assert_eq!(status, 200);
    assert!(
        told.as_deref()
            .unwrap_or_default()
            .contains("not one of the approvers"),
        "{told:?}"
    );
    assert_eq!(record_field(&rig, &deployment, "command").await, None);
    assert_went_through(shop, running, "not paused").await;
    assert!(audit_trail(&rig, &deployment).await.is_empty());
}
