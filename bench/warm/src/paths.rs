//! The per-event work of each function that waits on no network, from the Lambda event's JSON
//! text to the answer (or to the Slack message body), on the committed sample events in
//! `events/`, with the secrets that signed them and the demo's routes.
//!
//! Each path checks its outcome on every iteration, so a timing can only come from the path it
//! names (an early rejection would be fast, and wrong).

use gantry_core::approval::{interaction, Button};
use gantry_core::config::NotifyConfig;
use gantry_core::ingest::routing::RouteTable;
use gantry_core::ingest::DeliveryId;
use gantry_core::ingest::{Answer, Claim, DeliveryLedger, Ingest, DEFAULT_MAX_BODY_BYTES};
use gantry_core::ingest::{PipelineStarter, StartError, StartRequest};
use gantry_core::notify::{
    render, DeclaredAction, DeclaredStage, Execution, PipelineEvent, Trigger,
};
use gantry_core::secrets::SecretString;
use gantry_core::signature::verify_slack;
use gantry_core::store::StoreError;
use serde_json::Value;
use std::path::Path as FsPath;

/// One measured path: which function, a short label, what it covers, and one run of it.
pub struct Path {
    pub name: &'static str,
    pub function: &'static str,
    pub label: &'static str,
    pub what: &'static str,
    pub once: Box<dyn FnMut() -> Result<(), String>>,
}

/// What the demo's secret holds (`demo/lambda_events.py`), which signed the sample push.
const DEMO_GITHUB_SECRET: &str = "demo-github-secret";
/// Slack's documented example signing secret, which signed the sample click (docs/approvals.md).
const SLACK_EXAMPLE_SIGNING_SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";
/// The demo's routes (`demo/world.py`): the sample push matches the first.
const DEMO_ROUTES: &str = r#"[
  {"provider": "github", "repository": "Codertocat/Hello-World", "branches": ["master", "release/*"],
   "tags": ["v*"], "ignore_paths": ["docs/**", "**/*.md"], "pipeline": "shop", "source_action": "Source"},
  {"provider": "gitlab", "repository": "mike/diaspora", "branches": ["master"],
   "pipeline": "shop", "source_action": "Source"}]"#;
const DEMO_NOTIFY: &str = r#"{"default_channel": "C0DEPLOYS",
  "pipelines": {"shop": {"channel": "C0DEPLOYS", "verbosity": "stages"}}}"#;
const DEMO_STAGES: [(&str, &str); 5] = [
    ("Source", "Source"),
    ("Build", "Build"),
    ("DeployDev", "Deploy"),
    ("ApproveProd", "Approval"),
    ("DeployProd", "Invoke"),
];
/// When the sample push is handled (any time: GitHub signatures carry no timestamp).
const NOW: i64 = 1_768_467_600;

fn sample(root: &FsPath, name: &str) -> Result<String, String> {
    let path = root.join("events").join(name);
    std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))
}

/// The webhook's ports, answering at once: a delivery never seen, a pipeline that starts.
struct FreshDeliveries;

impl DeliveryLedger for FreshDeliveries {
    async fn claim(&self, _: &DeliveryId, _: i64) -> Result<Claim, StoreError> {
        Ok(Claim::New)
    }
    async fn complete(&self, _: &DeliveryId, _: &str) -> Result<(), StoreError> {
        Ok(())
    }
    async fn release(&self, _: &DeliveryId) -> Result<(), StoreError> {
        Ok(())
    }
}

impl gantry_core::ingest::PushHistory for FreshDeliveries {
    async fn advance(
        &self,
        _: &str,
        _: &str,
        _: i64,
    ) -> Result<gantry_core::ingest::Newest, StoreError> {
        Ok(gantry_core::ingest::Newest::Recorded)
    }
}

impl gantry_core::ingest::StartedPushes for FreshDeliveries {
    async fn record_start(&self, _: &gantry_core::ingest::StartedPush) -> Result<(), StoreError> {
        Ok(())
    }
}

struct Starts;

impl PipelineStarter for Starts {
    async fn start(&self, _: &StartRequest) -> Result<String, StartError> {
        Ok("0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0".into())
    }
}

/// The webhook's ports in the benchmark: nothing reaches AWS.
struct AnswerAtOnce;

impl gantry_core::ingest::IngestPorts for AnswerAtOnce {
    type Starter = Starts;
    type Ledger = FreshDeliveries;
    type Queue = gantry_core::ingest::NoRetryQueue;
}

/// The webhook with the demo's secret and routes; the two calls that would reach AWS (the
/// delivery claim and `StartPipelineExecution`) answer at once.
fn webhook() -> Result<(Ingest<AnswerAtOnce>, tokio::runtime::Runtime), String> {
    let ingest = Ingest {
        routes: RouteTable::parse(DEMO_ROUTES)?,
        github_secrets: vec![SecretString::new(DEMO_GITHUB_SECRET)],
        gitlab_tokens: vec![],
        max_body_bytes: DEFAULT_MAX_BODY_BYTES,
        starter: Starts,
        ledger: FreshDeliveries,
        queue: gantry_core::ingest::NoRetryQueue,
        retry: gantry_core::ingest::StartRetryPolicy::default(),
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .map_err(|e| e.to_string())?;
    Ok((ingest, runtime))
}

/// A webhook path: `event` (the Lambda event's JSON) → request → the webhook's answer, checked by
/// `expect`, → the function's HTTP response.
fn through_webhook(
    name: &'static str,
    label: &'static str,
    what: &'static str,
    event: String,
    expect: fn(&Answer) -> Result<(), String>,
) -> Result<Path, String> {
    let (ingest, runtime) = webhook()?;
    Ok(Path {
        name,
        function: "webhook",
        label,
        what,
        once: Box::new(move || {
            let request = lambda_http::request::from_str(&event).map_err(|e| e.to_string())?;
            let answer = runtime.block_on(ingest.handle(&webhook::inbound(&request), NOW));
            expect(&answer)?;
            drop(webhook::respond(answer));
            Ok(())
        }),
    })
}

/// A signed GitHub push: event JSON → request → signature → payload → routes → answer.
pub fn webhook_push(root: &FsPath) -> Result<Path, String> {
    through_webhook(
        "webhook_push",
        "signed push → routed, answered 202",
        "GitHub push: signature check, payload parse, routing, answer",
        sample(root, "webhook-github-push.json")?,
        |answer| {
            let started = answer.body["started"].as_array().map_or(0, Vec::len);
            if answer.status != 202 || started != 1 {
                return Err(format!(
                    "push not started: {} {}",
                    answer.status, answer.body
                ));
            }
            Ok(())
        },
    )
}

/// The same push with a signature that does not match: refused before the body is read.
pub fn webhook_bad_signature(root: &FsPath) -> Result<Path, String> {
    let mut event: Value = serde_json::from_str(&sample(root, "webhook-github-push.json")?)
        .map_err(|e| e.to_string())?;
    event["headers"]["x-hub-signature-256"] = format!("sha256={}", "0".repeat(64)).into();
    through_webhook(
        "webhook_bad_signature",
        "wrong signature → 401",
        "GitHub push with a wrong signature: rejected (401)",
        event.to_string(),
        |answer| match answer.status {
            401 => Ok(()),
            status => Err(format!("bad signature not refused: {status}")),
        },
    )
}

/// A Slack click up to the record read: event JSON → request → signature → payload → button.
pub fn approval_click(root: &FsPath) -> Result<Path, String> {
    let event = sample(root, "approval-slack-click.json")?;
    let parsed: Value = serde_json::from_str(&event).map_err(|e| e.to_string())?;
    // Slack signs the time it sends: "now" is that time, as on a live click.
    let sent_at: i64 = parsed["headers"]["x-slack-request-timestamp"]
        .as_str()
        .and_then(|t| t.parse().ok())
        .ok_or("the sample click has no x-slack-request-timestamp")?;
    let secret = SecretString::new(SLACK_EXAMPLE_SIGNING_SECRET);
    Ok(Path {
        name: "approval_click",
        function: "approval",
        label: "signed click → Approve button",
        what: "Slack click: signature check, payload parse, button",
        once: Box::new(move || {
            let value: Value = serde_json::from_str(&event).map_err(|e| e.to_string())?;
            let approval::Source::Http(request, _) =
                approval::classify(value).map_err(|e| e.to_string())?
            else {
                return Err("the sample click is not an HTTP request".into());
            };
            verify_slack(
                request.header("x-slack-signature"),
                request.header("x-slack-request-timestamp"),
                &request.body,
                &secret,
                sent_at,
            )
            .map_err(|e| e.to_string())?;
            let clicked = interaction::parse(&request.body).map_err(|e| e.to_string())?;
            match clicked.button().map_err(|e| e.to_string())? {
                Button::Approve(_) => Ok(()),
                other => Err(format!("unexpected button {other:?}")),
            }
        }),
    })
}

/// A stage event on a running execution: event JSON → CodePipeline event → merged execution →
/// the Slack message body, serialised.
pub fn notifier_event(root: &FsPath) -> Result<Path, String> {
    let json = |name: &str| -> Result<Value, String> {
        serde_json::from_str(&sample(root, name)?).map_err(|e| e.to_string())
    };
    let started = PipelineEvent::parse(&json("notifier-pipeline-started.json")?)
        .map_err(|e| e.to_string())?;
    let mut running = Execution::new(&started);
    running.apply(&started);
    running.set_layout(demo_layout());
    running.set_trigger(demo_trigger());
    let event = sample(root, "notifier-stage-build-started.json")?;
    let notify: NotifyConfig = serde_json::from_str(DEMO_NOTIFY).map_err(|e| e.to_string())?;
    Ok(Path {
        name: "notifier_event",
        function: "notifier",
        label: "stage event → Slack message",
        what: "CodePipeline stage event: parse, merge into the execution, render the Slack message",
        once: Box::new(move || {
            let value: Value = serde_json::from_str(&event).map_err(|e| e.to_string())?;
            let event = PipelineEvent::parse(&value).map_err(|e| e.to_string())?;
            let audience = notify.audience(&event.pipeline);
            let mut execution = running.clone();
            if !execution.apply(&event) {
                return Err("the stage event changed nothing".into());
            }
            let message = render::execution_message(&execution, audience.verbosity);
            if message["blocks"].as_array().map_or(0, Vec::len) < 3 {
                return Err(format!("message has too few blocks: {message}"));
            }
            drop(message.to_string());
            Ok(())
        }),
    })
}

fn demo_layout() -> Vec<DeclaredStage> {
    DEMO_STAGES
        .iter()
        .map(|(stage, category)| DeclaredStage {
            name: stage.to_string(),
            actions: vec![DeclaredAction {
                name: stage.to_string(),
                category: Some(category.to_string()),
            }],
            account: None,
        })
        .collect()
}

fn demo_trigger() -> Trigger {
    Trigger {
        commit_id: Some("6113728f27ae82c7b1a177c8d03f9e96e0adf246".into()),
        commit_url: Some(
            "https://github.com/Codertocat/Hello-World/commit/6113728f27ae82c7b1a177c8d03f9e96e0adf246"
                .into(),
        ),
        message: Some("Make the cart total include tax".into()),
        author: Some("Codertocat".into()),
        branch: Some("master".into()),
        tag: None,
        repository: Some("Codertocat/Hello-World".into()),
        kind: Some("StartPipelineExecution".into()),
        from_slack: None,
    }
}
