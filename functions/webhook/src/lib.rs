//! The webhook Lambda's HTTP adapter: `lambda_http::Request` in, `Response` out. Every decision
//! lives in `gantry_core::ingest`.

use gantry_adapters::codepipeline::CodePipelineStarter;
use gantry_adapters::dynamodb::{DynamoDeliveries, StateTable};
use gantry_core::clock::now_epoch_seconds;
use gantry_core::config::WebhookConfig;
use gantry_core::ingest::{Answer, Inbound, Ingest};
use gantry_core::secrets::{GantrySecrets, SecretsError};
use lambda_http::{Body, Request, Response};

/// The webhook, wired to AWS.
pub type Webhook = Ingest<CodePipelineStarter, DynamoDeliveries>;

/// Builds the webhook from its configuration, the secret and one SDK configuration.
pub fn build(
    config: WebhookConfig,
    secrets: &GantrySecrets,
    sdk: &aws_config::SdkConfig,
) -> Result<Webhook, SecretsError> {
    if secrets.github_webhook_secrets.is_empty() && secrets.gitlab_webhook_tokens.is_empty() {
        return Err(SecretsError::MissingKey {
            secret_id: config.secrets_arn,
            key: "github_webhook_secrets (or gitlab_webhook_tokens)",
        });
    }
    Ok(Ingest {
        routes: config.routes,
        github_secrets: secrets.github_webhook_secrets.clone(),
        gitlab_tokens: secrets.gitlab_webhook_tokens.clone(),
        max_body_bytes: config.max_body_bytes,
        starter: CodePipelineStarter {
            client: aws_sdk_codepipeline::Client::new(sdk),
        },
        ledger: DynamoDeliveries::new(StateTable {
            client: aws_sdk_dynamodb::Client::new(sdk),
            name: config.table,
        }),
    })
}

/// Handles one HTTP request (Function URL, API Gateway HTTP or REST API).
pub async fn handle(webhook: &Webhook, request: Request) -> Response<Body> {
    let inbound = inbound(&request);
    respond(webhook.handle(&inbound, now_epoch_seconds()).await)
}

/// The request as the core sees it. lambda_http has already decoded base64 bodies.
pub fn inbound(request: &Request) -> Inbound {
    let headers = request
        .headers()
        .iter()
        .filter_map(|(k, v)| v.to_str().ok().map(|v| (k.as_str(), v)));
    let body = match request.body() {
        Body::Empty => Vec::new(),
        Body::Text(t) => t.as_bytes().to_vec(),
        Body::Binary(b) => b.clone(),
        _ => Vec::new(),
    };
    Inbound::new(headers, body)
}

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
