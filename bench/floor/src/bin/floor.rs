//! The floor for a function that reads its secret at init: a hello-world `lambda_runtime`
//! function that builds one `aws-config`, reads one Secrets Manager secret
//! (`GANTRY_SECRETS_ARN`), then answers every event with `{"hello": "world"}`.
//!
//! It does the init work every Gantry function must do and nothing else, so a function's cold
//! start over this one is what Gantry itself costs.

use aws_config::BehaviorVersion;
use gantry_bench_floor::read_the_secret_then_answer;
use lambda_runtime::Error;

#[tokio::main]
async fn main() -> Result<(), Error> {
    let sdk = aws_config::load_defaults(BehaviorVersion::latest()).await;
    read_the_secret_then_answer(sdk).await
}
