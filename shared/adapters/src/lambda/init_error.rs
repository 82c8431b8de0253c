//! Start-up failures reported the way Lambda expects, so the console shows why a function
//! could not start instead of a bare exit code.

use std::fmt::Display;

/// Logs an init error and, when running under the Lambda Runtime API, posts it to
/// `/runtime/init/error`. Returns the process exit code to use.
pub async fn report_init_error(error: &dyn Display) -> i32 {
    let message = error.to_string();
    tracing::error!(error = %message, "init failed");
    if let Ok(api) = std::env::var("AWS_LAMBDA_RUNTIME_API") {
        // Lambda passes `host:port`; some local runtimes (cargo lambda watch) pass a full URL.
        let base = if api.starts_with("http://") || api.starts_with("https://") {
            api.trim_end_matches('/').to_string()
        } else {
            format!("http://{api}")
        };
        let url = format!("{base}/2018-06-01/runtime/init/error");
        let body = serde_json::json!({ "errorMessage": message, "errorType": "Runtime.InitError" });
        let sent = reqwest::Client::new()
            .post(url)
            .header("Lambda-Runtime-Function-Error-Type", "Runtime.InitError")
            .json(&body)
            .send()
            .await;
        if let Err(e) = sent {
            tracing::error!(error = %e, "could not report the init error to the Runtime API");
        }
    }
    1
}
