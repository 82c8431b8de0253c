//! An approval ended outside Slack (console, CLI, expiry, a newer execution): close its request
//! and update the message, unless Slack decided it.

use super::flow::ApprovalPorts;
use super::ports::{ApprovalActions, ApprovalStore};
use super::{ActionFinished, ApprovalState, Approvals, Closure, RequestError, WaitingApproval};
use serde_json::{json, Value};

impl<A: ApprovalPorts> Approvals<A> {
    /// Closes the request of an approval that CodePipeline ended, unless Slack decided it.
    pub async fn close(&self, finished: &ActionFinished) -> Result<Value, RequestError> {
        let id = self
            .records
            .latest_for_action(
                &finished.pipeline,
                &finished.execution_id,
                &finished.stage,
                &finished.action,
            )
            .await?;
        let Some(id) = id else {
            return Ok(json!({ "ignored": "no approval request was posted for this action" }));
        };
        let Some(record) = self.records.read(&id).await? else {
            return Ok(json!({ "ignored": "the approval record has expired" }));
        };
        if record.state == ApprovalState::Waiting
            && still_waiting(
                self.pipeline
                    .waiting(
                        &record.pipeline,
                        &record.stage,
                        &record.action,
                        Some(&record.execution_id),
                        Some(&record.token),
                    )
                    .await?
                    .as_ref(),
                &record.token,
            )
        {
            // A late event from an earlier attempt of the action: this request's approval still
            // waits, so the event is not about it.
            tracing::info!(
                approval = id,
                "end of an earlier attempt; the request stays open"
            );
            return Ok(
                json!({ "approval": id, "closed": false, "reason": "its approval is still waiting" }),
            );
        }
        let closure = finished.closure(record.expires_at);
        let closed = self.close_open(&id, &closure).await?;
        Ok(json!({ "approval": id, "closed": closed }))
    }

    /// Closes a waiting approval and updates its message; false when it was not waiting
    /// (decided in Slack, or being decided right now: the click finishes it).
    pub(super) async fn close_open(
        &self,
        id: &str,
        closure: &Closure,
    ) -> Result<bool, RequestError> {
        if !self.records.close_waiting(id, closure).await? {
            return Ok(false);
        }
        if let Some(mut record) = self.records.read(id).await? {
            record.state = ApprovalState::Closed(closure.clone());
            self.show_closed(&self.slack, &record, None).await;
            tracing::info!(approval = id, closure = ?closure, "approval request closed");
        }
        Ok(true)
    }
}

/// True when CodePipeline still waits for the approval with `token`: an event saying the action
/// ended is then about an earlier attempt.
pub fn still_waiting(waiting: Option<&WaitingApproval>, token: &str) -> bool {
    waiting.is_some_and(|w| w.token == token)
}
