//! The secret (`GANTRY_SECRETS_ARN`) read from Secrets Manager; its keys are parsed by
//! `gantry_core::secrets`.

use gantry_core::secrets::{GantrySecrets, SecretsError};

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
