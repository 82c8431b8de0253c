//! The retry queue's batches (SQS): each parked push started once, or dropped when a newer push
//! started meanwhile; the messages still failing stay on the queue for the next try (and, after
//! the queue's redrive limit, go to its dead-letter queue).

use super::Ingest;
use crate::ingest::parked::{ParkedOutcome, ParkedStart};
use crate::ingest::ports::IngestPorts;

/// One message of a batch: its id and body, as the queue delivered them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueuedMessage<'a> {
    pub id: &'a str,
    pub body: Option<&'a str>,
}

impl<P: IngestPorts> Ingest<P> {
    /// Starts each message's parked push; returns the ids of the messages to leave on the queue
    /// (SQS's partial batch failures).
    pub async fn start_parked_batch<'a>(
        &self,
        messages: impl IntoIterator<Item = QueuedMessage<'a>>,
    ) -> Vec<&'a str> {
        let mut failures = Vec::new();
        for message in messages {
            let parked = match message.body.map(ParkedStart::from_body) {
                Some(Ok(p)) => p,
                Some(Err(e @ crate::ingest::parked::BodyError::TooNew(_))) => {
                    // Left on the queue: a newer release parked it, and during a stack update
                    // the newer code takes the queue over. Past the redrive limit it waits in
                    // the dead-letter queue, never started from a misread body.
                    tracing::warn!(message_id = message.id, error = %e, "retry queue message left for a newer release");
                    failures.push(message.id);
                    continue;
                }
                _ => {
                    // Not ours: the redrive policy moves it to the dead-letter queue.
                    tracing::error!(
                        message_id = message.id,
                        "retry queue message is not a parked start"
                    );
                    failures.push(message.id);
                    continue;
                }
            };
            let pipeline = &parked.request.pipeline;
            match self.start_parked(&parked).await {
                ParkedOutcome::Started(execution_id) => tracing::info!(
                    pipeline,
                    execution_id,
                    commit = parked.request.commit_id,
                    "started parked push"
                ),
                ParkedOutcome::Superseded { newest } => tracing::warn!(
                    pipeline,
                    newest,
                    "parked push dropped: a newer push already started"
                ),
                ParkedOutcome::Retry(reason) => {
                    tracing::warn!(pipeline, reason, "parked push not started yet");
                    failures.push(message.id);
                }
            }
        }
        failures
    }
}
