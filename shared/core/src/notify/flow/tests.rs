//! Tests of `flow`: this file is the body of its `#[cfg(test)] mod tests;`.

use super::*;
use crate::config::{PipelineNotify, Verbosity};
use crate::notify::event::{ActionResult, Change};
use crate::notify::testing::*;
use crate::notify::{Notice, Scope, Status};
use crate::slack::testing::FakeSlack;
use std::collections::BTreeMap;
use std::sync::Arc;

/// The notifier over the fakes.
struct NotifyFakes;

impl NotifyPorts for NotifyFakes {
    type Store = MemoryStore;
    type Details = FakePipelines;
    type Chat = Arc<FakeSlack>;
    type Topic = Arc<FakeTopic>;
}

type TestNotifier = Notifier<NotifyFakes>;

struct World {
    notifier: TestNotifier,
    slack: Arc<FakeSlack>,
    topic: Arc<FakeTopic>,
    store: MemoryStore,
}

fn world(verbosity: Verbosity) -> World {
    let slack = Arc::new(FakeSlack::taking_a_moment());
    let topic = Arc::new(FakeTopic::default());
    let store = MemoryStore::default();
    let notify = NotifyConfig {
        default_channel: Some("C0DEPLOYS".into()),
        pipelines: BTreeMap::from([(
            PIPELINE.to_string(),
            PipelineNotify {
                channel: None,
                verbosity: Some(verbosity),
            },
        )]),
    };
    let mut notifier = Notifier::new(
        notify,
        store.clone(),
        FakePipelines::default(),
        Some(slack.clone()),
        topic.clone(),
    );
    notifier.lock.poll = Duration::from_millis(1);
    World {
        notifier,
        slack,
        topic,
        store,
    }
}

/// An event as EventBridge would deliver it.
fn raw(e: &crate::notify::PipelineEvent) -> Value {
    let (detail_type, mut detail) = match &e.change {
        Change::Pipeline { status } => (
            "CodePipeline Pipeline Execution State Change",
            json!({"state": status.name()}),
        ),
        Change::Stage { stage, status } => (
            "CodePipeline Stage Execution State Change",
            json!({"state": status.name(), "stage": stage}),
        ),
        Change::Action {
            stage,
            action,
            status,
            category,
            result,
            ..
        } => {
            let mut d = json!({"state": status.name(), "stage": stage, "action": action,
                "type": {"owner": "AWS", "category": category, "provider": "CodeBuild", "version": "1"}});
            if !result.is_empty() {
                d["execution-result"] = json!({"external-execution-summary": result.summary,
                    "external-execution-url": result.url, "error-code": result.error_code});
            }
            ("CodePipeline Action Execution State Change", d)
        }
    };
    detail["pipeline"] = json!(e.pipeline);
    detail["execution-id"] = json!(e.execution_id);
    detail["version"] = json!(3.0);
    let time = chrono_free_time(e.at);
    json!({"version": "0", "id": e.id, "detail-type": detail_type, "source": "aws.codepipeline",
        "account": e.account, "time": time, "region": e.region,
        "resources": [format!("arn:aws:codepipeline:{}:{}:{}", e.region, e.account, e.pipeline)],
        "detail": detail})
}

/// `2023-11-14T22:13:20Z` + `at` seconds, without a date library.
fn chrono_free_time(at: i64) -> String {
    let base = 1_700_000_000 + at;
    let secs = base % 86400;
    let days = base / 86400 - 19675; // days since 2023-11-14
    format!(
        "2023-11-{:02}T{:02}:{:02}:{:02}Z",
        14 + days,
        secs / 3600,
        (secs % 3600) / 60,
        secs % 60
    )
}

async fn send(w: &World, e: &crate::notify::PipelineEvent) -> Result<Handled, NotifyError> {
    w.notifier.handle(&raw(e), "owner-1").await
}

fn record(w: &World) -> ExecutionRecord {
    w.store
        .0
        .lock()
        .unwrap()
        .records
        .values()
        .next()
        .cloned()
        .unwrap()
}

#[tokio::test]
async fn a_successful_run_is_one_message_kept_current() {
    let w = world(Verbosity::Stages);
    for e in successful_run() {
        send(&w, &e).await.unwrap();
    }
    let posts = w.slack.calls("chat.postMessage");
    assert_eq!(posts.len(), 1, "one message per execution");
    assert_eq!(posts[0]["channel"], "C0DEPLOYS");
    let last = w.slack.calls("chat.update").pop().unwrap();
    assert_eq!(last["text"], "shop succeeded in 4m 12s (9fceb02d)");
    let states = w.topic.subjects();
    assert_eq!(states.first().unwrap(), "shop: execution started");
    assert_eq!(states.last().unwrap(), "shop: execution succeeded");
    assert_eq!(
        states.len(),
        8,
        "pipeline and stage transitions: {states:?}"
    );
}

#[tokio::test]
async fn a_redelivered_event_sends_nothing() {
    let w = world(Verbosity::Stages);
    let events = successful_run();
    for e in &events[..4] {
        send(&w, e).await.unwrap();
    }
    let before = (
        w.slack.calls.lock().unwrap().len(),
        w.topic.published.lock().unwrap().len(),
    );
    let again = send(&w, &events[2]).await.unwrap();
    assert_eq!(
        again,
        Handled::Notified {
            changed: false,
            slack: SinkOutcome::UpToDate,
            sns: SinkOutcome::UpToDate
        }
    );
    let after = (
        w.slack.calls.lock().unwrap().len(),
        w.topic.published.lock().unwrap().len(),
    );
    assert_eq!(before, after);
}

#[tokio::test]
async fn slack_down_still_publishes_and_the_retry_delivers_slack_without_repeating_sns() {
    let w = world(Verbosity::Stages);
    let first = pipeline(100, Status::Started);
    w.slack.fail_next(SlackError::Unavailable {
        method: "chat.postMessage".into(),
        attempts: 4,
        reason: "HTTP 503".into(),
    });
    let err = send(&w, &first).await.unwrap_err();
    assert!(matches!(err, NotifyError::Slack(_)), "{err}");
    assert_eq!(w.topic.published.lock().unwrap().len(), 1);
    assert!(w.slack.calls("chat.postMessage").is_empty());

    // Lambda's retry of the same event.
    send(&w, &first).await.unwrap();
    assert_eq!(w.slack.calls("chat.postMessage").len(), 1);
    assert_eq!(
        w.topic.published.lock().unwrap().len(),
        1,
        "SNS not repeated"
    );
}

#[tokio::test]
async fn a_post_slack_may_have_taken_is_looked_for_before_the_retry_posts_it() {
    let w = world(Verbosity::Stages);
    let first = pipeline(100, Status::Started);
    w.slack.fail_next(SlackError::MaybePosted {
        method: "chat.postMessage".into(),
        reason: "internal_error".into(),
    });
    let err = send(&w, &first).await.unwrap_err();
    assert!(
        matches!(err, NotifyError::Slack(ref e) if e.maybe_posted()),
        "{err}"
    );
    assert!(
        w.slack.calls("find").is_empty(),
        "not looked for in the same invocation"
    );
    assert!(
        w.slack.calls("chat.postMessage").is_empty(),
        "not reposted in the same invocation"
    );

    // Lambda's retry: the message is looked for first (this fake never stored it), then posted.
    send(&w, &first).await.unwrap();
    let finds = w.slack.calls("find");
    assert_eq!(finds.len(), 1);
    assert_eq!(finds[0]["marker"]["event_payload"]["post"], "parent");
    let posts = w.slack.calls("chat.postMessage");
    assert_eq!(posts.len(), 1);
    assert_eq!(posts[0]["metadata"], finds[0]["marker"]);
}

#[tokio::test]
async fn an_sns_failure_does_not_stop_slack_and_the_retry_publishes_once() {
    let w = world(Verbosity::Stages);
    let first = pipeline(100, Status::Started);
    *w.topic.failing.lock().unwrap() = true;
    assert!(matches!(
        send(&w, &first).await.unwrap_err(),
        NotifyError::Sns(_)
    ));
    assert_eq!(w.slack.calls("chat.postMessage").len(), 1);
    *w.topic.failing.lock().unwrap() = false;
    send(&w, &first).await.unwrap();
    assert_eq!(w.topic.published.lock().unwrap().len(), 1);
    assert_eq!(
        w.slack.calls("chat.postMessage").len(),
        1,
        "Slack not repeated"
    );
    assert!(w.slack.calls("chat.update").is_empty());
}

#[tokio::test]
async fn a_channel_that_does_not_exist_is_given_up_on_while_sns_goes_on() {
    let w = world(Verbosity::Stages);
    w.slack.fail_next(SlackError::Api {
        method: "chat.postMessage".into(),
        error: "channel_not_found".into(),
    });
    let events = successful_run();
    let handled = send(&w, &events[0]).await.unwrap();
    assert!(matches!(
        handled,
        Handled::Notified { slack: SinkOutcome::GaveUp(ref code), .. } if code == "channel_not_found"
    ));
    for e in &events[1..] {
        send(&w, e).await.unwrap();
    }
    assert!(
        w.slack.calls.lock().unwrap().is_empty(),
        "never tried again"
    );
    assert_eq!(w.topic.published.lock().unwrap().len(), 8);
}

#[tokio::test]
async fn two_first_events_at_once_make_one_message() {
    for _ in 0..20 {
        let w = world(Verbosity::Stages);
        let a = raw(&pipeline(100, Status::Started));
        let b = raw(&stage(100, "Source", Status::Started));
        let (x, y) = tokio::join!(
            w.notifier.handle(&a, "owner-a"),
            w.notifier.handle(&b, "owner-b")
        );
        x.unwrap();
        y.unwrap();
        assert_eq!(w.slack.calls("chat.postMessage").len(), 1);
        let r = record(&w);
        assert!(r.execution.stage("Source").is_some());
        assert!(r.execution.status.is_some());
        // Slack shows the merged state of both events.
        assert!(slack_plan(&r, &w.notifier.notify.audience(PIPELINE)).is_empty());
    }
}

#[tokio::test]
async fn a_failed_action_without_details_gets_them_from_codepipeline_and_a_thread_reply() {
    let w = world(Verbosity::Failures);
    let mut events = successful_run()[..7].to_vec();
    events.push(action(200, "Build", "Build", "Build", Status::Failed));
    events.push(stage(200, "Build", Status::Failed));
    events.push(pipeline(200, Status::Failed));
    for e in &events[..7] {
        send(&w, e).await.unwrap();
    }
    assert!(
        w.slack.calls.lock().unwrap().is_empty(),
        "failures verbosity: silent until something fails"
    );
    assert!(w.topic.published.lock().unwrap().is_empty());
    for e in &events[7..] {
        send(&w, e).await.unwrap();
    }
    let posts = w.slack.calls("chat.postMessage");
    assert_eq!(posts.len(), 2, "the message and one thread reply");
    let reply = &posts[1];
    assert_eq!(reply["thread_ts"], "1700000000.000001");
    let text = reply["blocks"][0]["text"]["text"].as_str().unwrap();
    assert!(
        text.contains("Build terminated with state: FAILED"),
        "{text}"
    );
    assert!(reply["blocks"][1]["elements"][0]["text"]
        .as_str()
        .unwrap()
        .contains("<https://logs.example/build|View logs>"));
    let subjects = w.topic.subjects();
    assert_eq!(
        subjects,
        vec![
            "shop: action Build/Build failed",
            "shop: stage Build failed",
            "shop: execution failed"
        ]
    );
}

#[tokio::test]
async fn events_of_other_sources_are_skipped() {
    let w = world(Verbosity::Stages);
    let handled = w
        .notifier
        .handle(
            &json!({"source": "aws.ec2", "detail-type": "EC2 Instance State-change Notification"}),
            "o",
        )
        .await
        .unwrap();
    assert!(matches!(
        handled,
        Handled::Skipped(EventError::OtherSource(_))
    ));
    assert!(w.store.0.lock().unwrap().records.is_empty());
}

#[test]
fn sns_filters_follow_verbosity() {
    let n = |scope: Scope, status: Status| Notice {
        id: String::new(),
        scope,
        status,
        at: 0,
        result: ActionResult::default(),
    };
    let stage = || Scope::Stage {
        stage: "Build".into(),
    };
    let action = || Scope::Action {
        stage: "Build".into(),
        action: "Compile".into(),
    };
    use policy::publishes;
    assert!(publishes(
        Verbosity::Pipeline,
        &n(Scope::Pipeline, Status::Started)
    ));
    assert!(!publishes(Verbosity::Pipeline, &n(stage(), Status::Failed)));
    assert!(publishes(Verbosity::Stages, &n(stage(), Status::Started)));
    assert!(!publishes(
        Verbosity::Stages,
        &n(action(), Status::Succeeded)
    ));
    assert!(publishes(Verbosity::Stages, &n(action(), Status::Failed)));
    assert!(publishes(Verbosity::Actions, &n(action(), Status::Started)));
    assert!(!publishes(
        Verbosity::Failures,
        &n(Scope::Pipeline, Status::Succeeded)
    ));
    assert!(publishes(
        Verbosity::Failures,
        &n(Scope::Pipeline, Status::Failed)
    ));
}
