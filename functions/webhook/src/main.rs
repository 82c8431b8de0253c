//! `webhook`: GitHub and GitLab push webhooks → CodePipeline executions pinned to the commit;
//! also the consumer of its own retry queue (SQS), where pushes CodePipeline could not start wait.

use gantry_adapters::lambda::{init, start};
use gantry_core::config::WebhookConfig;
use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::Value;
use webhook::{build_live, Clients};

// One thread for events: Lambda hands an instance one event at a time, and the work between AWS
// calls is microseconds; a worker pool would only cost start-up time and memory
// (docs/performance.md#start-up-below-the-naive-floor).
// Start-up borrows one more, for the configuration and the clients while the secret is read.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    let webhook = &start(init(WebhookConfig::from_env, Clients::new, build_live)).await;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        Ok::<_, Error>(
            webhook
                .handle_event(event.payload, &event.context.request_id)
                .await,
        )
    }))
    .await
}
