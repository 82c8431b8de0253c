//! Delivery metrics end to end: the notifier, against the AWS emulator (with the template's IAM
//! enforced) and the Slack stand-in, records each stage's end and writes each figure once as a
//! valid CloudWatch EMF line, however often EventBridge delivers the events.

use gantry_adapters::dynamodb::{DynamoDeliveries, StateTable};
use gantry_core::config::NotifierConfig;
use gantry_core::ingest::{PushFacts, StartedPush, StartedPushes};
use gantry_tests::aws::{
    aws_action_type, create_declared_pipeline, function_start, one_action_stage,
    pipeline_from_source, sdk, table_and_secret,
};
use gantry_tests::iam::Stack;
use gantry_tests::slack::SlackNs;
use gantry_tests::topic::SubscribedTopic;
use gantry_tests::unique;
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

/// 2026-01-15T09:00:00Z: event times are this plus a few seconds.
const T0: i64 = 1_768_467_600;

struct World {
    sdk: aws_config::SdkConfig,
    notifier: Arc<notifier::Notifier>,
    table: String,
    pipeline: String,
    slack: SlackNs,
    _topic: SubscribedTopic,
}

async fn world() -> World {
    world_notifying(|_| json!({"default_channel": "C0DEPLOYS"})).await
}

/// A world whose `GANTRY_NOTIFY` is `notify(pipeline)`.
async fn world_notifying(notify: impl FnOnce(&str) -> Value) -> World {
    let sdk = sdk().await;
    let (table, secret) =
        table_and_secret(&sdk, &json!({"slack_bot_token": "xoxb-metrics-test"})).await;
    let pipeline = unique("shop");
    // A Build stage (CodeBuild) and a Deploy stage (ECS): only the second deploys anything.
    {
        use aws_sdk_codepipeline::types::{ActionCategory, ActionDeclaration};
        let action = |name: &str, category, provider: &str| {
            ActionDeclaration::builder()
                .name(name)
                .action_type_id(aws_action_type(category, provider))
                .build()
                .expect("action")
        };
        let declaration = pipeline_from_source(&pipeline, "Source")
            .await
            .stages(one_action_stage(
                "Build",
                action("Build", ActionCategory::Build, "CodeBuild"),
            ))
            .stages(one_action_stage(
                "Deploy",
                action("Deploy", ActionCategory::Deploy, "ECS"),
            ));
        create_declared_pipeline(&sdk, declaration).await;
    }
    let topic = SubscribedTopic::new(&sdk).await;
    let slack = SlackNs::new();
    let env: HashMap<String, String> = HashMap::from([
        ("GANTRY_SECRETS_ARN".into(), secret.clone()),
        ("GANTRY_TABLE".into(), table.clone()),
        ("GANTRY_TOPIC_ARN".into(), topic.arn.clone()),
        ("GANTRY_NOTIFY".into(), notify(&pipeline).to_string()),
        ("SLACK_API_URL".into(), slack.api_url()),
    ]);
    let config = NotifierConfig::from_env(&env).expect("config");
    let stack = Stack {
        topic_arn: Some(topic.arn.clone()),
        ..Stack::for_pipeline(&pipeline, &table, &secret)
    };
    let (own, secrets) = function_start("notifier", &stack).await;
    let clients = notifier::Clients::new(&own, &config);
    let mut n = notifier::build(config, &secrets, clients).expect("notifier");
    n.lock.poll = Duration::from_millis(20);
    World {
        sdk,
        notifier: Arc::new(n),
        table,
        pipeline,
        slack,
        _topic: topic,
    }
}

/// Starts an execution of `commit` as Gantry's webhook does, and records its push as the webhook
/// does, received `received` seconds after T0.
async fn pushed(w: &World, commit: &str, received: i64) -> String {
    use aws_sdk_codepipeline::types::PipelineVariable;
    let var = |n: &str, v: &str| {
        PipelineVariable::builder()
            .name(n)
            .value(v)
            .build()
            .expect("variable")
    };
    let id = aws_sdk_codepipeline::Client::new(&w.sdk)
        .start_pipeline_execution()
        .name(&w.pipeline)
        .variables(var("COMMIT_ID", commit))
        .variables(var("BRANCH", "main"))
        .send()
        .await
        .expect("start")
        .pipeline_execution_id
        .expect("id");
    let deliveries = DynamoDeliveries::new(StateTable {
        client: aws_sdk_dynamodb::Client::new(&w.sdk),
        name: w.table.clone(),
    });
    deliveries
        .record_start(&StartedPush {
            pipeline: w.pipeline.clone(),
            execution_id: id.clone(),
            git_ref: "refs/heads/main".into(),
            commit_id: commit.into(),
            facts: PushFacts {
                pusher: Some("mona".into()),
                authors: vec!["mona".into()],
                commits: vec![commit.into()],
                delivery: unique("delivery"),
                received_at: T0 + received,
                received_ms: (T0 + received) * 1000,
                carried_pushers: Vec::new(),
            },
        })
        .await
        .expect("record the push");
    id
}

fn stage_event(w: &World, execution: &str, at: i64, stage: &str, state: &str) -> Value {
    let time = gantry_core::analysis::verdict::utc(T0 + at);
    json!({"version": "0", "id": format!("{execution}-{stage}-{state}-{at}"),
        "detail-type": "CodePipeline Stage Execution State Change", "source": "aws.codepipeline",
        "account": "123456789012", "time": time, "region": "us-east-1",
        "resources": [format!("arn:aws:codepipeline:us-east-1:123456789012:{}", w.pipeline)],
        "detail": {"pipeline": w.pipeline, "execution-id": execution, "version": 1.0,
                   "stage": stage, "state": state}})
}

/// Sends `event` to the notifier as Lambda would; the EMF lines it writes.
async fn send(w: &World, event: &Value) -> Vec<String> {
    let (_, lines) = notifier::handle_and_measure(&w.notifier, event, &unique("request"))
        .await
        .unwrap_or_else(|e| panic!("handle {}: {e}", event["detail"]));
    lines
}

/// `(stage, metric)` → the values written.
fn by_figure(lines: &[String]) -> BTreeMap<(String, String), Vec<f64>> {
    let mut out: BTreeMap<(String, String), Vec<f64>> = BTreeMap::new();
    for line in lines {
        let v: Value = serde_json::from_str(line).expect("an EMF line is JSON");
        let name = v["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]["Name"]
            .as_str()
            .expect("metric name")
            .to_string();
        let value = v[&name].as_f64().expect("metric value");
        out.entry((v["Stage"].as_str().unwrap_or_default().to_string(), name))
            .or_default()
            .push(value);
    }
    out
}

/// Runs the specification's JSON schema (and its prose rules) over the lines.
fn assert_valid_emf(lines: &[String]) {
    use std::io::Write;
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
    let mut child = std::process::Command::new(format!("{root}/.venv/bin/python"))
        .arg(format!("{root}/tests/fixtures/emf/validate.py"))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("the EMF validator runs");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all((lines.join("\n") + "\n").as_bytes())
        .expect("write");
    let out = child.wait_with_output().expect("validator");
    assert!(
        out.status.success(),
        "invalid EMF: {}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[tokio::test]
async fn the_notifier_writes_each_figure_once_however_often_events_arrive() {
    let w = world().await;
    let e1 = pushed(&w, "c1c1c1", -60).await;
    let e2 = pushed(&w, "c2c2c2", 1_000).await;
    let e3 = pushed(&w, "c3c3c3", 1_300).await;
    let history = vec![
        stage_event(&w, &e1, 0, "Build", "STARTED"),
        stage_event(&w, &e1, 190, "Build", "SUCCEEDED"),
        stage_event(&w, &e1, 191, "Deploy", "STARTED"),
        stage_event(&w, &e1, 252, "Deploy", "SUCCEEDED"),
        stage_event(&w, &e2, 1_100, "Build", "SUCCEEDED"),
        // The traffic shifter rolled back: the stage failed.
        stage_event(&w, &e2, 1_200, "Deploy", "FAILED"),
        stage_event(&w, &e3, 1_400, "Build", "SUCCEEDED"),
        stage_event(&w, &e3, 1_500, "Deploy", "SUCCEEDED"),
    ];
    let mut lines = Vec::new();
    for event in &history {
        // EventBridge delivers each event twice, the second time concurrently with a third.
        lines.extend(send(&w, event).await);
        let (a, b) = tokio::join!(send(&w, event), send(&w, event));
        lines.extend(a);
        lines.extend(b);
    }
    let figures = by_figure(&lines);
    let f = |stage: &str, metric: &str| {
        figures
            .get(&(stage.to_string(), metric.to_string()))
            .cloned()
            .unwrap_or_default()
    };
    // Build deploys nothing: no figure at all.
    assert!(
        figures.keys().all(|(stage, _)| stage == "Deploy"),
        "{figures:?}"
    );
    assert_eq!(f("Deploy", "Deployments"), vec![1.0; 3]);
    assert_eq!(f("Deploy", "FailedDeployments"), vec![1.0]);
    // c1: pushed 60 s before T0, in Deploy at 252 s. c3's change starts at c2's push (c2 never
    // reached Deploy): 1000 s → 1500 s.
    assert_eq!(f("Deploy", "LeadTimeSeconds"), vec![312.0, 500.0]);
    // Deploy failed at 1200 s and was restored at 1500 s.
    assert_eq!(f("Deploy", "TimeToRestoreSeconds"), vec![300.0]);
    assert_eq!(lines.len(), 7, "{lines:#?}");
    assert_valid_emf(&lines);
    // A whole redelivery of the history, much later: nothing more.
    let mut again = Vec::new();
    for event in history.iter().rev() {
        again.extend(send(&w, event).await);
    }
    assert_eq!(again, Vec::<String>::new());
}

/// EventBridge's scheduled event, as the weekly rule delivers it.
fn scheduled(id: &str, at: i64) -> Value {
    json!({"version": "0", "id": id, "detail-type": "Scheduled Event", "source": "aws.events",
        "account": "123456789012", "time": gantry_core::analysis::verdict::utc(T0 + at),
        "region": "us-east-1",
        "resources": ["arn:aws:events:us-east-1:123456789012:rule/gantry-weekly-report"],
        "detail": {}})
}

#[tokio::test]
async fn the_weekly_post_goes_once_to_each_services_channel_with_its_figures_and_threads() {
    let cart = unique("cart");
    let idle = unique("idle");
    let (cart_c, idle_c) = (cart.clone(), idle.clone());
    let w = world_notifying(move |shop| {
        json!({"pipelines": {
            shop: {"channel": "C0SHOP"},
            cart_c: {"channel": "C0CART"},
            // Configured, but nothing ran: no post.
            idle_c: {"channel": "C0IDLE"},
        }})
    })
    .await;
    // shop: through the notifier, which posts each execution's thread.
    let e1 = pushed(&w, "c1c1c1", -60).await;
    let e2 = pushed(&w, "c2c2c2", 1_000).await;
    let e3 = pushed(&w, "c3c3c3", 1_300).await;
    for event in [
        stage_event(&w, &e1, 252, "Deploy", "SUCCEEDED"),
        stage_event(&w, &e2, 1_200, "Deploy", "FAILED"),
        stage_event(&w, &e3, 1_500, "Deploy", "SUCCEEDED"),
    ] {
        send(&w, &event).await;
    }
    // cart: its stage runs as the notifier records them (no pushes, no threads).
    {
        use gantry_adapters::dynamodb::DynamoDeliveryFacts;
        use gantry_core::delivery::{DeliveryHistory, RunKind, RunOutcome, StageRun};
        let facts = DynamoDeliveryFacts::new(StateTable {
            client: aws_sdk_dynamodb::Client::new(&w.sdk),
            name: w.table.clone(),
        });
        for (execution, outcome, at, commit) in [
            ("x1", RunOutcome::Failed, 100, "d1d1d1"),
            ("x2", RunOutcome::Succeeded, 400, "d2d2d2"),
        ] {
            facts
                .record_run(&StageRun {
                    pipeline: cart.clone(),
                    stage: "Prod".into(),
                    execution_id: execution.into(),
                    kind: RunKind::Change,
                    outcome,
                    at_ms: (T0 + at) * 1000,
                    commit: Some(commit.into()),
                    git_ref: Some("refs/heads/main".into()),
                    thread: None,
                })
                .await
                .expect("record a run");
        }
    }
    // The schedule fires the next day; EventBridge delivers it twice, and a second tick of the
    // same week (another event id) follows.
    let mut answers = Vec::new();
    for event in [
        scheduled("tick-1", 86_400),
        scheduled("tick-1", 86_400),
        scheduled("tick-2", 86_400 + 3_600),
    ] {
        let (answer, lines) = notifier::handle_and_measure(&w.notifier, &event, "request")
            .await
            .unwrap_or_else(|e| panic!("weekly: {e}"));
        assert!(lines.is_empty(), "a tick writes no figure: {lines:?}");
        answers.push(answer);
    }
    assert_eq!(answers[0]["weekly"], "2026-01-12", "{answers:?}");
    assert_eq!(answers[0]["pipelines"][&idle], "Quiet", "{answers:?}");

    let messages = w.slack.messages().await;
    let weekly: Vec<&Value> = messages
        .iter()
        .filter(|m| {
            m["text"]
                .as_str()
                .is_some_and(|t| t.starts_with("Delivery of"))
        })
        .collect();
    let mut channels: Vec<&str> = weekly
        .iter()
        .filter_map(|m| m["channel"].as_str())
        .collect();
    channels.sort_unstable();
    assert_eq!(
        channels,
        ["C0CART", "C0SHOP"],
        "one post per service, once: {weekly:#?}"
    );
    let post = |channel: &str| {
        weekly
            .iter()
            .find(|m| m["channel"] == channel)
            .copied()
            .unwrap_or_else(|| panic!("no post in {channel}"))
    };
    let text = |m: &Value| gantry_core::slack::shown::texts(m).join("\n");

    // shop's Deploy: c1 and c3 succeeded (lead times 312 s and 500 s), c2 failed and was
    // restored 300 s later; its thread is the notifier's message of c2's execution.
    let shop = text(post("C0SHOP"));
    assert!(shop.contains("last 7 days against the 7 before"), "{shop}");
    assert!(
        shop.contains("*Deploy*\nDeployments: 3 (before: 0)"),
        "{shop}"
    );
    assert!(shop.contains("Lead time: p50 5m, p90 8m"), "{shop}");
    assert!(shop.contains("Change failure rate: 33% (1 of 3)"), "{shop}");
    assert!(shop.contains("Time to restore: p50 5m, p90 5m"), "{shop}");
    let thread_of = |execution: &str| {
        messages
            .iter()
            .find(|m| {
                m["channel"] == "C0SHOP"
                    && m["thread_ts"].is_null()
                    && m["metadata"].to_string().contains(execution)
            })
            .and_then(|m| m["ts"].as_str())
            .unwrap_or_else(|| panic!("no thread for {execution}: {messages:#?}"))
            .replace('.', "")
    };
    let link = |execution: &str| {
        format!(
            "<https://gantry-sink.slack.com/archives/C0SHOP/p{}|thread>",
            thread_of(execution)
        )
    };
    assert!(
        shop.contains(&format!(
            "*Slowest deployments*\n• `c3c3c3` in *Deploy* ({}) — lead time 8m\n• `c1c1c1` in *Deploy* ({}) — lead time 5m",
            link(&e3),
            link(&e1)
        )),
        "{shop}"
    );
    assert!(
        shop.contains(&format!(
            "*Failed deployments*\n• `c2c2c2` in *Deploy* ({}) — failed 2026-01-15",
            link(&e2)
        )),
        "{shop}"
    );
    // The links are what Slack's chat.getPermalink answered.
    assert_eq!(w.slack.calls(Some("chat.getPermalink")).await.len(), 3);

    // cart: one failure restored 300 s later; no push recorded, so no lead time, no link.
    let cart_text = text(post("C0CART"));
    assert!(
        cart_text.contains("*Prod*\nDeployments: 2 (before: 0)"),
        "{cart_text}"
    );
    assert!(
        cart_text.contains("Lead time: — (before: —)"),
        "{cart_text}"
    );
    assert!(
        cart_text.contains("Change failure rate: 50% (1 of 2)"),
        "{cart_text}"
    );
    assert!(
        cart_text.contains("• `d1d1d1` in *Prod* — failed 2026-01-15"),
        "{cart_text}"
    );
}
