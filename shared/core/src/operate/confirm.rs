//! A confirmed operation: what `rollback` proposes, the Confirm click that carries it out (once,
//! within 5 minutes, by an operator; under four-eyes by another operator than the one who
//! asked), and the fallback CodePipeline's refusal leads to.

use serde::{Deserialize, Serialize};

/// How long a Confirm button stays good.
pub const CONFIRM_WITHIN_SECONDS: i64 = 5 * 60;

/// The Confirm button's `action_id`; its `value` is the confirmation's id.
pub const CONFIRM: &str = "gantry.operate.confirm";

/// What a Confirm click carries out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Proposal {
    /// `RollbackStage` of `stage` to `target` (the last execution that succeeded there before
    /// the live one).
    Rollback {
        service: String,
        stage: String,
        target: String,
        commit: Option<String>,
    },
    /// The fallback when CodePipeline refuses the rollback: a new execution at the last good
    /// commit.
    Redeploy {
        service: String,
        stage: String,
        commit: String,
    },
    /// `restart`: a forced new deployment of the live side's ECS service (`ecs_service`).
    Restart {
        service: String,
        stage: String,
        cluster: String,
        ecs_service: String,
    },
}

impl Proposal {
    pub fn service(&self) -> &str {
        match self {
            Proposal::Rollback { service, .. }
            | Proposal::Redeploy { service, .. }
            | Proposal::Restart { service, .. } => service,
        }
    }

    pub fn stage(&self) -> &str {
        match self {
            Proposal::Rollback { stage, .. }
            | Proposal::Redeploy { stage, .. }
            | Proposal::Restart { stage, .. } => stage,
        }
    }

    /// What it does, for people.
    pub fn describe(&self) -> String {
        match self {
            Proposal::Rollback {
                service,
                stage,
                target,
                commit,
            } => format!(
                "roll *{service} › {stage}* back to execution `{target}`{}",
                commit
                    .as_deref()
                    .map(|c| format!(" (commit `{}`)", short(c)))
                    .unwrap_or_default()
            ),
            Proposal::Redeploy {
                service, commit, ..
            } => format!(
                "start *{service}* again at the last good commit `{}`",
                short(commit)
            ),
            Proposal::Restart {
                service,
                stage,
                cluster,
                ecs_service,
            } => format!(
                "restart *{service} › {stage}*: a new deployment of the live ECS service `{ecs_service}` (cluster `{cluster}`)"
            ),
        }
    }
}

fn short(c: &str) -> &str {
    if c.len() >= 12 && c.bytes().all(|b| b.is_ascii_hexdigit()) {
        &c[..7]
    } else {
        c
    }
}

/// One proposal waiting for its Confirm: the state table's `OPERATION#{id}` record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Confirmation {
    pub id: String,
    pub proposal: Proposal,
    /// Who asked (the Slack user id).
    pub requested_by: String,
    pub requested_at: i64,
    /// The stage's four-eyes rule: someone else must confirm.
    pub four_eyes: bool,
    /// Who confirmed, once someone has.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confirmed_by: Option<String>,
}

impl Confirmation {
    pub fn expires_at(&self) -> i64 {
        self.requested_at + CONFIRM_WITHIN_SECONDS
    }
}

/// Why a Confirm click carries nothing out. `Display` is what the clicker reads, privately.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfirmRefusal {
    #[error("This Confirm has expired (it is good for 5 minutes): nothing was changed. Ask again with `/gantry`.")]
    Expired,
    #[error("<@{0}> already confirmed this: it is carried out once.")]
    AlreadyConfirmed(String),
    #[error("Four-eyes rule: you asked for this, so another operator must confirm it ({0}).")]
    OwnRequest(String),
    #[error("You may not confirm this: only the stage's operators may ({0}).")]
    NotAnOperator(String),
}

/// Whether `clicker` may confirm now. `operator`: the clicker is one of the stage's operators;
/// `operators`: who they are, as Slack shows them.
pub fn may_confirm(
    c: &Confirmation,
    clicker: &str,
    operator: bool,
    operators: &str,
    now: i64,
) -> Result<(), ConfirmRefusal> {
    if let Some(by) = &c.confirmed_by {
        return Err(ConfirmRefusal::AlreadyConfirmed(by.clone()));
    }
    if now > c.expires_at() {
        return Err(ConfirmRefusal::Expired);
    }
    if !operator {
        return Err(ConfirmRefusal::NotAnOperator(operators.to_string()));
    }
    if c.four_eyes && clicker == c.requested_by {
        return Err(ConfirmRefusal::OwnRequest(operators.to_string()));
    }
    Ok(())
}

/// The proposal's message, with its Confirm button.
pub fn render_proposal(c: &Confirmation, channel: &str, context: &str) -> serde_json::Value {
    let who = if c.four_eyes {
        "another operator (four-eyes)"
    } else {
        "an operator"
    };
    let text = format!(
        "<@{}> asks to {}.\n{context}\nConfirm within 5 minutes; {who} may confirm.",
        c.requested_by,
        c.proposal.describe()
    );
    serde_json::json!({
        "channel": channel,
        "text": text,
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": text}},
            {"type": "actions", "elements": [{
                "type": "button", "style": "danger", "action_id": CONFIRM, "value": crate::schema::stamp(&c.id),
                "text": {"type": "plain_text", "text": "Confirm"},
            }]},
        ],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(four_eyes: bool) -> Confirmation {
        Confirmation {
            id: "op-1".into(),
            proposal: Proposal::Rollback {
                service: "shop".into(),
                stage: "Prod".into(),
                target: "e-1".into(),
                commit: Some("6113728f27ae82c7b1a177c8d03f9e96e0adf246".into()),
            },
            requested_by: "U0LEAD".into(),
            requested_at: 1000,
            four_eyes,
            confirmed_by: None,
        }
    }

    #[test]
    fn a_confirm_is_good_once_within_five_minutes_by_an_operator() {
        assert_eq!(
            may_confirm(&c(false), "U0LEAD", true, "x", 1000 + 300),
            Ok(())
        );
        assert_eq!(
            may_confirm(&c(false), "U0LEAD", true, "x", 1000 + 301),
            Err(ConfirmRefusal::Expired)
        );
        assert!(
            matches!(may_confirm(&c(false), "U0X", false, "<@U0LEAD>", 1000), Err(ConfirmRefusal::NotAnOperator(o)) if o == "<@U0LEAD>")
        );
        let mut done = c(false);
        done.confirmed_by = Some("U0OPS".into());
        assert_eq!(
            may_confirm(&done, "U0LEAD", true, "x", 1000),
            Err(ConfirmRefusal::AlreadyConfirmed("U0OPS".into()))
        );
    }

    #[test]
    fn under_four_eyes_the_asker_cannot_confirm_alone() {
        assert!(matches!(
            may_confirm(&c(true), "U0LEAD", true, "x", 1000),
            Err(ConfirmRefusal::OwnRequest(_))
        ));
        assert_eq!(may_confirm(&c(true), "U0OPS", true, "x", 1000), Ok(()));
    }

    #[test]
    fn the_proposal_names_its_target_and_carries_its_id() {
        let m = render_proposal(&c(true), "C0SHOP", "Live now: `abc`.");
        let text = m["text"].as_str().unwrap();
        assert!(
            text.contains(
                "<@U0LEAD> asks to roll *shop › Prod* back to execution `e-1` (commit `6113728`)"
            ),
            "{text}"
        );
        assert!(text.contains("another operator (four-eyes)"), "{text}");
        assert_eq!(
            m["blocks"][1]["elements"][0]["value"],
            crate::schema::stamp("op-1")
        );
        assert_eq!(m["blocks"][1]["elements"][0]["action_id"], CONFIRM);
    }
}

/// A Confirm click, as read from Slack's interactivity payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfirmClick {
    /// The confirmation's id (the button's value).
    pub id: String,
    pub user: String,
    pub channel: Option<String>,
    /// The proposal's message (its thread's parent when it sits in a thread).
    pub thread_ts: Option<String>,
}

/// Reads a Confirm click from an interactivity form body; `None` for any other click.
pub fn confirm_click(body: &[u8]) -> Option<ConfirmClick> {
    let payload = form_urlencoded::parse(body)
        .find(|(k, _)| k == "payload")
        .map(|(_, v)| v.into_owned())?;
    let p: serde_json::Value = serde_json::from_str(&payload).ok()?;
    let action = p["actions"].get(0)?;
    if action["action_id"].as_str()? != CONFIRM {
        return None;
    }
    let text = |v: &serde_json::Value| v.as_str().filter(|s| !s.is_empty()).map(str::to_string);
    Some(ConfirmClick {
        // A value a newer release stamped is not this release's to read.
        id: crate::schema::unstamp(action["value"].as_str()?)
            .ok()
            .filter(|id| !id.is_empty())?
            .to_string(),
        user: text(&p["user"]["id"])?,
        channel: text(&p["channel"]["id"]).or_else(|| text(&p["container"]["channel_id"])),
        thread_ts: text(&p["message"]["thread_ts"])
            .or_else(|| text(&p["container"]["thread_ts"]))
            .or_else(|| text(&p["message"]["ts"]))
            .or_else(|| text(&p["container"]["message_ts"])),
    })
}

/// A click on a succeeded deployment's *Roll back to <commit>* (the traffic shifter's message).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RollBackToClick {
    pub pipeline: String,
    pub stage: String,
    /// The execution the message is about.
    pub execution_id: String,
    pub user: String,
    pub channel: Option<String>,
    pub trigger_id: Option<String>,
}

/// Reads a *Roll back to* click (value `pipeline|stage|execution id`); `None` for any other.
pub fn roll_back_to_click(body: &[u8]) -> Option<RollBackToClick> {
    let payload = form_urlencoded::parse(body)
        .find(|(k, _)| k == "payload")
        .map(|(_, v)| v.into_owned())?;
    let p: serde_json::Value = serde_json::from_str(&payload).ok()?;
    let action = p["actions"].get(0)?;
    if action["action_id"].as_str()? != crate::traffic::steps::report::ROLL_BACK_TO_ACTION {
        return None;
    }
    let mut parts = crate::schema::unstamp(action["value"].as_str()?)
        .ok()?
        .splitn(3, '|');
    let (pipeline, stage, execution_id) = (parts.next()?, parts.next()?, parts.next()?);
    if pipeline.is_empty() || stage.is_empty() || execution_id.is_empty() {
        return None;
    }
    let text = |v: &serde_json::Value| v.as_str().filter(|s| !s.is_empty()).map(str::to_string);
    Some(RollBackToClick {
        pipeline: pipeline.to_string(),
        stage: stage.to_string(),
        execution_id: execution_id.to_string(),
        user: text(&p["user"]["id"])?,
        channel: text(&p["channel"]["id"]).or_else(|| text(&p["container"]["channel_id"])),
        trigger_id: text(&p["trigger_id"]),
    })
}
