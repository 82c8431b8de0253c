//! `traffic-shifter`: ECS blue/green deployments behind an ALB, as a CodePipeline Lambda
//! invoke action.

use aws_lambda_events::event::codepipeline_job::CodePipelineJobEvent;
use gantry_core::config::{ProcessEnv, TrafficShifterConfig};
use lambda_runtime::{service_fn, Error, LambdaEvent};

// One thread: Lambda hands an instance one event at a time, and the work between AWS calls is
// microseconds; a worker pool would only cost start-up time and memory (issue 16).
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
    let config = TrafficShifterConfig::from_env(&ProcessEnv)?;
    let sdk = gantry_adapters::sdk::load().await;
    let wanted = config.clone();
    let (secrets, clients) =
        gantry_adapters::secretsmanager::read_while(&sdk, &config.secrets_arn, move |sdk| {
            traffic_shifter::Clients::new(sdk, &wanted)
        })
        .await?;
    Ok(traffic_shifter::build(config, &secrets, clients))
}
