//! What every function does at start-up under the Lambda Runtime API: JSON logs, and init
//! errors reported so the console shows why a function could not start. And `hooks`: Lambda's
//! `Invoke`, for the traffic shifter's lifecycle hooks.

pub mod hooks;
pub mod http;
mod init_error;
pub mod telemetry;

pub use init_error::report_init_error;
