//! What the slash command needs of the outside world, in its own words: the status projection,
//! a way to do work after Slack's three seconds, and (reused from the other features) the
//! pipeline starter, the record of started executions, Slack and its directory.

use super::board::{RowKind, StageRun};
use super::task::Task;
use crate::store::StoreError;
use std::future::Future;

/// The status projection (the state table's `STATUS` rows in production).
pub trait StatusBoard {
    /// Every stage's rows, of every service: one read, whatever the number of services.
    fn rows(&self) -> impl Future<Output = Result<Vec<(RowKind, StageRun)>, StoreError>> + Send;
}

/// Why a task could not be handed over for later.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("could not hand the work over: {0}")]
pub struct DeferError(pub String);

/// Work done after the acknowledgement (an asynchronous invocation of the function itself in
/// production): Slack wants its answer within three seconds, and an operation may take longer.
pub trait Later {
    fn defer(&self, task: &Task) -> impl Future<Output = Result<(), DeferError>> + Send;
}
