//! One function, three event sources: tell them apart by shape, and answer HTTP in the shape
//! the caller expects.
//!
//! `lambda_http::run` only takes HTTP events and `lambda_runtime::run` with a typed event only
//! one type, so the handler takes JSON and looks: `detail-type` is EventBridge, a record from
//! `aws:sns` is SNS, anything else must be an HTTP request (Function URL, API Gateway, ALB).

use gantry_core::ingest::Inbound;
use lambda_http::request::RequestContext;
use lambda_http::{Body, RequestExt};
use serde_json::{json, Value};

/// An invocation, by where it comes from.
#[derive(Debug)]
pub enum Source {
    /// An EventBridge event (CodePipeline's action state changes).
    EventBridge(Value),
    /// The `Message`s of an SNS event (the approval action's notifications).
    Sns(Vec<String>),
    /// An HTTP request (Slack's interactivity request), and who to answer.
    Http(Inbound, Origin),
}

/// The HTTP front door, which decides the response's shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// Function URLs and HTTP APIs (payload 2.0).
    PayloadV2,
    /// REST APIs (payload 1.0).
    PayloadV1,
    Alb,
}

/// Why an invocation is none of the three.
#[derive(Debug, thiserror::Error)]
#[error("not an EventBridge event, an SNS event or an HTTP request: {0}")]
pub struct UnknownEvent(String);

/// Tells the source of an invocation from its JSON.
pub fn classify(event: Value) -> Result<Source, UnknownEvent> {
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
    let request = lambda_http::request::from_str(&event.to_string())
        .map_err(|e| UnknownEvent(e.to_string()))?;
    let origin = match request.request_context_ref() {
        Some(RequestContext::ApiGatewayV1(_)) => Origin::PayloadV1,
        Some(RequestContext::Alb(_)) => Origin::Alb,
        _ => Origin::PayloadV2,
    };
    let headers = request
        .headers()
        .iter()
        .filter_map(|(k, v)| v.to_str().ok().map(|v| (k.as_str(), v)));
    // lambda_http has already decoded a base64 body: these are the bytes Slack signed.
    let body = match request.body() {
        Body::Text(t) => t.as_bytes().to_vec(),
        Body::Binary(b) => b.clone(),
        _ => Vec::new(),
    };
    Ok(Source::Http(Inbound::new(headers, body), origin))
}

/// The HTTP response, as the front door expects it back from the function.
pub fn http_response(origin: Origin, status: u16, body: &Value) -> Value {
    let body = if body.is_null() {
        String::new()
    } else {
        body.to_string()
    };
    let headers = json!({"content-type": "application/json"});
    match origin {
        Origin::PayloadV2 => json!({
            "statusCode": status,
            "headers": headers,
            "body": body,
            "isBase64Encoded": false,
            "cookies": [],
        }),
        // Headers only: API Gateway merges `headers` and `multiValueHeaders`, doubling them.
        Origin::PayloadV1 => json!({
            "statusCode": status, "headers": headers, "body": body, "isBase64Encoded": false
        }),
        Origin::Alb => json!({
            "statusCode": status,
            "statusDescription": format!("{status} {}", reason(status)),
            "headers": headers, "body": body, "isBase64Encoded": false
        }),
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        401 => "Unauthorized",
        _ => "Error",
    }
}
