//! `approval`: CodePipeline manual approvals as Slack messages with Approve and Reject buttons,
//! and the traffic shifter's Promote and Rollback buttons. One function, three event sources:
//! Slack's interactivity requests (Function URL), CodePipeline's action events (EventBridge)
//! and the approval action's notifications (SNS).

use gantry_adapters::lambda::{init, start};
use gantry_core::config::ApprovalConfig;
use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::Value;

// One thread for events: Lambda hands an instance one event at a time, and the work between AWS
// calls is microseconds; a worker pool would only cost start-up time and memory
// (docs/performance.md#start-up-below-the-naive-floor).
// Start-up borrows one more, for the configuration and the clients while the secret is read.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    let app = &start(init(
        ApprovalConfig::from_env,
        |sdk, _: &ApprovalConfig| approval::Clients::new(sdk),
        approval::build_live,
    ))
    .await;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        app.handle(event.payload).await
    }))
    .await
}
