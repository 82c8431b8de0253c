//! The slash command's `Later` on Lambda: the function invokes itself asynchronously
//! (`InvocationType: Event`) with the task, so the work runs after Slack has its answer.
//!
//! Why not a queue: a self-invocation needs no resource beyond the function (one
//! `lambda:InvokeFunction` on itself), Lambda queues the event and retries it twice on an
//! error, and the task is a few hundred bytes of the 256 KB an asynchronous event may carry.

use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::InvocationType;
use gantry_core::operate::{DeferError, Later, Task};

/// `Later` by asynchronous self-invocation.
#[derive(Debug, Clone)]
pub struct LambdaLater {
    pub client: aws_sdk_lambda::Client,
    /// The function's own name (`AWS_LAMBDA_FUNCTION_NAME`).
    pub function: String,
}

impl Later for LambdaLater {
    async fn defer(&self, task: &Task) -> Result<(), DeferError> {
        self.client
            .invoke()
            .function_name(&self.function)
            .invocation_type(InvocationType::Event)
            .payload(Blob::new(task.to_event().to_string().into_bytes()))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| DeferError(aws_sdk_lambda::error::DisplayErrorContext(e).to_string()))
    }
}
