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

impl DeploymentRecord {
    /// The record as this release takes one a newer release wrote (`schema::TooNew`): a
    /// deployment still moving is rolled back, with the thread told why, and a finished one
    /// stays as it ended. Rolled back rather than left for the newer code: expand, then contract
    /// (`docs/release.md`) means a newer version is met only after Gantry itself was taken back
    /// past a release, so no newer code is left to finish it, and leaving it would strand
    /// traffic on a version nobody watches. The rollback needs only the start the continuation
    /// token holds, which keeps its own version.
    pub fn too_new(mut self, e: &crate::schema::TooNew) -> Self {
        if matches!(
            self.status,
            DeploymentStatus::InProgress | DeploymentStatus::RollingBack
        ) {
            if self.status == DeploymentStatus::InProgress {
                self.summary = Some(format!(
                    "Rolled back: this deployment was {e}, which this release cannot continue safely."
                ));
            }
            self.status = DeploymentStatus::RollingBack;
            // A newer release's pending command is not acted on.
            self.command = None;
            self.command_at = None;
        }
        self
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::TooNew;

    fn record(status: DeploymentStatus) -> DeploymentRecord {
        DeploymentRecord {
            id: "job-1".into(),
            context: None,
            state: "{}".into(),
            status,
            summary: None,
            command: Some(Command::Promote { by: "U1".into() }),
            command_at: Some("5".into()),
            controls: 0,
            message: None,
            handed_over: None,
            watch: Watch::default(),
        }
    }

    #[test]
    fn a_moving_deployment_a_newer_release_wrote_is_rolled_back_saying_why() {
        let too_new = TooNew { found: "2".into() };
        let r = record(DeploymentStatus::InProgress).too_new(&too_new);
        assert_eq!(r.status, DeploymentStatus::RollingBack);
        let summary = r.summary.unwrap_or_default();
        assert!(summary.contains("newer Gantry"), "{summary}");
        assert_eq!(r.command, None, "a newer release's command is not acted on");
    }

    #[test]
    fn a_finished_deployment_a_newer_release_wrote_stays_as_it_ended() {
        let too_new = TooNew { found: "2".into() };
        for status in [DeploymentStatus::Succeeded, DeploymentStatus::RolledBack] {
            assert_eq!(record(status).too_new(&too_new).status, status);
        }
        // A rollback the newer release began keeps its own reason.
        let mut rolling = record(DeploymentStatus::RollingBack);
        rolling.summary = Some("alarm".into());
        assert_eq!(rolling.too_new(&too_new).summary.as_deref(), Some("alarm"));
    }
}
