//! `webhook`: GitHub and GitLab push webhooks → CodePipeline executions pinned to the commit;
//! also the consumer of its own retry queue (SQS), where pushes CodePipeline could not start wait.

use gantry_core::config::{ProcessEnv, WebhookConfig};
use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::Value;

// One thread for events: Lambda hands an instance one event at a time, and the work between AWS
// calls is microseconds; a worker pool would only cost start-up time and memory (issue 16).
// Start-up borrows one more, for the configuration and the clients while the secret is read.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    let webhook = &gantry_adapters::lambda::start(init()).await;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        Ok::<_, Error>(
            webhook::handle_event(webhook, event.payload, &event.context.request_id).await,
        )
    }))
    .await
}

async fn init() -> Result<webhook::Webhook, Error> {
    let sdk = gantry_adapters::sdk::load().await;
    let (config, secrets, clients) = gantry_adapters::secretsmanager::configure(
        &sdk,
        ProcessEnv,
        WebhookConfig::from_env,
        webhook::Clients::new,
    )
    .await?;
    Ok(webhook::build(config, &secrets, clients)?)
}
