//! The approval Lambda: CodePipeline's approval events in, Slack requests out; Slack's button
//! clicks in, `PutApprovalResult` (or a deployment command) out; and the `/gantry` slash
//! command, at the same URL. The flows are `gantry_core::approval` (`request`, `click`,
//! `close`, `deploy_controls`) and `gantry_core::operate`; this crate wires them to AWS and
//! Slack and translates the events (`source`).

mod source;

pub use source::{classify, http_response, Origin, Source};

use gantry_adapters::codepipeline::{
    CodePipelineApprovals, CodePipelineRollbacks, CodePipelineStarter,
};
use gantry_adapters::dynamodb::{
    DynamoApprovals, DynamoConfirmations, DynamoDeliveries, DynamoDeliveryFacts, DynamoDeployments,
    DynamoServiceIndex, DynamoStatusBoard, StateTable,
};
use gantry_adapters::elb::AlbListener;
use gantry_adapters::lambda::later::LambdaLater;
use gantry_adapters::restarts::AwsRestarts;
use gantry_adapters::slack::{CachedDirectory, RetryPolicy, SlackClient, SlackHttps};
use gantry_core::approval::ApproverRules;
use gantry_core::approval::{ApprovalPorts, Approvals};
use gantry_core::clock::now_epoch_seconds;
use gantry_core::config::{ApprovalConfig, NotifyConfig};
use gantry_core::operate::{is_slash_command, OperatePorts, Operations, StaticServices};
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

/// The outside systems the slash command speaks to, in production. `Services` is the static
/// configuration (`GANTRY_APPROVERS`, operators = approvers) until the service registry binds it.
pub struct OperateProduction;

impl OperatePorts for OperateProduction {
    type Services = StaticServices;
    type Board = DynamoStatusBoard;
    type Later = LambdaLater;
    type Starter = CodePipelineStarter;
    type Started = DynamoDeliveries;
    type Chat = SlackClient;
    type Directory = CachedDirectory;
    type Confirmations = DynamoConfirmations;
    type Rollbacks = CodePipelineRollbacks;
    type Restarts = AwsRestarts;
    type Delivery = DynamoDeliveryFacts;
}

/// The function: the approval flows and the slash command, on DynamoDB, CodePipeline, Lambda
/// and Slack. Derefs to the approval flows.
pub struct App {
    pub approvals: Approvals<Production>,
    pub operations: Operations<OperateProduction>,
}

impl std::ops::Deref for App {
    type Target = Approvals<Production>;
    fn deref(&self) -> &Self::Target {
        &self.approvals
    }
}

impl std::ops::DerefMut for App {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.approvals
    }
}

/// The clients the approval function needs, built from the SDK configuration alone, so that
/// `main` builds them while the secret is read.
pub struct Clients {
    dynamodb: aws_sdk_dynamodb::Client,
    codepipeline: aws_sdk_codepipeline::Client,
    lambda: aws_sdk_lambda::Client,
    ecs: aws_sdk_ecs::Client,
    elb: aws_sdk_elasticloadbalancingv2::Client,
    slack: SlackHttps,
}

impl Clients {
    pub fn new(sdk: &aws_config::SdkConfig) -> Self {
        Self {
            dynamodb: aws_sdk_dynamodb::Client::new(sdk),
            codepipeline: aws_sdk_codepipeline::Client::new(sdk),
            lambda: aws_sdk_lambda::Client::new(sdk),
            ecs: aws_sdk_ecs::Client::new(sdk),
            elb: aws_sdk_elasticloadbalancingv2::Client::new(sdk),
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
    let operations = Operations {
        services: StaticServices::from_approvers(&config.approvers),
        channels: config.channels.clone(),
        signing_secret: signing_secret.clone(),
        board: DynamoStatusBoard {
            table: table.clone(),
        },
        later: LambdaLater {
            client: clients.lambda,
            function: config.function_name.clone().unwrap_or_default(),
        },
        starter: CodePipelineStarter {
            client: clients.codepipeline.clone(),
        },
        started: DynamoDeliveries::new(table.clone()),
        slack: slack.clone(),
        directory: CachedDirectory::new(slack_now.clone()),
        confirmations: DynamoConfirmations {
            table: table.clone(),
        },
        rollbacks: CodePipelineRollbacks {
            client: clients.codepipeline.clone(),
        },
        restarts: AwsRestarts {
            codepipeline: clients.codepipeline.clone(),
            ecs: clients.ecs,
            listener: AlbListener {
                client: clients.elb,
            },
            deployments: DynamoDeployments {
                table: table.clone(),
            },
        },
        delivery: DynamoDeliveryFacts::new(table.clone()),
        restart_poll: gantry_core::operate::flow::RESTART_POLL,
    };
    let approvals = Approvals {
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
    };
    Ok(App {
        approvals,
        operations,
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
        // A slash command and a click come to the same URL: `command=` tells them apart.
        Source::Http(request, origin) if is_slash_command(&request.body) => {
            let reply = app.operations.on_command(&request, now).await;
            http_response(origin, reply.status, &reply.body)
        }
        Source::Http(request, origin)
            if Operations::<OperateProduction>::is_confirm_click(&request.body) =>
        {
            let reply = app.operations.on_confirm(&request, now).await;
            http_response(origin, reply.status, &reply.body)
        }
        Source::Http(request, origin)
            if Operations::<OperateProduction>::is_roll_back_to_click(&request.body) =>
        {
            let reply = app.operations.on_roll_back_to(&request, now).await;
            http_response(origin, reply.status, &reply.body)
        }
        Source::Http(request, origin) => {
            let reply = app.on_click(&request, now).await;
            http_response(origin, reply.status, &reply.body)
        }
        Source::Operation(task) => app.operations.run(&task, now).await?,
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
                // The slash command's services and operators, from the same registry read.
                app.operations.services =
                    StaticServices::from_registry(&app.approvals.approvers, &current.registry);
                app.operations.channels = app.channels.clone();
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
