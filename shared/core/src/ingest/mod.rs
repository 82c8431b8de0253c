//! Webhook ingestion: a Git provider's HTTP delivery in, pipeline executions out.
//!
//! `Ingest::handle` is the whole webhook behaviour over plain data (`Inbound` → `Answer`); the
//! Lambda adapter only converts HTTP, and the ports (`ports.rs`: `DeliveryLedger`,
//! `PipelineStarter`, `RetryQueue`, `PushHistory`, `StartedPushes`) are where AWS comes in.

mod delivery;
mod flow;
mod parked;
mod ports;
pub mod push;
pub mod routing;
mod start;
mod started;
#[cfg(test)]
pub(crate) mod testing;

pub use delivery::{Delivery, EventKind, Inbound};
pub use flow::{body_hash, Answer, Ingest, QueuedMessage, StartRetryPolicy};
pub use parked::{Newest, ParkedOutcome, ParkedStart, QueueError};
pub use ports::{
    Claim, DeliveryId, DeliveryLedger, IngestPorts, NoRetryQueue, PipelineStarter, PushHistory,
    RetryQueue, StartedPushes,
};
pub use start::{
    client_request_token, StartError, StartRequest, Variable, MAX_VARIABLE_VALUE, UNSET_VARIABLE,
};
pub use started::{PushFacts, StartedPush, MAX_RECORDED_COMMITS, PUSH_HISTORY_SECONDS};

/// The default body limit: Lambda's own synchronous request limit.
pub const DEFAULT_MAX_BODY_BYTES: u64 = 6 * 1024 * 1024;
