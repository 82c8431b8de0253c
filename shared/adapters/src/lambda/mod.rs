//! What every function does at start-up under the Lambda Runtime API: JSON logs, and init
//! errors reported so the console shows why a function could not start. And `hooks`: Lambda's
//! `Invoke`, for the traffic shifter's lifecycle hooks.

pub mod hooks;
pub mod http;
mod init_error;
pub mod later;
pub mod telemetry;

pub use init_error::report_init_error;

use crate::secretsmanager::fetch_secrets;
use gantry_core::config::{required, ConfigError, Env, ProcessEnv, Var};
use gantry_core::secrets::GantrySecrets;
use std::fmt::Display;
use std::future::Future;

/// An init error, as `lambda_runtime` reports it.
pub type InitError = Box<dyn std::error::Error + Send + Sync>;

/// Gantry's release, the workspace's version: every crate of the workspace shares it.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// A function's start-up, the same for all four: JSON logs first, then one line naming the
/// release (`gantry_version`), then `init`. An init error is logged and reported to the Runtime
/// API, and the process exits with its code, so that Lambda shows a failed init (and why) rather
/// than a crash.
pub async fn start<T, E: Display>(init: impl Future<Output = Result<T, E>>) -> T {
    telemetry::init();
    // Before init, so that a failed start names the release too: during a stack update, old and
    // new code run side by side, and this line tells which one a log stream is.
    tracing::info!(gantry_version = VERSION, "gantry {VERSION} starting");
    match init.await {
        Ok(ready) => ready,
        Err(e) => std::process::exit(report_init_error(&e).await),
    }
}

/// A function's init, the same for all four: one SDK configuration, then [`configure`] (its
/// secret, its configuration from the process's environment, its clients), from which `build`
/// makes the function.
pub async fn init<C, K, T, E>(
    read: impl FnOnce(&ProcessEnv) -> Result<C, ConfigError> + Send + 'static,
    clients: impl FnOnce(&aws_config::SdkConfig, &C) -> K + Send + 'static,
    build: impl FnOnce(C, &GantrySecrets, K) -> Result<T, E>,
) -> Result<T, InitError>
where
    C: Send + 'static,
    K: Send + 'static,
    E: Into<InitError>,
{
    let sdk = crate::sdk::load().await;
    let (config, secrets, clients) = configure(&sdk, ProcessEnv, read, clients).await?;
    build(config, &secrets, clients).map_err(Into::into)
}

/// The secret (`GANTRY_SECRETS_ARN`) read while, on a thread of its own, the configuration is
/// `read` from `env` (parsing, globs compiled) and `clients` builds what needs only the SDK
/// configuration (the AWS clients, the HTTPS client for Slack). That work is CPU and the read is
/// a wait: side by side, start-up lasts as long as the longer of the two, not their sum (issue
/// 16); in AWS, where the read takes milliseconds of network, the rest costs no start-up time.
///
/// The error is a [`ConfigError`] or a [`SecretsError`](gantry_core::secrets::SecretsError); a
/// configuration error is reported before a secret that could not be read, being the one to fix
/// first and needing no AWS call to be seen.
pub async fn configure<E, C, K>(
    sdk: &aws_config::SdkConfig,
    env: E,
    read: impl FnOnce(&E) -> Result<C, ConfigError> + Send + 'static,
    clients: impl FnOnce(&aws_config::SdkConfig, &C) -> K + Send + 'static,
) -> Result<(C, GantrySecrets, K), InitError>
where
    E: Env + Send + 'static,
    C: Send + 'static,
    K: Send + 'static,
{
    let secret_id = required(&env, Var::SecretsArn)?;
    let own = sdk.clone();
    let building = tokio::task::spawn_blocking(move || {
        let config = read(&env)?;
        let clients = clients(&own, &config);
        Ok::<_, ConfigError>((config, clients))
    });
    let secrets = fetch_secrets(&aws_sdk_secretsmanager::Client::new(sdk), &secret_id).await;
    // The side thread can only fail by panicking: its panic goes on here, as if it had run inline.
    let (config, clients) = building
        .await
        .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()))?;
    Ok((config, secrets?, clients))
}
