//! The facts the figures are computed from, and the figures themselves.
//!
//! A push is the webhook's own record ([`crate::ingest::StartedPush`]): when Gantry received it,
//! which commits it carried. A stage run is one terminal state of one stage of one execution,
//! as CodePipeline's `Stage Execution State Change` event reported it. Both are facts: recording
//! one twice records the same thing, and their order does not matter.

use serde::{Deserialize, Serialize};

/// How far back a rollback still blames the deployment before it: a stage rolled back within
/// this long after a deployment succeeded counts that deployment as failed.
pub const ROLLBACK_WINDOW_MS: i64 = 24 * 3600 * 1000;

/// What an execution was for, as CodePipeline's trigger says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunKind {
    /// A change (a push, a release, a re-run): a deployment when it reaches a stage.
    Change,
    /// `RollbackStage` (Slack's *Roll back*, `/gantry rollback`, the console): CodePipeline's
    /// trigger type `ManualRollback`.
    ManualRollback,
    /// CodePipeline's own rollback of a failed stage (`AutomatedRollback`).
    AutomatedRollback,
}

impl RunKind {
    /// The kind of an execution whose trigger type CodePipeline reports as `trigger_type`.
    pub fn of_trigger(trigger_type: Option<&str>) -> Self {
        match trigger_type {
            Some("ManualRollback") => RunKind::ManualRollback,
            Some("AutomatedRollback") => RunKind::AutomatedRollback,
            _ => RunKind::Change,
        }
    }

    pub fn is_rollback(self) -> bool {
        self != RunKind::Change
    }
}

/// How a stage run ended. `Superseded`, `Canceled` and `Abandoned` never entered the stage, so
/// they are not runs at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunOutcome {
    Succeeded,
    Failed,
    /// Stopped by someone (`StopPipelineExecution`) while the stage ran: what the stage runs
    /// may be half-changed, so it counts as a failure.
    Stopped,
}

impl RunOutcome {
    pub fn succeeded(self) -> bool {
        self == RunOutcome::Succeeded
    }
}

/// One stage of one execution reaching a terminal state.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct StageRun {
    pub pipeline: String,
    pub stage: String,
    pub execution_id: String,
    pub kind: RunKind,
    pub outcome: RunOutcome,
    /// When the stage reached `outcome` (the event's time), epoch milliseconds.
    pub at_ms: i64,
    /// The commit the execution runs (the webhook's record, else CodePipeline's trigger).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
    /// The ref it came from (`refs/heads/main`), where lead time looks for its pushes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub git_ref: Option<String>,
    /// The execution's Slack thread, for links in the weekly view.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thread: Option<String>,
}

/// The four metric names, as `INTERFACES.md` spells them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Metric {
    Deployments,
    LeadTimeSeconds,
    FailedDeployments,
    TimeToRestoreSeconds,
}

impl Metric {
    pub const ALL: [Metric; 4] = [
        Metric::Deployments,
        Metric::LeadTimeSeconds,
        Metric::FailedDeployments,
        Metric::TimeToRestoreSeconds,
    ];

    pub const fn name(self) -> &'static str {
        match self {
            Metric::Deployments => "Deployments",
            Metric::LeadTimeSeconds => "LeadTimeSeconds",
            Metric::FailedDeployments => "FailedDeployments",
            Metric::TimeToRestoreSeconds => "TimeToRestoreSeconds",
        }
    }

    /// CloudWatch's unit.
    pub const fn unit(self) -> &'static str {
        match self {
            Metric::Deployments | Metric::FailedDeployments => "Count",
            Metric::LeadTimeSeconds | Metric::TimeToRestoreSeconds => "Seconds",
        }
    }
}

/// A half-open time range `[from_ms, to_ms)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Period {
    pub from_ms: i64,
    pub to_ms: i64,
}

impl Period {
    /// The `days` days that end at `end_ms`.
    pub fn days_before(end_ms: i64, days: i64) -> Self {
        Period {
            from_ms: end_ms - days * 24 * 3600 * 1000,
            to_ms: end_ms,
        }
    }

    pub fn contains(&self, at_ms: i64) -> bool {
        (self.from_ms..self.to_ms).contains(&at_ms)
    }
}

/// The four keys of one stage over a window.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StageFigures {
    pub stage: String,
    /// Deployments whose first run ended in the window.
    pub deployments: u64,
    /// Of those, the failed ones.
    pub failed: u64,
    /// `failed / deployments`; `None` without deployments.
    pub change_failure_rate: Option<f64>,
    /// Lead times of deployments that succeeded in the window, seconds.
    pub lead_time_p50: Option<f64>,
    pub lead_time_p90: Option<f64>,
    /// Times to restore of restorations that ended in the window, seconds.
    pub time_to_restore_p50: Option<f64>,
    pub time_to_restore_p90: Option<f64>,
}

/// The four keys of every stage of one pipeline over a window, stages by name.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Figures {
    pub pipeline: String,
    pub window: Option<Period>,
    pub stages: Vec<StageFigures>,
}
