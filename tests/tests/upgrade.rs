//! Upgrades that never drop work in flight: what an earlier release stored, finished by this one.
//!
//! `tests/fixtures/state/<release>/` holds what that release stored at each point a stack update
//! may find work at (`<point>.json`: the state table's items as DynamoDB JSON, and the
//! continuation token CodePipeline held). Each was written by that release's own code, driven
//! to the point by `generate` below, never by hand. Each test here takes every release folder
//! (so a later release only adds its folder), builds a fresh world, brings the outside world
//! (ECS, the load balancer, the pipeline) to where the records say it was, loads the records
//! into a fresh table, and proves the current code finishes the work.
//!
//! The records name one run's shop (its names, ARNs and execution id): the generator writes
//! them as placeholders (`${green_target_group}`…) and each test puts the fresh shop's in. The
//! deployment's `token_digest` is the SHA-256 of the continuation token, so it is computed again
//! over the token with the fresh names: the one attribute a test derives rather than loads.
//!
//! Regenerate the current release's folder (only when cutting a release), one test at a time so
//! that no test reads a file while another writes it:
//! `GANTRY_UPDATE_GOLDEN=1 cargo test -p gantry-tests --test upgrade -- --test-threads=1`
//! (`generate` writes the deployments' points; the approval and parked-push tests their own).

use aws_sdk_dynamodb::types::AttributeValue;
use gantry_core::traffic::HandOver;
use gantry_tests::rig::{canary, rig, started, Rig};
use gantry_tests::shifter::{
    invoke, lambda_event, run_to_end, write_command, Command, Setup, NEW_IMAGE,
};
use gantry_tests::traffic::{failure_message, job};
use serde_json::{json, Map, Value};
use std::collections::HashMap;
use std::path::PathBuf;

/// The folder of every release's records.
fn state_root() -> PathBuf {
    gantry_tests::root().join("tests/fixtures/state")
}

/// The release this code is (`Cargo.toml`'s version): the folder `generate` writes.
const RELEASE: &str = env!("CARGO_PKG_VERSION");

/// The canary every deployment point runs: 10%, baking 2 seconds (long past when the records
/// are loaded again, so the next check moves on).
fn strategy() -> Value {
    canary(2)
}

// ---------------------------------------------------------------------------------- records

/// A shifter's world at a point: the rig, the deployment's `UserParameters`, and what else the
/// records may name (placeholder, value).
struct Scene {
    rig: Rig,
    params: Value,
    extra: Vec<(&'static str, String)>,
}

impl std::ops::Deref for Scene {
    type Target = Rig;
    fn deref(&self) -> &Rig {
        &self.rig
    }
}

/// The world `point` happens in: the shop and a canary of NEW_IMAGE; for `hook_in_progress`,
/// with a test listener and a lifecycle hook at POST_TEST_TRAFFIC_SHIFT that answers
/// IN_PROGRESS twice (as `tests/tests/lifecycle_hooks.rs` sets it up).
async fn scene(point: &str) -> Scene {
    if point != "hook_in_progress" {
        let rig = rig().await;
        let params = rig.shop.user_parameters(NEW_IMAGE, strategy());
        return Scene {
            rig,
            params,
            extra: vec![],
        };
    }
    let mut setup = Setup::new("hk", &json!({})).await;
    let test_listener = setup.shop.add_test_listener().await;
    let hook = format!(
        "arn:aws:lambda:us-east-1:123456789012:function:{}",
        gantry_tests::unique("smoke")
    );
    gantry_tests::http::post(
        &format!("{}/_gantry/lambda/functions", gantry_tests::emulator_url()),
        &json!({"function": hook, "tags": {gantry_tests::iam::HUB_TAG: gantry_tests::iam::HUB},
                "command": ["python3", format!("{}/hooks/ecs_smoke_hook.py", env!("CARGO_MANIFEST_DIR"))]}),
    )
    .await;
    setup.stack.parameters[0]["DevTestListenerArn"] = json!(test_listener);
    let rig = started(setup).await;
    let mut params = rig.shop.user_parameters(NEW_IMAGE, strategy());
    params["test_listener_arn"] = json!(test_listener);
    params["lifecycle_hooks"] = json!([{"hook_target_arn": hook,
        "lifecycle_stages": ["POST_TEST_TRAFFIC_SHIFT"],
        "hook_details": {"mode": "in_progress", "in_progress_times": 2, "callback_delay": 1}}]);
    Scene {
        rig,
        params,
        extra: vec![("test_listener", test_listener), ("hook", hook)],
    }
}

/// An attribute as DynamoDB JSON (`{"S": …}`, `{"N": …}`, …).
fn to_json(v: &AttributeValue) -> Value {
    match v {
        AttributeValue::S(s) => json!({"S": s}),
        AttributeValue::N(n) => json!({"N": n}),
        AttributeValue::Bool(b) => json!({"BOOL": b}),
        AttributeValue::Null(_) => json!({"NULL": true}),
        AttributeValue::Ss(ss) => json!({"SS": ss}),
        AttributeValue::Ns(ns) => json!({"NS": ns}),
        AttributeValue::L(l) => json!({"L": l.iter().map(to_json).collect::<Vec<_>>()}),
        AttributeValue::M(m) => json!({"M": item_json(m)}),
        other => panic!("an attribute Gantry does not write: {other:?}"),
    }
}

/// DynamoDB JSON back to an attribute.
fn from_json(v: &Value) -> AttributeValue {
    let (kind, value) = v
        .as_object()
        .and_then(|o| o.iter().next())
        .expect("a typed attribute");
    let strings = || -> Vec<String> {
        value
            .as_array()
            .expect("a set")
            .iter()
            .map(|s| s.as_str().expect("a string").to_string())
            .collect()
    };
    match kind.as_str() {
        "S" => AttributeValue::S(value.as_str().expect("S").to_string()),
        "N" => AttributeValue::N(value.as_str().expect("N").to_string()),
        "BOOL" => AttributeValue::Bool(value.as_bool().expect("BOOL")),
        "NULL" => AttributeValue::Null(true),
        "SS" => AttributeValue::Ss(strings()),
        "NS" => AttributeValue::Ns(strings()),
        "L" => AttributeValue::L(value.as_array().expect("L").iter().map(from_json).collect()),
        "M" => AttributeValue::M(item(value)),
        other => panic!("unknown attribute type {other}"),
    }
}

fn item_json(item: &HashMap<String, AttributeValue>) -> Value {
    // Sorted, so a regenerated file differs only where a record did.
    let sorted: std::collections::BTreeMap<_, _> =
        item.iter().map(|(k, v)| (k.clone(), to_json(v))).collect();
    json!(sorted)
}

/// A golden file's record as the table holds it: this run's names in place of the placeholders.
fn stored_record(v: &Value, names: &[(String, String)]) -> HashMap<String, AttributeValue> {
    item(&serde_json::from_str(&from_placeholders(&v.to_string(), names)).expect("JSON"))
}

fn item(v: &Value) -> HashMap<String, AttributeValue> {
    v.as_object()
        .expect("an item")
        .iter()
        .map(|(k, v)| (k.clone(), from_json(v)))
        .collect()
}

async fn put(sdk: &aws_config::SdkConfig, table: &str, item: HashMap<String, AttributeValue>) {
    aws_sdk_dynamodb::Client::new(sdk)
        .put_item()
        .table_name(table)
        .set_item(Some(item))
        .send()
        .await
        .expect("put");
}

async fn delete_all(sdk: &aws_config::SdkConfig, table: &str) {
    for i in scan_table(sdk, table).await {
        aws_sdk_dynamodb::Client::new(sdk)
            .delete_item()
            .table_name(table)
            .key("pk", i["pk"].clone())
            .key("sk", i["sk"].clone())
            .send()
            .await
            .expect("delete");
    }
}

// ------------------------------------------------------------------------------ placeholders

/// The run-specific values a shop's records name, each with its placeholder; longest first, so
/// an ARN is replaced before the shop name inside it.
fn names(scene: &Scene, execution: &str) -> Vec<(String, String)> {
    let shop = &scene.rig.shop;
    let mut names = vec![
        ("blue_target_group", shop.blue_target_group.clone()),
        ("green_target_group", shop.green_target_group.clone()),
        ("listener", shop.listener.clone()),
        ("rule", shop.rule.clone()),
        ("vpc", shop.vpc.clone()),
        ("execution", execution.to_string()),
        ("shop", shop.name.clone()),
    ]
    .into_iter()
    .chain(scene.extra.iter().map(|(k, v)| (*k, v.clone())))
    .map(|(k, v)| (format!("${{{k}}}"), v))
    .collect::<Vec<_>>();
    names.sort_by_key(|(_, v)| std::cmp::Reverse(v.len()));
    names
}

/// `text` with each of the shop's values replaced by its placeholder.
/// The records of a golden file: `items` as DynamoDB JSON, this run's names put back as
/// placeholders; every record must expire (the table's TTL).
fn golden_items(
    items: &[HashMap<String, AttributeValue>],
    names: &[(String, String)],
) -> Vec<Value> {
    let items: Vec<Value> = items
        .iter()
        .map(|i| {
            let v = item_json(i).to_string();
            serde_json::from_str(&to_placeholders(&v, names)).expect("JSON")
        })
        .collect();
    for i in &items {
        assert!(i.get("expires_at").is_some(), "every record expires: {i}");
    }
    items
}

fn to_placeholders(text: &str, names: &[(String, String)]) -> String {
    names
        .iter()
        .fold(text.to_string(), |t, (placeholder, value)| {
            t.replace(value, placeholder)
        })
}

/// `text` with each placeholder replaced by the fresh shop's value.
fn from_placeholders(text: &str, names: &[(String, String)]) -> String {
    names
        .iter()
        .fold(text.to_string(), |t, (placeholder, value)| {
            t.replace(placeholder, value)
        })
}

// -------------------------------------------------------------------------------- the points

/// A deployment's point as a release stored it: its records and the token CodePipeline held.
struct Stored {
    release: String,
    point: String,
    items: Vec<Value>,
    token: String,
    user_parameters: String,
}

/// Every release's record of `point`.
fn every_release(point: &str) -> Vec<Stored> {
    let mut releases: Vec<PathBuf> = std::fs::read_dir(state_root())
        .expect("tests/fixtures/state")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.is_dir())
        .collect();
    releases.sort();
    let stored: Vec<Stored> = releases
        .into_iter()
        .map(|dir| {
            let path = dir.join(format!("{point}.json"));
            let text = std::fs::read_to_string(&path)
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            let v: Value = serde_json::from_str(&text).expect("JSON");
            Stored {
                release: dir.file_name().unwrap().to_string_lossy().into_owned(),
                point: point.to_string(),
                items: v["items"].as_array().expect("items").clone(),
                token: v["continuation_token"].as_str().unwrap_or_default().into(),
                user_parameters: v["user_parameters"]
                    .as_str()
                    .expect("user_parameters")
                    .into(),
            }
        })
        .collect();
    assert!(!stored.is_empty(), "no release folder holds {point}");
    stored
}

/// Writes `point`'s records: what the code stored in `rig`'s table, with the token of the
/// continuation CodePipeline holds.
fn write_point(
    point: &str,
    rig: &Scene,
    execution: &str,
    items: &[HashMap<String, AttributeValue>],
    token: &str,
) {
    let names = names(rig, execution);
    let items = golden_items(items, &names);
    let dir = state_root().join(RELEASE);
    std::fs::create_dir_all(&dir).expect("mkdir");
    let mut file = Map::new();
    file.insert("written_by".into(), json!(RELEASE));
    file.insert("point".into(), json!(point));
    file.insert(
        "user_parameters".into(),
        json!(to_placeholders(&rig.params.to_string(), &names)),
    );
    file.insert("items".into(), json!(items));
    file.insert(
        "continuation_token".into(),
        json!(to_placeholders(token, &names)),
    );
    let text = serde_json::to_string_pretty(&Value::Object(file)).expect("JSON") + "\n";
    std::fs::write(dir.join(format!("{point}.json")), text).expect("write");
}

/// Invokes the canary until green has its 10% and the deployment handed over: (the first job,
/// the continuation CodePipeline then holds).
async fn at_ten(rig: &Scene) -> (Value, Value) {
    let first = rig.shop.start_job(&rig.params, json!([])).await;
    let mut current = first.clone();
    for _ in 0..10 {
        invoke(&*rig.shifter, &current["event"]).await;
        let next = job(current["job_id"].as_str().expect("job id")).await["next_job"].clone();
        if rig.shop.weights(false).await == (90, 10) {
            return (first, next);
        }
        current = next;
    }
    panic!("green never got its 10%");
}

/// The token a job event continues with.
fn token_of(job: &Value) -> String {
    job["event"]["CodePipeline.job"]["data"]["continuationToken"]
        .as_str()
        .expect("a continuation token")
        .to_string()
}

/// Invokes `next` once (a check), returning the continuation after it.
async fn step(rig: &Rig, next: &Value) -> Value {
    invoke(&*rig.shifter, &next["event"]).await;
    let view = job(next["job_id"].as_str().expect("job id")).await;
    assert_eq!(view["status"], "Continued", "{view}");
    view["next_job"].clone()
}

/// A click, as the approval function writes it into the deployment record.
async fn control(rig: &Rig, deployment: &str, command: &str, version: u32) {
    let command = Command {
        command,
        at: gantry_core::clock::now_epoch_seconds() as u64,
        version: Some(version),
        minutes: Some(0),
    };
    write_command(&rig.shop, &rig.table, deployment, &command).await;
}

/// Drives a fresh rig to `point`: (the first job, the continuation CodePipeline holds there).
async fn drive_to(rig: &Scene, point: &str) -> (Value, Value) {
    if point == "hook_in_progress" {
        // The hook at POST_TEST_TRAFFIC_SHIFT answers IN_PROGRESS: the invocation hands over.
        let first = rig.shop.start_job(&rig.params, json!([])).await;
        let next = step(rig, &first).await;
        return (first, next);
    }
    let (first, next) = at_ten(rig).await;
    let deployment = first["job_id"].as_str().expect("job id").to_string();
    match point {
        "mid_canary" => (first, next),
        "paused" => {
            control(rig, &deployment, "pause", 0).await;
            let next = step(rig, &next).await;
            (first, next)
        }
        "rolling_back" => {
            // An alarm fires, and the rollback cannot move the weights (ELB down for longer
            // than the invocation): the invocation fails, the record says rolling back, and
            // CodePipeline still holds the same continuation for Lambda's retry.
            rig.shop.fail_listener_calls("ModifyListener", 1000).await;
            rig.shop.set_alarm(&rig.shop.alarms[0], "ALARM").await;
            let r = traffic_shifter::handle(&*rig.shifter, lambda_event(&next["event"])).await;
            assert!(r.is_err(), "the rollback could not finish: {r:?}");
            rig.shop.fail_listener_calls("ModifyListener", 0).await;
            (first, next)
        }
        other => panic!("no such point {other}"),
    }
}

/// The current code, in a fresh world brought to where `stored` was: the outside world driven
/// there, the table then holding only `stored`'s records, and CodePipeline holding its token.
/// Returns (rig, the deployment id, the continuation job to invoke).
async fn loaded(stored: &Stored) -> (Scene, String, Value) {
    let rig = scene(&stored.point).await;
    let (first, _abandoned) = drive_to(&rig, &stored.point).await;
    let execution = rig
        .shop
        .execution_of(first["job_id"].as_str().unwrap())
        .await;
    let names = names(&rig, &execution);
    delete_all(&rig.shop.sdk, &rig.table).await;
    let token = from_placeholders(&stored.token, &names);
    let mut deployment = None;
    for i in &stored.items {
        let mut record = stored_record(i, &names);
        if let (Some(AttributeValue::S(pk)), Some(AttributeValue::N(seq))) =
            (record.get("pk"), record.get("token_seq"))
        {
            if pk.starts_with("DEPLOYMENT#") && record.contains_key("state") {
                deployment = Some(pk.trim_start_matches("DEPLOYMENT#").to_string());
                let seq: u32 = seq.parse().unwrap();
                record.insert(
                    "token_digest".into(),
                    AttributeValue::S(HandOver::of(seq, &token).digest),
                );
            }
        }
        put(&rig.shop.sdk, &rig.table, record).await;
    }
    let deployment =
        deployment.unwrap_or_else(|| panic!("{}: no deployment record", stored.release));
    let user_parameters = from_placeholders(&stored.user_parameters, &names);
    let next = gantry_tests::http::post(
        &format!("{}/_gantry/codepipeline/jobs", gantry_tests::emulator_url()),
        &json!({"pipeline": rig.shop.pipeline, "stage": "Deploy", "action": "Deploy",
                "execution_id": execution,
                "user_parameters": user_parameters,
                "continuation_token": token}),
    )
    .await;
    (rig, deployment, next)
}

// --------------------------------------------------------------------------------- generate

/// Writes this release's records at each point (only with GANTRY_UPDATE_GOLDEN set).
#[tokio::test]
async fn generate() {
    if std::env::var_os("GANTRY_UPDATE_GOLDEN").is_none() {
        return;
    }
    for point in ["mid_canary", "paused", "rolling_back", "hook_in_progress"] {
        let rig = scene(point).await;
        let (first, next) = drive_to(&rig, point).await;
        let execution = rig
            .shop
            .execution_of(first["job_id"].as_str().unwrap())
            .await;
        let items = scan_table(&rig.shop.sdk, &rig.table).await;
        write_point(point, &rig, &execution, &items, &token_of(&next));
    }
}

/// Runs the loaded deployment to its end and checks it finished as a success, with all the
/// traffic on the new (green) side.
async fn finishes_on_green(rig: &Rig, next: &Value, release: &str) {
    let views = run_to_end(&rig.shifter, next).await;
    assert_eq!(
        views.last().unwrap()["status"],
        "Succeeded",
        "{release}: {views:#?}"
    );
    assert_eq!(rig.shop.weights(false).await, (0, 100), "{release}");
}

// ------------------------------------------------------------------------------------ tests

#[tokio::test]
async fn a_canary_at_ten_percent_goes_on_to_a_hundred() {
    for stored in every_release("mid_canary") {
        let (rig, _deployment, next) = loaded(&stored).await;
        assert_eq!(rig.shop.weights(false).await, (90, 10));
        finishes_on_green(&rig, &next, &stored.release).await;
    }
}

#[tokio::test]
async fn a_paused_canary_stays_paused_and_resumes_on_a_click() {
    for stored in every_release("paused") {
        let (rig, deployment, next) = loaded(&stored).await;
        // Past its bake, and still held: the pause was read from the old record.
        let next = step(&rig, &next).await;
        assert_eq!(
            rig.shop.weights(false).await,
            (90, 10),
            "{}",
            stored.release
        );
        // Resume, at the controls' version the old message showed (the pause made it 1).
        control(&rig, &deployment, "resume", 1).await;
        finishes_on_green(&rig, &next, &stored.release).await;
    }
}

#[tokio::test]
async fn a_rollback_under_way_is_finished_with_its_reason() {
    for stored in every_release("rolling_back") {
        let (rig, deployment, next) = loaded(&stored).await;
        // The alarm is back to OK: the rollback goes on because the record says so.
        rig.shop.set_alarm(&rig.shop.alarms[0], "OK").await;
        // The failed invocation's lease runs out before Lambda's retry takes over.
        tokio::time::sleep(rig.shifter.slice + gantry_core::traffic::steps::turn::LEASE_MARGIN)
            .await;
        let views = run_to_end(&rig.shifter, &next).await;
        let message = failure_message(&views);
        assert!(
            message.starts_with("rolled back at 10% green"),
            "{}: {message}",
            stored.release
        );
        assert!(
            message.contains(&rig.shop.alarms[0]),
            "the recorded reason: {message}"
        );
        assert_eq!(
            rig.shop.weights(false).await,
            (100, 0),
            "{}",
            stored.release
        );
        let record = gantry_tests::shifter::deployment_record(&rig.shop, &rig.table, &deployment)
            .await
            .expect("record");
        assert_eq!(record["status"].as_s().unwrap(), "rolled_back");
    }
}

/// A deployment a newer release wrote (a schema above this code's) is not continued from a
/// guess: the next continuation rolls it back, saying why.
#[tokio::test]
async fn a_deployment_a_newer_release_wrote_is_rolled_back_saying_why() {
    let mut stored = every_release("mid_canary").remove(0);
    let newer = (gantry_core::schema::SCHEMA_VERSION + 1).to_string();
    for i in &mut stored.items {
        i["schema"] = json!({"N": newer});
    }
    let (rig, _deployment, next) = loaded(&stored).await;
    let views = run_to_end(&rig.shifter, &next).await;
    let message = failure_message(&views);
    assert!(message.contains("newer Gantry"), "{message}");
    assert_eq!(rig.shop.weights(false).await, (100, 0));
}

// ------------------------------------------------------------------------- a parked push

const GITHUB_SECRET: &str = "github-webhook-secret";

/// The webhook with a table, a retry queue and one pipeline its route sends pushes to.
struct Hook {
    webhook: webhook::Webhook,
    sdk: aws_config::SdkConfig,
    table: String,
    queue: String,
    pipeline: String,
}

async fn hook() -> Hook {
    use gantry_tests::aws::{create_pipeline, function_start_as, sdk, table_and_secret};
    use gantry_tests::iam::{function_key, Stack};
    let sdk = sdk().await;
    let (table, secret) =
        table_and_secret(&sdk, &json!({"github_webhook_secrets": [GITHUB_SECRET]})).await;
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let (queue, queue_arn) =
        gantry_tests::topic::create_queue(&sqs, &gantry_tests::unique("gantry-retry")).await;
    let pipeline = gantry_tests::unique("api");
    create_pipeline(&sdk, &pipeline, "Source", &["Build"]).await;
    let routes = json!([{"provider": "github", "repository": "Codertocat/Hello-World",
        "branches": ["master"], "pipeline": pipeline, "source_action": "Source"}]);
    let env: HashMap<String, String> = HashMap::from([
        ("GANTRY_SECRETS_ARN".into(), secret.clone()),
        ("GANTRY_TABLE".into(), table.clone()),
        ("GANTRY_ROUTES".into(), routes.to_string()),
        ("GANTRY_RETRY_QUEUE_URL".into(), queue.clone()),
    ]);
    let config = gantry_core::config::WebhookConfig::from_env(&env).expect("config");
    let stack = Stack {
        retry_queue: Some((queue.clone(), queue_arn)),
        ..Stack::for_pipeline(&pipeline, &table, &secret)
    };
    let (own, secrets) = function_start_as(function_key("webhook", &stack).await, &stack).await;
    let clients = webhook::Clients::new(&own, &config);
    let webhook = webhook::build(config, &secrets, clients).expect("webhook");
    Hook {
        webhook,
        sdk,
        table,
        queue,
        pipeline,
    }
}

/// CodePipeline's StartPipelineExecution fails `count` times for `pipeline`.
async fn fail_starts(pipeline: &str, count: u32) {
    gantry_tests::http::post(
        &format!(
            "{}/_gantry/codepipeline/start-faults",
            gantry_tests::emulator_url()
        ),
        &json!({"pipeline": pipeline, "error": "ServiceUnavailableException", "count": count}),
    )
    .await;
}

/// GitHub's signed push of the real payload, to master of Codertocat/Hello-World.
async fn push(h: &Hook) -> Value {
    use base64::Engine;
    let body = gantry_tests::fixture("github/push-with-new-branch.json");
    let signature = format!(
        "sha256={}",
        gantry_core::signature::hmac_sha256_hex(GITHUB_SECRET.as_bytes(), &[&body])
    );
    let mut event = gantry_tests::fixture_json("aws/example-apigw-v2-request-no-authorizer.json");
    event["requestContext"]["http"]["method"] = json!("POST");
    event["headers"] = json!({"x-github-event": "push", "x-github-delivery": "d-upgrade",
        "x-hub-signature-256": signature, "content-type": "application/json"});
    event["body"] = json!(base64::engine::general_purpose::STANDARD.encode(&body));
    event["isBase64Encoded"] = json!(true);
    let request = lambda_http::request::from_str(&event.to_string()).expect("request");
    let response = webhook::handle(&h.webhook, request).await;
    let lambda_http::Body::Text(t) = response.body() else {
        panic!("a JSON answer");
    };
    serde_json::from_str(t).expect("JSON")
}

/// Writes the parked push point: the queue's message body and the table's items.
async fn generate_parked_push() {
    let h = hook().await;
    fail_starts(&h.pipeline, 1000).await;
    let answer = push(&h).await;
    assert_eq!(answer["queued"], true, "{answer}");
    let event = gantry_tests::aws::queued_as_sqs_event(&h.sdk, &h.queue).await;
    let body = event["Records"][0]["body"]
        .as_str()
        .expect("one parked push");
    let names = vec![("${pipeline}".to_string(), h.pipeline.clone())];
    let items = golden_items(&scan_table(&h.sdk, &h.table).await, &names);
    let file = json!({"written_by": RELEASE, "point": "parked_push", "items": items,
                      "queue_body": to_placeholders(body, &names)});
    let dir = state_root().join(RELEASE);
    std::fs::create_dir_all(&dir).expect("mkdir");
    let text = serde_json::to_string_pretty(&file).expect("JSON") + "\n";
    std::fs::write(dir.join("parked_push.json"), text).expect("write");
    fail_starts(&h.pipeline, 0).await;
}

async fn scan_table(
    sdk: &aws_config::SdkConfig,
    table: &str,
) -> Vec<HashMap<String, AttributeValue>> {
    let mut items = aws_sdk_dynamodb::Client::new(sdk)
        .scan()
        .table_name(table)
        .consistent_read(true)
        .send()
        .await
        .expect("scan")
        .items
        .unwrap_or_default();
    items.sort_by_key(|i| format!("{:?}{:?}", i.get("pk"), i.get("sk")));
    items
}

#[tokio::test]
async fn a_parked_push_is_started_once_by_the_new_code() {
    if std::env::var_os("GANTRY_UPDATE_GOLDEN").is_some() {
        generate_parked_push().await;
    }
    let mut releases: Vec<PathBuf> = std::fs::read_dir(state_root())
        .expect("tests/fixtures/state")
        .map(|e| e.expect("entry").path())
        .collect();
    releases.sort();
    for dir in releases {
        let stored: Value = serde_json::from_str(
            &std::fs::read_to_string(dir.join("parked_push.json")).expect("parked_push.json"),
        )
        .expect("JSON");
        let h = hook().await;
        let names = vec![("${pipeline}".to_string(), h.pipeline.clone())];
        for i in stored["items"].as_array().expect("items") {
            put(&h.sdk, &h.table, stored_record(i, &names)).await;
        }
        let body = from_placeholders(stored["queue_body"].as_str().expect("queue_body"), &names);
        aws_sdk_sqs::Client::new(&h.sdk)
            .send_message()
            .queue_url(&h.queue)
            .message_body(body)
            .send()
            .await
            .expect("send");
        let event = gantry_tests::aws::queued_as_sqs_event(&h.sdk, &h.queue).await;
        // Delivered twice (at least once): started once.
        for _ in 0..2 {
            let out = webhook::handle_event(&h.webhook, event.clone(), "req-sqs").await;
            assert_eq!(
                out["batchItemFailures"],
                json!([]),
                "{}: {out}",
                dir.display()
            );
        }
        let starts = gantry_tests::aws::recorded_starts(&h.pipeline).await;
        let executions: std::collections::BTreeSet<&str> = starts
            .iter()
            .filter_map(|s| s["execution_id"].as_str())
            .collect();
        assert_eq!(executions.len(), 1, "{}: {starts:?}", dir.display());
        assert_eq!(
            starts[0]["sourceRevisions"][0]["revisionValue"],
            "6113728f27ae82c7b1a177c8d03f9e96e0adf246"
        );
    }
}

// ------------------------------------------------------------------- a pending prod approval

/// The attributes that hold a time: a loaded record is moved forward by the time since it was
/// written (the approval waits as long, relative to now, as when it was stored; its 7 days
/// would otherwise have run out before this test runs).
const TIMES: [&str; 4] = [
    "requested_at",
    "approval_expires_at",
    "post_lease_until",
    "expires_at",
];

fn shifted(
    mut record: HashMap<String, AttributeValue>,
    by: i64,
) -> HashMap<String, AttributeValue> {
    for name in TIMES {
        if let Some(AttributeValue::N(n)) = record.get(name) {
            let moved = n.parse::<i64>().expect("a time") + by;
            record.insert(name.to_string(), AttributeValue::N(moved.to_string()));
        }
    }
    record
}

/// The raw value of the first button `action_id` of `message` (its version stamp and all).
fn raw_button(message: &Value, action_id: &str) -> String {
    message["blocks"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|b| b["elements"].as_array().cloned().unwrap_or_default())
        .find(|e| e["action_id"] == action_id)
        .and_then(|e| e["value"].as_str().map(str::to_string))
        .expect("the button")
}

/// Writes the pending approval point: its records, the posted request (with its buttons' values)
/// and CodePipeline's token.
async fn generate_pending_approval() {
    use gantry_tests::approval::{approval_waits, latest_message, request_posted, world, Setup};
    let w = world(Setup::default()).await;
    let seeded = approval_waits(&w, json!({})).await;
    request_posted(&w).await;
    let message = latest_message(&w).await;
    let names = vec![
        ("${execution}".to_string(), w.execution_id.clone()),
        ("${pipeline}".to_string(), w.pipeline.clone()),
        (
            "${message_ts}".to_string(),
            message["ts"].as_str().expect("ts").to_string(),
        ),
    ];
    let items = golden_items(&scan_table(&w.sdk, &w.table).await, &names);
    let message = json!({"channel": message["channel"], "text": message["text"], "blocks": message["blocks"]});
    let file = json!({"written_by": RELEASE, "point": "pending_approval",
        "written_at": gantry_core::clock::now_epoch_seconds(),
        "items": items, "token": seeded["token"],
        "message": serde_json::from_str::<Value>(&to_placeholders(&message.to_string(), &names)).unwrap()});
    let dir = state_root().join(RELEASE);
    std::fs::create_dir_all(&dir).expect("mkdir");
    let text = serde_json::to_string_pretty(&file).expect("JSON") + "\n";
    std::fs::write(dir.join("pending_approval.json"), text).expect("write");
}

/// A fresh approval world holding `stored` (a release's pending approval): the pipeline waits at
/// its Prod approval under the stored token, the channel holds the request as the old release
/// posted it, and the table only the stored records. Returns (world, approval id, the request).
async fn loaded_approval(stored: &Value) -> (gantry_tests::approval::World, String, Value) {
    use gantry_tests::approval::{approval_waits, world, Setup};
    let w = world(Setup::default()).await;
    approval_waits(&w, json!({"token": stored["token"]})).await;
    let mut names = vec![
        ("${execution}".to_string(), w.execution_id.clone()),
        ("${pipeline}".to_string(), w.pipeline.clone()),
    ];
    let message: Value =
        serde_json::from_str(&from_placeholders(&stored["message"].to_string(), &names)).unwrap();
    let posted: Value = reqwest::Client::new()
        .post(format!("{}/chat.postMessage", w.slack.api_url()))
        .bearer_auth("xoxb-approval-tests")
        .json(&message)
        .send()
        .await
        .expect("post")
        .json()
        .await
        .expect("JSON");
    assert_eq!(posted["ok"], true, "{posted}");
    names.push((
        "${message_ts}".to_string(),
        posted["ts"].as_str().unwrap().to_string(),
    ));
    let by = gantry_core::clock::now_epoch_seconds()
        - stored["written_at"].as_i64().expect("written_at");
    delete_all(&w.sdk, &w.table).await;
    let mut id = None;
    for i in stored["items"].as_array().expect("items") {
        let record = shifted(stored_record(i, &names), by);
        if let Some(AttributeValue::S(pk)) = record.get("pk") {
            if let Some(found) = pk.strip_prefix("APPROVAL#") {
                id = Some(found.to_string());
            }
        }
        put(&w.sdk, &w.table, record).await;
    }
    (w, id.expect("an approval record"), message)
}

/// Every release's pending approval.
fn every_pending_approval() -> Vec<(PathBuf, Value)> {
    let mut releases: Vec<PathBuf> = std::fs::read_dir(state_root())
        .expect("tests/fixtures/state")
        .map(|e| e.expect("entry").path())
        .collect();
    releases.sort();
    releases
        .into_iter()
        .map(|dir| {
            let text = std::fs::read_to_string(dir.join("pending_approval.json"))
                .expect("pending_approval.json");
            (dir, serde_json::from_str(&text).expect("JSON"))
        })
        .collect()
}

#[tokio::test]
async fn a_pending_approval_is_approved_from_the_button_the_old_release_posted() {
    use gantry_core::approval::interaction::APPROVE;
    use gantry_tests::approval::{
        approvals, click_answered, private_replies, record, Clicked, JANE,
    };
    if std::env::var_os("GANTRY_UPDATE_GOLDEN").is_some() {
        generate_pending_approval().await;
    }
    for (dir, stored) in every_pending_approval() {
        let (w, id, message) = loaded_approval(&stored).await;
        // Approve, with the value the old release put on its button.
        let value = raw_button(&message, APPROVE);
        click_answered(&w, Clicked::new(JANE, APPROVE, &value)).await;
        let decided = &approvals(&w).await[0];
        assert_eq!(
            decided["status"],
            "Approved",
            "{}: {decided}",
            dir.display()
        );
        assert_eq!(decided["put_attempts"], 1);
        assert_eq!(record(&w, &id).await["status"], "approved");
        let replies = private_replies(&w).await;
        assert!(replies.is_empty(), "{replies:?}");
    }
}

/// An approval a newer release wrote is not decided from a guess: the click is answered, and
/// CodePipeline's approval still waits.
#[tokio::test]
async fn a_click_on_an_approval_a_newer_release_wrote_is_answered_and_decides_nothing() {
    use gantry_core::approval::interaction::APPROVE;
    use gantry_tests::approval::{approvals, click_answered, private_replies, Clicked, JANE};
    let (_, mut stored) = every_pending_approval().remove(0);
    let newer = (gantry_core::schema::SCHEMA_VERSION + 1).to_string();
    for i in stored["items"].as_array_mut().expect("items") {
        i["schema"] = json!({"N": newer});
    }
    let (w, _id, message) = loaded_approval(&stored).await;
    let value = raw_button(&message, APPROVE);
    click_answered(&w, Clicked::new(JANE, APPROVE, &value)).await;
    let replies = private_replies(&w).await;
    assert!(
        replies.iter().any(|r| r.contains("newer Gantry")),
        "{replies:?}"
    );
    let waiting = &approvals(&w).await[0];
    assert_eq!(waiting["status"], "InProgress", "{waiting}");
    assert_eq!(waiting["put_attempts"], 0);
}

#[tokio::test]
async fn a_hook_that_answered_in_progress_is_asked_again_and_the_deployment_goes_on() {
    for stored in every_release("hook_in_progress") {
        let (rig, _deployment, next) = loaded(&stored).await;
        assert_eq!(
            rig.shop.weights(false).await,
            (100, 0),
            "production waits for the hook"
        );
        let hook = rig.extra[1].1.clone();
        // What the fresh world's drive to the point asked the hook is timing's business; what
        // counts is what it answers once the loaded record takes over.
        let before = hook_answers(&hook).await.len();
        finishes_on_green(&rig, &next, &stored.release).await;
        let answers = hook_answers(&hook).await.split_off(before);
        // The loaded token carries the old release's count on (`calls` of `in_progress_times`
        // in the hook's details, as far as the old release had got when its record was taken):
        // IN_PROGRESS until that count is used up, then SUCCEEDED.
        let token: Value = serde_json::from_str(&stored.token).expect("token");
        let details: Value =
            serde_json::from_str(token["hk"]["d"].as_str().expect("hook details")).expect("d");
        let asked = details["calls"].as_u64().expect("calls");
        let answers_in_progress = details["in_progress_times"].as_u64().expect("times");
        assert!(asked >= 1 && asked <= answers_in_progress, "{details}");
        let mut expected: Vec<String> =
            vec!["IN_PROGRESS".into(); (answers_in_progress - asked) as usize];
        expected.push("SUCCEEDED".into());
        assert_eq!(answers, expected, "{}", stored.release);
    }
}

/// Every answer the hook function gave so far, oldest first (the emulator's invocation log).
async fn hook_answers(hook: &str) -> Vec<String> {
    let calls = gantry_tests::http::get(&format!(
        "{}/_gantry/lambda/invocations?function={hook}",
        gantry_tests::emulator_url()
    ))
    .await;
    let calls = calls
        .as_array()
        .cloned()
        .or_else(|| calls["invocations"].as_array().cloned())
        .unwrap_or_default();
    calls
        .iter()
        .map(|c| {
            c["response"]["hookStatus"]
                .as_str()
                .unwrap_or("?")
                .to_string()
        })
        .collect()
}

/// Old and new side by side: a record carrying what a later release may add (an attribute this
/// code does not know, and a field inside the token it does not know) is read and finished,
/// the additions ignored, as the previous release must read what the next one writes.
#[tokio::test]
async fn a_record_with_attributes_a_later_release_adds_is_still_finished() {
    let mut stored = every_release("mid_canary").remove(0);
    for i in &mut stored.items {
        i["added_in_a_later_release"] = json!({"M": {"x": {"S": "y"}}});
    }
    let mut token: Value = serde_json::from_str(&stored.token).expect("the token is JSON");
    token["added_in_a_later_release"] = json!({"x": 1});
    stored.token = token.to_string();
    let (rig, _deployment, next) = loaded(&stored).await;
    let views = run_to_end(&rig.shifter, &next).await;
    assert_eq!(views.last().unwrap()["status"], "Succeeded", "{views:#?}");
    assert_eq!(rig.shop.weights(false).await, (0, 100));
}
