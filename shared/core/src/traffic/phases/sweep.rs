//! The sweep for orphaned deployments (docs/traffic-shifting.md#orphaned-deployments-the-sweep):
//! what to do with each deployment that may still be open, decided from its record alone.
//!
//! A deployment lives on a chain of invocations: each hands over to the next through
//! CodePipeline's continuation token. When one link keeps failing (`GetJobDetails` throttled,
//! the table unreadable on resume, `PutJobSuccessResult` refused by an outage), Lambda retries
//! the event twice, then drops it, and nothing watches the alarms of a listener left at 90/10.
//! EventBridge runs the sweep every minute (`Scheduled Event`); it lists the deployments the
//! state table's index holds (one query), and rolls back those nobody has looked after for
//! `GANTRY_ORPHAN_AFTER_SECONDS`, or whose *Roll back* click nobody is there to read.
//!
//! Who drives is the record's lease (`traffic::steps::turn`): a deployment whose lease is still running
//! is never touched; the sweep takes an orphan with a hand-over number above every one handed
//! out, on the condition that the lease is still the one it judged, so an invocation that
//! arrives meanwhile either wins (the sweep leaves) or finds itself overtaken.

use crate::traffic::phases::phase::{Command, RollbackReason};
use crate::traffic::phases::record::{DeploymentRecord, DeploymentStatus, Watch};

/// `GANTRY_ORPHAN_AFTER_SECONDS` when unset: 10 minutes. CodePipeline invokes a continuation
/// about a minute after the hand-over, and Lambda retries a failed asynchronous invocation
/// twice, a minute then two minutes later: a healthy chain shows a sign of life well within
/// four minutes, and a broken one is rolled back within about eleven.
pub const DEFAULT_ORPHAN_AFTER_SECONDS: u32 = 600;

/// A deployment the state table's index lists as possibly open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    pub id: String,
    /// When it was listed (epoch milliseconds): the index entry is written before the record.
    pub listed_ms: i64,
    /// Its record, read after the listing; `None` when there is none (yet, or any more).
    pub record: Option<DeploymentRecord>,
}

/// What the sweep does with one listed deployment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SweepVerdict {
    /// Driven by an invocation (its lease runs), or looked after recently: not touched.
    Leave,
    /// Finished, or never recorded: only its index entry goes.
    Forget,
    /// Orphaned: take it and roll it back.
    RollBack(Orphan),
    /// Finished, but its last holder's lease ran out unreleased: it may have died between the
    /// record and the job's result. The job is given the result the record holds (refused,
    /// and nothing more, when it had one), then the entry goes.
    Report(Unreported),
}

/// A finished deployment whose job may never have been given its result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unreported {
    /// The job CodePipeline holds open for it, as far as the shifter saw.
    pub job_id: String,
    /// `Succeeded` (the new version is live) rather than rolled back.
    pub succeeded: bool,
    /// The record's summary: the job's message.
    pub summary: String,
}

/// An orphaned deployment, and how the sweep takes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Orphan {
    /// The lease as judged: the sweep takes the deployment only if it is still this one.
    pub seen: Watch,
    /// The hand-over number the sweep takes it with: above any the shifter handed out, so an
    /// invocation carrying one of them finds itself overtaken.
    pub seq: u32,
    /// The job CodePipeline holds open for it, as far as the shifter saw (failed if still open).
    pub job_id: String,
    pub why: Abandoned,
}

/// Why nobody else will roll the deployment back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Abandoned {
    /// No invocation has driven it for `idle_seconds`.
    Unwatched { idle_seconds: i64 },
    /// A person asked for a rollback from Slack, and no invocation is driving it to read that.
    Asked { by: String },
    /// A rollback started and its invocation died (`summary`: its message, kept as it was).
    Unfinished { summary: String },
}

impl Abandoned {
    /// The reason, completing "rolled back at 10% green: …" (an unfinished rollback keeps the
    /// whole message it started with).
    pub fn reason(&self) -> Option<RollbackReason> {
        match self {
            Abandoned::Unwatched { idle_seconds } => Some(RollbackReason::Orphaned {
                idle_seconds: *idle_seconds,
            }),
            Abandoned::Asked { by } => Some(RollbackReason::Operator { by: by.clone() }),
            Abandoned::Unfinished { .. } => None,
        }
    }

    /// One line for the execution's Slack thread: what happened and why.
    pub fn told(&self, message: &str) -> String {
        let why = match self {
            Abandoned::Unwatched { idle_seconds } => format!(
                "no invocation of the traffic shifter had checked this deployment for {idle_seconds} s: CodePipeline's next invocation kept failing, so nothing was watching its alarms"
            ),
            Abandoned::Asked { by } => format!(
                "<@{by}> asked to roll back while no invocation was driving this deployment"
            ),
            Abandoned::Unfinished { .. } => {
                "the invocation rolling this deployment back stopped before it finished".into()
            }
        };
        format!(":broom: Gantry's sweep rolled this deployment back: {why}. {message}")
    }
}

/// The last sign that an invocation looked after the deployment (epoch milliseconds): its
/// lease's end (a holder that died stopped checking by then at the latest), its release, or
/// the record's creation.
pub fn last_seen_ms(w: &Watch) -> i64 {
    w.lease_until_ms.max(w.released_ms).max(w.created_ms)
}

/// The sweep's decision for one listed deployment at `now_ms`. Pure: the record (its status,
/// lease, last sign of life, pending command) says everything.
pub fn assess(listed: &Listed, now_ms: i64, orphan_after_ms: i64) -> SweepVerdict {
    let Some(r) = &listed.record else {
        // The entry is written before the record: a young one may still get its record.
        return if now_ms - listed.listed_ms >= orphan_after_ms {
            SweepVerdict::Forget
        } else {
            SweepVerdict::Leave
        };
    };
    let rolling_back = match r.status {
        DeploymentStatus::Succeeded | DeploymentStatus::RolledBack => {
            let lease = r.watch.lease_until_ms;
            return match lease {
                // Released: its holder gave the job its result first.
                0 => SweepVerdict::Forget,
                // Its holder may still be reporting.
                _ if lease > now_ms => SweepVerdict::Leave,
                _ => SweepVerdict::Report(Unreported {
                    job_id: r.watch.job_id.clone().unwrap_or_else(|| r.id.clone()),
                    succeeded: r.status == DeploymentStatus::Succeeded,
                    summary: r
                        .summary
                        .clone()
                        .unwrap_or_else(|| "deployment finished".into()),
                }),
            };
        }
        DeploymentStatus::RollingBack => true,
        DeploymentStatus::InProgress => false,
    };
    let w = &r.watch;
    if w.lease_until_ms > now_ms {
        return SweepVerdict::Leave;
    }
    let idle_ms = now_ms - last_seen_ms(w);
    let asked = match &r.command {
        Some(Command::RollBack { by }) => Some(by.clone()),
        _ => None,
    };
    let why = match (rolling_back, asked) {
        (true, asked) if asked.is_some() || idle_ms >= orphan_after_ms => Abandoned::Unfinished {
            summary: r.summary.clone().unwrap_or_default(),
        },
        (false, Some(by)) => Abandoned::Asked { by },
        (false, None) if idle_ms >= orphan_after_ms => Abandoned::Unwatched {
            idle_seconds: idle_ms / 1000,
        },
        _ => return SweepVerdict::Leave,
    };
    let handed = r.handed_over.as_ref().map_or(0, |h| h.seq);
    SweepVerdict::RollBack(Orphan {
        seen: w.clone(),
        seq: w.seq.unwrap_or(0).max(handed) + 1,
        job_id: w.job_id.clone().unwrap_or_else(|| r.id.clone()),
        why,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::traffic::HandOver;

    const AFTER: i64 = 600_000;
    const NOW: i64 = 10_000_000;

    /// Deployment `job-1`, in progress, handed over to invocation 3 (job `job-3`); its last
    /// holder (number 2) released it `idle_ms` before `NOW`.
    fn listed(idle_ms: i64) -> Listed {
        Listed {
            id: "job-1".into(),
            listed_ms: 0,
            record: Some(DeploymentRecord {
                id: "job-1".into(),
                context: None,
                state: String::new(),
                status: DeploymentStatus::InProgress,
                summary: None,
                command: None,
                command_at: None,
                controls: 0,
                message: None,
                handed_over: Some(HandOver {
                    seq: 3,
                    digest: "d".into(),
                }),
                watch: Watch {
                    seq: Some(2),
                    lease_until_ms: 0,
                    released_ms: NOW - idle_ms,
                    created_ms: 1_000,
                    job_id: Some("job-3".into()),
                    user_parameters: Some("{}".into()),
                },
            }),
        }
    }

    fn record(l: &mut Listed) -> &mut DeploymentRecord {
        l.record.as_mut().unwrap()
    }

    #[test]
    fn a_deployment_nobody_checked_for_the_orphan_wait_is_rolled_back_above_every_hand_over() {
        let SweepVerdict::RollBack(orphan) = assess(&listed(AFTER), NOW, AFTER) else {
            panic!("not rolled back");
        };
        assert_eq!(
            orphan.seq, 4,
            "above the number handed to the next invocation"
        );
        assert_eq!(orphan.job_id, "job-3");
        assert_eq!(orphan.why, Abandoned::Unwatched { idle_seconds: 600 });
        let message = orphan.why.reason().unwrap().to_string();
        assert!(message.contains("for 600 s"), "{message}");
    }

    #[test]
    fn a_deployment_between_two_invocations_is_left_alone() {
        // CodePipeline invokes the continuation about a minute after the hand-over.
        assert_eq!(assess(&listed(60_000), NOW, AFTER), SweepVerdict::Leave);
        assert_eq!(assess(&listed(AFTER - 1), NOW, AFTER), SweepVerdict::Leave);
    }

    #[test]
    fn a_deployment_with_a_running_lease_is_never_touched() {
        // Even long unreleased, and even with a Roll back click waiting: its holder reads it.
        let mut l = listed(AFTER * 10);
        record(&mut l).watch.lease_until_ms = NOW + 1;
        record(&mut l).command = Some(Command::RollBack { by: "U1".into() });
        assert_eq!(assess(&l, NOW, AFTER), SweepVerdict::Leave);
        record(&mut l).status = DeploymentStatus::RollingBack;
        assert_eq!(assess(&l, NOW, AFTER), SweepVerdict::Leave);
    }

    #[test]
    fn a_holder_that_died_is_judged_from_its_leases_end() {
        let mut l = listed(AFTER * 10);
        record(&mut l).watch.lease_until_ms = NOW - 1_000;
        assert_eq!(assess(&l, NOW, AFTER), SweepVerdict::Leave);
        record(&mut l).watch.lease_until_ms = NOW - AFTER;
        assert!(matches!(assess(&l, NOW, AFTER), SweepVerdict::RollBack(_)));
    }

    #[test]
    fn a_roll_back_click_nobody_reads_is_applied_at_once() {
        let mut l = listed(1_000);
        record(&mut l).command = Some(Command::RollBack { by: "U1".into() });
        let SweepVerdict::RollBack(orphan) = assess(&l, NOW, AFTER) else {
            panic!("not rolled back");
        };
        assert_eq!(orphan.why, Abandoned::Asked { by: "U1".into() });
        // Any other click waits for the deployment's own next check.
        record(&mut l).command = Some(Command::Pause {
            by: "U1".into(),
            version: 0,
        });
        assert_eq!(assess(&l, NOW, AFTER), SweepVerdict::Leave);
    }

    #[test]
    fn an_unfinished_rollback_is_finished_with_its_own_message() {
        let mut l = listed(AFTER);
        record(&mut l).status = DeploymentStatus::RollingBack;
        record(&mut l).summary = Some("rolled back at 10% green: alarm shop-5xx".into());
        let SweepVerdict::RollBack(orphan) = assess(&l, NOW, AFTER) else {
            panic!("not rolled back");
        };
        assert_eq!(
            orphan.why,
            Abandoned::Unfinished {
                summary: "rolled back at 10% green: alarm shop-5xx".into()
            }
        );
        assert_eq!(orphan.why.reason(), None);
    }

    #[test]
    fn a_finished_deployment_whose_holder_died_unreleased_gets_its_jobs_result() {
        // The holder wrote "succeeded", then died before PutJobSuccessResult.
        let mut l = listed(AFTER);
        record(&mut l).status = DeploymentStatus::Succeeded;
        record(&mut l).summary = Some("green is live".into());
        record(&mut l).watch.lease_until_ms = NOW + 1;
        assert_eq!(
            assess(&l, NOW, AFTER),
            SweepVerdict::Leave,
            "it may still report"
        );
        record(&mut l).watch.lease_until_ms = NOW - 1;
        assert_eq!(
            assess(&l, NOW, AFTER),
            SweepVerdict::Report(Unreported {
                job_id: "job-3".into(),
                succeeded: true,
                summary: "green is live".into()
            })
        );
    }

    #[test]
    fn finished_or_never_recorded_deployments_leave_the_index() {
        for status in [DeploymentStatus::Succeeded, DeploymentStatus::RolledBack] {
            let mut l = listed(AFTER * 10);
            record(&mut l).status = status;
            assert_eq!(assess(&l, NOW, AFTER), SweepVerdict::Forget);
        }
        let mut l = listed(0);
        l.record = None;
        l.listed_ms = NOW - 1_000;
        assert_eq!(
            assess(&l, NOW, AFTER),
            SweepVerdict::Leave,
            "its record may be on its way"
        );
        l.listed_ms = NOW - AFTER;
        assert_eq!(assess(&l, NOW, AFTER), SweepVerdict::Forget);
    }

    #[test]
    fn the_first_job_is_the_deployments_own_id_and_numbers_start_above_zero() {
        let mut l = listed(AFTER);
        record(&mut l).watch = Watch {
            created_ms: NOW - AFTER,
            ..Watch::default()
        };
        record(&mut l).handed_over = None;
        let SweepVerdict::RollBack(orphan) = assess(&l, NOW, AFTER) else {
            panic!("not rolled back");
        };
        assert_eq!((orphan.job_id.as_str(), orphan.seq), ("job-1", 1));
    }

    #[test]
    fn the_thread_is_told_why() {
        let told = Abandoned::Asked { by: "U1".into() }.told("rolled back at 10% green");
        assert!(told.contains("<@U1> asked to roll back while no invocation was driving"));
        assert!(told.ends_with("rolled back at 10% green"));
    }
}
