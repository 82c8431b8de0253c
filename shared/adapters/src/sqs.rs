//! SQS: the webhook's retry queue (`GANTRY_RETRY_QUEUE_URL`), where a verified push waits when
//! CodePipeline cannot start it in time.

use gantry_core::ingest::{ParkedStart, QueueError, RetryQueue};

/// `RetryQueue` on SQS.
#[derive(Debug, Clone)]
pub struct SqsRetryQueue {
    pub client: aws_sdk_sqs::Client,
    pub url: String,
}

impl RetryQueue for SqsRetryQueue {
    async fn park(&self, start: &ParkedStart) -> Result<(), QueueError> {
        let body = start
            .to_body()
            .map_err(|e| QueueError::Unavailable(e.to_string()))?;
        self.client
            .send_message()
            .queue_url(&self.url)
            .message_body(body)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| {
                QueueError::Unavailable(aws_sdk_sqs::error::DisplayErrorContext(e).to_string())
            })
    }
}

/// Either retry queue: SQS when `GANTRY_RETRY_QUEUE_URL` is set, else none.
#[derive(Debug, Clone)]
pub enum RetryQueueOption {
    Sqs(SqsRetryQueue),
    None,
}

impl RetryQueue for RetryQueueOption {
    async fn park(&self, start: &ParkedStart) -> Result<(), QueueError> {
        match self {
            RetryQueueOption::Sqs(q) => q.park(start).await,
            RetryQueueOption::None => Err(QueueError::NotConfigured),
        }
    }
}
