//! The end steps: the old side scaled down and the job succeeded (`finish`), or every
//! rollback, whatever its `RollbackReason`, carried out by one path (`roll_back_for`, then
//! `roll_back`); and the job's result (`succeed`, `fail`, `refuse`).

use super::{pairs, services, ShiftOutcome, Shifter, ShifterPorts};
use crate::traffic::phases::record::DeploymentStatus;
use crate::traffic::setup::weights::read_weights;
use crate::traffic::steps::progress::Thread;
use crate::traffic::steps::report;
use crate::traffic::{
    Ack, Cluster, Deployment, Job, JobFailure, JobProgress, Jobs, LoadBalancer, RollbackReason,
    ShiftError, UserParameters, Weights,
};
use std::time::Instant;

impl<P: ShifterPorts> Shifter<P> {
    /// The last step is done and the wait is over: scale the old version down.
    pub(super) async fn finish(
        &self,
        job: &Job,
        p: &UserParameters,
        d: &Deployment,
        thread: &mut Thread,
    ) -> Result<ShiftOutcome, ShiftError> {
        let old = p.side(d.live);
        if let Err(e) = self
            .cluster
            .update_service(&p.cluster, &old.service, None, 0)
            .await
        {
            if e.is_transient() {
                // An outage, not a fact: failing the job would report a failure with the new
                // version live. The invocation fails instead, and Lambda's retry finishes.
                return Err(e);
            }
            let message = format!(
                "{} ({}) is live, but {} ({}) could not be scaled to zero: {e}",
                d.new_side(),
                p.side(d.new_side()).service,
                d.live,
                old.service
            );
            return self.fail(job, d, message).await;
        }
        let mut message = report::success_message(d, &services(p, d));
        if let Some(problem) = self.restore_scaling(p, d).await {
            message.push_str(&problem);
        }
        tracing::info!(deployment = %d.id, summary = %message, "deployment succeeded");
        self.set_status(d, DeploymentStatus::Succeeded, &message)
            .await;
        self.tell_slack_final(p, d, report::ProgressOutcome::Succeeded, &message, thread)
            .await;
        self.succeed(job, d, message).await
    }

    /// The one path every rollback decision takes: `reason` (the index of them all is
    /// `RollbackReason`), said at `share`% of traffic on the new side, then `roll_back`.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn roll_back_for(
        &self,
        job: &Job,
        p: &UserParameters,
        d: &Deployment,
        reason: RollbackReason,
        share: u8,
        thread: &mut Thread,
        end: Instant,
    ) -> Result<ShiftOutcome, ShiftError> {
        let message = report::rollback_message(d.new_side(), share, &reason);
        self.roll_back(job, p, d, message, thread, end).await
    }

    /// All traffic back to the live side, the idle side back to what it ran, the job failed.
    /// The listener is set back with retries until `end`; when every try failed the record
    /// stays `RollingBack` and the invocation fails (`Err`: Lambda retries the event, and the
    /// retry finishes the rollback), the job without a result.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn roll_back(
        &self,
        job: &Job,
        p: &UserParameters,
        d: &Deployment,
        message: String,
        thread: &mut Thread,
        end: Instant,
    ) -> Result<ShiftOutcome, ShiftError> {
        tracing::warn!(deployment = %d.id, reason = %message, "rolling back");
        // The reason is recorded while the live side's capacity is checked: a rollback is on
        // the clock.
        let ((), ()) = tokio::join!(
            self.set_status(d, DeploymentStatus::RollingBack, &message),
            self.restore_live_capacity(p, d)
        );
        let back = Weights::all_to(d.live);
        if let Err(e) = crate::traffic::steps::retry::until(end, || self.set_back(p, back)).await {
            let incomplete = format!(
                "{message}. ROLLBACK INCOMPLETE so far: the listener could not be set back to 100% {} ({e}); retrying",
                d.live
            );
            tracing::error!(deployment = %d.id, error = %e, "rollback incomplete: failing the invocation so that it is retried");
            self.set_status(d, DeploymentStatus::RollingBack, &message)
                .await;
            self.tell_slack_final(p, d, report::ProgressOutcome::Running, &incomplete, thread)
                .await;
            return Err(e);
        }
        let test_back = crate::traffic::steps::retry::until(end, || self.set_test_back(p, d)).await;
        let idle = p.side(d.new_side());
        let mut message = message;
        if let Err(e) = test_back {
            tracing::error!(deployment = %d.id, error = %e, "the test listener could not be set back");
            message.push_str(&format!(
                "; the test listener could not be set back to {} ({e})",
                d.live
            ));
        }
        if let Some(problem) = self.restore_scaling(p, d).await {
            message.push_str(&problem);
        }
        if let Err(e) = self
            .cluster
            .update_service(
                &p.cluster,
                &idle.service,
                Some(&d.idle_before.task_definition),
                d.idle_before.desired,
            )
            .await
        {
            message.push_str(&format!(
                "; all traffic is back on {}, but {} could not be scaled back: {e}",
                d.live, idle.service
            ));
        }
        self.set_status(d, DeploymentStatus::RolledBack, &message)
            .await;
        self.tell_slack_final(p, d, report::ProgressOutcome::RolledBack, &message, thread)
            .await;
        self.fail(job, d, message).await
    }

    /// Sets the listener back to `back` unless it is there already.
    pub(super) async fn set_back(
        &self,
        p: &UserParameters,
        back: Weights,
    ) -> Result<(), ShiftError> {
        self.put_back(p, &p.traffic, back).await
    }

    /// Sets `control` to `back` unless it is there already, and reads it back: a write the
    /// listener does not show (a concurrent edit) is an error, tried again like a failed
    /// write, so a rollback never reports the listener back on a write it did not see land.
    pub(super) async fn put_back(
        &self,
        p: &UserParameters,
        control: &crate::traffic::TrafficControl,
        back: Weights,
    ) -> Result<(), ShiftError> {
        let shows_back = |forward: &[crate::traffic::ForwardTarget]| {
            read_weights(
                forward,
                &p.blue.target_group_arn,
                &p.green.target_group_arn,
                "",
            )
            .is_ok_and(|w| w.same_shares(&back))
        };
        if shows_back(&self.balancer.forward(control).await?) {
            return Ok(());
        }
        self.balancer.set_weights(control, &pairs(p, back)).await?;
        if shows_back(&self.balancer.forward(control).await?) {
            return Ok(());
        }
        Err(ShiftError::Aws {
            operation: "setting the weights back".into(),
            reason: format!("{} does not show the weights just set", control.describe()),
        })
    }

    /// The live side gets all traffic back: if it was scaled in meanwhile (auto scaling, or
    /// the Retiring phase), its desired count goes back to what it was at the start first.
    pub(super) async fn restore_live_capacity(&self, p: &UserParameters, d: &Deployment) {
        let live = p.side(d.live);
        match self.cluster.service(&p.cluster, &live.service).await {
            Ok(Some(s)) if s.desired < d.desired => {
                tracing::warn!(deployment = %d.id, service = %live.service, desired = s.desired, wanted = d.desired, "the live side was scaled in: restoring it before the rollback");
                if let Err(e) = self
                    .cluster
                    .update_service(&p.cluster, &live.service, None, d.desired)
                    .await
                {
                    tracing::warn!(deployment = %d.id, error = %e, "could not restore the live side's desired count");
                }
            }
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(deployment = %d.id, error = %e, "could not read the live side")
            }
        }
    }

    pub(super) async fn succeed(
        &self,
        job: &Job,
        d: &Deployment,
        message: String,
    ) -> Result<ShiftOutcome, ShiftError> {
        let progress = JobProgress {
            summary: message.clone(),
            percent_complete: 100,
            external_id: d.id.clone(),
        };
        Ok(match self.jobs.succeed(&job.id, None, &progress).await? {
            Ack::Accepted => ShiftOutcome::Succeeded { message },
            Ack::AlreadyFinished => ShiftOutcome::AlreadyFinished,
        })
    }

    pub(super) async fn fail(
        &self,
        job: &Job,
        d: &Deployment,
        message: String,
    ) -> Result<ShiftOutcome, ShiftError> {
        let failure = JobFailure {
            configuration: false,
            message: message.clone(),
            external_id: Some(d.id.clone()),
        };
        Ok(match self.jobs.fail(&job.id, &failure).await? {
            Ack::Accepted => ShiftOutcome::Failed { message },
            Ack::AlreadyFinished => ShiftOutcome::AlreadyFinished,
        })
    }

    /// Fails the job before anything moved, with the reason as its message.
    pub(super) async fn refuse(
        &self,
        job: &Job,
        e: ShiftError,
    ) -> Result<ShiftOutcome, ShiftError> {
        let message = e.to_string();
        tracing::warn!(job = %job.id, error = %message, "deployment refused");
        let failure = JobFailure {
            configuration: e.is_configuration(),
            message: message.clone(),
            external_id: None,
        };
        Ok(match self.jobs.fail(&job.id, &failure).await? {
            Ack::Accepted => ShiftOutcome::Failed { message },
            Ack::AlreadyFinished => ShiftOutcome::AlreadyFinished,
        })
    }
}
