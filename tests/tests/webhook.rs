//! The webhook function end to end: real payloads, signed as providers sign them, through the
//! Lambda HTTP adapter, against the AWS emulator.

use base64::Engine;
use gantry_core::config::{ConfigError, WebhookConfig};
use gantry_core::secrets::SecretsError;
use gantry_core::signature::hmac_sha256_hex;
use gantry_tests::aws::{
    create_pipeline, create_secret, function_start_as, recorded_starts, sdk, table_and_secret,
};
use gantry_tests::fuzz::{mutate, Rng};
use gantry_tests::iam::{
    function_key, function_key_edited, refusals, remove_statement, set_leading_keys, Stack,
};
use gantry_tests::{fixture, fixture_json, unique};
use serde_json::{json, Value};
use std::collections::HashMap;

const GITHUB_SECRET: &str = "github-webhook-secret";
const GITLAB_TOKEN: &str = "gitlab-webhook-token";

struct World {
    webhook: webhook::Webhook,
    sdk: aws_config::SdkConfig,
    table: String,
    /// The webhook's retry queue (URL).
    queue: String,
    api: String,
    web: String,
    tags: String,
}

/// A table, a secret, three pipelines and the routes between them.
async fn world() -> World {
    world_also_for(&[]).await
}

/// `world()`, its webhook's role also granted on the `extra` pipelines (stacks of their own).
async fn world_also_for(extra: &[&str]) -> World {
    world_as(extra, None).await
}

/// `world()`, its webhook running as a user holding its role's policies after `edit`.
async fn world_with_role(edit: fn(&mut Value)) -> World {
    world_as(&[], Some(edit)).await
}

async fn world_as(extra: &[&str], edit: Option<fn(&mut Value)>) -> World {
    let sdk = sdk().await;
    let (table, secret) = table_and_secret(
        &sdk,
        &json!({"github_webhook_secrets": ["old-rotated-out", GITHUB_SECRET], "gitlab_webhook_tokens": [GITLAB_TOKEN]}),
    )
    .await;
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let (queue, queue_arn) = gantry_tests::topic::create_queue(&sqs, &unique("gantry-retry")).await;
    let (api, web, tags) = (unique("api"), unique("web"), unique("release"));
    for p in [&api, &web, &tags] {
        create_pipeline(&sdk, p, "Source", &["Build"]).await;
    }
    let routes = json!([
        {"provider": "github", "repository": "Codertocat/*", "branches": ["master"],
         "paths": ["services/api/**"], "ignore_paths": ["docs/**", "**/*.md"], "pipeline": api, "source_action": "Source"},
        {"provider": "github", "repository": "Codertocat/Hello-World", "branches": ["master"],
         "ignore_paths": ["docs/**"], "pipeline": web, "source_action": "Source"},
        {"provider": "gitlab", "repository": "jsmith/example", "tags": ["v*"], "pipeline": tags, "source_action": "Source"},
        {"provider": "gitlab", "repository": "mike/diaspora", "branches": ["master"], "pipeline": web, "source_action": "Source"},
    ]);
    let env: HashMap<String, String> = HashMap::from([
        ("GANTRY_SECRETS_ARN".into(), secret.clone()),
        ("GANTRY_TABLE".into(), table.clone()),
        ("GANTRY_ROUTES".into(), routes.to_string()),
        ("GANTRY_RETRY_QUEUE_URL".into(), queue.clone()),
    ]);
    let config = WebhookConfig::from_env(&env).expect("config");
    // Three routes to three pipelines: the role as three stacks would grant it, one per pipeline.
    let stack = Stack {
        parameters: [api.as_str(), &web, &tags]
            .iter()
            .chain(extra)
            .map(|p| json!({"ServiceName": p}))
            .collect(),
        retry_queue: Some((queue.clone(), queue_arn)),
        ..Stack::for_pipeline(&api, &table, &secret)
    };
    let key = match edit {
        Some(edit) => function_key_edited("webhook", &stack, edit).await,
        None => function_key("webhook", &stack).await,
    };
    let (own, secrets) = function_start_as(key, &stack).await;
    World {
        webhook: {
            let clients = webhook::Clients::new(&own, &config);
            webhook::build(config, &secrets, clients)
        }
        .expect("webhook"),
        sdk,
        table,
        queue,
        api,
        web,
        tags,
    }
}

/// A push to master of Codertocat/Hello-World changing `paths`, built from the real new-branch
/// payload made into an ordinary push (known `before`, not created).
fn push_changing(paths: &[&str], message: &str) -> Vec<u8> {
    let mut p = fixture_json("github/push-with-new-branch.json");
    p["before"] = json!("1111111111111111111111111111111111111111");
    p["created"] = json!(false);
    p["head_commit"]["added"] = json!([]);
    p["head_commit"]["modified"] = json!(paths);
    p["head_commit"]["message"] = json!(message);
    p["commits"] = json!([p["head_commit"].clone()]);
    serde_json::to_vec(&p).expect("json")
}

/// A Lambda Function URL request (payload 2.0) with a base64 body, as AWS delivers it.
fn function_url_request(headers: &[(&str, &str)], body: &[u8]) -> lambda_http::Request {
    let mut event = fixture_json("aws/example-apigw-v2-request-no-authorizer.json");
    event["requestContext"]["http"]["method"] = json!("POST");
    let h: serde_json::Map<String, Value> = headers
        .iter()
        .map(|(k, v)| (k.to_ascii_lowercase(), json!(v)))
        .collect();
    event["headers"] = Value::Object(h);
    event["body"] = json!(base64::engine::general_purpose::STANDARD.encode(body));
    event["isBase64Encoded"] = json!(true);
    lambda_http::request::from_str(&event.to_string()).expect("function url event")
}

/// A push changing one file of the api service.
fn api_push() -> Vec<u8> {
    push_changing(&["services/api/a.rs"], "x")
}

/// GitHub's `X-Hub-Signature-256` of `body` with `secret`.
fn github_signature(body: &[u8], secret: &str) -> String {
    format!("sha256={}", hmac_sha256_hex(secret.as_bytes(), &[body]))
}

fn github_push(delivery: &str, body: &[u8], secret: &str) -> lambda_http::Request {
    let sig = github_signature(body, secret);
    function_url_request(
        &[
            ("X-GitHub-Event", "push"),
            ("X-GitHub-Delivery", delivery),
            ("X-Hub-Signature-256", &sig),
            ("Content-Type", "application/json"),
        ],
        body,
    )
}

/// GitHub's signed push `delivery` of `body`, through the webhook: (status, answer).
async fn push(w: &World, delivery: &str, body: &[u8]) -> (u16, Value) {
    send(w, github_push(delivery, body, GITHUB_SECRET)).await
}

/// `push`, which the webhook must accept (202); returns its answer.
async fn push_accepted(w: &World, delivery: &str, body: &[u8]) -> Value {
    let (status, answer) = push(w, delivery, body).await;
    assert_eq!(status, 202, "{answer}");
    answer
}

/// A push of the api service delivered as `first` starts the routes; the same signed body
/// delivered again as `again` is answered as a duplicate, and each route keeps its one start.
async fn assert_delivered_twice_starts_once(first: &str, again: &str) {
    let w = world().await;
    let body = api_push();
    push_accepted(&w, first, &body).await;
    let (status, answer) = push(&w, again, &body).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["duplicate"], true);
    assert_eq!(recorded_starts(&w.api).await.len(), 1);
    assert_eq!(recorded_starts(&w.web).await.len(), 1);
}

async fn send(w: &World, request: lambda_http::Request) -> (u16, Value) {
    let response = webhook::handle(&w.webhook, request).await;
    let status = response.status().as_u16();
    let body = match response.body() {
        lambda_http::Body::Text(t) => serde_json::from_str(t).expect("json answer"),
        other => panic!("unexpected body {other:?}"),
    };
    (status, body)
}

/// An execution's variables as resolved, by name.
fn variables(exec: &aws_sdk_codepipeline::types::PipelineExecution) -> HashMap<&str, &str> {
    exec.variables()
        .iter()
        .map(|v| (v.name().unwrap_or(""), v.resolved_value().unwrap_or("")))
        .collect()
}

async fn execution(
    w: &World,
    pipeline: &str,
    id: &str,
) -> aws_sdk_codepipeline::types::PipelineExecution {
    aws_sdk_codepipeline::Client::new(&w.sdk)
        .get_pipeline_execution()
        .pipeline_name(pipeline)
        .pipeline_execution_id(id)
        .send()
        .await
        .expect("get execution")
        .pipeline_execution
        .expect("execution")
}

#[tokio::test]
async fn signed_push_starts_the_routed_pipeline_pinned_to_the_commit() {
    let w = world().await;
    let body = push_changing(
        &["services/api/src/cart.rs"],
        "Fix the cart total\n\nDetails",
    );
    let answer = push_accepted(&w, "d-1", &body).await;
    let started = answer["started"].as_array().expect("started");
    let pipelines: Vec<&str> = started
        .iter()
        .map(|s| s["pipeline"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(pipelines, vec![w.api.as_str(), w.web.as_str()]);

    // Read it back through CodePipeline's own API.
    let id = started[0]["execution_id"].as_str().expect("id");
    let exec = execution(&w, &w.api, id).await;
    let vars = variables(&exec);
    assert_eq!(
        vars["COMMIT_ID"],
        "6113728f27ae82c7b1a177c8d03f9e96e0adf246"
    );
    assert_eq!(vars["BRANCH"], "master");
    assert_eq!(vars["REPOSITORY"], "Codertocat/Hello-World");
    assert_eq!(vars["AUTHOR"], "Codertocat");
    assert_eq!(vars["COMMIT_MESSAGE"], "Fix the cart total");
    let revisions = exec.artifact_revisions();
    assert_eq!(revisions.len(), 1);
    assert_eq!(revisions[0].name(), Some("Source"));
    assert_eq!(
        revisions[0].revision_id(),
        Some("6113728f27ae82c7b1a177c8d03f9e96e0adf246")
    );

    let starts = recorded_starts(&w.api).await;
    assert_eq!(starts.len(), 1);
    assert_eq!(starts[0]["sourceRevisions"][0]["revisionType"], "COMMIT_ID");
    assert!(starts[0]["clientRequestToken"]
        .as_str()
        .unwrap_or("")
        .starts_with("gantry-"));
}

#[tokio::test]
async fn redelivery_starts_nothing() {
    assert_delivered_twice_starts_once("d-again", "d-again").await;
}

#[tokio::test]
async fn a_signed_body_replayed_under_a_new_delivery_id_starts_nothing() {
    // The attack: the same signed body (from a proxy log, GitHub's Recent Deliveries), a fresh id.
    assert_delivered_twice_starts_once("d-original", "d-replayed-with-new-id").await;
}

#[tokio::test]
async fn a_docs_only_push_is_skipped_where_the_route_excludes_docs() {
    let w = world().await;
    let body = push_changing(&["docs/setup.md", "docs/img/flow.png"], "Document setup");
    let answer = push_accepted(&w, "d-docs", &body).await;
    assert_eq!(answer["started"], json!([]));
    let skipped = gantry_tests::strings_at(&answer["skipped"], "pipeline");
    assert_eq!(skipped, vec![w.api.as_str(), w.web.as_str()]);
    assert!(recorded_starts(&w.api).await.is_empty());
    assert!(recorded_starts(&w.web).await.is_empty());
}

#[tokio::test]
async fn gitlab_tag_push_routes_to_the_tag_route() {
    let w = world().await;
    let body = fixture("gitlab/tag_push.json");
    let request = function_url_request(
        &[
            ("X-Gitlab-Event", "Tag Push Hook"),
            (
                "X-Gitlab-Event-UUID",
                "11111111-2222-3333-4444-555555555555",
            ),
            ("X-Gitlab-Token", GITLAB_TOKEN),
            ("Content-Type", "application/json"),
        ],
        &body,
    );
    let (status, answer) = send(&w, request).await;
    assert_eq!(status, 202, "{answer}");
    assert_eq!(answer["started"][0]["pipeline"], w.tags.as_str());
    let id = answer["started"][0]["execution_id"].as_str().unwrap();
    let exec = execution(&w, &w.tags, id).await;
    let vars = variables(&exec);
    assert_eq!(vars.get("TAG").copied(), Some("v1.0.0"));
    // The webhook sent no BRANCH for a tag: CodePipeline resolves the declared default.
    assert_eq!(vars.get("BRANCH").copied(), Some("-"));
}

#[tokio::test]
async fn a_bad_signature_changes_nothing() {
    let w = world().await;
    let body = api_push();
    let (status, answer) = send(&w, github_push("d-forged", &body, "guessed-secret")).await;
    assert_eq!(status, 401, "{answer}");
    assert!(recorded_starts(&w.api).await.is_empty());
    // The delivery was not recorded either: the genuine delivery still goes through.
    push_accepted(&w, "d-forged", &body).await;
}

#[tokio::test]
async fn a_missing_pipeline_is_502_and_the_retry_succeeds_once_it_exists() {
    // Route to a pipeline that does not exist yet (its stack's role names it).
    let missing = unique("missing");
    let w = world_also_for(&[&missing]).await;
    let mut webhook = w.webhook;
    webhook.routes = gantry_core::ingest::routing::RouteTable::parse(
        &json!([{"provider": "github", "repository": "Codertocat/Hello-World", "branches": ["master"],
                 "pipeline": missing, "source_action": "Source"}])
        .to_string(),
    )
    .unwrap();
    let w = World { webhook, ..w };
    let body = push_changing(&["a.rs"], "x");
    let (status, answer) = push(&w, "d-retry", &body).await;
    assert_eq!(status, 502, "{answer}");
    assert_eq!(answer["pipeline"], missing.as_str());
    create_pipeline(&w.sdk, &missing, "Source", &["Build"]).await;
    push_accepted(&w, "d-retry", &body).await;
    assert_eq!(recorded_starts(&missing).await.len(), 1);
}

#[tokio::test]
async fn api_gateway_rest_requests_work_too() {
    let w = world().await;
    let body = api_push();
    let sig = github_signature(&body, GITHUB_SECRET);
    let event = json!({
        "resource": "/webhook", "path": "/webhook", "httpMethod": "POST",
        "headers": {"X-GitHub-Event": "push", "X-GitHub-Delivery": "d-rest", "X-Hub-Signature-256": sig, "Content-Type": "application/json"},
        "multiValueHeaders": {"X-GitHub-Event": ["push"], "X-GitHub-Delivery": ["d-rest"], "X-Hub-Signature-256": [sig], "Content-Type": ["application/json"]},
        "queryStringParameters": null, "multiValueQueryStringParameters": null, "pathParameters": null,
        "stageVariables": null,
        "requestContext": {"resourcePath": "/webhook", "httpMethod": "POST", "path": "/prod/webhook", "stage": "prod",
                           "requestId": "r1", "accountId": "123456789012", "apiId": "abc", "identity": {"sourceIp": "1.2.3.4"}},
        "body": String::from_utf8(body).unwrap(), "isBase64Encoded": false
    });
    let request = lambda_http::request::from_str(&event.to_string()).expect("rest event");
    let (status, answer) = send(&w, request).await;
    assert_eq!(status, 202, "{answer}");
    assert_eq!(answer["started"].as_array().unwrap().len(), 2);
}

/// The refusals the emulator recorded for `action` on `resource`.
async fn refused(action: &str, resource: &str) -> usize {
    refusals()
        .await
        .iter()
        .filter(|r| {
            r["action"] == action && r["resource"].as_str().unwrap_or("").ends_with(resource)
        })
        .count()
}

#[tokio::test]
async fn a_role_without_start_pipeline_execution_is_refused_and_nothing_starts() {
    let w = world_with_role(|p| remove_statement(p, "StartTheServicesPipelines")).await;
    let body = api_push();
    let (status, answer) = push(&w, "d-no-grant", &body).await;
    assert_eq!(status, 502, "{answer}");
    assert!(recorded_starts(&w.api).await.is_empty());
    assert!(
        refused(
            "codepipeline:StartPipelineExecution",
            &format!(":{}", w.api)
        )
        .await
            > 0
    );

    // The template's own role starts it.
    let w = world().await;
    push_accepted(&w, "d-granted", &body).await;
    assert_eq!(recorded_starts(&w.api).await.len(), 1);
}

#[tokio::test]
async fn delivery_records_outside_the_roles_leading_keys_are_refused_and_nothing_starts() {
    let w = world_with_role(|p| set_leading_keys(p, "DeliveryRecords", &["EXECUTION#*"])).await;
    let body = api_push();
    let (status, answer) = push(&w, "d-narrow", &body).await;
    assert!(status >= 500, "{status} {answer}");
    assert!(recorded_starts(&w.api).await.is_empty());
}

#[tokio::test]
async fn a_push_names_its_pusher_and_every_commit_author_not_only_the_head_commit() {
    let w = world().await;
    // mona pushes two commits: one by a ghost email with no GitHub account, then one by Codertocat.
    let mut p: Value = serde_json::from_slice(&api_push()).unwrap();
    p["sender"]["login"] = json!("mona");
    let mut ghost = p["head_commit"].clone();
    ghost["id"] = json!("1234567890123456789012345678901234567890");
    ghost["author"] = json!({"name": "ghost@example.invalid", "email": "ghost@example.invalid"});
    p["commits"] = json!([ghost, p["head_commit"].clone()]);
    let body = serde_json::to_vec(&p).unwrap();
    let answer = push_accepted(&w, "d-authors", &body).await;
    let id = answer["started"][0]["execution_id"].as_str().unwrap();
    let exec = execution(&w, &w.api, id).await;
    let vars = variables(&exec);
    // AUTHOR alone (the head commit) would hide the ghost commit and the pusher.
    assert_eq!(vars["AUTHOR"], "Codertocat");
    assert_eq!(vars["PUSHER"], "mona");
    assert_eq!(vars["COMMIT_AUTHORS"], "ghost@example.invalid,Codertocat");
}

/// The state table's item (`pk`, `sk`), if any.
async fn table_item(
    w: &World,
    pk: &str,
    sk: &str,
) -> Option<HashMap<String, aws_sdk_dynamodb::types::AttributeValue>> {
    use aws_sdk_dynamodb::types::AttributeValue;
    aws_sdk_dynamodb::Client::new(&w.sdk)
        .get_item()
        .table_name(&w.table)
        .key("pk", AttributeValue::S(pk.into()))
        .key("sk", AttributeValue::S(sk.into()))
        .send()
        .await
        .expect("get item")
        .item
}

#[tokio::test]
async fn each_started_execution_is_recorded_with_who_pushed_it_for_four_eyes() {
    let w = world().await;
    let mut p: Value = serde_json::from_slice(&api_push()).unwrap();
    p["sender"]["login"] = json!("mona");
    let body = serde_json::to_vec(&p).unwrap();
    let before = gantry_core::clock::now_epoch_seconds();
    let answer = push_accepted(&w, "d-record", &body).await;
    let id = answer["started"][0]["execution_id"].as_str().unwrap();
    let item = table_item(&w, &format!("STARTED#{}#{id}", w.api), "STARTED")
        .await
        .expect("the execution's record");
    let text = |k: &str| item[k].as_s().cloned().unwrap_or_default();
    let number = |k: &str| {
        item[k]
            .as_n()
            .ok()
            .and_then(|n| n.parse::<i64>().ok())
            .unwrap_or(0)
    };
    assert_eq!(text("pusher"), "mona");
    assert_eq!(text("git_ref"), "refs/heads/master");
    assert_eq!(text("delivery"), "d-record");
    assert_eq!(
        text("commit_id"),
        "6113728f27ae82c7b1a177c8d03f9e96e0adf246"
    );
    let received = number("received_at");
    assert!(received >= before, "{received} < {before}");
    // Bounded history: it expires after 90 days.
    assert_eq!(number("expires_at"), received + 90 * 24 * 3600);
    // The same push, in the ref's history ordered by when Gantry received it, to the millisecond
    // (two pushes can arrive in one second).
    let received_ms = number("received_ms");
    assert!(
        (received_ms.div_euclid(1000) - received).abs() <= 1,
        "{received_ms}"
    );
    let sk = format!("{received_ms:015}#{id}");
    let in_history = table_item(&w, &format!("PUSHES#{}#refs/heads/master", w.api), &sk).await;
    assert!(in_history.is_some_and(|i| i["pusher"].as_s().ok().map(String::as_str) == Some("mona")));
}

#[tokio::test]
async fn a_gitlab_push_names_the_authenticated_user_as_pusher() {
    let w = world().await;
    let (status, answer) = send(
        &w,
        gitlab_tag_push(
            "uuid-pusher",
            "key-pusher",
            &fixture("gitlab/tag_push.json"),
        ),
    )
    .await;
    assert_eq!(status, 202, "{answer}");
    let id = answer["started"][0]["execution_id"].as_str().unwrap();
    let exec = execution(&w, &w.tags, id).await;
    let var = |n: &str| {
        exec.variables()
            .iter()
            .find(|v| v.name() == Some(n))
            .and_then(|v| v.resolved_value())
            .map(str::to_string)
    };
    assert_eq!(var("PUSHER").as_deref(), Some("jsmith"));
    assert_eq!(
        var("COMMIT_AUTHORS").as_deref(),
        Some("johnsmith@example.com")
    );
}

/// A GitLab tag push delivery with the given event UUID and idempotency key.
fn gitlab_tag_push(uuid: &str, idempotency_key: &str, body: &[u8]) -> lambda_http::Request {
    function_url_request(
        &[
            ("X-Gitlab-Event", "Tag Push Hook"),
            ("X-Gitlab-Event-UUID", uuid),
            ("Idempotency-Key", idempotency_key),
            ("X-Gitlab-Token", GITLAB_TOKEN),
            ("Content-Type", "application/json"),
        ],
        body,
    )
}

#[tokio::test]
async fn an_empty_gitlab_token_in_the_secret_stops_the_start_naming_the_key() {
    let sdk = sdk().await;
    // The attack an empty token allowed: a request with an empty X-Gitlab-Token header.
    let empty = vec![gantry_core::secrets::SecretString::new("")];
    assert!(gantry_core::signature::verify_gitlab(Some(""), &empty).is_err());
    let secret = create_secret(
        &sdk,
        &unique("gantry-secret"),
        &json!({"github_webhook_secrets": [GITHUB_SECRET], "gitlab_webhook_tokens": [""]}),
    )
    .await;
    let err = gantry_adapters::secretsmanager::fetch_secrets(
        &aws_sdk_secretsmanager::Client::new(&sdk),
        &secret,
    )
    .await
    .expect_err("an empty token must be refused at start");
    let text = err.to_string();
    assert!(text.contains("gitlab_webhook_tokens"), "{text}");
}

/// A signed GitHub push of Codertocat/Hello-World touching the api and the web routes, pushed at
/// `pushed_at` (epoch seconds), with `commit` as its head.
fn push_at(pushed_at: i64, commit: &str) -> Vec<u8> {
    let mut p: Value = serde_json::from_slice(&api_push()).unwrap();
    p["repository"]["pushed_at"] = json!(pushed_at);
    p["head_commit"]["id"] = json!(commit);
    p["after"] = json!(commit);
    p["commits"] = json!([p["head_commit"].clone()]);
    serde_json::to_vec(&p).unwrap()
}

#[tokio::test]
async fn an_older_signed_push_than_the_newest_started_starts_nothing() {
    let w = world().await;
    let newer = push_at(1_700_000_200, "2222222222222222222222222222222222222222");
    let older = push_at(1_700_000_100, "1111111111111111111111111111111111111111");
    push_accepted(&w, "d-newer", &newer).await;
    // The attack: an older signed push (captured earlier, never delivered) would roll Dev back.
    let (status, answer) = push(&w, "d-older", &older).await;
    assert_eq!(status, 200, "{answer}");
    assert!(
        answer["stale"]
            .as_str()
            .unwrap_or("")
            .contains("newer push"),
        "{answer}"
    );
    let starts = recorded_starts(&w.api).await;
    assert_eq!(starts.len(), 1);
    assert_eq!(
        starts[0]["sourceRevisions"][0]["revisionValue"],
        "2222222222222222222222222222222222222222"
    );
    // A genuinely newer push still starts.
    let newest = push_at(1_700_000_300, "3333333333333333333333333333333333333333");
    push_accepted(&w, "d-newest", &newest).await;
    assert_eq!(recorded_starts(&w.api).await.len(), 2);
}

/// GitLab's push of master of mike/diaspora from `before` to `after`, its one commit dated
/// `timestamp` (the committer's clock: GitLab passes it on unchecked).
fn gitlab_branch_push(
    uuid: &str,
    before: &str,
    after: &str,
    timestamp: &str,
) -> lambda_http::Request {
    let mut p = fixture_json("gitlab/push.json");
    let mut commit = p["commits"][1].clone();
    commit["id"] = json!(after);
    commit["timestamp"] = json!(timestamp);
    p["before"] = json!(before);
    p["after"] = json!(after);
    p["checkout_sha"] = json!(after);
    p["commits"] = json!([commit]);
    p["total_commits_count"] = json!(1);
    function_url_request(
        &[
            ("X-Gitlab-Event", "Push Hook"),
            ("X-Gitlab-Event-UUID", uuid),
            ("Idempotency-Key", uuid),
            ("X-Gitlab-Token", GITLAB_TOKEN),
            ("Content-Type", "application/json"),
        ],
        &serde_json::to_vec(&p).unwrap(),
    )
}

#[tokio::test]
async fn a_gitlab_commit_dated_2099_does_not_freeze_the_branch_and_its_revert_starts() {
    let w = world().await;
    let (future, revert) = (
        "2099209920992099209920992099209920992099",
        "4e4e4e4e4e4e4e4e4e4e4e4e4e4e4e4e4e4e4e4e",
    );
    let dated_2099 = gitlab_branch_push(
        "uuid-2099",
        "95790bf891e76fee5e1747ab589903a6a1f80f22",
        future,
        "2099-01-01T00:00:00+00:00",
    );
    let (status, answer) = send(&w, dated_2099).await;
    assert_eq!(status, 202, "{answer}");
    // The revert, pushed after it with an honest clock, must deploy: nothing in a commit may
    // make a later push look older.
    let (status, answer) = send(
        &w,
        gitlab_branch_push("uuid-revert", future, revert, "2026-01-02T03:04:05+00:00"),
    )
    .await;
    assert_eq!(status, 202, "{answer}");
    assert!(answer.get("stale").is_none(), "{answer}");
    let starts = recorded_starts(&w.web).await;
    let revisions: Vec<&str> = starts
        .iter()
        .map(|s| {
            s["sourceRevisions"][0]["revisionValue"]
                .as_str()
                .unwrap_or("")
        })
        .collect();
    assert_eq!(revisions, [future, revert]);
}

#[tokio::test]
async fn a_gitlab_retry_with_the_same_idempotency_key_and_a_new_event_uuid_starts_once() {
    let w = world().await;
    let body = fixture("gitlab/tag_push.json");
    let (status, answer) = send(&w, gitlab_tag_push("uuid-first", "idem-1", &body)).await;
    assert_eq!(status, 202, "{answer}");
    // GitLab's retry: X-Gitlab-Event-UUID is new, Idempotency-Key and the body are the same.
    let (status, answer) = send(&w, gitlab_tag_push("uuid-second", "idem-1", &body)).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["duplicate"], true);
    assert_eq!(recorded_starts(&w.tags).await.len(), 1);
}

/// The next `count` StartPipelineExecution calls for `pipeline` fail with `error`.
async fn fail_starts(pipeline: &str, error: &str, count: u32) {
    gantry_tests::http::post(
        &format!(
            "{}/_gantry/codepipeline/start-faults",
            gantry_tests::emulator_url()
        ),
        &json!({"pipeline": pipeline, "error": error, "count": count}),
    )
    .await;
}

#[tokio::test]
async fn a_throttled_start_is_retried_within_the_request_and_starts_once() {
    let w = world().await;
    fail_starts(&w.api, "ThrottlingException", 3).await;
    let body = api_push();
    let began = std::time::Instant::now();
    let answer = push_accepted(&w, "d-throttled", &body).await;
    assert!(
        began.elapsed() < std::time::Duration::from_secs(10),
        "GitHub waits 10 s"
    );
    assert!(answer.get("queued").is_none(), "{answer}");
    // One execution: a retry of an attempt that timed out on a loaded machine is an idempotent
    // repeat (same token), which the emulator records as a duplicate.
    let starts: Vec<_> = recorded_starts(&w.api)
        .await
        .into_iter()
        .filter(|s| s["duplicate"] != true)
        .collect();
    assert_eq!(starts.len(), 1);
    assert_eq!(
        answer["started"][0]["execution_id"],
        starts[0]["execution_id"]
    );
}

#[tokio::test]
async fn an_outage_queues_the_verified_push_and_the_queue_starts_it_exactly_once() {
    let w = world().await;
    fail_starts(&w.api, "ServiceUnavailableException", 1000).await;
    let body = api_push();
    let (status, answer) = push(&w, "d-outage", &body).await;
    // Not lost, not 5xx: recorded in the queue.
    assert_eq!(status, 202, "{answer}");
    assert_eq!(answer["queued"], true, "{answer}");
    assert_eq!(answer["queued_starts"][0]["pipeline"], w.api.as_str());
    let text = answer.to_string();
    assert!(
        !text.contains("arn:") && !text.contains("123456789012"),
        "{text}"
    );
    assert!(recorded_starts(&w.api).await.is_empty());
    assert_eq!(
        recorded_starts(&w.web).await.len(),
        1,
        "the healthy pipeline started at once"
    );

    // CodePipeline is back; the event source delivers the parked push, then (at-least-once) again.
    fail_starts(&w.api, "ServiceUnavailableException", 0).await;
    let event = gantry_tests::aws::queued_as_sqs_event(&w.sdk, &w.queue).await;
    assert_eq!(event["Records"].as_array().unwrap().len(), 1, "{event}");
    for _ in 0..2 {
        let out = webhook::handle_event(&w.webhook, event.clone(), "req-sqs").await;
        assert_eq!(out["batchItemFailures"], json!([]), "{out}");
    }
    let starts = recorded_starts(&w.api).await;
    let executions: std::collections::BTreeSet<&str> = starts
        .iter()
        .filter_map(|s| s["execution_id"].as_str())
        .collect();
    assert_eq!(executions.len(), 1, "exactly one execution: {starts:?}");
    assert_eq!(
        starts[0]["sourceRevisions"][0]["revisionValue"],
        "6113728f27ae82c7b1a177c8d03f9e96e0adf246"
    );
}

#[tokio::test]
async fn a_parked_push_still_failing_stays_on_the_queue() {
    let w = world().await;
    fail_starts(&w.api, "ServiceUnavailableException", 1000).await;
    let body = api_push();
    push_accepted(&w, "d-long-outage", &body).await;
    let event = gantry_tests::aws::queued_as_sqs_event(&w.sdk, &w.queue).await;
    let out = webhook::handle_event(&w.webhook, event.clone(), "req-sqs").await;
    assert_eq!(
        out["batchItemFailures"][0]["itemIdentifier"],
        event["Records"][0]["messageId"]
    );
    assert!(recorded_starts(&w.api).await.is_empty());
}

#[tokio::test]
async fn an_outage_with_nowhere_to_park_is_503_with_a_request_id_and_the_retry_starts_it() {
    let w = world().await;
    let w = World {
        webhook: webhook::Webhook {
            queue: gantry_adapters::sqs::RetryQueueOption::None,
            ..w.webhook
        },
        ..w
    };
    fail_starts(&w.api, "InternalServerException", 1000).await;
    let body = api_push();
    let (status, answer) = push(&w, "d-nowhere", &body).await;
    assert_eq!(status, 503, "{answer}");
    assert!(answer.get("request_id").is_some(), "{answer}");
    let text = answer.to_string();
    assert!(
        !text.contains("arn:") && !text.contains("123456789012") && !text.contains("Exception"),
        "{text}"
    );
    // Nothing was recorded: GitLab's or GitHub's redelivery goes through once CodePipeline is back.
    fail_starts(&w.api, "InternalServerException", 0).await;
    push_accepted(&w, "d-nowhere", &body).await;
    assert_eq!(recorded_starts(&w.api).await.len(), 1);
}

#[tokio::test]
async fn the_webhook_binary_answers_http_and_sqs_events_through_one_handler() {
    let w = world().await;
    let body = api_push();
    let sig = github_signature(&body, GITHUB_SECRET);
    let mut event = fixture_json("aws/example-apigw-v2-request-no-authorizer.json");
    event["requestContext"]["http"]["method"] = json!("POST");
    event["headers"] = json!({"x-github-event": "push", "x-github-delivery": "d-any", "x-hub-signature-256": sig, "content-type": "application/json"});
    event["body"] = json!(String::from_utf8(body).unwrap());
    event["isBase64Encoded"] = json!(false);
    let out = webhook::handle_event(&w.webhook, event, "req-http").await;
    assert_eq!(out["statusCode"], 202, "{out}");
    let answer: Value = serde_json::from_str(out["body"].as_str().unwrap()).unwrap();
    assert_eq!(answer["started"].as_array().unwrap().len(), 2);
    // Garbage is answered, not a crash.
    let out = webhook::handle_event(&w.webhook, json!({"hello": 1}), "req-garbage").await;
    assert_eq!(out["statusCode"], 400, "{out}");
    assert_eq!(
        serde_json::from_str::<Value>(out["body"].as_str().unwrap()).unwrap()["request_id"],
        "req-garbage"
    );
}

/// Sends `n` signed mutations of `original` through one warm webhook; checks every answer.
async fn fuzz(
    w: &World,
    n: usize,
    seed: u64,
    original: &Value,
    request: impl Fn(usize, &[u8]) -> lambda_http::Request,
) {
    let mut rng = Rng(seed);
    let mut reported = 0;
    for i in 0..n {
        let body = mutate(&mut rng, original);
        let (status, answer) = send(w, request(i, &body)).await;
        assert!(
            status < 500,
            "signed mutation {i} answered {status}: {answer}"
        );
        if status == 202 {
            reported += answer["started"].as_array().map_or(0, Vec::len);
        }
    }
    // Nothing started that an answer did not report: garbage started nothing.
    let mut recorded = 0;
    for p in [&w.api, &w.web, &w.tags] {
        recorded += recorded_starts(p)
            .await
            .iter()
            .filter(|s| s["duplicate"] != true)
            .count();
    }
    assert_eq!(recorded, reported, "starts recorded vs reported");
}

#[tokio::test]
async fn two_hundred_signed_mutations_of_a_github_push_are_all_answered_without_a_5xx() {
    let w = world().await;
    let original: Value = serde_json::from_slice(&api_push()).unwrap();
    fuzz(&w, 200, 0x5eed_0001, &original, |i, body| {
        github_push(&format!("fuzz-{i}"), body, GITHUB_SECRET)
    })
    .await;
}

#[tokio::test]
async fn two_hundred_signed_mutations_of_a_gitlab_push_are_all_answered_without_a_5xx() {
    let w = world().await;
    let original = fixture_json("gitlab/tag_push.json");
    fuzz(&w, 200, 0x5eed_0002, &original, |i, body| {
        gitlab_tag_push(&format!("uuid-{i}"), &format!("key-{i}"), body)
    })
    .await;
}

/// The webhook's environment for a start through `configure`, naming `secret`.
fn start_env(secret: &str) -> HashMap<String, String> {
    HashMap::from([
        ("GANTRY_SECRETS_ARN".to_string(), secret.to_string()),
        ("GANTRY_TABLE".to_string(), unique("gantry")),
        (
            "GANTRY_ROUTES".to_string(),
            json!([{"provider": "github", "repository": "Codertocat/Hello-World", "branches": ["release/*"], "source_action": "Source",
                    "ignore_paths": ["docs/**"], "pipeline": "shop"}])
            .to_string(),
        ),
    ])
}

/// A function's start (`configure`): the configuration is read and the clients built while the
/// secret is read, a blip of Secrets Manager is retried by the SDK, and the webhook starts with
/// the real secret.
#[tokio::test]
async fn a_start_survives_a_secrets_manager_blip_and_reads_its_configuration_meanwhile() {
    let sdk = sdk().await;
    let secret = create_secret(
        &sdk,
        &unique("gantry-secret"),
        &json!({"github_webhook_secrets": [GITHUB_SECRET]}),
    )
    .await;
    gantry_tests::http::post(
        &format!("{}/_gantry/faults", gantry_tests::emulator_url()),
        &json!({"operation": "GetSecretValue", "count": 1, "match": secret}),
    )
    .await;
    let main_thread = std::thread::current().id();
    let (config, secrets, (clients, built_on)) = gantry_adapters::lambda::configure(
        &sdk,
        start_env(&secret),
        WebhookConfig::from_env,
        |sdk, config: &WebhookConfig| {
            (
                webhook::Clients::new(sdk, config),
                std::thread::current().id(),
            )
        },
    )
    .await
    .expect("the start goes on after one 503");
    assert_ne!(built_on, main_thread, "built beside the read");
    assert_eq!(config.routes.routes().len(), 1);
    assert_eq!(secrets.github_webhook_secrets.len(), 1);
    webhook::build(config, &secrets, clients).expect("the webhook starts");
    let served =
        gantry_tests::http::get(&format!("{}/_gantry/faults", gantry_tests::emulator_url())).await;
    assert_eq!(served["GetSecretValue"], json!(1), "{served}");
}

/// A secret that cannot be read stops the start, naming the secret; a configuration that does not
/// parse is reported first, naming the variable, since it is the one to fix first.
#[tokio::test]
async fn a_start_stops_on_an_unreadable_secret_or_a_bad_configuration_naming_it() {
    let sdk = sdk().await;
    let missing = format!(
        "arn:aws:secretsmanager:us-east-1:123456789012:secret:{}",
        unique("nowhere")
    );
    let configure =
        |env| gantry_adapters::lambda::configure(&sdk, env, WebhookConfig::from_env, |_, _| ());
    let err = configure(start_env(&missing))
        .await
        .expect_err("no such secret");
    assert!(err.downcast_ref::<SecretsError>().is_some(), "{err}");
    assert!(err.to_string().contains(&missing), "{err}");

    let mut bad = start_env(&missing);
    bad.insert(
        "GANTRY_ROUTES".into(),
        r#"[{"provider": "github", "repository": "a/b", "branches": ["[z-a]"], "pipeline": "p", "source_action": "Source"}]"#.into(),
    );
    let err = configure(bad)
        .await
        .expect_err("a glob that does not compile");
    assert!(err.downcast_ref::<ConfigError>().is_some(), "{err}");
    assert!(err.to_string().contains("GANTRY_ROUTES"), "{err}");
}
