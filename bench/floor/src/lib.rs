//! The floors' one piece of work: read the secret (`GANTRY_SECRETS_ARN`) once at init, then answer
//! every event with `{"hello": "world"}`. The two floors differ only in the SDK configuration they
//! hand it (`aws-config`'s defaults, or Gantry's), which is what they are there to compare.

use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::{json, Value};

/// Reads the secret with `sdk`, then runs the Runtime API loop.
pub async fn read_the_secret_then_answer(sdk: aws_config::SdkConfig) -> Result<(), Error> {
    let secret_id = std::env::var("GANTRY_SECRETS_ARN")?;
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
