use super::approvers::ApproverRules;
use super::people::People;
use super::NotifyConfig;
use super::{base_url, json, optional, required, services_path, ConfigError, Env, Var};
use crate::slack::DEFAULT_API_URL;

/// The approval function's configuration.
#[derive(Debug, Clone)]
pub struct ApprovalConfig {
    pub secrets_arn: String,
    pub table: String,
    /// `GANTRY_APPROVERS`; absent means nobody may decide anything from Slack.
    pub approvers: ApproverRules,
    /// `GANTRY_PEOPLE`: provider logins → Slack users, for the four-eyes rule; absent maps
    /// nobody, so under four-eyes nothing is released from Slack.
    pub people: People,
    /// Where requests go when the execution has no Slack thread (from `GANTRY_NOTIFY`).
    pub channels: NotifyConfig,
    pub slack_api_url: String,
    /// `GANTRY_SERVICES_PATH`.
    pub services_path: String,
    /// The function's own name, as Lambda sets it (`AWS_LAMBDA_FUNCTION_NAME`): the slash
    /// command's slower operations run in an asynchronous invocation of it.
    pub function_name: Option<String>,
}

impl ApprovalConfig {
    pub fn from_env(env: &impl Env) -> Result<Self, ConfigError> {
        let approvers = match optional(env, Var::Approvers)? {
            Some(raw) => ApproverRules::parse(&raw).map_err(|reason| ConfigError::Invalid {
                var: Var::Approvers.name(),
                reason,
            })?,
            None => ApproverRules::default(),
        };
        let people = match optional(env, Var::People)? {
            Some(raw) => People::parse(&raw).map_err(|reason| ConfigError::Invalid {
                var: Var::People.name(),
                reason,
            })?,
            None => People::default(),
        };
        Ok(Self {
            people,
            secrets_arn: required(env, Var::SecretsArn)?,
            table: required(env, Var::Table)?,
            approvers,
            channels: json(env, Var::Notify)?.unwrap_or_default(),
            slack_api_url: base_url(env, Var::SlackApiUrl, DEFAULT_API_URL)?,
            services_path: services_path(env)?,
            function_name: env
                .get("AWS_LAMBDA_FUNCTION_NAME")
                .filter(|n| !n.trim().is_empty()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_env as env;
    use super::*;

    #[test]
    fn the_minimal_environment_denies_everything() {
        let c = ApprovalConfig::from_env(&env(&[])).unwrap();
        assert!(c.approvers.is_empty());
        assert_eq!(c.channels.channel_for("shop"), None);
        assert_eq!(c.slack_api_url, "https://slack.com/api");
    }

    #[test]
    fn channels_come_from_the_notify_configuration() {
        let c = ApprovalConfig::from_env(&env(&[(
            "GANTRY_NOTIFY",
            r#"{"default_channel": "C0DEPLOYS", "pipelines": {"orders": {"channel": "C0ORDERS", "verbosity": "actions"}, "api": {"verbosity": "failures"}}}"#,
        )]))
        .unwrap();
        assert_eq!(c.channels.channel_for("orders"), Some("C0ORDERS"));
        assert_eq!(c.channels.channel_for("api"), Some("C0DEPLOYS"));
        assert_eq!(c.channels.channel_for("shop"), Some("C0DEPLOYS"));
    }

    #[test]
    fn bad_approvers_are_an_init_error_naming_the_variable_and_entry() {
        let err = ApprovalConfig::from_env(&env(&[(
            "GANTRY_APPROVERS",
            r#"{"shop": {"Prod": {"users": ["jane@example.com"]}}}"#,
        )]))
        .unwrap_err()
        .to_string();
        assert!(err.starts_with("GANTRY_APPROVERS is invalid"), "{err}");
        assert!(err.contains("shop/Prod"), "{err}");
    }

    #[test]
    fn the_table_and_secret_are_required() {
        let mut e = env(&[]);
        e.remove("GANTRY_TABLE");
        assert_eq!(
            ApprovalConfig::from_env(&e).unwrap_err(),
            ConfigError::Missing {
                var: "GANTRY_TABLE"
            }
        );
    }
}
