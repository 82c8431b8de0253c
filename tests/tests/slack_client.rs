//! The Slack client against the Slack stand-in: Slack's retry rules, and nothing retried twice
//! that cannot succeed.

use gantry_adapters::slack::{RetryPolicy, SlackClient};
use gantry_core::secrets::SecretString;
use gantry_core::slack::SlackError;
use gantry_tests::slack::SlackNs;
use serde_json::json;
use std::time::{Duration, Instant};

fn client(ns: &SlackNs) -> SlackClient {
    SlackClient::with_policy(
        &ns.api_url(),
        SecretString::new("xoxb-test"),
        RetryPolicy {
            max_attempts: 3,
            first_backoff: Duration::from_millis(50),
            max_retry_after: Duration::from_secs(5),
            request_timeout: Duration::from_millis(700),
        },
    )
}

/// A Slack stand-in whose next chat.postMessage calls are answered with `faults`, one each.
async fn posts_answering(faults: serde_json::Value) -> SlackNs {
    let ns = SlackNs::new();
    ns.fault("chat.postMessage", faults).await;
    ns
}

fn message() -> serde_json::Value {
    json!({"channel": "C0DEPLOYS", "text": "hello"})
}

#[tokio::test]
async fn rate_limit_waits_for_retry_after_then_succeeds() {
    let ns = posts_answering(json!([{"status": 429, "retry_after": 1}])).await;
    let started = Instant::now();
    let posted = client(&ns).post_message(&message()).await.expect("posted");
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(posted.channel, "C0DEPLOYS");
    assert_eq!(ns.messages().await.len(), 1);
    assert_eq!(ns.calls(Some("chat.postMessage")).await.len(), 2);
}

#[tokio::test]
async fn a_retry_after_longer_than_we_may_wait_is_reported_not_slept() {
    let ns = posts_answering(json!([{"status": 429, "retry_after": 60}])).await;
    let started = Instant::now();
    let err = client(&ns).post_message(&message()).await.unwrap_err();
    assert!(
        matches!(
            err,
            SlackError::RateLimited {
                retry_after_seconds: 60,
                ..
            }
        ),
        "{err}"
    );
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[tokio::test]
async fn server_errors_and_hangs_of_an_update_are_retried_within_a_bound() {
    let ns = SlackNs::new();
    let c = client(&ns);
    let at = c.post_message(&message()).await.expect("posted");
    ns.fault("chat.update", json!([{"status": 500}, {"hang_seconds": 2}]))
        .await;
    c.update_message(&at, &json!({"text": "v2"}))
        .await
        .expect("third attempt succeeds");
    assert_eq!(ns.messages().await[0]["text"], "v2");

    ns.fault(
        "chat.postMessage",
        json!([{"status": 503}, {"status": 503}, {"status": 503}]),
    )
    .await;
    let err = c.post_message(&message()).await.unwrap_err();
    assert!(
        matches!(err, SlackError::Unavailable { attempts: 3, .. }),
        "service_unavailable says nothing was posted, so it is retried: {err}"
    );
    assert!(!err.is_permanent());
    assert_eq!(ns.calls(Some("chat.postMessage")).await.len(), 4);
}

#[tokio::test]
async fn a_post_slack_may_have_taken_is_not_retried_and_says_so() {
    // Slack's internal_error "after some aspect of the operation succeeded": posted, yet an error.
    let ns = posts_answering(json!([{"error": "internal_error", "after_effect": true}])).await;
    let err = client(&ns).post_message(&message()).await.unwrap_err();
    assert!(err.maybe_posted(), "{err}");
    assert!(!err.is_permanent());
    assert_eq!(
        ns.calls(Some("chat.postMessage")).await.len(),
        1,
        "not reposted"
    );
    assert_eq!(ns.messages().await.len(), 1);

    // fatal_error, an HTTP 500 and a timeout after sending leave it open too.
    for fault in [
        json!({"error": "fatal_error"}),
        json!({"status": 500}),
        json!({"hang_seconds": 2, "after_effect": true}),
    ] {
        let ns = posts_answering(json!([fault])).await;
        let err = client(&ns).post_message(&message()).await.unwrap_err();
        assert!(
            matches!(err, SlackError::MaybePosted { .. }),
            "{fault}: {err}"
        );
        assert_eq!(ns.calls(Some("chat.postMessage")).await.len(), 1, "{fault}");
    }
}

#[tokio::test]
async fn a_post_that_may_have_landed_is_found_by_its_metadata() {
    let ns = SlackNs::new();
    let c = client(&ns);
    let marker = json!({"event_type": "gantry_test", "event_payload": {"id": "e1"}});
    let mut first = message();
    first["metadata"] = marker.clone();
    assert_eq!(
        c.find_posted("C0DEPLOYS", None, &marker, 100)
            .await
            .unwrap(),
        None
    );
    c.post_message(&json!({"channel": "C0DEPLOYS", "text": "someone else's"}))
        .await
        .unwrap();
    ns.fault(
        "chat.postMessage",
        json!([{"error": "internal_error", "after_effect": true}]),
    )
    .await;
    assert!(c.post_message(&first).await.unwrap_err().maybe_posted());
    c.post_message(&json!({"channel": "C0DEPLOYS", "text": "later"}))
        .await
        .unwrap();
    let found = c
        .find_posted("C0DEPLOYS", None, &marker, 100)
        .await
        .unwrap()
        .expect("found");
    let stored = ns.messages().await;
    assert_eq!(found.ts, stored[1]["ts"].as_str().unwrap());
    let other = json!({"event_type": "gantry_test", "event_payload": {"id": "e2"}});
    assert_eq!(
        c.find_posted("C0DEPLOYS", None, &other, 100).await.unwrap(),
        None
    );
    let history = ns.calls(Some("conversations.history")).await;
    assert!(
        history
            .iter()
            .all(|h| h["headers"]["content-type"].is_null()),
        "GET, no body"
    );
}

#[tokio::test]
async fn permanent_errors_are_not_retried() {
    let ns = SlackNs::new();
    ns.configure(json!({"unknown_channels": ["C0GONE"]})).await;
    let err = client(&ns)
        .post_message(&json!({"channel": "C0GONE", "text": "x"}))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("channel_not_found"));
    assert!(err.is_permanent());
    assert_eq!(ns.calls(Some("chat.postMessage")).await.len(), 1);
}

#[tokio::test]
async fn a_bad_token_is_permanent_and_never_printed() {
    let ns = SlackNs::new();
    ns.configure(json!({"valid_token": "xoxb-the-right-one"}))
        .await;
    let err = client(&ns).post_message(&message()).await.unwrap_err();
    assert_eq!(err.code(), Some("invalid_auth"));
    assert!(err.is_permanent());
    assert!(!format!("{err} {err:?} {:?}", client(&ns)).contains("xoxb-test"));
}

#[tokio::test]
async fn update_changes_the_message_in_place() {
    let ns = SlackNs::new();
    let c = client(&ns);
    let at = c.post_message(&message()).await.expect("posted");
    c.update_message(&at, &json!({"text": "updated"}))
        .await
        .expect("updated");
    let messages = ns.messages().await;
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0]["text"], "updated");
    assert_eq!(messages[0]["versions"], 2);
}

#[tokio::test]
async fn read_methods_go_as_get_queries_because_slack_refuses_json_for_them() {
    let ns = SlackNs::new();
    ns.configure(json!({
        "users": [{"id": "U1", "name": "ada", "email": "ada@example.com"}],
        "usergroups": {"S1": ["U1"]}
    }))
    .await;
    let c = client(&ns);
    // What the client used to send: Slack answers invalid_arguments, the group looks empty.
    let err = c
        .call("usergroups.users.list", &json!({"usergroup": "S1"}))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("invalid_arguments"));
    let err = c
        .call("users.lookupByEmail", &json!({"email": "ada@example.com"}))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("invalid_arguments"));

    assert_eq!(c.usergroup_members("S1").await.unwrap(), vec!["U1"]);
    assert_eq!(
        c.user_by_email("ada@example.com")
            .await
            .unwrap()
            .map(|u| u.id),
        Some("U1".to_string())
    );
    for method in ["usergroups.users.list", "users.lookupByEmail"] {
        let calls = ns.calls(Some(method)).await;
        let last = calls.last().unwrap();
        assert_eq!(
            last["auth"], "xoxb-test",
            "token in the Authorization header"
        );
        assert!(last["headers"]["content-type"].is_null(), "a GET: {last}");
        assert_eq!(last["response"]["ok"], true, "{last}");
    }
}

#[tokio::test]
async fn users_and_groups_are_looked_up() {
    let ns = SlackNs::new();
    ns.configure(json!({
        "users": [{"id": "U1", "name": "ada", "email": "ada@example.com"}],
        "usergroups": {"S1": ["U1", "U2"]}
    }))
    .await;
    let c = client(&ns);
    assert_eq!(c.usergroup_members("S1").await.unwrap(), vec!["U1", "U2"]);
    assert_eq!(
        c.user_by_email("ada@example.com")
            .await
            .unwrap()
            .unwrap()
            .id,
        "U1"
    );
    assert_eq!(c.user_by_email("nobody@example.com").await.unwrap(), None);
    c.respond(&ns.response_url("r1"), &json!({"text": "done"}))
        .await
        .unwrap();
    assert_eq!(ns.calls(Some("response_url")).await.len(), 1);
}

#[tokio::test]
async fn a_response_url_is_called_only_on_slacks_origin_and_no_redirect_is_followed() {
    let elsewhere = gantry_tests::http::Trap::new().await;
    // A server on SLACK_API_URL's origin that answers a response_url with a redirect elsewhere.
    let location = format!(
        "HTTP/1.1 302 Found\r\nlocation: {}/stolen\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
        elsewhere.origin
    );
    let redirecting =
        gantry_tests::http::Trap::answering(Box::leak(location.into_boxed_str())).await;
    let c = SlackClient::with_policy(
        &format!("{}/api", redirecting.origin),
        SecretString::new("xoxb-test"),
        RetryPolicy {
            max_attempts: 1,
            ..RetryPolicy::for_clicks()
        },
    );
    let body = json!({"text": "approved"});
    assert!(c
        .respond(&format!("{}/response/1", redirecting.origin), &body)
        .await
        .is_err());
    assert_eq!(
        redirecting.hits(),
        1,
        "the response_url on Slack's origin was called"
    );
    assert_eq!(elsewhere.hits(), 0, "the redirect was not followed");

    // Another origin (here another port) is not called at all.
    let err = c
        .respond(&format!("{}/response/1", elsewhere.origin), &body)
        .await
        .unwrap_err();
    assert!(err.is_permanent(), "{err}");
    assert_eq!(elsewhere.hits(), 0);
    for not_slack in [
        "https://hooks.slack.com.evil.example/x",
        "https://hooks.slack.com@evil.example/x",
        "http://hooks.slack.com/x",
        "https://hooks.slack.com:8443/x",
        "not a url",
    ] {
        assert!(c.respond(not_slack, &body).await.is_err(), "{not_slack}");
    }
}
