//! A deployment's record as the traffic shifter reads and writes it through `DeploymentStore`:
//! where it stands, the operator's pending command and its Slack message.

use super::{Command, PipelineContext};
use crate::slack::PostedMessage;

/// Where a deployment stands, as the record says (`status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeploymentStatus {
    InProgress,
    /// A rollback started; if the invocation dies, the next one finishes it with this reason.
    RollingBack,
    Succeeded,
    RolledBack,
}

impl DeploymentStatus {
    /// The stored spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            DeploymentStatus::InProgress => "in_progress",
            DeploymentStatus::RollingBack => "rolling_back",
            DeploymentStatus::Succeeded => "succeeded",
            DeploymentStatus::RolledBack => "rolled_back",
        }
    }
}

/// A deployment record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeploymentRecord {
    pub id: String,
    pub context: Option<PipelineContext>,
    /// The deployment as it started (a continuation token).
    pub state: String,
    pub status: DeploymentStatus,
    pub summary: Option<String>,
    /// An operator's command waiting to be acted on, and when it was given (the number as
    /// stored, so clearing it matches exactly what was read).
    pub command: Option<Command>,
    pub command_at: Option<String>,
    /// The version of the Slack controls (Pause, Resume, Extend bake, Continue) the traffic
    /// shifter is at: a click carrying another version is stale.
    pub controls: u32,
    /// The progress message in the execution's Slack thread.
    pub message: Option<PostedMessage>,
}
