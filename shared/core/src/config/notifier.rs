use super::{base_url, json, required, services_path, ConfigError, Env, Var};
use crate::slack::DEFAULT_API_URL;
use serde::Deserialize;
use std::collections::BTreeMap;

/// How much of an execution a pipeline's notifications tell (`GANTRY_NOTIFY` `verbosity`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verbosity {
    /// The execution's outcome only: no stage line, no stage notifications.
    Pipeline,
    /// The stage line, and a notification per stage transition (the default).
    #[default]
    Stages,
    /// Stages and every action within them.
    Actions,
    /// Nothing unless something fails; then the full message.
    Failures,
}

/// One pipeline's entry in `GANTRY_NOTIFY`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct PipelineNotify {
    /// Slack channel id; `default_channel` when absent.
    #[serde(default)]
    pub channel: Option<String>,
    #[serde(default)]
    pub verbosity: Option<Verbosity>,
}

/// `GANTRY_NOTIFY`: which Slack channel each pipeline posts to, and how verbosely.
///
/// Other functions read the same variable, so unknown keys are ignored rather than refused.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct NotifyConfig {
    #[serde(default)]
    pub default_channel: Option<String>,
    #[serde(default)]
    pub pipelines: BTreeMap<String, PipelineNotify>,
}

/// Where and how one pipeline is announced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Audience {
    /// The Slack channel, or `None` when the pipeline posts to no channel (SNS only).
    pub channel: Option<String>,
    pub verbosity: Verbosity,
}

impl NotifyConfig {
    /// The channel and verbosity for `pipeline`: its own entry, else `default_channel` at
    /// `stages`.
    pub fn audience(&self, pipeline: &str) -> Audience {
        Audience {
            channel: self.channel_for(pipeline).map(str::to_string),
            verbosity: self
                .pipelines
                .get(pipeline)
                .and_then(|e| e.verbosity)
                .unwrap_or_default(),
        }
    }

    /// The pipeline's channel, else `default_channel`; `None` when neither names one.
    pub fn channel_for(&self, pipeline: &str) -> Option<&str> {
        self.pipelines
            .get(pipeline)
            .and_then(|p| p.channel.as_deref())
            .or(self.default_channel.as_deref())
            .filter(|c| !c.trim().is_empty())
    }

    /// The pipelines at verbosity `failures`: for them only a rollback is worth a message.
    pub fn failures_only(&self) -> Vec<String> {
        self.pipelines
            .iter()
            .filter(|(_, p)| p.verbosity == Some(Verbosity::Failures))
            .map(|(name, _)| name.clone())
            .collect()
    }

    /// True when at least one pipeline may post to Slack (so the bot token is needed).
    pub fn uses_slack(&self) -> bool {
        self.default_channel.is_some() || self.pipelines.values().any(|p| p.channel.is_some())
    }
}

/// The notifier function's configuration.
#[derive(Debug, Clone)]
pub struct NotifierConfig {
    pub secrets_arn: String,
    pub table: String,
    pub topic_arn: String,
    pub notify: NotifyConfig,
    pub slack_api_url: String,
    /// `GANTRY_SERVICES_PATH`: the registry the notifier reads, and keeps the index of.
    pub services_path: String,
}

impl NotifierConfig {
    pub fn from_env(env: &impl Env) -> Result<Self, ConfigError> {
        Ok(Self {
            secrets_arn: required(env, Var::SecretsArn)?,
            table: required(env, Var::Table)?,
            topic_arn: required(env, Var::TopicArn)?,
            notify: json(env, Var::Notify)?.unwrap_or_default(),
            slack_api_url: base_url(env, Var::SlackApiUrl, DEFAULT_API_URL)?,
            services_path: services_path(env)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(notify: Option<&'static str>) -> HashMap<&'static str, &'static str> {
        let mut e = HashMap::from([
            ("GANTRY_SECRETS_ARN", "arn:secret"),
            ("GANTRY_TABLE", "gantry"),
            (
                "GANTRY_TOPIC_ARN",
                "arn:aws:sns:us-east-1:123456789012:gantry",
            ),
        ]);
        if let Some(n) = notify {
            e.insert("GANTRY_NOTIFY", n);
        }
        e
    }

    #[test]
    fn listed_pipelines_use_their_channel_and_others_the_default_at_stages() {
        let c = NotifierConfig::from_env(&env(Some(
            r#"{"default_channel":"C0DEPLOYS","pipelines":{"orders":{"channel":"C0ORDERS","verbosity":"actions"},"quiet":{"verbosity":"failures"}}}"#,
        )))
        .unwrap();
        assert_eq!(
            c.notify.audience("orders"),
            Audience {
                channel: Some("C0ORDERS".into()),
                verbosity: Verbosity::Actions
            }
        );
        assert_eq!(
            c.notify.audience("quiet"),
            Audience {
                channel: Some("C0DEPLOYS".into()),
                verbosity: Verbosity::Failures
            }
        );
        assert_eq!(
            c.notify.audience("other"),
            Audience {
                channel: Some("C0DEPLOYS".into()),
                verbosity: Verbosity::Stages
            }
        );
        assert_eq!(c.slack_api_url, "https://slack.com/api");
    }

    #[test]
    fn without_gantry_notify_nothing_posts_to_slack() {
        let c = NotifierConfig::from_env(&env(None)).unwrap();
        assert!(!c.notify.uses_slack());
        assert_eq!(c.notify.audience("shop").channel, None);
    }

    #[test]
    fn an_unknown_verbosity_is_an_init_error_naming_the_variable() {
        let err =
            NotifierConfig::from_env(&env(Some(r#"{"pipelines":{"shop":{"verbosity":"loud"}}}"#)))
                .unwrap_err()
                .to_string();
        assert!(err.starts_with("GANTRY_NOTIFY is invalid"), "{err}");
        assert!(err.contains("loud"), "{err}");
    }

    #[test]
    fn the_topic_is_required() {
        let mut e = env(None);
        e.remove("GANTRY_TOPIC_ARN");
        assert_eq!(
            NotifierConfig::from_env(&e).unwrap_err(),
            ConfigError::Missing {
                var: "GANTRY_TOPIC_ARN"
            }
        );
    }
}
