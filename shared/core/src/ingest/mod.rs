//! Webhook ingestion: a Git provider's HTTP delivery in, pipeline executions out.
//!
//! `Ingest::handle` is the whole webhook behaviour over plain data (`Inbound` → `Answer`); the
//! Lambda adapter only converts HTTP, and the two ports (`PipelineStarter`, `DeliveryLedger`)
//! are where AWS comes in.

mod delivery;
mod flow;
mod parked;
pub mod push;
pub mod routing;
mod start;
mod started;

pub use delivery::{Delivery, EventKind, Inbound};
pub use flow::{body_hash, Answer, Ingest, QueuedMessage, StartRetryPolicy};
pub use parked::{
    Newest, NoRetryQueue, ParkedOutcome, ParkedStart, PushHistory, QueueError, RetryQueue,
};
pub use start::{
    client_request_token, PipelineStarter, StartError, StartRequest, Variable, MAX_VARIABLE_VALUE,
    UNSET_VARIABLE,
};
pub use started::{
    PushFacts, StartedPush, StartedPushes, MAX_RECORDED_COMMITS, PUSH_HISTORY_SECONDS,
};

use crate::store::StoreError;

/// The default body limit: Lambda's own synchronous request limit.
pub const DEFAULT_MAX_BODY_BYTES: u64 = 6 * 1024 * 1024;

/// A delivery's identity: which provider sent it, and the SHA-256 of its raw body. The body is
/// what the signature covers; delivery-id headers are not signed, so a replay can change them.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DeliveryId {
    /// `github` or `gitlab`.
    pub provider: String,
    /// Hex SHA-256 of the raw body.
    pub id: String,
}

/// The result of claiming a delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    /// First time seen: go ahead.
    New,
    /// Already handled: start nothing.
    Duplicate,
    /// Another invocation is handling it right now.
    InFlight,
}

/// The port that remembers deliveries (the state table in production).
pub trait DeliveryLedger {
    fn claim(
        &self,
        delivery: &DeliveryId,
        now: i64,
    ) -> impl std::future::Future<Output = Result<Claim, StoreError>> + Send;
    /// Marks the delivery handled, with a short summary of what it started.
    fn complete(
        &self,
        delivery: &DeliveryId,
        summary: &str,
    ) -> impl std::future::Future<Output = Result<(), StoreError>> + Send;
    /// Forgets a pending claim so the provider's retry can succeed.
    fn release(
        &self,
        delivery: &DeliveryId,
    ) -> impl std::future::Future<Output = Result<(), StoreError>> + Send;
}
