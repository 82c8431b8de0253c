//! The traffic shifter's Lambda adapter: a `CodePipeline.job` event in, a job result out; and
//! EventBridge's `Scheduled Event`, which runs the sweep for orphaned deployments. Every decision
//! lives in `gantry_core::traffic`; `gantry_adapters` does the AWS work.

use aws_lambda_events::event::codepipeline_job::CodePipelineJobEvent;
use gantry_adapters::autoscaling::ServiceAutoScaling;
use gantry_adapters::cloudwatch::CloudWatchAlarms;
use gantry_adapters::codepipeline::CodePipelineJobs;
use gantry_adapters::dynamodb::{DynamoDeployments, DynamoServiceIndex, StateTable};
use gantry_adapters::ecs::EcsCluster;
use gantry_adapters::elb::AlbListener;
use gantry_adapters::lambda::hooks::LambdaHooks;
use gantry_adapters::s3::S3Artifacts;
use gantry_adapters::slack::{RetryPolicy, SlackClient, SlackHttps};
use gantry_adapters::sts::StsAccounts;
use gantry_core::clock::now_epoch_seconds;
use gantry_core::config::{NotifyConfig, TrafficShifterConfig};
use gantry_core::registry::{LiveRegistry, View, DEFAULT_MAX_AGE_SECONDS};
use gantry_core::secrets::GantrySecrets;
use gantry_core::traffic::{
    invocation_budget, Job, ShiftOutcome, Shifter, ShifterPorts, SlackProgress, DEFAULT_SLICE,
};
use lambda_runtime::{Error, LambdaEvent};
use serde_json::{json, Value};

/// The outside systems the traffic shifter speaks to, in production.
pub struct Production;

impl ShifterPorts for Production {
    type Cluster = EcsCluster;
    type Balancer = AlbListener;
    type Alarms = CloudWatchAlarms;
    type Jobs = CodePipelineJobs;
    type Artifacts = S3Artifacts;
    type Store = DynamoDeployments;
    type Chat = SlackClient;
    type Hooks = LambdaHooks;
    type Scaling = ServiceAutoScaling;
    type Accounts = StsAccounts;
}

/// The traffic shifter, wired to AWS.
pub type TrafficShifter = Shifter<Production>;

/// The shifter wired to AWS from the SDK configuration alone, so that `main` builds it while the
/// secret is read; Slack, which needs the secret's token, is attached by [`build`].
pub struct Clients {
    shifter: TrafficShifter,
    /// Only when `GANTRY_NOTIFY` is set.
    slack: Option<SlackHttps>,
}

impl Clients {
    pub fn new(sdk: &aws_config::SdkConfig, config: &TrafficShifterConfig) -> Self {
        let shifter = Shifter {
            cluster: EcsCluster {
                client: aws_sdk_ecs::Client::new(sdk),
            },
            balancer: AlbListener {
                client: aws_sdk_elasticloadbalancingv2::Client::new(sdk),
            },
            alarms: CloudWatchAlarms {
                client: aws_sdk_cloudwatch::Client::new(sdk),
            },
            jobs: CodePipelineJobs {
                client: aws_sdk_codepipeline::Client::new(sdk),
            },
            artifacts: S3Artifacts { sdk: sdk.clone() },
            store: DynamoDeployments {
                table: StateTable {
                    client: aws_sdk_dynamodb::Client::new(sdk),
                    name: config.table.clone(),
                },
            },
            slack: None,
            function_name: config.function_name.clone(),
            slice: DEFAULT_SLICE,
            orphan_after: std::time::Duration::from_secs(config.orphan_after_seconds.into()),
            analysis_settle_seconds: config.analysis_settle_seconds,
            hooks: LambdaHooks {
                client: aws_sdk_lambda::Client::new(sdk),
            },
            scaling: ServiceAutoScaling {
                client: aws_sdk_applicationautoscaling::Client::new(sdk),
            },
            accounts: StsAccounts::new(sdk),
        };
        let slack = config.notify.is_some().then(SlackHttps::new);
        Self { shifter, slack }
    }
}

/// Builds the shifter from its configuration, the secret and its clients. Slack progress is on
/// when `GANTRY_NOTIFY` is set and the secret has `slack_bot_token`.
pub fn build(
    config: TrafficShifterConfig,
    secrets: &GantrySecrets,
    clients: Clients,
) -> TrafficShifter {
    let Clients { mut shifter, slack } = clients;
    shifter.slack = match (&config.notify, &secrets.slack_bot_token, slack) {
        (Some(notify), Some(token), Some(https)) => Some(SlackProgress {
            client: SlackClient::over(
                https,
                &config.slack_api_url,
                token.clone(),
                RetryPolicy::default(),
            ),
            failures_only: notify.failures_only(),
        }),
        (Some(_), None, _) => {
            tracing::warn!(
                "GANTRY_NOTIFY is set but the secret has no slack_bot_token: no Slack progress"
            );
            None
        }
        _ => None,
    };
    shifter
}

/// The shifter as `main` runs it: each pipeline's Slack verbosity kept in step with the service
/// registry (`GANTRY_NOTIFY` merged with the documents' `notify`, as the notifier merges them),
/// read at most every `DEFAULT_MAX_AGE_SECONDS` (one `Query`; no AWS call for config otherwise).
pub struct LiveShifter {
    /// Written only between events, when the registry changed (Lambda hands an instance one
    /// event at a time, so the lock is never contended).
    pub shifter: tokio::sync::RwLock<TrafficShifter>,
    pub registry: LiveRegistry<DynamoServiceIndex>,
    pub static_notify: NotifyConfig,
}

/// Builds the shifter as `main` runs it: `build`, plus the service registry.
pub fn build_live(
    config: TrafficShifterConfig,
    secrets: &GantrySecrets,
    clients: Clients,
) -> LiveShifter {
    let index = DynamoServiceIndex {
        table: clients.shifter.store.table.clone(),
    };
    let registry = LiveRegistry::of_view(
        index,
        &config.services_path,
        DEFAULT_MAX_AGE_SECONDS,
        View::Notify,
    );
    let static_notify = config.notify.clone().unwrap_or_default();
    LiveShifter {
        shifter: tokio::sync::RwLock::new(build(config, secrets, clients)),
        registry,
        static_notify,
    }
}

impl LiveShifter {
    /// `handle_any`, with the verbosity the registry gives now.
    pub async fn handle_any(&self, event: LambdaEvent<Value>) -> Result<Value, Error> {
        self.refresh().await;
        handle_any(&*self.shifter.read().await, event).await
    }

    /// Only Slack's verbosity comes from the registry: without Slack progress there is nothing
    /// to read. A registry that cannot be read never stops a deployment; its posts keep the
    /// verbosity of the last read (or `GANTRY_NOTIFY`'s).
    async fn refresh(&self) {
        if self.shifter.read().await.slack.is_none() {
            return;
        }
        match self.registry.current(now_epoch_seconds()).await {
            Ok(current) if current.changed => {
                let merged = gantry_core::registry::notify(&self.static_notify, &current.registry);
                if let Some(slack) = self.shifter.write().await.slack.as_mut() {
                    slack.failures_only = merged.failures_only();
                }
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(
                error = %e,
                "Slack progress keeps the verbosity it had: the service registry could not be read"
            ),
        }
    }
}

/// Handles one `CodePipeline.job` event. `Err` only when CodePipeline could not be given the
/// job's result: Lambda then retries the event, and the retry carries on from the real state.
pub async fn handle<P: ShifterPorts>(
    shifter: &Shifter<P>,
    event: LambdaEvent<CodePipelineJobEvent>,
) -> Result<Value, Error> {
    let Some(job) = Job::from_event(&event.payload) else {
        tracing::error!("CodePipeline.job event without a job id: nothing to report to");
        return Ok(json!({"outcome": "ignored", "message": "no job id"}));
    };
    let now = gantry_core::clock::now_epoch_millis().max(0) as u64;
    // On the heap: the deployment's state machine is large, the runtime's thread stack is not.
    let outcome =
        Box::pin(shifter.run(&job, invocation_budget(event.context.deadline, now))).await?;
    tracing::info!(job = %job.id, outcome = ?outcome, "job done");
    Ok(match outcome {
        ShiftOutcome::Continued { .. } => json!({"outcome": "continued"}),
        ShiftOutcome::Succeeded { message } => json!({"outcome": "succeeded", "message": message}),
        ShiftOutcome::Failed { message } => json!({"outcome": "failed", "message": message}),
        ShiftOutcome::AlreadyFinished => json!({"outcome": "already_finished"}),
        ShiftOutcome::Forged { message } => json!({"outcome": "refused", "message": message}),
    })
}

/// Whether `event` is EventBridge's `Scheduled Event` (the sweep's schedule), rather than a
/// `CodePipeline.job` event. Anyone who may invoke the function can send one: a sweep only
/// rolls back what it judges orphaned itself, so an extra one is harmless.
pub fn is_scheduled(event: &Value) -> bool {
    event.get("source").and_then(Value::as_str) == Some("aws.events")
        && event.get("detail-type").and_then(Value::as_str) == Some("Scheduled Event")
}

/// Handles whatever the function is invoked with: the sweep's schedule, or a job event.
pub async fn handle_any<P: ShifterPorts>(
    shifter: &Shifter<P>,
    event: LambdaEvent<Value>,
) -> Result<Value, Error> {
    let (payload, context) = event.into_parts();
    if is_scheduled(&payload) {
        return sweep(shifter, context).await;
    }
    let job: CodePipelineJobEvent = serde_json::from_value(payload)?;
    handle(shifter, LambdaEvent::new(job, context)).await
}

/// One sweep for orphaned deployments. `Err` only when the index of open deployments cannot
/// be read (the next scheduled sweep tries again).
pub async fn sweep<P: ShifterPorts>(
    shifter: &Shifter<P>,
    context: lambda_runtime::Context,
) -> Result<Value, Error> {
    let now = gantry_core::clock::now_epoch_millis().max(0) as u64;
    let done = Box::pin(shifter.sweep(invocation_budget(context.deadline, now))).await?;
    let ids = |v: &[(String, String)]| v.iter().map(|(id, _)| id.clone()).collect::<Vec<_>>();
    Ok(json!({
        "outcome": "swept",
        "rolled_back": ids(&done.rolled_back),
        "left": done.left,
        "forgotten": done.forgotten,
        "failed": ids(&done.failed),
    }))
}
