//! `notifier`: EventBridge CodePipeline events → one live Slack message per execution, and SNS.

use gantry_core::config::{NotifierConfig, ProcessEnv};
use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::Value;

// One thread: Lambda hands an instance one event at a time, and the work between AWS calls is
// microseconds; a worker pool would only cost start-up time and memory (issue 16).
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    gantry_adapters::lambda::telemetry::init();
    let notifier = match init().await {
        Ok(n) => n,
        Err(e) => std::process::exit(gantry_adapters::lambda::report_init_error(&e).await),
    };
    let notifier = &notifier;
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
    let secrets_client = aws_sdk_secretsmanager::Client::new(&sdk);
    let secrets =
        gantry_adapters::secretsmanager::fetch_secrets(&secrets_client, &config.secrets_arn)
            .await?;
    Ok(notifier::build(config, &secrets, &sdk)?)
}
