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
    #[error("secret {secret_id} has an empty value in {key}: remove it or set a real value")]
    EmptyValue {
        secret_id: String,
        key: &'static str,
    },
    #[error("secret {secret_id} lacks the key {key}, which this function needs")]
    MissingKey {
        secret_id: String,
        key: &'static str,
    },
}

impl GantrySecrets {
    /// Parses the secret's JSON text. `secret_id` only labels errors.
    ///
    /// An empty (or blank) value under any key is refused, naming the key: an empty GitLab token
    /// would accept a request whose token header is empty, an empty HMAC key signs for anyone.
    pub fn parse(secret_id: &str, text: &str) -> Result<Self, SecretsError> {
        let secrets: Self = serde_json::from_str(text).map_err(|e| SecretsError::Malformed {
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
        })?;
        secrets.refuse_empty_values(secret_id)?;
        Ok(secrets)
    }

    /// The first key holding an empty value, as an error.
    pub fn refuse_empty_values(&self, secret_id: &str) -> Result<(), SecretsError> {
        let blank = |s: &SecretString| s.expose().trim().is_empty();
        let empty_key = if self.github_webhook_secrets.iter().any(blank) {
            Some("github_webhook_secrets")
        } else if self.gitlab_webhook_tokens.iter().any(blank) {
            Some("gitlab_webhook_tokens")
        } else if self.slack_signing_secret.as_ref().is_some_and(blank) {
            Some("slack_signing_secret")
        } else if self.slack_bot_token.as_ref().is_some_and(blank) {
            Some("slack_bot_token")
        } else {
            None
        };
        match empty_key {
            Some(key) => Err(SecretsError::EmptyValue {
                secret_id: secret_id.to_string(),
                key,
            }),
            None => Ok(()),
        }
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
    fn an_empty_value_under_any_key_is_refused_naming_the_key() {
        for (text, key) in [
            (
                r#"{"github_webhook_secrets":["ok",""]}"#,
                "github_webhook_secrets",
            ),
            (r#"{"gitlab_webhook_tokens":[""]}"#, "gitlab_webhook_tokens"),
            (
                r#"{"gitlab_webhook_tokens":["  "]}"#,
                "gitlab_webhook_tokens",
            ),
            (r#"{"slack_signing_secret":""}"#, "slack_signing_secret"),
            (r#"{"slack_bot_token":""}"#, "slack_bot_token"),
        ] {
            let err = GantrySecrets::parse("arn:s", text).unwrap_err();
            assert!(
                matches!(&err, SecretsError::EmptyValue { key: k, .. } if *k == key),
                "{text}: {err}"
            );
            assert!(err.to_string().contains(key), "{err}");
        }
    }

    #[test]
    fn non_empty_values_are_accepted() {
        let s = GantrySecrets::parse(
            "s",
            r#"{"github_webhook_secrets":["a"],"gitlab_webhook_tokens":["t"],"slack_signing_secret":"x","slack_bot_token":"xoxb"}"#,
        );
        assert!(s.is_ok());
    }

    #[test]
    fn missing_key_is_named() {
        let s = GantrySecrets::default();
        let err = s.require_slack_bot_token("arn:s").unwrap_err().to_string();
        assert!(err.contains("slack_bot_token"), "{err}");
    }
}
