//! The webhook's ports: where a delivery, a start, a parked push and a started push's record
//! leave the pure core. The adapters implement them (`gantry_adapters`); the flow
//! (`ingest::flow`) is generic over them.

use super::parked::{Newest, ParkedStart, QueueError};
use super::start::{StartError, StartRequest};
use super::started::StartedPush;
use crate::store::StoreError;

/// The systems the webhook speaks to, named once, as `ApprovalPorts` and `ShifterPorts` name
/// theirs: `Ingest<P>` then needs one type parameter, whatever its ports are.
pub trait IngestPorts {
    type Starter: PipelineStarter;
    /// The state table: deliveries seen, each ref's newest push, the executions started.
    type Ledger: DeliveryLedger + PushHistory + StartedPushes;
    /// Where a verified push waits when CodePipeline cannot start it in time (`NoRetryQueue`
    /// when there is none).
    type Queue: RetryQueue;
}

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

/// The port the webhook uses to start executions.
pub trait PipelineStarter {
    /// Starts an execution; returns its id.
    fn start(
        &self,
        request: &StartRequest,
    ) -> impl std::future::Future<Output = Result<String, StartError>> + Send;
}

/// The port where a verified push waits to be started later.
pub trait RetryQueue {
    fn park(
        &self,
        start: &ParkedStart,
    ) -> impl std::future::Future<Output = Result<(), QueueError>> + Send;
}

/// No queue: a start that keeps failing is answered 5xx and left to the provider's retry.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoRetryQueue;

impl RetryQueue for NoRetryQueue {
    async fn park(&self, _start: &ParkedStart) -> Result<(), QueueError> {
        Err(QueueError::NotConfigured)
    }
}

/// The port that remembers, per pipeline and ref, the newest push started.
pub trait PushHistory {
    /// Records `pushed_at` for `pipeline` and `git_ref` unless a newer push is recorded.
    fn advance(
        &self,
        pipeline: &str,
        git_ref: &str,
        pushed_at: i64,
    ) -> impl std::future::Future<Output = Result<Newest, StoreError>> + Send;
}

/// The port that keeps the record of each started execution (the state table in production):
/// the execution's own record, and its place in the ref's history of pushes.
pub trait StartedPushes {
    /// Records `started`; writing it twice writes the same record.
    fn record_start(
        &self,
        started: &StartedPush,
    ) -> impl std::future::Future<Output = Result<(), StoreError>> + Send;
}
