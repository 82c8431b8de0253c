//! `traffic-shifter`: ECS blue/green deployments behind an ALB, as a CodePipeline Lambda
//! invoke action.

use aws_lambda_events::event::codepipeline_job::CodePipelineJobEvent;
use gantry_adapters::lambda::{init, start};
use gantry_core::config::TrafficShifterConfig;
use lambda_runtime::{service_fn, Error, LambdaEvent};
use std::convert::Infallible;

// One thread: Lambda hands an instance one event at a time, and the work between AWS calls is
// microseconds; a worker pool would only cost start-up time and memory (issue 16).
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    // Building the shifter cannot fail: a missing Slack token only turns its progress off.
    let shifter = &start(init(
        TrafficShifterConfig::from_env,
        |config, secrets, sdk| Ok::<_, Infallible>(traffic_shifter::build(config, secrets, sdk)),
    ))
    .await;
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<CodePipelineJobEvent>| async move {
            traffic_shifter::handle(shifter, event).await
        },
    ))
    .await
}
