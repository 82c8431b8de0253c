//! The sweep for orphaned deployments (`traffic::phases::sweep` decides), and the two notes the job
//! invocations leave for it: the job each continuation was given, and the confirmed
//! `UserParameters` the sweep rolls back with.

use super::Shifter;
use crate::clock::now_epoch_millis as now_ms;
use crate::traffic::phases::sweep::{self, Listed, Orphan, SweepVerdict, Unreported};
use crate::traffic::setup::weights::read_weights;
use crate::traffic::steps::progress::Thread;
use crate::traffic::steps::report;
use crate::traffic::steps::turn::LEASE_MARGIN;
use crate::traffic::{
    setup::params, Accounts, Deployment, DeploymentRecord, DeploymentStatus, DeploymentStore,
    HandOver, Job, JobFailure, JobProgress, Jobs, LoadBalancer, ShiftError, ShiftOutcome,
};
use std::time::{Duration, Instant};

/// What one sweep did, by deployment id.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SweepReport {
    /// Rolled back (or their rollback finished), with the message the job was failed with.
    pub rolled_back: Vec<(String, String)>,
    /// Driven by an invocation, or looked after recently.
    pub left: Vec<String>,
    /// Finished: taken off the index.
    pub forgotten: Vec<String>,
    /// Orphaned but not rolled back this time, and why (the next sweep tries again).
    pub failed: Vec<(String, String)>,
}

impl<P: super::ShifterPorts> Shifter<P> {
    /// One sweep: every deployment the index lists is judged from its record
    /// (`sweep::assess`); an orphan is taken (only if its lease is still the one judged) and
    /// rolled back as the shifter rolls back, its job failed, its thread told why. `Err` only
    /// when the index cannot be read.
    pub async fn sweep(&self, budget: Duration) -> Result<SweepReport, ShiftError> {
        let end = crate::clock::instant_now() + budget.min(self.slice);
        let listed = self.store.open_deployments().await?;
        let after = self.orphan_after.as_millis() as i64;
        let mut done = SweepReport::default();
        for l in &listed {
            match sweep::assess(l, now_ms(), after) {
                SweepVerdict::Leave => done.left.push(l.id.clone()),
                SweepVerdict::Forget => {
                    if let Err(e) = self.store.forget(&l.id).await {
                        tracing::warn!(deployment = %l.id, error = %e, "could not take a finished deployment off the index");
                    }
                    done.forgotten.push(l.id.clone());
                }
                SweepVerdict::Report(unreported) => {
                    match self.report_finished(&l.id, &unreported).await {
                        Ok(()) => {
                            if let Err(e) = self.store.forget(&l.id).await {
                                tracing::warn!(deployment = %l.id, error = %e, "could not take a finished deployment off the index");
                            }
                            done.forgotten.push(l.id.clone());
                        }
                        Err(e) => {
                            tracing::error!(deployment = %l.id, error = %e, "the sweep could not give a finished deployment's job its result");
                            done.failed.push((l.id.clone(), e.to_string()));
                        }
                    }
                }
                SweepVerdict::RollBack(orphan) => {
                    let rollback = Box::pin(self.roll_back_orphan(l, orphan, end));
                    match self.accounts.within(rollback).await {
                        Ok(Some(message)) => done.rolled_back.push((l.id.clone(), message)),
                        Ok(None) => done.left.push(l.id.clone()),
                        Err(e) => {
                            tracing::error!(deployment = %l.id, error = %e, "the sweep could not roll an orphaned deployment back");
                            done.failed.push((l.id.clone(), e.to_string()));
                        }
                    }
                }
            }
        }
        tracing::info!(
            rolled_back = done.rolled_back.len(),
            left = done.left.len(),
            forgotten = done.forgotten.len(),
            failed = done.failed.len(),
            "sweep done"
        );
        Ok(done)
    }

    /// Takes the orphan and rolls it back; `Ok(None)` when an invocation took it first.
    async fn roll_back_orphan(
        &self,
        l: &Listed,
        orphan: Orphan,
        end: Instant,
    ) -> Result<Option<String>, ShiftError> {
        let Some(record) = &l.record else {
            return Ok(None);
        };
        // Everything the rollback needs was fixed at the start: the sides, what the idle
        // service ran, the auto scaling to put back.
        let start = Deployment::from_token(&record.state)?;
        let raw = self.parameters_of(record, &orphan).await?;
        let p = params::parse(&raw)?;
        // In the deployment's account: a role the confirmed parameters name.
        let session = record.context.as_ref().map_or_else(
            || format!("gantry-sweep@{}", record.id),
            |c| crate::traffic::account::session_name(&c.pipeline, &c.execution_id),
        );
        self.accounts.enter(p.target.as_ref(), &session).await?;
        let until = now_ms()
            + (end.saturating_duration_since(crate::clock::instant_now()) + LEASE_MARGIN)
                .as_millis() as i64;
        if !self
            .store
            .take_orphan(&record.id, &orphan.seen, orphan.seq, until)
            .await?
        {
            tracing::info!(deployment = %record.id, "an invocation took the deployment first: the sweep leaves it");
            return Ok(None);
        }
        let mut d = start;
        d.seq = orphan.seq;
        let message = match orphan.why.reason() {
            Some(reason) => {
                let share = self
                    .balancer
                    .forward(&p.traffic)
                    .await
                    .ok()
                    .and_then(|f| {
                        read_weights(&f, &p.blue.target_group_arn, &p.green.target_group_arn, "")
                            .ok()
                    })
                    .map_or(0, |w| w.percent(d.new_side()));
                report::rollback_message(d.new_side(), share, &reason)
            }
            None => record
                .summary
                .clone()
                .unwrap_or_else(|| "deployment rolled back".into()),
        };
        tracing::warn!(deployment = %d.id, job = %orphan.job_id, reason = %message, "the sweep rolls back an orphaned deployment");
        let job = Job {
            id: orphan.job_id.clone(),
            user_parameters: raw,
            continuation_token: None,
            input_artifacts: Vec::new(),
            credentials: None,
        };
        let mut thread = Thread {
            context: record.context.clone(),
            message: record.message.clone(),
        };
        let outcome = self
            .roll_back(&job, &p, &d, message.clone(), &mut thread, end)
            .await;
        if let Err(e) = self.store.release(&d.id, d.seq).await {
            tracing::warn!(deployment = %d.id, error = %e, "could not release the deployment");
        }
        if let Some(slack) = &self.slack {
            if let Err(e) = slack
                .reply(&self.store, &thread, &orphan.why.told(&message))
                .await
            {
                tracing::warn!(deployment = %d.id, error = %e, "the sweep's notice was not posted");
            }
        }
        match outcome? {
            ShiftOutcome::AlreadyFinished => {
                tracing::info!(deployment = %d.id, job = %orphan.job_id, "the job had ended already: nothing to fail")
            }
            other => {
                tracing::info!(deployment = %d.id, outcome = ?other, "orphaned deployment rolled back")
            }
        }
        Ok(Some(message))
    }

    /// Gives a finished deployment's job the result its record holds (CodePipeline refuses it,
    /// and nothing more happens, when the job had one).
    async fn report_finished(&self, id: &str, u: &Unreported) -> Result<(), ShiftError> {
        let ack = if u.succeeded {
            let progress = JobProgress {
                summary: u.summary.clone(),
                percent_complete: 100,
                external_id: id.to_string(),
            };
            self.jobs.succeed(&u.job_id, None, &progress).await?
        } else {
            let failure = JobFailure {
                configuration: false,
                message: u.summary.clone(),
                external_id: Some(id.to_string()),
            };
            self.jobs.fail(&u.job_id, &failure).await?
        };
        tracing::info!(job = %u.job_id, ack = ?ack, "the sweep gave a finished deployment's job its result");
        Ok(())
    }

    /// The `UserParameters` the deployment was confirmed with: kept on its record, or (when
    /// its first invocation died before keeping them) asked of CodePipeline.
    async fn parameters_of(
        &self,
        record: &DeploymentRecord,
        orphan: &Orphan,
    ) -> Result<String, ShiftError> {
        if let Some(kept) = &record.watch.user_parameters {
            return Ok(kept.clone());
        }
        let issued = self.jobs.issued(&record.id).await?;
        issued.and_then(|j| j.user_parameters).ok_or_else(|| {
            ShiftError::Setup(format!(
                "deployment {} kept no UserParameters and CodePipeline no longer has its job {}",
                record.id, orphan.job_id
            ))
        })
    }

    /// A continuation's job, noted on the deployment before anything else (even before
    /// CodePipeline confirms it): if this invocation cannot go on, the sweep knows which job
    /// to fail. Only the token last handed over can note one.
    pub(super) async fn note_continuation(&self, job: &Job) {
        let Some(token) = &job.continuation_token else {
            return;
        };
        let Ok(d) = Deployment::from_token(token) else {
            return;
        };
        let handed = HandOver::of(d.seq, token);
        match self.store.note_job(&d.id, &job.id, &handed).await {
            Ok(true) => {}
            Ok(false) => {
                tracing::info!(deployment = %d.id, job = %job.id, "not the last hand-over: job not noted")
            }
            Err(e) => tracing::warn!(deployment = %d.id, error = %e, "could not note the job"),
        }
    }

    /// The holder's confirmed job and parameters, kept for the sweep.
    pub(super) async fn keep_job(&self, job: &Job, id: &str, seq: u32) {
        if let Err(e) = self
            .store
            .keep_job(id, seq, &job.id, &job.user_parameters)
            .await
        {
            tracing::warn!(deployment = %id, error = %e, "could not keep the job for the sweep");
        }
    }

    /// An overtaken invocation. If the sweep rolled its deployment back meanwhile, this job
    /// (confirmed with CodePipeline) may be the one it could not know: it fails with the
    /// rollback's message (refused, and nothing more, when it has ended already).
    pub(super) async fn after_sweep(
        &self,
        job: &Job,
        d: &Deployment,
    ) -> Result<ShiftOutcome, ShiftError> {
        match self.store.read(&d.id).await {
            Ok(Some(r)) if r.status == DeploymentStatus::RolledBack => {
                let message = r.summary.unwrap_or_else(|| "deployment rolled back".into());
                self.fail(job, d, message).await
            }
            _ => Ok(ShiftOutcome::AlreadyFinished),
        }
    }
}
