//! `traffic-shifter`: ECS blue/green deployments behind an ALB, as a CodePipeline Lambda
//! invoke action.

use aws_lambda_events::event::codepipeline_job::CodePipelineJobEvent;
use gantry_core::config::{ProcessEnv, TrafficShifterConfig};
use lambda_runtime::{service_fn, Error, LambdaEvent};

// One thread for events: Lambda hands an instance one event at a time, and the work between AWS
// calls is microseconds; a worker pool would only cost start-up time and memory (issue 16).
// Start-up borrows one more, for the configuration and the clients while the secret is read.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    let shifter = &gantry_adapters::lambda::start(init()).await;
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<CodePipelineJobEvent>| async move {
            traffic_shifter::handle(shifter, event).await
        },
    ))
    .await
}

async fn init() -> Result<traffic_shifter::TrafficShifter, Error> {
    let sdk = gantry_adapters::sdk::load().await;
    let (config, secrets, clients) = gantry_adapters::secretsmanager::configure(
        &sdk,
        ProcessEnv,
        TrafficShifterConfig::from_env,
        traffic_shifter::Clients::new,
    )
    .await?;
    Ok(traffic_shifter::build(config, &secrets, clients))
}
