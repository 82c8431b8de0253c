//! An approval ended outside Slack (console, CLI, expiry, a newer execution): close its request
//! and update the message, unless Slack decided it.

use super::ports::{ApprovalActions, ApprovalStore, DeploymentCommands, Directory, Replies};
use super::{ActionFinished, ApprovalState, Approvals, Closure, RequestError};
use serde_json::{json, Value};

impl<S, P, C, D, K> Approvals<S, P, C, D, K>
where
    S: ApprovalStore,
    P: ApprovalActions,
    C: Replies,
    D: Directory,
    K: DeploymentCommands,
{
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
