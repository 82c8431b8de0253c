//! A verified push that CodePipeline could not start in time, parked in a queue and started
//! later by the same function (the queue is its SQS event source).

use super::start::StartRequest;

/// One start, as the queue carries it: the request exactly as it would have been sent (its
/// `clientRequestToken` makes a second start of it a no-op) and what the newest-push check needs.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ParkedStart {
    pub request: StartRequest,
    /// `refs/heads/x` or `refs/tags/x`.
    pub git_ref: String,
    /// The provider's push time (epoch seconds), when it said.
    pub pushed_at: Option<i64>,
    /// The signed push's facts, for the record of the execution it starts (absent from messages
    /// parked before Gantry kept that record: such an execution is not known to four-eyes).
    #[serde(default)]
    pub facts: Option<super::started::PushFacts>,
}

/// Why a start could not be parked. The text is for logs only.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error("no retry queue is configured (GANTRY_RETRY_QUEUE_URL)")]
    NotConfigured,
    #[error("the retry queue refused the message: {0}")]
    Unavailable(String),
}

/// Whether a push is the newest started for its pipeline and ref.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Newest {
    /// Recorded as the newest (or as new as the newest): go ahead.
    Recorded,
    /// A newer push already started: starting this one would roll the pipeline back.
    Older { newest: i64 },
}

/// What became of a parked start taken from the queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParkedOutcome {
    /// Started (or found already started through its token): the execution id.
    Started(String),
    /// A newer push started meanwhile: dropped.
    Superseded { newest: i64 },
    /// Not started: leave it on the queue (its redrive policy ends in the dead-letter queue).
    Retry(String),
}
