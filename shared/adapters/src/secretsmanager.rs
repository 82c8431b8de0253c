//! The secret (`GANTRY_SECRETS_ARN`) read from Secrets Manager; its keys are parsed by
//! `gantry_core::secrets`.

use gantry_core::config::{required, ConfigError, Env, Var};
use gantry_core::secrets::{GantrySecrets, SecretsError};

/// What a function does first, with its one SDK configuration (`crate::sdk::load`): its secret
/// (`GANTRY_SECRETS_ARN`) read while, on a thread of its own, its configuration is read from `env`
/// (`config`: parsing, globs compiled) and `clients` builds what needs only the SDK configuration
/// (its AWS clients, its HTTPS client for Slack). That work is CPU and the read is a wait: side by
/// side, start-up lasts as long as the longer of the two, not their sum (issue 16); in AWS, where
/// the read takes milliseconds of network, the rest costs no start-up time at all.
///
/// A configuration error is reported before a secret that could not be read: it is the one to fix
/// first, and it needs no AWS call to be seen.
pub async fn configure<E, C, K>(
    sdk: &aws_config::SdkConfig,
    env: E,
    config: impl FnOnce(&E) -> Result<C, ConfigError> + Send + 'static,
    clients: impl FnOnce(&aws_config::SdkConfig, &C) -> K + Send + 'static,
) -> Result<(C, GantrySecrets, K), StartError>
where
    E: Env + Send + 'static,
    C: Send + 'static,
    K: Send + 'static,
{
    let secret_id = required(&env, Var::SecretsArn)?;
    let own = sdk.clone();
    let building = tokio::task::spawn_blocking(move || {
        let config = config(&env)?;
        let clients = clients(&own, &config);
        Ok::<_, ConfigError>((config, clients))
    });
    let secrets = fetch_secrets(&aws_sdk_secretsmanager::Client::new(sdk), &secret_id).await;
    let (config, clients) = building.await.map_err(|_| StartError::Build)??;
    Ok((config, secrets?, clients))
}

/// Why a function could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Secrets(#[from] SecretsError),
    /// The thread reading the configuration ended without it (it cannot fail but by a panic).
    #[error("reading the configuration stopped before it finished")]
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
