//! The traffic shifter's ports: one small trait per outside system it observes or moves (ECS,
//! the load balancer, CloudWatch alarms, CodePipeline's jobs, the artifact store, the deployment
//! records), in the shifter's words. The AWS adapters are in `gantry_adapters`.

use super::checks::confirm::{InvokeDeclaration, IssuedJob};
pub use super::checks::preflight::TaskDefinitionInfo;
use super::phases::record::{DeploymentRecord, DeploymentStatus, HandOver};
use super::setup::job::{ArtifactCredentials, InputArtifact, JobFailure, PipelineContext};
use crate::slack::PostedMessage;
use crate::store::StoreError;
use crate::traffic::setup::images::ImageUpdate;
use crate::traffic::{
    AlarmReading, ForwardTarget, ParamsError, ServiceStatus, TargetHealth, TokenError,
    TrafficControl, WeightsError,
};
use std::future::Future;

/// Why an invocation could not go on. Converted once, into the job's failure result.
#[derive(Debug, thiserror::Error)]
pub enum ShiftError {
    #[error(transparent)]
    Params(#[from] ParamsError),
    #[error(transparent)]
    Weights(#[from] WeightsError),
    #[error(transparent)]
    Image(#[from] crate::traffic::setup::images::ImageError),
    #[error(transparent)]
    Token(#[from] TokenError),
    /// The AWS resources do not fit the parameters (a service or alarm that does not exist…).
    #[error("{0}")]
    Setup(String),
    /// An AWS call failed after the SDK's own retries. `reason` is short and safe to show
    /// (the kind of failure, AWS's error code): the job's failure message and the Slack thread
    /// show it, so AWS's error text (ARNs, account ids) stays in the logs.
    #[error("{operation} failed: {reason}")]
    Aws { operation: String, reason: String },
    /// The table's own error text is for the logs (the adapter logs it): this one is shown.
    #[error("the state table could not be read or written (details in the function's logs)")]
    Store(#[from] StoreError),
    /// A pre-flight check failed: nothing moved.
    #[error(transparent)]
    Refused(#[from] crate::traffic::checks::preflight::Refusal),
    /// The invocation's job is not one CodePipeline issued for these parameters: nothing
    /// moves and nothing is reported.
    #[error(transparent)]
    Forged(#[from] crate::traffic::checks::confirm::Forged),
}

impl ShiftError {
    /// An outage of an AWS API or of the table (after the SDK's retries): trying again later
    /// may succeed, unlike a fact such as a service that no longer exists.
    pub fn is_transient(&self) -> bool {
        matches!(self, ShiftError::Aws { .. } | ShiftError::Store(_))
    }

    /// Errors a person must fix in the pipeline or the AWS setup (CodePipeline's
    /// `ConfigurationError`), as opposed to a deployment that went wrong.
    pub fn is_configuration(&self) -> bool {
        matches!(
            self,
            ShiftError::Params(_)
                | ShiftError::Weights(_)
                | ShiftError::Image(_)
                | ShiftError::Setup(_)
                | ShiftError::Refused(_)
        )
    }
}

/// ECS.
pub trait Cluster {
    /// The service, or `None` when the cluster has no active service of that name.
    fn service(
        &self,
        cluster: &str,
        name: &str,
    ) -> impl Future<Output = Result<Option<ServiceStatus>, ShiftError>> + Send;
    fn task_definition(
        &self,
        arn: &str,
    ) -> impl Future<Output = Result<TaskDefinitionInfo, ShiftError>> + Send;
    /// Registers a new revision of `arn` with `updates` applied, everything else copied.
    fn register_with_images(
        &self,
        arn: &str,
        updates: &[ImageUpdate],
    ) -> impl Future<Output = Result<String, ShiftError>> + Send;
    /// Sets the service's desired count, and its task definition when one is given.
    fn update_service(
        &self,
        cluster: &str,
        name: &str,
        task_definition: Option<&str>,
        desired: i32,
    ) -> impl Future<Output = Result<(), ShiftError>> + Send;
}

/// The load balancer: the forward action's weights and the target groups' health.
pub trait LoadBalancer {
    fn forward(
        &self,
        control: &TrafficControl,
    ) -> impl Future<Output = Result<Vec<ForwardTarget>, ShiftError>> + Send;
    /// Sets the forward action's weights (target group ARN, weight), leaving the rest as is.
    fn set_weights(
        &self,
        control: &TrafficControl,
        weights: &[(String, u32)],
    ) -> impl Future<Output = Result<(), ShiftError>> + Send;
    fn target_health(
        &self,
        target_group_arn: &str,
    ) -> impl Future<Output = Result<TargetHealth, ShiftError>> + Send;
    /// Whether the forward action has target group stickiness on (clients then stay on
    /// the group they first reached, whatever the weights say).
    fn sticky(
        &self,
        control: &TrafficControl,
    ) -> impl Future<Output = Result<bool, ShiftError>> + Send {
        let _ = control;
        async { Ok(false) }
    }
}

/// CloudWatch alarms.
pub trait AlarmWatch {
    /// The state of each named alarm, in order; `Missing` for names CloudWatch does not know.
    fn states(
        &self,
        names: &[String],
    ) -> impl Future<Output = Result<Vec<AlarmReading>, ShiftError>> + Send;
}

/// Whether CodePipeline took a job result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ack {
    Accepted,
    /// The job had already been given a result (a repeated invocation): nothing to do.
    AlreadyFinished,
}

/// The job's progress, as CodePipeline shows it under the action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobProgress {
    pub summary: String,
    pub percent_complete: i32,
    pub external_id: String,
}

/// CodePipeline's side of a job.
pub trait Jobs {
    /// `PutJobSuccessResult`, with a continuation token while the work goes on.
    fn succeed(
        &self,
        job_id: &str,
        continuation: Option<&str>,
        progress: &JobProgress,
    ) -> impl Future<Output = Result<Ack, ShiftError>> + Send;
    /// `PutJobFailureResult`.
    fn fail(
        &self,
        job_id: &str,
        failure: &JobFailure,
    ) -> impl Future<Output = Result<Ack, ShiftError>> + Send;
    /// The execution's status (`GetPipelineExecution`: `InProgress`, `Stopping`, `Stopped`…);
    /// `None` when the store cannot say.
    fn execution_status(
        &self,
        pipeline: &str,
        execution_id: &str,
    ) -> impl Future<Output = Result<Option<String>, ShiftError>> + Send {
        let _ = (pipeline, execution_id);
        async { Ok(None) }
    }
    /// What CodePipeline holds for the job (`GetJobDetails`); `None` when it has no such job.
    fn issued(
        &self,
        job_id: &str,
    ) -> impl Future<Output = Result<Option<IssuedJob>, ShiftError>> + Send;
    /// The pipeline's declaration of the job's action (`GetPipeline`); `None` when the
    /// pipeline declares no such action.
    fn declared_action(
        &self,
        context: &PipelineContext,
    ) -> impl Future<Output = Result<Option<InvokeDeclaration>, ShiftError>> + Send;
}

/// The job's input artifacts (CodePipeline's artifact store).
pub trait ArtifactStore {
    fn fetch(
        &self,
        artifact: &InputArtifact,
        credentials: Option<&ArtifactCredentials>,
    ) -> impl Future<Output = Result<Vec<u8>, ShiftError>> + Send;
}

/// Whose turn it is to drive a deployment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Turn {
    /// This invocation drives.
    Taken,
    /// Another invocation with the same hand-over number drives, at most until `until_ms`.
    Held { until_ms: i64 },
    /// A later invocation has the deployment, or this number's holder already gave its job a
    /// result: this one must not act.
    Overtaken,
}

/// The deployment records (the state table in production).
pub trait DeploymentStore: Sync {
    /// Creates the record, or returns the one a previous invocation of the same job created.
    fn open(
        &self,
        id: &str,
        context: Option<&PipelineContext>,
        state: &str,
        now: i64,
    ) -> impl Future<Output = Result<DeploymentRecord, StoreError>> + Send;
    fn read(
        &self,
        id: &str,
    ) -> impl Future<Output = Result<Option<DeploymentRecord>, StoreError>> + Send;
    /// Takes the deployment for the invocation holding hand-over number `seq`; `false` when a
    /// later invocation already has it (this one was overtaken and must not act).
    fn claim(&self, id: &str, seq: u32) -> impl Future<Output = Result<bool, StoreError>> + Send;
    /// Takes the deployment for the invocation holding hand-over number `seq` until
    /// `until_ms` (its lease): a later number always takes it; the same number only when the
    /// holder's lease ran out without its release (it died). The default, for stores without
    /// leases, is `claim` with a strictly later number.
    fn take(
        &self,
        id: &str,
        seq: u32,
        now_ms: i64,
        until_ms: i64,
    ) -> impl Future<Output = Result<Turn, StoreError>> + Send {
        let _ = (now_ms, until_ms);
        async move {
            Ok(if self.claim(id, seq).await? {
                Turn::Taken
            } else {
                Turn::Overtaken
            })
        }
    }
    /// Records the continuation token the holder of `held` is about to hand CodePipeline
    /// (`next.seq` = `held` + 1): only that token resumes the deployment. `false` when this
    /// invocation no longer holds the deployment (it was overtaken: hand nothing over).
    fn record_hand_over(
        &self,
        id: &str,
        held: u32,
        next: &HandOver,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
    /// The holder of `seq` gave its job a result: nobody takes the same number again.
    fn release(&self, id: &str, seq: u32) -> impl Future<Output = Result<(), StoreError>> + Send {
        let _ = (id, seq);
        async { Ok(()) }
    }
    /// The holder of `seq` stops without giving its job a result (an outage: Lambda retries
    /// the event): its lease ends now, so the retry, carrying the same number, takes the
    /// deployment at once instead of waiting out a lease nobody uses.
    fn let_go(&self, id: &str, seq: u32) -> impl Future<Output = Result<(), StoreError>> + Send {
        let _ = (id, seq);
        async { Ok(()) }
    }
    /// Removes the operator command given at `command_at` (and only that one).
    fn clear_command(
        &self,
        id: &str,
        command_at: Option<&str>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Records the Slack controls' version the deployment is at, so a click carrying an older
    /// one is known stale before it is written (the continuation token keeps the truth).
    fn set_controls(
        &self,
        id: &str,
        version: u32,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        let _ = (id, version);
        async { Ok(()) }
    }
    /// Appends `entry` to the deployment's audit trail of controls from Slack.
    fn audit(&self, id: &str, entry: &str) -> impl Future<Output = Result<(), StoreError>> + Send;
    fn save_message(
        &self,
        id: &str,
        message: &PostedMessage,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    fn set_status(
        &self,
        id: &str,
        status: DeploymentStatus,
        summary: &str,
        now: i64,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Notes the job CodePipeline gave a continuation, so the sweep can fail it if the chain
    /// breaks there: only when `token` is the hand-over last recorded (an invocation not yet
    /// confirmed with CodePipeline cannot name another job). `false`: not that hand-over.
    fn note_job(
        &self,
        id: &str,
        job_id: &str,
        token: &HandOver,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send {
        let _ = (id, job_id, token);
        async { Ok(false) }
    }
    /// Keeps the confirmed job and its `UserParameters` on the deployment, for the holder of
    /// `seq`: what the sweep rolls back with if no invocation comes back.
    fn keep_job(
        &self,
        id: &str,
        seq: u32,
        job_id: &str,
        user_parameters: &str,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        let _ = (id, seq, job_id, user_parameters);
        async { Ok(()) }
    }
    /// The deployments that may still be open, from the table's index (one query), each with
    /// its record as it stands.
    fn open_deployments(
        &self,
    ) -> impl Future<Output = Result<Vec<super::phases::sweep::Listed>, StoreError>> + Send {
        async { Ok(Vec::new()) }
    }
    /// Removes a finished (or never recorded) deployment from the index.
    fn forget(&self, id: &str) -> impl Future<Output = Result<(), StoreError>> + Send {
        let _ = id;
        async { Ok(()) }
    }
    /// Takes an orphaned deployment for the sweep with hand-over number `seq` until `until_ms`,
    /// only if its lease is still `seen` and it is not finished. `false`: someone took it since
    /// (or it ended): leave it.
    fn take_orphan(
        &self,
        id: &str,
        seen: &super::phases::record::Watch,
        seq: u32,
        until_ms: i64,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send {
        let _ = (id, seen, seq, until_ms);
        async { Ok(false) }
    }
    /// The execution live in `stage` as the notifier last saw it, and its commit (the status
    /// projection's live row): before a deployment's stage succeeds, the previous release.
    fn live_release(
        &self,
        pipeline: &str,
        stage: &str,
    ) -> impl Future<Output = Result<Option<(String, Option<String>)>, StoreError>> + Send {
        let _ = (pipeline, stage);
        async { Ok(None) }
    }
    /// Notes that the deployment now holds `percent` of the stage's production traffic on the
    /// new version, for `/gantry status` (the status projection's shift row): a view for
    /// people, never read back by the shifter.
    fn note_weight(
        &self,
        context: &PipelineContext,
        percent: u8,
        now: i64,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        let _ = (context, percent, now);
        async { Ok(()) }
    }
    /// The execution's Slack thread, once the notifier has posted it.
    fn execution_thread(
        &self,
        pipeline: &str,
        execution_id: &str,
    ) -> impl Future<Output = Result<Option<PostedMessage>, StoreError>> + Send;
}

/// One query's answer from the metrics store: the query's id and its (epoch seconds, value)
/// points, in any order.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricSeries {
    pub id: String,
    pub points: Vec<(i64, f64)>,
}

/// The load balancer's per-target-group metrics (CloudWatch), for judging the new side
/// against the live side (`crate::analysis`).
pub trait TargetMetrics {
    /// Answers all `queries` over `[start, end)` (epoch seconds) in one request (CloudWatch's
    /// `GetMetricData`; its pages are followed).
    fn series(
        &self,
        queries: &[crate::analysis::MetricQuery],
        start: i64,
        end: i64,
    ) -> impl Future<Output = Result<Vec<MetricSeries>, ShiftError>> + Send;
}

/// Lambda: the lifecycle hooks' functions.
pub trait HookFunctions {
    /// Invokes `function_arn` (RequestResponse) with `payload` (JSON) and returns what it
    /// gave back; `Err` when Lambda refused or did not answer.
    fn invoke(
        &self,
        function_arn: &str,
        payload: &str,
    ) -> impl Future<Output = Result<crate::traffic::setup::hooks::Invocation, ShiftError>> + Send;
}

/// Application Auto Scaling: an ECS service's scalable target.
pub trait ServiceScaling {
    /// The service's `SuspendedState`; `None` when it is not a scalable target.
    fn suspended(
        &self,
        cluster: &str,
        service: &str,
    ) -> impl Future<
        Output = Result<Option<crate::traffic::phases::scaling::SuspendedState>, ShiftError>,
    > + Send;
    /// Sets the service's `SuspendedState` (every field), leaving its capacities as they are.
    fn set_suspended(
        &self,
        cluster: &str,
        service: &str,
        state: crate::traffic::phases::scaling::SuspendedState,
    ) -> impl Future<Output = Result<(), ShiftError>> + Send;
}
