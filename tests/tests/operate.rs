//! The `/gantry` slash command end to end: signed slash command requests through the approval
//! function's handler (the URL Slack's interactivity uses), against the AWS emulator (which
//! enforces the template's IAM) and the Slack stand-in. The slower work runs as Lambda would
//! run it: the function invokes itself asynchronously (recorded by the emulator), and the test
//! hands that event to the handler.

use gantry_core::approval::interaction::{SignedRequest, APPROVE};
use gantry_core::clock::now_epoch_seconds;
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
    let answer = invoke(w, slash_event(w, user, text, 0)).await;
    let status = answer["statusCode"].as_u64().expect("statusCode") as u16;
    let body: Value =
        serde_json::from_str(answer["body"].as_str().unwrap_or("null")).unwrap_or_default();
    if status == 200 {
        assert_eq!(body["response_type"], "ephemeral", "{body}");
    }
    (
        status,
        body["text"].as_str().unwrap_or_default().to_string(),
    )
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
        let mut d = detail;
        d["pipeline"] = json!(w.pipeline);
        d["execution-id"] = json!(w.execution_id);
        d["version"] = json!(1.0);
        json!({"version": "0", "id": unique("ev"), "detail-type": kind, "source": "aws.codepipeline",
               "account": "123456789012", "region": "us-east-1",
               "time": gantry_core::analysis::verdict::utc(now_epoch_seconds() - 600 + at),
               "resources": [format!("arn:aws:codepipeline:us-east-1:123456789012:{}", w.pipeline)],
               "detail": d})
    };
    let stage = "CodePipeline Stage Execution State Change";
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
async fn an_operator_deploys_once_for_a_double_submit_and_four_eyes_treats_them_as_the_pusher() {
    let mut w = world(Setup {
        approvers: json!({"Prod": {"users": [JANE.0, OCTO.0], "four_eyes": true}}),
        ..Setup::default()
    })
    .await;
    let function = own_function(&mut w).await;
    let before = executions(&w).await;
    let commit = "0f3c2b1a9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b";

    // Acknowledged at once; nothing started before the acknowledgement.
    let (_, text) = slash(&w, JANE, &format!("deploy {} {commit}", w.pipeline)).await;
    assert!(
        text.contains(&format!("Starting *{}* at `{commit}`", w.pipeline)),
        "{text}"
    );
    assert!(text.contains(&format!("<#{CHANNEL}>")), "{text}");
    assert_eq!(executions(&w).await.len(), before.len());
    // The same command again (a double submit).
    slash(&w, JANE, &format!("deploy {} {commit}", w.pipeline)).await;

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

    // Its Prod approval: Jane deployed it, so under four-eyes someone else must approve.
    approval_waits(&w, json!({"execution_id": new})).await;
    let out = invoke(&w, execution_action_event(&w, &new, "STARTED")).await;
    let id = out["approval"].as_str().expect("approval id").to_string();
    click(&w, Clicked::new(JANE, APPROVE, &id)).await;
    let replies = private_replies(&w).await;
    assert!(
        replies.iter().any(|r| r.contains("you pushed this change")),
        "{replies:?}"
    );
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
