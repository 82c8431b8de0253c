//! A deployment's record as the traffic shifter reads and writes it through `DeploymentStore`:
//! where it stands, the operator's pending command and its Slack message.

use crate::slack::PostedMessage;
use crate::traffic::{Command, PipelineContext};

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
    /// The last continuation token handed to CodePipeline, as its digest: a token is believed
    /// only if it is that one (`Deployment::check_handed_over`).
    pub handed_over: Option<HandOver>,
    /// Who last drove the deployment and when: what the scheduled sweep judges it by.
    pub watch: Watch,
}

/// Who last drove a deployment, and the last sign that one did (`traffic::phases::sweep` reads it).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Watch {
    /// The hand-over number of the invocation that last took the deployment (`seq`).
    pub seq: Option<u32>,
    /// Its lease, epoch milliseconds; 0 once it released the deployment (`lease_until`).
    pub lease_until_ms: i64,
    /// When the last holder released the deployment, epoch milliseconds.
    pub released_ms: i64,
    /// When the record was created, epoch milliseconds.
    pub created_ms: i64,
    /// The last job CodePipeline gave this deployment's action, as far as the shifter saw:
    /// the one the sweep fails. `None`: the first job (the deployment's own id).
    pub job_id: Option<String>,
    /// The action's `UserParameters`, as CodePipeline confirmed them: what the sweep rolls
    /// back with.
    pub user_parameters: Option<String>,
}

/// A continuation token the shifter handed over: its hand-over number and SHA-256 (hex).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandOver {
    pub seq: u32,
    pub digest: String,
}

impl HandOver {
    pub fn of(seq: u32, token: &str) -> Self {
        use sha2::{Digest, Sha256};
        Self {
            seq,
            digest: hex::encode(Sha256::digest(token.as_bytes())),
        }
    }
}
