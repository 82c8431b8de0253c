//! The traffic shifter's Promote and Roll back buttons: the stage's approvers decide (Promote
//! releases the change, so the four-eyes rule applies), and the command is written on the
//! deployment for the shifter's next check. One command per deployment: the first click wins.

use super::click::{Told, STATE_DOWN};
use super::ports::{
    ApprovalActions, ApprovalStore, CommandOutcome, DeploymentCommands, Directory, Replies,
};
use super::{Act, Approvals, Button, ChangeOwners, Interaction, Verdict};
use crate::traffic::Command;
use serde_json::json;

const UNKNOWN: &str =
    "Gantry has no record of this deployment (it may have finished). Nothing was changed.";
const NOT_RECORDED: &str =
    "Gantry could not record the command, so nothing was changed. Try again in a moment.";

impl<S, P, C, D, K> Approvals<S, P, C, D, K>
where
    S: ApprovalStore,
    P: ApprovalActions,
    C: Replies,
    D: Directory,
    K: DeploymentCommands,
{
    /// Promote or Roll back.
    pub(super) async fn command(
        &self,
        i: &Interaction,
        button: &Button,
        retry: bool,
        now: i64,
    ) -> Told {
        let id = button.target();
        let command = match button.act() {
            Act::Promote => Command::Promote {
                by: i.user.id.clone(),
            },
            _ => Command::RollBack {
                by: i.user.id.clone(),
            },
        };
        let deployment = match self.deployments.deployment(id).await {
            Ok(Some(d)) => d,
            Ok(None) => {
                tracing::warn!(
                    deployment = id,
                    user = i.user.id,
                    "click on an unknown deployment"
                );
                return Told::Privately(UNKNOWN.into());
            }
            Err(e) => {
                tracing::error!(error = %e, deployment = id, "could not read the deployment");
                return Told::Privately(STATE_DOWN.into());
            }
        };
        if let Some(pending) = &deployment.command {
            return if retry {
                Told::Nothing
            } else {
                Told::Privately(already(pending))
            };
        }
        let context = deployment.context.as_ref();
        let rule = context.and_then(|c| self.rule(&c.pipeline, &c.stage));
        // Whose change it is matters only for releasing it under the four-eyes rule.
        let verdict = self
            .permission(&i.user, button.act(), rule, || async move {
                let execution = context
                    .map(|c| (c.pipeline.as_str(), c.execution_id.as_str()))
                    .filter(|(_, e)| !e.is_empty());
                let (Some((pipeline, execution)), Some(r)) = (execution, rule) else {
                    return ChangeOwners::PusherUnknown;
                };
                match self.pipeline.commit(pipeline, execution).await {
                    Ok(commit) => self.owners_of(commit.as_ref(), r).await,
                    Err(e) => {
                        tracing::warn!(error = %e, "could not read the deployment's commit");
                        ChangeOwners::LookupFailed
                    }
                }
            })
            .await;
        if let Verdict::Denied(denial) = verdict {
            tracing::info!(deployment = id, user = i.user.id, command = ?command, reason = %denial, "click refused");
            return Told::Privately(denial.to_string());
        }
        match self.deployments.request(id, &command, now).await {
            Ok(CommandOutcome::Recorded) => {
                tracing::info!(deployment = id, user = i.user.id, command = ?command, "deployment command recorded");
                self.announce(i, &command).await;
                Told::Nothing
            }
            Ok(CommandOutcome::AlreadyPending(_)) if retry => Told::Nothing,
            Ok(CommandOutcome::AlreadyPending(pending)) => Told::Privately(already(&pending)),
            Ok(CommandOutcome::Missing) => Told::Privately(UNKNOWN.into()),
            Err(e) => {
                tracing::error!(error = %e, deployment = id, "could not record the command");
                Told::Privately(NOT_RECORDED.into())
            }
        }
    }

    /// Says in the deployment's thread who asked for what: the traffic shifter's own message
    /// changes when it acts.
    async fn announce(&self, i: &Interaction, command: &Command) {
        let Some(channel) = &i.channel else {
            return;
        };
        let verb = match command {
            Command::Promote { .. } => "⏩ asked to *promote*",
            Command::RollBack { .. } => "⏪ asked to *roll back*",
            Command::Pause { .. } => "⏸ asked to *pause*",
            Command::Resume { .. } => "▶ asked to *resume*",
            Command::Extend { .. } => "⏳ asked to *extend the bake*",
        };
        let mut message = json!({
            "channel": channel,
            "text": format!("<@{}> {verb}: the traffic shifter acts at its next check.", i.user.id),
        });
        if let Some(thread) = i.thread_ts.as_ref().or(i.message_ts.as_ref()) {
            message["thread_ts"] = json!(thread);
        }
        if let Err(e) = self.slack_now.post(&message).await {
            tracing::warn!(error = %e, "could not announce the deployment command");
        }
    }
}

/// Why a second command changed nothing.
pub fn already(pending: &Command) -> String {
    let (by, verb) = match pending {
        Command::Promote { by } => (by, "promote"),
        Command::RollBack { by } => (by, "roll back"),
        Command::Pause { by, .. } => (by, "pause"),
        Command::Resume { by, .. } => (by, "resume"),
        Command::Extend { by, .. } => (by, "extend the bake of"),
    };
    format!("<@{by}> already asked to {verb} this deployment: nothing was changed.")
}
