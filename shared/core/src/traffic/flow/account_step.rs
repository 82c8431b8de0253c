//! The account an invocation acts in: every environment call of `run` happens inside one
//! scope of `Accounts`, which the confirmed `UserParameters` point at the target account.

use super::{ShiftOutcome, Shifter, ShifterPorts};
use crate::traffic::account::{session_name, Accounts};
use crate::traffic::{Job, PipelineContext, ShiftError, UserParameters};
use std::time::Duration;

impl<P: ShifterPorts> Shifter<P> {
    /// Works on `job` for at most `budget` (and `slice`). The job always gets a result; `Err`
    /// only when CodePipeline could not be given one (Lambda then retries the event).
    pub async fn run(&self, job: &Job, budget: Duration) -> Result<ShiftOutcome, ShiftError> {
        // The scope opens before the job is confirmed, but selects nothing until
        // `enter_account`: an unconfirmed job's role is never assumed.
        self.accounts
            .within(Box::pin(self.run_here(job, budget)))
            .await
    }

    /// Points the environment's calls at the account `params` name, once CodePipeline has
    /// confirmed them; a role STS refuses fails the job here, before anything is read or moved.
    pub(super) async fn enter_account(
        &self,
        params: &UserParameters,
        context: &PipelineContext,
    ) -> Result<(), ShiftError> {
        let session = session_name(&context.pipeline, &context.execution_id);
        self.accounts.enter(params.target.as_ref(), &session).await
    }
}
