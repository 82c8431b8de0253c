//! The notifier end to end: EventBridge CodePipeline events through the Lambda adapter, against
//! the AWS emulator (state table, CodePipeline, SNS delivered to a subscribed SQS queue) and the
//! Slack stand-in.

use gantry_core::config::NotifierConfig;
use gantry_core::slack::shown::texts;
use gantry_tests::aws::{create_pipeline, function_start, sdk, table_and_secret};
use gantry_tests::fuzz::{mutate, Rng};
use gantry_tests::iam::Stack;
use gantry_tests::slack::SlackNs;
use gantry_tests::topic::{Received, SubscribedTopic};
use gantry_tests::{emulator_url, fixture_json, http, unique};
use serde_json::{json, Value};
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

const CHANNEL: &str = "C0DEPLOYS";
const COMMIT: &str = "9fceb02d0ae598e95dc970b74767f19372d61af8";
/// 2026-01-15T09:00:00Z: event times are this plus a few seconds.
const T0: i64 = 1_768_467_600;

struct World {
    sdk: aws_config::SdkConfig,
    notifier: Arc<notifier::Notifier>,
    slack: SlackNs,
    topic: SubscribedTopic,
    pipeline: String,
}

async fn world_with(notify: Value, stages: &[&str]) -> World {
    let sdk = sdk().await;
    let (table, secret) =
        table_and_secret(&sdk, &json!({"slack_bot_token": "xoxb-notifier-test"})).await;
    let pipeline = unique("shop");
    create_pipeline(&sdk, &pipeline, "Source", stages).await;
    let topic = SubscribedTopic::new(&sdk).await;
    let slack = SlackNs::new();
    let notify = notify.to_string().replace("{pipeline}", &pipeline);
    let env: HashMap<String, String> = HashMap::from([
        ("GANTRY_SECRETS_ARN".into(), secret.clone()),
        ("GANTRY_TABLE".into(), table.clone()),
        ("GANTRY_TOPIC_ARN".into(), topic.arn.clone()),
        ("GANTRY_NOTIFY".into(), notify),
        ("SLACK_API_URL".into(), slack.api_url()),
    ]);
    let config = NotifierConfig::from_env(&env).expect("config");
    let stack = Stack {
        topic_arn: Some(topic.arn.clone()),
        ..Stack::for_pipeline(&pipeline, &table, &secret)
    };
    let (own, secrets) = function_start("notifier", &stack).await;
    let mut n = {
        let clients = notifier::Clients::new(&own, &config);
        notifier::build(config, &secrets, clients)
    }
    .expect("notifier");
    n.lock.poll = Duration::from_millis(20);
    World {
        sdk,
        notifier: Arc::new(n),
        slack,
        topic,
        pipeline,
    }
}

async fn world() -> World {
    world_with(json!({"default_channel": CHANNEL}), &["Build", "Deploy"]).await
}

/// `world()`, its pipeline's own notify `settings` (channel, verbosity) set.
async fn world_where_the_pipeline_has(settings: Value) -> World {
    let notify = json!({"default_channel": CHANNEL, "pipelines": {"{pipeline}": settings}});
    world_with(notify, &["Build", "Deploy"]).await
}

/// Starts an execution as Gantry's webhook does (variables pinned to a commit), with its source
/// action's execution linking to the commit.
async fn start(w: &World) -> String {
    use aws_sdk_codepipeline::types::PipelineVariable;
    let var = |n: &str, v: &str| {
        PipelineVariable::builder()
            .name(n)
            .value(v)
            .build()
            .unwrap()
    };
    let id = aws_sdk_codepipeline::Client::new(&w.sdk)
        .start_pipeline_execution()
        .name(&w.pipeline)
        .variables(var("COMMIT_ID", COMMIT))
        .variables(var("BRANCH", "main"))
        .variables(var("REPOSITORY", "octo-org/shop"))
        .variables(var("AUTHOR", "ada"))
        .variables(var("COMMIT_MESSAGE", "Fix the cart total"))
        .send()
        .await
        .expect("start")
        .pipeline_execution_id
        .expect("id");
    seed_action(
        w,
        &id,
        "Source",
        "Source",
        json!({"status": "Succeeded", "external_execution_url":
            format!("https://github.com/octo-org/shop/commit/{COMMIT}")}),
    )
    .await;
    id
}

async fn seed_action(w: &World, execution_id: &str, stage: &str, action: &str, extra: Value) {
    let mut body = json!({"pipeline": w.pipeline, "execution_id": execution_id,
        "stage": stage, "action": action});
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    http::post(
        &format!("{}/_gantry/codepipeline/action-executions", emulator_url()),
        &body,
    )
    .await;
}

/// `2026-01-15T09:00:05Z` for `T0 + 5`: the time format of EventBridge events.
fn rfc3339(epoch: i64) -> String {
    gantry_core::analysis::verdict::utc(epoch)
}

/// EventBridge events of one execution, shaped like the real ones (float `version`, string
/// `type.version`, `execution-result` on finished actions).
struct Events<'a> {
    pipeline: &'a str,
    execution_id: &'a str,
}

impl Events<'_> {
    fn envelope(&self, detail_type: &str, at: i64, mut detail: Value) -> Value {
        detail["pipeline"] = json!(self.pipeline);
        detail["execution-id"] = json!(self.execution_id);
        detail["version"] = json!(1.0);
        let id = format!(
            "{}-{}-{}-{}",
            self.execution_id,
            detail_type.len(),
            at,
            detail.to_string().len()
        );
        json!({"version": "0", "id": id, "detail-type": detail_type, "source": "aws.codepipeline",
            "account": "123456789012", "time": rfc3339(T0 + at), "region": "us-east-1",
            "resources": [format!("arn:aws:codepipeline:us-east-1:123456789012:{}", self.pipeline)],
            "detail": detail})
    }

    fn pipeline(&self, at: i64, state: &str) -> Value {
        self.envelope(
            "CodePipeline Pipeline Execution State Change",
            at,
            json!({"state": state}),
        )
    }

    fn stage(&self, at: i64, stage: &str, state: &str) -> Value {
        self.envelope(
            "CodePipeline Stage Execution State Change",
            at,
            json!({"state": state, "stage": stage}),
        )
    }

    fn action(&self, at: i64, stage: &str, category: &str, state: &str) -> Value {
        let provider = match category {
            "Source" => "CodeStarSourceConnection",
            "Approval" => "Manual",
            "Deploy" => "ECS",
            _ => "CodeBuild",
        };
        self.envelope(
            "CodePipeline Action Execution State Change",
            at,
            json!({"state": state, "stage": stage, "action": stage, "region": "us-east-1",
                "type": {"owner": "AWS", "category": category, "provider": provider, "version": "1"}}),
        )
    }

    /// Source, Build, Deploy, all succeeding, in order: 4m 12s in all.
    fn successful_run(&self) -> Vec<Value> {
        vec![
            self.pipeline(0, "STARTED"),
            self.stage(0, "Source", "STARTED"),
            self.action(0, "Source", "Source", "STARTED"),
            self.action(10, "Source", "Source", "SUCCEEDED"),
            self.stage(10, "Source", "SUCCEEDED"),
            self.stage(11, "Build", "STARTED"),
            self.action(11, "Build", "Build", "STARTED"),
            self.action(190, "Build", "Build", "SUCCEEDED"),
            self.stage(190, "Build", "SUCCEEDED"),
            self.stage(191, "Deploy", "STARTED"),
            self.action(191, "Deploy", "Deploy", "STARTED"),
            self.action(252, "Deploy", "Deploy", "SUCCEEDED"),
            self.stage(252, "Deploy", "SUCCEEDED"),
            self.pipeline(252, "SUCCEEDED"),
        ]
    }
}

fn events<'a>(w: &'a World, execution_id: &'a str) -> Events<'a> {
    Events {
        pipeline: &w.pipeline,
        execution_id,
    }
}

async fn send(w: &World, event: &Value) -> Value {
    notifier::handle(&w.notifier, event, &unique("request"))
        .await
        .unwrap_or_else(|e| panic!("handle {}: {e}", event["detail"]))
}

/// `world()` with an execution started: (world, the execution's first event, the pipeline's
/// STARTED).
async fn started() -> (World, Value) {
    let w = world().await;
    let id = start(&w).await;
    let first = events(&w, &id).pipeline(0, "STARTED");
    (w, first)
}

/// Starts an execution and sends every event of a successful run of it; returns its id.
async fn run_successfully(w: &World) -> String {
    let id = start(w).await;
    for e in events(w, &id).successful_run() {
        send(w, &e).await;
    }
    id
}

/// With Slack configured as `slack` (a channel it refuses), a whole successful run: Slack was
/// tried once and answered `error`, then left alone, while SNS got every one of the run's 8
/// notifications.
async fn assert_slack_given_up(w: &World, slack: Value, error: &str) {
    w.slack.configure(slack).await;
    run_successfully(w).await;
    let calls = w.slack.calls(None).await;
    assert_eq!(calls.len(), 1, "tried once, then left alone: {calls:#?}");
    assert_eq!(calls[0]["response"]["error"], error);
    assert_eq!(w.topic.received().await.len(), 8);
}

/// The texts of an execution's message: its headline (the first text) and its stages line
/// (the third).
fn assert_headline_and_stages(t: &[String], headline: &str, stages: &str) {
    assert_eq!(t[0], headline);
    assert_eq!(t[2], stages);
}

/// The texts of an ended execution's message: its headline, its stages line and a summary
/// (the fourth text) starting with `summary`.
fn assert_ended(t: &[String], headline: &str, stages: &str, summary: &str) {
    assert_headline_and_stages(t, headline, stages);
    assert!(t[3].starts_with(summary), "{}", t[3]);
}

fn parents(messages: &[Value]) -> Vec<&Value> {
    messages
        .iter()
        .filter(|m| m["thread_ts"].is_null())
        .collect()
}

fn subjects(received: &[Received]) -> Vec<String> {
    received
        .iter()
        .map(|r| r.subject.clone().unwrap_or_default())
        .collect()
}

/// Writes what the function sent to Slack for the docs' renderer (`GANTRY_DUMP_SLACK=dir`).
fn dump(name: &str, messages: &[Value]) {
    if let Ok(dir) = std::env::var("GANTRY_DUMP_SLACK") {
        let path = std::path::Path::new(&dir).join(format!("{name}.json"));
        std::fs::create_dir_all(&dir).expect("dump dir");
        std::fs::write(&path, serde_json::to_string_pretty(messages).unwrap()).expect("dump");
    }
}

#[tokio::test]
async fn a_successful_execution_is_one_slack_message_updated_in_place_and_published_to_sns() {
    let w = world().await;
    let id = run_successfully(&w).await;

    let messages = w.slack.messages().await;
    assert_eq!(
        messages.len(),
        1,
        "one message, no thread noise: {messages:#?}"
    );
    let m = &messages[0];
    assert_eq!(m["channel"], CHANNEL);
    assert!(m["versions"].as_u64().unwrap() > 3, "updated in place");
    let t = texts(m);
    assert_ended(
        &t,
        &format!(":white_check_mark: {} succeeded", w.pipeline),
        ":white_check_mark: Source  ›  :white_check_mark: Build  ›  :white_check_mark: Deploy",
        ":white_check_mark: Succeeded in 4m 12s",
    );
    assert_eq!(
        t[1],
        format!("*<https://github.com/octo-org/shop/commit/{COMMIT}|`9fceb02d`>* Fix the cart total\nby *ada* on `main` in octo-org/shop _started by a push_")
    );
    assert!(t[3].contains(&format!(
        "<https://us-east-1.console.aws.amazon.com/codesuite/codepipeline/pipelines/{}/executions/{id}/timeline?region=us-east-1|Execution {}>",
        w.pipeline,
        &id[..8]
    )));
    let posts = w.slack.calls(Some("chat.postMessage")).await;
    assert_eq!(posts.len(), 1);
    assert_eq!(posts[0]["auth"], "xoxb-notifier-test");
    dump("successful", &messages);

    let received = w.topic.received().await;
    let p = &w.pipeline;
    assert_eq!(
        subjects(&received),
        vec![
            format!("{p}: execution started"),
            format!("{p}: stage Source started"),
            format!("{p}: stage Source succeeded"),
            format!("{p}: stage Build started"),
            format!("{p}: stage Build succeeded"),
            format!("{p}: stage Deploy started"),
            format!("{p}: stage Deploy succeeded"),
            format!("{p}: execution succeeded"),
        ]
    );
    let last = received.last().unwrap();
    assert_eq!(last.attributes["pipeline"], *p);
    assert_eq!(last.attributes["state"], "SUCCEEDED");
    assert_eq!(last.attributes["severity"], "info");
    assert_eq!(received[1].attributes["stage"], "Source");
    let body = last.json();
    assert_eq!(body["execution_id"], id.as_str());
    assert_eq!(body["trigger"]["commit_id"], COMMIT);
    assert_eq!(body["elapsed_seconds"], 252);
    assert_eq!(
        body["stages"][2],
        json!({"name": "Deploy", "state": "succeeded"})
    );
}

#[tokio::test]
async fn shuffled_and_duplicated_events_end_in_the_same_message_without_repeats() {
    let w = world().await;
    let (ordered, shuffled) = (start(&w).await, start(&w).await);
    for e in events(&w, &ordered).successful_run() {
        send(&w, &e).await;
    }
    let mut mixed = events(&w, &shuffled).successful_run();
    let again = mixed.clone();
    mixed.extend(again.into_iter().step_by(2));
    // A fixed, thorough shuffle: reverse, then interleave halves.
    mixed.reverse();
    let half = mixed.len() / 2;
    let (a, b) = mixed.split_at(half);
    let mixed: Vec<Value> = b
        .iter()
        .zip(a.iter())
        .flat_map(|(x, y)| [x.clone(), y.clone()])
        .chain(b.iter().skip(a.len()).cloned())
        .collect();
    assert_eq!(mixed.len(), 21);
    for e in &mixed {
        send(&w, e).await;
    }

    let messages = w.slack.messages().await;
    assert_eq!(messages.len(), 2, "one message per execution");
    let normalise = |m: &Value, id: &str| {
        json!({"text": m["text"], "blocks": m["blocks"]})
            .to_string()
            .replace(id, "EXECUTION")
            .replace(&id[..8], "EXEC")
    };
    assert_eq!(
        normalise(&messages[0], &ordered),
        normalise(&messages[1], &shuffled)
    );
    let received = w.topic.received().await;
    let ids: Vec<String> = received
        .iter()
        .map(|r| {
            let b = r.json();
            format!(
                "{}/{}/{}/{}",
                b["execution_id"], b["scope"], b["stage"], b["state"]
            )
        })
        .collect();
    let unique_ids: BTreeSet<&String> = ids.iter().collect();
    assert_eq!(
        unique_ids.len(),
        ids.len(),
        "nothing published twice: {ids:#?}"
    );
    let finals = received
        .iter()
        .filter(|r| r.subject.as_deref() == Some(&format!("{}: execution succeeded", w.pipeline)))
        .count();
    assert_eq!(finals, 2, "each outcome published once");
}

#[tokio::test]
async fn a_failed_build_replies_in_the_thread_with_the_error_and_the_log_link() {
    let w = world().await;
    let id = start(&w).await;
    let failures_only = json!({"severity": ["error"]});
    let mut topic = w.topic;
    let filtered = topic.subscribe(&w.sdk, Some(&failures_only)).await;
    let w = World { topic, ..w };
    let log_url = format!(
        "https://console.aws.amazon.com/codebuild/home?region=us-east-1#/builds/{}-build:6e5b/view/new",
        w.pipeline
    );
    // The event carries no execution-result: the details come from ListActionExecutions.
    seed_action(
        &w,
        &id,
        "Build",
        "Build",
        json!({"status": "Failed", "summary": "Build terminated with state: FAILED",
               "external_execution_url": log_url}),
    )
    .await;
    let ev = events(&w, &id);
    let mut run = ev.successful_run()[..7].to_vec();
    run.push(ev.action(95, "Build", "Build", "FAILED"));
    run.push(ev.stage(95, "Build", "FAILED"));
    run.push(ev.pipeline(95, "FAILED"));
    for e in &run {
        send(&w, e).await;
    }

    let messages = w.slack.messages().await;
    let parent = parents(&messages)[0];
    assert_ended(
        &texts(parent),
        &format!(":x: {} failed", w.pipeline),
        ":white_check_mark: Source  ›  :x: Build _failed_  ›  :heavy_minus_sign: Deploy",
        ":x: Failed in 1m 35s",
    );
    let replies: Vec<&Value> = messages
        .iter()
        .filter(|m| m["thread_ts"] == parent["ts"])
        .collect();
    assert_eq!(replies.len(), 1, "{messages:#?}");
    let r = texts(replies[0]);
    assert_eq!(
        r[0],
        ":x: *Build* failed in stage *Build*\n```Build terminated with state: FAILED```"
    );
    assert!(
        r[1].starts_with(&format!("<{log_url}|View logs>")),
        "{}",
        r[1]
    );
    dump("failed", &messages);

    let failures = topic_subjects(&w, filtered).await;
    let p = &w.pipeline;
    assert_eq!(
        failures,
        vec![
            format!("{p}: action Build/Build failed"),
            format!("{p}: stage Build failed"),
            format!("{p}: execution failed"),
        ],
        "a severity=error filter policy gets the failures only"
    );
    let all = w.topic.received().await;
    let failed = all.last().unwrap();
    assert_eq!(failed.attributes["severity"], "error");
    let body = failed.json();
    assert_eq!(body["failure"]["log_url"], log_url.as_str());
    assert_eq!(
        body["failure"]["summary"],
        "Build terminated with state: FAILED"
    );
}

async fn topic_subjects(w: &World, queue: usize) -> Vec<String> {
    subjects(&w.topic.received_by(queue).await)
}

/// Another action's failure summary is AWS's text, and free text: the thread reply shows what
/// failed, escaped for Slack in its blocks and its fallback `text` alike, without the ARNs and
/// account ids AWS's message holds.
#[tokio::test]
async fn a_failure_reply_hides_awss_identifiers_and_escapes_free_text_in_blocks_and_fallback() {
    let w = world().await;
    let id = start(&w).await;
    seed_action(
        &w,
        &id,
        "Build",
        "Build",
        json!({"status": "Failed",
               "summary": "<!channel> User: arn:aws:sts::123456789012:assumed-role/build/x is not authorized to perform: ecr:PutImage",
               "external_execution_url": "https://console.aws.amazon.com/codebuild/"}),
    )
    .await;
    let ev = events(&w, &id);
    let mut run = ev.successful_run()[..7].to_vec();
    run.push(ev.action(95, "Build", "Build", "FAILED"));
    run.push(ev.pipeline(95, "FAILED"));
    for e in &run {
        send(&w, e).await;
    }
    let messages = w.slack.messages().await;
    let parent = parents(&messages)[0];
    let reply = messages
        .iter()
        .find(|m| m["thread_ts"] == parent["ts"])
        .expect("a reply in the thread");
    let fallback = reply["text"].as_str().unwrap_or_default();
    let block = &texts(reply)[0];
    for shown in [fallback, block.as_str()] {
        assert!(
            shown.contains(
                "&lt;!channel&gt; User: [ARN hidden] is not authorized to perform: ecr:PutImage"
            ),
            "{shown}"
        );
        assert!(
            !shown.contains("<!channel>")
                && !shown.contains("arn:aws")
                && !shown.contains("123456789012"),
            "{shown}"
        );
    }
}

#[tokio::test]
async fn superseded_and_stopped_executions_say_so() {
    let w = world().await;
    let (superseded, stopped) = (start(&w).await, start(&w).await);
    let ev = events(&w, &superseded);
    for e in ev.successful_run()[..5]
        .iter()
        .cloned()
        .chain([ev.pipeline(20, "SUPERSEDED")])
    {
        send(&w, &e).await;
    }
    let ev = events(&w, &stopped);
    for e in ev.successful_run()[..7].iter().cloned().chain([
        ev.pipeline(60, "STOPPING"),
        ev.action(61, "Build", "Build", "ABANDONED"),
        ev.stage(61, "Build", "STOPPED"),
        ev.pipeline(61, "STOPPED"),
    ]) {
        send(&w, &e).await;
    }
    let messages = w.slack.messages().await;
    assert_eq!(messages.len(), 2);
    assert_ended(
        &texts(&messages[0]),
        &format!(":fast_forward: {} superseded", w.pipeline),
        ":white_check_mark: Source  ›  :fast_forward: Build _superseded_  ›  :fast_forward: Deploy _superseded_",
        ":fast_forward: Superseded in 20s",
    );
    let t = texts(&messages[1]);
    assert_headline_and_stages(&t, &format!(":black_square_for_stop: {} stopped", w.pipeline), ":white_check_mark: Source  ›  :black_square_for_stop: Build _stopped_  ›  :black_square_for_stop: Deploy _stopped_");
    let received = w.topic.received().await;
    let warnings: Vec<(String, String)> = received
        .iter()
        .filter(|r| r.attributes["scope"] == "pipeline" && r.attributes["severity"] == "warning")
        .map(|r| {
            (
                r.attributes["state"].clone(),
                r.json()["execution_id"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        warnings,
        vec![
            ("SUPERSEDED".to_string(), superseded.clone()),
            ("STOPPING".to_string(), stopped.clone()),
            ("STOPPED".to_string(), stopped.clone()),
        ]
    );
}

#[tokio::test]
async fn fifty_interleaved_executions_get_one_message_each() {
    let w = world().await;
    let mut ids = vec![];
    for _ in 0..50 {
        ids.push(start(&w).await);
    }
    let runs: Vec<Vec<Value>> = ids
        .iter()
        .map(|id| events(&w, id).successful_run())
        .collect();
    let started = Instant::now();
    // Round-robin across executions, eight invocations at a time, as Lambda would run them.
    for step in 0..runs[0].len() {
        let mut batch = tokio::task::JoinSet::new();
        for (i, run) in runs.iter().enumerate() {
            let (n, e) = (w.notifier.clone(), run[step].clone());
            batch.spawn(async move { notifier::handle(&n, &e, &format!("req-{i}")).await });
            if batch.len() == 8 {
                while let Some(r) = batch.join_next().await {
                    r.expect("join").expect("handled");
                }
            }
        }
        while let Some(r) = batch.join_next().await {
            r.expect("join").expect("handled");
        }
    }
    eprintln!("50 executions × 14 events: {:?}", started.elapsed());
    let messages = w.slack.messages().await;
    assert_eq!(messages.len(), 50);
    assert_eq!(w.slack.calls(Some("chat.postMessage")).await.len(), 50);
    let ts: BTreeSet<&str> = messages.iter().map(|m| m["ts"].as_str().unwrap()).collect();
    assert_eq!(ts.len(), 50);
    let mut shown: Vec<String> = vec![];
    for m in &messages {
        let t = texts(m);
        assert_eq!(t[0], format!(":white_check_mark: {} succeeded", w.pipeline));
        shown.push(t[3].split("|Execution ").nth(1).unwrap()[..8].to_string());
    }
    shown.sort();
    let mut expected: Vec<String> = ids.iter().map(|id| id[..8].to_string()).collect();
    expected.sort();
    assert_eq!(shown, expected, "each execution has its own message");
    assert_eq!(w.topic.received().await.len(), 50 * 8);
}

#[tokio::test]
async fn two_first_events_of_one_execution_at_once_make_one_message() {
    let w = world().await;
    let id = start(&w).await;
    let ev = events(&w, &id);
    let firsts = [
        ev.pipeline(0, "STARTED"),
        ev.stage(0, "Source", "STARTED"),
        ev.action(0, "Source", "Source", "STARTED"),
    ];
    let mut all = tokio::task::JoinSet::new();
    for (i, e) in firsts.into_iter().enumerate() {
        let n = w.notifier.clone();
        all.spawn(async move { notifier::handle(&n, &e, &format!("req-{i}")).await });
    }
    while let Some(r) = all.join_next().await {
        r.expect("join").expect("handled");
    }
    let messages = w.slack.messages().await;
    assert_eq!(messages.len(), 1, "{messages:#?}");
    assert_eq!(
        texts(&messages[0])[2],
        ":large_blue_circle: Source _running_  ›  :white_circle: Build  ›  :white_circle: Deploy",
        "the message shows all three events"
    );
    // The three events are handled at once, so their notifications arrive in any order.
    let mut published = subjects(&w.topic.received().await);
    published.sort();
    assert_eq!(
        published,
        vec![
            format!("{}: execution started", w.pipeline),
            format!("{}: stage Source started", w.pipeline)
        ],
        "both merged, each published once"
    );
}

#[tokio::test]
async fn slack_rate_limiting_is_waited_out() {
    let w = world().await;
    let id = start(&w).await;
    w.slack
        .fault(
            "chat.postMessage",
            json!([{"status": 429, "retry_after": 1}]),
        )
        .await;
    let t = Instant::now();
    send(&w, &events(&w, &id).pipeline(0, "STARTED")).await;
    assert!(t.elapsed() >= Duration::from_secs(1), "{:?}", t.elapsed());
    let statuses: Vec<Value> = w
        .slack
        .calls(Some("chat.postMessage"))
        .await
        .iter()
        .map(|c| c["status"].clone())
        .collect();
    assert_eq!(statuses, vec![json!(429), json!(200)]);
    assert_eq!(w.slack.messages().await.len(), 1);
}

#[tokio::test]
async fn slack_down_still_publishes_and_lambdas_retry_delivers_slack_without_repeating_sns() {
    let (w, first) = started().await;
    w.slack
        .fault(
            "*",
            json!([{"status": 503}, {"status": 503}, {"status": 503}, {"status": 503}]),
        )
        .await;
    let err = notifier::handle(&w.notifier, &first, "req-1")
        .await
        .expect_err("Slack is down: Lambda must retry");
    assert!(err.to_string().contains("Slack"), "{err}");
    assert!(w.slack.messages().await.is_empty());
    assert_eq!(
        subjects(&w.topic.received().await),
        vec![format!("{}: execution started", w.pipeline)],
        "SNS is not held up by Slack"
    );

    // Lambda's retry of the same event, Slack back.
    send(&w, &first).await;
    assert_eq!(w.slack.messages().await.len(), 1);
    assert!(w.topic.received().await.is_empty(), "SNS not repeated");
}

#[tokio::test]
async fn slack_answering_internal_error_having_posted_ends_in_exactly_one_parent_message() {
    let w = world().await;
    let id = start(&w).await;
    let run = events(&w, &id).successful_run();
    // Slack stores the message, then answers internal_error ("some aspect may have succeeded").
    w.slack
        .fault(
            "chat.postMessage",
            json!([{"error": "internal_error", "after_effect": true}]),
        )
        .await;
    let err = notifier::handle(&w.notifier, &run[0], "req-1")
        .await
        .expect_err("the outcome is unknown: Lambda must retry");
    assert!(err.to_string().contains("may or may not"), "{err}");
    assert_eq!(
        w.slack.calls(Some("chat.postMessage")).await.len(),
        1,
        "not reposted in the same invocation"
    );

    // Lambda's retry, then the rest of the run.
    for e in &run {
        send(&w, e).await;
    }
    let messages = w.slack.messages().await;
    dump("internal-error-after-posting", &messages);
    assert_eq!(parents(&messages).len(), 1, "{messages:#?}");
    assert_eq!(w.slack.calls(Some("chat.postMessage")).await.len(), 1);
    let history = w.slack.calls(Some("conversations.history")).await;
    assert_eq!(history.len(), 1, "looked for once, on the retry");
    assert_eq!(history[0]["response"]["ok"], true, "{:#}", history[0]);
    let texts = texts(parents(&messages)[0]);
    assert!(
        texts.iter().any(|t| t.contains("succeeded")),
        "the found message was brought up to date: {texts:?}"
    );
}

#[tokio::test]
async fn a_post_that_failed_without_landing_is_posted_by_the_retry() {
    let (w, first) = started().await;
    w.slack
        .fault("chat.postMessage", json!([{"status": 500}]))
        .await;
    notifier::handle(&w.notifier, &first, "req-1")
        .await
        .expect_err("an HTTP 500 leaves the outcome open");
    assert!(w.slack.messages().await.is_empty());
    send(&w, &first).await;
    assert_eq!(w.slack.messages().await.len(), 1);
    assert_eq!(w.slack.calls(Some("conversations.history")).await.len(), 1);
}

#[tokio::test]
async fn a_channel_the_bot_is_not_in_is_given_up_while_sns_goes_on() {
    let w = world().await;
    assert_slack_given_up(&w, json!({"not_in_channels": [CHANNEL]}), "not_in_channel").await;
}

#[tokio::test]
async fn a_channel_that_does_not_exist_is_given_up_while_sns_goes_on() {
    let w = world_where_the_pipeline_has(json!({"channel": "C0GONE"})).await;
    let slack = json!({"unknown_channels": ["C0GONE"]});
    assert_slack_given_up(&w, slack, "channel_not_found").await;
}

#[tokio::test]
async fn verbosity_actions_lists_actions_and_failures_stays_silent_on_success() {
    let w = world_where_the_pipeline_has(json!({"verbosity": "actions"})).await;
    run_successfully(&w).await;
    let t = texts(&w.slack.messages().await[0]);
    assert_eq!(
        t[2],
        ":white_check_mark: *Source*: :white_check_mark: Source\n:white_check_mark: *Build*: :white_check_mark: Build\n:white_check_mark: *Deploy*: :white_check_mark: Deploy"
    );
    assert_eq!(w.topic.received().await.len(), 14, "every transition");

    let quiet = world_where_the_pipeline_has(json!({"verbosity": "failures"})).await;
    run_successfully(&quiet).await;
    assert!(quiet.slack.calls(None).await.is_empty());
    assert!(quiet.topic.received().await.is_empty());
}

#[tokio::test]
async fn an_approval_stage_shows_waiting_for_approval() {
    let w = world_with(
        json!({"default_channel": CHANNEL}),
        &["Build", "Approve", "Deploy"],
    )
    .await;
    let id = start(&w).await;
    let ev = events(&w, &id);
    let mut run = ev.successful_run()[..9].to_vec();
    run.push(ev.stage(200, "Approve", "STARTED"));
    run.push(ev.envelope(
        "CodePipeline Action Execution State Change",
        200,
        json!({"state": "STARTED", "stage": "Approve", "action": "Approve",
            "type": {"owner": "AWS", "category": "Approval", "provider": "Manual", "version": "1"}}),
    ));
    for e in &run {
        send(&w, e).await;
    }
    let messages = w.slack.messages().await;
    let t = texts(&messages[0]);
    assert_headline_and_stages(&t, &format!(":raised_hand: {} waiting for approval", w.pipeline), ":white_check_mark: Source  ›  :white_check_mark: Build  ›  :raised_hand: Approve _waiting for approval_  ›  :white_circle: Deploy");
    dump("approval", &messages);
}

#[tokio::test]
async fn the_aws_fixtures_are_handled_and_the_stage_event_without_a_stage_is_skipped() {
    let w = world().await;
    let pipeline = fixture_json("aws/example-codepipeline-execution-state-change-event.json");
    let stage = fixture_json("aws/example-codepipeline-execution-stage-change-event.json");
    let action = fixture_json("aws/example-codepipeline-action-execution-stage-change-event.json");

    // myPipeline does not exist here: the message goes out with what the events say.
    let answer = send(&w, &pipeline).await;
    assert_eq!(answer["changed"], true);
    let answer = send(&w, &stage).await;
    assert_eq!(answer["skipped"], "event is missing detail.stage");
    send(&w, &action).await;

    let messages = w.slack.messages().await;
    assert_eq!(messages.len(), 1);
    let t = texts(&messages[0]);
    assert_eq!(t[0], ":large_blue_circle: myPipeline running");
    assert_eq!(t[1], "Execution `01234567-0123-0123-0123-012345678901`");
    assert_eq!(t[2], ":large_blue_circle: Prod _running_");
    assert_eq!(w.slack.calls(Some("chat.update")).await.len(), 1);
    let received = w.topic.received().await;
    assert_eq!(
        subjects(&received),
        vec!["myPipeline: execution started"],
        "stages verbosity: an action's start is not published"
    );
}

#[tokio::test]
async fn events_the_notifier_does_not_handle_are_skipped_without_a_retry() {
    let w = world().await;
    let mut other = fixture_json("aws/example-codepipeline-execution-state-change-event.json");
    other["source"] = json!("aws.codebuild");
    for event in [
        other,
        json!({"source": "aws.codepipeline", "detail-type": "CodePipeline Pipeline Execution State Change"}),
        json!("not even an object"),
        json!({"source": "aws.codepipeline", "detail-type": "CodePipeline Stage Execution State Change",
               "time": "2026-01-15T09:00:00Z", "detail": {"pipeline": "p", "execution-id": "e", "stage": "S", "state": "EXPLODED"}}),
        // Longer than any key the state table takes: CodePipeline never sends it, a retry
        // would be refused again.
        json!({"source": "aws.codepipeline", "detail-type": "CodePipeline Stage Execution State Change",
               "time": "2026-01-15T09:00:00Z", "detail": {"pipeline": "p", "execution-id": "x".repeat(3000), "stage": "S", "state": "STARTED"}}),
    ] {
        let answer = send(&w, &event).await;
        assert!(answer["skipped"].is_string(), "{answer}");
    }
    assert!(w.slack.calls(None).await.is_empty());
    assert!(w.topic.received().await.is_empty());
}

#[tokio::test]
async fn two_hundred_mutations_of_real_events_are_all_answered_and_slack_refuses_nothing() {
    let w = world().await;
    let execution = start(&w).await;
    let e = events(&w, &execution);
    let mut originals = e.successful_run();
    originals.push(e.action(200, "Deploy", "Approval", "STARTED"));
    originals.push(e.action(200, "Build", "Build", "FAILED"));
    originals.push(fixture_json(
        "aws/example-codepipeline-action-execution-stage-change-event.json",
    ));
    let mut rng = Rng(0x5eed_0201);
    let mut failed = Vec::new();
    let mut sent = 0;
    while sent < 200 {
        let bytes = mutate(&mut rng, &originals[sent % originals.len()]);
        // Lambda hands the function JSON; damaged bytes that are no JSON never arrive.
        let Ok(event) = serde_json::from_slice::<Value>(&bytes) else {
            continue;
        };
        sent += 1;
        if let Err(err) = notifier::handle(&w.notifier, &event, &unique("fuzz")).await {
            failed.push(format!("{err}: {event}"));
        }
    }
    // A retry cannot mend garbage, so none is asked for.
    assert!(failed.is_empty(), "retries asked: {failed:#?}");
    // Whatever the events said, Gantry sent Slack only what Slack accepts.
    let calls = w.slack.calls(None).await;
    assert!(
        !calls.is_empty(),
        "the real parts of the events were posted"
    );
    for call in calls {
        assert_eq!(call["response"]["ok"], true, "Slack refused {call:#}");
    }
}
