//! The notifier Lambda's adapter: an EventBridge event in, `Ok` or "retry me" out. Every
//! decision lives in `gantry_core::notify`.

use gantry_adapters::codepipeline::CodePipelineDetails;
use gantry_adapters::dynamodb::{
    DynamoDeliveryFacts, DynamoExecutions, DynamoServiceIndex, StateTable,
};
use gantry_adapters::slack::{RetryPolicy, SlackClient, SlackHttps};
use gantry_adapters::sns::SnsTopic;
use gantry_adapters::ssm::SsmParameters;
use gantry_core::clock::{now_epoch_millis, now_epoch_seconds};
use gantry_core::config::{NotifierConfig, NotifyConfig};
use gantry_core::delivery::{weekly_post, WeeklyError, WeeklyTick};
use gantry_core::notify::{Handled, Notifier as Core, NotifyError, NotifyPorts};
use gantry_core::registry::{
    change_of, reconcile, sync_change, LiveRegistry, SyncReport, View, DEFAULT_MAX_AGE_SECONDS,
    INVALID_DOCUMENTS_METRIC, RECONCILE_AGAIN_AFTER_SECONDS,
};
use gantry_core::secrets::{GantrySecrets, SecretsError};
use serde_json::{json, Value};
use std::time::Duration;

/// The notifier, wired to AWS and Slack.
pub type Notifier = Core<Production>;

/// The outside systems the notifier speaks to, in production.
pub struct Production;

impl NotifyPorts for Production {
    type Store = DynamoExecutions;
    type Details = CodePipelineDetails;
    type Chat = SlackClient;
    type Topic = SnsTopic;
}

/// Slack's retry rules within one invocation: short enough that an outage ends the invocation
/// (and Lambda retries it later) well before its timeout.
pub fn slack_policy() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 4,
        first_backoff: Duration::from_millis(250),
        max_retry_after: Duration::from_secs(15),
        request_timeout: Duration::from_secs(5),
    }
}

/// The clients the notifier needs, built from the SDK configuration alone, so that `main` builds
/// them while the secret is read.
pub struct Clients {
    dynamodb: aws_sdk_dynamodb::Client,
    codepipeline: aws_sdk_codepipeline::Client,
    sns: aws_sdk_sns::Client,
    ssm: aws_sdk_ssm::Client,
    /// Only when some pipeline posts to Slack.
    slack: Option<SlackHttps>,
}

impl Clients {
    pub fn new(sdk: &aws_config::SdkConfig, _config: &NotifierConfig) -> Self {
        Self {
            dynamodb: aws_sdk_dynamodb::Client::new(sdk),
            codepipeline: aws_sdk_codepipeline::Client::new(sdk),
            sns: aws_sdk_sns::Client::new(sdk),
            ssm: aws_sdk_ssm::Client::new(sdk),
            // Always: a service document may name a channel at any time (the bot token is
            // still required only when GANTRY_NOTIFY names one).
            slack: Some(SlackHttps::new()),
        }
    }
}

/// Builds the notifier from its configuration, the secret and its clients. The bot token is
/// required only when some pipeline posts to Slack.
pub fn build(
    config: NotifierConfig,
    secrets: &GantrySecrets,
    clients: Clients,
) -> Result<Notifier, SecretsError> {
    let token = if config.notify.uses_slack() {
        Some(secrets.require_slack_bot_token(&config.secrets_arn)?)
    } else {
        secrets.slack_bot_token.as_ref()
    };
    let chat = match (clients.slack, token) {
        (Some(https), Some(token)) => Some(SlackClient::over(
            https,
            &config.slack_api_url,
            token.clone(),
            slack_policy(),
        )),
        _ => None,
    };
    Ok(Core::new(
        config.notify,
        DynamoExecutions::new(StateTable {
            client: clients.dynamodb,
            name: config.table,
        }),
        CodePipelineDetails {
            client: clients.codepipeline,
        },
        chat,
        SnsTopic {
            client: clients.sns,
            arn: config.topic_arn,
        },
    ))
}

/// Handles one event. `request_id` (Lambda's) names this invocation in the record's leases.
/// Skipped events are answered, not failed, so Lambda does not retry what cannot succeed.
/// The delivery figures the event makes due are written to stdout, one EMF line each
/// (CloudWatch Logs turns them into metrics).
pub async fn handle(
    notifier: &Notifier,
    event: &Value,
    request_id: &str,
) -> Result<Value, NotifyError> {
    let (answer, figures) = handle_and_measure(notifier, event, request_id).await?;
    for line in figures {
        println!("{line}");
    }
    Ok(answer)
}

/// `handle`, returning the EMF lines instead of writing them. Figures come after the
/// notifications, so a metrics failure (retried by Lambda) never delays Slack; a retry sends no
/// notification twice and emits no figure twice.
pub async fn handle_and_measure(
    notifier: &Notifier,
    event: &Value,
    request_id: &str,
) -> Result<(Value, Vec<String>), NotifyError> {
    let facts = DynamoDeliveryFacts::new(notifier.store.table.clone());
    // EventBridge's schedule (the weekly post) has a shape of its own: no CodePipeline event is
    // a `Scheduled Event` from `aws.events`.
    if let Some(tick) = WeeklyTick::parse(event) {
        return Ok((weekly(notifier, &facts, &tick).await?, Vec::new()));
    }
    let answer = notify(notifier, event, request_id).await?;
    let now_ms = gantry_core::clock::now_epoch_millis();
    let figures = gantry_core::delivery::measure(&notifier.store, &facts, event, now_ms).await?;
    Ok((answer, figures))
}

/// The weekly post to each configured pipeline's channel (docs/metrics.md).
async fn weekly(
    notifier: &Notifier,
    facts: &DynamoDeliveryFacts,
    tick: &WeeklyTick,
) -> Result<Value, NotifyError> {
    let Some(chat) = notifier.chat.as_ref() else {
        return Ok(json!({ "skipped": "no pipeline posts to Slack" }));
    };
    let posted = weekly_post(facts, chat, &notifier.notify, tick)
        .await
        .map_err(|e| match e {
            WeeklyError::Store(e) => NotifyError::State(e),
            WeeklyError::Slack(e) => NotifyError::Slack(e),
        })?;
    let posted: serde_json::Map<String, Value> = posted
        .into_iter()
        .map(|(pipeline, outcome)| (pipeline, json!(format!("{outcome:?}"))))
        .collect();
    Ok(json!({ "weekly": tick.week(), "pipelines": posted }))
}

async fn notify(
    notifier: &Notifier,
    event: &Value,
    request_id: &str,
) -> Result<Value, NotifyError> {
    Ok(match notifier.handle(event, request_id).await? {
        Handled::Skipped(reason) => json!({ "skipped": reason.to_string() }),
        Handled::Notified {
            changed,
            slack,
            sns,
        } => json!({
            "changed": changed,
            "slack": format!("{slack:?}"),
            "sns": format!("{sns:?}"),
        }),
    })
}

/// The notifier as `main` runs it: its channels kept in step with the service registry, and the
/// keeper of the registry's index (Parameter Store change events, and a reconcile twice a minute
/// on EventBridge's one-minute schedule).
pub struct LiveNotifier {
    /// Written only between events, when the registry changed.
    pub notifier: tokio::sync::RwLock<Notifier>,
    pub registry: LiveRegistry<DynamoServiceIndex>,
    pub index: DynamoServiceIndex,
    pub parameters: SsmParameters,
    pub services_path: String,
    pub static_notify: NotifyConfig,
    /// The schedule's invocation reconciles again this long after its first pass started
    /// (`RECONCILE_AGAIN_AFTER_SECONDS`; a test shortens it).
    pub reconcile_again_after: Duration,
}

/// Builds the notifier as `main` runs it: `build`, plus the service registry.
pub fn build_live(
    config: NotifierConfig,
    secrets: &GantrySecrets,
    clients: Clients,
) -> Result<LiveNotifier, SecretsError> {
    let index = DynamoServiceIndex {
        table: StateTable {
            client: clients.dynamodb.clone(),
            name: config.table.clone(),
        },
    };
    let parameters = SsmParameters {
        client: clients.ssm.clone(),
    };
    let services_path = config.services_path.clone();
    let static_notify = config.notify.clone();
    Ok(LiveNotifier {
        registry: LiveRegistry::of_view(
            index.clone(),
            &services_path,
            DEFAULT_MAX_AGE_SECONDS,
            View::Notify,
        ),
        index,
        parameters,
        services_path,
        static_notify,
        reconcile_again_after: Duration::from_secs(RECONCILE_AGAIN_AFTER_SECONDS),
        notifier: tokio::sync::RwLock::new(build(config, secrets, clients)?),
    })
}

/// An error that asks Lambda to retry the event.
pub type RetryError = Box<dyn std::error::Error + Send + Sync>;

impl LiveNotifier {
    /// Handles one event: a registry change, the schedule's reconcile, or a CodePipeline event
    /// (with the channels as the registry has them now).
    pub async fn handle_event(&self, event: &Value, request_id: &str) -> Result<Value, RetryError> {
        if let Some(change) = change_of(event, &self.services_path) {
            let report = sync_change(&change, &self.parameters, &self.index).await?;
            return Ok(reported(&report));
        }
        // Two schedules reach the notifier: the weekly post's rule (handled with the events
        // below) and the registry's reconcile (every other Scheduled Event).
        let weekly = WeeklyTick::parse(event).is_some();
        if !weekly && event["source"] == "aws.events" && event["detail-type"] == "Scheduled Event" {
            // Twice, 30 s apart: EventBridge schedules once a minute at best, and a lost change
            // event must be live within a minute (`RECONCILE_AGAIN_AFTER_SECONDS`).
            let started = tokio::time::Instant::now();
            let mut report = reconcile(&self.services_path, &self.parameters, &self.index).await?;
            tokio::time::sleep_until(started + self.reconcile_again_after).await;
            let again = reconcile(&self.services_path, &self.parameters, &self.index).await?;
            report.written.extend(again.written);
            report.removed.extend(again.removed);
            report.views.extend(again.views);
            // What is invalid now, counted once an invocation (the alarm's metric).
            report.invalid = again.invalid;
            return Ok(reported(&report));
        }
        let current = self.registry.current(now_epoch_seconds()).await?;
        if current.changed {
            self.notifier.write().await.notify =
                gantry_core::registry::notify(&self.static_notify, &current.registry);
        }
        Ok(handle(&*self.notifier.read().await, event, request_id).await?)
    }
}

/// The sync's outcome as the invocation's answer, and the invalid documents counted as an
/// embedded metric (CloudWatch's EMF: a JSON line on stdout, which Lambda's log stream carries
/// to CloudWatch as the metric `Gantry/InvalidServiceDocuments`, for the alarm).
fn reported(report: &SyncReport) -> Value {
    let emf = json!({
        "_aws": {"Timestamp": now_epoch_millis(), "CloudWatchMetrics": [{
            "Namespace": "Gantry", "Dimensions": [[]],
            "Metrics": [{"Name": INVALID_DOCUMENTS_METRIC, "Unit": "Count"}]}]},
        INVALID_DOCUMENTS_METRIC: report.invalid.len(),
    });
    println!("{emf}");
    json!({
        "registry": {
            "written": report.written,
            "removed": report.removed,
            "invalid": report.invalid.iter().map(|e| e.to_string()).collect::<Vec<_>>(),
            "views": report.views,
        }
    })
}
