//! One invocation of the traffic shifter: start (or resume) the deployment, then check, decide
//! and apply until the deployment ends or the invocation's time slice runs out, and always
//! leave the job with a result.

mod account_step;
mod analysis_step;
mod check_step;
mod confirm_step;
mod end_step;
mod hand_over_step;
mod lifecycle_step;
mod start_step;
mod sweep_step;

use super::phases::record::{DeploymentRecord, DeploymentStatus};
use super::steps::progress::Thread;
use super::Job;
use super::{
    AlarmWatch, ArtifactStore, Cluster, DeploymentStore, HookFunctions, JobProgress, Jobs,
    LoadBalancer, ServiceScaling, ShiftError, SlackProgress, TargetMetrics,
};
use crate::clock::instant_now;
use crate::clock::now_epoch_millis as now_ms;
use crate::slack::Chat;
use crate::traffic::setup::weights::read_weights;
use crate::traffic::steps::report::{self, ProgressView, Services};
use crate::traffic::{
    setup::params, Command, Deployment, Observed, Phase, RollbackReason, UserParameters, Weights,
};
pub use analysis_step::Gate;
use check_step::Next;
use std::time::{Duration, Instant};
pub use sweep_step::SweepReport;

/// How an invocation ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ShiftOutcome {
    /// The deployment goes on: CodePipeline invokes again with the continuation token.
    Continued {
        token: String,
    },
    Succeeded {
        message: String,
    },
    /// Refused (bad parameters or setup) or rolled back.
    Failed {
        message: String,
    },
    /// The job already had its result (a repeated invocation): nothing was reported twice.
    AlreadyFinished,
    /// The invocation's job is not one CodePipeline issued for these parameters (or token):
    /// nothing moved, and nothing was reported to CodePipeline.
    Forged {
        message: String,
    },
}

/// The outside systems the traffic shifter speaks to, named once: each step's `impl` then states
/// one bound instead of nine. The function binds them to AWS and Slack; the end-to-end tests
/// swap some for stand-ins that fail at a chosen moment.
pub trait ShifterPorts {
    type Cluster: Cluster + Sync;
    type Balancer: LoadBalancer + Sync;
    type Alarms: AlarmWatch + TargetMetrics + Sync;
    type Jobs: Jobs + Sync;
    type Artifacts: ArtifactStore + Sync;
    type Store: DeploymentStore + Sync;
    type Chat: Chat + Sync;
    type Hooks: HookFunctions + Sync;
    type Scaling: ServiceScaling + Sync;
    type Accounts: super::Accounts + Sync;
}

/// The traffic shifter, over its ports.
pub struct Shifter<P: ShifterPorts> {
    pub cluster: P::Cluster,
    pub balancer: P::Balancer,
    pub alarms: P::Alarms,
    pub jobs: P::Jobs,
    pub artifacts: P::Artifacts,
    pub store: P::Store,
    pub slack: Option<SlackProgress<P::Chat>>,
    /// The longest one invocation works before handing over with a continuation token.
    pub slice: Duration,
    /// How long after a metrics window ends the canary judge takes it as complete
    /// (`judged::DEFAULT_SETTLE_SECONDS`; tests set it below zero to judge at once).
    pub analysis_settle_seconds: i64,
    /// Lambda, for the lifecycle hooks' functions.
    pub hooks: P::Hooks,
    /// Application Auto Scaling, for services that are scalable targets.
    pub scaling: P::Scaling,
    /// This function's name (`AWS_LAMBDA_FUNCTION_NAME`): the pipeline must declare the job's
    /// action as an invoke of it. `None` skips that one comparison.
    pub function_name: Option<String>,
    /// How long a deployment may go unwatched before the sweep rolls it back
    /// (`GANTRY_ORPHAN_AFTER_SECONDS`).
    pub orphan_after: Duration,
    /// Which account the environment's calls go to (`role_arn` in `UserParameters`).
    pub accounts: P::Accounts,
}

/// The default slice: long enough that hand-overs are rare, short enough for any sensible
/// Lambda timeout (the invocation's own deadline shortens it further).
pub const DEFAULT_SLICE: Duration = Duration::from_secs(600);

/// One check's reading, with the record it came from.
struct Check {
    observed: Observed,
    command_at: Option<String>,
    context: Option<super::PipelineContext>,
}

impl<P: ShifterPorts> Shifter<P> {
    /// `run`'s work, inside the scope `account_step` opens for the job's account.
    async fn run_here(&self, job: &Job, budget: Duration) -> Result<ShiftOutcome, ShiftError> {
        let end = instant_now() + budget.min(self.slice);
        self.note_continuation(job).await;
        let context = match self.confirm(job).await {
            Ok(context) => context,
            Err(ShiftError::Forged(forged)) => {
                tracing::error!(job = %job.id, reason = %forged, "invocation refused: not a job CodePipeline issued for these parameters");
                return Ok(ShiftOutcome::Forged {
                    message: forged.to_string(),
                });
            }
            // A real job that names no execution: failed now, saying what to add.
            Err(e @ ShiftError::Setup(_)) => return self.refuse(job, e).await,
            Err(e) => return Err(e),
        };
        let params = match params::parse(&job.user_parameters) {
            Ok(p) => p,
            Err(e) => return self.refuse(job, e.into()).await,
        };
        if let Err(e) = self.enter_account(&params, &context).await {
            // STS out of reach mid-deployment is an outage like any other: Lambda retries.
            return if e.is_transient() && job.continuation_token.is_some() {
                Err(e)
            } else {
                self.refuse(job, e).await
            };
        }
        // A first invocation claims the deployment (the job's, hand-over 0) before its first
        // write: of two copies of one job event, the one that loses registers nothing.
        let first = job.continuation_token.is_none();
        if first && !super::steps::turn::wait_for_turn(&self.store, &job.id, 0, end).await? {
            tracing::info!(job = %job.id, "another invocation started this deployment: not acting");
            return Ok(ShiftOutcome::AlreadyFinished);
        }
        let started = match &job.continuation_token {
            Some(token) => self.resume(token).await,
            // Boxed: the start's and the drive's state machines are large, and a future
            // polled on a thread's stack must not grow with every feature (a 2 MiB test
            // thread overflowed).
            None => Box::pin(self.begin(job, &params, &context)).await,
        };
        let (d, record) = match started {
            Ok(s) => s,
            // Mid-deployment, an outage is no reason to fail the job: try again. That includes
            // a repeated first invocation (its twin recorded the deployment and may have moved
            // traffic since), and a start that failed once the deployment was recorded.
            Err(e) => {
                let ended = if e.is_transient() && self.maybe_recorded(job).await {
                    Err(e)
                } else {
                    self.refuse(job, e).await
                };
                if first {
                    self.settle(&job.id, 0, &ended).await;
                }
                return ended;
            }
        };
        if !first && !super::steps::turn::wait_for_turn(&self.store, &d.id, d.seq, end).await? {
            // A repeated invocation: a later one has the deployment, or this one's twin
            // already gave the job its result. Nothing to do, nothing to report.
            tracing::info!(deployment = %d.id, seq = d.seq, "overtaken by another invocation: not acting");
            return self.after_sweep(job, &d).await;
        }
        let (id, seq) = (d.id.clone(), d.seq);
        self.keep_job(job, &id, seq).await;
        let outcome = Box::pin(self.go_on(job, &params, d, record, end)).await;
        self.settle(&id, seq, &outcome).await;
        outcome
    }

    /// Ends the hold of hand-over `seq` on the deployment as the invocation ends: released when
    /// the job has its result (a twin of this invocation must not take over), let go on an error
    /// (Lambda retries the event, and its retry takes over at once).
    async fn settle(&self, id: &str, seq: u32, ended: &Result<ShiftOutcome, ShiftError>) {
        match ended {
            Ok(_) => self.release(id, seq).await,
            Err(_) => self.let_go(id, seq).await,
        }
    }

    /// Ends this invocation's lease without a result, for Lambda's retry of the same event.
    async fn let_go(&self, id: &str, seq: u32) {
        if let Err(e) = self.store.let_go(id, seq).await {
            tracing::warn!(error = %e, "could not let the deployment go: the retry waits for the lease");
        }
    }

    async fn release(&self, id: &str, seq: u32) {
        if let Err(e) = self.store.release(id, seq).await {
            tracing::warn!(error = %e, "could not release the deployment");
        }
    }

    async fn go_on(
        &self,
        job: &Job,
        params: &UserParameters,
        d: Deployment,
        record: Option<DeploymentRecord>,
        end: Instant,
    ) -> Result<ShiftOutcome, ShiftError> {
        let mut thread = Thread::default();
        if let Some(r) = &record {
            thread.context = r.context.clone();
            thread.message = r.message.clone();
        }
        let summary = record.as_ref().and_then(|r| r.summary.clone());
        match record.map(|r| r.status) {
            Some(DeploymentStatus::Succeeded) => {
                let message = summary.unwrap_or_else(|| "deployment finished".into());
                self.succeed(job, &d, message).await
            }
            Some(DeploymentStatus::RolledBack) => {
                let message = summary.unwrap_or_else(|| "deployment rolled back".into());
                self.fail(job, &d, message).await
            }
            Some(DeploymentStatus::RollingBack) => {
                // The invocation that started the rollback died: finish it, same reason.
                let message = summary.unwrap_or_else(|| "deployment rolled back".into());
                self.roll_back(job, params, &d, message, &mut thread, end)
                    .await
            }
            _ => self.drive(job, params, d, end, thread).await,
        }
    }

    /// Whether the job's deployment may be recorded: a continuation's is, and a first job's
    /// is when the table has it or cannot say.
    async fn maybe_recorded(&self, job: &Job) -> bool {
        job.continuation_token.is_some() || !matches!(self.store.read(&job.id).await, Ok(None))
    }

    /// Checks, decides and applies (one `turn` a check) until the deployment ends or the slice
    /// is used up.
    async fn drive(
        &self,
        job: &Job,
        p: &UserParameters,
        mut d: Deployment,
        end: Instant,
        mut thread: Thread,
    ) -> Result<ShiftOutcome, ShiftError> {
        let mut blind = None;
        loop {
            match self.turn(p, &mut d, &mut blind, &mut thread, end).await {
                Next::Again => {}
                Next::HandOver => return self.hand_over(job, p, &d, false, end).await,
                Next::RollBack { reason, share } => {
                    return self
                        .roll_back_for(job, p, &d, reason, share, &mut thread, end)
                        .await;
                }
                Next::Finish => return self.finish(job, p, &d, &mut thread).await,
            }
        }
    }

    async fn observe(&self, p: &UserParameters, d: &Deployment) -> Result<Check, ShiftError> {
        let new = p.side(d.new_side());
        let (forward, idle, targets, alarms, record) = tokio::join!(
            self.balancer.forward(&p.traffic),
            self.cluster.service(&p.cluster, &new.service),
            self.balancer.target_health(&new.target_group_arn),
            self.alarms.states(&p.alarms),
            self.store.read(&d.id),
        );
        let weights = read_weights(
            &forward?,
            &p.blue.target_group_arn,
            &p.green.target_group_arn,
            &p.traffic.describe(),
        )?;
        let idle = idle?.ok_or_else(|| {
            ShiftError::Setup(format!(
                "service {} is no longer active in cluster {}",
                new.service, p.cluster
            ))
        })?;
        let record = record?;
        let command_at = record.as_ref().and_then(|r| r.command_at.clone());
        let context = record.as_ref().and_then(|r| r.context.clone());
        Ok(Check {
            observed: Observed {
                now_ms: now_ms(),
                weights,
                idle,
                idle_targets: targets?,
                alarms: alarms?,
                command: record.and_then(|r| r.command),
            },
            command_at,
            context,
        })
    }

    /// A Promote click has been acted on: remove it so it is not acted on again.
    async fn consume_promote(&self, d: &Deployment, o: &Observed, command_at: &Option<String>) {
        if let Some(Command::Promote { by }) = &o.command {
            tracing::info!(deployment = %d.id, by = %by, "promoted from Slack");
            if let Err(e) = self.store.clear_command(&d.id, command_at.as_deref()).await {
                tracing::warn!(deployment = %d.id, error = %e, "could not clear the promote command");
            }
        }
    }

    /// The execution's status when it is no longer in progress (stopped, stopping, failed…).
    /// An execution that cannot be read is not taken as stopped (the job result tells).
    async fn stopped(&self, context: Option<&super::PipelineContext>) -> Option<String> {
        let c = context?;
        match self
            .jobs
            .execution_status(&c.pipeline, &c.execution_id)
            .await
        {
            Ok(Some(status)) if status != "InProgress" => Some(status),
            Ok(_) => None,
            Err(e) => {
                tracing::warn!(error = %e, "could not read the pipeline execution's status");
                None
            }
        }
    }

    /// Reads the listener back after a weight change: `Some` reason to roll back when it
    /// does not show `set` (a concurrent edit, which is then not overwritten silently).
    async fn read_back(&self, p: &UserParameters, set: Weights) -> Option<RollbackReason> {
        let found = self.balancer.forward(&p.traffic).await.map(|f| {
            read_weights(
                &f,
                &p.blue.target_group_arn,
                &p.green.target_group_arn,
                &p.traffic.describe(),
            )
        });
        match found {
            Ok(Ok(found)) if found.same_shares(&set) => None,
            Ok(Ok(found)) => Some(RollbackReason::WeightsChanged { found }),
            Ok(Err(e)) => Some(RollbackReason::Error {
                message: e.to_string(),
            }),
            // The write went through; the next check reads the listener again.
            Err(e) => {
                tracing::warn!(error = %e, "could not read the listener back after a weight change");
                None
            }
        }
    }

    /// Records the deployment's status, trying again for a few seconds: a deployment whose job
    /// has its result but whose record still says in progress looks orphaned to whoever
    /// reads the table next.
    async fn set_status(&self, d: &Deployment, status: DeploymentStatus, summary: &str) {
        let deadline = instant_now() + Duration::from_secs(5);
        let written = super::steps::retry::until(deadline, || {
            self.store
                .set_status(&d.id, status, summary, now_ms() / 1000)
        })
        .await;
        if let Err(e) = written {
            tracing::warn!(deployment = %d.id, error = %e, "could not record the deployment's status");
        }
    }

    fn progress(&self, d: &Deployment, summary: String) -> JobProgress {
        JobProgress {
            summary,
            percent_complete: report::percent_complete(d, now_ms()),
            external_id: d.id.clone(),
        }
    }

    fn log_step(&self, p: &UserParameters, d: &Deployment, what: &str) {
        let new = d.new_side();
        let expected = crate::traffic::phases::phase::expected_weights(d, d.phase);
        tracing::info!(
            deployment = %d.id,
            phase = phase_name(d.phase),
            new_side = %new,
            new_percent = expected.percent(new),
            summary = %report::summary(d, &services(p, d), now_ms()),
            "{what}"
        );
    }

    async fn tell_slack(
        &self,
        p: &UserParameters,
        d: &Deployment,
        outcome: report::ProgressOutcome,
        thread: &mut Thread,
    ) {
        let status = report::summary(d, &services(p, d), now_ms());
        self.tell_slack_final(p, d, outcome, &status, thread).await;
    }

    /// Tells `/gantry status` the weight the stage is held at now. Best effort: the status row
    /// is a view for people, and the next weight writes it again.
    async fn note_weight(&self, thread: &Thread, percent: u8) {
        let Some(c) = &thread.context else { return };
        if let Err(e) = self.store.note_weight(c, percent, now_ms() / 1000).await {
            tracing::warn!(error = %e, "could not note the weight for /gantry status");
        }
    }

    /// What the stage ran before this execution (the notifier's status projection, one read):
    /// the *Roll back to* button a succeeded deployment's message gains. `None` when the stage
    /// never ran anything else, or the projection cannot be read (the button is a convenience;
    /// `/gantry rollback` does the same).
    async fn previous_release(
        &self,
        c: &crate::traffic::PipelineContext,
    ) -> Option<report::PreviousRelease> {
        match self.store.live_release(&c.pipeline, &c.stage).await {
            Ok(Some((execution, commit))) if execution != c.execution_id => {
                Some(report::PreviousRelease {
                    pipeline: c.pipeline.clone(),
                    stage: c.stage.clone(),
                    execution_id: c.execution_id.clone(),
                    commit,
                })
            }
            Ok(_) => None,
            Err(e) => {
                tracing::warn!(error = %e, "could not read the stage's previous release");
                None
            }
        }
    }

    pub(super) async fn tell_slack_final(
        &self,
        p: &UserParameters,
        d: &Deployment,
        outcome: report::ProgressOutcome,
        status: &str,
        thread: &mut Thread,
    ) {
        let Some(slack) = &self.slack else { return };
        let roll_back_to = match (&outcome, &thread.context) {
            (report::ProgressOutcome::Succeeded, Some(c)) => self.previous_release(c).await,
            _ => None,
        };
        let view = ProgressView {
            deployment_id: d.id.clone(),
            new_side: d.new_side(),
            services: services(p, d),
            images: vec![report::revision(&d.task_definition).to_string()],
            strategy: p.strategy.to_string(),
            outcome,
            status: status.to_string(),
            alarms: p.alarms.clone(),
            analysis: d.judged.recent.iter().map(|w| w.render()).collect(),
            controls: Some(report::Controls {
                version: d.judged.controls,
                paused: d.judged.paused,
            }),
            pause_hook: crate::traffic::setup::hooks::pausing_at(
                &p.lifecycle_hooks,
                d.hook.as_ref(),
            ),
            account: p.target.as_ref().map(|t| t.account_id().to_string()),
            roll_back_to,
        };
        match slack.publish(&self.store, thread, &view).await {
            Ok(Some(posted)) => {
                if let Err(e) = self.store.save_message(&d.id, &posted).await {
                    tracing::warn!(deployment = %d.id, error = %e, "could not remember the Slack message");
                }
                thread.message = Some(posted);
            }
            Ok(None) => {}
            Err(e) => tracing::warn!(deployment = %d.id, error = %e, "Slack progress not posted"),
        }
    }
}

/// The forward action's weights for the two target groups.
fn pairs(p: &UserParameters, w: Weights) -> Vec<(String, u32)> {
    vec![
        (p.blue.target_group_arn.clone(), w.blue),
        (p.green.target_group_arn.clone(), w.green),
    ]
}

pub(super) fn services(p: &UserParameters, d: &Deployment) -> Services {
    Services {
        old: p.side(d.live).service.clone(),
        new: p.side(d.new_side()).service.clone(),
    }
}

/// The new side's share the phase stands for, when the listener could not be read.
fn report_share(d: &Deployment) -> u8 {
    crate::traffic::phases::phase::expected_weights(d, d.phase).percent(d.new_side())
}

fn same_step(a: Phase, b: Phase) -> bool {
    match (a, b) {
        (Phase::Stabilizing { .. }, Phase::Stabilizing { .. }) => true,
        (Phase::Testing { .. }, Phase::Testing { .. }) => true,
        (Phase::Shifting { step: x, .. }, Phase::Shifting { step: y, .. }) => x == y,
        (Phase::Retiring { .. }, Phase::Retiring { .. }) => true,
        _ => false,
    }
}

fn phase_name(p: Phase) -> &'static str {
    match p {
        Phase::Stabilizing { .. } => "stabilizing",
        Phase::Testing { .. } => "testing",
        Phase::Shifting { .. } => "shifting",
        Phase::Retiring { .. } => "retiring",
    }
}
