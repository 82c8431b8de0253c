//! The floor for a function that reads its secret at init: a hello-world `lambda_runtime`
//! function that builds one `aws-config`, reads one Secrets Manager secret
//! (`GANTRY_SECRETS_ARN`), then answers every event with `{"hello": "world"}`.
//!
//! It does the init work every Gantry function must do and nothing else, so a function's cold
//! start over this one is what Gantry itself costs.

use aws_config::BehaviorVersion;
use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::{json, Value};

#[tokio::main]
async fn main() -> Result<(), Error> {
    let secret_id = std::env::var("GANTRY_SECRETS_ARN")?;
    let sdk = aws_config::load_defaults(BehaviorVersion::latest()).await;
    let secret = aws_sdk_secretsmanager::Client::new(&sdk)
        .get_secret_value()
        .secret_id(secret_id)
        .send()
        .await?;
    let length = secret.secret_string().map_or(0, str::len);
    lambda_runtime::run(service_fn(move |_: LambdaEvent<Value>| async move {
        Ok::<_, Error>(json!({ "hello": "world", "secret_length": length }))
    }))
    .await
}
