//! Alpha spending: how the deployment's `alpha` (its chance of rolling back a new side that is no
//! worse than the tolerance) is shared between the looks, so that looking at every window does not
//! multiply false rollbacks.
//!
//! The error test runs at *looks*: the first window in which the new side's cumulative requests
//! reach `FIRST_LOOK x RATIO^j` (j = 0, 1, 2, ...). Look j may use `A(n_j) - A(n_{j-1})`, where
//! `A(n) = alpha x n / (n + HALF)` is the share of alpha spent once the new side has served `n`
//! requests (half of it by `HALF`, all of it only in the limit). The shares sum to at most
//! `alpha`, so by the union bound the chance that *any* look fails a new side that is no worse is
//! at most `alpha`, however many windows there are and however long the deployment runs. Spending
//! by requests served rather than by checks means a shifter that checks every minute or every
//! five spends the same alpha for the same evidence. A window that jumps several levels spends
//! them all at once (the union bound still holds: the same sum).

use serde::{Deserialize, Serialize};

/// Cumulative new-side requests at the first look.
pub const FIRST_LOOK: u64 = 50;
/// Each look after the first waits for this many times the requests of the one before: two
/// (dense enough that a look comes soon after the evidence, sparse enough that each keeps a
/// useful share of alpha; in the simulation, x2 catches 10x the errors at a 1% base by 250
/// requests in 99% of deployments where x4 did in 95%, with the same false rollbacks).
pub const RATIO: u64 = 2;
/// Half of alpha is spent by the time the new side has served this many requests.
pub const HALF: f64 = 300.0;

/// Which looks have been spent: `None` before the first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Spent(pub Option<u8>);

/// The requests at which look `level` happens.
pub fn look_requests(level: u8) -> u64 {
    FIRST_LOOK.saturating_mul(RATIO.saturating_pow(u32::from(level)))
}

/// The share of alpha spent once looks up to and including `level` have run.
pub fn spent_through(alpha: f64, level: Option<u8>) -> f64 {
    match level {
        None => 0.0,
        Some(l) => {
            let n = look_requests(l) as f64;
            alpha * n / (n + HALF)
        }
    }
}

/// The highest look level reached by `requests` cumulative new-side requests.
pub fn level_reached(requests: u64) -> Option<u8> {
    if requests < FIRST_LOOK {
        return None;
    }
    let mut level = 0u8;
    while level < 40 && look_requests(level + 1) <= requests {
        level += 1;
    }
    Some(level)
}

/// A look: the alpha it may use, and the levels it spends. `None` when `requests` reach no look
/// beyond those already spent.
pub fn next_look(alpha: f64, spent: Spent, requests: u64) -> Option<(f64, Spent)> {
    let reached = level_reached(requests)?;
    if spent.0.is_some_and(|s| s >= reached) {
        return None;
    }
    let share = spent_through(alpha, Some(reached)) - spent_through(alpha, spent.0);
    Some((share, Spent(Some(reached))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn looks_happen_at_growing_request_counts() {
        assert_eq!(level_reached(0), None);
        assert_eq!(level_reached(FIRST_LOOK - 1), None);
        assert_eq!(level_reached(FIRST_LOOK), Some(0));
        assert_eq!(level_reached(FIRST_LOOK * RATIO - 1), Some(0));
        assert_eq!(level_reached(FIRST_LOOK * RATIO), Some(1));
        assert_eq!(
            level_reached(u64::MAX),
            Some(level_reached(u64::MAX).unwrap_or(0))
        );
    }

    #[test]
    fn no_look_without_new_evidence() {
        let (share, spent) = next_look(0.01, Spent(None), FIRST_LOOK).expect("first look");
        assert!(share > 0.0);
        assert_eq!(next_look(0.01, spent, FIRST_LOOK + 10), None);
    }

    #[test]
    fn all_looks_together_never_spend_more_than_alpha() {
        let alpha = 0.01;
        let mut spent = Spent(None);
        let mut total = 0.0;
        let mut requests = 1u64;
        while requests < u64::MAX / 2 {
            if let Some((share, s)) = next_look(alpha, spent, requests) {
                assert!(share > 0.0);
                total += share;
                spent = s;
            }
            requests = requests.saturating_mul(3) / 2 + 1;
        }
        assert!(total <= alpha && total > 0.99 * alpha, "{total}");
    }

    #[test]
    fn jumping_several_levels_spends_them_together() {
        let alpha = 0.01;
        let (share, spent) = next_look(alpha, Spent(None), look_requests(2)).expect("look");
        assert!((share - spent_through(alpha, Some(2))).abs() < 1e-15);
        assert_eq!(spent, Spent(Some(2)));
    }
}
