//! `notifier`: EventBridge CodePipeline events → one live Slack message per execution, and SNS.

use gantry_adapters::lambda::{init, start};
use gantry_core::config::NotifierConfig;
use lambda_runtime::{service_fn, Error, LambdaEvent};
use notifier::{build_live, Clients};
use serde_json::Value;

// One thread for events: Lambda hands an instance one event at a time, and the work between AWS
// calls is microseconds; a worker pool would only cost start-up time and memory
// (docs/performance.md#start-up-below-the-naive-floor).
// Start-up borrows one more, for the configuration and the clients while the secret is read.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    let notifier = &start(init(NotifierConfig::from_env, Clients::new, build_live)).await;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        notifier
            .handle_event(&event.payload, &event.context.request_id)
            .await
    }))
    .await
}
