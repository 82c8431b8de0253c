//! The hand-over step: the invocation's time slice is used up, so the deployment's state
//! goes to CodePipeline as the continuation token, for the next invocation to resume.

use super::{report_share, services, ShiftOutcome, Shifter, ShifterPorts};
use crate::clock::now_epoch_millis as now_ms;
use crate::traffic::phases::record::HandOver;
use crate::traffic::steps::progress::Thread;
use crate::traffic::steps::report;
use crate::traffic::{
    Ack, Deployment, DeploymentStore, Job, Jobs, RollbackReason, ShiftError, UserParameters,
};
use std::time::Instant;

impl<P: ShifterPorts> Shifter<P> {
    /// Hands over to the next invocation: success with the state as continuation token.
    /// `repeat`: this invocation was overtaken and only makes sure its job has a result.
    pub(super) async fn hand_over(
        &self,
        job: &Job,
        p: &UserParameters,
        d: &Deployment,
        repeat: bool,
        end: Instant,
    ) -> Result<ShiftOutcome, ShiftError> {
        let next = d.handed_over();
        let token = match next.to_token() {
            Ok(t) => t,
            Err(e) => {
                let reason = RollbackReason::Error {
                    message: e.to_string(),
                };
                let share = report_share(d);
                return self
                    .roll_back_for(job, p, d, reason, share, &mut Thread::default(), end)
                    .await;
            }
        };
        // Only this token resumes the deployment: recorded before CodePipeline gets it.
        let handed = HandOver::of(next.seq, &token);
        if !self.store.record_hand_over(&d.id, d.seq, &handed).await? {
            tracing::info!(deployment = %d.id, seq = d.seq, "overtaken before handing over: not acting");
            return Ok(ShiftOutcome::AlreadyFinished);
        }
        let progress = self.progress(d, report::summary(d, &services(p, d), now_ms()));
        match self.jobs.succeed(&job.id, Some(&token), &progress).await? {
            Ack::Accepted => Ok(ShiftOutcome::Continued { token }),
            Ack::AlreadyFinished if repeat => Ok(ShiftOutcome::AlreadyFinished),
            Ack::AlreadyFinished => {
                // Nobody will continue this deployment: the execution was stopped, or the
                // job timed out. Traffic must not stay split.
                let reason = RollbackReason::JobAbandoned;
                let share = report_share(d);
                self.roll_back_for(job, p, d, reason, share, &mut Thread::default(), end)
                    .await
            }
        }
    }
}
