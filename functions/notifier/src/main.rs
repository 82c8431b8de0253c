//! `notifier`: EventBridge CodePipeline events → one live Slack message per execution, and SNS.

use gantry_adapters::lambda::{init, start};
use gantry_core::config::NotifierConfig;
use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::Value;

// One thread: Lambda hands an instance one event at a time, and the work between AWS calls is
// microseconds; a worker pool would only cost start-up time and memory (issue 16).
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    let notifier = &start(init(NotifierConfig::from_env, notifier::build)).await;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        notifier::handle(notifier, &event.payload, &event.context.request_id)
            .await
            .map_err(Error::from)
    }))
    .await
}
