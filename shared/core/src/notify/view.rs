//! What each part of an execution shows: the words and the order a person reads.

use super::execution::Execution;
use super::status::Status;

/// A pipeline's or stage's state as shown in Slack and SNS texts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shown {
    Queued,
    Running,
    WaitingForApproval,
    Stopping,
    Succeeded,
    Failed,
    Stopped,
    Superseded,
    Canceled,
    /// The execution ended before reaching it.
    NotRun,
}

impl Shown {
    pub const fn label(self) -> &'static str {
        match self {
            Shown::Queued => "queued",
            Shown::Running => "running",
            Shown::WaitingForApproval => "waiting for approval",
            Shown::Stopping => "stopping",
            Shown::Succeeded => "succeeded",
            Shown::Failed => "failed",
            Shown::Stopped => "stopped",
            Shown::Superseded => "superseded",
            Shown::Canceled => "cancelled",
            Shown::NotRun => "not run",
        }
    }

    /// The Slack emoji (shortcode) in front of the name.
    pub const fn emoji(self) -> &'static str {
        match self {
            Shown::Queued => ":white_circle:",
            Shown::Running => ":large_blue_circle:",
            Shown::WaitingForApproval => ":raised_hand:",
            Shown::Stopping => ":double_vertical_bar:",
            Shown::Succeeded => ":white_check_mark:",
            Shown::Failed => ":x:",
            Shown::Stopped => ":black_square_for_stop:",
            Shown::Superseded => ":fast_forward:",
            Shown::Canceled => ":heavy_multiplication_x:",
            Shown::NotRun => ":heavy_minus_sign:",
        }
    }

    /// True when the state says nothing beyond its emoji (done, or not started).
    pub const fn is_quiet(self) -> bool {
        matches!(self, Shown::Succeeded | Shown::Queued | Shown::NotRun)
    }

    fn of(status: Status) -> Shown {
        match status {
            Status::Started | Status::Resumed => Shown::Running,
            Status::Stopping => Shown::Stopping,
            Status::Stopped => Shown::Stopped,
            Status::Succeeded => Shown::Succeeded,
            Status::Failed => Shown::Failed,
            Status::Superseded => Shown::Superseded,
            Status::Canceled | Status::Abandoned => Shown::Canceled,
        }
    }
}

/// One stage (or action) line item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    pub name: String,
    pub shown: Shown,
}

/// The execution's own state. Any stage or action event proves it has started.
pub fn pipeline_shown(e: &Execution) -> Shown {
    match e.status {
        Some(s) if s.status.is_final() || s.status == Status::Stopping => Shown::of(s.status),
        _ if stages(e)
            .iter()
            .any(|s| s.shown == Shown::WaitingForApproval) =>
        {
            Shown::WaitingForApproval
        }
        _ => Shown::Running,
    }
}

/// Every stage in order with its state.
pub fn stages(e: &Execution) -> Vec<Item> {
    e.stage_names()
        .into_iter()
        .map(|name| {
            let shown = stage_shown(e, &name);
            Item { name, shown }
        })
        .collect()
}

/// The actions of a stage in order with their state.
pub fn actions(e: &Execution, stage: &str) -> Vec<Item> {
    let ended = e.outcome().map(|o| o.status);
    e.action_names(stage)
        .into_iter()
        .map(|name| {
            let status = e.action(stage, &name).and_then(|a| a.status);
            let shown = match (status, ended) {
                (Some(s), _) if s.status.is_final() => Shown::of(s.status),
                (Some(_), Some(end)) => after_end(end, true),
                (Some(s), None) => Shown::of(s.status),
                (None, Some(end)) => after_end(end, false),
                (None, None) => Shown::Queued,
            };
            Item { name, shown }
        })
        .collect()
}

fn stage_shown(e: &Execution, name: &str) -> Shown {
    let stage = e.stage(name);
    let ended = e.outcome().map(|o| o.status);
    let status = stage.and_then(|s| s.status).map(|s| s.status);
    // Stage events can be late or lost; its actions still show it has started.
    let touched = status.is_some() || stage.is_some_and(|s| !s.actions.is_empty());
    let waiting = stage.is_some_and(|s| {
        s.actions
            .iter()
            .any(|a| a.is_approval() && a.status.is_some_and(|st| !st.status.is_final()))
    });
    match (status, ended) {
        (Some(s), _) if s.is_final() => Shown::of(s),
        (_, Some(end)) => after_end(end, touched),
        (_, None) if waiting => Shown::WaitingForApproval,
        (Some(s), None) => Shown::of(s),
        (None, None) if touched => Shown::Running,
        (None, None) => Shown::Queued,
    }
}

/// What a stage or action that never finished shows once the execution has ended.
fn after_end(end: Status, started: bool) -> Shown {
    match end {
        Status::Superseded => Shown::Superseded,
        Status::Stopped => Shown::Stopped,
        Status::Canceled | Status::Abandoned => Shown::Canceled,
        Status::Failed if started => Shown::Failed,
        Status::Succeeded if started => Shown::Succeeded,
        _ => Shown::NotRun,
    }
}

/// `4m 12s`, `1h 02m`, `35s`.
pub fn duration(seconds: i64) -> String {
    let s = seconds.max(0);
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}m {:02}s", s / 60, s % 60),
        _ => format!("{}h {:02}m", s / 3600, (s % 3600) / 60),
    }
}

/// The execution's page in the AWS console.
pub fn console_url(e: &Execution) -> String {
    let region = if e.region.is_empty() {
        "us-east-1"
    } else {
        e.region.as_str()
    };
    format!(
        "https://{region}.console.aws.amazon.com/codesuite/codepipeline/pipelines/{}/executions/{}/timeline?region={region}",
        e.pipeline, e.execution_id
    )
}

/// The first 8 characters of the execution id, as the console shows it.
pub fn short_id(e: &Execution) -> String {
    e.execution_id.chars().take(8).collect()
}
