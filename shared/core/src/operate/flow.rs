//! The slash command's flow, generic over its ports: a signed request in; an answer within
//! Slack's three seconds (help, refusals and `status` in that answer, which costs one read of
//! the projection); the slower operations handed to `Later` and carried out by `run`, their
//! results posted in the service's channel, on a message of their own.

use super::board::{board, render, RowKind};
use super::command::{parse_request, parse_text, Operation, SlashCommand, HELP};
use super::confirm::{may_confirm, render_proposal, Confirmation, Proposal};
use super::deploy::{pushed_change, Pushed};
use super::ports::{Confirmations, Later, RollbackError, StageRollbacks, StatusBoard};
use super::restart::{
    judge, live, shifter_parameters, NoRestart, RestartError, RestartPlan, Restarts, Watched,
};
use super::services::{may_act, OperatedService, Operators, ServiceCatalog};
use super::task::Task;
use crate::approval::ports::{Directory, Replies};
use crate::approval::ClickReply;
use crate::config::NotifyConfig;
use crate::delivery::{service_figures, stats_message, DeliveryHistory};
use crate::ingest::{
    Inbound, PipelineStarter, PushFacts, StartRequest, StartedPush, StartedPushes, Variable,
};
use crate::secrets::SecretString;
use crate::slack::Chat;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::collections::BTreeSet;

/// The outside systems the slash command speaks to, named once.
pub trait OperatePorts {
    type Services: ServiceCatalog + Sync;
    type Board: StatusBoard + Sync;
    type Later: Later + Sync;
    type Starter: PipelineStarter + Sync;
    type Started: StartedPushes + Sync;
    type Chat: Replies + Sync;
    type Directory: Directory + Sync;
    type Confirmations: Confirmations + Sync;
    type Rollbacks: StageRollbacks + Sync;
    type Restarts: Restarts + Sync;
    type Delivery: DeliveryHistory + Sync;
}

/// The slash command, wired to its ports.
pub struct Operations<P: OperatePorts> {
    pub services: P::Services,
    /// Where each service's results are posted (`GANTRY_NOTIFY`).
    pub channels: NotifyConfig,
    pub signing_secret: SecretString,
    pub board: P::Board,
    pub later: P::Later,
    pub starter: P::Starter,
    pub started: P::Started,
    pub slack: P::Chat,
    pub directory: P::Directory,
    pub confirmations: P::Confirmations,
    pub rollbacks: P::Rollbacks,
    pub restarts: P::Restarts,
    /// The delivery facts the notifier records, for `stats`.
    pub delivery: P::Delivery,
    /// How long a restart's watch waits before each look at ECS (`RESTART_POLL`; tests: 0).
    pub restart_poll: std::time::Duration,
}

/// A restart's watch looks at ECS this often: a Lambda invocation per look, each within the
/// function's 10-second timeout.
pub const RESTART_POLL: std::time::Duration = std::time::Duration::from_secs(5);

/// A restart's watch gives up (and says so) after this long: ECS's own circuit breaker
/// decides well before on a service that cannot start.
pub const RESTART_WATCH_SECONDS: i64 = 30 * 60;

/// `stats` shows this many days against as many before.
pub const STATS_DAYS: i64 = 30;

/// Two submits of one deploy within this many seconds start one execution.
pub const DEPLOY_DEDUP_SECONDS: i64 = 300;

/// The `git_ref` a slash-command deploy is recorded under: its own history, apart from the
/// branches' pushes.
pub const SLACK_REF: &str = "refs/gantry/slack";

/// The answer when a lookup could not be handed over.
const NOT_LOOKED_UP: &str =
    "Gantry could not look this up just now, so nothing was changed. Try again in a moment.";

fn ephemeral(text: &str) -> ClickReply {
    ClickReply {
        status: 200,
        body: json!({"response_type": "ephemeral", "text": text}),
    }
}

/// Why CodePipeline did not start an execution, in words for Slack: the error's own text (AWS's
/// message, which may name roles and accounts) goes to the logs only.
fn start_refusal(e: &crate::ingest::StartError) -> &'static str {
    use crate::ingest::StartError;
    match e {
        StartError::PipelineNotFound { .. } => {
            "CodePipeline has no such pipeline in Gantry's account and Region"
        }
        StartError::AccessDenied { .. } => {
            "Gantry's role may not start this pipeline (an admin finds why in the approval function's logs)"
        }
        StartError::Rejected { .. } | StartError::Unavailable { .. } => {
            "CodePipeline refused to start it (an admin finds why in the approval function's logs)"
        }
    }
}

/// The pusher a slash-command deploy records: the Slack user, which four-eyes reads as such.
pub fn slack_pusher(user_id: &str) -> String {
    format!("slack:{user_id}")
}

/// The `clientRequestToken` of a deploy: the same for the same user, service and commit within
/// `DEPLOY_DEDUP_SECONDS`, so CodePipeline starts one execution for a double submit (or a
/// Slack retry).
pub fn deploy_token(service: &str, commit: &str, user: &str, now: i64) -> String {
    let digest = Sha256::new()
        .chain_update(b"gantry slash deploy\0")
        .chain_update(service.as_bytes())
        .chain_update([0u8])
        .chain_update(commit.to_ascii_lowercase().as_bytes())
        .chain_update([0u8])
        .chain_update(user.as_bytes())
        .chain_update([0u8])
        .chain_update(now.div_euclid(DEPLOY_DEDUP_SECONDS).to_be_bytes())
        .finalize();
    hex::encode(&digest[..16])
}

/// A proposal's id: from the request that asked for it, so a retried task records the same one.
pub fn operation_id(token: &str, service: &str, stage: &str) -> String {
    let digest = Sha256::new()
        .chain_update(b"gantry operation\0")
        .chain_update(token.as_bytes())
        .chain_update([0u8])
        .chain_update(service.as_bytes())
        .chain_update([0u8])
        .chain_update(stage.as_bytes())
        .finalize();
    hex::encode(&digest[..16])
}

/// What runs in the stage now, for the proposal.
fn live_context(live: Option<&super::ports::RollbackTarget>) -> String {
    match live {
        Some(l) => format!(
            "Live now: execution `{}`{}.",
            l.execution_id,
            l.commit
                .as_deref()
                .map(|c| format!(" (commit `{}`)", c.get(..7).unwrap_or(c)))
                .unwrap_or_default()
        ),
        None => String::new(),
    }
}

impl<P: OperatePorts> Operations<P> {
    /// Handles a slash command request: signature first, then the text.
    pub async fn on_command(&self, request: &Inbound, now: i64) -> ClickReply {
        if let Err(refused) =
            ClickReply::unless_signed(request, &self.signing_secret, now, "slash command")
        {
            return refused;
        }
        let command = match parse_request(&request.body) {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %e, "unreadable slash command");
                return ephemeral(&format!("Gantry could not read this command: {e}."));
            }
        };
        let operation = parse_text(&command.text);
        let reply = self.answer(&command, &operation, now).await;
        // The audit trail: who asked what, and what they were told.
        tracing::info!(
            user = command.user.id,
            user_name = command.user.name,
            channel = command.channel,
            operation = %operation,
            answer = reply.body["text"].as_str().unwrap_or_default(),
            "slash command"
        );
        reply
    }

    async fn answer(&self, c: &SlashCommand, operation: &Operation, now: i64) -> ClickReply {
        match operation {
            Operation::Help => ephemeral(HELP),
            Operation::Unknown { reason } => ephemeral(&format!("{reason}\n\n{HELP}")),
            Operation::Status { service } => self.status(service.as_deref()).await,
            Operation::Stats {
                service: Some(service),
            } => {
                if let Err(told) = self.known(service) {
                    return told;
                }
                // One service is one query of its runs (and one per ref of its pushes): within
                // the three seconds, so answered at once.
                match self.stats_of(service, now).await {
                    Ok(mut m) => {
                        m["response_type"] = json!("ephemeral");
                        ClickReply {
                            status: 200,
                            body: m,
                        }
                    }
                    Err(e) => {
                        tracing::error!(error = %e, service, "could not read the delivery facts");
                        ephemeral(
                            "Gantry could not read its records just now. Try again in a moment.",
                        )
                    }
                }
            }
            Operation::Stats { service: None } => {
                let task = Task::Stats {
                    user_id: c.user.id.clone(),
                    channel: c.channel.clone(),
                    response_url: c.response_url.clone(),
                };
                self.hand_over(
                    &task,
                    "Reading the delivery figures of every service: Gantry answers here in a moment.",
                    "Gantry could not read its records just now. Try `/gantry stats <service>`, or again in a moment.",
                )
                .await
            }
            Operation::Deploy { service, commit } => {
                let s = match self.known(service) {
                    Ok(s) => s,
                    Err(told) => return told,
                };
                if let Some(refusal) = self.refusal(c, &s.deployers(), "deploy", service).await {
                    return ephemeral(&refusal);
                }
                let task = Task::Deploy {
                    service: service.clone(),
                    commit: commit.clone(),
                    user_id: c.user.id.clone(),
                    user_name: c.user.name.clone(),
                    channel: c.channel.clone(),
                    response_url: c.response_url.clone(),
                    token: deploy_token(service, commit, &c.user.id, now),
                };
                let said = format!(
                    "Starting *{service}* at `{commit}`: Gantry posts the result in {}.",
                    self.posted_in(service, &c.channel)
                );
                self.hand_over(&task, &said, "Gantry could not start this just now, so nothing was started. Try again in a moment.")
                    .await
            }
            Operation::Rollback { service, stage } | Operation::Restart { service, stage } => {
                let verb = match operation {
                    Operation::Rollback { .. } => "roll back",
                    _ => "restart",
                };
                let s = match self.known(service) {
                    Ok(s) => s,
                    Err(told) => return told,
                };
                let Some(operators) = s.operators.get(stage) else {
                    let stages: Vec<&str> = s.operators.keys().map(String::as_str).collect();
                    return ephemeral(&format!(
                        "*{service}* has no stage `{stage}` that anyone may operate from Slack. Stages with operators: {}.",
                        if stages.is_empty() { "none".into() } else { stages.join(", ") }
                    ));
                };
                if let Some(refusal) = self
                    .refusal(c, operators, verb, &format!("{service} › {stage}"))
                    .await
                {
                    return ephemeral(&refusal);
                }
                let token = if c.trigger_id.is_empty() {
                    format!("{now}")
                } else {
                    c.trigger_id.clone()
                };
                if matches!(operation, Operation::Restart { .. }) {
                    let task = Task::ProposeRestart {
                        service: service.clone(),
                        stage: stage.clone(),
                        user_id: c.user.id.clone(),
                        channel: c.channel.clone(),
                        response_url: c.response_url.clone(),
                        token,
                    };
                    let said = format!(
                        "Looking up what runs live in *{service} › {stage}*: the proposal, with its Confirm button, goes to {}.",
                        self.posted_in(service, &c.channel)
                    );
                    return self.hand_over(&task, &said, NOT_LOOKED_UP).await;
                }
                {
                    let task = Task::ProposeRollback {
                        service: service.clone(),
                        stage: stage.clone(),
                        user_id: c.user.id.clone(),
                        channel: c.channel.clone(),
                        response_url: c.response_url.clone(),
                        token,
                        expected_live: None,
                    };
                    let said = format!(
                        "Looking up the last good execution of *{service} › {stage}*: the proposal, with its Confirm button, goes to {}.",
                        self.posted_in(service, &c.channel)
                    );
                    self.hand_over(&task, &said, NOT_LOOKED_UP).await
                }
            }
        }
    }

    /// The service, or the answer naming the known ones.
    #[allow(clippy::result_large_err)]
    fn known(&self, service: &str) -> Result<OperatedService, ClickReply> {
        self.services.service(service).ok_or_else(|| {
            let names = self.services.names();
            ephemeral(&format!(
                "Gantry does not know the service `{}`. Known services: {}.",
                crate::text::truncate(service, 80),
                if names.is_empty() {
                    "none".into()
                } else {
                    names.join(", ")
                }
            ))
        })
    }

    /// `None` when the user may act; else the refusal, naming who may.
    async fn refusal(
        &self,
        c: &SlashCommand,
        operators: &Operators,
        verb: &str,
        what: &str,
    ) -> Option<String> {
        match self.is_operator(&c.user.id, operators).await {
            Ok(true) => None,
            Ok(false) => Some(format!(
                "You may not {verb} *{what}*: only its operators may ({}).",
                operators.mentions()
            )),
            Err(told) => Some(told),
        }
    }

    /// Whether `user` is one of `operators` (listed, or in one of their groups).
    async fn is_operator(&self, user: &str, operators: &Operators) -> Result<bool, String> {
        let mut member_of = BTreeSet::new();
        if !operators.users.iter().any(|u| u == user) {
            for group in &operators.groups {
                match self.directory.group_members(group).await {
                    Ok(m) if m.contains(user) => {
                        member_of.insert(group.clone());
                    }
                    Ok(_) => {}
                    Err(e) => {
                        tracing::warn!(error = %e, "could not read user group members");
                        return Err("Slack could not say just now whether you are in the operators' groups. Try again in a moment.".into());
                    }
                }
            }
        }
        Ok(may_act(operators, user, &member_of))
    }

    /// True when an interactivity request is a click on a succeeded deployment's *Roll back to*.
    pub fn is_roll_back_to_click(body: &[u8]) -> bool {
        super::confirm::roll_back_to_click(body).is_some()
    }

    /// A *Roll back to* click: signed by Slack, then the same as `/gantry rollback <pipeline>
    /// <stage>` typed by the clicker (who must operate the stage), provided the message's
    /// execution is still the live one; the Confirm follows as for the command.
    pub async fn on_roll_back_to(&self, request: &Inbound, now: i64) -> ClickReply {
        let click = match self.signed_click(
            request,
            now,
            "Roll back to click",
            super::confirm::roll_back_to_click,
        ) {
            Ok(click) => click,
            Err(answer) => return answer,
        };
        let (service, stage) = (&click.pipeline, &click.stage);
        let s = match self.known(service) {
            Ok(s) => s,
            Err(told) => return told,
        };
        let Some(operators) = s.operators.get(stage) else {
            return ephemeral(&format!("Nobody may roll back *{service} › {stage}* from Slack: the stage has no operators."));
        };
        let operator = match self.is_operator(&click.user, operators).await {
            Ok(o) => o,
            Err(told) => return ephemeral(&told),
        };
        if !operator {
            tracing::info!(user = click.user, service, stage, "Roll back to refused");
            return ephemeral(&format!(
                "You may not roll back *{service} › {stage}*: only its operators may ({}).",
                operators.mentions()
            ));
        }
        let channel = click.channel.clone().unwrap_or_default();
        let task = Task::ProposeRollback {
            service: service.clone(),
            stage: stage.clone(),
            user_id: click.user.clone(),
            channel: channel.clone(),
            response_url: None,
            token: click
                .trigger_id
                .clone()
                .unwrap_or_else(|| format!("{}-{now}", click.execution_id)),
            expected_live: Some(click.execution_id.clone()),
        };
        tracing::info!(
            user = click.user,
            service,
            stage,
            execution = click.execution_id,
            "Roll back to clicked"
        );
        let said = format!(
            "Looking up the release before this one in *{service} › {stage}*: the proposal, with its Confirm button, goes to {}.",
            self.posted_in(service, &channel)
        );
        self.hand_over(&task, &said, NOT_LOOKED_UP).await
    }

    /// True when an interactivity request is a click on an operation's Confirm button.
    pub fn is_confirm_click(body: &[u8]) -> bool {
        super::confirm::confirm_click(body).is_some()
    }

    /// A Confirm click: signature, then who may, then the first click wins; the proposal is
    /// carried out after the acknowledgement.
    pub async fn on_confirm(&self, request: &Inbound, now: i64) -> ClickReply {
        let click =
            match self.signed_click(request, now, "Confirm click", super::confirm::confirm_click) {
                Ok(click) => click,
                Err(answer) => return answer,
            };
        let id = click.id.clone();
        let user = click.user.clone();
        let confirmation = match self.confirmations.read(&id).await {
            Ok(Some(c)) => c,
            Ok(None) => {
                return ephemeral("Gantry has no record of this proposal. Nothing was changed.")
            }
            Err(e) => {
                tracing::error!(error = %e, "could not read the confirmation");
                return ephemeral("Gantry could not read its records just now, so nothing was changed. Try again in a moment.");
            }
        };
        let operators = self
            .services
            .service(confirmation.proposal.service())
            .and_then(|s| s.operators.get(confirmation.proposal.stage()).cloned())
            .unwrap_or_default();
        let operator = match self.is_operator(&user, &operators).await {
            Ok(o) => o,
            Err(told) => return ephemeral(&told),
        };
        if let Err(refusal) =
            may_confirm(&confirmation, &user, operator, &operators.mentions(), now)
        {
            tracing::info!(operation = id, user, reason = %refusal, "Confirm refused");
            return ephemeral(&refusal.to_string());
        }
        match self.confirmations.confirm(&id, &user).await {
            Ok(true) => {}
            Ok(false) => {
                let by = self
                    .confirmations
                    .read(&id)
                    .await
                    .ok()
                    .flatten()
                    .and_then(|c| c.confirmed_by)
                    .unwrap_or_default();
                return ephemeral(
                    &super::confirm::ConfirmRefusal::AlreadyConfirmed(by).to_string(),
                );
            }
            Err(e) => {
                tracing::error!(error = %e, "could not record the Confirm");
                return ephemeral("Gantry could not record the Confirm, so nothing was changed. Try again in a moment.");
            }
        }
        tracing::info!(operation = id, user, proposal = ?confirmation.proposal, "confirmed");
        let task = Task::Carry {
            id: id.clone(),
            by: user,
            channel: click.channel.clone(),
            thread_ts: click.thread_ts.clone(),
        };
        match self.later.defer(&task).await {
            Ok(()) => ClickReply {
                status: 200,
                body: Value::Null,
            },
            Err(e) => {
                tracing::error!(error = %e, "could not defer the confirmed operation");
                ephemeral(
                    "Confirmed, but Gantry could not start it just now. Ask again with `/gantry`.",
                )
            }
        }
    }

    /// A click on one of the command's buttons: Slack's signature, then the click `read` finds
    /// in the body; else the answer to give.
    fn signed_click<T>(
        &self,
        request: &Inbound,
        now: i64,
        what: &str,
        read: impl Fn(&[u8]) -> Option<T>,
    ) -> Result<T, ClickReply> {
        ClickReply::unless_signed(request, &self.signing_secret, now, what)?;
        read(&request.body).ok_or_else(|| ephemeral("Gantry could not read this click."))
    }

    /// Hands `task` over for after the acknowledgement; answers `said` once it is, else
    /// `failed` (nothing was done: the reason goes to the logs).
    async fn hand_over(&self, task: &Task, said: &str, failed: &str) -> ClickReply {
        match self.later.defer(task).await {
            Ok(()) => ephemeral(said),
            Err(e) => {
                tracing::error!(error = %e, task = task.name(), "could not hand the work over");
                ephemeral(failed)
            }
        }
    }

    /// Where a service's results go, as the answer names it.
    fn posted_in(&self, service: &str, asked_in: &str) -> String {
        self.channel_of(service, asked_in)
            .map_or("this channel".to_string(), |ch| format!("<#{ch}>"))
    }

    fn channel_of<'a>(&'a self, service: &str, fallback: &'a str) -> Option<&'a str> {
        self.channels.channel_for(service).or(Some(fallback))
    }

    /// What the webhook recorded of `typed`'s push: the refs of the executions the status
    /// board shows for `service` (the webhook's record of each), each ref's retained pushes, and
    /// each stage's live execution, where the change starts. After the acknowledgement: a few
    /// reads, no CodePipeline call.
    async fn pushed(&self, service: &str, typed: &str) -> Result<Pushed, crate::store::StoreError> {
        let rows = self.board.rows().await?;
        let mut executions = BTreeSet::new();
        let mut lives = Vec::new();
        for (kind, run) in rows.iter().filter(|(_, r)| r.pipeline == service) {
            match kind {
                RowKind::Live => {
                    lives.push((run.execution_id.clone(), run.commit.clone()));
                    executions.insert(run.execution_id.clone());
                }
                RowKind::Latest => {
                    executions.insert(run.execution_id.clone());
                }
                RowKind::Shift => {}
            }
        }
        let mut refs = BTreeSet::new();
        for execution in &executions {
            if let Some(p) = self.delivery.started(service, execution).await? {
                // A slash deploy's own record says nothing of where its commit was pushed.
                if p.git_ref != SLACK_REF {
                    refs.insert(p.git_ref);
                }
            }
        }
        let mut histories = Vec::new();
        for git_ref in refs {
            let mut history = self.delivery.pushes(service, &git_ref, 0).await?;
            history.sort_by_key(|p| (p.facts.received_ms, p.facts.received_at));
            histories.push(history);
        }
        Ok(pushed_change(typed, &histories, &lives))
    }

    /// `status [service]`: one read of the projection.
    async fn status(&self, only: Option<&str>) -> ClickReply {
        let rows = match self.board.rows().await {
            Ok(rows) => rows,
            Err(e) => {
                tracing::error!(error = %e, "could not read the status projection");
                return ephemeral(
                    "Gantry could not read its records just now. Try again in a moment.",
                );
            }
        };
        let b = board(rows);
        if let Some(s) = only {
            if !b.contains_key(s) && self.services.service(s).is_none() {
                let mut names: BTreeSet<String> = self.services.names().into_iter().collect();
                names.extend(b.keys().cloned());
                let names: Vec<String> = names.into_iter().collect();
                return ephemeral(&format!(
                    "Gantry does not know the service `{}`. Known services: {}.",
                    crate::text::truncate(s, 80),
                    if names.is_empty() {
                        "none".into()
                    } else {
                        names.join(", ")
                    }
                ));
            }
        }
        ephemeral(&render(&b, only))
    }

    /// Carries out a task handed over by `on_command`. An `Err` asks Lambda to retry it (it is
    /// idempotent: the same token starts the same execution).
    pub async fn run(&self, task: &Task, now: i64) -> Result<Value, crate::ingest::StartError> {
        match task {
            Task::Deploy {
                service,
                commit,
                user_id,
                user_name,
                channel,
                response_url,
                token,
            } => {
                let source_action = self
                    .services
                    .service(service)
                    .map(|s| s.source_action)
                    .unwrap_or_else(|| super::services::DEFAULT_SOURCE_ACTION.into());
                let mut request = StartRequest {
                    pipeline: service.clone(),
                    client_request_token: token.clone(),
                    source_action,
                    commit_id: commit.clone(),
                    variables: vec![
                        Variable {
                            name: "COMMIT_ID".into(),
                            value: commit.clone(),
                        },
                        Variable {
                            name: "PUSHER".into(),
                            value: user_name.clone(),
                        },
                    ],
                };
                let where_to = self
                    .channel_of(service, channel)
                    .unwrap_or(channel)
                    .to_string();
                // Four-eyes trusts only what the webhook recorded of a signed push: a commit it
                // never saw pushed has no known authors, and one of them could approve it. So
                // such a commit is not deployed (fail closed), and a seen one carries everyone
                // the webhook recorded for the change it brings (`operate::deploy`).
                let (pushers, authors) = match self.pushed(service, commit).await {
                    Ok(Pushed::Seen {
                        commit: full,
                        pushers,
                        authors,
                        ..
                    }) => {
                        request.commit_id = full.clone();
                        request.variables[0].value = full;
                        (pushers, authors)
                    }
                    Ok(Pushed::Unseen) => {
                        tracing::info!(
                            service,
                            commit,
                            user = user_id,
                            "slash deploy of a commit never pushed refused"
                        );
                        let text = format!("❌ <@{user_id}> asked to deploy *{service}* at `{commit}`: Gantry's webhook never saw that commit pushed to a branch of *{service}* (in the {} days of pushes it keeps), so the four-eyes rule could not tell who wrote it. Nothing was started. Push it to a branch that starts *{service}* first, or deploy a commit Gantry saw pushed.", crate::ingest::PUSH_HISTORY_SECONDS / 86_400);
                        self.tell(&where_to, response_url.as_deref(), &text).await;
                        return Ok(json!({"deployed": false, "reason": "never pushed"}));
                    }
                    Ok(Pushed::Ambiguous(commits)) => {
                        let text = format!("❌ <@{user_id}> asked to deploy *{service}* at `{commit}`, which is the start of {} pushed commits: nothing was started. Give more of its digits.", commits.len());
                        self.tell(&where_to, response_url.as_deref(), &text).await;
                        return Ok(json!({"deployed": false, "reason": "ambiguous"}));
                    }
                    Err(e) => {
                        tracing::error!(error = %e, service, "could not read the pushes for a slash deploy");
                        let text = format!("❌ <@{user_id}> asked to deploy *{service}* at `{commit}`: Gantry could not read its records of the service's pushes just now, so nothing was started. Try again in a moment.");
                        self.tell(&where_to, response_url.as_deref(), &text).await;
                        return Ok(json!({"deployed": false, "reason": "records unreadable"}));
                    }
                };
                let commit = &request.commit_id;
                let execution_id = match self.starter.start(&request).await {
                    Ok(id) => id,
                    Err(e @ crate::ingest::StartError::Unavailable { .. }) => return Err(e),
                    Err(e) => {
                        // AWS's own words stay in the logs: they may name roles and accounts.
                        tracing::warn!(error = %e, service, user = user_id, "slash deploy refused");
                        let text = format!(
                            "❌ <@{user_id}> asked to deploy *{service}* at `{commit}`: {}.",
                            start_refusal(&e)
                        );
                        self.tell(&where_to, response_url.as_deref(), &text).await;
                        return Ok(json!({"deployed": false}));
                    }
                };
                // What four-eyes trusts: this Slack user pushed this change, whose people the
                // webhook recorded.
                let started = StartedPush {
                    pipeline: service.clone(),
                    execution_id: execution_id.clone(),
                    git_ref: SLACK_REF.into(),
                    commit_id: commit.clone(),
                    facts: PushFacts {
                        pusher: Some(slack_pusher(user_id)),
                        authors,
                        carried_pushers: pushers,
                        commits: vec![commit.clone()],
                        delivery: format!("slack:{token}"),
                        received_at: now,
                        received_ms: now.saturating_mul(1000),
                    },
                };
                if let Err(e) = self.started.record_start(&started).await {
                    // Without the record, four-eyes finds no pusher and lets nobody approve
                    // from Slack: safe, and said in the thread below.
                    tracing::error!(error = %e, execution_id, "could not record the slash deploy");
                }
                tracing::info!(
                    service,
                    commit,
                    user = user_id,
                    execution_id,
                    "slash deploy started"
                );
                let text = format!(
                    "🚀 <@{user_id}> started *{service}* at `{commit}` from Slack (execution `{execution_id}`). Its approvals still apply."
                );
                self.tell(&where_to, response_url.as_deref(), &text).await;
                Ok(json!({"deployed": true, "execution_id": execution_id}))
            }
            Task::ProposeRollback {
                service,
                stage,
                user_id,
                channel,
                response_url,
                token,
                expected_live,
            } => {
                let where_to = self
                    .channel_of(service, channel)
                    .unwrap_or(channel)
                    .to_string();
                let successes = match self.rollbacks.successes(service, stage).await {
                    Ok(s) => s,
                    Err(e) => {
                        tracing::warn!(error = %e, service, stage, "could not list the stage's successes");
                        let text = format!("<@{user_id}> asked to roll back *{service} › {stage}*: Gantry could not list its successful executions just now. Nothing was changed.");
                        self.tell(&where_to, response_url.as_deref(), &text).await;
                        return Ok(json!({"proposed": false}));
                    }
                };
                if let Some(expected) = expected_live {
                    if successes.first().map(|s| &s.execution_id) != Some(expected) {
                        let text = format!("<@{user_id}> asked to roll *{service} › {stage}* back from execution `{expected}`, but that is no longer what runs there: nothing was changed. `/gantry rollback {service} {stage}` proposes the release before the live one.");
                        self.tell(&where_to, response_url.as_deref(), &text).await;
                        return Ok(json!({"proposed": false}));
                    }
                }
                // The newest success is what runs there now: the target is the one before.
                let Some(target) = successes.get(1) else {
                    let text = format!("<@{user_id}> asked to roll back *{service} › {stage}*: no earlier execution succeeded in that stage, so there is nothing to roll back to.");
                    self.tell(&where_to, response_url.as_deref(), &text).await;
                    return Ok(json!({"proposed": false}));
                };
                let four_eyes = self
                    .services
                    .service(service)
                    .and_then(|s| s.operators.get(stage).map(|o| o.four_eyes))
                    .unwrap_or(false);
                let confirmation = Confirmation {
                    id: operation_id(token, service, stage),
                    proposal: Proposal::Rollback {
                        service: service.clone(),
                        stage: stage.clone(),
                        target: target.execution_id.clone(),
                        commit: target.commit.clone(),
                    },
                    requested_by: user_id.clone(),
                    requested_at: now,
                    four_eyes,
                    confirmed_by: None,
                };
                self.propose(&confirmation, &where_to, &live_context(successes.first()))
                    .await
            }
            Task::ProposeRestart {
                service,
                stage,
                user_id,
                channel,
                response_url,
                token,
            } => {
                let where_to = self
                    .channel_of(service, channel)
                    .unwrap_or(channel)
                    .to_string();
                let plan = match self.restart_plan(service, stage).await {
                    Ok(plan) => plan,
                    Err(why) => {
                        tracing::info!(service, stage, user = user_id, reason = %why, "restart refused");
                        let text = format!("<@{user_id}> asked to restart *{service} › {stage}*: {why}. Nothing was changed.");
                        self.tell(&where_to, response_url.as_deref(), &text).await;
                        return Ok(json!({"proposed": false, "reason": why.to_string()}));
                    }
                };
                let four_eyes = self
                    .services
                    .service(service)
                    .and_then(|s| s.operators.get(stage).map(|o| o.four_eyes))
                    .unwrap_or(false);
                let confirmation = Confirmation {
                    id: operation_id(token, service, stage),
                    proposal: Proposal::Restart {
                        service: service.clone(),
                        stage: stage.clone(),
                        cluster: plan.cluster.clone(),
                        ecs_service: plan.service.clone(),
                    },
                    requested_by: user_id.clone(),
                    requested_at: now,
                    four_eyes,
                    confirmed_by: None,
                };
                let context = format!(
                    "Live side: {} (`{}`), {} of {} tasks running; its tasks are replaced one by one, the idle side is left alone.",
                    plan.side, plan.service, plan.running, plan.desired
                );
                self.propose(&confirmation, &where_to, &context).await
            }
            Task::WatchRestart { .. } => self.watch_restart(task, now).await,
            Task::Stats {
                user_id,
                channel,
                response_url,
            } => Ok(self
                .stats_of_all(user_id, channel, response_url.as_deref(), now)
                .await),
            Task::Carry {
                id,
                by,
                channel,
                thread_ts,
            } => {
                self.carry(id, by, channel.as_deref(), thread_ts.as_deref(), now)
                    .await
            }
        }
    }

    /// What `restart` would restart now, or why it will not: no shift open in the stage (the
    /// shifter's records), the pair from the stage's definition, the live side by the
    /// listener's weights, its service's counts.
    async fn restart_plan(&self, service: &str, stage: &str) -> Result<RestartPlan, NoRestart> {
        if let Some(id) = self
            .restarts
            .open_shift(service, stage)
            .await
            .map_err(NoRestart::Unreadable)?
        {
            return Err(NoRestart::Shifting(id));
        }
        let candidates = self
            .restarts
            .invoke_parameters(service, stage)
            .await
            .map_err(NoRestart::Unreadable)?;
        let params = shifter_parameters(&candidates).ok_or(NoRestart::NoShifter)?;
        let targets = self
            .restarts
            .forward(&params.traffic)
            .await
            .map_err(NoRestart::Unreadable)?;
        let side = live(&params, &targets)?;
        let name = params.side(side).service.clone();
        let found = self
            .restarts
            .service(&params.cluster, &name)
            .await
            .map_err(NoRestart::Unreadable)?
            .ok_or_else(|| NoRestart::NoService {
                cluster: params.cluster.clone(),
                service: name.clone(),
            })?;
        Ok(RestartPlan {
            cluster: params.cluster,
            service: name,
            side,
            running: found.running,
            desired: found.desired,
        })
    }

    /// One look at a restart's deployment: its end reported in the proposal's thread, or the
    /// watch handed over again.
    async fn watch_restart(
        &self,
        task: &Task,
        now: i64,
    ) -> Result<Value, crate::ingest::StartError> {
        let Task::WatchRestart {
            service,
            stage,
            cluster,
            ecs_service,
            deployment,
            by,
            channel,
            thread_ts,
            since,
        } = task
        else {
            return Ok(Value::Null);
        };
        if !self.restart_poll.is_zero() {
            crate::clock::sleep(self.restart_poll).await;
        }
        let unavailable = |e: RestartError| crate::ingest::StartError::Unavailable {
            pipeline: service.clone(),
            reason: e.to_string(),
        };
        let watched = match self.restarts.service(cluster, ecs_service).await {
            Ok(Some(s)) => judge(&s, deployment),
            Ok(None) => Watched::Replaced,
            Err(e @ RestartError::Unavailable(_)) => return Err(unavailable(e)),
            Err(e) => Watched::Failed {
                reason: e.to_string(),
            },
        };
        let what = format!("*{service} › {stage}* (`{ecs_service}`)");
        let (outcome, text) = match &watched {
            Watched::Rolling { .. } if now - since < RESTART_WATCH_SECONDS => {
                if let Err(e) = self.later.defer(task).await {
                    tracing::error!(error = %e, "could not hand the restart's watch over");
                    return Err(crate::ingest::StartError::Unavailable {
                        pipeline: service.clone(),
                        reason: e.to_string(),
                    });
                }
                return Ok(json!({"restart": "rolling"}));
            }
            Watched::Rolling { running, desired } => ("timed out", format!("⏳ The restart of {what} is not steady after {} minutes ({running} of {desired} new tasks running): Gantry stops watching; see the ECS console.", RESTART_WATCH_SECONDS / 60)),
            Watched::Steady { running } => ("steady", format!("✅ The restart of {what} is done: {running} new tasks running, steady.")),
            Watched::Failed { reason } => ("failed", format!("❌ The restart of {what} failed: {reason}. The old tasks keep serving if ECS kept them; see the ECS console.")),
            Watched::RolledBack { reason } => ("rolled back", format!("↩️ The restart of {what} failed and ECS's circuit breaker rolled the service back to the tasks it ran before: {reason}.")),
            Watched::Replaced => ("replaced", format!("The restart of {what} was replaced by another deployment of the service before it finished; Gantry stops watching.")),
        };
        tracing::info!(
            service,
            stage,
            ecs_service,
            deployment,
            by,
            outcome,
            "restart ended"
        );
        let mut m = json!({"channel": channel.as_deref().unwrap_or_default(), "text": text});
        if let Some(t) = thread_ts {
            m["thread_ts"] = json!(t);
        }
        if let Err(e) = self.slack.post(&m).await {
            tracing::warn!(error = %e, "could not report the restart's end");
        }
        Ok(json!({"restart": outcome}))
    }

    /// Records the proposal and posts it, with its Confirm button, on a message of its own.
    async fn propose(
        &self,
        c: &Confirmation,
        channel: &str,
        context: &str,
    ) -> Result<Value, crate::ingest::StartError> {
        if let Err(e) = self.confirmations.create(c).await {
            tracing::error!(error = %e, "could not record the proposal");
            return Err(crate::ingest::StartError::Unavailable {
                pipeline: c.proposal.service().into(),
                reason: e.to_string(),
            });
        }
        tracing::info!(operation = c.id, user = c.requested_by, proposal = ?c.proposal, "proposed");
        if let Err(e) = self.slack.post(&render_proposal(c, channel, context)).await {
            tracing::warn!(error = %e, "could not post the proposal");
        }
        Ok(json!({"proposed": true, "operation": c.id}))
    }

    /// Carries out a confirmed proposal; says how it went in the proposal's thread.
    async fn carry(
        &self,
        id: &str,
        by: &str,
        channel: Option<&str>,
        thread: Option<&str>,
        now: i64,
    ) -> Result<Value, crate::ingest::StartError> {
        let c = match self.confirmations.read(id).await {
            Ok(Some(c)) => c,
            Ok(None) => return Ok(json!({"carried": false})),
            Err(e) => {
                return Err(crate::ingest::StartError::Unavailable {
                    pipeline: String::new(),
                    reason: e.to_string(),
                })
            }
        };
        let say = |text: String| {
            let mut m = json!({"channel": channel.unwrap_or_default(), "text": text});
            if let Some(t) = thread {
                m["thread_ts"] = json!(t);
            }
            m
        };
        match &c.proposal {
            Proposal::Rollback {
                service,
                stage,
                target,
                commit,
            } => match self.rollbacks.rollback(service, stage, target).await {
                Ok(execution) => {
                    tracing::info!(
                        operation = id,
                        by,
                        service,
                        stage,
                        target,
                        execution,
                        "rolled back"
                    );
                    // Recorded as a slash deploy is, so the notifier's message of the new
                    // execution says who rolled back from Slack (and four-eyes counts them as
                    // its pusher, should the stage hold an approval).
                    let started = StartedPush {
                        pipeline: service.clone(),
                        execution_id: execution.clone(),
                        git_ref: SLACK_REF.into(),
                        commit_id: commit.clone().unwrap_or_default(),
                        facts: PushFacts {
                            pusher: Some(slack_pusher(&c.requested_by)),
                            authors: vec![],
                            commits: commit.iter().cloned().collect(),
                            delivery: format!("slack:rollback:{id}"),
                            received_at: now,
                            received_ms: now.saturating_mul(1000),
                            carried_pushers: Vec::new(),
                        },
                    };
                    if let Err(e) = self.started.record_start(&started).await {
                        // The rollback runs anyway; its message says "a rollback" without who.
                        tracing::warn!(error = %e, execution, "could not record the rollback's start");
                    }
                    let text = format!("⏪ <@{by}> confirmed: *{service} › {stage}* is rolling back to execution `{target}` (new execution `{execution}`).");
                    if let Err(e) = self.slack.post(&say(text)).await {
                        tracing::warn!(error = %e, "could not report the rollback");
                    }
                    Ok(json!({"rolled_back": true, "execution_id": execution}))
                }
                Err(e @ RollbackError::Unavailable(_)) => {
                    Err(crate::ingest::StartError::Unavailable {
                        pipeline: service.clone(),
                        reason: e.to_string(),
                    })
                }
                Err(e) => {
                    tracing::warn!(operation = id, by, service, stage, error = %e, "rollback refused");
                    let Some(commit) = commit.clone() else {
                        let text = format!("❌ <@{by}> confirmed, but {e}. Gantry does not know the last good commit, so it cannot offer a new execution.");
                        if let Err(e) = self.slack.post(&say(text)).await {
                            tracing::warn!(error = %e, "could not report the refusal");
                        }
                        return Ok(json!({"rolled_back": false}));
                    };
                    let fallback = Confirmation {
                        id: operation_id(id, service, "fallback"),
                        proposal: Proposal::Redeploy {
                            service: service.clone(),
                            stage: stage.clone(),
                            commit,
                        },
                        requested_by: c.requested_by.clone(),
                        requested_at: now,
                        four_eyes: c.four_eyes,
                        confirmed_by: None,
                    };
                    let mut message = render_proposal(
                        &fallback,
                        channel.unwrap_or_default(),
                        &format!("❌ <@{by}> confirmed, but {e}. The fallback:"),
                    );
                    if let Some(t) = thread {
                        message["thread_ts"] = json!(t);
                    }
                    if let Err(e) = self.confirmations.create(&fallback).await {
                        tracing::error!(error = %e, "could not record the fallback");
                    } else if let Err(e) = self.slack.post(&message).await {
                        tracing::warn!(error = %e, "could not post the fallback");
                    }
                    Ok(json!({"rolled_back": false, "fallback": fallback.id}))
                }
            },
            Proposal::Restart {
                service,
                stage,
                cluster,
                ecs_service,
            } => {
                // Checked again: a shift may have started, or swapped the sides, since.
                let plan = match self.restart_plan(service, stage).await {
                    Ok(p) if &p.service == ecs_service && &p.cluster == cluster => p,
                    Ok(p) => {
                        let text = format!("❌ <@{by}> confirmed, but the live side of *{service} › {stage}* is now `{}`, not `{ecs_service}`: nothing was restarted. Ask again with `/gantry restart`.", p.service);
                        if let Err(e) = self.slack.post(&say(text)).await {
                            tracing::warn!(error = %e, "could not report the refusal");
                        }
                        return Ok(json!({"restarted": false}));
                    }
                    Err(NoRestart::Unreadable(e @ RestartError::Unavailable(_))) => {
                        return Err(crate::ingest::StartError::Unavailable {
                            pipeline: service.clone(),
                            reason: e.to_string(),
                        })
                    }
                    Err(why) => {
                        tracing::info!(operation = id, by, service, stage, reason = %why, "restart refused");
                        let text =
                            format!("❌ <@{by}> confirmed, but {why}. Nothing was restarted.");
                        if let Err(e) = self.slack.post(&say(text)).await {
                            tracing::warn!(error = %e, "could not report the refusal");
                        }
                        return Ok(json!({"restarted": false, "reason": why.to_string()}));
                    }
                };
                let deployment = match self
                    .restarts
                    .force_new_deployment(&plan.cluster, &plan.service)
                    .await
                {
                    Ok(d) => d,
                    Err(e @ RestartError::Unavailable(_)) => {
                        return Err(crate::ingest::StartError::Unavailable {
                            pipeline: service.clone(),
                            reason: e.to_string(),
                        })
                    }
                    Err(e) => {
                        tracing::warn!(operation = id, by, service, stage, error = %e, "restart refused");
                        // ECS's own words (roles, ARNs) stay in the log line above.
                        let text = format!("❌ <@{by}> confirmed, but ECS refused the restart (an admin finds why in the approval function's logs). Nothing was restarted.");
                        if let Err(e) = self.slack.post(&say(text)).await {
                            tracing::warn!(error = %e, "could not report the refusal");
                        }
                        return Ok(json!({"restarted": false}));
                    }
                };
                tracing::info!(
                    operation = id,
                    by,
                    service,
                    stage,
                    ecs_service,
                    deployment,
                    "restarted"
                );
                let text = format!("🔄 <@{by}> confirmed: *{service} › {stage}* is restarting (`{ecs_service}`, {} tasks, ECS deployment `{deployment}`). Gantry reports here when it is steady.", plan.desired);
                if let Err(e) = self.slack.post(&say(text)).await {
                    tracing::warn!(error = %e, "could not report the restart");
                }
                let watch = Task::WatchRestart {
                    service: service.clone(),
                    stage: stage.clone(),
                    cluster: plan.cluster,
                    ecs_service: plan.service,
                    deployment: deployment.clone(),
                    by: by.to_string(),
                    channel: channel.map(str::to_string),
                    thread_ts: thread.map(str::to_string),
                    since: now,
                };
                if let Err(e) = self.later.defer(&watch).await {
                    // The restart runs anyway; only its report is lost.
                    tracing::error!(error = %e, "could not hand the restart's watch over");
                }
                Ok(json!({"restarted": true, "deployment": deployment}))
            }
            Proposal::Redeploy {
                service, commit, ..
            } => {
                let source_action = self
                    .services
                    .service(service)
                    .map(|s| s.source_action)
                    .unwrap_or_else(|| super::services::DEFAULT_SOURCE_ACTION.into());
                let request = StartRequest {
                    pipeline: service.clone(),
                    client_request_token: id.to_string(),
                    source_action,
                    commit_id: commit.clone(),
                    variables: vec![Variable {
                        name: "COMMIT_ID".into(),
                        value: commit.clone(),
                    }],
                };
                let (started, text) = match self.starter.start(&request).await {
                    Ok(execution) => {
                        tracing::info!(
                            operation = id,
                            by,
                            service,
                            commit,
                            execution,
                            "redeployed the last good commit"
                        );
                        (true, format!("🚀 <@{by}> confirmed: *{service}* started again at `{commit}` (execution `{execution}`)."))
                    }
                    Err(e @ crate::ingest::StartError::Unavailable { .. }) => return Err(e),
                    Err(e) => {
                        tracing::warn!(operation = id, by, service, error = %e, "redeploy refused");
                        (
                            false,
                            format!("❌ <@{by}> confirmed, but {}.", start_refusal(&e)),
                        )
                    }
                };
                if let Err(e) = self.slack.post(&say(text)).await {
                    tracing::warn!(error = %e, "could not report the new execution");
                }
                Ok(json!({"redeployed": started}))
            }
        }
    }

    /// `stats <service>`'s message: the figures of the last `STATS_DAYS` days against as many
    /// before.
    async fn stats_of(&self, service: &str, now: i64) -> Result<Value, crate::store::StoreError> {
        let figures = service_figures(
            &self.delivery,
            service,
            now.saturating_mul(1000),
            STATS_DAYS,
        )
        .await?;
        Ok(stats_message(&figures))
    }

    /// `stats` alone, after the acknowledgement: each known service's message, to the one who
    /// asked (through `response_url`, privately, as `status` answers; at most five answers per
    /// command, so one message holds them all), else posted in the channel it was typed in. A
    /// service whose facts cannot be read says so and the others still show.
    async fn stats_of_all(
        &self,
        user_id: &str,
        channel: &str,
        response_url: Option<&str>,
        now: i64,
    ) -> Value {
        let names = self.services.names();
        let mut blocks: Vec<Value> = Vec::new();
        let mut texts: Vec<String> = Vec::new();
        for name in &names {
            match self.stats_of(name, now).await {
                Ok(m) => {
                    if let Some(b) = m["blocks"].as_array() {
                        if !blocks.is_empty() {
                            blocks.push(json!({"type": "divider"}));
                        }
                        blocks.extend(b.iter().cloned());
                    }
                    texts.push(m["text"].as_str().unwrap_or_default().to_string());
                }
                Err(e) => {
                    tracing::error!(error = %e, service = name, "could not read the delivery facts");
                    let t = format!("Gantry could not read the records of *{name}* just now.");
                    blocks.push(json!({"type": "section", "text": {"type": "mrkdwn", "text": t}}));
                    texts.push(t);
                }
            }
        }
        if names.is_empty() {
            texts.push("Gantry knows no services yet.".into());
        }
        // Slack refuses a message of more than 50 blocks; the text still names every service.
        blocks.truncate(crate::notify::render::MAX_BLOCKS);
        let text =
            crate::notify::render::cut(&texts.join("\n"), crate::notify::render::MAX_FALLBACK_TEXT);
        let mut body = json!({"text": text, "blocks": blocks});
        tracing::info!(
            user = user_id,
            services = names.len(),
            "stats of every service"
        );
        if let Some(url) = response_url {
            body["response_type"] = json!("ephemeral");
            match self.slack.respond(url, &body).await {
                Ok(()) => return json!({"stats": names.len(), "answered": "response_url"}),
                Err(e) => tracing::warn!(error = %e, "could not answer through response_url"),
            }
            if let Some(o) = body.as_object_mut() {
                o.remove("response_type");
            }
        }
        body["channel"] = json!(channel);
        if let Err(e) = self.slack.post(&body).await {
            tracing::warn!(error = %e, "could not post the stats");
        }
        json!({"stats": names.len(), "answered": "channel"})
    }

    /// Posts the result in the channel, on a message of its own; else through `response_url`.
    async fn tell(&self, channel: &str, response_url: Option<&str>, text: &str) {
        match self
            .slack
            .post(&json!({"channel": channel, "text": text}))
            .await
        {
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(error = %e, "could not post the operation's result");
                if let Some(url) = response_url {
                    let body = json!({"response_type": "ephemeral", "text": text});
                    if let Err(e) = self.slack.respond(url, &body).await {
                        tracing::warn!(error = %e, "could not answer through response_url");
                    }
                }
            }
        }
    }
}
