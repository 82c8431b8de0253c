use super::{json, positive_integer, required, services_path, ConfigError, Env, Var};
use crate::ingest::routing::{RouteSpec, RouteTable};
use crate::ingest::DEFAULT_MAX_BODY_BYTES;

/// The webhook function's configuration.
#[derive(Debug, Clone)]
pub struct WebhookConfig {
    pub secrets_arn: String,
    pub table: String,
    /// `GANTRY_ROUTES`, compiled (the routes the registry does not give).
    pub routes: RouteTable,
    /// `GANTRY_ROUTES` as written, merged with the registry's routes when it changes.
    pub static_routes: Vec<RouteSpec>,
    /// `GANTRY_SERVICES_PATH`.
    pub services_path: String,
    pub max_body_bytes: u64,
    /// Where a verified push waits when CodePipeline cannot start it in time (optional).
    pub retry_queue_url: Option<String>,
}

impl WebhookConfig {
    pub fn from_env(env: &impl Env) -> Result<Self, ConfigError> {
        let specs: Vec<RouteSpec> = json(env, Var::Routes)?.unwrap_or_default();
        let routes = RouteTable::compile(specs.clone()).map_err(|reason| ConfigError::Invalid {
            var: Var::Routes.name(),
            reason,
        })?;
        Ok(Self {
            secrets_arn: required(env, Var::SecretsArn)?,
            table: required(env, Var::Table)?,
            routes,
            static_routes: specs,
            services_path: services_path(env)?,
            max_body_bytes: positive_integer(env, Var::MaxBodyBytes)?
                .unwrap_or(DEFAULT_MAX_BODY_BYTES),
            retry_queue_url: env
                .get(Var::RetryQueueUrl.name())
                .map(|u| u.trim().to_string())
                .filter(|u| !u.is_empty()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(routes: &str) -> HashMap<&'static str, String> {
        HashMap::from([
            ("GANTRY_SECRETS_ARN", "arn:secret".to_string()),
            ("GANTRY_TABLE", "gantry".to_string()),
            ("GANTRY_ROUTES", routes.to_string()),
        ])
    }

    impl Env for HashMap<&'static str, String> {
        fn get(&self, name: &str) -> Option<String> {
            HashMap::get(self, name).cloned()
        }
    }

    #[test]
    fn valid_configuration_loads_with_the_default_limit() {
        let c = WebhookConfig::from_env(&env(
            r#"[{"provider":"github","repository":"a/b","branches":["main"],"pipeline":"p","source_action":"Source"}]"#,
        ))
        .unwrap();
        assert_eq!(c.routes.routes().len(), 1);
        assert_eq!(c.max_body_bytes, 6 * 1024 * 1024);
    }

    #[test]
    fn an_invalid_route_is_an_init_error_naming_the_variable() {
        let err = WebhookConfig::from_env(&env(r#"[{"provider":"github"}]"#)).unwrap_err();
        assert!(
            err.to_string().starts_with("GANTRY_ROUTES is invalid"),
            "{err}"
        );
    }

    #[test]
    fn without_gantry_routes_only_the_registry_routes() {
        let mut e = env("[]");
        e.remove("GANTRY_ROUTES");
        let c = WebhookConfig::from_env(&e).unwrap();
        assert!(c.routes.routes().is_empty());
        assert_eq!(c.services_path, "/gantry/services/");
    }
}
