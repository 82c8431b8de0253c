//! The approval function's world for end-to-end tests and the benchmark: a pipeline whose Prod
//! stage holds a manual approval, an execution of a commit, the state table, the secret, the
//! Slack stand-in with users and a user group, and the function built from its environment;
//! plus the events AWS and Slack send it.

use crate::aws::{
    aws_action_type, create_declared_pipeline, function_start, one_action_stage,
    pipeline_from_source, sdk, table_and_secret,
};
pub use crate::slack::buttons;
use crate::slack::SlackNs;
use crate::{emulator_url, fixture_json, http, unique};
use gantry_core::approval::interaction::{Click, APPROVE, REJECT};
use gantry_core::clock::now_epoch_seconds;
use gantry_core::config::ApprovalConfig;
use serde_json::{json, Value};
use std::collections::HashMap;

pub const SIGNING_SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";
pub const CHANNEL: &str = "C0DEPLOYS";
/// The approval action's `CustomData` as the pipeline declares it, with a pipeline variable...
pub const CUSTOM_DATA_DECLARED: &str =
    "Check the canary dashboard of #{variables.BRANCH} before approving.";
/// ...and as CodePipeline resolves it for the test execution (on `main`).
pub const CUSTOM_DATA: &str = "Check the canary dashboard of main before approving.";
pub const REVIEW_URL: &str = "https://grafana.example.com/d/shop";

/// Slack users of the tests (ids as Slack makes them).
pub const JANE: (&str, &str) = ("U0ALLOWED", "jane");
pub const OCTO: (&str, &str) = ("U0OCTO", "octo");
pub const MEMBER: (&str, &str) = ("U0MEMBER", "mia");
pub const STRANGER: (&str, &str) = ("U0STRANGER", "sam");
pub const MONA: (&str, &str) = ("U0MONA", "mona");
pub const LEE: (&str, &str) = ("U0LEE", "lee");
pub const KIM: (&str, &str) = ("U0KIM", "kim");

/// The GitHub webhook secret of the worlds' webhook.
pub const GITHUB_SECRET: &str = "approval-tests-webhook-secret";
/// The commit the world's first push runs.
pub const FIRST_COMMIT: &str = "6113728f27ae82c7b1a177c8d03f9e96e0adf246";

pub struct World {
    pub app: approval::App,
    /// Gantry's webhook, routing `octo-org/shop`'s `main` to the pipeline.
    pub webhook: webhook::Webhook,
    pub sdk: aws_config::SdkConfig,
    pub slack: SlackNs,
    pub table: String,
    pub pipeline: String,
    pub execution_id: String,
}

pub struct Setup {
    pub approvers: Value,
    /// The head commit's author (`AUTHOR`).
    pub author: &'static str,
    /// The account the provider authenticated for the push (`PUSHER`); empty: not set.
    pub pusher: &'static str,
    /// Every commit's author (`COMMIT_AUTHORS`); empty: the head commit's author alone.
    pub commit_authors: &'static str,
    /// `GANTRY_PEOPLE`; `null`: not set.
    pub people: Value,
    pub notify: Value,
    /// The pipeline's execution mode (`SUPERSEDED`, `QUEUED`, `PARALLEL`).
    pub mode: &'static str,
    /// Whether the execution is started by a push through Gantry's webhook (when it has a
    /// pusher), or by a direct `StartPipelineExecution` setting the variables (the console's
    /// *Release change* with overrides).
    pub via_webhook: bool,
}

impl Default for Setup {
    fn default() -> Self {
        Setup {
            approvers: json!({"Prod": {"users": [JANE.0, OCTO.0], "groups": ["S0RELEASE"]}}),
            author: "octocat",
            pusher: "octocat",
            commit_authors: "",
            people: json!({"github:octocat": OCTO.0}),
            notify: json!({"default_channel": CHANNEL}),
            mode: "SUPERSEDED",
            via_webhook: true,
        }
    }
}

/// A pipeline `Source → Prod` whose Prod stage holds a manual approval `Approve` with a custom
/// message and a review URL, one execution of a commit by `setup.author`, the state table, the
/// secret and the function built from the environment it would get in Lambda.
pub async fn world(setup: Setup) -> World {
    let sdk = sdk().await;
    let (table, secret) = table_and_secret(
        &sdk,
        &json!({"slack_signing_secret": SIGNING_SECRET, "slack_bot_token": "xoxb-approval-tests",
                "github_webhook_secrets": [GITHUB_SECRET]}),
    )
    .await;
    let pipeline = unique("shop");
    create_approval_pipeline(&sdk, &pipeline, setup.mode).await;
    let commit_authors = match setup.commit_authors {
        "" => setup.author,
        all => all,
    };
    let stack = crate::iam::Stack::for_pipeline(&pipeline, &table, &secret);
    let webhook = webhook_of(&pipeline, &table, &secret, &stack).await;
    let execution_id = if setup.via_webhook && !setup.pusher.is_empty() {
        let authors: Vec<&str> = commit_authors.split(',').collect();
        push_through(&webhook, setup.pusher, &authors, setup.author, FIRST_COMMIT).await
    } else {
        start_push(&sdk, &pipeline, setup.author, setup.pusher, commit_authors).await
    };
    let slack = SlackNs::new();
    slack
        .configure(json!({
            "users": [
                {"id": JANE.0, "name": JANE.1, "email": "jane@example.com"},
                {"id": OCTO.0, "name": OCTO.1, "email": "octocat@example.com"},
                {"id": MEMBER.0, "name": MEMBER.1, "email": "mia@example.com"},
                {"id": STRANGER.0, "name": STRANGER.1, "email": "sam@example.com"},
                {"id": MONA.0, "name": MONA.1, "email": "mona@example.com"},
                {"id": LEE.0, "name": LEE.1, "email": "lee@example.com"},
                {"id": KIM.0, "name": KIM.1, "email": "kim@example.com"},
            ],
            "usergroups": {"S0RELEASE": [MEMBER.0]},
        }))
        .await;
    let mut approvers = serde_json::Map::new();
    approvers.insert(pipeline.clone(), setup.approvers);
    let mut env: HashMap<String, String> = HashMap::from([
        ("GANTRY_SECRETS_ARN".into(), secret.clone()),
        ("GANTRY_TABLE".into(), table.clone()),
        (
            "GANTRY_APPROVERS".into(),
            Value::Object(approvers).to_string(),
        ),
        ("GANTRY_NOTIFY".into(), setup.notify.to_string()),
        ("SLACK_API_URL".into(), slack.api_url()),
    ]);
    if !setup.people.is_null() {
        env.insert("GANTRY_PEOPLE".into(), setup.people.to_string());
    }
    let config = ApprovalConfig::from_env(&env).expect("config");
    let (own, secrets) = function_start("approval", &stack).await;
    World {
        app: approval::build(config, &secrets, approval::Clients::new(&own)).expect("approval"),
        webhook,
        sdk,
        slack,
        table,
        pipeline,
        execution_id,
    }
}

/// Gantry's webhook as deployed for `pipeline`: `octo-org/shop`'s `main` starts it.
async fn webhook_of(
    pipeline: &str,
    table: &str,
    secret: &str,
    stack: &crate::iam::Stack,
) -> webhook::Webhook {
    let routes = json!([{"provider": "github", "repository": "octo-org/shop", "branches": ["main"],
                         "pipeline": pipeline, "source_action": "Source"}]);
    let env: HashMap<String, String> = HashMap::from([
        ("GANTRY_SECRETS_ARN".into(), secret.to_string()),
        ("GANTRY_TABLE".into(), table.to_string()),
        ("GANTRY_ROUTES".into(), routes.to_string()),
    ]);
    let config = gantry_core::config::WebhookConfig::from_env(&env).expect("webhook config");
    let (own, secrets) = function_start("webhook", stack).await;
    let clients = webhook::Clients::new(&own, &config);
    webhook::build(config, &secrets, clients).expect("webhook")
}

/// `pusher` pushes `commit` to `main` through Gantry's webhook (a signed GitHub push whose
/// commits `authors` wrote, the head commit by `head_author`); returns the execution started.
pub async fn push(w: &World, pusher: &str, authors: &[&str], commit: &str) -> String {
    let head = authors.last().copied().unwrap_or(pusher);
    push_through(&w.webhook, pusher, authors, head, commit).await
}

async fn push_through(
    webhook: &webhook::Webhook,
    pusher: &str,
    authors: &[&str],
    head_author: &str,
    commit: &str,
) -> String {
    let author = |who: &str, id: String| {
        let (username, email) = match who.contains('@') {
            true => (Value::Null, who.to_string()),
            false => (json!(who), format!("{who}@users.noreply.github.com")),
        };
        json!({"id": id, "tree_id": id, "distinct": true, "message": "Fix the cart total",
               "timestamp": "2026-03-01T14:05:00Z", "url": format!("https://github.com/octo-org/shop/commit/{id}"),
               "author": {"name": who, "email": email, "username": username},
               "committer": {"name": who, "email": email, "username": username},
               "added": [], "removed": [], "modified": ["src/cart.rs"]})
    };
    let mut commits: Vec<Value> = authors
        .iter()
        .filter(|a| **a != head_author)
        .enumerate()
        .map(|(i, a)| author(a, format!("{:0>40}", format!("{i}{}", &commit[..8]))))
        .collect();
    let head = author(head_author, commit.to_string());
    commits.push(head.clone());
    let mut p = crate::fixture_json("github/push-with-new-branch.json");
    p["ref"] = json!("refs/heads/main");
    p["before"] = json!("1111111111111111111111111111111111111111");
    p["after"] = json!(commit);
    p["created"] = json!(false);
    p["forced"] = json!(false);
    p["repository"]["full_name"] = json!("octo-org/shop");
    p["repository"]["pushed_at"] = json!(now_epoch_seconds());
    p["sender"]["login"] = json!(pusher);
    p["pusher"] = json!({"name": pusher, "email": format!("{pusher}@users.noreply.github.com")});
    p["commits"] = json!(commits);
    p["head_commit"] = head;
    let body = serde_json::to_vec(&p).expect("json");
    let signature = format!(
        "sha256={}",
        gantry_core::signature::hmac_sha256_hex(GITHUB_SECRET.as_bytes(), &[&body])
    );
    let delivery = unique("delivery");
    let request = gantry_core::ingest::Inbound::new(
        [
            ("X-GitHub-Event", "push"),
            ("X-GitHub-Delivery", delivery.as_str()),
            ("X-Hub-Signature-256", signature.as_str()),
            ("Content-Type", "application/json"),
        ],
        body,
    );
    let answer = webhook.handle(&request, now_epoch_seconds()).await;
    assert_eq!(answer.status, 202, "{}", answer.body);
    answer.body["started"][0]["execution_id"]
        .as_str()
        .expect("started")
        .to_string()
}

/// Sets an execution's status in the emulator (`Failed`, `Succeeded`, …).
pub async fn set_execution(w: &World, execution_id: &str, status: &str) {
    http::post(
        &format!(
            "{}/_gantry/codepipeline/executions/{}/{execution_id}",
            emulator_url(),
            w.pipeline
        ),
        &json!({"status": status}),
    )
    .await;
}

pub async fn create_approval_pipeline(sdk: &aws_config::SdkConfig, name: &str, mode: &str) {
    use aws_sdk_codepipeline::types::{ActionCategory, ActionDeclaration, ExecutionMode};
    let approval = ActionDeclaration::builder()
        .name("Approve")
        .action_type_id(aws_action_type(ActionCategory::Approval, "Manual"))
        .configuration("CustomData", CUSTOM_DATA_DECLARED)
        .configuration("ExternalEntityLink", REVIEW_URL)
        .build()
        .expect("approval");
    let declaration = pipeline_from_source(name, "Source")
        .await
        .execution_mode(ExecutionMode::from(mode))
        .stages(one_action_stage("Prod", approval));
    create_declared_pipeline(sdk, declaration).await;
}

/// A world of `setup` whose approval waits and was requested in Slack: (world, request id).
pub async fn requested(setup: Setup) -> (World, String) {
    let w = world(setup).await;
    approval_waits(&w, json!({})).await;
    let id = request_posted(&w).await;
    (w, id)
}

/// Someone approves the waiting approval `seeded` in the console, with `summary`.
pub async fn approve_in_console(w: &World, seeded: &Value, summary: &str) {
    use aws_sdk_codepipeline::types::{ApprovalResult, ApprovalStatus};
    aws_sdk_codepipeline::Client::new(&w.sdk)
        .put_approval_result()
        .pipeline_name(&w.pipeline)
        .stage_name("Prod")
        .action_name("Approve")
        .token(seeded["token"].as_str().expect("token"))
        .result(
            ApprovalResult::builder()
                .status(ApprovalStatus::Approved)
                .summary(summary)
                .build()
                .expect("result"),
        )
        .send()
        .await
        .expect("approve in the console");
}

/// An execution started as the webhook starts them: pinned to a commit, with its variables.
pub async fn start_execution(sdk: &aws_config::SdkConfig, pipeline: &str, author: &str) -> String {
    start_push(sdk, pipeline, author, "", author).await
}

/// As `start_execution`, with the pusher (`PUSHER`, left unset when empty) and every commit's
/// author (`COMMIT_AUTHORS`) the webhook records.
pub async fn start_push(
    sdk: &aws_config::SdkConfig,
    pipeline: &str,
    author: &str,
    pusher: &str,
    commit_authors: &str,
) -> String {
    use aws_sdk_codepipeline::types::PipelineVariable;
    let var = |n: &str, v: &str| {
        PipelineVariable::builder()
            .name(n)
            .value(v)
            .build()
            .expect("variable")
    };
    let mut start = aws_sdk_codepipeline::Client::new(sdk)
        .start_pipeline_execution()
        .name(pipeline)
        .variables(var("COMMIT_ID", "6113728f27ae82c7b1a177c8d03f9e96e0adf246"))
        .variables(var("COMMIT_MESSAGE", "Fix the cart total"))
        .variables(var("AUTHOR", author))
        .variables(var("BRANCH", "main"))
        .variables(var("REPOSITORY", "octo-org/shop"))
        .variables(var("COMMIT_AUTHORS", commit_authors));
    if !pusher.is_empty() {
        start = start.variables(var("PUSHER", pusher));
    }
    start
        .send()
        .await
        .expect("start execution")
        .pipeline_execution_id()
        .expect("execution id")
        .to_string()
}

/// Makes the emulator's Prod approval wait (a new token each time); returns its record.
pub async fn approval_waits(w: &World, extra: Value) -> Value {
    let mut body = json!({"pipeline": w.pipeline, "stage": "Prod", "action": "Approve", "execution_id": w.execution_id});
    if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
        b.extend(e.clone());
    }
    http::post(
        &format!("{}/_gantry/codepipeline/approvals", emulator_url()),
        &body,
    )
    .await
}

/// The emulator's approvals of the pipeline, oldest first.
pub async fn approvals(w: &World) -> Vec<Value> {
    let v = http::get(&format!(
        "{}/_gantry/codepipeline/approvals?pipeline={}",
        emulator_url(),
        w.pipeline
    ))
    .await;
    v.get("approvals")
        .or(Some(&v))
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

/// CodePipeline's EventBridge event for the Prod approval action.
pub fn action_event(w: &World, state: &str) -> Value {
    execution_action_event(w, &w.execution_id, state)
}

/// The same, for the approval action of another execution (PARALLEL mode).
pub fn execution_action_event(w: &World, execution_id: &str, state: &str) -> Value {
    let mut e = fixture_json("aws/example-codepipeline-action-execution-stage-change-event.json");
    e["detail"]["pipeline"] = json!(w.pipeline);
    e["detail"]["execution-id"] = json!(execution_id);
    e["detail"]["stage"] = json!("Prod");
    e["detail"]["action"] = json!("Approve");
    e["detail"]["state"] = json!(state);
    e["detail"]["type"] =
        json!({"owner": "AWS", "category": "Approval", "provider": "Manual", "version": "1"});
    e["time"] = json!(now_rfc3339());
    e
}

pub fn now_rfc3339() -> String {
    // `2026-03-01 14:05 UTC` → `2026-03-01T14:05Z`: the minute precision CodePipeline uses.
    gantry_core::clock::format_utc(now_epoch_seconds())
        .replace(' ', "T")
        .replace("TUTC", "Z")
}

/// The approval action's SNS notification, as CodePipeline publishes it.
pub fn sns_event(w: &World, token: &str, expires: &str) -> Value {
    let message = json!({
        "region": "us-east-1",
        "consoleLink": format!("https://console.aws.amazon.com/codepipeline/home?region=us-east-1#/view/{}", w.pipeline),
        "approval": {
            "pipelineName": w.pipeline, "stageName": "Prod", "actionName": "Approve",
            "token": token, "expires": expires,
            "externalEntityLink": REVIEW_URL,
            "approvalReviewLink": format!("https://console.aws.amazon.com/codepipeline/home?region=us-east-1#/view/{}/Prod/Approve/approve/{token}", w.pipeline),
            "customData": CUSTOM_DATA,
        }
    });
    let mut e = fixture_json("aws/example-sns-event.json");
    e["Records"][0]["Sns"]["Subject"] = json!("APPROVAL NEEDED: AWS CodePipeline");
    e["Records"][0]["Sns"]["Message"] = json!(message.to_string());
    e
}

pub async fn invoke(w: &World, event: Value) -> Value {
    approval::handle(&w.app, event).await.expect("handled")
}

/// Posts the request through the EventBridge event; returns the approval id its buttons carry.
pub async fn request_posted(w: &World) -> String {
    let out = invoke(w, action_event(w, "STARTED")).await;
    assert_eq!(out["posted"], true, "{out}");
    let id = out["approval"].as_str().expect("approval id").to_string();
    assert_eq!(
        buttons(&latest_message(w).await),
        vec![(APPROVE.into(), id.clone()), (REJECT.into(), id.clone())]
    );
    id
}

pub async fn latest_message(w: &World) -> Value {
    w.slack
        .messages()
        .await
        .last()
        .cloned()
        .expect("a message was posted")
}

/// A Slack click as Slack sends it: signed form body in a Function URL event.
pub struct Clicked<'a> {
    pub user: (&'a str, &'a str),
    pub action_id: &'a str,
    pub value: &'a str,
    pub reason: Option<&'a str>,
    pub secret: &'a str,
    pub age_seconds: i64,
    pub retry: Option<&'a str>,
}

impl<'a> Clicked<'a> {
    pub fn new(user: (&'a str, &'a str), action_id: &'a str, value: &'a str) -> Self {
        Clicked {
            user,
            action_id,
            value,
            reason: None,
            secret: SIGNING_SECRET,
            age_seconds: 0,
            retry: None,
        }
    }
}

pub async fn click(w: &World, c: Clicked<'_>) -> (u16, Value) {
    let event = click_event(w, &c, &unique("click"));
    let answer = invoke(w, event).await;
    let status = answer["statusCode"].as_u64().expect("statusCode") as u16;
    let body = answer["body"].as_str().unwrap_or_default();
    let body = if body.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(body).expect("json body")
    };
    (status, body)
}

/// `click`, which Slack must see answered 200 (it shows anything else as an error); returns
/// the answer's body.
pub async fn click_answered(w: &World, c: Clicked<'_>) -> Value {
    let (status, body) = click(w, c).await;
    assert_eq!(status, 200);
    body
}

pub fn click_event(w: &World, c: &Clicked<'_>, response_path: &str) -> Value {
    let mut request = Click {
        user_id: c.user.0,
        username: c.user.1,
        action_id: c.action_id,
        value: c.value,
        channel: CHANNEL,
        message_ts: "1700000000.000100",
        response_url: &w.slack.response_url(response_path),
        reason: c.reason,
    }
    .signed_request(c.secret, now_epoch_seconds() - c.age_seconds);
    if let Some(n) = c.retry {
        request.headers.push(("x-slack-retry-num", n.to_string()));
        request
            .headers
            .push(("x-slack-retry-reason", "http_timeout".to_string()));
    }
    request.function_url_event()
}

/// The private replies sent through the clicks' response URLs.
pub async fn private_replies(w: &World) -> Vec<String> {
    w.slack
        .calls(Some("response_url"))
        .await
        .iter()
        .filter(|c| c["body"]["response_type"] == "ephemeral")
        .map(|c| c["body"]["text"].as_str().unwrap_or_default().to_string())
        .collect()
}

/// The approval request's record (`APPROVAL#<id>`), its string and number attributes as text.
pub async fn record(w: &World, id: &str) -> HashMap<String, String> {
    item_as_text(w, &format!("APPROVAL#{id}"), "APPROVAL").await
}

/// The state table's item (`pk`, `sk`), its string and number attributes as text.
pub async fn item_as_text(w: &World, pk: &str, sk: &str) -> HashMap<String, String> {
    use aws_sdk_dynamodb::types::AttributeValue;
    let out = aws_sdk_dynamodb::Client::new(&w.sdk)
        .get_item()
        .table_name(&w.table)
        .key("pk", AttributeValue::S(pk.into()))
        .key("sk", AttributeValue::S(sk.into()))
        .send()
        .await
        .expect("get item");
    out.item()
        .unwrap_or_else(|| panic!("no item {pk}"))
        .iter()
        .filter_map(|(k, v)| {
            let text = v.as_s().cloned().or_else(|_| v.as_n().cloned()).ok()?;
            Some((k.clone(), text))
        })
        .collect()
}

pub fn text_of(message: &Value) -> String {
    message["blocks"].to_string()
}
