//! The approval Lambda: CodePipeline's approval events in, Slack requests out; Slack's button
//! clicks in, `PutApprovalResult` (or a deployment command) out. The flows are
//! `gantry_core::approval` (`request`, `click`, `close`, `deploy_controls`); this crate wires
//! them to AWS and Slack and translates the events (`source`).

mod source;

pub use source::{classify, http_response, Origin, Source};

use gantry_adapters::codepipeline::CodePipelineApprovals;
use gantry_adapters::dynamodb::{
    DynamoApprovals, DynamoDeployments, DynamoServiceIndex, StateTable,
};
use gantry_adapters::slack::{CachedDirectory, RetryPolicy, SlackClient, SlackHttps};
use gantry_core::approval::ApproverRules;
use gantry_core::approval::{ApprovalPorts, Approvals};
use gantry_core::clock::now_epoch_seconds;
use gantry_core::config::{ApprovalConfig, NotifyConfig};
use gantry_core::registry::{LiveRegistry, DEFAULT_MAX_AGE_SECONDS};
use gantry_core::secrets::{GantrySecrets, SecretsError};
use serde_json::Value;

/// The outside systems the approval flows speak to, in production.
pub struct Production;

impl ApprovalPorts for Production {
    type Store = DynamoApprovals;
    type Pipeline = CodePipelineApprovals;
    type Chat = SlackClient;
    type Directory = CachedDirectory;
    type Deployments = DynamoDeployments;
}

/// The approval flows on DynamoDB, CodePipeline and Slack.
pub type App = Approvals<Production>;

/// The clients the approval function needs, built from the SDK configuration alone, so that
/// `main` builds them while the secret is read.
pub struct Clients {
    dynamodb: aws_sdk_dynamodb::Client,
    codepipeline: aws_sdk_codepipeline::Client,
    slack: SlackHttps,
}

impl Clients {
    pub fn new(sdk: &aws_config::SdkConfig) -> Self {
        Self {
            dynamodb: aws_sdk_dynamodb::Client::new(sdk),
            codepipeline: aws_sdk_codepipeline::Client::new(sdk),
            slack: SlackHttps::new(),
        }
    }
}

/// Builds the function from its configuration, the secret and its clients.
pub fn build(
    config: ApprovalConfig,
    secrets: &GantrySecrets,
    clients: Clients,
) -> Result<App, SecretsError> {
    let token = secrets
        .require_slack_bot_token(&config.secrets_arn)?
        .clone();
    let signing_secret = secrets
        .require_slack_signing_secret(&config.secrets_arn)?
        .clone();
    if config.approvers.is_empty() {
        tracing::warn!("GANTRY_APPROVERS is not set: nobody can decide an approval from Slack");
    }
    let table = StateTable {
        client: clients.dynamodb,
        name: config.table,
    };
    let slack = SlackClient::over(
        clients.slack,
        &config.slack_api_url,
        token,
        RetryPolicy::default(),
    );
    let slack_now = slack.with_retry_policy(RetryPolicy::for_clicks());
    Ok(Approvals {
        approvers: config.approvers,
        people: config.people,
        channels: config.channels,
        signing_secret,
        pipeline: CodePipelineApprovals {
            client: clients.codepipeline,
        },
        records: DynamoApprovals::new(table.clone()),
        deployments: DynamoDeployments { table },
        directory: CachedDirectory::new(slack_now.clone()),
        slack_now,
        slack,
    })
}

/// Handles one invocation, whatever its source. An error makes Lambda retry the event.
pub async fn handle(app: &App, event: Value) -> Result<Value, lambda_runtime::Error> {
    let now = now_epoch_seconds();
    let source = match classify(event) {
        Ok(source) => source,
        // A retry cannot make an event of no known shape readable: log it, don't fail.
        Err(e) => {
            tracing::error!(error = %e, "event of no known shape ignored");
            return Ok(serde_json::json!({ "ignored": e.to_string() }));
        }
    };
    Ok(match source {
        Source::Http(request, origin) => {
            let reply = app.on_click(&request, now).await;
            http_response(origin, reply.status, &reply.body)
        }
        Source::EventBridge(event) => app.on_eventbridge(&event, now).await?,
        Source::Sns(messages) => app.on_sns(&messages, now).await?,
    })
}

/// The approval function as `main` runs it: approvers and channels kept in step with the service
/// registry (`GANTRY_APPROVERS` and `GANTRY_NOTIFY` merged with the documents).
pub struct LiveApp {
    /// Written only between events, when the registry changed.
    pub app: tokio::sync::RwLock<App>,
    pub registry: LiveRegistry<DynamoServiceIndex>,
    pub static_approvers: ApproverRules,
    pub static_channels: NotifyConfig,
}

/// Builds the function as `main` runs it: `build`, plus the service registry.
pub fn build_live(
    config: ApprovalConfig,
    secrets: &GantrySecrets,
    clients: Clients,
) -> Result<LiveApp, SecretsError> {
    let index = DynamoServiceIndex {
        table: StateTable {
            client: clients.dynamodb.clone(),
            name: config.table.clone(),
        },
    };
    Ok(LiveApp {
        registry: LiveRegistry::new(index, &config.services_path, DEFAULT_MAX_AGE_SECONDS),
        static_approvers: config.approvers.clone(),
        static_channels: config.channels.clone(),
        app: tokio::sync::RwLock::new(build(config, secrets, clients)?),
    })
}

impl LiveApp {
    /// `handle` with the approvers and channels as the registry has them now. When the registry
    /// was never read, a CodePipeline event fails (Lambda retries it); a click goes on with
    /// what is known (deny by default: a service not known yet has no approvers).
    pub async fn handle(&self, event: Value) -> Result<Value, lambda_runtime::Error> {
        match self.registry.current(now_epoch_seconds()).await {
            Ok(current) if current.changed => {
                let mut app = self.app.write().await;
                app.approvers =
                    gantry_core::registry::approvers(&self.static_approvers, &current.registry);
                app.channels =
                    gantry_core::registry::notify(&self.static_channels, &current.registry);
            }
            Ok(_) => {}
            Err(e) if source::is_http(&event) => {
                tracing::error!(error = %e, "the service registry is unreadable: its approvers are unknown");
            }
            Err(e) => return Err(e.into()),
        }
        handle(&*self.app.read().await, event).await
    }
}
