//! What the approval flows need of the outside world, in the words of approvals: the approval
//! records, CodePipeline's approval actions, Slack (messages, private replies, the directory of
//! users and groups) and the deployments the Promote / Roll back buttons command. The adapters
//! are in `gantry_adapters` (`dynamodb::approvals`, `codepipeline::approvals`, `slack`,
//! `dynamodb::deploy_commands`); the in-memory fakes the unit tests use are in `testing`.

use super::{
    ActionOutcome, ApprovalCallError, ApprovalRecord, ApprovalSettings, ApprovalState, Approver,
    Closure, CommitSummary, Outcome, StageSuccesses, WaitingApproval,
};
use crate::ingest::StartedPush;
use crate::slack::{Chat, PostedMessage, SlackError};
use crate::store::StoreError;
use crate::traffic::{Command, DeploymentRecord};
use serde_json::Value;
use std::collections::BTreeSet;
use std::future::Future;

/// The result of writing a new approval record.
#[derive(Debug, Clone, PartialEq)]
pub enum Created {
    /// Written: post the request.
    New,
    /// Already there (the other event source, or a redelivery): nothing to post.
    Exists,
    /// Taken over from an attempt that never recorded its post (it crashed, or Slack's answer
    /// was unknown): look for that post before posting again.
    TakenOver,
}

/// The result of claiming the right to decide.
#[derive(Debug, Clone, PartialEq)]
pub enum DecisionClaim {
    /// This click decides; nobody else will until `settle` or `release`.
    Claimed,
    /// Someone else is deciding or has decided: the record as it is now.
    Lost(Box<ApprovalRecord>),
    /// No such record.
    Missing,
}

/// The approval records (the state table in production). Every state change is conditional,
/// so two clicks, a Slack retry and a CodePipeline event racing each other still decide once.
pub trait ApprovalStore {
    /// Writes a new waiting record, unless it exists (a record whose request was never posted
    /// and whose poster's lease ran out is taken over).
    fn create(
        &self,
        record: &ApprovalRecord,
        now: i64,
    ) -> impl Future<Output = Result<Created, StoreError>> + Send;
    /// Reads a record, strongly consistent: a click must see the latest decision.
    fn read(
        &self,
        id: &str,
    ) -> impl Future<Output = Result<Option<ApprovalRecord>, StoreError>> + Send;
    /// Remembers where the request was posted.
    fn set_message(
        &self,
        id: &str,
        at: &PostedMessage,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Makes `record` the latest approval of its action in its execution; returns the id it
    /// replaces, if another.
    fn link_action(
        &self,
        record: &ApprovalRecord,
    ) -> impl Future<Output = Result<Option<String>, StoreError>> + Send;
    /// The latest approval id of an approval action in an execution.
    fn latest_for_action(
        &self,
        pipeline: &str,
        execution_id: &str,
        stage: &str,
        action: &str,
    ) -> impl Future<Output = Result<Option<String>, StoreError>> + Send;
    /// Takes the right to decide: only a waiting record, or one whose decider's lease ran out.
    fn claim(
        &self,
        id: &str,
        by: &Approver,
        now: i64,
    ) -> impl Future<Output = Result<DecisionClaim, StoreError>> + Send;
    /// Records how a claimed approval ended; only the claimant may. False when it no longer
    /// holds the claim.
    fn settle(
        &self,
        id: &str,
        claimant: &str,
        state: &ApprovalState,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
    /// Gives a claimed approval back (CodePipeline could not be reached): others may try.
    fn release(
        &self,
        id: &str,
        claimant: &str,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Closes a waiting approval that ended outside Slack. False when it was not waiting.
    fn close_waiting(
        &self,
        id: &str,
        closure: &Closure,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
    /// The execution's Slack thread, once the notifier has posted it.
    fn execution_thread(
        &self,
        pipeline: &str,
        execution_id: &str,
    ) -> impl Future<Output = Result<Option<PostedMessage>, StoreError>> + Send;
    /// The webhook's record of the push that started the execution; `None` when the webhook
    /// did not start it.
    fn started(
        &self,
        pipeline: &str,
        execution_id: &str,
    ) -> impl Future<Output = Result<Option<StartedPush>, StoreError>> + Send;
    /// The pushes to `own`'s pipeline and ref received before `own`, newest first, down to the
    /// first one the stage ran (`ran`, included) or as far as the history is kept: one query.
    fn pushes_before(
        &self,
        own: &StartedPush,
        ran: &StageSuccesses,
    ) -> impl Future<Output = Result<Vec<StartedPush>, StoreError>> + Send;
}

/// CodePipeline's manual approval actions.
pub trait ApprovalActions {
    /// The approval waiting in `pipeline`/`stage`/`action`, if one is. In PARALLEL mode several
    /// executions wait there at once, each with its own token: `execution_id` (else `token`, as
    /// an SNS notification names it) says which one is meant.
    fn waiting(
        &self,
        pipeline: &str,
        stage: &str,
        action: &str,
        execution_id: Option<&str>,
        token: Option<&str>,
    ) -> impl Future<Output = Result<Option<WaitingApproval>, ApprovalCallError>> + Send;
    /// The action's custom message and review URL, as `execution_id` sees them, and the
    /// approval's lifetime as the action declares it (`timeoutInMinutes`): one answer, so
    /// the pipeline's declaration is read once.
    fn settings(
        &self,
        pipeline: &str,
        stage: &str,
        action: &str,
        execution_id: &str,
    ) -> impl Future<Output = Result<ApprovalSettings, ApprovalCallError>> + Send;
    /// How the action last ended in `execution_id`, if it has.
    fn last_outcome(
        &self,
        pipeline: &str,
        stage: &str,
        action: &str,
        execution_id: &str,
    ) -> impl Future<Output = Result<ActionOutcome, ApprovalCallError>> + Send;
    /// The executions that recently succeeded in `stage`, and the commits they ran
    /// (`ListPipelineExecutions` filtered by `succeededInStage`, newest first, one page).
    fn succeeded_in_stage(
        &self,
        pipeline: &str,
        stage: &str,
    ) -> impl Future<Output = Result<StageSuccesses, ApprovalCallError>> + Send;
    /// The commit the execution runs.
    fn commit(
        &self,
        pipeline: &str,
        execution_id: &str,
    ) -> impl Future<Output = Result<Option<CommitSummary>, ApprovalCallError>> + Send;
    /// `PutApprovalResult`.
    fn decide(
        &self,
        decision: &PipelineDecision<'_>,
    ) -> impl Future<Output = Result<(), ApprovalCallError>> + Send;
}

/// What `PutApprovalResult` is given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PipelineDecision<'a> {
    pub pipeline: &'a str,
    pub stage: &'a str,
    pub action: &'a str,
    pub token: &'a str,
    pub outcome: Outcome,
    pub summary: &'a str,
}

/// Slack messages, plus the private replies a click gets.
pub trait Replies: Chat {
    /// Answers through an interaction's `response_url`.
    fn respond(
        &self,
        response_url: &str,
        body: &Value,
    ) -> impl Future<Output = Result<(), SlackError>> + Send;
    /// `chat.postEphemeral`: a message only `user` sees.
    fn post_ephemeral(
        &self,
        channel: &str,
        user: &str,
        text: &str,
    ) -> impl Future<Output = Result<(), SlackError>> + Send;
}

/// Slack's directory: user group members, users by email.
pub trait Directory {
    /// The members of a user group.
    fn group_members(
        &self,
        group: &str,
    ) -> impl Future<Output = Result<BTreeSet<String>, SlackError>> + Send;
    /// The Slack user id with this email, if any.
    fn user_by_email(
        &self,
        email: &str,
    ) -> impl Future<Output = Result<Option<String>, SlackError>> + Send;
}

/// The result of asking a deployment for a command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommandOutcome {
    Recorded,
    /// Someone asked first: their command stands.
    AlreadyPending(Command),
    /// No such deployment (finished and expired, or never existed).
    Missing,
    /// The click carried another controls' version than the deployment is at: it was made on
    /// an outdated message (or delivered twice), so it changes nothing.
    Stale {
        current: u32,
    },
}

/// The traffic shifter's deployments, as the Promote / Roll back buttons see them.
pub trait DeploymentCommands {
    fn deployment(
        &self,
        id: &str,
    ) -> impl Future<Output = Result<Option<DeploymentRecord>, StoreError>> + Send;
    /// Writes the command if the deployment exists and has none yet: the first click wins. A
    /// versioned command (Pause, Resume, Extend bake, Continue) is written only while the
    /// deployment's controls are at its version.
    fn request(
        &self,
        id: &str,
        command: &Command,
        now: i64,
    ) -> impl Future<Output = Result<CommandOutcome, StoreError>> + Send;
}
