//! A button click: signature first, then the payload, then the decision, decided once.

use crate::Approvals;
use gantry_adapters::dynamodb::DecisionClaim;
use gantry_core::approval::ApprovalCallError;
use gantry_core::approval::{
    authorize, interaction, Act, ApprovalDecision, ApprovalRecord, ApprovalState, Approver,
    AuthorIdentity, Button, Clicker, Closure, Denial, Interaction, Outcome, StageApprovers,
    Verdict,
};
use gantry_core::ingest::Inbound;
use gantry_core::signature::verify_slack;
use serde_json::{json, Value};
use std::collections::BTreeSet;

/// The HTTP answer to Slack.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    pub status: u16,
    /// `Value::Null` for an empty body.
    pub body: Value,
}

impl Reply {
    fn ok() -> Self {
        Reply {
            status: 200,
            body: Value::Null,
        }
    }

    /// A 200 whose body is an ephemeral message: Slack shows any other status as an error.
    fn ephemeral(text: &str) -> Self {
        Reply {
            status: 200,
            body: json!({"response_type": "ephemeral", "replace_original": false, "text": text}),
        }
    }

    fn unauthorized(reason: &str) -> Self {
        Reply {
            status: 401,
            body: json!({ "error": reason }),
        }
    }
}

/// What the clicker is told, privately, besides the message update everyone sees.
pub(crate) enum Told {
    Nothing,
    Privately(String),
}

const UNKNOWN: &str =
    "Gantry has no record of this request (it may be older than its records). Nothing was changed.";
const STATE_DOWN: &str =
    "Gantry could not read its records just now, so nothing was changed. Try again in a moment.";

/// Handles Slack's interactivity request.
pub async fn on_click(app: &Approvals, request: &Inbound, now: i64) -> Reply {
    // Authenticate (and refuse replays) before reading anything of the body.
    let signed = verify_slack(
        request.header("x-slack-signature"),
        request.header("x-slack-request-timestamp"),
        &request.body,
        &app.signing_secret,
        now,
    );
    if let Err(e) = signed {
        tracing::warn!(reason = %e, "rejected an unsigned or stale Slack request");
        return Reply::unauthorized(&e.to_string());
    }
    // Slack resends a request it got no answer to: the retry must decide nothing twice, and
    // say nothing twice.
    let retry = request.header("x-slack-retry-num").is_some();
    let interaction = match interaction::parse(&request.body) {
        Ok(i) => i,
        Err(e) => {
            tracing::warn!(error = %e, "unreadable interactivity payload");
            return Reply::ephemeral(&format!("Gantry could not read this request: {e}."));
        }
    };
    let told = match interaction.button() {
        Ok(b @ (Button::Approve(_) | Button::Reject(_))) => {
            decide(app, &interaction, b.target(), b.act(), retry, now).await
        }
        Ok(b) => crate::deploy::command(app, &interaction, &b, retry, now).await,
        Err(e) => {
            tracing::warn!(
                error = %e,
                user = interaction.user.id,
                "click on a button Gantry does not handle"
            );
            Told::Privately(format!("Gantry cannot handle this: {e}."))
        }
    };
    match told {
        Told::Nothing => Reply::ok(),
        Told::Privately(text) if tell(app, &interaction, &text).await => Reply::ok(),
        Told::Privately(text) => Reply::ephemeral(&text),
    }
}

/// Approve or Reject.
async fn decide(
    app: &Approvals,
    i: &Interaction,
    id: &str,
    act: Act,
    retry: bool,
    now: i64,
) -> Told {
    let record = match app.records.get(id).await {
        Ok(Some(r)) => r,
        Ok(None) => {
            tracing::warn!(
                approval = id,
                user = i.user.id,
                "click on an unknown approval"
            );
            return Told::Privately(UNKNOWN.into());
        }
        Err(e) => {
            tracing::error!(error = %e, approval = id, "could not read the approval");
            return Told::Privately(STATE_DOWN.into());
        }
    };
    if let Some(told) = already_over(app, &record, i, retry, now).await {
        return told;
    }
    if now >= record.expires_at {
        return expire(app, record, i).await;
    }
    let rule = app.rule(&record.pipeline, &record.stage);
    let git_author = record.commit.as_ref().and_then(|c| c.author.as_deref());
    let verdict = permission(app, &i.user, act, rule, record.author.as_ref(), git_author).await;
    if let Verdict::Denied(denial) = verdict {
        tracing::info!(
            approval = id,
            user = i.user.id,
            act = ?act,
            reason = %denial,
            "click refused"
        );
        return Told::Privately(denial.to_string());
    }
    match app.records.claim(id, &i.user, now).await {
        Ok(DecisionClaim::Claimed) => {}
        Ok(DecisionClaim::Lost(current)) => {
            return already_over(app, &current, i, retry, now)
                .await
                .unwrap_or(Told::Nothing)
        }
        Ok(DecisionClaim::Missing) => return Told::Privately(UNKNOWN.into()),
        Err(e) => {
            tracing::error!(error = %e, approval = id, "could not claim the approval");
            return Told::Privately(STATE_DOWN.into());
        }
    }
    let outcome = match act {
        Act::Approve => Outcome::Approved,
        _ => Outcome::Rejected,
    };
    let decision = ApprovalDecision {
        outcome,
        by: i.user.clone(),
        at: now,
        reason: i.reason.clone(),
    };
    let r = &record;
    let answer = app
        .pipeline
        .decide(
            &r.pipeline,
            &r.stage,
            &r.action,
            &r.token,
            outcome,
            &decision.summary(),
        )
        .await;
    let state = match answer {
        Ok(()) => ApprovalState::Decided(decision),
        Err(ApprovalCallError::AlreadyDecided) => {
            let last = app
                .pipeline
                .last_outcome(&r.pipeline, &r.stage, &r.action)
                .await
                .ok();
            ApprovalState::Closed(Closure::DecidedElsewhere {
                outcome: last.as_ref().and_then(|l| l.outcome),
                summary: last.and_then(|l| l.summary),
                at: now,
            })
        }
        Err(ApprovalCallError::TokenInvalid) if now >= r.expires_at - 60 => {
            ApprovalState::Closed(Closure::Expired { at: now })
        }
        Err(e @ (ApprovalCallError::TokenInvalid | ApprovalCallError::NotFound { .. })) => {
            tracing::info!(approval = id, reason = %e, "approval no longer decidable");
            ApprovalState::Closed(Closure::Superseded { at: now })
        }
        Err(e @ ApprovalCallError::Unavailable { .. }) => {
            tracing::error!(error = %e, approval = id, "PutApprovalResult failed; nothing decided");
            if let Err(e) = app.records.release(id, &i.user.id).await {
                tracing::error!(error = %e, approval = id, "could not release the approval");
            }
            return Told::Privately(
                "CodePipeline did not answer, so nothing was decided. Try again in a moment."
                    .into(),
            );
        }
    };
    if let Err(e) = app.records.settle(id, &i.user.id, &state).await {
        // CodePipeline has the decision; only the audit trail misses it: say so loudly.
        tracing::error!(
            error = %e,
            approval = id,
            state = ?state,
            "decision made but not recorded"
        );
    }
    let mut record = record;
    record.state = state;
    tracing::info!(
        approval = id,
        pipeline = record.pipeline,
        stage = record.stage,
        execution_id = record.execution_id,
        user = i.user.id,
        state = ?record.state,
        "approval decided"
    );
    app.show_closed(&app.slack_now, &record, i.response_url.as_deref())
        .await;
    match &record.state {
        ApprovalState::Decided(_) => Told::Nothing,
        other => Told::Privately(ended(other)),
    }
}

/// For a click on a request that is over (or being decided): bring the message up to date and
/// say why nothing changed. `None` when the request is open to this click.
async fn already_over(
    app: &Approvals,
    record: &ApprovalRecord,
    i: &Interaction,
    retry: bool,
    now: i64,
) -> Option<Told> {
    match &record.state {
        ApprovalState::Waiting => None,
        // The decider's lease ran out (it crashed): this click may take over.
        ApprovalState::Deciding { until, .. } if *until < now => None,
        ApprovalState::Deciding { by, .. } if !retry && by.id != i.user.id => Some(
            Told::Privately(format!("<@{}> is deciding this approval right now.", by.id)),
        ),
        ApprovalState::Deciding { .. } => Some(Told::Nothing),
        state => {
            app.show_closed(&app.slack_now, record, i.response_url.as_deref())
                .await;
            Some(if retry {
                Told::Nothing
            } else {
                Told::Privately(ended(state))
            })
        }
    }
}

async fn expire(app: &Approvals, mut record: ApprovalRecord, i: &Interaction) -> Told {
    let closure = Closure::Expired {
        at: record.expires_at,
    };
    if let Err(e) = app.records.close_waiting(&record.id, &closure).await {
        tracing::error!(error = %e, approval = record.id, "could not record the expiry");
    }
    record.state = ApprovalState::Closed(closure);
    app.show_closed(&app.slack_now, &record, i.response_url.as_deref())
        .await;
    Told::Privately(ended(&record.state))
}

/// Whether `user` may `act` on a stage with `rule`: resolves groups and, for the four-eyes
/// rule, the author, then asks `authorize`.
pub(crate) async fn permission(
    app: &Approvals,
    user: &Approver,
    act: Act,
    rule: Option<&StageApprovers>,
    known_author: Option<&AuthorIdentity>,
    git_author: Option<&str>,
) -> Verdict {
    let Some(r) = rule else {
        return Verdict::Denied(Denial::NoApprovers);
    };
    let groups = if r.lists_user(&user.id) {
        BTreeSet::new()
    } else {
        match app
            .directory
            .groups_of(&app.slack_now, &user.id, &r.groups)
            .await
        {
            Ok(g) => g,
            Err(e) => {
                tracing::warn!(error = %e, "could not read user group members");
                return Verdict::Denied(Denial::MembershipUnknown);
            }
        }
    };
    let author = if r.four_eyes && act.releases_change() {
        app.author_of(&app.slack_now, known_author, git_author, r)
            .await
    } else {
        AuthorIdentity::Unknown
    };
    let clicker = Clicker {
        id: user.id.clone(),
        groups,
    };
    authorize(&clicker, act, rule, &author)
}

/// Why a request that is over changed nothing.
fn ended(state: &ApprovalState) -> String {
    match state {
        ApprovalState::Decided(d) => format!(
            "Already {} by <@{}>: nothing was changed.",
            match d.outcome {
                Outcome::Approved => "approved",
                Outcome::Rejected => "rejected",
            },
            d.by.id
        ),
        ApprovalState::Closed(Closure::DecidedElsewhere { outcome, .. }) => format!(
            "Already {} outside Slack: nothing was changed.",
            match outcome {
                Some(Outcome::Approved) => "approved",
                Some(Outcome::Rejected) => "rejected",
                None => "decided",
            }
        ),
        ApprovalState::Closed(Closure::Expired { .. }) => {
            "This approval expired before anyone decided: nothing was changed.".into()
        }
        ApprovalState::Closed(Closure::Superseded { .. }) => {
            "This approval was superseded (a newer request replaced it, or the execution stopped): nothing was changed.".into()
        }
        ApprovalState::Waiting | ApprovalState::Deciding { .. } => "Nothing was changed.".into(),
    }
}

/// Tells the clicker privately; false when there was no way to.
pub(crate) async fn tell(app: &Approvals, i: &Interaction, text: &str) -> bool {
    let sent = match (&i.response_url, &i.channel) {
        (Some(url), _) => {
            let body =
                json!({"response_type": "ephemeral", "replace_original": false, "text": text});
            app.slack_now.respond(url, &body).await
        }
        (None, Some(channel)) => {
            app.slack_now
                .post_ephemeral(channel, &i.user.id, text)
                .await
        }
        (None, None) => return false,
    };
    match sent {
        Ok(()) => true,
        Err(e) => {
            tracing::warn!(error = %e, user = i.user.id, "could not reply privately");
            false
        }
    }
}
