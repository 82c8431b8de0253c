//! One function, three event sources: tell them apart by shape, and answer HTTP in the shape
//! the caller expects.
//!
//! `lambda_http::run` only takes HTTP events and `lambda_runtime::run` with a typed event only
//! one type, so the handler takes JSON and looks: `detail-type` is EventBridge, a record from
//! `aws:sns` is SNS, anything else must be an HTTP request (Function URL, API Gateway, ALB).

use gantry_adapters::lambda::http;
pub use gantry_adapters::lambda::http::{response as http_response, Origin};
use gantry_core::ingest::Inbound;
use gantry_core::operate::Task;
use serde_json::Value;

/// An invocation, by where it comes from.
#[derive(Debug)]
pub enum Source {
    /// An EventBridge event (CodePipeline's action state changes).
    EventBridge(Value),
    /// The `Message`s of an SNS event (the approval action's notifications).
    Sns(Vec<String>),
    /// An HTTP request (Slack's interactivity request or slash command), and who to answer.
    Http(Inbound, Origin),
    /// A slash command's work, sent by the function to itself after its acknowledgement.
    Operation(Task),
}

/// Why an invocation is none of the three.
#[derive(Debug, thiserror::Error)]
#[error("not an EventBridge event, an SNS event or an HTTP request: {0}")]
pub struct UnknownEvent(String);

/// Tells the source of an invocation from its JSON.
pub fn classify(event: Value) -> Result<Source, UnknownEvent> {
    // Only an `Invoke` (IAM-authorized) sets a top-level key; a Function URL event cannot.
    if let Some(task) = Task::from_event(&event) {
        return task.map(Source::Operation).map_err(UnknownEvent);
    }
    if event.get("detail-type").is_some() {
        return Ok(Source::EventBridge(event));
    }
    let records = event.get("Records").and_then(Value::as_array);
    if let Some(records) = records {
        let from_sns = |r: &Value| r.get("EventSource").and_then(Value::as_str) == Some("aws:sns");
        if records.first().is_some_and(from_sns) {
            return Ok(Source::Sns(
                records
                    .iter()
                    .filter(|r| from_sns(r))
                    .filter_map(|r| r["Sns"]["Message"].as_str().map(str::to_string))
                    .collect(),
            ));
        }
    }
    let (request, origin) = http::from_event(&event).map_err(UnknownEvent)?;
    Ok(Source::Http(request, origin))
}

/// True for an event that is neither EventBridge's nor SNS's: a Slack click (or noise).
pub fn is_http(event: &Value) -> bool {
    event.get("detail-type").is_none() && event.get("Records").is_none()
}
