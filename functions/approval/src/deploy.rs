//! The traffic shifter's Promote and Rollback buttons: the same approvers decide, and the
//! command is written on the deployment record for the shifter's next check.

use crate::click::{permission, Told};
use crate::Approvals;
use gantry_adapters::dynamodb::{CommandOutcome, DeployCommand, PendingCommand};
use gantry_core::approval::{Act, Button, Interaction, Verdict};
use serde_json::json;

const UNKNOWN: &str =
    "Gantry has no record of this deployment (it may have finished). Nothing was changed.";
const STATE_DOWN: &str =
    "Gantry could not read its records just now, so nothing was changed. Try again in a moment.";
const NOT_RECORDED: &str =
    "Gantry could not record the command, so nothing was changed. Try again in a moment.";

/// Promote or Rollback.
pub(crate) async fn command(
    app: &Approvals,
    i: &Interaction,
    button: &Button,
    retry: bool,
    now: i64,
) -> Told {
    let id = button.target();
    let command = match button.act() {
        Act::Promote => DeployCommand::Promote,
        _ => DeployCommand::Rollback,
    };
    let deployment = match app.deployments.get(id).await {
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
    let rule = app.rule(&deployment.pipeline, &deployment.stage);
    // The commit's author matters only for promoting under the four-eyes rule.
    let git_author = match (&deployment.execution_id, rule) {
        (Some(execution), Some(r)) if r.four_eyes && button.act().releases_change() => app
            .pipeline
            .commit(&deployment.pipeline, execution)
            .await
            .ok()
            .flatten()
            .and_then(|c| c.author),
        _ => None,
    };
    let verdict = permission(
        app,
        &i.user,
        button.act(),
        rule,
        None,
        git_author.as_deref(),
    )
    .await;
    if let Verdict::Denied(denial) = verdict {
        tracing::info!(
            deployment = id,
            user = i.user.id,
            command = command.as_str(),
            reason = %denial,
            "click refused"
        );
        return Told::Privately(denial.to_string());
    }
    match app.deployments.request(id, command, &i.user.id, now).await {
        Ok(CommandOutcome::Recorded) => {
            tracing::info!(
                deployment = id,
                user = i.user.id,
                command = command.as_str(),
                "deployment command recorded"
            );
            announce(app, i, command).await;
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
async fn announce(app: &Approvals, i: &Interaction, command: DeployCommand) {
    let Some(channel) = &i.channel else {
        return;
    };
    let verb = match command {
        DeployCommand::Promote => "⏩ asked to *promote*",
        DeployCommand::Rollback => "⏪ asked to *roll back*",
    };
    let mut message = json!({
        "channel": channel,
        "text": format!("<@{}> {verb}: the traffic shifter acts at its next check.", i.user.id),
    });
    if let Some(thread) = i.thread_ts.as_ref().or(i.message_ts.as_ref()) {
        message["thread_ts"] = json!(thread);
    }
    if let Err(e) = app.slack_now.post_message(&message).await {
        tracing::warn!(error = %e, "could not announce the deployment command");
    }
}

fn already(pending: &PendingCommand) -> String {
    format!(
        "<@{}> already asked to {} this deployment: nothing was changed.",
        pending.by,
        match pending.command {
            DeployCommand::Promote => "promote",
            DeployCommand::Rollback => "roll back",
        }
    )
}
