//! In-memory fakes of the slash command's ports, and the flow's unit tests.

use super::board::{BoardRun, RowKind, StageState};
use super::confirm::{Confirmation, CONFIRM};
use super::flow::{deploy_token, OperatePorts, Operations};
use super::ports::{
    Confirmations, DeferError, Later, RollbackError, RollbackTarget, StageRollbacks, StatusBoard,
};
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
    pub rows: Vec<(RowKind, BoardRun)>,
    pub reads: Mutex<usize>,
}

impl StatusBoard for FakeBoard {
    async fn rows(&self) -> Result<Vec<(RowKind, BoardRun)>, StoreError> {
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
pub struct FakeDeployStarter {
    pub started: Mutex<Vec<StartRequest>>,
}

impl PipelineStarter for FakeDeployStarter {
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

#[derive(Default)]
pub struct FakeConfirmations {
    pub records: Mutex<Vec<Confirmation>>,
}

impl Confirmations for FakeConfirmations {
    async fn create(&self, c: &Confirmation) -> Result<(), StoreError> {
        let mut r = self.records.lock().unwrap();
        if !r.iter().any(|x| x.id == c.id) {
            r.push(c.clone());
        }
        Ok(())
    }
    async fn read(&self, id: &str) -> Result<Option<Confirmation>, StoreError> {
        Ok(self
            .records
            .lock()
            .unwrap()
            .iter()
            .find(|c| c.id == id)
            .cloned())
    }
    async fn confirm(&self, id: &str, by: &str) -> Result<bool, StoreError> {
        let mut r = self.records.lock().unwrap();
        match r.iter_mut().find(|c| c.id == id) {
            Some(c) if c.confirmed_by.is_none() => {
                c.confirmed_by = Some(by.to_string());
                Ok(true)
            }
            _ => Ok(false),
        }
    }
}

/// CodePipeline's rollbacks: `successes` newest first; `refuse` makes RollbackStage fail.
#[derive(Default)]
pub struct FakeRollbacks {
    pub successes: Vec<RollbackTarget>,
    pub refuse: Option<RollbackError>,
    pub rolled_back: Mutex<Vec<(String, String, String)>>,
}

impl StageRollbacks for FakeRollbacks {
    async fn successes(&self, _p: &str, _s: &str) -> Result<Vec<RollbackTarget>, RollbackError> {
        Ok(self.successes.clone())
    }
    async fn rollback(&self, p: &str, s: &str, target: &str) -> Result<String, RollbackError> {
        if let Some(e) = &self.refuse {
            return Err(e.clone());
        }
        self.rolled_back
            .lock()
            .unwrap()
            .push((p.into(), s.into(), target.into()));
        Ok("e-rollback".into())
    }
}

/// ECS, the listener, the stage's definition and the shifter's open deployments, for `restart`.
pub struct FakeRestarts {
    pub parameters: Vec<String>,
    pub weights: (i32, i32),
    pub open_shift: Option<String>,
    pub service: Mutex<super::restart::EcsService>,
    pub forced: Mutex<Vec<(String, String)>>,
}

impl Default for FakeRestarts {
    fn default() -> Self {
        FakeRestarts {
            parameters: vec![r#"{"cluster": "c", "strategy": "CodeDeployDefault.ECSAllAtOnce", "listener_arn": "arn:aws:elasticloadbalancing:us-east-1:123456789012:listener/app/shop/50dc6c495c0c9188/f2f7dc8efc522ab2",
                "blue": {"service": "shop-blue", "target_group_arn": "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/shop-blue/6d0ecf831eec9f09"},
                "green": {"service": "shop-green", "target_group_arn": "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/shop-green/6d0ecf831eec9f09"}}"#
                .into()],
            weights: (0, 100),
            open_shift: None,
            service: Mutex::new(super::restart::EcsService {
                desired: 2,
                running: 2,
                deployments: vec![],
            }),
            forced: Mutex::new(vec![]),
        }
    }
}

impl super::restart::Restarts for FakeRestarts {
    async fn invoke_parameters(
        &self,
        _p: &str,
        _s: &str,
    ) -> Result<Vec<String>, super::restart::RestartError> {
        Ok(self.parameters.clone())
    }
    async fn forward(
        &self,
        _c: &crate::traffic::TrafficControl,
    ) -> Result<Vec<crate::traffic::setup::weights::ForwardTarget>, super::restart::RestartError>
    {
        use crate::traffic::setup::weights::ForwardTarget;
        Ok(vec![
            ForwardTarget {
                target_group_arn: "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/shop-blue/6d0ecf831eec9f09".into(),
                weight: Some(self.weights.0),
            },
            ForwardTarget {
                target_group_arn: "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/shop-green/6d0ecf831eec9f09".into(),
                weight: Some(self.weights.1),
            },
        ])
    }
    async fn service(
        &self,
        _c: &str,
        _n: &str,
    ) -> Result<Option<super::restart::EcsService>, super::restart::RestartError> {
        Ok(Some(self.service.lock().unwrap().clone()))
    }
    async fn force_new_deployment(
        &self,
        c: &str,
        n: &str,
    ) -> Result<String, super::restart::RestartError> {
        self.forced.lock().unwrap().push((c.into(), n.into()));
        Ok("ecs-svc/1".into())
    }
    async fn open_shift(
        &self,
        _p: &str,
        _s: &str,
    ) -> Result<Option<String>, super::restart::RestartError> {
        Ok(self.open_shift.clone())
    }
}

pub struct OperateFakes;

impl OperatePorts for OperateFakes {
    type Services = StaticServices;
    type Board = FakeBoard;
    type Later = FakeLater;
    type Starter = FakeDeployStarter;
    type Started = FakeRecords;
    type Chat = FakeSlack;
    type Directory = FakeDirectory;
    type Confirmations = FakeConfirmations;
    type Rollbacks = FakeRollbacks;
    type Restarts = FakeRestarts;
    type Delivery = crate::delivery::testing::MemoryFacts;
}

pub const SECRET: &str = "operate-tests-secret";

pub fn operations(rows: Vec<(RowKind, BoardRun)>) -> Operations<OperateFakes> {
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
        starter: FakeDeployStarter::default(),
        started: FakeRecords::default(),
        slack: FakeSlack::default(),
        directory: FakeDirectory {
            groups: [("S0REL".to_string(), ["U0MIA".to_string()].into())].into(),
            ..FakeDirectory::default()
        },
        confirmations: FakeConfirmations::default(),
        rollbacks: FakeRollbacks {
            successes: vec![
                RollbackTarget {
                    execution_id: "e-live".into(),
                    commit: Some("b".repeat(40)),
                },
                RollbackTarget {
                    execution_id: "e-good".into(),
                    commit: Some("a".repeat(40)),
                },
            ],
            ..FakeRollbacks::default()
        },
        restarts: FakeRestarts::default(),
        delivery: crate::delivery::testing::MemoryFacts::default(),
        restart_poll: std::time::Duration::ZERO,
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

fn row(stage: &str, state: StageState, at: i64) -> BoardRun {
    BoardRun {
        pipeline: "shop".into(),
        stage: stage.into(),
        execution_id: format!("e-{at}"),
        state,
        at,
        commit: Some("6113728f27ae82c7b1a177c8d03f9e96e0adf246".into()),
        message: Some("Fix the cart total".into()),
        by: Some("octocat".into()),
        position: None,
        percent: None,
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

/// The commit `abc1234…` as the webhook recorded its push to `main` (execution `e-push`, by
/// mona, written by ada), on top of `e-old` (kim's), which Prod runs; the board shows both.
const PUSHED: &str = "abc1234f27ae82c7b1a177c8d03f9e96e0adf246";

fn with_pushes() -> Operations<OperateFakes> {
    let push = |execution: &str, commit: &str, pusher: &str, author: &str, at: i64| {
        crate::ingest::testing::pushed(execution, &[commit], pusher, &[author], at * 1000)
    };
    let mut live = row("Prod", StageState::Succeeded, 100);
    live.execution_id = "e-old".into();
    live.commit = Some("f".repeat(40));
    let mut latest = row("Staging", StageState::Succeeded, 200);
    latest.execution_id = "e-push".into();
    let mut ops = operations(vec![(RowKind::Live, live), (RowKind::Latest, latest)]);
    ops.delivery = crate::delivery::testing::MemoryFacts::with_pushes(vec![
        push("e-old", &"f".repeat(40), "kim", "kim", 90),
        push("e-push", PUSHED, "mona", "ada", 190),
    ]);
    ops
}

#[tokio::test]
async fn a_commit_gantry_never_saw_pushed_is_not_deployed() {
    let ops = with_pushes();
    ops.on_command(&request("U0MIA", "deploy shop 0ddba11", NOW), NOW)
        .await;
    let tasks = ops.later.tasks.lock().unwrap().clone();
    let out = ops.run(&tasks[0], NOW).await.unwrap();
    assert_eq!(out["deployed"], false);
    assert!(ops.starter.started.lock().unwrap().is_empty());
    assert!(ops.started.started.lock().unwrap().is_empty());
    let said = ops.slack.posted()[0]["text"].as_str().unwrap().to_string();
    assert!(
        said.contains("Gantry's webhook never saw that commit pushed")
            && said.contains("Nothing was started"),
        "{said}"
    );
}

#[tokio::test]
async fn a_group_member_may_deploy_after_the_acknowledgement_and_a_double_submit_starts_once() {
    let ops = with_pushes();
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
    // The short id, resolved to the commit the webhook saw pushed.
    assert_eq!(started[0].commit_id, PUSHED);
    assert!(started[0]
        .variables
        .iter()
        .any(|v| v.name == "PUSHER" && v.value == "n-U0MIA"));
    let records = ops.started.started.lock().unwrap().clone();
    assert_eq!(records[0].facts.pusher.as_deref(), Some("slack:U0MIA"));
    // Everyone of the change since Prod last ran: mona pushed it (a pusher still, so an
    // unmapped login fails closed), ada wrote it.
    assert_eq!(records[0].facts.carried_pushers, vec!["mona"]);
    assert_eq!(records[0].facts.authors, vec!["ada"]);
    let posted = ops.slack.posted();
    assert_eq!(posted[0]["channel"], "C0DEPLOYS");
    assert!(posted[0]["text"]
        .as_str()
        .unwrap()
        .contains(&format!("<@U0MIA> started *shop* at `{PUSHED}`")));
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

/// A Confirm click on proposal `id` by `user`, signed, at `now`.
fn confirm_click(user: &str, id: &str, now: i64) -> Inbound {
    let click = crate::approval::interaction::Click {
        user_id: user,
        username: user,
        action_id: CONFIRM,
        value: id,
        channel: "C0DEPLOYS",
        message_ts: "1.1",
        response_url: "https://hooks.slack.com/actions/T0/1/x",
        reason: None,
    };
    let signed = click.signed_request(SECRET, now);
    Inbound::new(
        signed.headers.iter().map(|(k, v)| (*k, v.as_str())),
        signed.body.into_bytes(),
    )
}

/// Lead asks to roll Prod back; the proposal is posted; returns its id.
async fn proposed(ops: &Operations<OperateFakes>) -> String {
    ops.on_command(&request("U0LEAD", "rollback shop Prod", NOW), NOW)
        .await;
    let task = ops.later.tasks.lock().unwrap().pop().expect("a task");
    let out = ops.run(&task, NOW).await.unwrap();
    out["operation"].as_str().expect("proposed").to_string()
}

async fn run_tasks(ops: &Operations<OperateFakes>) {
    let tasks: Vec<Task> = ops.later.tasks.lock().unwrap().drain(..).collect();
    for t in tasks {
        ops.run(&t, NOW).await.unwrap();
    }
}

#[tokio::test]
async fn a_prod_rollback_needs_a_second_operators_confirm_once_within_five_minutes() {
    let ops = operations(vec![]);
    let id = proposed(&ops).await;
    let posted = ops.slack.posted().last().cloned().unwrap();
    assert!(posted["text"]
        .as_str()
        .unwrap()
        .contains("back to execution `e-good` (commit `aaaaaaa`)"));
    assert!(Operations::<OperateFakes>::is_confirm_click(
        &confirm_click("U0LEAD", &id, NOW).body
    ));

    // The asker alone cannot, under four-eyes; a stranger cannot; a late click cannot.
    let own = ops
        .on_confirm(&confirm_click("U0LEAD", &id, NOW), NOW)
        .await;
    assert!(
        text(&own).contains("another operator must confirm"),
        "{}",
        text(&own)
    );
    let stranger = ops.on_confirm(&confirm_click("U0DEV", &id, NOW), NOW).await;
    assert!(
        text(&stranger).contains("only the stage's operators may"),
        "{}",
        text(&stranger)
    );
    let late = NOW + 301;
    assert!(text(
        &ops.on_confirm(&confirm_click("U0MIA", &id, late), late)
            .await
    )
    .contains("expired"));
    assert!(ops.later.tasks.lock().unwrap().is_empty());

    // Mia (a group member) confirms: carried out once.
    let ok = ops
        .on_confirm(&confirm_click("U0MIA", &id, NOW + 10), NOW + 10)
        .await;
    assert_eq!((ok.status, ok.body.clone()), (200, serde_json::Value::Null));
    let again = ops
        .on_confirm(&confirm_click("U0LEAD", &id, NOW + 11), NOW + 11)
        .await;
    assert!(
        text(&again).contains("<@U0MIA> already confirmed this"),
        "{}",
        text(&again)
    );
    run_tasks(&ops).await;
    assert_eq!(
        *ops.rollbacks.rolled_back.lock().unwrap(),
        vec![("shop".to_string(), "Prod".to_string(), "e-good".to_string())]
    );
    let said = ops.slack.posted().last().cloned().unwrap();
    assert_eq!(said["thread_ts"], "1.1");
    assert!(said["text"]
        .as_str()
        .unwrap()
        .contains("⏪ <@U0MIA> confirmed"));
}

#[tokio::test]
async fn a_refused_rollback_offers_a_new_execution_at_the_last_good_commit() {
    let mut ops = operations(vec![]);
    ops.rollbacks.refuse = Some(RollbackError::Unable(
        "the pipeline's structure changed since".into(),
    ));
    let id = proposed(&ops).await;
    ops.on_confirm(&confirm_click("U0MIA", &id, NOW + 1), NOW + 1)
        .await;
    run_tasks(&ops).await;
    let fallback = ops.slack.posted().last().cloned().unwrap();
    let t = fallback["text"].as_str().unwrap();
    assert!(
        t.contains(
            "CodePipeline cannot roll this stage back: the pipeline's structure changed since"
        ),
        "{t}"
    );
    assert!(
        t.contains("start *shop* again at the last good commit `aaaaaaa`"),
        "{t}"
    );
    let fallback_id = fallback["blocks"][1]["elements"][0]["value"]
        .as_str()
        .unwrap()
        .to_string();
    ops.on_confirm(&confirm_click("U0MIA", &fallback_id, NOW + 2), NOW + 2)
        .await;
    run_tasks(&ops).await;
    let started = ops.starter.started.lock().unwrap().clone();
    assert_eq!(started.len(), 1);
    assert_eq!(started[0].commit_id, "a".repeat(40));
}

fn last_text(ops: &Operations<OperateFakes>) -> String {
    ops.slack.posted().last().unwrap()["text"]
        .as_str()
        .unwrap()
        .to_string()
}

#[tokio::test]
async fn a_confirmed_restart_forces_a_deployment_of_the_live_side_only_and_reports_its_end() {
    let ops = operations(vec![]);
    ops.on_command(&request("U0DEV", "restart shop Staging", NOW), NOW)
        .await;
    run_tasks(&ops).await;
    let proposal = ops.slack.posted().last().cloned().unwrap();
    let t = proposal["text"].as_str().unwrap();
    assert!(
        t.contains("`shop-green`") && t.contains("2 of 2 tasks running"),
        "{t}"
    );
    let id = proposal["blocks"][1]["elements"][0]["value"]
        .as_str()
        .unwrap()
        .to_string();
    ops.on_confirm(&confirm_click("U0DEV", &id, NOW + 1), NOW + 1)
        .await;
    *ops.restarts.service.lock().unwrap() = super::restart::EcsService {
        desired: 2,
        running: 2,
        deployments: vec![super::restart::EcsDeployment {
            id: "ecs-svc/1".into(),
            status: "PRIMARY".into(),
            rollout: "COMPLETED".into(),
            running: 2,
            desired: 2,
            ..Default::default()
        }],
    };
    run_tasks(&ops).await; // the Confirm: UpdateService, then the watch handed over
    assert_eq!(
        *ops.restarts.forced.lock().unwrap(),
        vec![("c".to_string(), "shop-green".to_string())]
    );
    assert!(last_text(&ops).contains("🔄 <@U0DEV> confirmed"));
    run_tasks(&ops).await; // the watch
    assert!(
        last_text(&ops).contains("is done: 2 new tasks running, steady"),
        "{}",
        last_text(&ops)
    );
    assert!(ops.later.tasks.lock().unwrap().is_empty());
}

#[tokio::test]
async fn no_restart_is_proposed_during_a_traffic_shift() {
    for (open, weights) in [(Some("d-1".to_string()), (0, 100)), (None, (40, 60))] {
        let mut ops = operations(vec![]);
        ops.restarts.open_shift = open;
        ops.restarts.weights = weights;
        ops.on_command(&request("U0DEV", "restart shop Staging", NOW), NOW)
            .await;
        run_tasks(&ops).await;
        let t = last_text(&ops);
        assert!(
            t.contains("shift") && t.contains("Nothing was changed"),
            "{t}"
        );
        assert!(ops.restarts.forced.lock().unwrap().is_empty());
    }
}

/// A click on *Roll back to* of the message about execution `execution` of shop's Prod.
fn roll_back_to_click(user: &str, execution: &str, now: i64) -> Inbound {
    let value = format!("shop|Prod|{execution}");
    let click = crate::approval::interaction::Click {
        user_id: user,
        username: user,
        action_id: crate::traffic::steps::report::ROLL_BACK_TO_ACTION,
        value: &value,
        channel: "C0DEPLOYS",
        message_ts: "1.1",
        response_url: "https://hooks.slack.com/actions/T0/1/x",
        reason: None,
    };
    let signed = click.signed_request(SECRET, now);
    Inbound::new(
        signed.headers.iter().map(|(k, v)| (*k, v.as_str())),
        signed.body.into_bytes(),
    )
}

#[tokio::test]
async fn roll_back_to_proposes_the_same_confirmed_rollback_while_its_release_is_live() {
    let ops = operations(vec![]);
    assert!(Operations::<OperateFakes>::is_roll_back_to_click(
        &roll_back_to_click("U0LEAD", "e-live", NOW).body
    ));
    assert!(!Operations::<OperateFakes>::is_confirm_click(
        &roll_back_to_click("U0LEAD", "e-live", NOW).body
    ));
    let stranger = ops
        .on_roll_back_to(&roll_back_to_click("U0DEV", "e-live", NOW), NOW)
        .await;
    assert!(text(&stranger).contains("You may not roll back *shop › Prod*"));
    assert!(ops.later.tasks.lock().unwrap().is_empty());

    let ok = ops
        .on_roll_back_to(&roll_back_to_click("U0LEAD", "e-live", NOW), NOW)
        .await;
    assert!(text(&ok).contains("Looking up the release before this one"));
    run_tasks(&ops).await;
    let proposal = ops.slack.posted().last().cloned().unwrap();
    assert!(proposal["text"]
        .as_str()
        .unwrap()
        .contains("back to execution `e-good`"));
    assert_eq!(proposal["blocks"][1]["elements"][0]["action_id"], CONFIRM);

    // The stage moved on since the message was posted: nothing is proposed.
    ops.on_roll_back_to(&roll_back_to_click("U0LEAD", "e-older", NOW), NOW)
        .await;
    run_tasks(&ops).await;
    let said = last_text(&ops);
    assert!(said.contains("no longer what runs there"), "{said}");
}

fn deployed(
    execution: &str,
    outcome: crate::delivery::RunOutcome,
    days_ago: i64,
) -> crate::delivery::StageRun {
    crate::delivery::StageRun {
        pipeline: "shop".into(),
        stage: "Prod".into(),
        execution_id: execution.into(),
        kind: crate::delivery::RunKind::Change,
        outcome,
        at_ms: (NOW - days_ago * 86_400) * 1000,
        commit: Some(format!("{execution}0000")),
        git_ref: Some("refs/heads/main".into()),
        thread: None,
    }
}

/// Every block's text of a message, for assertions on what Slack shows.
fn shown(body: &serde_json::Value) -> String {
    body.to_string()
}

#[tokio::test]
async fn anyone_sees_a_services_stats_at_once_against_the_month_before() {
    use crate::delivery::{DeliveryHistory, RunOutcome};
    let ops = operations(vec![]);
    for run in [
        deployed("e1", RunOutcome::Succeeded, 3),
        deployed("e2", RunOutcome::Failed, 2),
        deployed("e0", RunOutcome::Succeeded, 40),
        // Older than both windows: not counted.
        deployed("e-old", RunOutcome::Succeeded, 70),
    ] {
        ops.delivery.record_run(&run).await.unwrap();
    }
    let reply = ops
        .on_command(&request("U0STRANGER", "stats shop", NOW), NOW)
        .await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.body["response_type"], "ephemeral");
    assert_eq!(
        text(&reply),
        "Delivery of shop: last 30 days against the 30 before: Prod 2 deployments, 1 failed"
    );
    let blocks = shown(&reply.body["blocks"]);
    assert!(blocks.contains("Deployments: 2 (before: 1)"), "{blocks}");
    assert!(
        ops.later.tasks.lock().unwrap().is_empty(),
        "answered at once"
    );
}

#[tokio::test]
async fn stats_of_an_unknown_service_name_the_known_ones() {
    let ops = operations(vec![]);
    let t = text(
        &ops.on_command(&request("U0X", "stats cart", NOW), NOW)
            .await,
    );
    assert!(
        t.contains("does not know the service `cart`. Known services: shop."),
        "{t}"
    );
}

#[tokio::test]
async fn stats_of_every_service_come_after_the_acknowledgement() {
    use crate::delivery::{DeliveryHistory, RunOutcome};
    let ops = operations(vec![]);
    ops.delivery
        .record_run(&deployed("e1", RunOutcome::Succeeded, 3))
        .await
        .unwrap();
    let t = text(&ops.on_command(&request("U0X", "stats", NOW), NOW).await);
    assert!(t.contains("answers here in a moment"), "{t}");
    let tasks = ops.later.tasks.lock().unwrap().clone();
    assert_eq!(tasks.len(), 1);
    ops.run(&tasks[0], NOW).await.unwrap();
    let private = ops.slack.private.lock().unwrap().clone();
    assert_eq!(
        private,
        vec![
            "Delivery of shop: last 30 days against the 30 before: Prod 1 deployments, 0 failed"
                .to_string()
        ]
    );
}

#[tokio::test]
async fn help_lists_stats() {
    let ops = operations(vec![]);
    let t = text(&ops.on_command(&request("U0X", "help", NOW), NOW).await);
    assert!(t.contains("`/gantry stats [service]`"), "{t}");
}
