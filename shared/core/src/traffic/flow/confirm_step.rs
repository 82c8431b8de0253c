//! The invocation's first step: confirm the job with CodePipeline (`traffic::checks::confirm`) before
//! anything is read, registered or moved.

use super::Shifter;
use crate::traffic::checks::confirm::{check_declared, check_issued, check_placed, check_running};
use crate::traffic::{DeploymentStore, Job, Jobs, PipelineContext, ShiftError};

impl<P: super::ShifterPorts> Shifter<P> {
    /// The job's place in its pipeline, once CodePipeline confirms the job, its parameters
    /// and its continuation token. `ShiftError::Forged`: the job is not one to act on;
    /// `ShiftError::Setup`: a job CodePipeline confirmed, but in no known execution (the job is
    /// failed, saying what to add); another error: CodePipeline could not be asked (the
    /// invocation fails and is retried).
    pub(super) async fn confirm(&self, job: &Job) -> Result<PipelineContext, ShiftError> {
        let issued = self.jobs.issued(&job.id).await?;
        let context = check_issued(job, issued.as_ref())?;
        let placed = check_placed(&context);
        let (declared, status) = tokio::join!(self.jobs.declared_action(&context), async {
            match &placed {
                Ok(()) => {
                    self.jobs
                        .execution_status(&context.pipeline, &context.execution_id)
                        .await
                }
                Err(_) => Ok(None),
            }
        },);
        check_declared(
            job,
            &context,
            declared?.as_ref(),
            self.function_name.as_deref(),
        )?;
        // Only a job CodePipeline confirmed, as the pipeline declares it, is failed here.
        placed.map_err(|e| ShiftError::Setup(e.to_string()))?;
        // A continuation may arrive while the execution stops: the deployment then rolls
        // back (its checks notice the stop), which only a running invocation can do.
        // So may a repeated first invocation whose twin recorded the deployment and died: it
        // goes on, to roll back; only a first invocation with nothing recorded is refused.
        if job.continuation_token.is_none() {
            if let Err(stopped) = check_running(&context, status?.as_deref()) {
                if self.store.read(&job.id).await?.is_none() {
                    return Err(stopped.into());
                }
            }
        }
        Ok(context)
    }
}
