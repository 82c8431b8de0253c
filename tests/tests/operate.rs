//! The `/gantry` slash command end to end: signed slash command requests through the approval
//! function's handler (the URL Slack's interactivity uses), against the AWS emulator (which
//! enforces the template's IAM) and the Slack stand-in. The slower work runs as Lambda would
//! run it: the function invokes itself asynchronously (recorded by the emulator), and the test
//! hands that event to the handler.

use gantry_core::approval::interaction::{Click, SignedRequest, APPROVE};
use gantry_core::clock::now_epoch_seconds;
use gantry_core::operate::confirm::CONFIRM;
use gantry_tests::approval::*;
use gantry_tests::iam::Stack;
use gantry_tests::topic::SubscribedTopic;
use gantry_tests::{emulator_url, http, unique};
use serde_json::{json, Value};
use std::collections::HashMap;

/// A slash command as Slack sends it: a signed form body in a Function URL event.
fn slash_event(w: &World, user: (&str, &str), text: &str, age_seconds: i64) -> Value {
    slash_request(w, user, text, age_seconds).function_url_event()
}

fn slash_request(w: &World, user: (&str, &str), text: &str, age_seconds: i64) -> SignedRequest {
    let body: String = form_urlencoded::Serializer::new(String::new())
        .append_pair("token", "deprecated-verification-token")
        .append_pair("team_id", "T0GANTRY")
        .append_pair("channel_id", "C0ASKED")
        .append_pair("user_id", user.0)
        .append_pair("user_name", user.1)
        .append_pair("command", "/gantry")
        .append_pair("text", text)
        .append_pair("response_url", &w.slack.response_url(&unique("commands")))
        .append_pair("trigger_id", &unique("trigger"))
        .finish();
    SignedRequest::new(body, SIGNING_SECRET, now_epoch_seconds() - age_seconds)
}

/// Types `/gantry text` as `user`; returns the HTTP status and the answer's text.
async fn slash(w: &World, user: (&str, &str), text: &str) -> (u16, String) {
    let (status, body) = answered(w, slash_event(w, user, text, 0)).await;
    if status == 200 {
        assert_eq!(body["response_type"], "ephemeral", "{body}");
    }
    (
        status,
        body["text"].as_str().unwrap_or_default().to_string(),
    )
}

/// The function's answer to a Function URL event: its HTTP status and its body.
async fn answered(w: &World, event: Value) -> (u16, Value) {
    let answer = invoke(w, event).await;
    let status = answer["statusCode"].as_u64().expect("statusCode") as u16;
    let body = serde_json::from_str(answer["body"].as_str().unwrap_or("null")).unwrap_or_default();
    (status, body)
}

/// Registers the function's own name in the emulator (as Lambda names a stack's function), so
/// its asynchronous self-invocations are recorded; returns the name.
async fn own_function(w: &mut World) -> String {
    let name = unique("gantry-shop-ApprovalFunction");
    http::post(
        &format!("{}/_gantry/lambda/functions", emulator_url()),
        &json!({"function": name, "command": ["true"]}),
    )
    .await;
    w.app.operations.later.function = name.clone();
    name
}

/// The events the function sent itself, oldest first.
async fn deferred(function: &str) -> Vec<Value> {
    let v = http::get(&format!(
        "{}/_gantry/lambda/invocations?function={function}",
        emulator_url()
    ))
    .await;
    let all = v
        .as_array()
        .cloned()
        .or_else(|| v["invocations"].as_array().cloned())
        .unwrap_or_default();
    for i in &all {
        assert_eq!(i["invocation_type"], "Event", "asynchronous: {i}");
    }
    all.into_iter().map(|i| i["payload"].clone()).collect()
}

/// Lambda delivers each self-invocation to the function.
async fn run_deferred(w: &World, function: &str) -> Vec<Value> {
    let mut out = Vec::new();
    for event in deferred(function).await {
        out.push(invoke(w, event).await);
    }
    out
}

async fn executions(w: &World) -> Vec<String> {
    aws_sdk_codepipeline::Client::new(&w.sdk)
        .list_pipeline_executions()
        .pipeline_name(&w.pipeline)
        .send()
        .await
        .expect("list executions")
        .pipeline_execution_summaries()
        .iter()
        .filter_map(|s| s.pipeline_execution_id().map(str::to_string))
        .collect()
}

#[tokio::test]
async fn help_and_anything_else_get_a_clear_answer() {
    let w = world(Setup::default()).await;
    let (status, text) = slash(&w, STRANGER, "help").await;
    assert_eq!(status, 200);
    assert!(
        text.contains("/gantry rollback <service> <stage>"),
        "{text}"
    );
    let (_, text) = slash(&w, STRANGER, "launch rockets").await;
    assert!(text.starts_with("Gantry does not know `launch`."), "{text}");
    assert!(text.contains("/gantry status [service]"), "{text}");
    let (_, text) = slash(&w, JANE, "deploy cart abc1234").await;
    assert!(
        text.contains(&format!(
            "does not know the service `cart`. Known services: {}.",
            w.pipeline
        )),
        "{text}"
    );
}

#[tokio::test]
async fn an_unsigned_or_replayed_command_is_refused() {
    let w = world(Setup::default()).await;
    let stale = invoke(&w, slash_event(&w, JANE, "status", 6 * 60)).await;
    assert_eq!(stale["statusCode"], 401);
    // Signed for `status`, sent as a deploy.
    let mut forged = slash_request(&w, JANE, "status", 0);
    forged.body = forged.body.replace(
        "text=status",
        &format!("text=deploy+{}+abc1234", w.pipeline),
    );
    assert_eq!(
        invoke(&w, forged.function_url_event()).await["statusCode"],
        401
    );
}

#[tokio::test]
async fn status_shows_each_stages_live_commit_from_what_the_notifier_saw() {
    let w = world(Setup::default()).await;
    let (_, text) = slash(&w, STRANGER, "status").await;
    assert_eq!(text, "Gantry has seen no execution yet.");

    // The notifier sees the execution reach Prod's approval, on the same table.
    let notifier = notifier_on(&w).await;
    let send = |e: Value| {
        let n = &notifier;
        async move {
            notifier::handle(n, &e, &unique("req"))
                .await
                .expect("notified")
        }
    };
    let ev = |kind: &str, detail: Value, at: i64| {
        pipeline_event(&w.pipeline, &w.execution_id, kind, detail, at)
    };
    let stage = STAGE_CHANGE;
    send(ev(
        "CodePipeline Pipeline Execution State Change",
        json!({"state": "STARTED"}),
        0,
    ))
    .await;
    send(ev(stage, json!({"state": "STARTED", "stage": "Source"}), 0)).await;
    send(ev(
        stage,
        json!({"state": "SUCCEEDED", "stage": "Source"}),
        10,
    ))
    .await;
    send(ev(stage, json!({"state": "STARTED", "stage": "Prod"}), 20)).await;
    send(ev("CodePipeline Action Execution State Change",
        json!({"state": "STARTED", "stage": "Prod", "action": "Approve", "region": "us-east-1",
               "type": {"owner": "AWS", "category": "Approval", "provider": "Manual", "version": "1"}}), 21)).await;

    let (_, text) = slash(&w, STRANGER, &format!("status {}", w.pipeline)).await;
    assert!(text.starts_with(&format!("*{}*", w.pipeline)), "{text}");
    assert!(
        text.contains("• Source: live `6113728` Fix the cart total"),
        "{text}"
    );
    assert!(
        text.contains("• Prod: nothing live yet; now ✋ waiting for approval `6113728`"),
        "{text}"
    );

    send(ev(
        stage,
        json!({"state": "SUCCEEDED", "stage": "Prod"}),
        60,
    ))
    .await;
    let (_, text) = slash(&w, STRANGER, "status").await;
    assert!(
        text.contains("• Prod: live `6113728` Fix the cart total"),
        "{text}"
    );
    assert!(!text.contains("waiting"), "{text}");

    let (_, text) = slash(&w, STRANGER, "status cart").await;
    assert!(text.contains("does not know the service `cart`"), "{text}");
}

const STAGE_CHANGE: &str = "CodePipeline Stage Execution State Change";

/// A CodePipeline event about `execution` as EventBridge delivers it, `at` seconds into the
/// last ten minutes.
fn pipeline_event(pipeline: &str, execution: &str, kind: &str, detail: Value, at: i64) -> Value {
    let mut d = detail;
    d["pipeline"] = json!(pipeline);
    d["execution-id"] = json!(execution);
    d["version"] = json!(1.0);
    json!({"version": "0", "id": unique("ev"), "detail-type": kind, "source": "aws.codepipeline",
           "account": "123456789012", "region": "us-east-1",
           "time": gantry_core::analysis::verdict::utc(now_epoch_seconds() - 600 + at),
           "resources": [format!("arn:aws:codepipeline:us-east-1:123456789012:{pipeline}")],
           "detail": d})
}

/// The notifier sees `execution` start and its stage `stage` reach `state`.
async fn notify_stage(w: &World, execution: &str, stage: &str, state: &str) {
    let notifier = notifier_on(w).await;
    for (kind, detail, at) in [
        (
            "CodePipeline Pipeline Execution State Change",
            json!({"state": "STARTED"}),
            0,
        ),
        (
            STAGE_CHANGE,
            json!({"state": "STARTED", "stage": stage}),
            10,
        ),
        (STAGE_CHANGE, json!({"state": state, "stage": stage}), 20),
    ] {
        let event = pipeline_event(&w.pipeline, execution, kind, detail, at);
        notifier::handle(&notifier, &event, &unique("req"))
            .await
            .expect("notified");
    }
}

/// The notifier as deployed next to the world's approval function (same table).
async fn notifier_on(w: &World) -> notifier::Notifier {
    let topic = SubscribedTopic::new(&w.sdk).await;
    let secret = gantry_tests::aws::table_and_secret(&w.sdk, &json!({"slack_bot_token": "xoxb-n"}))
        .await
        .1;
    let env: HashMap<String, String> = HashMap::from([
        ("GANTRY_SECRETS_ARN".into(), secret.clone()),
        ("GANTRY_TABLE".into(), w.table.clone()),
        ("GANTRY_TOPIC_ARN".into(), topic.arn.clone()),
        (
            "GANTRY_NOTIFY".into(),
            json!({"default_channel": CHANNEL}).to_string(),
        ),
        ("SLACK_API_URL".into(), w.slack.api_url()),
    ]);
    let config = gantry_core::config::NotifierConfig::from_env(&env).expect("config");
    let stack = Stack {
        topic_arn: Some(topic.arn.clone()),
        ..Stack::for_pipeline(&w.pipeline, &w.table, &secret)
    };
    let (own, secrets) = gantry_tests::aws::function_start("notifier", &stack).await;
    let clients = notifier::Clients::new(&own, &config);
    notifier::build(config, &secrets, clients).expect("notifier")
}

#[tokio::test]
async fn a_stranger_may_not_deploy_and_is_told_who_may() {
    let mut w = world(Setup::default()).await;
    let function = own_function(&mut w).await;
    let before = executions(&w).await.len();
    let (status, text) = slash(&w, STRANGER, &format!("deploy {} abc1234", w.pipeline)).await;
    assert_eq!(status, 200);
    assert!(
        text.contains(&format!("You may not deploy *{}*", w.pipeline)),
        "{text}"
    );
    assert!(
        text.contains("<@U0ALLOWED>, <@U0OCTO>, <!subteam^S0RELEASE>"),
        "{text}"
    );
    assert!(deferred(&function).await.is_empty(), "nothing handed over");
    assert_eq!(executions(&w).await.len(), before);
}

#[tokio::test]
async fn an_operator_deploys_a_pushed_commit_once_and_four_eyes_bars_its_pusher_and_writers() {
    let mut w = world(Setup {
        approvers: json!({"Prod": {"users": [JANE.0, OCTO.0, MONA.0], "four_eyes": true}}),
        people: json!({"github:octocat": OCTO.0, "github:mona": MONA.0}),
        ..Setup::default()
    })
    .await;
    let function = own_function(&mut w).await;
    // Prod runs octocat's push; mona pushes a commit of her own on top.
    notify_stage(&w, &w.execution_id, "Prod", "SUCCEEDED").await;
    let commit = "0f3c2b1a9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b";
    push(&w, "mona", &["mona"], commit).await;
    let before = executions(&w).await;

    // Acknowledged at once; nothing started before the acknowledgement. Jane names the commit
    // by its first digits.
    let typed = &commit[..8];
    let (_, text) = slash(&w, JANE, &format!("deploy {} {typed}", w.pipeline)).await;
    assert!(
        text.contains(&format!("Starting *{}* at `{typed}`", w.pipeline)),
        "{text}"
    );
    assert!(text.contains(&format!("<#{CHANNEL}>")), "{text}");
    assert_eq!(executions(&w).await.len(), before.len());
    // The same command again (a double submit).
    slash(&w, JANE, &format!("deploy {} {typed}", w.pipeline)).await;

    let results = run_deferred(&w, &function).await;
    assert_eq!(results.len(), 2, "{results:?}");
    let after = executions(&w).await;
    assert_eq!(
        after.len(),
        before.len() + 1,
        "one execution for a double submit"
    );
    let new = after
        .iter()
        .find(|e| !before.contains(e))
        .expect("the new execution")
        .clone();
    assert_eq!(results[0]["execution_id"], json!(new));
    assert_eq!(results[1]["execution_id"], json!(new));

    let execution = aws_sdk_codepipeline::Client::new(&w.sdk)
        .get_pipeline_execution()
        .pipeline_name(&w.pipeline)
        .pipeline_execution_id(&new)
        .send()
        .await
        .expect("execution");
    let e = execution.pipeline_execution().expect("execution");
    let pinned: Vec<&str> = e
        .artifact_revisions()
        .iter()
        .filter_map(|r| r.revision_id())
        .collect();
    assert!(pinned.contains(&commit), "{pinned:?}");
    let pusher = e
        .variables()
        .iter()
        .find(|v| v.name() == Some("PUSHER"))
        .and_then(|v| v.resolved_value());
    assert_eq!(pusher, Some(JANE.1));

    // The result, in the service's channel, on a message of its own.
    let said = latest_message(&w).await;
    assert_eq!(said["channel"], CHANNEL);
    assert!(said["thread_ts"].is_null());
    let t = said["text"].as_str().unwrap_or_default();
    assert!(
        t.contains(&format!(
            "<@{}> started *{}* at `{commit}`",
            JANE.0, w.pipeline
        )),
        "{t}"
    );

    // Its Prod approval: Jane deployed it and mona pushed and wrote it, so under four-eyes
    // neither may approve; octocat, whose push Prod already runs, may.
    approval_waits(&w, json!({"execution_id": new})).await;
    let out = invoke(&w, execution_action_event(&w, &new, "STARTED")).await;
    let id = out["approval"].as_str().expect("approval id").to_string();
    click(&w, Clicked::new(JANE, APPROVE, &id)).await;
    click(&w, Clicked::new(MONA, APPROVE, &id)).await;
    let replies = private_replies(&w).await;
    assert_eq!(
        replies
            .iter()
            .filter(|r| r.contains("you pushed this change or wrote one of its commits"))
            .count(),
        2,
        "{replies:?}"
    );
    assert!(approvals(&w)
        .await
        .iter()
        .all(|a| a["execution_id"] != json!(new) || a["status"] != "Approved"));
    click(&w, Clicked::new(OCTO, APPROVE, &id)).await;
    let decided: Vec<Value> = approvals(&w).await;
    assert!(
        decided
            .iter()
            .any(|a| a["execution_id"] == json!(new) && a["status"] == "Approved"),
        "{decided:?}"
    );
}

#[tokio::test]
async fn a_commit_gantry_never_saw_pushed_is_not_deployed_and_the_channel_is_told_why() {
    let mut w = world(Setup {
        approvers: json!({"Prod": {"users": [JANE.0, OCTO.0], "four_eyes": true}}),
        ..Setup::default()
    })
    .await;
    let function = own_function(&mut w).await;
    notify_stage(&w, &w.execution_id, "Prod", "SUCCEEDED").await;
    let before = executions(&w).await;
    let never = "0f3c2b1a9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b";
    let (_, text) = slash(&w, JANE, &format!("deploy {} {never}", w.pipeline)).await;
    assert!(text.contains("Starting"), "{text}");
    let results = run_deferred(&w, &function).await;
    assert_eq!(results[0]["deployed"], json!(false), "{results:?}");
    assert_eq!(executions(&w).await, before, "nothing started");
    let said = latest_message(&w).await;
    assert_eq!(said["channel"], CHANNEL);
    let t = said["text"].as_str().unwrap_or_default();
    assert!(
        t.contains("Gantry's webhook never saw that commit pushed")
            && t.contains("four-eyes rule could not tell who wrote it")
            && t.contains("Nothing was started"),
        "{t}"
    );
}

#[tokio::test]
async fn only_a_stages_operators_may_roll_it_back_or_restart_it() {
    let w = world(Setup::default()).await;
    let (_, text) = slash(&w, STRANGER, &format!("rollback {} Prod", w.pipeline)).await;
    assert!(
        text.contains(&format!("You may not roll back *{} › Prod*: only its operators may (<@U0ALLOWED>, <@U0OCTO>, <!subteam^S0RELEASE>)", w.pipeline)),
        "{text}"
    );
    let (_, text) = slash(&w, STRANGER, &format!("restart {} Prod", w.pipeline)).await;
    assert!(text.contains("You may not restart"), "{text}");
    let (_, text) = slash(&w, JANE, &format!("restart {} Dev", w.pipeline)).await;
    assert!(
        text.contains("no stage `Dev`") && text.contains("Stages with operators: Prod."),
        "{text}"
    );
}

/// Runs the self-invocations not run yet (`done` counts those already run).
async fn run_new(w: &World, function: &str, done: &mut usize) -> Vec<Value> {
    let all = deferred(function).await;
    let mut out = Vec::new();
    for event in all.into_iter().skip(*done) {
        *done += 1;
        out.push(invoke(w, event).await);
    }
    out
}

/// `user` clicks the button `action_id` (its value `value`) on the message posted at `ts`;
/// returns the HTTP status and the private answer's text.
async fn press(
    w: &World,
    user: (&str, &str),
    action_id: &str,
    value: &str,
    ts: &str,
) -> (u16, String) {
    let event = Click {
        user_id: user.0,
        username: user.1,
        action_id,
        value,
        channel: CHANNEL,
        message_ts: ts,
        response_url: &w.slack.response_url(&unique("actions")),
        reason: None,
    }
    .signed_request(SIGNING_SECRET, now_epoch_seconds())
    .function_url_event();
    let (status, body) = answered(w, event).await;
    (
        status,
        body["text"].as_str().unwrap_or_default().to_string(),
    )
}

/// `user` clicks Confirm on the proposal `id` posted at `ts`.
async fn confirm(w: &World, user: (&str, &str), id: &str, ts: &str) -> (u16, String) {
    press(w, user, CONFIRM, id, ts).await
}

/// A world whose Prod ran two releases (the first push's commit, then `SECOND`), where Prod is
/// under four-eyes and Jane and Octo operate it; the function's self-invocations recorded.
async fn two_releases(mode: &'static str) -> (World, String, String) {
    let mut w = world(Setup {
        approvers: json!({"Prod": {"users": [JANE.0, OCTO.0], "four_eyes": true}}),
        mode,
        ..Setup::default()
    })
    .await;
    let function = own_function(&mut w).await;
    set_execution(&w, &w.execution_id, "Succeeded").await;
    let second = push(&w, "octocat", &["octocat"], SECOND).await;
    set_execution(&w, &second, "Succeeded").await;
    (w, function, second)
}

const SECOND: &str = "9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b";

/// Jane asks to roll Prod back; the proposal is posted: (its id, its ts, its text).
async fn proposed(w: &World, function: &str, done: &mut usize) -> (String, String, String) {
    let (_, text) = slash(w, JANE, &format!("rollback {} Prod", w.pipeline)).await;
    assert!(
        text.contains("Looking up the last good execution"),
        "{text}"
    );
    run_new(w, function, done).await;
    let proposal = latest_message(w).await;
    assert_eq!(proposal["channel"], CHANNEL);
    let [(action, id)] = &buttons(&proposal)[..] else {
        panic!("one Confirm button: {proposal}")
    };
    assert_eq!(action, CONFIRM);
    let ts = proposal["ts"].as_str().expect("ts").to_string();
    (
        id.clone(),
        ts,
        proposal["text"].as_str().unwrap_or_default().to_string(),
    )
}

async fn execution(w: &World, id: &str) -> Value {
    let out = aws_sdk_codepipeline::Client::new(&w.sdk)
        .get_pipeline_execution()
        .pipeline_name(&w.pipeline)
        .pipeline_execution_id(id)
        .send()
        .await
        .expect("execution");
    let e = out.pipeline_execution().expect("execution");
    json!({
        "type": e.execution_type().map(|t| t.as_str().to_string()),
        "target": e.rollback_metadata().and_then(|m| m.rollback_target_pipeline_execution_id()),
        "revisions": e.artifact_revisions().iter().filter_map(|r| r.revision_id()).collect::<Vec<_>>(),
    })
}

#[tokio::test]
async fn a_confirmed_prod_rollback_needs_a_second_operator_and_happens_once() {
    let (w, function, _second) = two_releases("SUPERSEDED").await;
    let mut done = 0;
    let (id, ts, text) = proposed(&w, &function, &mut done).await;
    assert!(
        text.contains(&format!(
            "<@{}> asks to roll *{} › Prod* back to execution `{}` (commit `6113728`)",
            JANE.0, w.pipeline, w.execution_id
        )),
        "{text}"
    );
    assert!(
        text.contains("Live now") && text.contains("`9a8b7c6`"),
        "{text}"
    );
    assert!(text.contains("another operator (four-eyes)"), "{text}");

    // Jane asked, so she cannot confirm alone; a stranger cannot confirm at all.
    let (status, said) = confirm(&w, JANE, &id, &ts).await;
    assert_eq!(status, 200);
    assert!(
        said.contains("Four-eyes rule: you asked for this"),
        "{said}"
    );
    let (_, said) = confirm(&w, STRANGER, &id, &ts).await;
    assert!(
        said.contains("only the stage's operators may (<@U0ALLOWED>, <@U0OCTO>)"),
        "{said}"
    );
    assert!(
        run_new(&w, &function, &mut done).await.is_empty(),
        "nothing carried out"
    );

    // Octo confirms: the rollback happens, once.
    let before = executions(&w).await.len();
    assert_eq!(confirm(&w, OCTO, &id, &ts).await, (200, String::new()));
    let (_, said) = confirm(&w, OCTO, &id, &ts).await;
    assert!(said.contains("<@U0OCTO> already confirmed this"), "{said}");
    let results = run_new(&w, &function, &mut done).await;
    assert_eq!(results.len(), 1, "{results:?}");
    let rolled = results[0]["execution_id"]
        .as_str()
        .expect("rolled back")
        .to_string();
    assert_eq!(executions(&w).await.len(), before + 1);
    let e = execution(&w, &rolled).await;
    assert_eq!(e["type"], "ROLLBACK");
    assert_eq!(e["target"], json!(w.execution_id));

    // In the proposal's thread, for everyone.
    let said = latest_message(&w).await;
    assert_eq!(said["thread_ts"], json!(ts));
    assert!(
        said["text"]
            .as_str()
            .unwrap_or_default()
            .contains(&format!("⏪ <@{}> confirmed", OCTO.0)),
        "{said}"
    );

    // The notifier's message of the new execution: a rollback Jane asked for from Slack,
    // not a push.
    notify_stage(&w, &rolled, "Prod", "STARTED").await;
    let posted = latest_message(&w).await;
    assert!(posted["thread_ts"].is_null(), "{posted}");
    let shown = posted.to_string();
    assert!(
        shown.contains(&format!("_rolled back from Slack by_ <@{}>", JANE.0)),
        "{shown}"
    );
    assert!(!shown.contains("started by a push"), "{shown}");
}

#[tokio::test]
async fn an_expired_confirm_changes_nothing() {
    let (w, function, _) = two_releases("SUPERSEDED").await;
    let mut done = 0;
    let (id, ts, _) = proposed(&w, &function, &mut done).await;
    // Six minutes pass.
    let dynamodb = aws_sdk_dynamodb::Client::new(&w.sdk);
    let record = item_as_text(&w, &format!("OPERATION#{id}"), "OPERATION").await;
    let mut c: Value = serde_json::from_str(&record["confirmation"]).expect("json");
    c["requested_at"] = json!(c["requested_at"].as_i64().unwrap() - 360);
    dynamodb
        .update_item()
        .table_name(&w.table)
        .key(
            "pk",
            aws_sdk_dynamodb::types::AttributeValue::S(format!("OPERATION#{id}")),
        )
        .key(
            "sk",
            aws_sdk_dynamodb::types::AttributeValue::S("OPERATION".into()),
        )
        .update_expression("SET confirmation = :c")
        .expression_attribute_values(
            ":c",
            aws_sdk_dynamodb::types::AttributeValue::S(c.to_string()),
        )
        .send()
        .await
        .expect("age the proposal");
    let (_, said) = confirm(&w, OCTO, &id, &ts).await;
    assert!(said.contains("This Confirm has expired"), "{said}");
    assert!(run_new(&w, &function, &mut done).await.is_empty());
}

#[tokio::test]
async fn a_rollback_codepipeline_refuses_offers_a_new_execution_at_the_last_good_commit() {
    // CodePipeline does not roll back stages of a PARALLEL pipeline.
    let (w, function, _) = two_releases("PARALLEL").await;
    let mut done = 0;
    let (id, ts, _) = proposed(&w, &function, &mut done).await;
    confirm(&w, OCTO, &id, &ts).await;
    run_new(&w, &function, &mut done).await;
    let fallback = latest_message(&w).await;
    assert_eq!(fallback["thread_ts"], json!(ts));
    let text = fallback["text"].as_str().unwrap_or_default();
    assert!(
        text.contains("CodePipeline cannot roll this stage back") && text.contains("PARALLEL"),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "start *{}* again at the last good commit `6113728`",
            w.pipeline
        )),
        "{text}"
    );
    let [(_, fallback_id)] = &buttons(&fallback)[..] else {
        panic!("one Confirm button: {fallback}")
    };

    let before = executions(&w).await;
    confirm(&w, OCTO, fallback_id, &ts).await;
    run_new(&w, &function, &mut done).await;
    let after = executions(&w).await;
    assert_eq!(after.len(), before.len() + 1);
    let new = after
        .iter()
        .find(|e| !before.contains(e))
        .expect("new execution");
    assert_eq!(execution(&w, new).await["revisions"], json!([FIRST_COMMIT]));
    let said = latest_message(&w).await;
    assert!(
        said["text"]
            .as_str()
            .unwrap_or_default()
            .contains("started again at"),
        "{said}"
    );
}

/// A world whose pipeline's `Deploy` stage is a blue/green shop (ECS services, a listener all on
/// blue, the traffic shifter's action with its `UserParameters`), operated by Jane and Octo
/// (four-eyes when asked); the function's IAM is the template's for that shop, and its
/// self-invocations are recorded.
async fn shop_world(four_eyes: bool) -> (World, gantry_tests::traffic::Shop, String) {
    use gantry_tests::traffic::{Shop, SHIFTER_FUNCTION};
    let mut w = world(Setup::default()).await;
    let shop = Shop::create(&w.sdk, &unique("shop"), 2).await;
    let params = shop.user_parameters(
        "#{BuildVariables.IMAGE_URI}",
        json!("CodeDeployDefault.ECSAllAtOnce"),
    );
    gantry_tests::aws::declare_lambda_action(
        &w.sdk,
        &shop.pipeline,
        "Deploy",
        SHIFTER_FUNCTION,
        &params.to_string(),
    )
    .await;
    let (table, secret) = gantry_tests::aws::table_and_secret(
        &w.sdk,
        &json!({"slack_signing_secret": SIGNING_SECRET, "slack_bot_token": "xoxb-approval-tests"}),
    )
    .await;
    let approvers = json!({ shop.pipeline.clone(): {"Deploy": {"users": [JANE.0, OCTO.0], "four_eyes": four_eyes}} });
    let env: HashMap<String, String> = HashMap::from([
        ("GANTRY_SECRETS_ARN".into(), secret.clone()),
        ("GANTRY_TABLE".into(), table.clone()),
        ("GANTRY_APPROVERS".into(), approvers.to_string()),
        (
            "GANTRY_NOTIFY".into(),
            json!({"default_channel": CHANNEL}).to_string(),
        ),
        ("SLACK_API_URL".into(), w.slack.api_url()),
    ]);
    let config = gantry_core::config::ApprovalConfig::from_env(&env).expect("config");
    let (own, secrets) =
        gantry_tests::aws::function_start("approval", &shop.stack(&table, &secret)).await;
    w.app = approval::build(config, &secrets, approval::Clients::new(&own)).expect("approval");
    w.app.operations.restart_poll = std::time::Duration::ZERO;
    w.table = table;
    w.pipeline = shop.pipeline.clone();
    let function = own_function(&mut w).await;
    (w, shop, function)
}

/// `user` asks to restart the shop's Deploy stage; the self-invocation runs: the message posted.
async fn restart_proposed(
    w: &World,
    function: &str,
    done: &mut usize,
    user: (&str, &str),
) -> Value {
    let (_, text) = slash(w, user, &format!("restart {} Deploy", w.pipeline)).await;
    assert!(text.contains("Looking up what runs live"), "{text}");
    run_new(w, function, done).await;
    latest_message(w).await
}

async fn ecs_service(
    shop: &gantry_tests::traffic::Shop,
    name: &str,
) -> aws_sdk_ecs::types::Service {
    aws_sdk_ecs::Client::new(&shop.sdk)
        .describe_services()
        .cluster(&shop.cluster)
        .services(name)
        .send()
        .await
        .expect("describe")
        .services()[0]
        .clone()
}

fn deployment_ids(s: &aws_sdk_ecs::types::Service) -> Vec<String> {
    s.deployments()
        .iter()
        .filter_map(|d| d.id().map(str::to_string))
        .collect()
}

#[tokio::test]
async fn a_confirmed_restart_redeploys_the_live_side_only_and_reports_it_steady() {
    let (w, shop, function) = shop_world(true).await;
    // Green is live: the restart must touch green, never blue.
    shop.forward_listener_to(&[
        (&shop.blue_target_group, 0),
        (&shop.green_target_group, 100),
    ])
    .await;
    shop.set_desired_count(&shop.green_service, 2).await;
    let blue_before = deployment_ids(&ecs_service(&shop, &shop.blue_service).await);
    let green_before = deployment_ids(&ecs_service(&shop, &shop.green_service).await);

    let (_, text) = slash(&w, STRANGER, &format!("restart {} Deploy", w.pipeline)).await;
    assert!(text.contains("You may not restart"), "{text}");

    let mut done = 0;
    let proposal = restart_proposed(&w, &function, &mut done, JANE).await;
    let text = proposal["text"].as_str().unwrap_or_default().to_string();
    assert!(
        text.contains(&format!("the live ECS service `{}`", shop.green_service))
            && text.contains("Live side: green")
            && text.contains("2 of 2 tasks running"),
        "{text}"
    );
    let [(_, id)] = &buttons(&proposal)[..] else {
        panic!("one Confirm: {proposal}")
    };
    let ts = proposal["ts"].as_str().expect("ts").to_string();

    // Four-eyes: Jane asked, so Jane cannot confirm; Octo can, once.
    let (_, own) = confirm(&w, JANE, id, &ts).await;
    assert!(own.contains("another operator must confirm"), "{own}");
    let (status, _) = confirm(&w, OCTO, id, &ts).await;
    assert_eq!(status, 200);
    let (_, again) = confirm(&w, JANE, id, &ts).await;
    assert!(again.contains("already confirmed"), "{again}");

    run_new(&w, &function, &mut done).await; // UpdateService, then the watch handed over
    let started = latest_message(&w).await;
    assert!(
        message_text(&started).contains("🔄 <@U0OCTO> confirmed"),
        "{started}"
    );
    assert_eq!(started["thread_ts"], ts.as_str());
    let green_after = deployment_ids(&ecs_service(&shop, &shop.green_service).await);
    assert_ne!(green_after, green_before, "a new deployment of green");
    assert_eq!(
        deployment_ids(&ecs_service(&shop, &shop.blue_service).await),
        blue_before,
        "blue untouched"
    );

    run_new(&w, &function, &mut done).await; // the watch
    let end = latest_message(&w).await;
    assert!(
        message_text(&end).contains("is done: 2 new tasks running, steady"),
        "{end}"
    );
    assert_eq!(end["thread_ts"], ts.as_str());
}

#[tokio::test]
async fn a_restart_whose_new_tasks_fail_is_reported_with_the_circuit_breakers_rollback() {
    for (outcome, says) in [
        ("rolled_back", "circuit breaker rolled the service back"),
        (
            "failed",
            "failed: ECS deployment circuit breaker: tasks failed to start",
        ),
    ] {
        let (w, shop, function) = shop_world(false).await;
        let mut done = 0;
        let proposal = restart_proposed(&w, &function, &mut done, JANE).await;
        let [(_, id)] = &buttons(&proposal)[..] else {
            panic!("one Confirm: {proposal}")
        };
        let ts = proposal["ts"].as_str().expect("ts").to_string();
        http::post(
            &format!("{}/_gantry/ecs/deployment-faults", emulator_url()),
            &json!({"cluster": shop.cluster, "service": shop.blue_service, "outcome": outcome}),
        )
        .await;
        // Not four-eyes: the asker may confirm.
        let (status, _) = confirm(&w, JANE, id, &ts).await;
        assert_eq!(status, 200);
        run_new(&w, &function, &mut done).await;
        run_new(&w, &function, &mut done).await;
        let end = latest_message(&w).await;
        assert!(message_text(&end).contains(says), "{outcome}: {end}");
        assert!(message_text(&end).contains(&shop.blue_service), "{end}");
    }
}

#[tokio::test]
async fn no_restart_during_a_traffic_shift_in_the_stage() {
    use gantry_core::traffic::ports::DeploymentStore;
    let (w, shop, function) = shop_world(false).await;
    let mut done = 0;
    // Part-way through a shift, by the listener's weights...
    shop.forward_listener_to(&[
        (&shop.blue_target_group, 70),
        (&shop.green_target_group, 30),
    ])
    .await;
    let said = restart_proposed(&w, &function, &mut done, JANE).await;
    assert!(
        message_text(&said).contains(
            "part-way through a shift (blue 70, green 30): Gantry never restarts during a shift"
        ) && message_text(&said).contains("Nothing was changed"),
        "{said}"
    );
    assert!(buttons(&said).is_empty());
    // ...or by the traffic shifter's open deployment in the stage, weights not moved yet.
    shop.forward_listener_to(&[
        (&shop.blue_target_group, 100),
        (&shop.green_target_group, 0),
    ])
    .await;
    let records = gantry_adapters::dynamodb::DynamoDeployments {
        table: gantry_adapters::dynamodb::StateTable {
            client: aws_sdk_dynamodb::Client::new(&w.sdk),
            name: w.table.clone(),
        },
    };
    let context = gantry_core::traffic::PipelineContext {
        pipeline: w.pipeline.clone(),
        stage: "Deploy".into(),
        action: "Deploy".into(),
        execution_id: "e-shifting".into(),
    };
    records
        .open("d-shifting", Some(&context), "state", now_epoch_seconds())
        .await
        .expect("open deployment");
    let said = restart_proposed(&w, &function, &mut done, JANE).await;
    assert!(
        message_text(&said)
            .contains("a traffic shift is under way in this stage (deployment `d-shifting`)"),
        "{said}"
    );
    assert!(buttons(&said).is_empty());
}

#[tokio::test]
async fn status_says_baking_at_ten_percent_while_a_canary_bakes() {
    let (w, shop, _) = shop_world(false).await;
    // The traffic shifter as deployed next to the approval function: same table.
    let (_, secret) = gantry_tests::aws::table_and_secret(&w.sdk, &json!({})).await;
    let stack = shop.stack(&w.table, &secret);
    let setup = gantry_tests::shifter::Setup {
        sdk: w.sdk.clone(),
        shop,
        table: w.table.clone(),
        env: HashMap::from([
            ("GANTRY_SECRETS_ARN".into(), secret),
            ("GANTRY_TABLE".into(), w.table.clone()),
            (
                "AWS_LAMBDA_FUNCTION_NAME".into(),
                gantry_tests::traffic::SHIFTER_FUNCTION.into(),
            ),
        ]),
        stack,
    };
    let rig = gantry_tests::rig::started(setup).await;
    let first = gantry_tests::rig::start(&rig, gantry_tests::rig::canary(120)).await;
    let execution = rig
        .shop
        .execution_of(first["job_id"].as_str().expect("job id"))
        .await;
    notify_stage(&w, &execution, "Deploy", "STARTED").await;
    let (_, text) = slash(&w, STRANGER, &format!("status {}", w.pipeline)).await;
    assert!(
        text.contains("• Deploy: nothing live yet; now 🔄 deploying"),
        "{text}"
    );

    let running = gantry_tests::rig::running_at_ten(&rig, &first).await;
    let (_, text) = slash(&w, STRANGER, &format!("status {}", w.pipeline)).await;
    running.abort();
    assert!(
        text.contains("• Deploy: nothing live yet; now 🍞 baking at 10%"),
        "{text}"
    );
}

fn message_text(m: &Value) -> String {
    m["text"].as_str().unwrap_or_default().to_string()
}

/// `user` clicks *Roll back to* on the traffic shifter's message about `execution` in Prod.
async fn roll_back_to(w: &World, user: (&str, &str), execution: &str) -> (u16, String) {
    let value = format!("{}|Prod|{execution}", w.pipeline);
    let action = gantry_core::traffic::steps::report::ROLL_BACK_TO_ACTION;
    press(w, user, action, &value, "1767225600.000200").await
}

#[tokio::test]
async fn roll_back_to_on_a_releases_message_runs_the_same_confirmed_rollback() {
    let (w, function, second) = two_releases("SUPERSEDED").await;
    let mut done = 0;
    let (_, said) = roll_back_to(&w, STRANGER, &second).await;
    assert!(said.contains("You may not roll back"), "{said}");
    // The first release's message: no longer live, so nothing is proposed.
    let (_, said) = roll_back_to(&w, JANE, &w.execution_id).await;
    assert!(
        said.contains("Looking up the release before this one"),
        "{said}"
    );
    run_new(&w, &function, &mut done).await;
    let told = latest_message(&w).await;
    assert!(
        message_text(&told).contains("no longer what runs there"),
        "{told}"
    );
    assert!(buttons(&told).is_empty());

    // The live release's message: the proposal with its Confirm, then Octo confirms.
    roll_back_to(&w, JANE, &second).await;
    run_new(&w, &function, &mut done).await;
    let proposal = latest_message(&w).await;
    assert!(
        message_text(&proposal).contains(&format!("back to execution `{}`", w.execution_id)),
        "{proposal}"
    );
    let [(action, id)] = &buttons(&proposal)[..] else {
        panic!("one Confirm: {proposal}")
    };
    assert_eq!(action, CONFIRM);
    let ts = proposal["ts"].as_str().expect("ts").to_string();
    assert_eq!(confirm(&w, OCTO, id, &ts).await, (200, String::new()));
    let results = run_new(&w, &function, &mut done).await;
    let rolled = results[0]["execution_id"]
        .as_str()
        .expect("rolled back")
        .to_string();
    assert_eq!(
        execution(&w, &rolled).await["target"],
        json!(w.execution_id)
    );
}

#[tokio::test]
async fn anyone_sees_the_four_keys_of_a_service_and_of_every_service_after_the_ack() {
    use gantry_adapters::dynamodb::{DynamoDeliveryFacts, StateTable};
    use gantry_core::delivery::{DeliveryHistory, RunKind, RunOutcome, StageRun};
    let mut w = world(Setup::default()).await;
    let function = own_function(&mut w).await;
    // Prod's runs as the notifier records them: two in the last 30 days (one failed), one in
    // the 30 before.
    let facts = DynamoDeliveryFacts::new(StateTable {
        client: aws_sdk_dynamodb::Client::new(&w.sdk),
        name: w.table.clone(),
    });
    let now = now_epoch_seconds();
    for (execution, outcome, days_ago) in [
        ("x1", RunOutcome::Succeeded, 3),
        ("x2", RunOutcome::Failed, 2),
        ("x0", RunOutcome::Succeeded, 40),
    ] {
        facts
            .record_run(&StageRun {
                pipeline: w.pipeline.clone(),
                stage: "Prod".into(),
                execution_id: execution.into(),
                kind: RunKind::Change,
                outcome,
                at_ms: (now - days_ago * 86_400) * 1000,
                commit: Some(format!("{execution}d1d1d1")),
                git_ref: Some("refs/heads/main".into()),
                thread: None,
            })
            .await
            .expect("record a run");
    }
    let expected = format!(
        "Delivery of {}: last 30 days against the 30 before: Prod 2 deployments, 1 failed",
        w.pipeline
    );

    let (status, text) = slash(&w, STRANGER, &format!("stats {}", w.pipeline)).await;
    assert_eq!(status, 200);
    assert_eq!(text, expected);
    let (_, text) = slash(&w, STRANGER, "stats cart").await;
    assert!(
        text.contains("does not know the service `cart`. Known services:"),
        "{text}"
    );
    assert!(deferred(&function).await.is_empty(), "answered at once");

    // Every service: after the acknowledgement, through the command's response_url.
    let (_, text) = slash(&w, STRANGER, "stats").await;
    assert!(text.contains("answers here in a moment"), "{text}");
    run_deferred(&w, &function).await;
    let answers: Vec<Value> = w.slack.calls(Some("response_url")).await;
    let answer = answers.last().expect("answered through response_url");
    assert_eq!(answer["body"]["response_type"], "ephemeral", "{answer}");
    assert!(
        answer["body"]["text"]
            .as_str()
            .is_some_and(|t| t.contains(&expected)),
        "{answer}"
    );
    assert_eq!(answer["response"]["ok"], true, "{answer}");
}
