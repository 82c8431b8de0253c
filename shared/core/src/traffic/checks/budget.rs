//! How long one invocation of the traffic shifter may work, and how long the deployment's
//! action may still run (CodePipeline's limit) beyond what its plan needs.

use crate::traffic::checks::preflight::MAX_ACTION_SECONDS;
use crate::traffic::phases::deployment::{Deployment, Phase};
use crate::traffic::phases::phase::Command;
use crate::traffic::setup::params::WaitBetweenChecks;
use crate::traffic::setup::plan::duration_text;
use std::time::Duration;

/// What is left before Lambda's deadline (`deadline_ms`, epoch milliseconds), less a margin to
/// roll back and report: a quarter of what is left, at least 2 s, at most 15 s.
pub fn invocation_budget(deadline_ms: u64, now_ms: u64) -> Duration {
    let left = deadline_ms.saturating_sub(now_ms);
    let margin = (left / 4).clamp(2_000, 15_000);
    Duration::from_millis(left.saturating_sub(margin))
}

/// The shortest wait handed back to CodePipeline under `WaitBetweenChecks::InCodePipeline`:
/// a shorter one (a step taken at once, the rest of a bake just missed) costs less slept
/// through than a continuation's own calls (confirming the job, reading the record, handing
/// over) would.
pub const MIN_HANDED_BACK_WAIT: Duration = Duration::from_secs(1);

/// Whether the wait until the next check ends this invocation with a continuation token
/// (CodePipeline invokes the function again, and Lambda bills none of the wait) rather than
/// being slept through in Lambda, which bills every second of it.
pub fn hands_back(wait: Duration, between_checks: WaitBetweenChecks) -> bool {
    match between_checks {
        WaitBetweenChecks::InLambda => false,
        WaitBetweenChecks::InCodePipeline => wait >= MIN_HANDED_BACK_WAIT,
    }
}

/// How much longer the deployment's action may run than the rest of its plan can take at
/// most (milliseconds; negative once the plan can no longer end in time): CodePipeline fails
/// a Lambda invoke action `preflight::MAX_ACTION_SECONDS` after it started, with traffic split
/// if it is still shifting. A Pause or an Extend bake may only spend this room. Pause hooks'
/// waits are not counted (they have their own timeout, checked at the start).
pub fn room_ms(d: &Deployment, now_ms: i64) -> i64 {
    let deadline = d.started_ms + MAX_ACTION_SECONDS as i64 * 1000;
    deadline - now_ms - still_needed_ms(d, now_ms)
}

/// The longest the rest of the plan can take from `now_ms`, as `preflight::worst_case_seconds`
/// counts it at the start: each wait at its longest plus one check interval.
fn still_needed_ms(d: &Deployment, now_ms: i64) -> i64 {
    let check = i64::from(d.timing.check_seconds) * 1000;
    let left = |since: i64, seconds: u32| {
        (since + i64::from(seconds) * 1000 + check - now_ms)
            .clamp(0, i64::from(seconds) * 1000 + check)
    };
    let steps = d.plan.steps();
    let holds_from = |first: usize| -> i64 {
        steps
            .iter()
            .skip(first)
            .map(|s| {
                let hold = i64::from(s.hold_seconds) * 1000;
                if hold > 0 {
                    hold + check
                } else {
                    0
                }
            })
            .sum()
    };
    let scale_down = if d.timing.scale_down_after_seconds > 0 {
        i64::from(d.timing.scale_down_after_seconds) * 1000 + check
    } else {
        0
    };
    match d.phase {
        Phase::Stabilizing { since_ms } => {
            left(since_ms, d.timing.ready_timeout_seconds) + holds_from(0) + scale_down
        }
        Phase::Testing { .. } => holds_from(0) + scale_down,
        Phase::Shifting { step, since_ms } => {
            let hold = steps.get(step).map_or(0, |s| s.hold_seconds);
            let current = if hold > 0 { left(since_ms, hold) } else { 0 };
            current + holds_from(step + 1) + scale_down
        }
        Phase::Retiring { since_ms } => {
            if d.timing.scale_down_after_seconds > 0 {
                left(since_ms, d.timing.scale_down_after_seconds)
            } else {
                0
            }
        }
    }
}

/// The least room a Pause must leave: holding for less than this is no pause, and the
/// deployment could end past CodePipeline's limit with traffic split.
pub const MIN_PAUSE_MS: i64 = 60_000;

/// Why a Pause or Extend bake is refused: it would push the deployment past the time its
/// action may still run (`room_ms`). `None`: it fits (other commands always do).
pub fn control_over_limit(d: &Deployment, command: &Command, now_ms: i64) -> Option<String> {
    let room = room_ms(d, now_ms);
    let limit_in = d.started_ms + MAX_ACTION_SECONDS as i64 * 1000 - now_ms;
    let text = |ms: i64| duration_text((ms.max(0) / 1000) as u64);
    let ends = format!(
        "CodePipeline ends this action in {} (its limit for a Lambda invoke action) and the rest of the plan can take {}",
        text(limit_in),
        text(limit_in - room)
    );
    match command {
        Command::Extend { minutes, .. } if i64::from(*minutes) * 60_000 > room => Some(format!(
            "refused: {ends}, so the bake can be extended by at most {}",
            text(room)
        )),
        Command::Pause { .. } if room < MIN_PAUSE_MS => Some(format!(
            "refused: {ends}, which leaves {} to hold: the deployment goes on",
            text(room)
        )),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_budget_leaves_time_to_roll_back_and_report() {
        assert_eq!(invocation_budget(900_000, 0), Duration::from_secs(885));
        assert_eq!(invocation_budget(20_000, 0), Duration::from_secs(15));
        assert_eq!(invocation_budget(3_000, 0), Duration::from_secs(1));
        assert_eq!(invocation_budget(1_000, 5_000), Duration::ZERO);
    }

    #[test]
    fn only_a_team_that_asked_hands_its_waits_back_and_only_the_long_ones() {
        let check = Duration::from_secs(15);
        assert!(!hands_back(check, WaitBetweenChecks::InLambda));
        assert!(!hands_back(
            Duration::from_secs(3600),
            WaitBetweenChecks::InLambda
        ));
        assert!(hands_back(check, WaitBetweenChecks::InCodePipeline));
        assert!(hands_back(
            MIN_HANDED_BACK_WAIT,
            WaitBetweenChecks::InCodePipeline
        ));
        assert!(!hands_back(
            Duration::from_millis(900),
            WaitBetweenChecks::InCodePipeline
        ));
    }

    /// A 10% canary (sample: checks every 5 s, ready timeout 300 s, old side kept 60 s)
    /// baking `bake` seconds, at its canary step since `since_ms`.
    fn canary_at_ten(bake: u32, since_ms: i64) -> Deployment {
        crate::traffic::sample::canary(bake).at(Phase::Shifting { step: 0, since_ms })
    }

    const DAY_MS: i64 = MAX_ACTION_SECONDS as i64 * 1000;

    #[test]
    fn the_room_is_what_the_limit_leaves_beyond_the_rest_of_the_plan() {
        // Bake 1 h + check 5 s, then scale-down 60 s + check 5 s: 3,670 s still needed.
        let d = canary_at_ten(3600, 0);
        assert_eq!(room_ms(&d, 0), DAY_MS - 3_670_000);
        // Half an hour into the bake: half an hour less needed, half an hour less left.
        assert_eq!(room_ms(&d, 1_800_000), DAY_MS - 3_670_000);
        // Retiring: only the scale-down wait is left.
        let retiring = d.at(Phase::Retiring { since_ms: 0 });
        assert_eq!(room_ms(&retiring, 0), DAY_MS - 65_000);
    }

    #[test]
    fn an_extend_or_a_pause_past_the_actions_limit_is_refused_naming_the_time_left() {
        // A bake that ends 10 minutes before CodePipeline's limit.
        let bake = (MAX_ACTION_SECONDS - 600 - 70) as u32;
        let d = canary_at_ten(bake, 0);
        assert_eq!(room_ms(&d, 0), 600_000);
        let extend = |minutes| Command::Extend {
            by: "U1".into(),
            version: 0,
            minutes,
        };
        assert_eq!(control_over_limit(&d, &extend(10), 0), None);
        let refused = control_over_limit(&d, &extend(11), 0).expect("refused");
        assert!(
            refused.contains("CodePipeline ends this action in 24 h"),
            "{refused}"
        );
        assert!(refused.contains("extended by at most 10 min"), "{refused}");
        let pause = Command::Pause {
            by: "U1".into(),
            version: 0,
        };
        assert_eq!(control_over_limit(&d, &pause, 0), None);
        // 9 min 35 s past the bake (the bake holds longer than planned: it was paused).
        let late = 575_000 + i64::from(bake) * 1000;
        let refused = control_over_limit(&d, &pause, late).expect("refused");
        assert!(refused.contains("leaves 30 s to hold"), "{refused}");
        // Resume, Promote and Roll back always fit.
        let resume = Command::Resume {
            by: "U1".into(),
            version: 0,
        };
        assert_eq!(control_over_limit(&d, &resume, late), None);
    }
}
