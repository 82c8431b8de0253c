//! The floor's work (one SDK configuration, one Secrets Manager read, then `{"hello": "world"}`)
//! with Gantry's SDK configuration (`gantry_adapters::sdk::load`) in place of `aws-config`'s
//! defaults: the same run measures the start-up work issue 16 removed, before (`bench-floor`) and
//! after (this).

use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::{json, Value};

#[tokio::main]
async fn main() -> Result<(), Error> {
    let secret_id = std::env::var("GANTRY_SECRETS_ARN")?;
    let sdk = gantry_adapters::sdk::load().await;
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
