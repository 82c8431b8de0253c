//! The Gantry secret: one Secrets Manager secret holding a JSON object, read once per cold start.
//!
//! Secret values never reach a log line or an error message: `SecretString` redacts itself, and
//! parse errors report where the JSON is wrong, never what it says.

use serde::Deserialize;
use std::fmt;

/// A secret value. `Debug` and `Display` print `[redacted]`.
#[derive(Clone, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct SecretString(String);

impl SecretString {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The value itself, for the one place that uses it (a MAC key, an auth header).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// The secret's keys (see the contract). Each function uses only its own; unknown keys are ignored.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct GantrySecrets {
    #[serde(default)]
    pub github_webhook_secrets: Vec<SecretString>,
    #[serde(default)]
    pub gitlab_webhook_tokens: Vec<SecretString>,
    #[serde(default)]
    pub slack_signing_secret: Option<SecretString>,
    #[serde(default)]
    pub slack_bot_token: Option<SecretString>,
}

/// Why the secret could not be used. No variant carries a secret value.
#[derive(Debug, thiserror::Error)]
pub enum SecretsError {
    #[error("could not read secret {secret_id}: {reason}")]
    Fetch { secret_id: String, reason: String },
    #[error("secret {secret_id} has no SecretString (binary secrets are not supported)")]
    NotText { secret_id: String },
    #[error("secret {secret_id} is not the expected JSON object ({reason} at line {line}, column {column})")]
    Malformed {
        secret_id: String,
        reason: &'static str,
        line: usize,
        column: usize,
    },
    #[error("secret {secret_id} lacks the key {key}, which this function needs")]
    MissingKey {
        secret_id: String,
        key: &'static str,
    },
}

impl GantrySecrets {
    /// Parses the secret's JSON text. `secret_id` only labels errors.
    pub fn parse(secret_id: &str, text: &str) -> Result<Self, SecretsError> {
        serde_json::from_str(text).map_err(|e| SecretsError::Malformed {
            secret_id: secret_id.to_string(),
            // serde's own message can quote the offending value: keep only its category.
            reason: match e.classify() {
                serde_json::error::Category::Io => "unreadable",
                serde_json::error::Category::Syntax => "invalid JSON",
                serde_json::error::Category::Data => "a key has the wrong type",
                serde_json::error::Category::Eof => "truncated JSON",
            },
            line: e.line(),
            column: e.column(),
        })
    }

    /// The Slack bot token, or an error naming the missing key.
    pub fn require_slack_bot_token(&self, secret_id: &str) -> Result<&SecretString, SecretsError> {
        self.slack_bot_token
            .as_ref()
            .ok_or_else(|| missing(secret_id, "slack_bot_token"))
    }

    /// The Slack signing secret, or an error naming the missing key.
    pub fn require_slack_signing_secret(
        &self,
        secret_id: &str,
    ) -> Result<&SecretString, SecretsError> {
        self.slack_signing_secret
            .as_ref()
            .ok_or_else(|| missing(secret_id, "slack_signing_secret"))
    }
}

fn missing(secret_id: &str, key: &'static str) -> SecretsError {
    SecretsError::MissingKey {
        secret_id: secret_id.to_string(),
        key,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_known_keys_and_ignores_others() {
        let s = GantrySecrets::parse(
            "s",
            r#"{"github_webhook_secrets":["a","b"],"slack_bot_token":"xoxb-1","extra":1}"#,
        )
        .unwrap();
        assert_eq!(s.github_webhook_secrets.len(), 2);
        assert_eq!(s.slack_bot_token.unwrap().expose(), "xoxb-1");
        assert!(s.gitlab_webhook_tokens.is_empty());
    }

    #[test]
    fn debug_output_redacts_values() {
        let s = GantrySecrets::parse("s", r#"{"slack_signing_secret":"hunter2"}"#).unwrap();
        let printed = format!("{s:?}");
        assert!(!printed.contains("hunter2"), "{printed}");
        assert!(printed.contains("[redacted]"));
    }

    #[test]
    fn wrong_type_error_does_not_quote_the_value() {
        let err = GantrySecrets::parse("arn:s", r#"{"slack_bot_token":["xoxb-top-secret"]}"#)
            .unwrap_err()
            .to_string();
        assert!(!err.contains("top-secret"), "{err}");
        assert!(err.contains("wrong type"), "{err}");
    }

    #[test]
    fn missing_key_is_named() {
        let s = GantrySecrets::default();
        let err = s.require_slack_bot_token("arn:s").unwrap_err().to_string();
        assert!(err.contains("slack_bot_token"), "{err}");
    }
}
