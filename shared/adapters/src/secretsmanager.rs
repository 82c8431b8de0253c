//! The secret (`GANTRY_SECRETS_ARN`) read from Secrets Manager; its keys are parsed by
//! `gantry_core::secrets`.

use gantry_core::secrets::{GantrySecrets, SecretsError};

/// What a function does first, with its one SDK configuration (`crate::sdk::load`): its secret
/// read while `build` makes, on a thread of its own, everything that needs only that
/// configuration (its AWS clients, its HTTPS client for Slack). That work is CPU and the read is a wait: done side by side, start-up
/// lasts as long as the longer of the two, not their sum (issue 16). In AWS, where the read
/// takes milliseconds of network, the clients cost no start-up time at all.
pub async fn read_while<T, F>(
    sdk: &aws_config::SdkConfig,
    secret_id: &str,
    build: F,
) -> Result<(GantrySecrets, T), StartError>
where
    T: Send + 'static,
    F: FnOnce(&aws_config::SdkConfig) -> T + Send + 'static,
{
    let client = aws_sdk_secretsmanager::Client::new(sdk);
    let own = sdk.clone();
    let building = tokio::task::spawn_blocking(move || build(&own));
    let secrets = fetch_secrets(&client, secret_id).await?;
    let built = building.await.map_err(|_| StartError::Build)?;
    Ok((secrets, built))
}

/// Why a function could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Secrets(#[from] SecretsError),
    /// The thread building the clients ended without them (it cannot fail but by a panic).
    #[error("building the AWS clients stopped before it finished")]
    Build,
}

/// Reads and parses the secret from Secrets Manager.
pub async fn fetch_secrets(
    client: &aws_sdk_secretsmanager::Client,
    secret_id: &str,
) -> Result<GantrySecrets, SecretsError> {
    let out = client
        .get_secret_value()
        .secret_id(secret_id)
        .send()
        .await
        .map_err(|e| SecretsError::Fetch {
            secret_id: secret_id.to_string(),
            reason: aws_sdk_secretsmanager::error::DisplayErrorContext(&e).to_string(),
        })?;
    let text = out.secret_string().ok_or_else(|| SecretsError::NotText {
        secret_id: secret_id.to_string(),
    })?;
    GantrySecrets::parse(secret_id, text)
}
