//! The approval flows on in-memory fakes: what a user notices (the decision CodePipeline gets,
//! the message, what the clicker is told), with every port faked.

use crate::approval::interaction::{
    Click, APPROVE, CONTINUE, EXTEND, PAUSE, PROMOTE, REJECT, RESUME,
};
use crate::approval::testing::*;
use crate::approval::*;
use crate::ingest::Inbound;
use crate::traffic::{Command, DeploymentRecord, DeploymentStatus, PipelineContext};

const NOW: i64 = 2_000;

fn notice() -> ApprovalNotice {
    ApprovalNotice {
        pipeline: "shop".into(),
        stage: "Prod".into(),
        action: "Approve".into(),
        execution_id: Some("e-1".into()),
        ..ApprovalNotice::default()
    }
}

fn click(user: (&str, &str), action_id: &str, value: &str, retry: bool) -> Inbound {
    let request = Click {
        user_id: user.0,
        username: user.1,
        action_id,
        value,
        channel: "C0DEPLOYS",
        message_ts: "1.1",
        response_url: "https://hooks.slack.test/actions/1",
        reason: None,
    }
    .signed_request(SECRET, NOW);
    let mut headers: Vec<(&str, &str)> = request
        .headers
        .iter()
        .map(|(k, v)| (*k, v.as_str()))
        .collect();
    if retry {
        headers.push(("x-slack-retry-num", "1"));
    }
    Inbound::new(headers, request.body.into_bytes())
}

const JANE: (&str, &str) = ("U0JANE", "jane");
const OCTO: (&str, &str) = ("U0OCTO", "octo");

async fn opened(app: &FakeApprovals) -> String {
    let out = app.open(notice(), NOW).await.unwrap();
    assert_eq!(out["posted"], true, "{out}");
    out["approval"].as_str().unwrap().to_string()
}

fn state(app: &FakeApprovals, id: &str) -> ApprovalState {
    app.records.records.lock().unwrap()[id].state.clone()
}

fn set_state(app: &FakeApprovals, id: &str, state: ApprovalState) {
    app.records
        .records
        .lock()
        .unwrap()
        .get_mut(id)
        .unwrap()
        .state = state;
}

fn told(app: &FakeApprovals) -> Vec<String> {
    app.slack_now.private.lock().unwrap().clone()
}

/// `who` clicks Approve on the waiting request `id`, is told `because`, and it stays waiting.
async fn approve_is_refused(app: &FakeApprovals, who: (&str, &str), id: &str, because: &str) {
    app.on_click(&click(who, APPROVE, id, false), NOW).await;
    assert!(told(app)[0].contains(because), "{:?}", told(app));
    assert_eq!(state(app, id), ApprovalState::Waiting);
}

#[tokio::test]
async fn a_request_is_posted_once_with_the_waiting_token_kept_out_of_slack() {
    let app = approvals();
    let id = opened(&app).await;
    let again = app.open(notice(), NOW).await.unwrap();
    assert_eq!(again["posted"], false);
    let posted = app.slack.posted();
    assert_eq!(posted.len(), 1);
    assert_eq!(posted[0]["channel"], "C0DEPLOYS");
    assert!(!posted[0].to_string().contains("tok-1"));
    assert_eq!(state(&app, &id), ApprovalState::Waiting);
}

#[tokio::test]
async fn an_approve_click_decides_once_and_a_second_click_is_told_who_decided() {
    let app = approvals();
    let id = opened(&app).await;
    let reply = app.on_click(&click(JANE, APPROVE, &id, false), NOW).await;
    assert_eq!(reply.status, 200);
    assert!(
        matches!(state(&app, &id), ApprovalState::Decided(d) if d.outcome == Outcome::Approved)
    );
    let decided = app.pipeline.decided.lock().unwrap().clone();
    assert_eq!(
        decided,
        vec![(
            "tok-1".into(),
            Outcome::Approved,
            "Approved by @jane via Slack".into()
        )]
    );
    app.on_click(&click(OCTO, REJECT, &id, false), NOW).await;
    assert_eq!(app.pipeline.decided.lock().unwrap().len(), 1);
    assert_eq!(
        told(&app),
        vec!["Already approved by <@U0JANE>: nothing was changed."]
    );
    // A Slack retry of the first click says nothing and decides nothing.
    app.on_click(&click(JANE, APPROVE, &id, true), NOW).await;
    assert_eq!(told(&app).len(), 1);
}

#[tokio::test]
async fn the_author_may_reject_but_not_approve_their_own_change() {
    let app = approvals();
    let id = opened(&app).await;
    approve_is_refused(&app, OCTO, &id, "you pushed this change").await;
    app.on_click(&click(OCTO, REJECT, &id, false), NOW).await;
    assert!(
        matches!(state(&app, &id), ApprovalState::Decided(d) if d.outcome == Outcome::Rejected)
    );
}

#[tokio::test]
async fn a_click_while_another_is_in_flight_names_the_decider_and_a_lapsed_lease_is_taken_over() {
    let app = approvals();
    let id = opened(&app).await;
    let octo = Approver {
        id: "U0OCTO".into(),
        name: "octo".into(),
    };
    set_state(
        &app,
        &id,
        ApprovalState::Deciding {
            by: octo.clone(),
            until: NOW + 10,
        },
    );
    app.on_click(&click(JANE, APPROVE, &id, false), NOW).await;
    assert_eq!(
        told(&app),
        vec!["<@U0OCTO> is deciding this approval right now."]
    );
    assert!(app.pipeline.decided.lock().unwrap().is_empty());
    set_state(
        &app,
        &id,
        ApprovalState::Deciding {
            by: octo,
            until: NOW - 1,
        },
    );
    app.on_click(&click(JANE, APPROVE, &id, false), NOW).await;
    assert!(matches!(state(&app, &id), ApprovalState::Decided(d) if d.by.id == "U0JANE"));
}

#[tokio::test]
async fn already_decided_in_codepipeline_closes_the_request_with_what_happened() {
    let mut app = approvals();
    app.pipeline.last = Some(ActionOutcome {
        outcome: Some(Outcome::Rejected),
        summary: Some("cli".into()),
    });
    let id = opened(&app).await;
    app.pipeline
        .put
        .lock()
        .unwrap()
        .push(Err(ApprovalCallError::AlreadyDecided));
    app.on_click(&click(JANE, APPROVE, &id, false), NOW).await;
    assert_eq!(
        state(&app, &id),
        ApprovalState::Closed(Closure::DecidedElsewhere {
            outcome: Some(Outcome::Rejected),
            summary: Some("cli".into()),
            at: NOW
        })
    );
    assert_eq!(
        told(&app),
        vec!["Already rejected outside Slack: nothing was changed."]
    );
    assert_eq!(app.slack_now.updated().len(), 1);
}

#[tokio::test]
async fn codepipeline_down_decides_nothing_and_frees_the_request_for_another_try() {
    let app = approvals();
    let id = opened(&app).await;
    app.pipeline
        .put
        .lock()
        .unwrap()
        .push(Err(ApprovalCallError::Unavailable {
            operation: "PutApprovalResult",
            reason: "x".into(),
        }));
    app.on_click(&click(JANE, APPROVE, &id, false), NOW).await;
    assert_eq!(state(&app, &id), ApprovalState::Waiting);
    assert!(told(&app)[0].contains("CodePipeline did not answer"));
    app.on_click(&click(JANE, APPROVE, &id, false), NOW).await;
    assert!(matches!(state(&app, &id), ApprovalState::Decided(_)));
}

fn finished(state: events::FinishedAs) -> ActionFinished {
    ActionFinished {
        pipeline: "shop".into(),
        stage: "Prod".into(),
        action: "Approve".into(),
        execution_id: "e-1".into(),
        state,
        summary: Some("ok".into()),
        at: NOW,
    }
}

#[tokio::test]
async fn a_late_end_of_an_earlier_attempt_leaves_the_waiting_request_open() {
    let app = approvals();
    let id = opened(&app).await;
    let out = app
        .close(&finished(events::FinishedAs::Failed))
        .await
        .unwrap();
    assert_eq!(out["closed"], false);
    assert_eq!(state(&app, &id), ApprovalState::Waiting);
    assert!(app.slack.updated().is_empty());
}

#[tokio::test]
async fn an_approval_ended_in_the_console_closes_the_waiting_request() {
    let mut app = approvals();
    let id = opened(&app).await;
    app.pipeline.waiting = None;
    let out = app
        .close(&finished(events::FinishedAs::Succeeded))
        .await
        .unwrap();
    assert_eq!(out["closed"], true);
    assert!(matches!(
        state(&app, &id),
        ApprovalState::Closed(Closure::DecidedElsewhere { .. })
    ));
    assert_eq!(app.slack.updated().len(), 1);
}

#[tokio::test]
async fn promote_is_recorded_once_and_the_second_click_is_told_who_asked() {
    let app = approvals();
    running(&app, 0);
    // The author may not promote their own change under four-eyes.
    app.on_click(&click(OCTO, PROMOTE, "d-1", false), NOW).await;
    assert!(told(&app)[0].contains("you pushed this change"));
    app.on_click(&click(JANE, PROMOTE, "d-1", false), NOW).await;
    assert_eq!(
        pending(&app),
        Some(Command::Promote {
            by: "U0JANE".into()
        })
    );
    app.on_click(&click(JANE, PROMOTE, "d-1", false), NOW).await;
    assert_eq!(
        told(&app)[1],
        "<@U0JANE> already asked to promote this deployment: nothing was changed."
    );
}

#[tokio::test]
async fn an_unsigned_click_is_refused_before_anything_is_read() {
    let app = approvals();
    let id = opened(&app).await;
    let mut request = click(JANE, APPROVE, &id, false);
    request.body.push(b'x');
    assert_eq!(app.on_click(&request, NOW).await.status, 401);
    assert_eq!(state(&app, &id), ApprovalState::Waiting);
}

#[tokio::test]
async fn the_request_expires_when_the_action_declares_not_after_seven_days() {
    let mut app = approvals();
    app.pipeline.timeout_minutes = Some(60);
    let id = opened(&app).await;
    assert_eq!(
        app.records.records.lock().unwrap()[&id].expires_at,
        1_000 + 3_600
    );
    // The custom message and the timeout come from one reading of the declaration.
    assert_eq!(*app.pipeline.settings_read.lock().unwrap(), 1);
    assert_eq!(request::expiry(10, None), 10 + APPROVAL_LIFETIME_SECONDS);
    assert_eq!(request::expiry(10, Some(0)), 10 + APPROVAL_LIFETIME_SECONDS);
}

/// Opens the request of a push by `pusher` with these commit authors (the webhook's record).
async fn opened_push(app: &mut FakeApprovals, pusher: Option<&str>, authors: &[&str]) -> String {
    app.records.pushes = vec![started("e-1", pusher, authors, 1_000)];
    opened(app).await
}

#[tokio::test]
async fn a_pusher_who_fakes_the_commit_author_still_may_not_approve() {
    let mut app = approvals();
    let id = opened_push(&mut app, Some("octocat"), &["ghost@example.invalid"]).await;
    approve_is_refused(&app, OCTO, &id, "you pushed this change").await;
    assert!(app.pipeline.decided.lock().unwrap().is_empty());
}

#[tokio::test]
async fn a_colleague_named_as_one_commits_author_may_not_approve() {
    let mut app = approvals();
    app.directory
        .emails
        .insert("jane@example.com".into(), "U0JANE".into());
    let id = opened_push(
        &mut app,
        Some("octocat"),
        &["octocat", "jane@example.com", "dependabot[bot]"],
    )
    .await;
    approve_is_refused(
        &app,
        JANE,
        &id,
        "you pushed this change or wrote one of its commits",
    )
    .await;
}

#[tokio::test]
async fn an_unmapped_pusher_lets_nobody_approve_and_the_request_says_how_to_map_them() {
    let mut app = approvals();
    let id = opened_push(&mut app, Some("mona"), &["mona"]).await;
    let posted = app.slack.posted()[0].to_string();
    assert!(posted.contains("github:mona"), "{posted}");
    for who in [JANE, OCTO] {
        app.on_click(&click(who, APPROVE, &id, false), NOW).await;
    }
    let told = told(&app);
    assert_eq!(told.len(), 2);
    assert!(told.iter().all(|t| t.contains("GANTRY_PEOPLE")), "{told:?}");
    assert!(app.pipeline.decided.lock().unwrap().is_empty());
    // Rejecting needs nobody's identity.
    app.on_click(&click(JANE, REJECT, &id, false), NOW).await;
    assert!(
        matches!(state(&app, &id), ApprovalState::Decided(d) if d.outcome == Outcome::Rejected)
    );
}

#[tokio::test]
async fn an_execution_the_webhook_did_not_start_cannot_be_released_whatever_its_variables_say() {
    let mut app = approvals();
    // Started from the console with PUSHER=lee: the variables claim a pusher, no record does.
    app.records.pushes.clear();
    app.pipeline.commit = Some(CommitSummary {
        id: "c0ffee".into(),
        pusher: Some("lee".into()),
        authors: vec!["lee".into()],
        ..CommitSummary::default()
    });
    let id = opened(&app).await;
    let posted = app.slack.posted()[0].to_string();
    assert!(posted.contains("webhook did not start"), "{posted}");
    approve_is_refused(&app, JANE, &id, "webhook did not start this execution").await;
    approve_is_refused(&app, OCTO, &id, "webhook did not start this execution").await;
    app.on_click(&click(JANE, REJECT, &id, false), NOW).await;
    assert!(
        matches!(state(&app, &id), ApprovalState::Decided(d) if d.outcome == Outcome::Rejected)
    );
}

#[tokio::test]
async fn the_pusher_of_an_earlier_push_that_never_reached_the_stage_may_not_approve() {
    let mut app = approvals();
    // Octocat pushed e-0, which never reached Prod; jane pushed e-1 on top.
    app.records.pushes = vec![
        started("e-z", Some("ada"), &["ada"], 100),
        started("e-0", Some("octocat"), &["octocat"], 500),
        started("e-1", Some("jane"), &["jane"], 1_000),
    ];
    app.people = crate::config::people::People::parse(
        r#"{"github:octocat": "U0OCTO", "github:jane": "U0JANE", "github:ada": "U0ADA"}"#,
    )
    .unwrap();
    app.pipeline.succeeded.executions.insert("e-z".into());
    let id = opened(&app).await;
    let posted = app.slack.posted()[0].to_string();
    // Ada's push is the one Prod ran: it is not part of the change.
    assert!(
        posted.contains(r#"*Pushed by*\noctocat, jane""#),
        "{posted}"
    );
    approve_is_refused(&app, OCTO, &id, "you pushed this change").await;
    assert!(app.pipeline.decided.lock().unwrap().is_empty());

    // Once the stage ran e-0, octocat's push is no longer part of jane's change.
    let mut app = approvals();
    app.records.pushes = vec![
        started("e-0", Some("octocat"), &["octocat"], 500),
        started("e-1", Some("ada"), &["ada"], 1_000),
    ];
    app.people = crate::config::people::People::parse(
        r#"{"github:octocat": "U0OCTO", "github:ada": "U0ADA"}"#,
    )
    .unwrap();
    app.pipeline.succeeded.executions.insert("e-0".into());
    let id = opened(&app).await;
    app.on_click(&click(OCTO, APPROVE, &id, false), NOW).await;
    assert_eq!(app.pipeline.decided.lock().unwrap().len(), 1);
}

/// A running deployment `d-1` of `shop`/`Prod` (execution e-1, pushed by octocat), its controls
/// at `controls`.
fn running(app: &FakeApprovals, controls: u32) {
    app.deployments.records.lock().unwrap().insert(
        "d-1".into(),
        DeploymentRecord {
            id: "d-1".into(),
            context: Some(PipelineContext {
                pipeline: "shop".into(),
                stage: "Prod".into(),
                action: "Deploy".into(),
                execution_id: "e-1".into(),
            }),
            state: String::new(),
            status: DeploymentStatus::InProgress,
            summary: None,
            command: None,
            command_at: None,
            controls,
            handed_over: None,
            message: None,
            watch: Default::default(),
        },
    );
}

fn pending(app: &FakeApprovals) -> Option<Command> {
    app.deployments.records.lock().unwrap()["d-1"]
        .command
        .clone()
}

/// What the traffic shifter does at its next check: acts on the command, bumps the controls.
fn shifter_acts(app: &FakeApprovals) {
    let mut records = app.deployments.records.lock().unwrap();
    let d = records.get_mut("d-1").unwrap();
    d.command = None;
    d.controls += 1;
}

/// Clicks a control that releases the change, first as its pusher (octo), who is told
/// `refusal` and changes nothing, then as a colleague (jane).
async fn released_by_a_colleague(app: &FakeApprovals, action: &str, value: &str, refusal: &str) {
    app.on_click(&click(OCTO, action, value, false), NOW).await;
    assert!(told(app)[0].contains(refusal), "{:?}", told(app));
    assert_eq!(pending(app), None);
    app.on_click(&click(JANE, action, value, false), NOW).await;
}

#[tokio::test]
async fn pause_resume_and_extend_are_written_with_the_version_their_message_showed() {
    let app = approvals();
    running(&app, 0);
    app.on_click(&click(JANE, PAUSE, "d-1|0", false), NOW).await;
    assert_eq!(
        pending(&app),
        Some(Command::Pause {
            by: "U0JANE".into(),
            version: 0
        })
    );
    shifter_acts(&app);
    // Resume releases the change: its pusher may not, someone else may.
    released_by_a_colleague(&app, RESUME, "d-1|1", "someone else must resume").await;
    assert_eq!(
        pending(&app),
        Some(Command::Resume {
            by: "U0JANE".into(),
            version: 1
        })
    );
    shifter_acts(&app);
    // Extending the bake only holds the change: its pusher may.
    app.on_click(&click(OCTO, EXTEND, "d-1|2|10", false), NOW)
        .await;
    assert_eq!(
        pending(&app),
        Some(Command::Extend {
            by: "U0OCTO".into(),
            version: 2,
            minutes: 10
        })
    );
    assert_eq!(told(&app).len(), 1);
}

#[tokio::test]
async fn a_click_on_an_outdated_message_is_stale_and_changes_nothing() {
    let app = approvals();
    running(&app, 2);
    app.on_click(&click(JANE, PAUSE, "d-1|1", false), NOW).await;
    assert_eq!(pending(&app), None);
    assert!(told(&app)[0].contains("out of date"), "{:?}", told(&app));
    // Slack's retry of it says nothing more.
    app.on_click(&click(JANE, PAUSE, "d-1|1", true), NOW).await;
    assert_eq!(told(&app).len(), 1);
}

#[tokio::test]
async fn a_control_from_someone_not_an_approver_changes_nothing() {
    let app = approvals();
    running(&app, 0);
    app.on_click(&click(("U0SAM", "sam"), PAUSE, "d-1|0", false), NOW)
        .await;
    assert_eq!(pending(&app), None);
    assert!(told(&app)[0].contains("not one of the approvers"));
}

#[tokio::test]
async fn a_control_value_gantry_did_not_write_is_refused() {
    let app = approvals();
    running(&app, 0);
    for (action, value) in [
        (PAUSE, "d-1"),
        (PAUSE, "d-1|x"),
        (RESUME, "d-1|0|5"),
        (EXTEND, "d-1|0"),
        (EXTEND, "d-1|0|100000"),
    ] {
        app.on_click(&click(JANE, action, value, false), NOW).await;
    }
    assert_eq!(pending(&app), None);
    let told = told(&app);
    assert_eq!(told.len(), 5);
    assert!(told.iter().all(|t| t.contains("did not write")), "{told:?}");
}

#[tokio::test]
async fn continue_past_a_pause_hook_is_written_for_someone_else_than_the_pusher() {
    let app = approvals();
    running(&app, 4);
    // Continue releases the change: the four-eyes rule applies.
    released_by_a_colleague(&app, CONTINUE, "d-1|4", "someone else must continue").await;
    assert_eq!(
        pending(&app),
        Some(Command::Continue {
            by: "U0JANE".into(),
            version: 4
        })
    );
}
