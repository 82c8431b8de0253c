use super::NotifyConfig;
use super::{base_url, json, optional, required, services_path, ConfigError, Env, Var};
use crate::slack::DEFAULT_API_URL;

/// Set by Lambda, not by the template.
const LAMBDA_FUNCTION_NAME: &str = "AWS_LAMBDA_FUNCTION_NAME";

/// The traffic shifter's configuration.
#[derive(Debug, Clone)]
pub struct TrafficShifterConfig {
    pub secrets_arn: String,
    pub table: String,
    /// Slack progress is on when `GANTRY_NOTIFY` is set (and the secret has a bot token). The
    /// same value, read by the same type, as the notifier's and the approval function's.
    pub notify: Option<NotifyConfig>,
    pub slack_api_url: String,
    /// The function's own name, as Lambda sets it (`AWS_LAMBDA_FUNCTION_NAME`): a job is
    /// acted on only when its pipeline declares an invoke of this function.
    pub function_name: Option<String>,
    /// How long after a metrics window ends the canary judge takes it as complete
    /// (`GANTRY_ANALYSIS_SETTLE_SECONDS`, default `judged::DEFAULT_SETTLE_SECONDS`). For the
    /// emulator and the demo, which publish a minute's metrics before it ends; AWS fills ALB
    /// windows late, so leave it unset in AWS.
    pub analysis_settle_seconds: i64,
    /// How long a deployment may go without a check, and without an invocation holding it,
    /// before the scheduled sweep rolls it back (`GANTRY_ORPHAN_AFTER_SECONDS`, default
    /// `traffic::phases::sweep::DEFAULT_ORPHAN_AFTER_SECONDS`).
    pub orphan_after_seconds: u32,
    /// `GANTRY_SERVICES_PATH`.
    pub services_path: String,
}

impl TrafficShifterConfig {
    pub fn from_env(env: &impl Env) -> Result<Self, ConfigError> {
        Ok(Self {
            secrets_arn: required(env, Var::SecretsArn)?,
            table: required(env, Var::Table)?,
            notify: json(env, Var::Notify)?,
            slack_api_url: base_url(env, Var::SlackApiUrl, DEFAULT_API_URL)?,
            analysis_settle_seconds: settle_seconds(env)?,
            orphan_after_seconds: orphan_after_seconds(env)?,
            services_path: services_path(env)?,
            function_name: env
                .get(LAMBDA_FUNCTION_NAME)
                .filter(|name| !name.is_empty()),
        })
    }
}

/// Seconds from -1 day to +1 hour.
fn settle_seconds(env: &impl Env) -> Result<i64, ConfigError> {
    let var = Var::AnalysisSettleSeconds;
    let Some(raw) = optional(env, var)? else {
        return Ok(crate::traffic::phases::judged::DEFAULT_SETTLE_SECONDS);
    };
    match raw.parse::<i64>() {
        Ok(n) if (-86_400..=3_600).contains(&n) => Ok(n),
        _ => Err(ConfigError::Invalid {
            var: var.name(),
            reason: format!("expected whole seconds from -86400 to 3600, got {raw:?}"),
        }),
    }
}

/// Whole seconds from 1 to 1 day (CodePipeline fails the action within a day anyway).
fn orphan_after_seconds(env: &impl Env) -> Result<u32, ConfigError> {
    let var = Var::OrphanAfterSeconds;
    let Some(raw) = optional(env, var)? else {
        return Ok(crate::traffic::phases::sweep::DEFAULT_ORPHAN_AFTER_SECONDS);
    };
    match raw.parse::<u32>() {
        Ok(n) if (1..=86_400).contains(&n) => Ok(n),
        _ => Err(ConfigError::Invalid {
            var: var.name(),
            reason: format!("expected whole seconds from 1 to 86400, got {raw:?}"),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_env as env;
    use super::*;

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
        assert_eq!(c.notify.unwrap().failures_only(), vec!["orders"]);
    }

    #[test]
    fn an_unknown_verbosity_names_the_variable() {
        let err = TrafficShifterConfig::from_env(&env(&[(
            "GANTRY_NOTIFY",
            r#"{"pipelines":{"orders":{"verbosity":"loud"}}}"#,
        )]))
        .unwrap_err()
        .to_string();
        assert!(err.starts_with("GANTRY_NOTIFY is invalid"), "{err}");
        assert!(err.contains("loud"), "{err}");
    }

    #[test]
    fn the_judges_settle_time_defaults_to_the_albs_and_may_be_set_for_the_emulator() {
        let c = TrafficShifterConfig::from_env(&env(&[])).unwrap();
        assert_eq!(
            c.analysis_settle_seconds,
            crate::traffic::phases::judged::DEFAULT_SETTLE_SECONDS
        );
        let c =
            TrafficShifterConfig::from_env(&env(&[("GANTRY_ANALYSIS_SETTLE_SECONDS", "-3600")]))
                .unwrap();
        assert_eq!(c.analysis_settle_seconds, -3600);
        let err =
            TrafficShifterConfig::from_env(&env(&[("GANTRY_ANALYSIS_SETTLE_SECONDS", "soon")]))
                .unwrap_err();
        assert!(err
            .to_string()
            .starts_with("GANTRY_ANALYSIS_SETTLE_SECONDS is invalid"));
    }

    #[test]
    fn the_orphan_wait_defaults_well_above_codepipelines_continuation_delay() {
        let c = TrafficShifterConfig::from_env(&env(&[])).unwrap();
        assert_eq!(c.orphan_after_seconds, 600);
        let c =
            TrafficShifterConfig::from_env(&env(&[("GANTRY_ORPHAN_AFTER_SECONDS", "2")])).unwrap();
        assert_eq!(c.orphan_after_seconds, 2);
        for bad in ["0", "soon", "-5", "100000"] {
            let err = TrafficShifterConfig::from_env(&env(&[("GANTRY_ORPHAN_AFTER_SECONDS", bad)]))
                .unwrap_err();
            assert!(err
                .to_string()
                .starts_with("GANTRY_ORPHAN_AFTER_SECONDS is invalid"));
        }
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
