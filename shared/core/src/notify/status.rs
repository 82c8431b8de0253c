//! CodePipeline's execution states and the order that keeps a message from moving backwards.
//!
//! EventBridge delivers at least once and in any order. Each pipeline, stage and action keeps the
//! greatest `Stamped` status it has seen, where greater means later (event time), then further
//! along (started < stopping < finished), then a fixed tie-break. Taking a maximum is
//! commutative, associative and idempotent, so the same events in any order, repeated any number
//! of times, leave the same state; a late STARTED never undoes a SUCCEEDED, while a retried stage
//! (RESUMED after FAILED, later in time) still moves on.

use serde::{Deserialize, Serialize};
use std::cmp::Ordering;

/// A state of a pipeline execution, stage execution or action execution, as CodePipeline names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Status {
    Started,
    Resumed,
    Stopping,
    Stopped,
    Succeeded,
    Failed,
    Superseded,
    Canceled,
    Abandoned,
}

/// How serious a state is, for SNS filter policies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Info,
    Warning,
    Error,
}

impl Severity {
    pub const fn name(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Error => "error",
        }
    }
}

impl Status {
    /// Parses CodePipeline's spelling (`STARTED`, `SUCCEEDED`, …).
    pub fn parse(raw: &str) -> Option<Self> {
        Some(match raw.trim().to_ascii_uppercase().as_str() {
            "STARTED" => Status::Started,
            "RESUMED" => Status::Resumed,
            "STOPPING" => Status::Stopping,
            "STOPPED" => Status::Stopped,
            "SUCCEEDED" => Status::Succeeded,
            "FAILED" => Status::Failed,
            "SUPERSEDED" => Status::Superseded,
            "CANCELED" | "CANCELLED" => Status::Canceled,
            "ABANDONED" => Status::Abandoned,
            _ => return None,
        })
    }

    /// CodePipeline's spelling.
    pub const fn name(self) -> &'static str {
        match self {
            Status::Started => "STARTED",
            Status::Resumed => "RESUMED",
            Status::Stopping => "STOPPING",
            Status::Stopped => "STOPPED",
            Status::Succeeded => "SUCCEEDED",
            Status::Failed => "FAILED",
            Status::Superseded => "SUPERSEDED",
            Status::Canceled => "CANCELED",
            Status::Abandoned => "ABANDONED",
        }
    }

    /// True once nothing more will happen (until a retry resumes it).
    pub const fn is_final(self) -> bool {
        !matches!(self, Status::Started | Status::Resumed | Status::Stopping)
    }

    /// How far along the state is: running, stopping, finished.
    const fn progress(self) -> u8 {
        match self {
            Status::Started | Status::Resumed => 1,
            Status::Stopping => 2,
            _ => 3,
        }
    }

    /// A fixed order among states of equal time and progress, so that the maximum is unique.
    const fn tie_break(self) -> u8 {
        match self {
            Status::Started => 0,
            Status::Resumed => 1,
            Status::Stopping => 2,
            Status::Succeeded => 3,
            Status::Abandoned => 4,
            Status::Canceled => 5,
            Status::Superseded => 6,
            Status::Stopped => 7,
            Status::Failed => 8,
        }
    }

    pub const fn severity(self) -> Severity {
        match self {
            Status::Failed => Severity::Error,
            Status::Stopping
            | Status::Stopped
            | Status::Superseded
            | Status::Canceled
            | Status::Abandoned => Severity::Warning,
            Status::Started | Status::Resumed | Status::Succeeded => Severity::Info,
        }
    }
}

/// A status and the time (epoch seconds) of the event that reported it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stamped {
    pub status: Status,
    pub at: i64,
}

impl Stamped {
    fn key(&self) -> (i64, u8, u8) {
        (self.at, self.status.progress(), self.status.tie_break())
    }
}

impl PartialOrd for Stamped {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Stamped {
    fn cmp(&self, other: &Self) -> Ordering {
        self.key().cmp(&other.key())
    }
}

/// Keeps the later of `current` and `incoming`; true when `incoming` won (the state moved on).
pub fn advance(current: &mut Option<Stamped>, incoming: Stamped) -> bool {
    match current {
        Some(c) if *c >= incoming => false,
        _ => {
            *current = Some(incoming);
            true
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(status: Status, at: i64) -> Stamped {
        Stamped { status, at }
    }

    #[test]
    fn a_late_started_never_undoes_succeeded() {
        let mut s = None;
        assert!(advance(&mut s, at(Status::Succeeded, 20)));
        assert!(!advance(&mut s, at(Status::Started, 10)));
        // Same second: finished beats started.
        assert!(!advance(&mut s, at(Status::Started, 20)));
        assert_eq!(s.unwrap().status, Status::Succeeded);
    }

    #[test]
    fn a_retry_later_in_time_moves_a_failed_stage_on() {
        let mut s = Some(at(Status::Failed, 20));
        assert!(advance(&mut s, at(Status::Resumed, 90)));
        assert_eq!(s.unwrap().status, Status::Resumed);
    }

    #[test]
    fn the_same_event_twice_changes_nothing() {
        let mut s = Some(at(Status::Started, 5));
        assert!(!advance(&mut s, at(Status::Started, 5)));
    }

    #[test]
    fn every_spelling_round_trips() {
        for s in [
            Status::Started,
            Status::Resumed,
            Status::Stopping,
            Status::Stopped,
            Status::Succeeded,
            Status::Failed,
            Status::Superseded,
            Status::Canceled,
            Status::Abandoned,
        ] {
            assert_eq!(Status::parse(s.name()), Some(s));
        }
        assert_eq!(Status::parse("EXPLODED"), None);
    }

    #[test]
    fn failures_are_errors_and_stops_are_warnings() {
        assert_eq!(Status::Failed.severity().name(), "error");
        assert_eq!(Status::Superseded.severity().name(), "warning");
        assert_eq!(Status::Stopped.severity().name(), "warning");
        assert_eq!(Status::Succeeded.severity().name(), "info");
    }
}
