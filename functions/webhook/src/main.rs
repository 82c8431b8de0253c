//! `webhook`: GitHub and GitLab push webhooks → CodePipeline executions pinned to the commit;
//! also the consumer of its own retry queue (SQS), where pushes CodePipeline could not start wait.

use gantry_core::config::{ProcessEnv, WebhookConfig};
use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::Value;

// One thread: Lambda hands an instance one event at a time, and the work between AWS calls is
// microseconds; a worker pool would only cost start-up time and memory (issue 16).
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    gantry_adapters::lambda::telemetry::init();
    let webhook = match init().await {
        Ok(w) => w,
        Err(e) => std::process::exit(gantry_adapters::lambda::report_init_error(&e).await),
    };
    let webhook = &webhook;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        Ok::<_, Error>(
            webhook::handle_event(webhook, event.payload, &event.context.request_id).await,
        )
    }))
    .await
}

async fn init() -> Result<webhook::Webhook, Error> {
    let config = WebhookConfig::from_env(&ProcessEnv)?;
    let sdk = gantry_adapters::sdk::load().await;
    let secrets_client = aws_sdk_secretsmanager::Client::new(&sdk);
    let secrets =
        gantry_adapters::secretsmanager::fetch_secrets(&secrets_client, &config.secrets_arn)
            .await?;
    Ok(webhook::build(config, &secrets, &sdk)?)
}
