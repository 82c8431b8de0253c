//! The notifier Lambda's adapter: an EventBridge event in, `Ok` or "retry me" out. Every
//! decision lives in `gantry_core::notify`.

use gantry_adapters::codepipeline::CodePipelineDetails;
use gantry_adapters::dynamodb::{DynamoExecutions, StateTable};
use gantry_adapters::slack::{RetryPolicy, SlackClient, SlackHttps};
use gantry_adapters::sns::SnsTopic;
use gantry_core::config::NotifierConfig;
use gantry_core::notify::{Handled, Notifier as Core, NotifyError, NotifyPorts};
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
    /// Only when some pipeline posts to Slack.
    slack: Option<SlackHttps>,
}

impl Clients {
    pub fn new(sdk: &aws_config::SdkConfig, config: &NotifierConfig) -> Self {
        Self {
            dynamodb: aws_sdk_dynamodb::Client::new(sdk),
            codepipeline: aws_sdk_codepipeline::Client::new(sdk),
            sns: aws_sdk_sns::Client::new(sdk),
            slack: config.notify.uses_slack().then(SlackHttps::new),
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
    let chat = match clients.slack {
        Some(https) => {
            let token = secrets.require_slack_bot_token(&config.secrets_arn)?;
            Some(SlackClient::over(
                https,
                &config.slack_api_url,
                token.clone(),
                slack_policy(),
            ))
        }
        None => None,
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
pub async fn handle(
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
