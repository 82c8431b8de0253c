//! What the slash command needs of the outside world, in its own words: the status projection,
//! a way to do work after Slack's three seconds, and (reused from the other features) the
//! pipeline starter, the record of started executions, Slack and its directory.

use super::board::{BoardRun, RowKind};
use super::task::Task;
use crate::store::StoreError;
use std::future::Future;

/// The status projection (the state table's `STATUS` rows in production).
pub trait StatusBoard {
    /// Every stage's rows, of every service: one read, whatever the number of services.
    fn rows(&self) -> impl Future<Output = Result<Vec<(RowKind, BoardRun)>, StoreError>> + Send;
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

/// The proposals waiting for a Confirm (the state table's `OPERATION#` records).
pub trait Confirmations {
    fn create(
        &self,
        c: &super::confirm::Confirmation,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Strongly consistent: a click must see an earlier Confirm.
    fn read(
        &self,
        id: &str,
    ) -> impl Future<Output = Result<Option<super::confirm::Confirmation>, StoreError>> + Send;
    /// Records `by` as the confirmer unless someone already is: true when this click won.
    fn confirm(&self, id: &str, by: &str) -> impl Future<Output = Result<bool, StoreError>> + Send;
}

/// An execution a stage can be rolled back to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RollbackTarget {
    pub execution_id: String,
    pub commit: Option<String>,
}

/// Why CodePipeline did not roll a stage back.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RollbackError {
    /// `UnableToRollbackStageException`: the structure changed since, PARALLEL mode, the target.
    #[error("CodePipeline cannot roll this stage back: {0}")]
    Unable(String),
    /// `ConflictException`: the stage is busy.
    #[error("the pipeline is busy: {0}")]
    Conflict(String),
    #[error("CodePipeline did not answer: {0}")]
    Unavailable(String),
}

/// CodePipeline's stage rollbacks.
pub trait StageRollbacks {
    /// The executions that succeeded in the stage, newest first (one page).
    fn successes(
        &self,
        pipeline: &str,
        stage: &str,
    ) -> impl Future<Output = Result<Vec<RollbackTarget>, RollbackError>> + Send;
    /// `RollbackStage`; returns the new execution's id.
    fn rollback(
        &self,
        pipeline: &str,
        stage: &str,
        target: &str,
    ) -> impl Future<Output = Result<String, RollbackError>> + Send;
}
