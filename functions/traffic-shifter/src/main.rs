//! `traffic-shifter`: ECS blue/green deployments behind an ALB, as a CodePipeline Lambda
//! invoke action; EventBridge's schedule runs its sweep for orphaned deployments.

use gantry_adapters::lambda::{init, start};
use gantry_core::config::TrafficShifterConfig;
use lambda_runtime::{service_fn, Error, LambdaEvent};
use std::convert::Infallible;

// One thread for events: Lambda hands an instance one event at a time, and the work between AWS
// calls is microseconds; a worker pool would only cost start-up time and memory
// (docs/performance.md#start-up-below-the-naive-floor).
// Start-up borrows one more, for the configuration and the clients while the secret is read.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    // Building the shifter cannot fail: a missing Slack token only turns its progress off.
    let shifter = &start(init(
        TrafficShifterConfig::from_env,
        traffic_shifter::Clients::new,
        |config, secrets, clients| {
            Ok::<_, Infallible>(traffic_shifter::build_live(config, secrets, clients))
        },
    ))
    .await;
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<serde_json::Value>| async move { shifter.handle_any(event).await },
    ))
    .await
}
