//! Test traffic, ECS lifecycle hooks and auto scaling end to end (docs/traffic-shifting.md): the traffic shifter
//! with `test_listener_arn` and `lifecycle_hooks`, whose hook is a function written for ECS
//! (tests/hooks/ecs_smoke_hook.py) that the emulator runs on Lambda's real `Invoke`, against
//! ECS, the ALB (every listener change recorded), Application Auto Scaling and DynamoDB, with
//! the shifter holding only its role's permissions from template.yaml.

use aws_sdk_applicationautoscaling::types::{ScalableDimension, ServiceNamespace, SuspendedState};
use gantry_tests::http;
use gantry_tests::rig::{self, click_with};
use gantry_tests::shifter::{
    invoke, open_execution_thread, run_to_end, spawn_run, with_stand_ins, Command, Setup,
    NEW_IMAGE, THREAD_TS,
};
use gantry_tests::slack::{buttons, SlackNs};
use gantry_tests::traffic::{forward_action, outcome};
use gantry_tests::{emulator_url, unique};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;

/// The shifter's rig, with a test listener, a hook function and the Slack stand-in.
struct Rig {
    base: rig::Rig,
    /// The test listener (port 8080 of the shop's load balancer), blue 100 / green 0.
    test_listener: String,
    /// The hook function's ARN, registered in the emulator as ecs_smoke_hook.py.
    hook: String,
    slack: SlackNs,
}

impl std::ops::Deref for Rig {
    type Target = rig::Rig;
    fn deref(&self) -> &rig::Rig {
        &self.base
    }
}

/// A shop with a test listener, a registered ECS hook function, and the shifter allowed to
/// invoke it (`HookFunctionArns`), working in short slices so a deployment spans tokens.
async fn rig() -> Rig {
    rig_running("ecs_smoke_hook.py").await
}

/// `rig`, its hook function running `script` (of tests/hooks/).
async fn rig_running(script: &str) -> Rig {
    let slack = SlackNs::new();
    let mut setup = Setup::new("hk", &json!({"slack_bot_token": "xoxb-gantry"}))
        .await
        .with_slack_progress(slack.api_url());
    let test_listener = setup.shop.add_test_listener().await;
    let hook = register_hook_function("smoke", script).await;
    setup.stack.parameters[0]["DevTestListenerArn"] = json!(test_listener);
    let shifter = setup.shifter().await;
    Rig {
        base: rig::Rig::new(setup, shifter),
        test_listener,
        hook,
        slack,
    }
}

/// Registers a function named after `prefix` in the emulator, running `script` (of
/// tests/hooks/) when invoked; returns its ARN.
async fn register_hook_function(prefix: &str, script: &str) -> String {
    register_hook_function_tagged(
        prefix,
        script,
        json!({gantry_tests::iam::HUB_TAG: gantry_tests::iam::HUB}),
    )
    .await
}

/// `register_hook_function`, the function tagged `tags` (a hook the application's stack tags
/// `gantry:hub` is one the hub's traffic shifter may invoke).
async fn register_hook_function_tagged(prefix: &str, script: &str, tags: Value) -> String {
    let arn = format!(
        "arn:aws:lambda:us-east-1:123456789012:function:{}",
        unique(prefix)
    );
    let program = format!("{}/hooks/{script}", env!("CARGO_MANIFEST_DIR"));
    http::post(
        &format!("{}/_gantry/lambda/functions", emulator_url()),
        &json!({"function": arn, "command": ["python3", program], "tags": tags}),
    )
    .await;
    arn
}

/// Starts the job in an execution whose Slack thread the notifier has opened.
async fn start(rig: &Rig, params: &Value) -> Value {
    let first = rig.shop.start_job(params, json!([])).await;
    let execution = rig
        .shop
        .execution_of(first["job_id"].as_str().expect("job id"))
        .await;
    open_execution_thread(&rig.shop, &rig.table, &execution, THREAD_TS).await;
    first
}

/// The deployment's Slack progress message as it stands (its blocks), and its buttons
/// (action id, value).
async fn progress_buttons(rig: &Rig) -> (String, Vec<(String, String)>) {
    let messages = rig.slack.messages().await;
    let Some(m) = messages
        .iter()
        .find(|m| m["metadata"]["event_type"] == "gantry_deployment_progress")
    else {
        return (String::new(), Vec::new());
    };
    let blocks = m["blocks"].as_array().cloned().unwrap_or_default();
    (Value::Array(blocks).to_string(), buttons(m))
}

async fn run(rig: &Rig, params: &Value) -> (Vec<Value>, String) {
    let first = start(rig, params).await;
    let id = first["job_id"].as_str().expect("job id").to_string();
    let views = run_to_end(&rig.shifter, &first).await;
    (views, id)
}

/// A rig whose canary ran to its end with the smoke hook at `stages`, given `details`:
/// (rig, the jobs, the deployment id).
async fn run_with_hook(stages: &[&str], details: Value) -> (Rig, Vec<Value>, String) {
    let rig = rig().await;
    let hooks = hook_at(&rig, stages, details);
    let (views, id) = run(&rig, &params(&rig, hooks)).await;
    (rig, views, id)
}

/// A canary (10%, 1 s bake) with the test listener and `hooks`.
fn params(rig: &Rig, hooks: Value) -> Value {
    let mut p = rig.shop.user_parameters(
        NEW_IMAGE,
        json!({"type": "canary", "percent": 10, "bake_seconds": 1}),
    );
    p["test_listener_arn"] = json!(rig.test_listener);
    p["lifecycle_hooks"] = hooks;
    p
}

fn hook_at(rig: &Rig, stages: &[&str], details: Value) -> Value {
    json!([{"hook_target_arn": rig.hook, "lifecycle_stages": stages, "hook_details": details}])
}

/// The hook at POST_TEST_TRAFFIC_SHIFT answering IN_PROGRESS twice (asking to be called
/// again after `callback_delay` seconds), then SUCCEEDED.
fn hook_in_progress_twice(rig: &Rig, callback_delay: u64) -> Value {
    hook_at(
        rig,
        &["POST_TEST_TRAFFIC_SHIFT"],
        json!({"mode": "in_progress", "in_progress_times": 2, "callback_delay": callback_delay}),
    )
}

/// Every weight change recorded on a listener: (epoch seconds, green's share in percent).
async fn changes(rig: &Rig, arn: &str) -> Vec<(f64, i64)> {
    rig.shop.weight_changes(arn).await
}

/// Not one weight change on the production listener gave the new side traffic.
async fn assert_no_production_traffic_moved(rig: &Rig) {
    assert!(changes(rig, &rig.shop.listener)
        .await
        .iter()
        .all(|(_, g)| *g == 0));
}

/// The deployment ended `status` (`Succeeded`, `Failed`).
fn assert_outcome(views: &[Value], status: &str) {
    assert!(outcome(views).starts_with(status), "{}", outcome(views));
}

fn shares(changes: &[(f64, i64)]) -> Vec<i64> {
    changes.iter().map(|(_, s)| *s).collect()
}

/// The hook's invocations: (payload, answer, finished at).
async fn invocations(rig: &Rig) -> Vec<Value> {
    let v = http::get(&format!(
        "{}/_gantry/lambda/invocations?function={}",
        emulator_url(),
        rig.hook
    ))
    .await;
    v.as_array()
        .cloned()
        .or_else(|| v["invocations"].as_array().cloned())
        .unwrap_or_default()
}

#[tokio::test]
async fn a_hook_in_progress_twice_then_succeeded_holds_production_until_it_passes() {
    let rig = rig().await;
    let hooks = hook_in_progress_twice(&rig, 2);
    let (views, _) = run(&rig, &params(&rig, hooks)).await;
    assert_outcome(&views, "Succeeded");
    let calls = invocations(&rig).await;
    let answers: Vec<&str> = calls
        .iter()
        .map(|c| c["response"]["hookStatus"].as_str().unwrap_or("?"))
        .collect();
    assert_eq!(answers, ["IN_PROGRESS", "IN_PROGRESS", "SUCCEEDED"]);
    // ECS's payload, and the hookDetails the hook answered passed back to it.
    let first = &calls[0]["payload"];
    assert_eq!(first["lifecycleStage"], "POST_TEST_TRAFFIC_SHIFT");
    assert_eq!(first["hookDetails"]["mode"], "in_progress");
    assert!(first["executionDetails"]["serviceArn"]
        .as_str()
        .unwrap()
        .ends_with(&format!(
            "service/{}/{}",
            rig.shop.cluster, rig.shop.green_service
        )));
    assert_eq!(calls[1]["payload"]["hookDetails"]["calls"], 1);
    assert_eq!(calls[2]["payload"]["hookDetails"]["calls"], 2);
    // The hook outlasted one invocation: its state rode in the continuation tokens.
    let hook_spans = calls
        .windows(2)
        .map(|w| w[1]["at"].as_f64().unwrap() - w[0]["at"].as_f64().unwrap())
        .fold(0.0, f64::max);
    assert!(hook_spans >= 1.9, "callBackDelay honoured: {hook_spans}");
    assert!(views.len() >= 3, "{} invocations", views.len());

    // Production moved only after the hook's SUCCEEDED; test traffic moved before the hook ran.
    let production = changes(&rig, &rig.shop.listener).await;
    let test = changes(&rig, &rig.test_listener).await;
    assert_eq!(shares(&production), [10, 100]);
    assert_eq!(shares(&test), [100], "test traffic moves once and stays");
    let succeeded_at = calls[2]["finished_at"].as_f64().unwrap();
    assert!(production[0].0 >= succeeded_at);
    assert!(test[0].0 <= calls[0]["at"].as_f64().unwrap());
    // After success the test listener stays on the new (now live) side.
    assert_eq!(rig.shop.weights(false).await, (0, 100));
}

#[tokio::test]
async fn a_smoke_hook_failing_after_test_traffic_rolls_back_before_any_production_traffic() {
    let (rig, views, id) =
        run_with_hook(&["POST_TEST_TRAFFIC_SHIFT"], json!({"mode": "fail"})).await;
    let text = outcome(&views);
    assert!(text.starts_with("Failed"), "{text}");
    assert!(
        text.contains("POST_TEST_TRAFFIC_SHIFT") && text.contains("FAILED"),
        "{text}"
    );
    // Not one production weight change ever gave the new side traffic.
    let production = changes(&rig, &rig.shop.listener).await;
    assert!(production.iter().all(|(_, g)| *g == 0), "{production:?}");
    // Test traffic went to the new side, then back.
    assert_eq!(shares(&changes(&rig, &rig.test_listener).await), [100, 0]);
    // The idle side is back to what it ran.
    let (_, desired) = rig.shop.service(&rig.shop.green_service).await;
    assert_eq!(desired, 0);
    let _ = (id, &rig.table);
}

#[tokio::test]
async fn a_hook_that_throws_rolls_back_naming_its_error() {
    let (rig, views, _) = run_with_hook(&["POST_SCALE_UP"], json!({"mode": "throw"})).await;
    let text = outcome(&views);
    assert!(
        text.starts_with("Failed") && text.contains("POST_SCALE_UP") && text.contains("HookError"),
        "{text}"
    );
    // POST_SCALE_UP runs before test traffic moves: nothing moved at all.
    assert!(changes(&rig, &rig.test_listener).await.is_empty());
    assert_no_production_traffic_moved(&rig).await;
}

#[tokio::test]
async fn hooks_run_at_every_stage_in_ecs_order() {
    let rig = rig().await;
    let stages = [
        "PRE_SCALE_UP",
        "POST_SCALE_UP",
        "TEST_TRAFFIC_SHIFT",
        "POST_TEST_TRAFFIC_SHIFT",
        "PRODUCTION_TRAFFIC_SHIFT",
        "POST_PRODUCTION_TRAFFIC_SHIFT",
    ];
    let (views, _) = run(&rig, &params(&rig, hook_at(&rig, &stages, json!({})))).await;
    assert_outcome(&views, "Succeeded");
    let calls = invocations(&rig).await;
    let seen: Vec<(String, Value, Value)> = calls
        .iter()
        .map(|c| {
            let p = &c["payload"];
            // As an ECS hook reads it: the target revision's entry.
            let weights = |k: &str| {
                let details = &p["executionDetails"];
                let target = details["targetServiceRevisionArn"].as_str().unwrap_or("?");
                details[k].get(target).cloned().unwrap_or(Value::Null)
            };
            (
                p["lifecycleStage"].as_str().unwrap_or("?").to_string(),
                weights("testTrafficWeights"),
                weights("productionTrafficWeights"),
            )
        })
        .collect();
    // The new side's share of test and production traffic each hook was told.
    let expected: Vec<(String, Value, Value)> = [
        ("PRE_SCALE_UP", 0, 0),
        ("POST_SCALE_UP", 0, 0),
        ("TEST_TRAFFIC_SHIFT", 100, 0),
        ("POST_TEST_TRAFFIC_SHIFT", 100, 0),
        ("PRODUCTION_TRAFFIC_SHIFT", 100, 10),
        ("PRODUCTION_TRAFFIC_SHIFT", 100, 100),
        ("POST_PRODUCTION_TRAFFIC_SHIFT", 100, 100),
    ]
    .iter()
    .map(|(s, t, p)| (s.to_string(), json!(t), json!(p)))
    .collect();
    assert_eq!(seen, expected);
}

/// A hook written for ECS reads the new side's shares as `weights[targetServiceRevisionArn]`,
/// from both maps, even without a test listener (tests/hooks/ecs_lookup_hook.py fails on a
/// missing key, which would roll the deployment back).
#[tokio::test]
async fn a_hook_finds_its_weights_by_ecs_lookup_even_without_a_test_listener() {
    let rig = rig_running("ecs_lookup_hook.py").await;
    let stages = [
        "PRE_SCALE_UP",
        "PRODUCTION_TRAFFIC_SHIFT",
        "POST_PRODUCTION_TRAFFIC_SHIFT",
    ];
    let mut p = params(&rig, hook_at(&rig, &stages, json!({})));
    if let Some(p) = p.as_object_mut() {
        p.remove("test_listener_arn");
    }
    let (views, _) = run(&rig, &p).await;
    assert_outcome(&views, "Succeeded");
    let calls = invocations(&rig).await;
    let found: Vec<(String, Value, Value)> = calls
        .iter()
        .map(|c| {
            let answer = &c["response"]["hookDetails"];
            (
                c["payload"]["lifecycleStage"]
                    .as_str()
                    .unwrap_or("?")
                    .into(),
                answer["production"].clone(),
                answer["test"].clone(),
            )
        })
        .collect();
    // Test requests reach the sides as production requests do: no test listener.
    let expected: Vec<(String, Value, Value)> = [
        ("PRE_SCALE_UP", 0, 0),
        ("PRODUCTION_TRAFFIC_SHIFT", 10, 10),
        ("PRODUCTION_TRAFFIC_SHIFT", 100, 100),
        ("POST_PRODUCTION_TRAFFIC_SHIFT", 100, 100),
    ]
    .iter()
    .map(|(s, p, t)| (s.to_string(), json!(p), json!(t)))
    .collect();
    assert_eq!(found, expected);
    // The new side is keyed by the task definition it runs, the old side by the one it ran.
    let details = &calls[1]["payload"]["executionDetails"];
    let (green_td, _) = rig.shop.service(&rig.shop.green_service).await;
    let (blue_td, _) = rig.shop.service(&rig.shop.blue_service).await;
    assert_eq!(details["targetServiceRevisionArn"], json!(green_td));
    assert_eq!(details["productionTrafficWeights"][&blue_td], 90);
    assert!(
        changes(&rig, &rig.test_listener).await.is_empty(),
        "no test listener in use"
    );
}

async fn aas(rig: &Rig) -> aws_sdk_applicationautoscaling::Client {
    aws_sdk_applicationautoscaling::Client::new(&rig.shop.sdk)
}

/// Makes both services scalable targets with different suspended states, tagged for this
/// hub as the setup asks (`gantry:hub` = the hub's HubName); returns them.
async fn scalable(rig: &Rig) -> Vec<Option<SuspendedState>> {
    scalable_tagged(rig, gantry_tests::iam::HUB).await
}

/// `scalable`, the targets tagged `gantry:hub` = `hub`.
async fn scalable_tagged(rig: &Rig, hub: &str) -> Vec<Option<SuspendedState>> {
    let client = aas(rig).await;
    for (service, state) in [
        (&rig.shop.blue_service, (false, false, true)),
        (&rig.shop.green_service, (false, true, false)),
    ] {
        client
            .register_scalable_target()
            .service_namespace(ServiceNamespace::Ecs)
            .resource_id(format!("service/{}/{service}", rig.shop.cluster))
            .scalable_dimension(ScalableDimension::EcsServiceDesiredCount)
            .min_capacity(0)
            .max_capacity(8)
            .tags(gantry_tests::iam::HUB_TAG, hub)
            .suspended_state(
                SuspendedState::builder()
                    .dynamic_scaling_in_suspended(state.0)
                    .dynamic_scaling_out_suspended(state.1)
                    .scheduled_scaling_suspended(state.2)
                    .build(),
            )
            .send()
            .await
            .expect("register");
    }
    suspended(rig).await
}

async fn suspended(rig: &Rig) -> Vec<Option<SuspendedState>> {
    let client = aas(rig).await;
    let mut out = Vec::new();
    for service in [&rig.shop.blue_service, &rig.shop.green_service] {
        let targets = client
            .describe_scalable_targets()
            .service_namespace(ServiceNamespace::Ecs)
            .resource_ids(format!("service/{}/{service}", rig.shop.cluster))
            .send()
            .await
            .expect("describe")
            .scalable_targets
            .unwrap_or_default();
        out.push(targets.first().and_then(|t| t.suspended_state.clone()));
    }
    out
}

#[tokio::test]
async fn auto_scaling_is_suspended_for_scale_in_during_the_deployment_and_restored_after_success() {
    let rig = rig().await;
    let before = scalable(&rig).await;
    // A hook holding the deployment at the test stage lets the test look in the middle.
    let hooks = hook_in_progress_twice(&rig, 2);
    let watcher = {
        let (shop, aas_client) = (rig.shop.clone(), aas(&rig).await);
        let resources: Vec<String> = [&shop.blue_service, &shop.green_service]
            .iter()
            .map(|s| format!("service/{}/{s}", shop.cluster))
            .collect();
        tokio::spawn(async move {
            // Both sides' scale-in, seen suspended at once while the deployment runs.
            for _ in 0..300 {
                let out = aas_client
                    .describe_scalable_targets()
                    .service_namespace(ServiceNamespace::Ecs)
                    .set_resource_ids(Some(resources.clone()))
                    .send()
                    .await
                    .expect("describe");
                let all_in = out.scalable_targets().len() == 2
                    && out.scalable_targets().iter().all(|t| {
                        t.suspended_state()
                            .and_then(|s| s.dynamic_scaling_in_suspended())
                            == Some(true)
                    });
                if all_in {
                    return true;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            false
        })
    };
    let (views, _) = run(&rig, &params(&rig, hooks)).await;
    assert_outcome(&views, "Succeeded");
    assert!(
        watcher.await.unwrap(),
        "scale-in was never suspended on both sides"
    );
    assert_eq!(suspended(&rig).await, before);
}

#[tokio::test]
async fn the_shifter_may_not_touch_scalable_targets_of_another_hub() {
    // The services' targets are tagged for another hub: the role's RegisterScalableTarget
    // grant (scoped by that tag: a target's ARN cannot name its service) does not cover them.
    let rig = rig().await;
    let before = scalable_tagged(&rig, "someone-elses-hub").await;
    let (views, _) = run(&rig, &params(&rig, json!([]))).await;
    assert_outcome(&views, "Succeeded");
    assert_eq!(suspended(&rig).await, before, "nothing was changed");
    let said = serde_json::to_string(&views).unwrap();
    assert!(!said.contains("could not be restored"), "{said}");
    let refusals = gantry_tests::iam::refusals().await;
    assert!(
        refusals.iter().any(
            |r| r["action"] == "application-autoscaling:RegisterScalableTarget"
                && r["principal"]
                    .as_str()
                    .unwrap_or("")
                    .contains("traffic-shifter")
                && r["context"]["aws:resourcetag/gantry:hub"][0] == "someone-elses-hub"
        ),
        "{refusals:?}"
    );
}

#[tokio::test]
async fn auto_scaling_state_is_restored_exactly_after_a_rollback() {
    let rig = rig().await;
    let before = scalable(&rig).await;
    let hooks = hook_at(&rig, &["POST_TEST_TRAFFIC_SHIFT"], json!({"mode": "fail"}));
    let (views, _) = run(&rig, &params(&rig, hooks)).await;
    assert_outcome(&views, "Failed");
    assert_eq!(suspended(&rig).await, before);
}

#[tokio::test]
async fn the_new_side_keeps_its_share_of_the_live_sides_tasks_when_the_live_side_scaled_out() {
    let rig = rig().await;
    scalable(&rig).await;
    // The live side scales out (auto scaling) once the deployment has started: the new side
    // is sized for each step's share of the live side's 8 tasks, rounded up.
    let mut p = params(&rig, json!([]));
    p["strategy"] = json!({"type": "linear", "step_percent": 50, "interval_seconds": 1});
    let scale_out = {
        let shop = rig.shop.clone();
        tokio::spawn(async move {
            for _ in 0..600 {
                if shop.service(&shop.green_service).await.1 > 0 {
                    shop.set_desired_count(&shop.blue_service, 8).await;
                    return;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
    };
    let (views, _) = run(&rig, &p).await;
    scale_out.await.unwrap();
    assert_outcome(&views, "Succeeded");
    let (_, green) = rig.shop.service(&rig.shop.green_service).await;
    assert_eq!(green, 8, "at 100% the new side has the live side's 8 tasks");
}

/// Writes an operator command into the deployment record, as the approval function does for
/// an authorized click (the click itself is tested with the approval function).
async fn click(rig: &Rig, deployment: &str, command: &str, version: u32) {
    let command = Command {
        command,
        at: 1,
        version: Some(version),
        ..Command::default()
    };
    click_with(rig, deployment, &command).await;
}

/// Starts a deployment with a pause hook at POST_TEST_TRAFFIC_SHIFT and waits until test
/// traffic is on the new side (the pause is then waiting); returns the run and the job id.
async fn paused(
    rig: &Rig,
    timeout_minutes: u32,
    action: &str,
) -> (tokio::task::JoinHandle<Vec<Value>>, String) {
    let hooks = json!([{"type": "pause", "lifecycle_stages": ["POST_TEST_TRAFFIC_SHIFT"],
                        "timeout_minutes": timeout_minutes, "timeout_action": action}]);
    let first = start(rig, &params(rig, hooks)).await;
    let id = first["job_id"].as_str().expect("job id").to_string();
    let handle = spawn_run(&rig.shifter, &first);
    for _ in 0..600 {
        if !changes(rig, &rig.test_listener).await.is_empty() {
            return (handle, id);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("test traffic never moved");
}

#[tokio::test]
async fn a_pause_hook_waits_for_continue_then_production_moves() {
    let rig = rig().await;
    let (run, id) = paused(&rig, 60, "ROLLBACK").await;
    // Waiting: several checks pass and production stays on the live side.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(changes(&rig, &rig.shop.listener).await.is_empty());
    // The deployment's message asks for the decision, with the controls' version in the value.
    let (text, buttons) = progress_buttons(&rig).await;
    assert!(
        text.contains("Waiting at POST_TEST_TRAFFIC_SHIFT"),
        "{text}"
    );
    assert!(
        buttons.contains(&("gantry.deploy.continue".into(), format!("{id}|0"))),
        "{buttons:?}"
    );
    assert!(
        buttons.contains(&("gantry.deploy.rollback".into(), id.clone())),
        "{buttons:?}"
    );
    let clicked_at = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    click(&rig, &id, "continue", 0).await;
    let views = run.await.unwrap();
    assert_outcome(&views, "Succeeded");
    let production = changes(&rig, &rig.shop.listener).await;
    assert_eq!(shares(&production), [10, 100]);
    assert!(production[0].0 >= clicked_at);
    let (text, buttons) = progress_buttons(&rig).await;
    assert!(buttons.is_empty() && !text.contains("Waiting at"), "{text}");
}

#[tokio::test]
async fn a_stale_continue_does_nothing_and_roll_back_on_a_pause_rolls_back() {
    let rig = rig().await;
    let (run, id) = paused(&rig, 60, "CONTINUE").await;
    // A Continue from an older message (another controls version) is dropped.
    click(&rig, &id, "continue", 7).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(changes(&rig, &rig.shop.listener).await.is_empty());
    click(&rig, &id, "rollback", 0).await;
    let views = run.await.unwrap();
    let text = outcome(&views);
    assert!(
        text.starts_with("Failed") && text.contains("U0RELEASE"),
        "{text}"
    );
    assert_no_production_traffic_moved(&rig).await;
    assert_eq!(shares(&changes(&rig, &rig.test_listener).await), [100, 0]);
}

#[tokio::test]
async fn a_pause_nobody_decides_takes_its_timeout_action() {
    let rig = rig().await;
    let started = std::time::Instant::now();
    let (run, _) = paused(&rig, 1, "ROLLBACK").await;
    let views = run.await.unwrap();
    let text = outcome(&views);
    assert!(
        text.starts_with("Failed") && text.contains("nobody chose Continue within 1 min"),
        "{text}"
    );
    assert!(started.elapsed() >= Duration::from_secs(60));
    assert_no_production_traffic_moved(&rig).await;
}

/// A Lambda client whose invocation dies (the shifter's process is gone) when it invokes.
struct DiesOnInvoke;

impl gantry_core::traffic::HookFunctions for DiesOnInvoke {
    async fn invoke(
        &self,
        _function_arn: &str,
        _payload: &str,
    ) -> Result<gantry_core::traffic::setup::hooks::Invocation, gantry_core::traffic::ShiftError>
    {
        panic!("the invocation died while a hook ran");
    }
}

#[tokio::test]
async fn auto_scaling_state_is_restored_exactly_after_a_crash_resumed_from_the_token() {
    let rig = rig().await;
    let before = scalable(&rig).await;
    let hooks = hook_in_progress_twice(&rig, 4);
    let first = rig.shop.start_job(&params(&rig, hooks), json!([])).await;
    // The first invocation hands over with a token (the hook said IN_PROGRESS)…
    invoke(&*rig.shifter, &first["event"]).await;
    let view = gantry_tests::traffic::job(first["job_id"].as_str().unwrap()).await;
    assert_eq!(view["status"], "Continued", "{view}");
    let next = view["next_job"].clone();
    // …and the invocation resumed from that token dies while calling the hook again.
    let s = &*rig.shifter;
    // Long enough to reach the hook's next call (its callBackDelay is 4 s) whatever the
    // first invocation took.
    let dying_slice = Duration::from_secs(8);
    let dying = Arc::new(with_stand_ins(
        s,
        s.cluster.clone(),
        s.balancer.clone(),
        DiesOnInvoke,
        dying_slice,
    ));
    let event = next["event"].clone();
    let died = tokio::spawn(async move { invoke(&*dying, &event).await }).await;
    assert!(died.unwrap_err().is_panic());
    let during = suspended(&rig).await;
    assert!(during
        .iter()
        .all(|s| s.as_ref().and_then(|s| s.dynamic_scaling_in_suspended) == Some(true)));

    // Lambda retries the same event once the dead invocation's lease ran out.
    tokio::time::sleep(dying_slice + gantry_core::traffic::steps::turn::LEASE_MARGIN).await;
    let views = run_to_end(&rig.shifter, &next).await;
    assert_outcome(&views, "Succeeded");
    assert_eq!(suspended(&rig).await, before);
}

#[tokio::test]
async fn a_test_listener_forwarding_elsewhere_is_refused_before_anything_moves() {
    let rig = rig().await;
    let stray = rig.shop.stray_target_group(&unique("tg")).await;
    aws_sdk_elasticloadbalancingv2::Client::new(&rig.shop.sdk)
        .modify_listener()
        .listener_arn(&rig.test_listener)
        .default_actions(forward_action(&[(&stray, 1)]))
        .send()
        .await
        .expect("point the test listener elsewhere");
    let (views, _) = run(&rig, &params(&rig, json!([]))).await;
    let text = outcome(&views);
    assert!(
        text.starts_with("Failed") && text.contains("test_listener") && text.contains(&stray),
        "{text}"
    );
    assert_eq!(views.len(), 1);
    assert_eq!(rig.shop.service(&rig.shop.green_service).await.1, 0);
    assert!(changes(&rig, &rig.shop.listener).await.is_empty());
}

#[tokio::test]
async fn a_hook_the_role_may_not_invoke_rolls_back_before_production_moves() {
    let rig = rig().await;
    // Registered in the emulator, but not tagged gantry:hub: not one the hub may invoke.
    let other = register_hook_function_tagged("unlisted", "ecs_smoke_hook.py", json!({})).await;
    let hooks =
        json!([{"hook_target_arn": other, "lifecycle_stages": ["POST_TEST_TRAFFIC_SHIFT"]}]);
    let (views, _) = run(&rig, &params(&rig, hooks)).await;
    let text = outcome(&views);
    assert!(
        text.starts_with("Failed")
            && text.contains("could not be invoked")
            && text.contains("AccessDenied"),
        "{text}"
    );
    assert_no_production_traffic_moved(&rig).await;
}

#[tokio::test]
async fn a_test_rule_on_the_production_listener_gets_the_test_traffic() {
    use aws_sdk_elasticloadbalancingv2::types::{HttpHeaderConditionConfig, RuleCondition};
    let rig = rig().await;
    // Requests with `X-Smoke-Test: 1` on the production listener: the team's smoke tests.
    let smoke_test_header = RuleCondition::builder()
        .field("http-header")
        .http_header_config(
            HttpHeaderConditionConfig::builder()
                .http_header_name("X-Smoke-Test")
                .values("1")
                .build(),
        )
        .build();
    let rule = rig.shop.add_rule(5, smoke_test_header).await;
    let mut p = params(
        &rig,
        hook_at(&rig, &["POST_TEST_TRAFFIC_SHIFT"], json!({"mode": "fail"})),
    );
    p.as_object_mut().unwrap().remove("test_listener_arn");
    p["test_listener_rule_arn"] = json!(rule);
    let (views, _) = run(&rig, &p).await;
    assert_outcome(&views, "Failed");
    assert_eq!(shares(&changes(&rig, &rule).await), [100, 0]);
    assert_no_production_traffic_moved(&rig).await;
    // The hook was told the test weights of the rule.
    let calls = invocations(&rig).await;
    let details = &calls[0]["payload"]["executionDetails"];
    let target = details["targetServiceRevisionArn"].as_str().unwrap();
    assert_eq!(details["testTrafficWeights"][target], 100, "{details}");
}
