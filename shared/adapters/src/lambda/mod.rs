//! What every function does at start-up under the Lambda Runtime API: JSON logs, and init
//! errors reported so the console shows why a function could not start. And `hooks`: Lambda's
//! `Invoke`, for the traffic shifter's lifecycle hooks.

pub mod hooks;
pub mod http;
mod init_error;
pub mod telemetry;

pub use init_error::report_init_error;

use gantry_core::config::{ConfigError, FunctionConfig, ProcessEnv};
use gantry_core::secrets::GantrySecrets;
use std::fmt::Display;
use std::future::Future;

/// An init error, as `lambda_runtime` reports it.
pub type InitError = Box<dyn std::error::Error + Send + Sync>;

/// A function's start-up, the same for all four: JSON logs first, then `init`. An init error is
/// logged and reported to the Runtime API, and the process exits with its code, so that Lambda
/// shows a failed init (and why) rather than a crash.
pub async fn start<T, E: Display>(init: impl Future<Output = Result<T, E>>) -> T {
    telemetry::init();
    match init.await {
        Ok(ready) => ready,
        Err(e) => std::process::exit(report_init_error(&e).await),
    }
}

/// A function's init, the same for all four: its configuration (`read` from the process's
/// environment), then one SDK configuration and Gantry's secret read with it, from which `build`
/// makes the function.
pub async fn init<C, T, E>(
    read: impl FnOnce(&ProcessEnv) -> Result<C, ConfigError>,
    build: impl FnOnce(C, &GantrySecrets, &aws_config::SdkConfig) -> Result<T, E>,
) -> Result<T, InitError>
where
    C: FunctionConfig,
    E: Into<InitError>,
{
    let config = read(&ProcessEnv)?;
    let (sdk, secrets) = crate::secretsmanager::load_with_sdk(config.secrets_arn()).await?;
    build(config, &secrets, &sdk).map_err(Into::into)
}
