//! The events Gantry's functions receive from Slack and EventBridge, printed as JSON by the same
//! builders the tests use (`approval::interaction::Click`, `notify::EventSource`): the local demo
//! sends these, so the demo and the tests build each event one way.
//!
//! ```sh
//! cargo build -p gantry-core --features testing --example gantry-events
//! echo '{"detail_type": "CodePipeline Stage Execution State Change", "pipeline": "shop",
//!        "execution_id": "e-1", "time": "2026-01-15T09:00:00Z", "state": "STARTED",
//!        "stage": "Build"}' | target/debug/examples/gantry-events codepipeline
//! echo '{"user_id": "U0LEAD", "username": "lee", "action_id": "gantry.approval.approve",
//!        "value": "3f1c…", "channel": "C0DEPLOYS", "message_ts": "1700000000.000100",
//!        "response_url": "http://…", "secret": "demo-slack-signing-secret"}' \
//!     | target/debug/examples/gantry-events slack-click
//! ```
//!
//! `codepipeline` reads `detail_type` (one of CodePipeline's three), `pipeline`, `execution_id`,
//! `time` (RFC 3339), `state` (STARTED, SUCCEEDED, …), and for stages and actions `stage`; for
//! actions `action`, `category`, `provider` and `result` (`summary`, `url`, `error_code`);
//! `region` and `account` default to the demo's. It prints the EventBridge event.
//!
//! `registry-views` is not an event: it reads `entries` (the registry index's entries:
//! `pipeline`, `document` as text) and prints each view the notifier's sync would write for
//! them (`name`, `view` packed in base64, `digest`, `bytes` unpacked), so the benchmark's tables
//! hold what a hub's would.
//!
//! `slack-click` reads the `Click` fields (`user_id`, `username`, `action_id`, `value`,
//! `channel`, `message_ts`, `response_url`, `reason`), the signing `secret`, and optionally the
//! `message` the button is in (Slack sends it whole; its `thread_ts` places the click's replies)
//! and `timestamp` (default now). It prints the signed request as a Lambda Function URL event.

use gantry_core::approval::interaction::{Click, SignedRequest};
use gantry_core::notify::event::{ACTION_DETAIL_TYPE, PIPELINE_DETAIL_TYPE, STAGE_DETAIL_TYPE};
use gantry_core::notify::{ActionResult, EventSource, Status};
use serde::Deserialize;
use serde_json::Value;
use std::io::Read;
use std::process::ExitCode;

fn main() -> ExitCode {
    let kind = std::env::args().nth(1).unwrap_or_default();
    let mut input = String::new();
    let built = std::io::stdin()
        .read_to_string(&mut input)
        .map_err(|e| format!("stdin: {e}"))
        .and_then(|_| match kind.as_str() {
            "codepipeline" => parse(&input).and_then(codepipeline),
            "slack-click" => parse(&input).and_then(slack_click),
            "slack-form" => parse(&input).and_then(slack_form),
            "registry-views" => parse(&input).and_then(registry_views),
            other => Err(format!(
                "unknown event kind {other:?}: codepipeline, slack-click, slack-form or registry-views"
            )),
        });
    match built {
        Ok(event) => {
            println!("{event}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("gantry-events: {e}");
            ExitCode::FAILURE
        }
    }
}

fn parse<'a, T: Deserialize<'a>>(input: &'a str) -> Result<T, String> {
    serde_json::from_str(input).map_err(|e| format!("the request on stdin: {e}"))
}

#[derive(Deserialize)]
struct CodePipelineRequest {
    detail_type: String,
    pipeline: String,
    execution_id: String,
    time: String,
    state: String,
    stage: Option<String>,
    action: Option<String>,
    category: Option<String>,
    provider: Option<String>,
    #[serde(default)]
    result: ActionResult,
    #[serde(default = "demo_region")]
    region: String,
    #[serde(default = "demo_account")]
    account: String,
}

fn demo_region() -> String {
    "us-east-1".into()
}

fn demo_account() -> String {
    "123456789012".into()
}

fn codepipeline(r: CodePipelineRequest) -> Result<Value, String> {
    let state = Status::parse(&r.state).ok_or(format!("unknown state {:?}", r.state))?;
    let source = EventSource {
        pipeline: r.pipeline,
        execution_id: r.execution_id,
        region: r.region,
        account: r.account,
    };
    let stage = || r.stage.as_deref().ok_or("a stage event names its `stage`");
    Ok(match r.detail_type.as_str() {
        PIPELINE_DETAIL_TYPE => source.pipeline(&r.time, state),
        STAGE_DETAIL_TYPE => source.stage(&r.time, stage()?, state),
        ACTION_DETAIL_TYPE => source.action(
            &r.time,
            stage()?,
            r.action
                .as_deref()
                .ok_or("an action event names its `action`")?,
            (
                r.category.as_deref().unwrap_or("Build"),
                r.provider.as_deref().unwrap_or("CodeBuild"),
            ),
            state,
            &r.result,
        ),
        other => return Err(format!("unknown detail_type {other:?}")),
    })
}

#[derive(Deserialize)]
struct ClickRequest {
    user_id: String,
    username: String,
    action_id: String,
    value: String,
    channel: String,
    message_ts: String,
    response_url: String,
    reason: Option<String>,
    message: Option<Value>,
    secret: String,
    timestamp: Option<i64>,
}

fn slack_click(r: ClickRequest) -> Result<Value, String> {
    let click = Click {
        user_id: &r.user_id,
        username: &r.username,
        action_id: &r.action_id,
        value: &r.value,
        channel: &r.channel,
        message_ts: &r.message_ts,
        response_url: &r.response_url,
        reason: r.reason.as_deref(),
    };
    let mut payload = click.payload();
    if let Some(message) = r.message {
        payload["message"] = message;
    }
    let body = form_urlencoded::Serializer::new(String::new())
        .append_pair("payload", &payload.to_string())
        .finish();
    let timestamp = r
        .timestamp
        .unwrap_or_else(gantry_core::clock::now_epoch_seconds);
    Ok(SignedRequest::new(body, &r.secret, timestamp).function_url_event())
}

/// Any form Slack posts (a slash command, say), signed as Slack signs it.
#[derive(Deserialize)]
struct FormRequest {
    body: String,
    secret: String,
    timestamp: Option<i64>,
}

fn slack_form(r: FormRequest) -> Result<Value, String> {
    let timestamp = r
        .timestamp
        .unwrap_or_else(gantry_core::clock::now_epoch_seconds);
    Ok(SignedRequest::new(r.body, &r.secret, timestamp).function_url_event())
}

#[derive(Deserialize)]
struct ViewsRequest {
    entries: Vec<IndexEntry>,
}

#[derive(Deserialize)]
struct IndexEntry {
    pipeline: String,
    document: String,
}

fn registry_views(r: ViewsRequest) -> Result<Value, String> {
    use gantry_core::registry::{digest, pack, project, IndexedService, View};
    let entries: Vec<IndexedService> = r
        .entries
        .into_iter()
        .map(|e| IndexedService {
            pipeline: e.pipeline,
            document: e.document,
            version: 1,
            modified_ms: 0,
            written_ms: 0,
        })
        .collect();
    Ok(Value::Array(
        View::ALL
            .iter()
            .map(|&view| {
                let text = project(view, &entries);
                // Base64, as DynamoDB's JSON carries a binary attribute.
                let packed =
                    base64::Engine::encode(&base64::engine::general_purpose::STANDARD, pack(&text));
                serde_json::json!({"name": view.name(), "digest": digest(&text), "view": packed,
                                   "bytes": text.len()})
            })
            .collect(),
    ))
}
