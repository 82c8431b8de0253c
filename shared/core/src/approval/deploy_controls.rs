//! The deployment message's buttons (Promote now, Roll back, Pause, Resume, Extend bake, and a
//! pause hook's Continue): the stage's approvers decide (Promote, Resume and Continue release
//! the change, so the four-eyes rule applies to them), and the command is written on the
//! deployment for the traffic shifter's next check. One command at a time: the first click
//! wins. Pause, Resume, Extend bake and Continue carry the controls' version their message
//! showed; a click on an outdated message (or delivered twice) is stale and changes nothing.

use super::click::{Told, STATE_DOWN};
use super::flow::ApprovalPorts;
use super::ports::{CommandOutcome, DeploymentCommands};
use super::{Act, Approvals, Button, ChangeOwners, Interaction, Verdict};
use crate::slack::Chat;
use crate::traffic::Command;
use serde_json::json;

const UNKNOWN: &str =
    "Gantry has no record of this deployment (it may have finished). Nothing was changed.";
const NOT_RECORDED: &str =
    "Gantry could not record the command, so nothing was changed. Try again in a moment.";

impl<A: ApprovalPorts> Approvals<A> {
    /// Promote, Roll back, Pause, Resume, Extend bake or Continue.
    pub(super) async fn command(
        &self,
        i: &Interaction,
        button: &Button,
        retry: bool,
        now: i64,
    ) -> Told {
        let id = button.target();
        let command = command_of(button, &i.user.id);
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
        if let Some(version) = button.version().filter(|v| *v != deployment.controls) {
            tracing::info!(
                deployment = id,
                user = i.user.id,
                version,
                current = deployment.controls,
                "stale control click"
            );
            return if retry {
                Told::Nothing
            } else {
                Told::Privately(stale(button.act()))
            };
        }
        let context = deployment.context.as_ref();
        let rule = context.and_then(|c| self.rule(&c.pipeline, &c.stage));
        // Whose change it is matters only for releasing it under the four-eyes rule.
        let verdict = self
            .permission(&i.user, button.act(), rule, || async move {
                let context = context.filter(|c| !c.execution_id.is_empty());
                let (Some(c), Some(r)) = (context, rule) else {
                    return ChangeOwners::PusherUnknown;
                };
                // The same change as an approval of this stage would release.
                let change = self
                    .provenance(&c.pipeline, &c.stage, &c.execution_id)
                    .await;
                self.owners_of(change.as_ref(), r).await
            })
            .await;
        if let Verdict::Denied(denial) = verdict {
            tracing::info!(deployment = id, user = i.user.id, command = ?command, reason = %denial, "click refused");
            return Told::Privately(denial.to_string());
        }
        match self.deployments.request(id, &command, now).await {
            Ok(CommandOutcome::Recorded) => {
                tracing::info!(deployment = id, user = i.user.id, command = ?command, "deployment command recorded");
                let driven = deployment.watch.lease_until_ms > now.saturating_mul(1000);
                self.announce(i, &command, driven).await;
                Told::Nothing
            }
            Ok(CommandOutcome::AlreadyPending(_)) if retry => Told::Nothing,
            Ok(CommandOutcome::AlreadyPending(pending)) => Told::Privately(already(&pending)),
            Ok(CommandOutcome::Missing) => Told::Privately(UNKNOWN.into()),
            Ok(CommandOutcome::Stale { .. }) if retry => Told::Nothing,
            Ok(CommandOutcome::Stale { .. }) => Told::Privately(stale(button.act())),
            Err(e) => {
                tracing::error!(error = %e, deployment = id, "could not record the command");
                Told::Privately(NOT_RECORDED.into())
            }
        }
    }

    /// Says in the deployment's thread who asked for what, and when it takes effect: the
    /// traffic shifter's own message changes when it acts. `driven`: an invocation holds the
    /// deployment now (its lease runs).
    async fn announce(&self, i: &Interaction, command: &Command, driven: bool) {
        let Some(channel) = &i.channel else {
            return;
        };
        let verb = match command {
            Command::Promote { .. } => "⏩ asked to *promote*".to_string(),
            Command::RollBack { .. } => "⏪ asked to *roll back*".to_string(),
            Command::Pause { .. } => "⏸ asked to *pause*".to_string(),
            Command::Resume { .. } => "▶ asked to *resume*".to_string(),
            Command::Extend { minutes, .. } => {
                format!("⏳ asked to *extend the bake* by {minutes} min")
            }
            Command::Continue { .. } => "⏭ asked to *continue*".to_string(),
        };
        let mut message = json!({
            "channel": channel,
            "text": format!("<@{}> {verb}: {}", i.user.id, when_acted_on(command, driven)),
        });
        if let Some(thread) = i.thread_ts.as_ref().or(i.message_ts.as_ref()) {
            message["thread_ts"] = json!(thread);
        }
        if let Err(e) = self.slack_now.post(&message).await {
            tracing::warn!(error = %e, "could not announce the deployment command");
        }
    }
}

/// When the command takes effect. A Roll back on a deployment no invocation holds (between
/// two invocations, or orphaned because CodePipeline's next one keeps failing) is also applied
/// by the traffic shifter's scheduled sweep, which runs every minute.
pub fn when_acted_on(command: &Command, driven: bool) -> &'static str {
    match command {
        Command::RollBack { .. } if !driven => {
            "no invocation of the traffic shifter is driving this deployment right now, so it is rolled back within a minute at the latest (by the scheduled sweep, if no invocation comes first)."
        }
        _ => "the traffic shifter acts at its next check.",
    }
}

/// The command a button asks for, by `by`.
pub fn command_of(button: &Button, by: &str) -> Command {
    let by = by.to_string();
    match button {
        Button::Promote(_) => Command::Promote { by },
        Button::Pause(c) => Command::Pause {
            by,
            version: c.version,
        },
        Button::Resume(c) => Command::Resume {
            by,
            version: c.version,
        },
        Button::Continue(c) => Command::Continue {
            by,
            version: c.version,
        },
        Button::Extend(c, minutes) => Command::Extend {
            by,
            version: c.version,
            minutes: *minutes,
        },
        // Roll back (and, never routed here, Approve / Reject) stop the change.
        Button::Rollback(_) | Button::Approve(_) | Button::Reject(_) => Command::RollBack { by },
    }
}

/// Why a click on an outdated deployment message changed nothing.
pub fn stale(act: Act) -> String {
    format!(
        "This {} button is out of date: the deployment's controls changed since its message was drawn. Nothing was changed; use the buttons on the deployment's current message.",
        match act {
            Act::Pause => "Pause",
            Act::Resume => "Resume",
            Act::Extend => "Extend bake",
            Act::Continue => "Continue",
            _ => "deployment",
        }
    )
}

/// Why a second command changed nothing.
pub fn already(pending: &Command) -> String {
    let (by, verb) = match pending {
        Command::Promote { by } => (by, "promote"),
        Command::RollBack { by } => (by, "roll back"),
        Command::Pause { by, .. } => (by, "pause"),
        Command::Resume { by, .. } => (by, "resume"),
        Command::Extend { by, .. } => (by, "extend the bake of"),
        Command::Continue { by, .. } => (by, "continue"),
    };
    format!("<@{by}> already asked to {verb} this deployment: nothing was changed.")
}
