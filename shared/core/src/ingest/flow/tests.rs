//! Tests of `flow`: this file is the body of its `#[cfg(test)] mod tests;`.

use super::*;
use crate::ingest::testing::{FakeLedger, FakeQueue, FakeStarter, IngestFakes};
use crate::signature::hmac_sha256_hex;

const SECRET: &str = "s3cret";
const FIXTURE: &[u8] = include_bytes!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../tests/fixtures/github/push-with-new-branch.json"
));

fn ingest(routes: &str, missing: Vec<&'static str>) -> Ingest<IngestFakes> {
    Ingest {
        routes: RouteTable::parse(routes).unwrap(),
        github_secrets: vec![SecretString::new(SECRET)],
        gitlab_tokens: vec![SecretString::new("gl-token")],
        max_body_bytes: 1024 * 1024,
        starter: FakeStarter {
            missing,
            ..Default::default()
        },
        ledger: FakeLedger::default(),
        queue: FakeQueue::default(),
        retry: StartRetryPolicy {
            delays_ms: vec![1, 1],
            budget_ms: 1000,
        },
    }
}

const ROUTES: &str = r#"[{"provider":"github","repository":"Codertocat/*","branches":["master"],"pipeline":"hello","source_action":"Source"}]"#;

fn github(event: &str, delivery: &str, body: &[u8]) -> Inbound {
    let sig = format!("sha256={}", hmac_sha256_hex(SECRET.as_bytes(), &[body]));
    Inbound::new(
        [
            ("X-GitHub-Event", event),
            ("X-GitHub-Delivery", delivery),
            ("X-Hub-Signature-256", sig.as_str()),
            ("Content-Type", "application/json"),
        ],
        body.to_vec(),
    )
}

#[tokio::test]
async fn signed_push_starts_the_routed_pipeline() {
    let w = ingest(ROUTES, vec![]);
    let a = w.handle(&github("push", "d1", FIXTURE), 0).await;
    assert_eq!(a.status, 202, "{}", a.body);
    assert_eq!(a.body["started"][0]["pipeline"], "hello");
    assert_eq!(a.body["started"][0]["execution_id"], "exec-1");
    // The route filters no paths, so a new branch needs no "ran to be safe" note.
    assert!(a.body["started"][0].get("note").is_none());
    let starts = w.starter.starts.lock().unwrap();
    assert_eq!(
        starts[0].commit_id,
        "6113728f27ae82c7b1a177c8d03f9e96e0adf246"
    );
}

#[tokio::test]
async fn unprovable_paths_run_and_the_answer_says_why() {
    let w = ingest(
        r#"[{"provider":"github","repository":"Codertocat/*","branches":["master"],"paths":["services/**"],"pipeline":"hello","source_action":"Source"}]"#,
        vec![],
    );
    let a = w.handle(&github("push", "d1", FIXTURE), 0).await;
    assert_eq!(a.status, 202, "{}", a.body);
    assert!(a.body["started"][0]["note"]
        .as_str()
        .unwrap()
        .contains("new branch"));
}

#[tokio::test]
async fn redelivery_starts_nothing() {
    let w = ingest(ROUTES, vec![]);
    assert_eq!(
        w.handle(&github("push", "d1", FIXTURE), 0).await.status,
        202
    );
    let again = w.handle(&github("push", "d1", FIXTURE), 0).await;
    assert_eq!(again.status, 200);
    assert_eq!(again.body["duplicate"], true);
    assert_eq!(w.starter.starts.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn bad_signature_is_401_and_starts_nothing() {
    let w = ingest(ROUTES, vec![]);
    let mut req = github("push", "d1", FIXTURE);
    req.body.push(b' ');
    let a = w.handle(&req, 0).await;
    assert_eq!(a.status, 401);
    assert!(w.starter.starts.lock().unwrap().is_empty());
    assert!(w.ledger.records.lock().unwrap().is_empty());
}

#[tokio::test]
async fn form_encoded_github_payload_is_accepted() {
    let w = ingest(ROUTES, vec![]);
    let form: String = form_urlencoded::Serializer::new(String::new())
        .append_pair("payload", std::str::from_utf8(FIXTURE).unwrap())
        .finish();
    let mut req = github("push", "d-form", form.as_bytes());
    req.headers.insert(
        "content-type".into(),
        "application/x-www-form-urlencoded".into(),
    );
    let a = w.handle(&req, 0).await;
    assert_eq!(a.status, 202, "{}", a.body);
    assert_eq!(a.body["started"][0]["pipeline"], "hello");
}

#[tokio::test]
async fn ping_answers_200_and_other_events_are_ignored() {
    let w = ingest(ROUTES, vec![]);
    assert_eq!(w.handle(&github("ping", "p", b"{}"), 0).await.status, 200);
    let a = w.handle(&github("pull_request", "p", b"{}"), 0).await;
    assert_eq!(a.status, 202);
    assert!(a.body["ignored"].as_str().unwrap().contains("pull_request"));
}

#[tokio::test]
async fn envelope_problems_are_400_with_a_reason() {
    let w = ingest(ROUTES, vec![]);
    let a = w
        .handle(
            &Inbound::new([("content-type", "application/json")], b"{}".to_vec()),
            0,
        )
        .await;
    assert_eq!(a.status, 400);
    assert!(a.body["error"]
        .as_str()
        .unwrap()
        .contains("unknown provider"));

    let mut req = github("push", "d1", FIXTURE);
    req.headers.remove("x-github-delivery");
    let a = w.handle(&req, 0).await;
    assert_eq!(a.status, 400);
    assert!(a.body["error"]
        .as_str()
        .unwrap()
        .contains("X-GitHub-Delivery"));

    let a = w.handle(&github("push", "d2", b"{not json"), 0).await;
    assert_eq!(a.status, 400);
}

#[tokio::test]
async fn oversized_body_is_413() {
    let mut w = ingest(ROUTES, vec![]);
    w.max_body_bytes = 10;
    assert_eq!(
        w.handle(&github("push", "d1", FIXTURE), 0).await.status,
        413
    );
}

/// Lambda's event (and so the body) is parsed once by the runtime; a body over the 6 MiB limit is
/// refused on its length alone: not parsed a second time as a push, not even authenticated.
#[tokio::test]
async fn a_body_over_six_mib_is_refused_before_gantry_parses_it() {
    let mut w = ingest(ROUTES, vec![]);
    w.max_body_bytes = crate::ingest::DEFAULT_MAX_BODY_BYTES;
    let limit = w.max_body_bytes as usize;
    // A signed push that would start the pipeline, padded with JSON whitespace past the limit.
    let mut push = FIXTURE.to_vec();
    push.resize(limit + 1, b' ');
    let a = w.handle(&github("push", "big", &push), 0).await;
    assert_eq!(a.status, 413, "{}", a.body);
    assert!(w.starter.starts.lock().unwrap().is_empty());
    // Not JSON at all: still 413, not 400, so its content was never read.
    let garbage = vec![b'{'; limit + 1];
    assert_eq!(
        w.handle(&github("push", "junk", &garbage), 0).await.status,
        413
    );
    // At the limit exactly, the padded push is accepted.
    push.truncate(limit);
    let a = w.handle(&github("push", "at-limit", &push), 0).await;
    assert_eq!(a.status, 202, "{}", a.body);
}

#[tokio::test]
async fn missing_pipeline_is_502_and_the_delivery_can_be_retried() {
    let w = ingest(ROUTES, vec!["hello"]);
    let a = w.handle(&github("push", "d1", FIXTURE), 0).await;
    assert_eq!(a.status, 502);
    assert_eq!(a.body["pipeline"], "hello");
    assert!(a.body["error"].as_str().unwrap().contains("hello"));
    assert!(
        w.ledger.records.lock().unwrap().is_empty(),
        "claim must be released"
    );
}

#[tokio::test]
async fn deletion_is_ignored() {
    let w = ingest(ROUTES, vec![]);
    let body = include_bytes!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/fixtures/github/push.json"
    ));
    let a = w.handle(&github("push", "d1", body), 0).await;
    assert_eq!(a.status, 202);
    assert!(a.body["ignored"].as_str().unwrap().contains("deleted"));
    assert!(w.starter.starts.lock().unwrap().is_empty());
}

#[tokio::test]
async fn gitlab_token_is_checked() {
    let w = ingest(
        r#"[{"provider":"gitlab","repository":"mike/diaspora","branches":["master"],"pipeline":"dia","source_action":"Source"}]"#,
        vec![],
    );
    let body = include_bytes!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/fixtures/gitlab/push.json"
    ));
    let req = |token: &str| {
        Inbound::new(
            [
                ("X-Gitlab-Event", "Push Hook"),
                ("X-Gitlab-Event-UUID", "u1"),
                ("X-Gitlab-Token", token),
            ],
            body.to_vec(),
        )
    };
    assert_eq!(w.handle(&req("wrong"), 0).await.status, 401);
    let a = w.handle(&req("gl-token"), 0).await;
    assert_eq!(a.status, 202, "{}", a.body);
    assert_eq!(a.body["started"][0]["pipeline"], "dia");
}

#[tokio::test]
async fn no_matching_route_says_so() {
    let w = ingest(
        r#"[{"provider":"github","repository":"elsewhere/*","branches":["*"],"pipeline":"x","source_action":"S"}]"#,
        vec![],
    );
    let a = w.handle(&github("push", "d1", FIXTURE), 0).await;
    assert_eq!(a.status, 202);
    assert!(a.body["ignored"].as_str().unwrap().contains("no route"));
}

#[tokio::test]
async fn a_replay_under_a_new_delivery_id_starts_nothing() {
    let w = ingest(ROUTES, vec![]);
    assert_eq!(
        w.handle(&github("push", "d1", FIXTURE), 0).await.status,
        202
    );
    let replay = w
        .handle(&github("push", "d-forged-new-id", FIXTURE), 0)
        .await;
    assert_eq!(replay.status, 200, "{}", replay.body);
    assert_eq!(replay.body["duplicate"], true);
    assert_eq!(w.starter.starts.lock().unwrap().len(), 1);
}

fn pushed_at(body: &[u8], at: i64) -> Vec<u8> {
    let mut p: Value = serde_json::from_slice(body).unwrap();
    p["repository"]["pushed_at"] = json!(at);
    serde_json::to_vec(&p).unwrap()
}

#[tokio::test]
async fn an_older_push_than_the_newest_started_is_200_and_starts_nothing() {
    let w = ingest(ROUTES, vec![]);
    let new = pushed_at(FIXTURE, 2_000);
    let old = pushed_at(FIXTURE, 1_000);
    assert_eq!(
        w.handle(&github("push", "d-new", &new), 0).await.status,
        202
    );
    let a = w.handle(&github("push", "d-old", &old), 0).await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert!(a.body["stale"].as_str().unwrap().contains("newer push"));
    assert_eq!(w.starter.starts.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn a_throttled_start_is_retried_and_succeeds() {
    let w = ingest(ROUTES, vec![]);
    *w.starter.throttled.lock().unwrap() = 2;
    let a = w.handle(&github("push", "d1", FIXTURE), 0).await;
    assert_eq!(a.status, 202, "{}", a.body);
    assert_eq!(a.body["started"][0]["execution_id"], "exec-1");
    assert!(w.queue.parked.lock().unwrap().is_empty());
}

#[tokio::test]
async fn an_outage_parks_the_push_answers_queued_and_says_no_aws_text() {
    let w = ingest(ROUTES, vec![]);
    *w.starter.throttled.lock().unwrap() = 100;
    let a = w.handle(&github("push", "d1", FIXTURE), 0).await;
    assert_eq!(a.status, 202, "{}", a.body);
    assert_eq!(a.body["queued"], true);
    assert!(!a.body.to_string().contains("arn:"), "{}", a.body);
    assert!(!a.body.to_string().contains("123456789012"), "{}", a.body);
    let parked = w.queue.parked.lock().unwrap().clone();
    assert_eq!(parked.len(), 1);
    // Later, CodePipeline is back: the parked push starts, once.
    *w.starter.throttled.lock().unwrap() = 0;
    assert!(matches!(
        w.start_parked(&parked[0]).await,
        ParkedOutcome::Started(_)
    ));
}

#[tokio::test]
async fn error_answers_carry_the_request_id() {
    let w = ingest(ROUTES, vec!["hello"]);
    let mut req = github("push", "d1", FIXTURE);
    req.request_id = "req-123".into();
    let a = w.handle(&req, 0).await;
    assert_eq!(a.status, 502);
    assert_eq!(a.body["request_id"], "req-123");
}

#[tokio::test]
async fn each_started_execution_is_recorded_with_the_authenticated_pusher() {
    let w = ingest(ROUTES, vec![]);
    let a = w
        .handle(&github("push", "d1", FIXTURE), 1_700_000_000)
        .await;
    assert_eq!(a.status, 202, "{}", a.body);
    let started = w.ledger.started.lock().unwrap();
    assert_eq!(started.len(), 1);
    let s = &started[0];
    assert_eq!(s.pipeline, "hello");
    assert_eq!(s.execution_id, "exec-1");
    assert_eq!(s.git_ref, "refs/heads/master");
    assert_eq!(s.facts.pusher.as_deref(), Some("Codertocat"));
    assert_eq!(s.facts.delivery, "d1");
    assert_eq!(s.facts.received_at, 1_700_000_000);
    assert_eq!(s.commit_id, "6113728f27ae82c7b1a177c8d03f9e96e0adf246");
}

#[tokio::test]
async fn an_execution_that_cannot_be_recorded_fails_the_delivery_so_the_provider_retries() {
    let mut w = ingest(ROUTES, vec![]);
    w.ledger.started_down = true;
    let a = w.handle(&github("push", "d1", FIXTURE), 0).await;
    assert_eq!(a.status, 503, "{}", a.body);
    // The claim is released: the retry is not a duplicate.
    assert!(w.ledger.records.lock().unwrap().is_empty());
}

#[tokio::test]
async fn a_parked_push_is_recorded_when_it_starts_with_the_time_gantry_received_it() {
    let w = ingest(ROUTES, vec![]);
    *w.starter.throttled.lock().unwrap() = 100;
    w.handle(&github("push", "d1", FIXTURE), 1_000).await;
    assert!(w.ledger.started.lock().unwrap().is_empty());
    let parked = w.queue.parked.lock().unwrap().clone();
    *w.starter.throttled.lock().unwrap() = 0;
    let ParkedOutcome::Started(id) = w.start_parked(&parked[0]).await else {
        panic!("not started")
    };
    let started = w.ledger.started.lock().unwrap();
    assert_eq!(started.len(), 1);
    assert_eq!(started[0].execution_id, id);
    assert_eq!(started[0].facts.pusher.as_deref(), Some("Codertocat"));
    // Its place among the ref's pushes is when Gantry received it, not when it started.
    assert_eq!(started[0].facts.received_at, 1_000);
}
