//! HTTP through Lambda: a Function URL, API Gateway (HTTP or REST API) or ALB event in, the
//! request as the core sees it (`Inbound`), and the response back in the shape that front door
//! expects. Shared by the two functions with a public URL (webhook, approval).

use gantry_core::ingest::Inbound;
use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt};
use serde_json::{json, Value};

/// The HTTP front door, which decides the response's shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// Function URLs and HTTP APIs (payload 2.0).
    PayloadV2,
    /// REST APIs (payload 1.0).
    PayloadV1,
    Alb,
}

/// The request in an HTTP event's JSON, and where it came from; `Err` with the reason when the
/// JSON is no HTTP event.
pub fn from_event(event: &Value) -> Result<(Inbound, Origin), String> {
    let request = lambda_http::request::from_str(&event.to_string()).map_err(|e| e.to_string())?;
    let origin = match request.request_context_ref() {
        Some(RequestContext::ApiGatewayV1(_)) => Origin::PayloadV1,
        Some(RequestContext::Alb(_)) => Origin::Alb,
        _ => Origin::PayloadV2,
    };
    Ok((inbound(&request), origin))
}

/// The request as the core sees it. lambda_http has already decoded a base64 body: these are
/// the bytes the sender signed.
pub fn inbound(request: &Request) -> Inbound {
    let headers = request
        .headers()
        .iter()
        .filter_map(|(k, v)| v.to_str().ok().map(|v| (k.as_str(), v)));
    let body = match request.body() {
        Body::Text(t) => t.as_bytes().to_vec(),
        Body::Binary(b) => b.clone(),
        _ => Vec::new(),
    };
    Inbound::new(headers, body)
}

/// The response with a JSON body (`Value::Null`: empty), as the front door expects it back.
pub fn response(origin: Origin, status: u16, body: &Value) -> Value {
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
        202 => "Accepted",
        400 => "Bad Request",
        401 => "Unauthorized",
        413 => "Payload Too Large",
        _ => "Error",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_front_door_gets_its_own_shape() {
        let body = json!({"ok": true});
        assert_eq!(
            response(Origin::PayloadV2, 200, &body)["cookies"],
            json!([])
        );
        assert!(response(Origin::PayloadV1, 200, &body)
            .get("cookies")
            .is_none());
        assert_eq!(
            response(Origin::Alb, 401, &Value::Null)["statusDescription"],
            "401 Unauthorized"
        );
        assert_eq!(response(Origin::PayloadV2, 200, &Value::Null)["body"], "");
    }
}
