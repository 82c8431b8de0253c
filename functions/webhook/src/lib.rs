//! The webhook Lambda's adapter: HTTP requests (Function URL, API Gateway HTTP or REST API) and
//! the retry queue's SQS batches in, answers out. Every decision lives in `gantry_core::ingest`.

use gantry_adapters::codepipeline::CodePipelineStarter;
use gantry_adapters::dynamodb::{DynamoDeliveries, DynamoServiceIndex, StateTable};
use gantry_adapters::lambda::http;
use gantry_adapters::sqs::{RetryQueueOption, SqsRetryQueue};
use gantry_core::clock::now_epoch_seconds;
use gantry_core::config::WebhookConfig;
use gantry_core::ingest::routing::RouteSpec;
use gantry_core::ingest::{Answer, Ingest, IngestPorts, QueuedMessage, StartRetryPolicy};
use gantry_core::registry::{LiveRegistry, View, DEFAULT_MAX_AGE_SECONDS};
use gantry_core::secrets::{GantrySecrets, SecretsError};
use lambda_http::{Body, Request, RequestExt, Response};
use serde_json::{json, Value};
use std::time::Duration;

/// The webhook, wired to AWS.
pub type Webhook = Ingest<Production>;

/// The outside systems the webhook speaks to, in production: CodePipeline, the state table,
/// the SQS retry queue.
pub struct Production;

impl IngestPorts for Production {
    type Starter = CodePipelineStarter;
    type Ledger = DynamoDeliveries;
    type Queue = RetryQueueOption;
}

/// The AWS clients the webhook needs: built from the SDK configuration alone, so that `main`
/// builds them while the secret is read.
pub struct Clients {
    codepipeline: aws_sdk_codepipeline::Client,
    dynamodb: aws_sdk_dynamodb::Client,
    queue: RetryQueueOption,
}

impl Clients {
    pub fn new(sdk: &aws_config::SdkConfig, config: &WebhookConfig) -> Self {
        // The core retries starts within GitHub's 10-second budget; the SDK's own retries (and
        // their back-off) would hide that budget, so each call is one bounded attempt.
        let codepipeline = aws_sdk_codepipeline::config::Builder::from(sdk)
            .retry_config(aws_config::retry::RetryConfig::disabled())
            .timeout_config(
                aws_config::timeout::TimeoutConfig::builder()
                    .operation_attempt_timeout(Duration::from_secs(2))
                    .build(),
            )
            .build();
        Self {
            codepipeline: aws_sdk_codepipeline::Client::from_conf(codepipeline),
            dynamodb: aws_sdk_dynamodb::Client::new(sdk),
            queue: match config.retry_queue_url.clone() {
                Some(url) => RetryQueueOption::Sqs(SqsRetryQueue {
                    client: aws_sdk_sqs::Client::new(sdk),
                    url,
                }),
                None => RetryQueueOption::None,
            },
        }
    }
}

/// Builds the webhook from its configuration, the secret and its clients.
pub fn build(
    config: WebhookConfig,
    secrets: &GantrySecrets,
    clients: Clients,
) -> Result<Webhook, SecretsError> {
    if secrets.github_webhook_secrets.is_empty() && secrets.gitlab_webhook_tokens.is_empty() {
        return Err(SecretsError::MissingKey {
            secret_id: config.secrets_arn,
            key: "github_webhook_secrets (or gitlab_webhook_tokens)",
        });
    }
    secrets.refuse_empty_values(&config.secrets_arn)?;
    Ok(Ingest {
        routes: config.routes,
        github_secrets: secrets.github_webhook_secrets.clone(),
        gitlab_tokens: secrets.gitlab_webhook_tokens.clone(),
        max_body_bytes: config.max_body_bytes,
        starter: CodePipelineStarter {
            client: clients.codepipeline,
        },
        ledger: DynamoDeliveries::new(StateTable {
            client: clients.dynamodb,
            name: config.table,
        }),
        queue: clients.queue,
        retry: StartRetryPolicy::default(),
    })
}

/// The webhook with its routes kept in step with the service registry: `GANTRY_ROUTES` merged
/// with the documents, rebuilt when the registry's index changes, read at most every
/// `max_age_seconds` (one `Query`; no AWS call for config otherwise).
pub struct LiveWebhook {
    /// Written only between events, when the registry changed (Lambda hands an instance one
    /// event at a time, so the lock is never contended).
    pub webhook: tokio::sync::RwLock<Webhook>,
    pub registry: LiveRegistry<DynamoServiceIndex>,
    pub static_routes: Vec<RouteSpec>,
}

/// Builds the webhook as `main` runs it: `build`, plus the service registry.
pub fn build_live(
    config: WebhookConfig,
    secrets: &GantrySecrets,
    clients: Clients,
) -> Result<LiveWebhook, SecretsError> {
    let index = DynamoServiceIndex {
        table: StateTable {
            client: clients.dynamodb.clone(),
            name: config.table.clone(),
        },
    };
    let registry = LiveRegistry::of_view(
        index,
        &config.services_path,
        DEFAULT_MAX_AGE_SECONDS,
        View::Routes,
    );
    let static_routes = config.static_routes.clone();
    Ok(LiveWebhook {
        webhook: tokio::sync::RwLock::new(build(config, secrets, clients)?),
        registry,
        static_routes,
    })
}

impl LiveWebhook {
    /// Brings the route table up to date with the registry. `Err`: the registry was never read.
    pub async fn refresh(&self) -> Result<(), gantry_core::registry::RegistryError> {
        let current = self.registry.current(now_epoch_seconds()).await?;
        if current.changed {
            match gantry_core::registry::routes(&self.static_routes, &current.registry) {
                Ok(table) => self.webhook.write().await.routes = table,
                Err(e) => tracing::error!(
                    error = e,
                    "the registry's routes do not compile: the previous routes serve on"
                ),
            }
        }
        Ok(())
    }

    /// `handle_event` with routes as the registry has them now. An HTTP push that arrives
    /// before the registry could ever be read is answered 503 (the provider's redelivery then
    /// routes it), never "no route".
    pub async fn handle_event(&self, event: Value, request_id: &str) -> Value {
        if let Err(e) = self.refresh().await {
            if !is_sqs_batch(&event) {
                tracing::error!(error = %e, "no route table: the service registry is unreadable");
                let origin = http::from_event(&event)
                    .map(|(_, origin)| origin)
                    .unwrap_or(http::Origin::PayloadV2);
                return http::response(
                    origin,
                    503,
                    &json!({ "error": "the service registry could not be read; retry later",
                             "request_id": request_id }),
                );
            }
        }
        handle_event(&*self.webhook.read().await, event, request_id).await
    }
}

/// Handles one HTTP request (Function URL, API Gateway HTTP or REST API).
pub async fn handle(webhook: &Webhook, request: Request) -> Response<Body> {
    let mut inbound = inbound(&request);
    if let Some(context) = request.lambda_context_ref() {
        inbound.request_id = context.request_id.clone();
    }
    respond(webhook.handle(&inbound, now_epoch_seconds()).await)
}

/// Handles any invocation: an SQS batch from the retry queue, else an HTTP request. Answers
/// with the partial-batch response for SQS, the proxy response for HTTP.
pub async fn handle_event(webhook: &Webhook, event: Value, request_id: &str) -> Value {
    if is_sqs_batch(&event) {
        return json!({ "batchItemFailures": start_parked_batch(webhook, &event).await });
    }
    match http::from_event(&event) {
        Ok((mut inbound, origin)) => {
            inbound.request_id = request_id.to_string();
            let answer = webhook.handle(&inbound, now_epoch_seconds()).await;
            http::response(origin, answer.status, &answer.body)
        }
        Err(_) => http::response(
            http::Origin::PayloadV2,
            400,
            &json!({ "error": "not an HTTP request event", "request_id": request_id }),
        ),
    }
}

fn is_sqs_batch(event: &Value) -> bool {
    event["Records"]
        .as_array()
        .is_some_and(|r| !r.is_empty() && r.iter().all(|r| r["eventSource"] == "aws:sqs"))
}

/// Starts each parked push; returns the messages to leave on the queue (`itemIdentifier`s).
pub async fn start_parked_batch(webhook: &Webhook, event: &Value) -> Vec<Value> {
    let records = event["Records"].as_array().into_iter().flatten();
    let messages = records.map(|r| QueuedMessage {
        id: r["messageId"].as_str().unwrap_or_default(),
        body: r["body"].as_str(),
    });
    let failures = webhook.start_parked_batch(messages).await;
    failures
        .into_iter()
        .map(|id| json!({ "itemIdentifier": id }))
        .collect()
}

pub use gantry_adapters::lambda::http::inbound;

/// The answer as an HTTP response with a JSON body.
pub fn respond(answer: Answer) -> Response<Body> {
    let mut response = Response::new(Body::Text(answer.body.to_string()));
    *response.status_mut() = lambda_http::http::StatusCode::from_u16(answer.status)
        .unwrap_or(lambda_http::http::StatusCode::BAD_GATEWAY);
    response.headers_mut().insert(
        lambda_http::http::header::CONTENT_TYPE,
        lambda_http::http::HeaderValue::from_static("application/json"),
    );
    response
}
