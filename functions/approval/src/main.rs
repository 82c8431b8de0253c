//! `approval`: CodePipeline manual approvals as Slack messages with Approve and Reject buttons,
//! and the traffic shifter's Promote and Rollback buttons. One function, three event sources:
//! Slack's interactivity requests (Function URL), CodePipeline's action events (EventBridge)
//! and the approval action's notifications (SNS).

use gantry_core::config::{ApprovalConfig, ProcessEnv};
use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::Value;

// One thread for events: Lambda hands an instance one event at a time, and the work between AWS
// calls is microseconds; a worker pool would only cost start-up time and memory (issue 16).
// Start-up borrows one more, for the configuration and the clients while the secret is read.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    let app = &gantry_adapters::lambda::start(init()).await;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        approval::handle(app, event.payload).await
    }))
    .await
}

async fn init() -> Result<approval::App, Error> {
    let sdk = gantry_adapters::sdk::load().await;
    let (config, secrets, clients) = gantry_adapters::secretsmanager::configure(
        &sdk,
        ProcessEnv,
        ApprovalConfig::from_env,
        |sdk, _: &ApprovalConfig| approval::Clients::new(sdk),
    )
    .await?;
    Ok(approval::build(config, &secrets, clients)?)
}
