use super::{base_url, json, required, ConfigError, Env, Var};
use crate::slack::DEFAULT_API_URL;
use serde::Deserialize;
use std::collections::HashMap;

/// The traffic shifter's configuration.
#[derive(Debug, Clone)]
pub struct TrafficShifterConfig {
    pub secrets_arn: String,
    pub table: String,
    /// Slack progress is on when `GANTRY_NOTIFY` is set (and the secret has a bot token).
    pub notify: Option<DeployNotify>,
    pub slack_api_url: String,
}

/// What the traffic shifter takes from `GANTRY_NOTIFY` (the notifier owns the rest).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeployNotify {
    /// Pipelines at verbosity `failures`: only rollbacks are posted for them.
    pub failures_only: Vec<String>,
}

#[derive(Deserialize)]
struct NotifyShape {
    #[serde(default)]
    pipelines: HashMap<String, PipelineShape>,
}

#[derive(Deserialize)]
struct PipelineShape {
    #[serde(default)]
    verbosity: Option<String>,
}

const VERBOSITIES: [&str; 4] = ["pipeline", "stages", "actions", "failures"];

impl TrafficShifterConfig {
    pub fn from_env(env: &impl Env) -> Result<Self, ConfigError> {
        let notify = json::<NotifyShape>(env, Var::Notify)?
            .map(|shape| {
                let mut failures_only = Vec::new();
                for (pipeline, p) in shape.pipelines {
                    match p.verbosity.as_deref() {
                        None => {}
                        Some("failures") => failures_only.push(pipeline),
                        Some(v) if VERBOSITIES.contains(&v) => {}
                        Some(v) => {
                            return Err(ConfigError::Invalid {
                                var: Var::Notify.name(),
                                reason: format!(
                                    "pipelines.{pipeline}.verbosity must be one of {}, got {v:?}",
                                    VERBOSITIES.join(", ")
                                ),
                            })
                        }
                    }
                }
                failures_only.sort();
                Ok(DeployNotify { failures_only })
            })
            .transpose()?;
        Ok(Self {
            secrets_arn: required(env, Var::SecretsArn)?,
            table: required(env, Var::Table)?,
            notify,
            slack_api_url: base_url(env, Var::SlackApiUrl, DEFAULT_API_URL)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(extra: &[(&'static str, &'static str)]) -> HashMap<&'static str, &'static str> {
        let mut e = HashMap::from([
            ("GANTRY_SECRETS_ARN", "arn:secret"),
            ("GANTRY_TABLE", "gantry"),
        ]);
        e.extend(extra.iter().copied());
        e
    }

    #[test]
    fn without_notify_slack_is_off() {
        let c = TrafficShifterConfig::from_env(&env(&[])).unwrap();
        assert!(c.notify.is_none());
        assert_eq!(c.slack_api_url, "https://slack.com/api");
    }

    #[test]
    fn notify_turns_slack_on_and_failures_only_pipelines_are_kept() {
        let c = TrafficShifterConfig::from_env(&env(&[(
            "GANTRY_NOTIFY",
            r#"{"default_channel":"C0DEPLOYS","pipelines":{"orders":{"channel":"C0ORDERS","verbosity":"failures"},"shop":{"verbosity":"actions"}}}"#,
        )]))
        .unwrap();
        assert_eq!(c.notify.unwrap().failures_only, vec!["orders"]);
    }

    #[test]
    fn an_unknown_verbosity_names_the_variable() {
        let err = TrafficShifterConfig::from_env(&env(&[(
            "GANTRY_NOTIFY",
            r#"{"pipelines":{"orders":{"verbosity":"loud"}}}"#,
        )]))
        .unwrap_err()
        .to_string();
        assert!(
            err.starts_with("GANTRY_NOTIFY is invalid: pipelines.orders.verbosity"),
            "{err}"
        );
    }

    #[test]
    fn the_table_is_required() {
        let mut e = env(&[]);
        e.remove("GANTRY_TABLE");
        assert_eq!(
            TrafficShifterConfig::from_env(&e).unwrap_err(),
            ConfigError::Missing {
                var: "GANTRY_TABLE"
            }
        );
    }
}
