//! `notifier`: EventBridge CodePipeline events → one live Slack message per execution, and SNS.

use gantry_core::config::{NotifierConfig, ProcessEnv};
use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::Value;

// One thread: Lambda hands an instance one event at a time, and the work between AWS calls is
// microseconds; a worker pool would only cost start-up time and memory (issue 16).
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    let notifier = &gantry_adapters::lambda::start(init()).await;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        notifier::handle(notifier, &event.payload, &event.context.request_id)
            .await
            .map_err(Error::from)
    }))
    .await
}

async fn init() -> Result<notifier::Notifier, Error> {
    let config = NotifierConfig::from_env(&ProcessEnv)?;
    let sdk = gantry_adapters::sdk::load().await;
    let wanted = config.clone();
    let (secrets, clients) =
        gantry_adapters::secretsmanager::read_while(&sdk, &config.secrets_arn, move |sdk| {
            notifier::Clients::new(sdk, &wanted)
        })
        .await?;
    Ok(notifier::build(config, &secrets, clients)?)
}
