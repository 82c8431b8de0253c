//! What the verdicts do to a traffic step: advance only after a bake with no Fail (and, by
//! default, at least one Pass); a Fail rolls back at once; a bake that ends with only
//! inconclusive windows follows `on_inconclusive`.

use super::{AnalysisConfig, BakeTally, CanaryVerdict, OnInconclusive};

/// The traffic shifter's next move for the current step.
#[derive(Debug, Clone, PartialEq)]
pub enum StepDecision {
    /// The bake is over and it passed: move to the next step.
    Advance,
    /// Keep the weights and check again later (the bake is still running).
    Wait,
    /// Roll back now; `message` is the `analysis: ...` line for the job's failure message.
    RollBack {
        message: String,
        verdict: Option<Box<CanaryVerdict>>,
    },
    /// Hold the weights and ask a person (the bake ended without a Pass, `on_inconclusive: pause`).
    AskPerson { message: String },
}

/// Decides a step from the bake's tally (after the latest windows were judged), the verdicts of
/// this check, and whether the bake's time is over.
pub fn decide_step(
    config: &AnalysisConfig,
    tally: &BakeTally,
    latest: &[CanaryVerdict],
    bake_over: bool,
) -> StepDecision {
    if let Some(fail) = latest.iter().find(|v| v.is_fail()) {
        return StepDecision::RollBack {
            message: fail.to_string(),
            verdict: Some(Box::new(fail.clone())),
        };
    }
    if !bake_over {
        return StepDecision::Wait;
    }
    if tally.passes > 0 || !config.require_pass {
        return StepDecision::Advance;
    }
    let message = format!(
        "analysis: inconclusive: the bake ended with no window in which the new side served {} requests ({} inconclusive windows); on_inconclusive is {}",
        config.min_requests,
        tally.inconclusive,
        config.on_inconclusive.as_str()
    );
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
        assert_eq!(decide_step(&c, &state.bake, &v, false), StepDecision::Wait);
        assert_eq!(
            decide_step(&c, &state.bake, &v, true),
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
        match decide_step(&c, &state.bake, &v, false) {
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
            matches!(decide_step(&c, &state.bake, &v, true), StepDecision::AskPerson { ref message } if message.contains("on_inconclusive is pause"))
        );
        c.on_inconclusive = OnInconclusive::Continue;
        assert_eq!(
            decide_step(&c, &state.bake, &v, true),
            StepDecision::Advance
        );
        c.on_inconclusive = OnInconclusive::Rollback;
        assert!(matches!(
            decide_step(&c, &state.bake, &v, true),
            StepDecision::RollBack { verdict: None, .. }
        ));
        c.on_inconclusive = OnInconclusive::Pause;
        c.require_pass = false;
        assert_eq!(
            decide_step(&c, &state.bake, &v, true),
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
            decide_step(&c, &state.bake, &[], true),
            StepDecision::AskPerson { .. }
        ));
    }
}
