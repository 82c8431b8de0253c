//! Every environment variable Gantry reads, listed once, validated at cold start.
//!
//! The list (`Var::ALL`) is also what the SAM template is checked against, so a function's
//! environment in `template.yaml` can neither miss a variable nor set one nobody reads.

mod approval;
pub mod approvers;
#[cfg(test)]
mod contract;
pub mod defaults;
mod notifier;
pub mod people;
mod traffic_shifter;
mod webhook;

pub use approval::ApprovalConfig;
pub use notifier::{Audience, NotifierConfig, NotifyConfig, PipelineNotify, Verbosity};
pub use traffic_shifter::TrafficShifterConfig;
pub use webhook::WebhookConfig;

use serde::de::DeserializeOwned;
use std::collections::HashMap;

/// A Gantry function, as named in the contract (package and binary name).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Function {
    Webhook,
    Notifier,
    Approval,
    TrafficShifter,
}

impl Function {
    pub const ALL: [Function; 4] = [
        Function::Webhook,
        Function::Notifier,
        Function::Approval,
        Function::TrafficShifter,
    ];

    /// The package and binary name.
    pub const fn name(self) -> &'static str {
        match self {
            Function::Webhook => "webhook",
            Function::Notifier => "notifier",
            Function::Approval => "approval",
            Function::TrafficShifter => "traffic-shifter",
        }
    }
}

/// Whether a function cannot start without a variable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    Required,
    Optional,
}

/// One environment variable of Gantry's own (the standard `AWS_*` ones are the SDK's business).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Var {
    SecretsArn,
    Table,
    Routes,
    TopicArn,
    Notify,
    Approvers,
    SlackApiUrl,
    MaxBodyBytes,
    RetryQueueUrl,
    People,
    AnalysisSettleSeconds,
    OrphanAfterSeconds,
    ServicesPath,
}

impl Var {
    pub const ALL: [Var; 13] = [
        Var::SecretsArn,
        Var::Table,
        Var::Routes,
        Var::TopicArn,
        Var::Notify,
        Var::Approvers,
        Var::SlackApiUrl,
        Var::MaxBodyBytes,
        Var::RetryQueueUrl,
        Var::People,
        Var::AnalysisSettleSeconds,
        Var::OrphanAfterSeconds,
        Var::ServicesPath,
    ];

    /// The variable's name in the environment.
    pub const fn name(self) -> &'static str {
        match self {
            Var::SecretsArn => "GANTRY_SECRETS_ARN",
            Var::Table => "GANTRY_TABLE",
            Var::Routes => "GANTRY_ROUTES",
            Var::TopicArn => "GANTRY_TOPIC_ARN",
            Var::Notify => "GANTRY_NOTIFY",
            Var::Approvers => "GANTRY_APPROVERS",
            Var::SlackApiUrl => "SLACK_API_URL",
            Var::MaxBodyBytes => "GANTRY_MAX_BODY_BYTES",
            Var::RetryQueueUrl => "GANTRY_RETRY_QUEUE_URL",
            Var::People => "GANTRY_PEOPLE",
            Var::AnalysisSettleSeconds => "GANTRY_ANALYSIS_SETTLE_SECONDS",
            Var::OrphanAfterSeconds => "GANTRY_ORPHAN_AFTER_SECONDS",
            Var::ServicesPath => "GANTRY_SERVICES_PATH",
        }
    }

    /// Whether `function` reads this variable, and whether it must be set.
    pub const fn need(self, function: Function) -> Option<Need> {
        use Function::*;
        match (self, function) {
            (Var::SecretsArn | Var::Table, _) => Some(Need::Required),
            // Optional since the registry (docs/deploy.md#the-service-registry): a hub may route by service documents alone.
            (Var::Routes, Webhook) => Some(Need::Optional),
            (Var::ServicesPath, _) => Some(Need::Optional),
            (Var::MaxBodyBytes | Var::RetryQueueUrl, Webhook) => Some(Need::Optional),
            (Var::TopicArn, Notifier) => Some(Need::Required),
            (Var::Notify, Notifier | Approval | TrafficShifter) => Some(Need::Optional),
            (Var::Approvers | Var::People, Approval) => Some(Need::Optional),
            (Var::SlackApiUrl, Notifier | Approval | TrafficShifter) => Some(Need::Optional),
            (Var::AnalysisSettleSeconds | Var::OrphanAfterSeconds, TrafficShifter) => {
                Some(Need::Optional)
            }
            _ => None,
        }
    }

    /// The variables `function` reads.
    pub fn read_by(function: Function) -> Vec<(Var, Need)> {
        Var::ALL
            .iter()
            .filter_map(|v| v.need(function).map(|n| (*v, n)))
            .collect()
    }
}

/// A variable that stops a function from starting. The message names the variable.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("{var} is not set")]
    Missing { var: &'static str },
    #[error("{var} is invalid: {reason}")]
    Invalid { var: &'static str, reason: String },
}

/// Where variables come from: the process environment in Lambda, a map in tests.
pub trait Env {
    fn get(&self, name: &str) -> Option<String>;
}

/// The process environment.
pub struct ProcessEnv;

impl Env for ProcessEnv {
    fn get(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }
}

impl Env for HashMap<String, String> {
    fn get(&self, name: &str) -> Option<String> {
        HashMap::get(self, name).cloned()
    }
}

impl Env for HashMap<&str, &str> {
    fn get(&self, name: &str) -> Option<String> {
        HashMap::get(self, name).map(|s| s.to_string())
    }
}

/// A set, non-blank variable, or `Missing`.
pub fn required(env: &impl Env, var: Var) -> Result<String, ConfigError> {
    optional(env, var)?.ok_or(ConfigError::Missing { var: var.name() })
}

/// A variable that may be absent; blank counts as absent.
pub fn optional(env: &impl Env, var: Var) -> Result<Option<String>, ConfigError> {
    Ok(env
        .get(var.name())
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty()))
}

/// A JSON variable parsed into `T`; the error carries serde's line and column.
pub fn json<T: DeserializeOwned>(env: &impl Env, var: Var) -> Result<Option<T>, ConfigError> {
    optional(env, var)?
        .map(|raw| {
            serde_json::from_str(&raw).map_err(|e| ConfigError::Invalid {
                var: var.name(),
                reason: e.to_string(),
            })
        })
        .transpose()
}

/// A positive integer variable.
pub fn positive_integer(env: &impl Env, var: Var) -> Result<Option<u64>, ConfigError> {
    optional(env, var)?
        .map(|raw| match raw.parse::<u64>() {
            Ok(n) if n > 0 => Ok(n),
            _ => Err(ConfigError::Invalid {
                var: var.name(),
                reason: format!("expected a positive integer, got {raw:?}"),
            }),
        })
        .transpose()
}

/// `GANTRY_SERVICES_PATH` when unset: where the service registry's documents live.
pub const DEFAULT_SERVICES_PATH: &str = "/gantry/services/";

/// `GANTRY_SERVICES_PATH`, normalized to end with one `/`; the default when unset.
pub fn services_path(env: &impl Env) -> Result<String, ConfigError> {
    let raw = optional(env, Var::ServicesPath)?.unwrap_or_else(|| DEFAULT_SERVICES_PATH.into());
    let trimmed = raw.trim_end_matches('/');
    if !raw.starts_with('/') || trimmed.is_empty() || trimmed.contains("//") {
        return Err(ConfigError::Invalid {
            var: Var::ServicesPath.name(),
            reason: format!(
                "expected a Parameter Store path such as {DEFAULT_SERVICES_PATH}, got {raw:?}"
            ),
        });
    }
    Ok(format!("{trimmed}/"))
}

/// An `http(s)://` base URL, without its trailing slash.
pub fn base_url(env: &impl Env, var: Var, default: &str) -> Result<String, ConfigError> {
    let raw = optional(env, var)?.unwrap_or_else(|| default.to_string());
    if !(raw.starts_with("https://") || raw.starts_with("http://")) {
        return Err(ConfigError::Invalid {
            var: var.name(),
            reason: "expected an http(s):// URL".into(),
        });
    }
    Ok(raw.trim_end_matches('/').to_string())
}

/// Test-only: the two variables every function needs, plus `extra`.
#[cfg(test)]
fn test_env(extra: &[(&'static str, &'static str)]) -> HashMap<&'static str, &'static str> {
    let mut e = HashMap::from([
        ("GANTRY_SECRETS_ARN", "arn:secret"),
        ("GANTRY_TABLE", "gantry"),
    ]);
    e.extend(extra.iter().copied());
    e
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_variable_is_named() {
        let env: HashMap<&str, &str> = HashMap::new();
        let err = required(&env, Var::Table).unwrap_err();
        assert_eq!(err.to_string(), "GANTRY_TABLE is not set");
    }

    #[test]
    fn blank_counts_as_missing() {
        let env = HashMap::from([("GANTRY_TABLE", "  ")]);
        assert!(matches!(
            required(&env, Var::Table),
            Err(ConfigError::Missing { .. })
        ));
    }

    #[test]
    fn bad_json_names_variable_and_position() {
        let env = HashMap::from([("GANTRY_ROUTES", "[{")]);
        let err = json::<serde_json::Value>(&env, Var::Routes).unwrap_err();
        let text = err.to_string();
        assert!(text.starts_with("GANTRY_ROUTES is invalid"), "{text}");
        assert!(text.contains("line 1"), "{text}");
    }

    #[test]
    fn zero_is_not_a_positive_integer() {
        let env = HashMap::from([("GANTRY_MAX_BODY_BYTES", "0")]);
        assert!(positive_integer(&env, Var::MaxBodyBytes).is_err());
    }

    #[test]
    fn base_url_drops_trailing_slash_and_rejects_other_schemes() {
        let env = HashMap::from([("SLACK_API_URL", "http://127.0.0.1:9/api/")]);
        assert_eq!(
            base_url(&env, Var::SlackApiUrl, "https://slack.com/api").unwrap(),
            "http://127.0.0.1:9/api"
        );
        let env = HashMap::from([("SLACK_API_URL", "ftp://x")]);
        assert!(base_url(&env, Var::SlackApiUrl, "https://slack.com/api").is_err());
    }

    #[test]
    fn the_services_path_ends_with_one_slash_and_defaults_to_the_contracts() {
        let path = |v: &str| services_path(&HashMap::from([("GANTRY_SERVICES_PATH", v)]));
        assert_eq!(path("/acme/services").unwrap(), "/acme/services/");
        assert_eq!(path("/acme/services/").unwrap(), "/acme/services/");
        assert_eq!(path("").unwrap(), DEFAULT_SERVICES_PATH);
        for bad in ["acme/services", "/", "/a//b"] {
            let err = path(bad).unwrap_err().to_string();
            assert!(err.starts_with("GANTRY_SERVICES_PATH is invalid"), "{err}");
        }
    }

    #[test]
    fn every_function_reads_the_secret_and_the_table() {
        for f in Function::ALL {
            let vars = Var::read_by(f);
            assert!(vars.contains(&(Var::SecretsArn, Need::Required)), "{f:?}");
            assert!(vars.contains(&(Var::Table, Need::Required)), "{f:?}");
        }
        assert!(!Var::read_by(Function::Notifier)
            .iter()
            .any(|(v, _)| *v == Var::Routes));
    }
}
