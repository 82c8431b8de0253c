//! In-memory fakes of the slash command's ports, and the flow's unit tests.

use super::board::{RowKind, StageRun, StageState};
use super::flow::{deploy_token, OperatePorts, Operations};
use super::ports::{DeferError, Later, StatusBoard};
use super::services::StaticServices;
use super::task::Task;
use crate::approval::interaction::SignedRequest;
use crate::approval::testing::{FakeDirectory, FakeSlack};
use crate::approval::ApproverRules;
use crate::ingest::{
    Inbound, PipelineStarter, StartError, StartRequest, StartedPush, StartedPushes,
};
use crate::secrets::SecretString;
use crate::store::StoreError;
use std::sync::Mutex;

#[derive(Default)]
pub struct FakeBoard {
    pub rows: Vec<(RowKind, StageRun)>,
    pub reads: Mutex<usize>,
}

impl StatusBoard for FakeBoard {
    async fn rows(&self) -> Result<Vec<(RowKind, StageRun)>, StoreError> {
        *self.reads.lock().unwrap() += 1;
        Ok(self.rows.clone())
    }
}

#[derive(Default)]
pub struct FakeLater {
    pub tasks: Mutex<Vec<Task>>,
}

impl Later for FakeLater {
    async fn defer(&self, task: &Task) -> Result<(), DeferError> {
        self.tasks.lock().unwrap().push(task.clone());
        Ok(())
    }
}

/// CodePipeline as far as starting goes: one execution per token, as `clientRequestToken` does.
#[derive(Default)]
pub struct FakeStarter {
    pub started: Mutex<Vec<StartRequest>>,
}

impl PipelineStarter for FakeStarter {
    async fn start(&self, r: &StartRequest) -> Result<String, StartError> {
        let mut started = self.started.lock().unwrap();
        let at = started
            .iter()
            .position(|s| s.client_request_token == r.client_request_token)
            .unwrap_or_else(|| {
                started.push(r.clone());
                started.len() - 1
            });
        Ok(format!("exec-{at}"))
    }
}

#[derive(Default)]
pub struct FakeRecords {
    pub started: Mutex<Vec<StartedPush>>,
}

impl StartedPushes for FakeRecords {
    async fn record_start(&self, started: &StartedPush) -> Result<(), StoreError> {
        self.started.lock().unwrap().push(started.clone());
        Ok(())
    }
}

pub struct OperateFakes;

impl OperatePorts for OperateFakes {
    type Services = StaticServices;
    type Board = FakeBoard;
    type Later = FakeLater;
    type Starter = FakeStarter;
    type Started = FakeRecords;
    type Chat = FakeSlack;
    type Directory = FakeDirectory;
}

pub const SECRET: &str = "operate-tests-secret";

pub fn operations(rows: Vec<(RowKind, StageRun)>) -> Operations<OperateFakes> {
    let rules = ApproverRules::parse(
        r#"{"shop": {"Prod": {"users": ["U0LEAD"], "groups": ["S0REL"], "four_eyes": true},
                     "Staging": {"users": ["U0DEV"]}}}"#,
    )
    .unwrap();
    Operations {
        services: StaticServices::from_approvers(&rules),
        channels: serde_json::from_str(r#"{"default_channel": "C0DEPLOYS"}"#).unwrap(),
        signing_secret: SecretString::new(SECRET),
        board: FakeBoard {
            rows,
            reads: Mutex::new(0),
        },
        later: FakeLater::default(),
        starter: FakeStarter::default(),
        started: FakeRecords::default(),
        slack: FakeSlack::default(),
        directory: FakeDirectory {
            groups: [("S0REL".to_string(), ["U0MIA".to_string()].into())].into(),
            ..FakeDirectory::default()
        },
    }
}

pub fn request(user: &str, text: &str, now: i64) -> Inbound {
    let body = format!(
        "command=%2Fgantry&text={}&user_id={user}&user_name=n-{user}&channel_id=C0HERE&team_id=T0&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT0%2F1%2Fx&trigger_id=1.2.3",
        form_urlencoded::byte_serialize(text.as_bytes()).collect::<String>()
    );
    let signed = SignedRequest::new(body, SECRET, now);
    Inbound::new(
        signed.headers.iter().map(|(k, v)| (*k, v.as_str())),
        signed.body.into_bytes(),
    )
}

fn text(reply: &crate::approval::ClickReply) -> String {
    reply.body["text"].as_str().unwrap_or_default().to_string()
}

const NOW: i64 = 1_800_000_000;

fn row(stage: &str, state: StageState, at: i64) -> StageRun {
    StageRun {
        pipeline: "shop".into(),
        stage: stage.into(),
        execution_id: format!("e-{at}"),
        state,
        at,
        commit: Some("6113728f27ae82c7b1a177c8d03f9e96e0adf246".into()),
        message: Some("Fix the cart total".into()),
        by: Some("octocat".into()),
    }
}

#[tokio::test]
async fn status_of_every_service_is_one_read() {
    let ops = operations(vec![
        (RowKind::Live, row("Prod", StageState::Succeeded, 10)),
        (RowKind::Latest, row("Prod", StageState::Deploying, 20)),
    ]);
    let reply = ops
        .on_command(&request("U0STRANGER", "status", NOW), NOW)
        .await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.body["response_type"], "ephemeral");
    let t = text(&reply);
    assert!(t.contains("*shop*\n• Prod: live `6113728`"), "{t}");
    assert!(t.contains("now 🔄 deploying"), "{t}");
    assert_eq!(*ops.board.reads.lock().unwrap(), 1);
}

#[tokio::test]
async fn an_unknown_service_names_the_known_ones() {
    let ops = operations(vec![]);
    for cmd in ["status cart", "deploy cart abc1234", "rollback cart Prod"] {
        let t = text(&ops.on_command(&request("U0LEAD", cmd, NOW), NOW).await);
        assert!(
            t.contains("does not know the service `cart`. Known services: shop."),
            "{cmd}: {t}"
        );
    }
    let t = text(
        &ops.on_command(&request("U0LEAD", "restart shop Dev", NOW), NOW)
            .await,
    );
    assert!(
        t.contains("no stage `Dev`") && t.contains("Prod, Staging"),
        "{t}"
    );
}

#[tokio::test]
async fn an_unsigned_command_is_refused_before_anything() {
    let ops = operations(vec![]);
    let mut r = request("U0LEAD", "deploy shop abc1234", NOW);
    r.body.extend_from_slice(b"&x=1");
    assert_eq!(ops.on_command(&r, NOW).await.status, 401);
    let stale = request("U0LEAD", "status", NOW - 600);
    assert_eq!(ops.on_command(&stale, NOW).await.status, 401);
    assert!(ops.later.tasks.lock().unwrap().is_empty());
}

#[tokio::test]
async fn help_and_nonsense_get_the_help() {
    let ops = operations(vec![]);
    assert!(text(&ops.on_command(&request("U0X", "", NOW), NOW).await)
        .contains("/gantry deploy <service> <commit>"));
    let t = text(&ops.on_command(&request("U0X", "dance", NOW), NOW).await);
    assert!(
        t.starts_with("Gantry does not know `dance`.") && t.contains("/gantry status"),
        "{t}"
    );
}

#[tokio::test]
async fn a_stranger_may_not_deploy_and_is_told_who_may() {
    let ops = operations(vec![]);
    let t = text(
        &ops.on_command(&request("U0STRANGER", "deploy shop abc1234", NOW), NOW)
            .await,
    );
    assert!(t.contains("You may not deploy *shop*"), "{t}");
    assert!(
        t.contains("<@U0LEAD>") && t.contains("<@U0DEV>") && t.contains("<!subteam^S0REL>"),
        "{t}"
    );
    assert!(ops.later.tasks.lock().unwrap().is_empty());
}

#[tokio::test]
async fn a_group_member_may_deploy_after_the_acknowledgement_and_a_double_submit_starts_once() {
    let ops = operations(vec![]);
    let reply = ops
        .on_command(&request("U0MIA", "deploy shop abc1234", NOW), NOW)
        .await;
    assert!(
        text(&reply).contains("Starting *shop* at `abc1234`"),
        "{}",
        text(&reply)
    );
    assert!(
        ops.starter.started.lock().unwrap().is_empty(),
        "nothing before the ack"
    );
    ops.on_command(&request("U0MIA", "deploy shop abc1234", NOW + 5), NOW + 5)
        .await;
    let tasks = ops.later.tasks.lock().unwrap().clone();
    assert_eq!(tasks.len(), 2);
    for task in &tasks {
        ops.run(task, NOW).await.unwrap();
    }
    let started = ops.starter.started.lock().unwrap().clone();
    assert_eq!(started.len(), 1, "one execution for a double submit");
    assert_eq!(started[0].commit_id, "abc1234");
    assert!(started[0]
        .variables
        .iter()
        .any(|v| v.name == "PUSHER" && v.value == "n-U0MIA"));
    let records = ops.started.started.lock().unwrap().clone();
    assert_eq!(records[0].facts.pusher.as_deref(), Some("slack:U0MIA"));
    let posted = ops.slack.posted.lock().unwrap().clone();
    assert_eq!(posted[0]["channel"], "C0DEPLOYS");
    assert!(posted[0]["text"]
        .as_str()
        .unwrap()
        .contains("<@U0MIA> started *shop* at `abc1234`"));
    // A later, separate deploy of the same commit is a new execution.
    assert_ne!(
        deploy_token("shop", "abc1234", "U0MIA", NOW),
        deploy_token(
            "shop",
            "abc1234",
            "U0MIA",
            NOW + 2 * super::flow::DEPLOY_DEDUP_SECONDS
        )
    );
}

#[tokio::test]
async fn only_a_stages_operators_may_roll_it_back_or_restart_it() {
    let ops = operations(vec![]);
    let t = text(
        &ops.on_command(&request("U0DEV", "rollback shop Prod", NOW), NOW)
            .await,
    );
    assert!(t.contains("You may not roll back *shop › Prod*: only its operators may (<@U0LEAD>, <!subteam^S0REL>)"), "{t}");
    let t = text(
        &ops.on_command(&request("U0DEV", "restart shop Staging", NOW), NOW)
            .await,
    );
    assert!(!t.contains("You may not"), "{t}");
}
