//! A button click: signature first, then the payload, then who may; an Approve or Reject is
//! claimed, given to CodePipeline (`PutApprovalResult`), recorded and shown, once. Promote and
//! Roll back go to `deploy_controls`.

use super::claim::{gate, refusal, unchanged_because, ClickGate, ClickRefusal, RefusedAs};
use super::flow::ApprovalPorts;
use super::ports::{ApprovalActions, ApprovalStore, DecisionClaim, PipelineDecision, Replies};
use super::{
    interaction, Act, ApprovalDecision, ApprovalRecord, ApprovalState, Approvals, Button, Closure,
    Interaction, Outcome, Verdict,
};
use crate::ingest::Inbound;
use crate::secrets::SecretString;
use crate::signature::verify_slack;
use crate::store::StoreError;
use serde_json::{json, Value};

/// The HTTP answer to Slack's interactivity request.
#[derive(Debug, Clone, PartialEq)]
pub struct ClickReply {
    pub status: u16,
    /// `Value::Null` for an empty body.
    pub body: Value,
}

impl ClickReply {
    fn ok() -> Self {
        ClickReply {
            status: 200,
            body: Value::Null,
        }
    }

    /// A 200 whose body is an ephemeral message: Slack shows any other status as an error.
    fn ephemeral(text: &str) -> Self {
        ClickReply {
            status: 200,
            body: json!({"response_type": "ephemeral", "replace_original": false, "text": text}),
        }
    }

    /// Slack's signature on a request to the Function URL (v0, within 5 minutes), checked
    /// before anything of its body is read: `Err` is the 401 to answer. `what` names the
    /// request in the log. Clicks and slash commands alike come through here.
    pub fn unless_signed(
        request: &Inbound,
        secret: &SecretString,
        now: i64,
        what: &str,
    ) -> Result<(), ClickReply> {
        verify_slack(
            request.header("x-slack-signature"),
            request.header("x-slack-request-timestamp"),
            &request.body,
            secret,
            now,
        )
        .map_err(|e| {
            tracing::warn!(reason = %e, "rejected an unsigned or stale {what}");
            ClickReply::unauthorized(&e.to_string())
        })
    }

    fn unauthorized(reason: &str) -> Self {
        ClickReply {
            status: 401,
            body: json!({ "error": reason }),
        }
    }
}

/// What the clicker is told, privately, besides the message update everyone sees.
pub(super) enum Told {
    Nothing,
    Privately(String),
}

const UNKNOWN: &str =
    "Gantry has no record of this request (it may be older than its records). Nothing was changed.";
pub(super) const STATE_DOWN: &str =
    "Gantry could not read its records just now, so nothing was changed. Try again in a moment.";

impl<A: ApprovalPorts> Approvals<A> {
    /// Handles Slack's interactivity request.
    pub async fn on_click(&self, request: &Inbound, now: i64) -> ClickReply {
        // Authenticate (and refuse replays) before reading anything of the body.
        if let Err(refused) =
            ClickReply::unless_signed(request, &self.signing_secret, now, "Slack request")
        {
            return refused;
        }
        // Slack resends a request it got no answer to: the retry must decide nothing twice,
        // and say nothing twice.
        let retry = request.header("x-slack-retry-num").is_some();
        let interaction = match interaction::parse(&request.body) {
            Ok(i) => i,
            Err(e) => {
                tracing::warn!(error = %e, "unreadable interactivity payload");
                return ClickReply::ephemeral(&format!("Gantry could not read this request: {e}."));
            }
        };
        let told = match interaction.button() {
            Ok(b @ (Button::Approve(_) | Button::Reject(_))) => {
                self.decide(&interaction, b.target(), b.act(), retry, now)
                    .await
            }
            Ok(b) => self.command(&interaction, &b, retry, now).await,
            Err(e) => {
                tracing::warn!(error = %e, user = interaction.user.id, "click on a button Gantry does not handle");
                Told::Privately(format!("Gantry cannot handle this: {e}."))
            }
        };
        match told {
            Told::Nothing => ClickReply::ok(),
            Told::Privately(text) if self.tell(&interaction, &text).await => ClickReply::ok(),
            Told::Privately(text) => ClickReply::ephemeral(&text),
        }
    }

    /// Approve or Reject: where an approval is decided.
    async fn decide(&self, i: &Interaction, id: &str, act: Act, retry: bool, now: i64) -> Told {
        let record = match self.records.read(id).await {
            Ok(Some(r)) => r,
            Ok(None) => {
                tracing::warn!(
                    approval = id,
                    user = i.user.id,
                    "click on an unknown approval"
                );
                return Told::Privately(UNKNOWN.into());
            }
            Err(StoreError {
                too_new: Some(too_new),
                ..
            }) => {
                tracing::warn!(approval = id, error = %too_new, "click on an approval a newer release wrote");
                return Told::Privately(format!(
                    "This approval was {too_new}, so nothing was changed. Decide it in the CodePipeline console."
                ));
            }
            Err(e) => {
                tracing::error!(error = %e, approval = id, "could not read the approval");
                return Told::Privately(STATE_DOWN.into());
            }
        };
        if let Some(told) = self.already_over(&record, i, retry, now).await {
            return told;
        }
        if now >= record.expires_at {
            return self.expire(record, i).await;
        }
        let rule = self.rule(&record.pipeline, &record.stage);
        let verdict = self
            .permission(&i.user, act, rule, || async {
                match (&record.owners, rule) {
                    (Some(known @ super::ChangeOwners::Slack(_)), _) => known.clone(),
                    // The change as found at the request; looked up now if it could not be.
                    (_, Some(r)) => match &record.change {
                        Some(change) => self.owners_of(Some(change), r).await,
                        None => {
                            let (p, s, e) = (&record.pipeline, &record.stage, &record.execution_id);
                            self.owners_of(self.provenance(p, s, e).await.as_ref(), r)
                                .await
                        }
                    },
                    (_, None) => super::ChangeOwners::PusherUnknown,
                }
            })
            .await;
        if let Verdict::Denied(denial) = verdict {
            tracing::info!(approval = id, user = i.user.id, act = ?act, reason = %denial, "click refused");
            return Told::Privately(denial.to_string());
        }
        match self.records.claim(id, &i.user, now).await {
            Ok(DecisionClaim::Claimed) => {}
            Ok(DecisionClaim::Lost(current)) => {
                return self
                    .already_over(&current, i, retry, now)
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
        let summary = decision.summary();
        let answer = self
            .pipeline
            .decide(&PipelineDecision {
                pipeline: &r.pipeline,
                stage: &r.stage,
                action: &r.action,
                token: &r.token,
                outcome,
                summary: &summary,
            })
            .await;
        let state = match answer {
            Ok(()) => ApprovalState::Decided(decision),
            Err(e) => {
                let seen = self.refused_as(&e, r).await;
                match refusal(&e, seen, r.expires_at, now) {
                    ClickRefusal::Closed(closure) => {
                        tracing::info!(approval = id, reason = %e, "approval no longer decidable");
                        ApprovalState::Closed(closure)
                    }
                    ClickRefusal::TryAgain => {
                        tracing::error!(error = %e, approval = id, "PutApprovalResult failed; nothing decided");
                        if let Err(e) = self.records.release(id, &i.user.id).await {
                            tracing::error!(error = %e, approval = id, "could not release the approval");
                        }
                        return Told::Privately(
                            "CodePipeline did not answer, so nothing was decided. Try again in a moment."
                                .into(),
                        );
                    }
                }
            }
        };
        if let Err(e) = self.records.settle(id, &i.user.id, &state).await {
            // CodePipeline has the decision; only the audit trail misses it: say so loudly.
            tracing::error!(error = %e, approval = id, state = ?state, "decision made but not recorded");
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
        self.show_closed(&self.slack_now, &record, i.response_url.as_deref())
            .await;
        match &record.state {
            ApprovalState::Decided(_) => Told::Nothing,
            other => Told::Privately(unchanged_because(other)),
        }
    }

    /// For a click on a request that is over (or being decided): bring the message up to date
    /// and say why nothing changed. `None` when the request is open to this click.
    async fn already_over(
        &self,
        record: &ApprovalRecord,
        i: &Interaction,
        retry: bool,
        now: i64,
    ) -> Option<Told> {
        match gate(&record.state, &i.user.id, retry, now) {
            ClickGate::Open => None,
            ClickGate::InFlight { by } => Some(Told::Privately(format!(
                "<@{by}> is deciding this approval right now."
            ))),
            ClickGate::Quiet => Some(Told::Nothing),
            ClickGate::Over { tell } => {
                self.show_closed(&self.slack_now, record, i.response_url.as_deref())
                    .await;
                Some(if tell {
                    Told::Privately(unchanged_because(&record.state))
                } else {
                    Told::Nothing
                })
            }
        }
    }

    /// What CodePipeline says of an approval whose decision it refused: how this execution's
    /// approval ended, and whether a newer one waits (asked only for a refusal of the token).
    async fn refused_as(&self, e: &super::ApprovalCallError, r: &ApprovalRecord) -> RefusedAs {
        use super::ApprovalCallError::{AlreadyDecided, TokenInvalid};
        if !matches!(e, AlreadyDecided | TokenInvalid) {
            return RefusedAs::default();
        }
        let (p, s, a) = (&r.pipeline, &r.stage, &r.action);
        let last = self
            .pipeline
            .last_outcome(p, s, a, &r.execution_id)
            .await
            .ok();
        let newer_waiting = matches!(e, TokenInvalid)
            && self
                .pipeline
                .waiting(p, s, a, Some(&r.execution_id), None)
                .await
                .ok()
                .flatten()
                .is_some_and(|w| w.token != r.token);
        RefusedAs {
            last,
            newer_waiting,
        }
    }

    async fn expire(&self, mut record: ApprovalRecord, i: &Interaction) -> Told {
        let closure = Closure::Expired {
            at: record.expires_at,
        };
        if let Err(e) = self.records.close_waiting(&record.id, &closure).await {
            tracing::error!(error = %e, approval = record.id, "could not record the expiry");
        }
        record.state = ApprovalState::Closed(closure);
        self.show_closed(&self.slack_now, &record, i.response_url.as_deref())
            .await;
        Told::Privately(unchanged_because(&record.state))
    }

    /// Tells the clicker privately; false when there was no way to.
    pub(super) async fn tell(&self, i: &Interaction, text: &str) -> bool {
        let sent = match (&i.response_url, &i.channel) {
            (Some(url), _) => {
                let body =
                    json!({"response_type": "ephemeral", "replace_original": false, "text": text});
                self.slack_now.respond(url, &body).await
            }
            (None, Some(channel)) => {
                self.slack_now
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
}
