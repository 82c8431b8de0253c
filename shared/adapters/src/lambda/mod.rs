//! What every function does at start-up under the Lambda Runtime API: JSON logs, and init
//! errors reported so the console shows why a function could not start. And `hooks`: Lambda's
//! `Invoke`, for the traffic shifter's lifecycle hooks.

pub mod hooks;
pub mod http;
mod init_error;
pub mod telemetry;

pub use init_error::report_init_error;

use std::fmt::Display;
use std::future::Future;

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
