//! What the verdicts do to a traffic step: advance only after a bake with no Fail (and, by
//! default, at least one Pass), and not while the latest window left the step under watch (the
//! new side looks worse than live without being significantly so, or its 5xx cannot yet tell it
//! from ten times live's: the step holds, for up to as long again as its bake, while the
//! evidence decides); a Fail rolls back at once; a bake that ends with only inconclusive
//! windows, or still under watch, follows `on_inconclusive`.

use super::{AnalysisConfig, BakeTally, CanaryVerdict, OnInconclusive};

/// The traffic shifter's next move for the current step.
#[derive(Debug, Clone, PartialEq)]
pub enum StepDecision {
    /// The bake is over and it passed: move to the next step.
    Advance,
    /// Keep the weights and check again later (the bake is still running, or under watch).
    Wait,
    /// Roll back now; `message` is the `analysis: ...` line for the job's failure message.
    RollBack {
        message: String,
        verdict: Option<Box<CanaryVerdict>>,
    },
    /// Hold the weights and ask a person (the bake ended without a Pass, or still under watch,
    /// with `on_inconclusive: pause`).
    AskPerson { message: String },
}

/// Where the step is in time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BakeTime {
    /// The bake is still running.
    Running,
    /// The bake is over.
    Over,
    /// The bake is over, and so is as long again: the longest a step waits under watch.
    OverTwice,
}

impl BakeTime {
    /// From the clock, the bake's end and its length (ms).
    pub fn at(now_ms: i64, bake_end_ms: i64, bake_ms: i64) -> BakeTime {
        if now_ms < bake_end_ms {
            BakeTime::Running
        } else if now_ms < bake_end_ms.saturating_add(bake_ms) {
            BakeTime::Over
        } else {
            BakeTime::OverTwice
        }
    }
}

/// Decides a step from the bake's tally (after the latest windows were judged), the verdicts of
/// this check, and where the bake is in time.
pub fn decide_step(
    config: &AnalysisConfig,
    tally: &BakeTally,
    latest: &[CanaryVerdict],
    time: BakeTime,
) -> StepDecision {
    if let Some(fail) = latest.iter().find(|v| v.is_fail()) {
        return StepDecision::RollBack {
            message: fail.to_string(),
            verdict: Some(Box::new(fail.clone())),
        };
    }
    let message = match (time, tally.watching) {
        (BakeTime::Running, _) | (BakeTime::Over, true) => return StepDecision::Wait,
        (_, false) if tally.passes > 0 || !config.require_pass => return StepDecision::Advance,
        (_, false) => format!(
            "analysis: inconclusive: the bake ended with no window in which the new side served {} requests ({} inconclusive windows); on_inconclusive is {}",
            config.min_requests,
            tally.inconclusive,
            config.on_inconclusive.as_str()
        ),
        (BakeTime::OverTwice, true) => format!(
            "analysis: inconclusive: the bake and as long again are over, and the new side still looks worse than live (5xx rate or p99) without being significantly so, or has too few 5xx to rule out 10x live's; on_inconclusive is {}",
            config.on_inconclusive.as_str()
        ),
    };
    match config.on_inconclusive {
        OnInconclusive::Pause => StepDecision::AskPerson { message },
        OnInconclusive::Continue => StepDecision::Advance,
        OnInconclusive::Rollback => StepDecision::RollBack {
            message,
            verdict: None,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::{judge, JudgeState, SideStats, Window};

    fn windows(new: (u64, u64), live: (u64, u64), n: i64) -> Vec<Window> {
        (0..n)
            .map(|i| Window {
                start: i * 60,
                new: SideStats {
                    requests: new.0,
                    errors: new.1,
                    p99: Some(0.1),
                },
                live: SideStats {
                    requests: live.0,
                    errors: live.1,
                    p99: Some(0.1),
                },
            })
            .collect()
    }

    #[test]
    fn a_passing_bake_waits_until_its_end_then_advances() {
        let c = AnalysisConfig::default();
        let (state, v) = judge(
            &c,
            &JudgeState::default(),
            &windows((300, 3), (2700, 27), 3),
        );
        assert_eq!(
            decide_step(&c, &state.bake, &v, BakeTime::Running),
            StepDecision::Wait
        );
        assert_eq!(
            decide_step(&c, &state.bake, &v, BakeTime::Over),
            StepDecision::Advance
        );
    }

    #[test]
    fn a_fail_rolls_back_before_the_bake_ends() {
        let c = AnalysisConfig::default();
        let (state, v) = judge(
            &c,
            &JudgeState::default(),
            &windows((300, 30), (2700, 27), 3),
        );
        match decide_step(&c, &state.bake, &v, BakeTime::Running) {
            StepDecision::RollBack { message, verdict } => {
                assert!(message.starts_with("analysis: fail"), "{message}");
                assert!(verdict.is_some());
            }
            other => panic!("expected a rollback, got {other:?}"),
        }
    }

    #[test]
    fn an_unjudged_bake_follows_on_inconclusive_and_pauses_by_default() {
        let starved = windows((5, 0), (45, 0), 5);
        let mut c = AnalysisConfig::default();
        let (state, v) = judge(&c, &JudgeState::default(), &starved);
        assert!(
            matches!(decide_step(&c, &state.bake, &v, BakeTime::Over), StepDecision::AskPerson { ref message } if message.contains("on_inconclusive is pause"))
        );
        c.on_inconclusive = OnInconclusive::Continue;
        assert_eq!(
            decide_step(&c, &state.bake, &v, BakeTime::Over),
            StepDecision::Advance
        );
        c.on_inconclusive = OnInconclusive::Rollback;
        assert!(matches!(
            decide_step(&c, &state.bake, &v, BakeTime::Over),
            StepDecision::RollBack { verdict: None, .. }
        ));
        c.on_inconclusive = OnInconclusive::Pause;
        c.require_pass = false;
        assert_eq!(
            decide_step(&c, &state.bake, &v, BakeTime::Over),
            StepDecision::Advance
        );
    }

    #[test]
    fn a_new_step_starts_a_new_tally() {
        let c = AnalysisConfig::default();
        let (mut state, _) = judge(
            &c,
            &JudgeState::default(),
            &windows((300, 3), (2700, 27), 3),
        );
        state.start_step();
        assert_eq!(state.bake, BakeTally::default());
        assert_eq!(state.new_requests, 900);
        assert!(matches!(
            decide_step(&c, &state.bake, &[], BakeTime::Over),
            StepDecision::AskPerson { .. }
        ));
    }

    #[test]
    fn a_step_under_watch_holds_past_its_bake_then_asks_and_advances_once_the_watch_clears() {
        let c = AnalysisConfig::default();
        let watching = BakeTally {
            passes: 3,
            inconclusive: 2,
            watching: true,
        };
        assert_eq!(
            decide_step(&c, &watching, &[], BakeTime::Over),
            StepDecision::Wait
        );
        match decide_step(&c, &watching, &[], BakeTime::OverTwice) {
            StepDecision::AskPerson { message } => {
                assert!(message.contains("still looks worse than live"), "{message}");
                assert!(message.ends_with("on_inconclusive is pause"), "{message}");
            }
            other => panic!("expected a person asked, got {other:?}"),
        }
        let cleared = BakeTally {
            watching: false,
            ..watching
        };
        assert_eq!(
            decide_step(&c, &cleared, &[], BakeTime::Over),
            StepDecision::Advance
        );
        assert_eq!(
            decide_step(&c, &cleared, &[], BakeTime::OverTwice),
            StepDecision::Advance
        );
    }

    #[test]
    fn the_bake_clock_reads_running_over_and_over_twice() {
        assert_eq!(BakeTime::at(999, 1_000, 600), BakeTime::Running);
        assert_eq!(BakeTime::at(1_000, 1_000, 600), BakeTime::Over);
        assert_eq!(BakeTime::at(1_599, 1_000, 600), BakeTime::Over);
        assert_eq!(BakeTime::at(1_600, 1_000, 600), BakeTime::OverTwice);
    }
}
