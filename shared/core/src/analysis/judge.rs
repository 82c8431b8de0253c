//! The decision over a sequence of windows, and the little state carried from one check to the
//! next (it travels in CodePipeline's continuation token, so it is small and has short names).

use serde::{Deserialize, Serialize};

use super::binomial::upper_tail;
use super::spending::{look, Earlier, Spent};
use super::{AnalysisConfig, CanaryVerdict, Evidence, Reason, Window};

/// A window whose error test does not fail, but whose p-value (on the cumulative counts, before
/// any spending) is at most this, puts the step under watch: the new side looks worse than the
/// tolerance allows without being significantly so yet. A step under watch does not advance at
/// its bake's end: it keeps its weights, and so keeps most of the traffic on the live side, where
/// each new-side request comes with the most live evidence beside it, until the test fails or the
/// evidence clears (docs/analysis.md, "Holding a canary that looks worse, or that cannot be told
/// yet").
pub const WATCH_P: f64 = 0.1;

/// A step does not move on while the 5xx seen so far cannot yet tell a new side like live from
/// one `HOLD_RATIO` times worse: unless they are at least `HOLD_ODDS` times likelier with the
/// same rate as live than with `HOLD_RATIO` x it, the window is inconclusive and the step holds,
/// as under watch. A few hundred quiet requests can hide a tenfold rise (at a 0.1% base rate a
/// 10x canary serves 300 requests with at most one 5xx one time in five); holding the smallest
/// step is where each new-side request comes with the most live evidence beside it
/// (docs/analysis.md, "Holding a canary that looks worse, or that cannot be told yet").
pub const HOLD_RATIO: f64 = 10.0;
/// How much likelier "like live" must be than `HOLD_RATIO` x live for the step to move on.
pub const HOLD_ODDS: f64 = 3.0;

/// Whether the 5xx so far leave the new side undecided between "same rate as live" and
/// `HOLD_RATIO` x it (see `HOLD_RATIO`). Given both sides' errors together, the new side's share
/// is binomial with its traffic share under the first and with the `HOLD_RATIO`-weighted share
/// under the second: the likelihood ratio of the two. No 5xx on either side tells nothing, and
/// needs telling nothing: ten times no errors is none.
pub fn undecided(new_requests: u64, new_errors: u64, live_requests: u64, live_errors: u64) -> bool {
    if new_errors.saturating_add(live_errors) == 0 {
        return false;
    }
    let (Some(same), Some(worse)) = (
        null_share(1.0, new_requests, live_requests),
        null_share(HOLD_RATIO, new_requests, live_requests),
    ) else {
        return false;
    };
    let log_ratio = new_errors as f64 * (worse / same).ln()
        + live_errors as f64 * ((1.0 - worse) / (1.0 - same)).ln();
    log_ratio > -HOLD_ODDS.ln()
}

/// Passes and inconclusive windows in the current step's bake, and whether its latest judged
/// window left it under watch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct BakeTally {
    #[serde(rename = "p", default)]
    pub passes: u32,
    #[serde(rename = "i", default)]
    pub inconclusive: u32,
    /// The latest judged window had the errors or the p99 under watch, or the errors undecided.
    #[serde(rename = "u", default, skip_serializing_if = "std::ops::Not::not")]
    pub watching: bool,
}

/// What the judge remembers between checks: ~100 bytes of JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct JudgeState {
    /// The start of the last window judged; later checks judge only newer windows.
    #[serde(rename = "w", default, skip_serializing_if = "Option::is_none")]
    pub last_window: Option<i64>,
    /// Cumulative counts since the new side started taking traffic.
    #[serde(rename = "n", default)]
    pub new_requests: u64,
    #[serde(rename = "e", default)]
    pub new_errors: u64,
    #[serde(rename = "m", default)]
    pub live_requests: u64,
    #[serde(rename = "f", default)]
    pub live_errors: u64,
    /// The alpha the looks have used.
    #[serde(rename = "a", default)]
    pub spent: Spent,
    /// Both sides' errors together at the last look: the next look waits for more.
    #[serde(rename = "t", default)]
    pub errors_at_look: u64,
    /// The last look that could fail: the next look spends only its chance of failing when that
    /// one did not (`spending`).
    #[serde(rename = "k", default, skip_serializing_if = "Option::is_none")]
    pub last_critical: Option<CriticalLook>,
    /// Consecutive judged windows with the new p99 over the tolerance.
    #[serde(rename = "l", default)]
    pub latency_strikes: u32,
    #[serde(rename = "b", default)]
    pub bake: BakeTally,
}

/// A look that could fail, as the next look needs it: the counts then and its critical count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CriticalLook {
    /// Both sides' errors.
    #[serde(rename = "t")]
    pub total: u64,
    #[serde(rename = "n")]
    pub new_requests: u64,
    #[serde(rename = "m")]
    pub live_requests: u64,
    /// The fewest new-side errors that would have failed it.
    #[serde(rename = "c")]
    pub critical: u64,
}

impl CriticalLook {
    /// The earlier look for `spending::look`, with the new side's share of the errors since it
    /// (from the requests since), when the deployment has reached `new_requests`/`live_requests`.
    fn earlier(
        self,
        tolerance: f64,
        new_requests: u64,
        live_requests: u64,
    ) -> Option<(Earlier, f64)> {
        let share = null_share(tolerance, self.new_requests, self.live_requests)?;
        let (added_new, added_live) = (
            new_requests.saturating_sub(self.new_requests),
            live_requests.saturating_sub(self.live_requests),
        );
        let share_since = match (added_new, added_live) {
            (0, _) => 0.0,
            (_, 0) => 1.0,
            (n, m) => null_share(tolerance, n, m)?,
        };
        Some((
            Earlier {
                total: self.total,
                share,
                critical: self.critical,
            },
            share_since,
        ))
    }
}

impl JudgeState {
    /// A new step's bake begins: its tally starts over. The counts and the alpha spent carry on,
    /// because the error test and its false-rollback guarantee cover the whole deployment.
    pub fn start_step(&mut self) {
        self.bake = BakeTally::default();
    }
}

/// The windows that CloudWatch will no longer change: those that ended at least `settle_seconds`
/// before `now` (ALB metrics arrive a minute or two late; judging a half-filled window would
/// compare half-counted sides).
pub fn settled(
    windows: &[Window],
    now: i64,
    period_seconds: i64,
    settle_seconds: i64,
) -> Vec<Window> {
    windows
        .iter()
        .filter(|w| {
            w.start
                .saturating_add(period_seconds)
                .saturating_add(settle_seconds)
                <= now
        })
        .copied()
        .collect()
}

/// P-value of "the new side's 5xx rate is at most `tolerance` x the live side's", from the counts.
///
/// Given both sides' 5xx in total (`E`), and with each side's errors a Poisson count of its
/// requests x its rate, the new side's share of `E` is Binomial(E, p0) with
/// `p0 = k n_new / (k n_new + n_live)` when the new rate is exactly `k` x the live rate (and
/// smaller below it): the p-value is P(X >= new errors). `None` when there is nothing to test.
pub fn error_p_value(
    tolerance: f64,
    new_requests: u64,
    new_errors: u64,
    live_requests: u64,
    live_errors: u64,
) -> Option<f64> {
    if new_errors == 0 {
        return None;
    }
    let p0 = null_share(tolerance, new_requests, live_requests)?;
    Some(upper_tail(
        new_errors.saturating_add(live_errors),
        new_errors,
        p0,
    ))
}

/// The new side's share of the errors when its rate is exactly `tolerance` x the live side's:
/// `k n_new / (k n_new + n_live)`. `None` until both sides have served requests.
pub fn null_share(tolerance: f64, new_requests: u64, live_requests: u64) -> Option<f64> {
    if live_requests == 0 || new_requests == 0 {
        return None;
    }
    let weighted = tolerance * new_requests as f64;
    Some(weighted / (weighted + live_requests as f64))
}

/// Judges the windows newer than `state.last_window`, oldest first; returns the new state and
/// one verdict per window judged. Pure and quick (a few microseconds a window).
pub fn judge(
    config: &AnalysisConfig,
    state: &JudgeState,
    windows: &[Window],
) -> (JudgeState, Vec<CanaryVerdict>) {
    let mut state = *state;
    let mut sorted: Vec<&Window> = windows
        .iter()
        .filter(|w| state.last_window.is_none_or(|last| w.start > last))
        .collect();
    sorted.sort_by_key(|w| w.start);
    sorted.dedup_by_key(|w| w.start);
    let verdicts = sorted
        .into_iter()
        .map(|w| judge_one(config, &mut state, w))
        .collect();
    (state, verdicts)
}

fn judge_one(config: &AnalysisConfig, state: &mut JudgeState, w: &Window) -> CanaryVerdict {
    state.last_window = Some(w.start);
    // Counting starts with the new side's first request: before it, live's counts say nothing.
    if w.new.requests > 0 || state.new_requests > 0 {
        state.new_requests = state.new_requests.saturating_add(w.new.requests);
        state.new_errors = state
            .new_errors
            .saturating_add(w.new.errors.min(w.new.requests));
        state.live_requests = state.live_requests.saturating_add(w.live.requests);
        state.live_errors = state
            .live_errors
            .saturating_add(w.live.errors.min(w.live.requests));
    }
    let p_value = error_p_value(
        config.error_ratio_tolerance,
        state.new_requests,
        state.new_errors,
        state.live_requests,
        state.live_errors,
    );
    // A look, when there are more errors than at the last one: it uses its exact chance of
    // failing when the last look that could fail did not (`spending`).
    let total_errors = state.new_errors.saturating_add(state.live_errors);
    let tolerance = config.error_ratio_tolerance;
    let look_now = match null_share(tolerance, state.new_requests, state.live_requests) {
        Some(p0) if total_errors > state.errors_at_look => {
            let since = state
                .last_critical
                .and_then(|k| k.earlier(tolerance, state.new_requests, state.live_requests));
            let l = look(
                config.alpha,
                state.spent,
                state.new_requests,
                total_errors,
                p0,
                since,
            );
            state.spent = l.spent;
            state.errors_at_look = total_errors;
            if let Some(critical) = l.critical {
                state.last_critical = Some(CriticalLook {
                    total: total_errors,
                    new_requests: state.new_requests,
                    live_requests: state.live_requests,
                    critical,
                });
            }
            Some(l)
        }
        _ => None,
    };
    // The new side's errors reach the look's critical count: with exact tails, the same as
    // `p <= allowed`; for counts too large to sum, the bound's (stricter) count decides.
    let errors_fail = look_now.is_some_and(|l| l.critical.is_some_and(|c| state.new_errors >= c));
    let look_alpha = look_now.map(|l| l.allowed);

    let latency_ratio = match (w.new.p99, w.live.p99) {
        (Some(n), Some(l)) if l > 0.0 => Some(n / l),
        _ => None,
    };
    let latency_judged = w.new.requests >= config.latency_min_requests
        && w.live.requests >= config.latency_min_requests;
    if let (true, Some(r)) = (latency_judged, latency_ratio) {
        if r > config.latency_ratio_tolerance {
            state.latency_strikes = state.latency_strikes.saturating_add(1);
        } else {
            state.latency_strikes = 0;
        }
    }
    let latency_fail = state.latency_strikes >= config.latency_windows;
    let errors_watch = !errors_fail && p_value.is_some_and(|p| p <= WATCH_P);
    let errors_undecided = !errors_fail
        && undecided(
            state.new_requests,
            state.new_errors,
            state.live_requests,
            state.live_errors,
        );

    let error_ratio = (state.live_errors > 0 && state.live_requests > 0 && state.new_requests > 0)
        .then(|| {
            (state.new_errors as f64 / state.new_requests as f64)
                / (state.live_errors as f64 / state.live_requests as f64)
        });
    let evidence = |reason| Evidence {
        reason,
        window_start: w.start,
        window: *w,
        new_requests: state.new_requests,
        new_errors: state.new_errors,
        live_requests: state.live_requests,
        live_errors: state.live_errors,
        error_ratio,
        p_value,
        look_alpha,
        error_tolerance: config.error_ratio_tolerance,
        latency_ratio,
        latency_tolerance: config.latency_ratio_tolerance,
    };
    let verdict = if errors_fail {
        CanaryVerdict::Fail(evidence(Reason::Errors))
    } else if latency_fail {
        CanaryVerdict::Fail(evidence(Reason::Latency))
    } else if errors_watch {
        CanaryVerdict::Inconclusive(evidence(Reason::ErrorsUnderWatch))
    } else if w.new.requests < config.min_requests {
        CanaryVerdict::Inconclusive(evidence(Reason::TooFewRequests))
    } else if errors_undecided {
        CanaryVerdict::Inconclusive(evidence(Reason::ErrorsUndecided))
    } else if state.latency_strikes > 0 {
        CanaryVerdict::Inconclusive(evidence(Reason::LatencyUnderWatch))
    } else {
        CanaryVerdict::Pass(evidence(Reason::WithinTolerance))
    };
    state.bake.watching = errors_watch || errors_undecided || state.latency_strikes > 0;
    match verdict {
        CanaryVerdict::Pass(_) => state.bake.passes = state.bake.passes.saturating_add(1),
        CanaryVerdict::Inconclusive(_) => {
            state.bake.inconclusive = state.bake.inconclusive.saturating_add(1)
        }
        CanaryVerdict::Fail(_) => {}
    }
    verdict
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::SideStats;

    fn window(start: i64, new: (u64, u64, f64), live: (u64, u64, f64)) -> Window {
        Window {
            start,
            new: SideStats {
                requests: new.0,
                errors: new.1,
                p99: Some(new.2),
            },
            live: SideStats {
                requests: live.0,
                errors: live.1,
                p99: Some(live.2),
            },
        }
    }

    #[test]
    fn same_rates_pass() {
        let c = AnalysisConfig::default();
        let ws: Vec<Window> = (0..10)
            .map(|i| window(i * 60, (300, 3, 0.2), (2700, 27, 0.2)))
            .collect();
        let (state, verdicts) = judge(&c, &JudgeState::default(), &ws);
        assert!(verdicts.iter().all(CanaryVerdict::is_pass), "{verdicts:?}");
        assert_eq!(state.bake.passes, 10);
        assert_eq!(state.new_requests, 3000);
    }

    #[test]
    fn ten_times_the_errors_fails_with_the_evidence() {
        let c = AnalysisConfig::default();
        let ws: Vec<Window> = (0..4)
            .map(|i| window(i * 60, (100, 10, 0.2), (900, 9, 0.2)))
            .collect();
        let (_, verdicts) = judge(&c, &JudgeState::default(), &ws);
        let fail = verdicts.iter().find(|v| v.is_fail()).expect("a fail");
        assert_eq!(fail.evidence().reason, Reason::Errors);
        let p = fail.evidence().p_value.expect("p");
        assert!(p <= fail.evidence().look_alpha.expect("a look"));
        assert!(fail.to_string().starts_with("analysis: fail"));
    }

    #[test]
    fn a_look_comes_with_new_errors_and_uses_only_its_tests_exact_size() {
        let c = AnalysisConfig::default();
        // One error in all, at a 10% share: even on the new side it could not fail, so the look
        // uses nothing; a window with no new error is no look at all.
        let (one, v) = judge(
            &c,
            &JudgeState::default(),
            &[window(0, (100, 0, 0.1), (900, 1, 0.1))],
        );
        assert!(v[0].evidence().look_alpha.is_some());
        assert_eq!(one.spent, Spent::default());
        let (same, v) = judge(&c, &one, &[window(60, (100, 0, 0.1), (900, 0, 0.1))]);
        assert_eq!(v[0].evidence().look_alpha, None);
        assert_eq!(same.spent, one.spent);
        // More errors: a look that can fail uses its size, at most what it was allowed.
        let (more, v) = judge(&c, &same, &[window(120, (100, 3, 0.1), (900, 5, 0.1))]);
        let allowed = v[0].evidence().look_alpha.expect("a look");
        assert!(more.spent.alpha() > 0.0 && more.spent.alpha() <= allowed + 1e-12);
    }

    #[test]
    fn a_new_side_that_looks_worse_without_significance_is_watched_until_the_evidence_clears() {
        let c = AnalysisConfig::default();
        // 2 of 100 against 2 of 900: eight times the rate, p = 0.06, far from significant after
        // 100 requests. Not a Pass: the step must not advance on it.
        let (watched, v) = judge(
            &c,
            &JudgeState::default(),
            &[window(0, (100, 2, 0.1), (900, 2, 0.1))],
        );
        assert!(
            matches!(&v[0], CanaryVerdict::Inconclusive(e) if e.reason == Reason::ErrorsUnderWatch),
            "{v:?}"
        );
        assert!(v[0]
            .to_string()
            .contains("looks higher than live, watching"));
        assert!(watched.bake.watching);
        assert_eq!(watched.bake.passes, 0);
        // A clean window with ten times the traffic: 2 of 1,100 against 22 of 9,900 is no worse.
        let (cleared, v) = judge(&c, &watched, &[window(60, (1000, 0, 0.1), (9000, 20, 0.1))]);
        assert!(v[0].is_pass(), "{v:?}");
        assert!(!cleared.bake.watching);
    }

    #[test]
    fn too_few_errors_to_rule_out_ten_times_live_leave_the_new_side_undecided() {
        // Nothing on either side: nothing to tell (ten times no errors is none).
        assert!(!undecided(300, 0, 2700, 0));
        // One 5xx of 300 against three of 2,700 is about as likely at ten times live's rate as at
        // live's: undecided. With more live errors and none new, or many more live than new,
        // "like live" is at least three times likelier: decided.
        assert!(undecided(300, 1, 2700, 3));
        assert!(undecided(300, 0, 2700, 1));
        assert!(!undecided(300, 0, 2700, 4));
        assert!(!undecided(300, 1, 2700, 8));
        // No requests on a side: no shares, no hold (too few requests covers it).
        assert!(!undecided(0, 0, 2700, 3));
        assert!(!undecided(300, 1, 0, 0));
    }

    #[test]
    fn an_undecided_new_side_holds_the_step_until_the_errors_tell() {
        let c = AnalysisConfig::default();
        let (held, v) = judge(
            &c,
            &JudgeState::default(),
            &[window(0, (300, 1, 0.1), (2700, 3, 0.1))],
        );
        assert!(
            matches!(&v[0], CanaryVerdict::Inconclusive(e) if e.reason == Reason::ErrorsUndecided),
            "{v:?}"
        );
        assert!(v[0]
            .to_string()
            .contains(&format!("rule out {HOLD_RATIO}x live's")));
        assert!(held.bake.watching);
        assert_eq!(
            crate::analysis::decide_step(&c, &held.bake, &v, crate::analysis::BakeTime::Over),
            crate::analysis::StepDecision::Wait
        );
        // Another quiet minute with five live errors and none new: 1 of 600 against 8 of 5,400
        // is no sign of ten times live's. The window passes and the step may move on.
        let (told, v) = judge(&c, &held, &[window(60, (300, 0, 0.1), (2700, 5, 0.1))]);
        assert!(v[0].is_pass(), "{v:?}");
        assert!(!told.bake.watching);
        assert_eq!(
            crate::analysis::decide_step(&c, &told.bake, &v, crate::analysis::BakeTime::Over),
            crate::analysis::StepDecision::Advance
        );
    }

    #[test]
    fn zero_errors_anywhere_pass() {
        let c = AnalysisConfig::default();
        let (_, v) = judge(
            &c,
            &JudgeState::default(),
            &[window(0, (5000, 0, 0.1), (5000, 0, 0.1))],
        );
        assert!(v[0].is_pass());
        assert_eq!(v[0].evidence().p_value, None);
        assert_eq!(v[0].evidence().error_ratio, None);
    }

    #[test]
    fn zero_live_traffic_never_fails_on_errors() {
        let c = AnalysisConfig::default();
        let ws: Vec<Window> = (0..5)
            .map(|i| window(i * 60, (1000, 500, 0.1), (0, 0, 0.0)))
            .collect();
        let (_, v) = judge(&c, &JudgeState::default(), &ws);
        assert!(v.iter().all(|v| !v.is_fail()), "{v:?}");
    }

    #[test]
    fn too_few_requests_are_inconclusive_but_still_counted() {
        let c = AnalysisConfig::default();
        let (state, v) = judge(
            &c,
            &JudgeState::default(),
            &[window(0, (10, 0, 0.1), (90, 1, 0.1))],
        );
        assert!(
            matches!(&v[0], CanaryVerdict::Inconclusive(e) if e.reason == Reason::TooFewRequests)
        );
        assert_eq!(state.new_requests, 10);
        assert_eq!(state.bake.inconclusive, 1);
    }

    #[test]
    fn p99_twice_live_fails_after_two_windows() {
        let c = AnalysisConfig::default();
        let ws: Vec<Window> = (0..3)
            .map(|i| window(i * 60, (1000, 1, 0.4), (9000, 9, 0.2)))
            .collect();
        let (_, v) = judge(&c, &JudgeState::default(), &ws);
        assert!(
            matches!(&v[0], CanaryVerdict::Inconclusive(e) if e.reason == Reason::LatencyUnderWatch)
        );
        assert!(matches!(&v[1], CanaryVerdict::Fail(e) if e.reason == Reason::Latency));
    }

    #[test]
    fn p99_on_a_handful_of_requests_is_not_compared() {
        let c = AnalysisConfig::default();
        let ws: Vec<Window> = (0..5)
            .map(|i| window(i * 60, (60, 0, 2.0), (540, 0, 0.2)))
            .collect();
        let (_, v) = judge(&c, &JudgeState::default(), &ws);
        assert!(v.iter().all(CanaryVerdict::is_pass), "{v:?}");
    }

    #[test]
    fn windows_already_judged_are_skipped_and_state_round_trips_compactly() {
        let c = AnalysisConfig::default();
        let ws: Vec<Window> = (0..6)
            .map(|i| window(i * 60, (300, 3, 0.2), (2700, 27, 0.2)))
            .collect();
        let (once, all) = judge(&c, &JudgeState::default(), &ws);
        let (half, _) = judge(&c, &JudgeState::default(), &ws[..3]);
        let token = serde_json::to_string(&half).expect("serializes");
        assert!(token.len() < 160, "{} bytes: {token}", token.len());
        let back: JudgeState = serde_json::from_str(&token).expect("parses");
        let (twice, rest) = judge(&c, &back, &ws);
        assert_eq!(rest.len(), 3);
        assert_eq!(once, twice);
        assert_eq!(all[3..], rest[..]);
    }

    #[test]
    fn live_only_windows_before_the_new_side_starts_are_not_counted() {
        let c = AnalysisConfig::default();
        let (state, _) = judge(
            &c,
            &JudgeState::default(),
            &[window(0, (0, 0, 0.0), (1000, 50, 0.2))],
        );
        assert_eq!(state.live_requests, 0);
    }

    #[test]
    fn huge_counts_are_judged_quickly_and_correctly() {
        let c = AnalysisConfig::default();
        let ws: Vec<Window> = (0..30)
            .map(|i| window(i * 60, (5_000_000, 50_000, 0.2), (5_000_000, 50_000, 0.2)))
            .collect();
        let (_, v) = judge(&c, &JudgeState::default(), &ws);
        assert!(v.iter().all(CanaryVerdict::is_pass));
    }

    #[test]
    fn the_p_value_follows_the_tolerance() {
        // Same counts: a looser tolerance gives a larger p-value.
        let strict = error_p_value(1.0, 1000, 20, 9000, 90).expect("p");
        let loose = error_p_value(2.0, 1000, 20, 9000, 90).expect("p");
        assert!(strict < loose);
        // Bin(110, 0.1): P(X >= 20) = 0.006157 (Python: sum of math.comb terms).
        assert!((strict - 0.006_157_447).abs() < 1e-8, "{strict}");
    }

    #[test]
    fn settled_keeps_only_windows_cloudwatch_has_finished() {
        let ws = [
            window(0, (1, 0, 0.1), (1, 0, 0.1)),
            window(60, (1, 0, 0.1), (1, 0, 0.1)),
        ];
        assert_eq!(settled(&ws, 180, 60, 60).len(), 2);
        assert_eq!(settled(&ws, 179, 60, 60).len(), 1);
    }
}
