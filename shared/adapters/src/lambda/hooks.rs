//! `HookFunctions` on Lambda: a lifecycle hook's function invoked as ECS invokes it
//! (RequestResponse), over Lambda's own `Invoke` API.

use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::InvocationType;
use gantry_core::traffic::setup::hooks::Invocation;
use gantry_core::traffic::{HookFunctions, ShiftError};

/// Lambda through the AWS SDK.
#[derive(Debug, Clone)]
pub struct LambdaHooks {
    pub client: aws_sdk_lambda::Client,
}

impl LambdaHooks {
    /// The client for the account the current deployment acts in (`crate::sts`).
    fn client(&self) -> aws_sdk_lambda::Client {
        crate::sts::in_target(|e| e.lambda.clone()).unwrap_or_else(|| self.client.clone())
    }
}

impl HookFunctions for LambdaHooks {
    async fn invoke(&self, function_arn: &str, payload: &str) -> Result<Invocation, ShiftError> {
        let out = self
            .client()
            .invoke()
            .function_name(function_arn)
            .invocation_type(InvocationType::RequestResponse)
            .payload(Blob::new(payload.as_bytes().to_vec()))
            .send()
            .await
            .map_err(|e| crate::aws_error::shift_error("Lambda Invoke", e))?;
        let body = out
            .payload()
            .map(|b| String::from_utf8_lossy(b.as_ref()).into_owned())
            .unwrap_or_default();
        Ok(match out.function_error() {
            None => Invocation::Returned(body),
            Some(kind) => {
                // Lambda's error payload: {"errorMessage", "errorType", ...}.
                let error: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
                let text = |k: &str| error.get(k).and_then(|v| v.as_str()).map(str::to_string);
                Invocation::Threw {
                    error_type: text("errorType").unwrap_or_else(|| kind.to_string()),
                    message: text("errorMessage").unwrap_or_default(),
                }
            }
        })
    }
}
