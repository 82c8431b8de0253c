//! The notifier's ports: the state table (`ExecutionStore`), CodePipeline's read API
//! (`PipelineDetails`) and SNS (`Topic`), with the records they carry. Slack's port, `Chat`, is
//! shared by every feature and lives in `crate::slack`.

use super::event::ActionResult;
use super::execution::{DeclaredStage, Execution};
use super::sns;
use super::trigger::ExecutionFacts;
use super::ExecutionRef;
use crate::slack::{Chat, PostedMessage};
use crate::store::StoreError;
use std::collections::BTreeSet;
use std::future::Future;

/// The systems the notifier speaks to, named once, as `ApprovalPorts` and `ShifterPorts` name
/// theirs: `Notifier<P>` then needs one type parameter, whatever its ports are.
pub trait NotifyPorts {
    type Store: ExecutionStore + Sync;
    type Details: PipelineDetails + Sync;
    type Chat: Chat + Sync;
    type Topic: Topic + Sync;
}

/// An execution's record in the state table: the merged execution and what each sink has
/// delivered of it.
#[derive(Debug, Clone, PartialEq)]
pub struct ExecutionRecord {
    pub execution: Execution,
    /// Incremented by every save; saves are conditional on it (optimistic concurrency).
    pub version: u64,
    pub slack: SlackMemory,
    /// Ids of the notices published to SNS.
    pub sns_sent: BTreeSet<String>,
}

/// What Slack has of an execution.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SlackMemory {
    /// The parent message (`channel`, `ts` in the table, which other functions read).
    pub message: Option<PostedMessage>,
    /// Digest of the parent message content Slack shows.
    pub rendered: Option<String>,
    /// Ids of the notices replied in the thread.
    pub replies: BTreeSet<String>,
    /// A Slack error no retry can fix: Slack is not tried again for this execution.
    pub gave_up: Option<String>,
    /// Posts whose outcome Slack left open (`SlackError::MaybePosted`): `parent` or notice ids.
    /// Before posting one of these again, Slack is searched for it.
    pub uncertain: BTreeSet<String>,
}

/// One delivery to remember.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivered {
    SlackPosted {
        message: PostedMessage,
        rendered: String,
    },
    SlackUpdated {
        rendered: String,
    },
    SlackReplied {
        notice: String,
    },
    SlackGaveUp {
        error: String,
    },
    /// A post (`parent` or a notice id) that may or may not be in Slack.
    SlackUncertain {
        post: String,
    },
    Published {
        notice: String,
    },
}

/// A delivery channel, each with its own lock so one being slow never holds the other.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sink {
    Slack,
    Sns,
}

impl Sink {
    pub const fn name(self) -> &'static str {
        match self {
            Sink::Slack => "slack",
            Sink::Sns => "sns",
        }
    }
}

/// The port onto the state table.
pub trait ExecutionStore {
    fn load(
        &self,
        execution: &ExecutionRef,
    ) -> impl Future<Output = Result<Option<ExecutionRecord>, StoreError>> + Send;
    /// Saves the execution if the record is still at `expected` (`None`: does not exist yet).
    /// `Ok(false)` when someone else saved first.
    fn save(
        &self,
        execution: &ExecutionRef,
        execution: &Execution,
        expected: Option<u64>,
        now: i64,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
    /// Takes `sink`'s lease on the record for `owner` if it is free or expired.
    fn lock(
        &self,
        execution: &ExecutionRef,
        sink: Sink,
        owner: &str,
        now: i64,
        lease_seconds: i64,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
    /// Gives the lease back (only if `owner` still holds it).
    fn unlock(
        &self,
        execution: &ExecutionRef,
        sink: Sink,
        owner: &str,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    fn remember(
        &self,
        execution: &ExecutionRef,
        delivered: &Delivered,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// The Slack user who started the execution with `/gantry` (the slash command's record of
    /// the start), if it did: a rollback's message names them rather than a push.
    fn started_from_slack(
        &self,
        pipeline: &str,
        execution_id: &str,
    ) -> impl Future<Output = Result<Option<String>, StoreError>> + Send {
        let _ = (pipeline, execution_id);
        async { Ok(None) }
    }
}

/// An action execution as `ListActionExecutions` reports it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ActionRun {
    pub stage: String,
    pub action: String,
    /// `InProgress`, `Succeeded`, `Failed`, `Abandoned`.
    pub status: String,
    pub category: Option<String>,
    pub result: ActionResult,
    pub external_url: Option<String>,
    pub variables: Vec<(String, String)>,
}

/// Why CodePipeline could not tell more. The notification goes out with what events carry.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[error("CodePipeline {operation} for {pipeline}: {reason}")]
pub struct DetailsError {
    pub operation: &'static str,
    pub pipeline: String,
    pub reason: String,
}

/// The port onto CodePipeline's read API.
pub trait PipelineDetails {
    /// `GetPipelineExecution`: variables, artifact revisions, trigger (no source outputs).
    fn execution(
        &self,
        pipeline: &str,
        execution_id: &str,
    ) -> impl Future<Output = Result<ExecutionFacts, DetailsError>> + Send;
    /// `GetPipeline`: the declared stages and actions.
    fn layout(
        &self,
        pipeline: &str,
        version: Option<i64>,
    ) -> impl Future<Output = Result<Vec<DeclaredStage>, DetailsError>> + Send;
    /// `ListActionExecutions` of one execution, newest first.
    fn actions(
        &self,
        pipeline: &str,
        execution_id: &str,
    ) -> impl Future<Output = Result<Vec<ActionRun>, DetailsError>> + Send;
}

/// Why SNS did not take a notification.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[error("SNS topic {topic}: {reason}")]
pub struct PublishError {
    pub topic: String,
    pub reason: String,
}

/// The port onto SNS.
pub trait Topic {
    fn publish(
        &self,
        notification: &sns::SnsNotification,
    ) -> impl Future<Output = Result<(), PublishError>> + Send;
}
