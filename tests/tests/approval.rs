//! The approval function end to end: CodePipeline's approval events in, a Slack request out;
//! Slack's signed button clicks in, `PutApprovalResult` out. Against the AWS emulator (which
//! holds approvals with tokens and checks `PutApprovalResult`) and the Slack stand-in, through
//! the Lambda handler with the JSON events AWS delivers.

use gantry_core::approval::interaction::{sign, APPROVE, PROMOTE, REJECT, ROLLBACK};
use gantry_core::clock::now_epoch_seconds;
use gantry_tests::approval::*;
use gantry_tests::fuzz::{form_value, mutate, Rng};
use gantry_tests::{fixture_json, unique};
use serde_json::{json, Value};
use std::collections::HashMap;

#[tokio::test]
async fn an_allowed_user_approves_and_the_message_shows_who_and_when() {
    let w = world(Setup::default()).await;
    let seeded = approval_waits(&w, json!({})).await;
    let id = request_posted(&w).await;

    let posted = latest_message(&w).await;
    assert_eq!(posted["channel"], CHANNEL);
    let shown = text_of(&posted);
    for expected in [
        format!("Approval needed: {} › Prod", w.pipeline),
        "`6113728` Fix the cart total (main)".into(),
        "octocat".into(),
        CUSTOM_DATA.into(),
        format!("<{REVIEW_URL}>"),
        "<@U0ALLOWED>, <@U0OCTO>, <!subteam^S0RELEASE>".into(),
        "Expires".into(),
    ] {
        assert!(shown.contains(&expected), "{expected} missing from {shown}");
    }

    click_answered(&w, Clicked::new(JANE, APPROVE, &id)).await;

    let decided = &approvals(&w).await[0];
    assert_eq!(decided["status"], "Approved");
    assert_eq!(decided["summary"], "Approved by @jane via Slack");
    assert_eq!(decided["put_attempts"], 1);

    let message = latest_message(&w).await;
    assert_eq!(message["versions"], 2, "updated once");
    assert!(buttons(&message).is_empty(), "the buttons are gone");
    assert!(
        text_of(&message).contains("✅ *Approved* by <@U0ALLOWED> <!date^"),
        "{}",
        text_of(&message)
    );
    assert!(private_replies(&w).await.is_empty());

    // The audit trail.
    let r = record(&w, &id).await;
    assert_eq!(r["status"], "approved");
    assert_eq!(r["decided_by"], JANE.0);
    assert_eq!(r["decided_by_name"], JANE.1);
    assert!(r["decided_at"].parse::<i64>().expect("decided_at") >= now_epoch_seconds() - 60);

    // The token went to CodePipeline only: no Slack call ever carried it.
    let token = seeded["token"].as_str().expect("token");
    for call in w.slack.calls(None).await {
        assert!(!call.to_string().contains(token), "token leaked in {call}");
    }
}

/// The default setup, its pipeline in PARALLEL execution mode.
fn parallel() -> Setup {
    Setup {
        mode: "PARALLEL",
        ..Setup::default()
    }
}

/// In a world whose approval was requested, `user` clicks `action` giving `reason` (the
/// comment in Slack's modal), which decides the approval: CodePipeline holds `status` with the
/// summary "`decided_by` via Slack: `reason`", the message shows the reason and the audit
/// record keeps it. Returns the world.
async fn assert_decided_giving(
    user: (&str, &str),
    action: &str,
    reason: &str,
    status: &str,
    decided_by: &str,
) -> World {
    let (w, id) = requested(Setup::default()).await;
    let mut c = Clicked::new(user, action, &id);
    c.reason = Some(reason);
    click_answered(&w, c).await;
    let decided = &approvals(&w).await[0];
    assert_eq!(decided["status"], status);
    assert_eq!(
        decided["summary"],
        format!("{decided_by} via Slack: {reason}")
    );
    let shown = text_of(&latest_message(&w).await);
    assert!(shown.contains(reason), "{shown}");
    assert_eq!(record(&w, &id).await["reason"], reason);
    w
}

#[tokio::test]
async fn a_rejection_carries_the_reason_to_codepipeline_and_the_message() {
    let reason = "p99 latency is up 40% on the canary";
    let w = assert_decided_giving(OCTO, REJECT, reason, "Rejected", "Rejected by @octo").await;
    let shown = text_of(&latest_message(&w).await);
    assert!(shown.contains("❌ *Rejected* by <@U0OCTO>"), "{shown}");
}

#[tokio::test]
async fn a_response_url_outside_slack_is_never_called_and_the_answer_says_it_instead() {
    let (w, id) = requested(Setup::default()).await;
    // A signed click whose response_url points elsewhere (here: another port on this host,
    // another origin than SLACK_API_URL's): Gantry must not post there.
    let elsewhere = gantry_tests::http::Trap::new().await;
    let response_url = format!("{}/actions/T0/1/abc", elsewhere.origin);
    let event = gantry_core::approval::interaction::Click {
        user_id: STRANGER.0,
        username: STRANGER.1,
        action_id: APPROVE,
        value: &id,
        channel: CHANNEL,
        message_ts: "1700000000.000100",
        response_url: &response_url,
        reason: None,
    }
    .signed_request(SIGNING_SECRET, now_epoch_seconds())
    .function_url_event();
    let answer = invoke(&w, event).await;
    assert_eq!(answer["statusCode"], 200, "{answer}");
    // The refusal still reaches the clicker: in the answer to Slack's request.
    let body: Value = serde_json::from_str(answer["body"].as_str().unwrap_or("{}")).unwrap();
    assert!(
        body["text"]
            .as_str()
            .unwrap_or("")
            .contains("not one of the approvers"),
        "{body}"
    );
    assert_eq!(elsewhere.hits(), 0, "nothing was sent outside Slack");
    assert_eq!(approvals(&w).await[0]["status"], "InProgress");
}

#[tokio::test]
async fn an_approval_keeps_its_comment_as_the_console_does() {
    let reason = "checked the canary dashboards";
    assert_decided_giving(JANE, APPROVE, reason, "Approved", "Approved by @jane").await;
}

#[tokio::test]
async fn someone_who_may_not_approve_is_told_why_privately_and_nothing_changes() {
    let (w, id) = requested(Setup::default()).await;

    let (status, _) = click(&w, Clicked::new(STRANGER, APPROVE, &id)).await;
    assert_eq!(status, 200, "Slack shows anything but 200 as an error");

    assert_eq!(approvals(&w).await[0]["status"], "InProgress");
    assert_eq!(approvals(&w).await[0]["put_attempts"], 0);
    let replies = private_replies(&w).await;
    assert_eq!(replies.len(), 1, "{replies:?}");
    assert!(
        replies[0].contains("not one of the approvers"),
        "{}",
        replies[0]
    );
    assert!(replies[0].contains("<@U0ALLOWED>"), "{}", replies[0]);
    let message = latest_message(&w).await;
    assert_eq!(message["versions"], 1, "the request is untouched");
    assert_eq!(record(&w, &id).await["status"], "waiting");
}

#[tokio::test]
async fn a_member_of_an_approver_group_may_approve_and_membership_is_cached() {
    let (w, id) = requested(Setup::default()).await;

    // A non-member first: refused, and the group is read once.
    click(&w, Clicked::new(STRANGER, APPROVE, &id)).await;
    click_answered(&w, Clicked::new(MEMBER, APPROVE, &id)).await;

    assert_eq!(
        approvals(&w).await[0]["summary"],
        "Approved by @mia via Slack"
    );
    let lists = w.slack.calls(Some("usergroups.users.list")).await;
    assert_eq!(lists.len(), 1, "the second click used the cache");
    // Read as Slack reads it: a JSON body here is answered invalid_arguments, nobody a member.
    assert_eq!(lists[0]["response"]["ok"], true, "{:#}", lists[0]);
    assert!(lists[0]["headers"]["content-type"].is_null(), "a GET query");
}

#[tokio::test]
async fn four_eyes_stops_the_commit_author_mapped_by_table_or_by_email() {
    // By the `authors` table (the webhook records the GitHub username).
    let (w, id) = requested(Setup {
        approvers: json!({"Prod": {"users": [JANE.0, OCTO.0], "four_eyes": true, "authors": {"octocat": OCTO.0}}}),
        ..Setup::default()
    })
    .await;
    assert!(text_of(&latest_message(&w).await).contains("*Pushed by*\\noctocat"));

    click(&w, Clicked::new(OCTO, APPROVE, &id)).await;
    assert_eq!(approvals(&w).await[0]["status"], "InProgress");
    let replies = private_replies(&w).await;
    assert!(replies[0].contains("you pushed this change"), "{replies:?}");

    // The author may still stop their own change; here someone else approves it.
    click(&w, Clicked::new(JANE, APPROVE, &id)).await;
    assert_eq!(approvals(&w).await[0]["status"], "Approved");

    // By email (users.lookupByEmail).
    let (w, id) = requested(Setup {
        approvers: json!({"Prod": {"users": [JANE.0], "four_eyes": true}}),
        author: "jane@example.com",
        ..Setup::default()
    })
    .await;
    click(&w, Clicked::new(JANE, APPROVE, &id)).await;
    assert_eq!(approvals(&w).await[0]["status"], "InProgress");
    assert!(private_replies(&w).await[0].contains("wrote one of its commits"));
    let lookups = w.slack.calls(Some("users.lookupByEmail")).await;
    assert_eq!(
        lookups[0]["response"]["user"]["id"], JANE.0,
        "{:#}",
        lookups[0]
    );
    assert!(
        lookups[0]["headers"]["content-type"].is_null(),
        "a GET query"
    );
    click_answered(&w, Clicked::new(JANE, REJECT, &id)).await;
    assert_eq!(
        approvals(&w).await[0]["status"],
        "Rejected",
        "the author may reject their own change"
    );
}

#[tokio::test]
async fn mona_who_pushes_under_a_fake_commit_author_may_not_approve_her_own_change() {
    // The attack: mona, a listed approver, commits as ghost@example.invalid and pushes. GitHub
    // sends no username for the unlinked email; the webhook records her login as PUSHER.
    let (w, id) = requested(Setup {
        approvers: json!({"Prod": {"users": [JANE.0, MONA.0], "four_eyes": true}}),
        author: "ghost@example.invalid",
        pusher: "mona",
        commit_authors: "ghost@example.invalid",
        people: json!({"github:mona": MONA.0}),
        ..Setup::default()
    })
    .await;

    click(&w, Clicked::new(MONA, APPROVE, &id)).await;
    assert_eq!(approvals(&w).await[0]["status"], "InProgress");
    let replies = private_replies(&w).await;
    assert!(replies[0].contains("you pushed this change"), "{replies:?}");
    // Slack was asked about the fake author, and found nobody: that cleared no one.
    let lookups = w.slack.calls(Some("users.lookupByEmail")).await;
    assert_eq!(lookups[0]["response"]["ok"], false, "{:#}", lookups[0]);

    click(&w, Clicked::new(JANE, APPROVE, &id)).await;
    assert_eq!(approvals(&w).await[0]["status"], "Approved");
}

#[tokio::test]
async fn an_unmapped_pusher_lets_nobody_approve_and_the_request_says_how_to_map_them() {
    let (w, id) = requested(Setup {
        approvers: json!({"Prod": {"users": [JANE.0, OCTO.0], "four_eyes": true}}),
        pusher: "mona",
        people: Value::Null,
        ..Setup::default()
    })
    .await;
    let shown = text_of(&latest_message(&w).await);
    assert!(
        shown.contains("nobody may approve it from Slack"),
        "{shown}"
    );
    assert!(shown.contains("github:mona"), "{shown}");
    assert!(shown.contains("GANTRY_PEOPLE"), "{shown}");

    for who in [JANE, OCTO] {
        click(&w, Clicked::new(who, APPROVE, &id)).await;
    }
    assert_eq!(approvals(&w).await[0]["status"], "InProgress");
    let replies = private_replies(&w).await;
    assert_eq!(replies.len(), 2);
    assert!(
        replies.iter().all(|r| r.contains("GANTRY_PEOPLE")),
        "{replies:?}"
    );
    // Stopping the change needs nobody's identity.
    click(&w, Clicked::new(JANE, REJECT, &id)).await;
    assert_eq!(approvals(&w).await[0]["status"], "Rejected");
}

#[tokio::test]
async fn a_colleague_named_as_one_commits_author_among_several_is_barred() {
    let (w, id) = requested(Setup {
        approvers: json!({"Prod": {"users": [JANE.0], "groups": ["S0RELEASE"], "four_eyes": true}}),
        author: "dependabot[bot]",
        commit_authors: "octocat,jane@example.com,dependabot[bot]",
        ..Setup::default()
    })
    .await;
    click(&w, Clicked::new(JANE, APPROVE, &id)).await;
    assert_eq!(approvals(&w).await[0]["status"], "InProgress");
    let replies = private_replies(&w).await;
    assert!(
        replies[0].contains("wrote one of its commits"),
        "{replies:?}"
    );
    // Someone the push does not name may.
    click(&w, Clicked::new(MEMBER, APPROVE, &id)).await;
    assert_eq!(approvals(&w).await[0]["status"], "Approved");
}

/// Posts the request of `execution`'s Prod approval; returns (approval id, message text).
async fn requested_for(w: &World, execution: &str) -> (String, String) {
    approval_waits(w, json!({"execution_id": execution})).await;
    let out = invoke(w, execution_action_event(w, execution, "STARTED")).await;
    assert_eq!(out["posted"], true, "{out}");
    let id = out["approval"].as_str().expect("approval id").to_string();
    (id, text_of(&latest_message(w).await))
}

fn status_of(approvals: &[Value], execution: &str) -> Value {
    approvals
        .iter()
        .rev()
        .find(|a| a["execution_id"] == execution)
        .map(|a| a["status"].clone())
        .unwrap_or_default()
}

#[tokio::test]
async fn four_eyes_covers_every_push_since_prod_last_succeeded() {
    // mona pushes A; its execution fails before Prod, so prod never runs A.
    let w = world(Setup {
        approvers: json!({"Prod": {"users": [JANE.0, MONA.0, LEE.0], "four_eyes": true}}),
        author: "mona",
        pusher: "mona",
        people: json!({"github:mona": MONA.0, "github:lee": LEE.0, "github:kim": KIM.0}),
        ..Setup::default()
    })
    .await;
    set_execution(&w, &w.execution_id, "Failed").await;
    // lee pushes C on top: approving C sends prod A as well.
    let c = push(
        &w,
        "lee",
        &["lee"],
        "cccccccc27ae82c7b1a177c8d03f9e96e0adf246",
    )
    .await;
    let (id, shown) = requested_for(&w, &c).await;
    assert!(shown.contains("*Pushed by*\\nmona, lee"), "{shown}");
    assert!(shown.contains("pushes by mona, lee"), "{shown}");

    for who in [MONA, LEE] {
        click(&w, Clicked::new(who, APPROVE, &id)).await;
    }
    assert_eq!(status_of(&approvals(&w).await, &c), "InProgress");
    let replies = private_replies(&w).await;
    assert_eq!(replies.len(), 2, "{replies:?}");
    assert!(
        replies.iter().all(|r| r.contains("you pushed this change")),
        "{replies:?}"
    );
    click_answered(&w, Clicked::new(JANE, APPROVE, &id)).await;
    assert_eq!(status_of(&approvals(&w).await, &c), "Approved");

    // Prod now runs C: kim's next push is kim's change alone, and mona may approve it.
    let d = push(
        &w,
        "kim",
        &["kim"],
        "dddddddd27ae82c7b1a177c8d03f9e96e0adf246",
    )
    .await;
    let (id, shown) = requested_for(&w, &d).await;
    assert!(shown.contains("*Pushed by*\\nkim"), "{shown}");
    assert!(!shown.contains("mona, "), "{shown}");
    click_answered(&w, Clicked::new(MONA, APPROVE, &id)).await;
    assert_eq!(status_of(&approvals(&w).await, &d), "Approved");
    assert_eq!(private_replies(&w).await.len(), 2, "mona was not refused");
}

#[tokio::test]
async fn an_execution_the_webhook_did_not_start_cannot_be_approved_from_slack() {
    // Someone starts an execution with PUSHER=lee themselves (the console's Release change with
    // a variable override): the variable names lee, but Gantry's webhook never saw the push.
    let (w, id) = requested(Setup {
        approvers: json!({"Prod": {"users": [JANE.0, OCTO.0], "four_eyes": true}}),
        author: "lee",
        pusher: "lee",
        people: json!({"github:lee": LEE.0, "github:octocat": OCTO.0}),
        via_webhook: false,
        ..Setup::default()
    })
    .await;
    let shown = text_of(&latest_message(&w).await);
    assert!(shown.contains("not started by Gantry's webhook"), "{shown}");
    assert!(
        shown.contains("nobody may approve it from Slack"),
        "{shown}"
    );
    assert!(shown.contains("CodePipeline console"), "{shown}");
    assert!(shown.contains("push the commit"), "{shown}");

    for who in [JANE, OCTO] {
        click(&w, Clicked::new(who, APPROVE, &id)).await;
    }
    assert_eq!(approvals(&w).await[0]["status"], "InProgress");
    let replies = private_replies(&w).await;
    assert_eq!(replies.len(), 2);
    assert!(
        replies
            .iter()
            .all(|r| r.contains("webhook did not start this execution")),
        "{replies:?}"
    );
    // Stopping it needs nobody's identity.
    click_answered(&w, Clicked::new(JANE, REJECT, &id)).await;
    assert_eq!(approvals(&w).await[0]["status"], "Rejected");
}

#[tokio::test]
async fn a_double_click_and_a_slack_retry_decide_once() {
    let (w, id) = requested(Setup::default()).await;

    // Two clicks at once (a double click, and a colleague's).
    let (a, b) = tokio::join!(
        click(&w, Clicked::new(JANE, APPROVE, &id)),
        click(&w, Clicked::new(OCTO, APPROVE, &id)),
    );
    assert_eq!((a.0, b.0), (200, 200));
    // Slack resending the first click.
    let mut resent = Clicked::new(JANE, APPROVE, &id);
    resent.retry = Some("1");
    click_answered(&w, resent).await;
    // And one more click, later.
    click(&w, Clicked::new(JANE, APPROVE, &id)).await;

    let decided = &approvals(&w).await[0];
    assert_eq!(
        decided["put_attempts"], 1,
        "decided once: one PutApprovalResult call"
    );
    assert_eq!(decided["status"], "Approved");
    let r = record(&w, &id).await;
    assert_eq!(r["status"], "approved");
    assert_eq!(
        decided["summary"],
        format!("Approved by @{} via Slack", r["decided_by_name"])
    );
    let replies = private_replies(&w).await;
    // One each for the losing click and the late click; the retry says nothing.
    assert_eq!(replies.len(), 2, "{replies:?}");
    assert!(
        replies.iter().all(|t| !t.contains("did not answer")),
        "{replies:?}"
    );
    assert!(
        replies.iter().any(|t| t.contains("Already approved by")),
        "the late click is told: {replies:?}"
    );
    let message = latest_message(&w).await;
    assert!(buttons(&message).is_empty());
    assert!(text_of(&message).contains("✅ *Approved* by"));
}

#[tokio::test]
async fn a_click_on_a_superseded_request_says_so_and_decides_nothing() {
    let (w, id) = requested(Setup::default()).await;
    // The stage is retried: a newer approval (new token) waits; the old token is stale.
    approval_waits(&w, json!({})).await;

    click_answered(&w, Clicked::new(JANE, APPROVE, &id)).await;

    let all = approvals(&w).await;
    assert!(all.iter().all(|a| a["status"] == "InProgress"), "{all:?}");
    let shown = text_of(&latest_message(&w).await);
    assert!(shown.contains("*Superseded*"), "{shown}");
    assert!(buttons(&latest_message(&w).await).is_empty());
    assert!(private_replies(&w).await[0].contains("superseded"));
    assert_eq!(record(&w, &id).await["status"], "superseded");
}

#[tokio::test]
async fn a_newer_request_for_the_same_action_closes_the_older_one() {
    let (w, first) = requested(Setup::default()).await;
    approval_waits(&w, json!({})).await;
    let second = request_posted(&w).await;
    assert_ne!(first, second);

    let messages = w.slack.messages().await;
    assert_eq!(messages.len(), 2);
    assert!(text_of(&messages[0]).contains("*Superseded*"));
    assert!(buttons(&messages[0]).is_empty());
    assert_eq!(buttons(&messages[1]).len(), 2);
}

#[tokio::test]
async fn the_sns_notification_posts_the_request_once_with_the_event() {
    let w = world(Setup::default()).await;
    let seeded = approval_waits(&w, json!({})).await;
    let token = seeded["token"].as_str().expect("token");

    let out = invoke(&w, sns_event(&w, token, "2099-01-01T00:00Z")).await;
    assert_eq!(out["notifications"][0]["posted"], true, "{out}");
    // The same approval's EventBridge event finds the request already posted.
    let again = invoke(&w, action_event(&w, "STARTED")).await;
    assert_eq!(again["posted"], false, "{again}");
    assert_eq!(w.slack.messages().await.len(), 1);

    let message = latest_message(&w).await;
    let shown = text_of(&message);
    assert!(
        shown.contains(CUSTOM_DATA) && shown.contains(REVIEW_URL),
        "{shown}"
    );
    assert!(
        !message.to_string().contains(token),
        "the review link with the token is not posted"
    );
    let id = &buttons(&message)[0].1;
    click(&w, Clicked::new(JANE, APPROVE, id)).await;
    assert_eq!(approvals(&w).await[0]["status"], "Approved");
}

#[tokio::test]
async fn a_click_after_the_expiry_says_expired_and_decides_nothing() {
    let w = world(Setup::default()).await;
    let seeded = approval_waits(&w, json!({})).await;
    // CodePipeline states the expiry to the minute; this one is already past.
    let past = gantry_core::clock::format_utc(now_epoch_seconds() - 120)
        .replace(' ', "T")
        .replace("TUTC", "Z");
    invoke(
        &w,
        sns_event(&w, seeded["token"].as_str().expect("token"), &past),
    )
    .await;
    let id = buttons(&latest_message(&w).await)[0].1.clone();

    click(&w, Clicked::new(JANE, APPROVE, &id)).await;

    assert_eq!(
        approvals(&w).await[0]["put_attempts"],
        0,
        "an expired approval is not even tried"
    );
    assert!(text_of(&latest_message(&w).await).contains("*Expired*"));
    assert!(private_replies(&w).await[0].contains("expired"));
    assert_eq!(record(&w, &id).await["status"], "expired");
}

#[tokio::test]
async fn a_forged_or_replayed_click_is_refused_with_401_and_decides_nothing() {
    let (w, id) = requested(Setup::default()).await;
    let calls_before = w.slack.calls(None).await.len();

    let mut forged = Clicked::new(JANE, APPROVE, &id);
    forged.secret = "not-the-signing-secret";
    let (status, body) = click(&w, forged).await;
    assert_eq!(status, 401);
    assert_eq!(body["error"], "signature does not match");

    let mut replayed = Clicked::new(JANE, APPROVE, &id);
    replayed.age_seconds = 6 * 60;
    let (status, body) = click(&w, replayed).await;
    assert_eq!(status, 401);
    assert!(
        body["error"]
            .as_str()
            .unwrap_or_default()
            .contains("more than five minutes"),
        "{body}"
    );

    assert_eq!(approvals(&w).await[0]["status"], "InProgress");
    assert_eq!(
        w.slack.calls(None).await.len(),
        calls_before,
        "nothing was said in Slack"
    );
    assert_eq!(record(&w, &id).await["status"], "waiting");
}

#[tokio::test]
async fn unknown_buttons_records_and_payloads_get_a_private_explanation() {
    let w = world(Setup::default()).await;

    click_answered(&w, Clicked::new(JANE, "someone.else.button", "x")).await;
    let (status, _) = click(
        &w,
        Clicked::new(JANE, APPROVE, "0123456789abcdef0123456789abcdef"),
    )
    .await;
    assert_eq!(status, 200);
    let replies = private_replies(&w).await;
    assert!(replies[0].contains("not one of Gantry's"), "{replies:?}");
    assert!(
        replies[1].contains("no record of this request"),
        "{replies:?}"
    );

    // A signed body that is not an interactivity payload: no response URL, so the answer says it.
    let body = "token=x&text=hello";
    let ts = now_epoch_seconds();
    let mut event = fixture_json("aws/example-apigw-v2-request-no-authorizer.json");
    event["requestContext"]["http"]["method"] = json!("POST");
    event["headers"] = json!({"x-slack-request-timestamp": ts.to_string(), "x-slack-signature": sign(SIGNING_SECRET, ts, body.as_bytes())});
    event["body"] = json!(body);
    let answer = invoke(&w, event).await;
    assert_eq!(answer["statusCode"], 200);
    let reply: Value = serde_json::from_str(answer["body"].as_str().expect("body")).expect("json");
    assert_eq!(reply["response_type"], "ephemeral");
    assert!(
        reply["text"]
            .as_str()
            .unwrap_or_default()
            .contains("no `payload`"),
        "{reply}"
    );
}

#[tokio::test]
async fn a_stage_without_approvers_gets_no_buttons_and_cannot_be_approved() {
    let w = world(Setup {
        approvers: json!({"Staging": {"users": [JANE.0]}}),
        ..Setup::default()
    })
    .await;
    approval_waits(&w, json!({})).await;
    let out = invoke(&w, action_event(&w, "STARTED")).await;
    let id = out["approval"].as_str().expect("id");
    let message = latest_message(&w).await;
    assert!(buttons(&message).is_empty());
    assert!(text_of(&message).contains("Nobody may decide this stage from Slack"));

    // Even a correctly signed click with the id is refused.
    click(&w, Clicked::new(JANE, APPROVE, id)).await;
    assert_eq!(approvals(&w).await[0]["status"], "InProgress");
    assert!(private_replies(&w).await[0].contains("GANTRY_APPROVERS has no entry"));
}

#[tokio::test]
async fn the_request_goes_to_the_executions_thread_and_the_channel() {
    let w = world(Setup::default()).await;
    // The notifier's execution record: the execution's Slack thread.
    use aws_sdk_dynamodb::types::AttributeValue as A;
    aws_sdk_dynamodb::Client::new(&w.sdk)
        .put_item()
        .table_name(&w.table)
        .item(
            "pk",
            A::S(format!("EXECUTION#{}#{}", w.pipeline, w.execution_id)),
        )
        .item("sk", A::S("EXECUTION".into()))
        .item("channel", A::S("C0ORDERS".into()))
        .item("ts", A::S("1700000000.000100".into()))
        .item("expires_at", A::N("4102444800".into()))
        .send()
        .await
        .expect("execution record");
    approval_waits(&w, json!({})).await;
    request_posted(&w).await;

    let posts = w.slack.calls(Some("chat.postMessage")).await;
    assert_eq!(posts.len(), 1);
    assert_eq!(posts[0]["body"]["channel"], "C0ORDERS");
    assert_eq!(posts[0]["body"]["thread_ts"], "1700000000.000100");
    assert_eq!(
        posts[0]["body"]["reply_broadcast"], true,
        "the channel sees it too"
    );
}

#[tokio::test]
async fn an_approval_decided_outside_slack_updates_the_message() {
    let w = world(Setup::default()).await;
    let seeded = approval_waits(&w, json!({})).await;
    let id = request_posted(&w).await;
    // Someone approves in the console.
    approve_in_console(&w, &seeded, "Looks good (console)").await;
    let mut event = action_event(&w, "SUCCEEDED");
    event["detail"]["execution-result"] =
        json!({"external-execution-summary": "Looks good (console)"});

    let out = invoke(&w, event).await;
    assert_eq!(out["closed"], true, "{out}");

    let message = latest_message(&w).await;
    assert!(buttons(&message).is_empty());
    assert!(text_of(&message).contains("*Approved outside Slack*"));
    assert!(text_of(&message).contains("Looks good (console)"));
    assert_eq!(record(&w, &id).await["status"], "approved_elsewhere");

    // A late click says so, and decides nothing.
    click(&w, Clicked::new(JANE, REJECT, &id)).await;
    assert_eq!(approvals(&w).await[0]["status"], "Approved");
    assert!(private_replies(&w).await[0].contains("Already approved outside Slack"));
}

#[tokio::test]
async fn the_end_of_an_approval_decided_in_slack_changes_nothing_more() {
    let (w, id) = requested(Setup::default()).await;
    click(&w, Clicked::new(JANE, APPROVE, &id)).await;

    let out = invoke(&w, action_event(&w, "SUCCEEDED")).await;
    assert_eq!(out["closed"], false, "{out}");
    assert_eq!(record(&w, &id).await["status"], "approved");
    assert!(text_of(&latest_message(&w).await).contains("✅ *Approved* by <@U0ALLOWED>"));
}

/// A traffic shifter's deployment record, as the traffic shifter writes it.
async fn deployment(w: &World) -> String {
    use aws_sdk_dynamodb::types::AttributeValue as A;
    let id = unique("deploy");
    aws_sdk_dynamodb::Client::new(&w.sdk)
        .put_item()
        .table_name(&w.table)
        .item("pk", A::S(format!("DEPLOYMENT#{id}")))
        .item("sk", A::S("DEPLOYMENT".into()))
        .item("pipeline", A::S(w.pipeline.clone()))
        .item("stage", A::S("Prod".into()))
        .item("execution_id", A::S(w.execution_id.clone()))
        .item("expires_at", A::N("4102444800".into()))
        .send()
        .await
        .expect("deployment record");
    id
}

async fn deployment_record(w: &World, id: &str) -> HashMap<String, String> {
    item_as_text(w, &format!("DEPLOYMENT#{id}"), "DEPLOYMENT").await
}

#[tokio::test]
async fn promote_is_written_once_for_the_traffic_shifter_by_an_approver_only() {
    let w = world(Setup {
        approvers: json!({"Prod": {"users": [JANE.0, OCTO.0], "four_eyes": true, "authors": {"octocat": OCTO.0}}}),
        ..Setup::default()
    })
    .await;
    let id = deployment(&w).await;

    click(&w, Clicked::new(STRANGER, PROMOTE, &id)).await;
    click(&w, Clicked::new(OCTO, PROMOTE, &id)).await;
    let r = deployment_record(&w, &id).await;
    assert!(
        !r.contains_key("command"),
        "refused clicks write nothing: {r:?}"
    );
    let replies = private_replies(&w).await;
    assert!(
        replies[0].contains("not one of the approvers"),
        "{replies:?}"
    );
    assert!(
        replies[1].contains("someone else must promote"),
        "{replies:?}"
    );

    click_answered(&w, Clicked::new(JANE, PROMOTE, &id)).await;
    let r = deployment_record(&w, &id).await;
    assert_eq!(r["command"], "promote");
    assert_eq!(r["command_by"], JANE.0);
    assert!(r["command_at"].parse::<i64>().expect("command_at") >= now_epoch_seconds() - 60);
    let thread = w.slack.calls(Some("chat.postMessage")).await;
    assert!(thread[0]["body"]["text"]
        .as_str()
        .unwrap_or_default()
        .contains("<@U0ALLOWED> ⏩ asked to *promote*"));

    // The author may roll back, but the first command stands.
    click(&w, Clicked::new(OCTO, ROLLBACK, &id)).await;
    assert_eq!(deployment_record(&w, &id).await["command"], "promote");
    assert!(private_replies(&w).await[2].contains("<@U0ALLOWED> already asked to promote"));
}

#[tokio::test]
async fn a_roll_back_click_says_the_sweep_applies_it_within_a_minute_when_no_invocation_drives() {
    let w = world(Setup {
        approvers: json!({"Prod": {"users": [JANE.0]}}),
        ..Setup::default()
    })
    .await;
    // Nobody drives `orphaned` (its continuation keeps failing, say); an invocation holds
    // `driven` for another minute.
    let orphaned = deployment(&w).await;
    let driven = deployment(&w).await;
    let lease_until = gantry_core::clock::now_epoch_millis() + 60_000;
    aws_sdk_dynamodb::Client::new(&w.sdk)
        .update_item()
        .table_name(&w.table)
        .key(
            "pk",
            aws_sdk_dynamodb::types::AttributeValue::S(format!("DEPLOYMENT#{driven}")),
        )
        .key(
            "sk",
            aws_sdk_dynamodb::types::AttributeValue::S("DEPLOYMENT".into()),
        )
        .update_expression("SET seq = :q, lease_until = :until")
        .expression_attribute_values(":q", aws_sdk_dynamodb::types::AttributeValue::N("1".into()))
        .expression_attribute_values(
            ":until",
            aws_sdk_dynamodb::types::AttributeValue::N(lease_until.to_string()),
        )
        .send()
        .await
        .expect("lease");

    click_answered(&w, Clicked::new(JANE, ROLLBACK, &orphaned)).await;
    click_answered(&w, Clicked::new(JANE, ROLLBACK, &driven)).await;
    let texts: Vec<String> = w
        .slack
        .calls(Some("chat.postMessage"))
        .await
        .iter()
        .map(|c| c["body"]["text"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(
        texts,
        vec![
            "<@U0ALLOWED> ⏪ asked to *roll back*: no invocation of the traffic shifter is driving this deployment right now, so it is rolled back within a minute at the latest (by the scheduled sweep, if no invocation comes first).",
            "<@U0ALLOWED> ⏪ asked to *roll back*: the traffic shifter acts at its next check.",
        ]
    );
    assert_eq!(
        deployment_record(&w, &orphaned).await["command"],
        "rollback"
    );
}

#[tokio::test]
async fn a_command_for_an_unknown_deployment_is_explained() {
    let w = world(Setup::default()).await;
    click_answered(&w, Clicked::new(JANE, ROLLBACK, "no-such-deployment")).await;
    assert!(private_replies(&w).await[0].contains("no record of this deployment"));
}

#[tokio::test]
async fn a_secret_without_the_slack_keys_stops_the_function_at_start_naming_the_key() {
    use gantry_core::config::ApprovalConfig;
    use gantry_core::secrets::GantrySecrets;
    let env = HashMap::from([
        ("GANTRY_SECRETS_ARN", "arn:secret"),
        ("GANTRY_TABLE", "gantry"),
    ]);
    let config = ApprovalConfig::from_env(&env).expect("config");
    let sdk = gantry_tests::aws::sdk().await;
    let only_token =
        GantrySecrets::parse("arn:secret", r#"{"slack_bot_token": "xoxb-1"}"#).expect("secret");
    let err = approval::build(config.clone(), &only_token, approval::Clients::new(&sdk))
        .err()
        .expect("refused");
    assert!(err.to_string().contains("slack_signing_secret"), "{err}");
    let err = approval::build(
        config,
        &GantrySecrets::default(),
        approval::Clients::new(&sdk),
    )
    .err()
    .expect("refused");
    assert!(err.to_string().contains("slack_bot_token"), "{err}");
}

// A late FAILED/SUCCEEDED event from an earlier attempt of the action must not close
// the request whose approval still waits (before the fix it closed it as rejected elsewhere).
#[tokio::test]
async fn a_late_end_event_of_an_earlier_attempt_leaves_the_waiting_request_open() {
    let (w, id) = requested(Setup::default()).await;

    let out = invoke(&w, action_event(&w, "FAILED")).await;
    assert_eq!(out["closed"], false, "{out}");
    assert_eq!(record(&w, &id).await["status"], "waiting");

    // The request still decides its approval.
    click(&w, Clicked::new(JANE, APPROVE, &id)).await;
    assert_eq!(approvals(&w).await[0]["status"], "Approved");
    assert_eq!(record(&w, &id).await["status"], "approved");
}

// The expiry is the action's declared `timeoutInMinutes` (GetPipeline), not a fixed
// seven days (before the fix a one-hour approval was shown as open for a week).
#[tokio::test]
async fn the_request_expires_when_the_action_declares() {
    let w = world(Setup::default()).await;
    gantry_tests::aws::edit_pipeline(&w.sdk, &w.pipeline, |declaration| {
        for stage in declaration.stages.iter_mut() {
            for action in stage.actions.iter_mut() {
                if action.name == "Approve" {
                    action.timeout_in_minutes = Some(60);
                }
            }
        }
    })
    .await;
    approval_waits(&w, json!({})).await;
    let id = request_posted(&w).await;

    let expires: i64 = record(&w, &id).await["approval_expires_at"]
        .parse()
        .expect("a number");
    let now = now_epoch_seconds();
    assert!(
        (now + 3_600 - 600..=now + 3_600 + 60).contains(&expires),
        "expires {expires}, now {now}: not an hour from the start"
    );
}

// Slack's internal_error may mean the request was posted. The retry looks for it
// (by its metadata marker) instead of posting a second request.
#[tokio::test]
async fn a_request_slack_may_have_posted_is_found_not_posted_twice() {
    let mut w = world(Setup::default()).await;
    w.app.records.lease_seconds = 0;
    approval_waits(&w, json!({})).await;
    w.slack
        .fault(
            "chat.postMessage",
            json!([{"error": "internal_error", "after_effect": true}]),
        )
        .await;
    approval::handle(&w.app, action_event(&w, "STARTED"))
        .await
        .expect_err("the outcome is unknown: Lambda must retry");
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;

    let out = invoke(&w, action_event(&w, "STARTED")).await;
    assert_eq!(out["reason"], "found the earlier post", "{out}");
    assert_eq!(w.slack.calls(Some("chat.postMessage")).await.len(), 1);
    let id = out["approval"].as_str().expect("id").to_string();
    assert!(
        !record(&w, &id).await["ts"].is_empty(),
        "the found post is recorded"
    );
}

#[tokio::test]
async fn in_parallel_mode_each_waiting_execution_is_decided_on_its_own_request() {
    let w = world(parallel()).await;
    let second = start_push(&w.sdk, &w.pipeline, "octocat", "octocat", "octocat").await;
    let first = w.execution_id.clone();
    // Both executions wait at Prod's approval at once, each with its own token.
    for execution in [&first, &second] {
        approval_waits(&w, json!({"execution_id": execution})).await;
    }
    let mut ids = Vec::new();
    for execution in [&first, &second] {
        let out = invoke(&w, execution_action_event(&w, execution, "STARTED")).await;
        assert_eq!(out["posted"], true, "{out}");
        ids.push(out["approval"].as_str().expect("approval id").to_string());
    }
    assert_ne!(ids[0], ids[1], "one request per execution");

    let status_of = |approvals: &[Value], execution: &str| {
        approvals
            .iter()
            .find(|a| a["execution_id"] == execution)
            .map(|a| a["status"].clone())
            .unwrap_or_default()
    };
    click(&w, Clicked::new(JANE, APPROVE, &ids[1])).await;
    let seen = approvals(&w).await;
    assert_eq!(status_of(&seen, &second), "Approved", "{seen:#?}");
    assert_eq!(status_of(&seen, &first), "InProgress", "{seen:#?}");

    click(&w, Clicked::new(JANE, REJECT, &ids[0])).await;
    let seen = approvals(&w).await;
    assert_eq!(status_of(&seen, &first), "Rejected", "{seen:#?}");
    assert_eq!(status_of(&seen, &second), "Approved", "{seen:#?}");
    assert!(
        private_replies(&w).await.is_empty(),
        "{:?}",
        private_replies(&w).await
    );
    assert_eq!(record(&w, &ids[0]).await["status"], "rejected");
    assert_eq!(record(&w, &ids[1]).await["status"], "approved");
}

#[tokio::test]
async fn a_click_on_an_approval_answered_in_the_console_says_so_not_superseded() {
    // PARALLEL mode: CodePipeline answers a token already used with InvalidApprovalToken.
    let w = world(parallel()).await;
    let seeded = approval_waits(&w, json!({})).await;
    let id = request_posted(&w).await;
    approve_in_console(&w, &seeded, "Approved in the console by ops").await;

    click_answered(&w, Clicked::new(JANE, REJECT, &id)).await;
    assert_eq!(approvals(&w).await[0]["status"], "Approved", "unchanged");
    let replies = private_replies(&w).await;
    assert_eq!(
        replies,
        vec!["Already approved outside Slack: nothing was changed."]
    );
    let shown = text_of(&latest_message(&w).await);
    assert!(shown.contains("*Approved outside Slack*"), "{shown}");
    assert!(shown.contains("Approved in the console by ops"), "{shown}");
    assert!(!shown.contains("Superseded"), "{shown}");
    assert_eq!(record(&w, &id).await["status"], "approved_elsewhere");
}

/// A Function URL event of `body`, signed as Slack signs it (so it is authentic, whatever it says).
fn signed_event(body: String) -> Value {
    gantry_core::approval::interaction::SignedRequest::new(
        body,
        SIGNING_SECRET,
        now_epoch_seconds(),
    )
    .function_url_event()
}

/// Every Slack call the function made was one Slack accepts (garbage in never makes Gantry
/// send Slack what it refuses).
async fn slack_accepted_every_call(w: &World) {
    for call in w.slack.calls(None).await {
        let ok = call["response"]["ok"] == true || call["method"] == "response_url";
        let lookup = call["method"] == "users.lookupByEmail";
        assert!(ok || lookup, "Slack refused {:#}", call);
    }
}

#[tokio::test]
async fn three_hundred_signed_mutations_of_real_clicks_are_all_answered_and_decide_nothing() {
    let (w, id) = requested(Setup::default()).await;
    let deployment = deployment(&w).await;
    let click = |action_id: &'static str, value: String| {
        gantry_core::approval::interaction::Click {
            user_id: STRANGER.0,
            username: STRANGER.1,
            action_id,
            value: &value,
            channel: CHANNEL,
            message_ts: "1700000000.000100",
            response_url: &w.slack.response_url("fuzz"),
            reason: Some("looks fine"),
        }
        .payload()
    };
    // Real clicks, by someone who may decide nothing: no mutation can make them an approver.
    let originals = [
        click(APPROVE, id.clone()),
        click(REJECT, id.clone()),
        click(PROMOTE, deployment.clone()),
        click(
            gantry_core::traffic::steps::report::PAUSE_ACTION,
            format!("{deployment}|0"),
        ),
        click(
            gantry_core::traffic::steps::report::EXTEND_ACTION,
            format!("{deployment}|0|10"),
        ),
    ];
    let mut rng = Rng(0x5eed_0101);
    for i in 0..300 {
        let bytes = mutate(&mut rng, &originals[i % originals.len()]);
        let event = signed_event(format!("payload={}", form_value(&bytes)));
        let answer = invoke(&w, event).await;
        assert_eq!(
            answer["statusCode"], 200,
            "signed mutation {i} answered {answer}"
        );
    }
    let all = approvals(&w).await;
    assert_eq!(all[0]["status"], "InProgress");
    assert_eq!(
        all[0]["put_attempts"], 0,
        "nothing asked CodePipeline to decide"
    );
    assert_eq!(record(&w, &id).await["status"], "waiting");
    assert!(!deployment_record(&w, &deployment)
        .await
        .contains_key("command"));
    slack_accepted_every_call(&w).await;
}

#[tokio::test]
async fn two_hundred_mutations_of_approval_events_are_all_answered_and_decide_nothing() {
    let (w, id) = requested(Setup::default()).await;
    let originals = [
        action_event(&w, "STARTED"),
        action_event(&w, "FAILED"),
        action_event(&w, "SUCCEEDED"),
    ];
    let mut rng = Rng(0x5eed_0102);
    let mut failed = Vec::new();
    for i in 0..200 {
        let bytes = mutate(&mut rng, &originals[i % originals.len()]);
        // Lambda hands the function JSON; damaged bytes that are no JSON never arrive.
        let Ok(event) = serde_json::from_slice::<Value>(&bytes) else {
            continue;
        };
        let names = event["detail"]["pipeline"].clone();
        if let Err(e) = approval::handle(&w.app, event).await {
            // Only an event naming a pipeline this function may not read is an error (IAM
            // refuses it: Lambda retries, then dead-letters it, which alarms); a retry cannot
            // mend any other garbage, so none is asked for.
            if names == json!(w.pipeline) {
                failed.push(e.to_string());
            }
        }
    }
    // Whatever the events said, the request waits, posted once, decided by nobody.
    assert!(failed.is_empty(), "retries asked: {failed:?}");
    let all = approvals(&w).await;
    assert_eq!(all[0]["status"], "InProgress");
    assert_eq!(all[0]["put_attempts"], 0);
    assert_eq!(record(&w, &id).await["status"], "waiting");
    assert_eq!(w.slack.calls(Some("chat.postMessage")).await.len(), 1);
    slack_accepted_every_call(&w).await;
}
