//! `notifier`: EventBridge CodePipeline events → one live Slack message per execution, and SNS.

use gantry::config::{NotifierConfig, ProcessEnv};
use gantry::secrets::GantrySecrets;
use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    gantry::telemetry::init();
    let notifier = match init().await {
        Ok(n) => n,
        Err(e) => std::process::exit(gantry::runtime::report_init_error(&e).await),
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
    let sdk = gantry::aws::load().await;
    let secrets_client = aws_sdk_secretsmanager::Client::new(&sdk);
    let secrets = GantrySecrets::fetch(&secrets_client, &config.secrets_arn).await?;
    Ok(notifier::build(config, &secrets, &sdk)?)
}
