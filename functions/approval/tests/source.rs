//! The event translation: each source recognised, and answered in its front door's shape.
use approval::{classify, http_response, Origin, Source};
use base64::Engine;
use serde_json::{json, Value};

const API_V2: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../tests/fixtures/aws/example-apigw-v2-request-no-authorizer.json"
));
const SNS: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../tests/fixtures/aws/example-sns-event.json"
));
const ACTION: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../tests/fixtures/aws/example-codepipeline-action-execution-stage-change-event.json"
));

#[test]
fn an_eventbridge_event_is_recognised() {
    let event: Value = serde_json::from_str(ACTION).unwrap();
    assert!(matches!(classify(event), Ok(Source::EventBridge(_))));
}

#[test]
fn an_sns_event_yields_its_messages() {
    let event: Value = serde_json::from_str(SNS).unwrap();
    match classify(event) {
        Ok(Source::Sns(messages)) => assert_eq!(messages, vec!["Hello\r\nworld!".to_string()]),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_function_url_request_keeps_its_exact_body_bytes() {
    let mut event: Value = serde_json::from_str(API_V2).unwrap();
    event["requestContext"]["http"]["method"] = json!("POST");
    event["headers"]["x-slack-signature"] = json!("v0=abc");
    event["body"] = json!(base64::engine::general_purpose::STANDARD.encode("payload=%7B%7D"));
    event["isBase64Encoded"] = json!(true);
    match classify(event) {
        Ok(Source::Http(inbound, origin)) => {
            assert_eq!(origin, Origin::PayloadV2);
            assert_eq!(inbound.body, b"payload=%7B%7D");
            assert_eq!(inbound.header("X-Slack-Signature"), Some("v0=abc"));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_rest_api_request_is_answered_in_payload_1_0() {
    let event = json!({
        "resource": "/", "path": "/", "httpMethod": "POST", "headers": {"content-type": "application/x-www-form-urlencoded"},
        "multiValueHeaders": {}, "queryStringParameters": null, "multiValueQueryStringParameters": null,
        "pathParameters": null, "stageVariables": null,
        "requestContext": {"accountId": "123456789012", "resourceId": "r", "stage": "prod", "requestId": "id",
            "identity": {"sourceIp": "1.2.3.4"}, "resourcePath": "/", "httpMethod": "POST", "apiId": "a"},
        "body": "payload=x", "isBase64Encoded": false
    });
    match classify(event) {
        Ok(Source::Http(inbound, origin)) => {
            assert_eq!(origin, Origin::PayloadV1);
            assert_eq!(inbound.body, b"payload=x");
        }
        other => panic!("{other:?}"),
    }
}

fn sample(name: &str) -> Value {
    let path = format!("{}/../../events/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

#[test]
fn the_sample_events_are_what_they_say() {
    use gantry_core::approval::{events, interaction, Button};
    let Ok(Source::Http(request, Origin::PayloadV2)) =
        classify(sample("approval-slack-click.json"))
    else {
        panic!("the click is a Function URL request")
    };
    // Signed with Slack's documented example secret, at the time written in the request.
    let ts = request.header("x-slack-request-timestamp").unwrap();
    let signed = gantry_core::signature::verify_slack(
        request.header("x-slack-signature"),
        Some(ts),
        &request.body,
        &gantry_core::secrets::SecretString::new("8f742231b10e8888abcd99yyyzzz85a5"),
        ts.parse().unwrap(),
    );
    assert_eq!(signed, Ok(()));
    let click = interaction::parse(&request.body).unwrap();
    assert!(matches!(click.button(), Ok(Button::Approve(_))));

    for (name, started) in [
        ("approval-action-started.json", true),
        ("approval-action-succeeded.json", false),
    ] {
        let Ok(Source::EventBridge(e)) = classify(sample(name)) else {
            panic!("{name}")
        };
        match events::from_eventbridge(&e, 0).unwrap() {
            events::ApprovalEvent::Started(_) => assert!(started, "{name}"),
            events::ApprovalEvent::Finished(_) => assert!(!started, "{name}"),
            other => panic!("{name}: {other:?}"),
        }
    }
    let Ok(Source::Sns(messages)) = classify(sample("approval-sns-notification.json")) else {
        panic!("SNS")
    };
    assert_eq!(
        events::from_sns_message(&messages[0]).unwrap().pipeline,
        "shop"
    );
}

#[test]
fn anything_else_is_an_error_not_a_panic() {
    assert!(classify(json!({"hello": "world"})).is_err());
    assert!(classify(json!([1, 2])).is_err());
}

#[test]
fn responses_have_the_shape_of_their_front_door() {
    let v2 = http_response(Origin::PayloadV2, 200, &json!({"ok": true}));
    let parsed: lambda_http::aws_lambda_events::apigw::ApiGatewayV2httpResponse =
        serde_json::from_value(v2.clone()).unwrap();
    assert_eq!(parsed.status_code, 200);
    assert_eq!(v2["body"], r#"{"ok":true}"#);
    let v1 = http_response(Origin::PayloadV1, 401, &Value::Null);
    let parsed: lambda_http::aws_lambda_events::apigw::ApiGatewayProxyResponse =
        serde_json::from_value(v1.clone()).unwrap();
    assert_eq!(parsed.status_code, 401);
    assert_eq!(v1["body"], "");
    let alb = http_response(Origin::Alb, 200, &Value::Null);
    assert_eq!(alb["statusDescription"], "200 OK");
}
