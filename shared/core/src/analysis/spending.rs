//! Alpha spending: how the deployment's `alpha` (its chance of rolling back a new side that is no
//! worse than the tolerance) is shared between the looks, so that looking at every window does not
//! multiply false rollbacks.
//!
//! The error test looks whenever both sides' errors together have grown since the last look. By
//! the time the new side has served `n` requests, the looks together may have used
//! `A(n) = alpha x n / (n + HALF)` (half of alpha by `HALF` requests, all of it only in the limit).
//! What a look *uses* is the exact size of its test: the chance, with no difference, that the new
//! side's share of the errors reaches the critical count. Counts are whole numbers, so that chance
//! is usually well below what the look was allowed, and the rest stays for later looks.
//!
//! Why this keeps false rollbacks under `alpha`: given how many errors both sides had in each
//! window, which side each error fell on is, with no difference, a coin with a known bias (the new
//! side's share of the traffic, times the tolerance). When to look and what each look may use
//! depend only on those totals and on the requests, never on the coins; so the chance that any
//! look fails is at most the sum of the sizes used (the union bound), which never exceeds `A(n)`
//! and so never `alpha`, however many windows there are.

use serde::{Deserialize, Serialize};

use super::binomial::upper_tail;

/// Half of alpha is allowed by the time the new side has served this many requests.
pub const HALF: f64 = 300.0;

/// Alpha used so far, in units of 10^-12, rounded up (an integer keeps the judge's state exact
/// through the continuation token).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Spent(pub u64);

const UNIT: f64 = 1e-12;

impl Spent {
    pub fn alpha(self) -> f64 {
        self.0 as f64 * UNIT
    }

    fn add(self, size: f64) -> Spent {
        Spent(self.0.saturating_add((size / UNIT).ceil() as u64))
    }
}

/// What the looks together may have used once the new side has served `requests`.
pub fn allowance(alpha: f64, requests: u64) -> f64 {
    let n = requests as f64;
    alpha * n / (n + HALF)
}

/// One look at `total` errors on both sides, each on the new side with chance `p0` when there is
/// no difference.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Look {
    /// What the look was allowed: the allowance less what earlier looks used.
    pub allowed: f64,
    /// The fewest new-side errors that fail it; `None` when even all of them would not.
    pub critical: Option<u64>,
    /// The chance of reaching `critical` with no difference: what the look uses.
    pub size: f64,
    pub spent: Spent,
}

/// The look at `total` errors when the new side has served `requests`.
pub fn look(alpha: f64, spent: Spent, requests: u64, total: u64, p0: f64) -> Look {
    let allowed = (allowance(alpha, requests) - spent.alpha()).max(0.0);
    let critical = critical_count(total, p0, allowed);
    let size = critical.map_or(0.0, |c| tail(total, c, p0));
    Look {
        allowed,
        critical,
        size,
        spent: spent.add(size),
    }
}

/// Beyond this many errors the tail is bounded rather than summed: summing it costs a few
/// standard deviations of terms per probe, and at this much evidence the bound's slack is no loss.
const EXACT_UP_TO: u64 = 1_000_000;

/// P(Binomial(total, p0) >= c), or for very large counts an upper bound on it (Chernoff's:
/// `exp(-total x KL(c/total || p0))`). Either way never below the true tail, so a look never
/// uses less than its real size.
fn tail(total: u64, c: u64, p0: f64) -> f64 {
    if total <= EXACT_UP_TO {
        return upper_tail(total, c, p0);
    }
    let q = c as f64 / total as f64;
    if q <= p0 {
        return 1.0;
    }
    if q >= 1.0 {
        return (total as f64 * p0.ln()).exp();
    }
    let kl = q * (q / p0).ln() + (1.0 - q) * ((1.0 - q) / (1.0 - p0)).ln();
    (-(total as f64) * kl).exp()
}

/// The smallest `c` with P(Binomial(total, p0) >= c) <= allowed (the tail falls as `c` grows),
/// searched between the mean and `total`.
fn critical_count(total: u64, p0: f64, allowed: f64) -> Option<u64> {
    if total == 0 || allowed <= 0.0 || tail(total, total, p0) > allowed {
        return None;
    }
    let mean = (total as f64 * p0).floor() as u64;
    let (mut low, mut high) = (mean.clamp(1, total), total);
    while low < high {
        let mid = low + (high - low) / 2;
        if tail(total, mid, p0) <= allowed {
            high = mid;
        } else {
            low = mid + 1;
        }
    }
    Some(low)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_allowance_grows_with_requests_and_stays_under_alpha() {
        assert_eq!(allowance(0.01, 0), 0.0);
        assert!((allowance(0.01, 300) - 0.005).abs() < 1e-15);
        assert!(allowance(0.01, 3000) > allowance(0.01, 300));
        assert!(allowance(0.01, u64::MAX) <= 0.01);
    }

    #[test]
    fn the_critical_count_is_the_smallest_whose_tail_is_allowed() {
        // Bin(20, 0.1): P(X >= 6) = 0.0113, P(X >= 7) = 0.00239.
        let l = look(0.01, Spent::default(), 300, 20, 0.1);
        assert_eq!(l.critical, Some(7));
        assert!((l.size - 0.002_386).abs() < 1e-5, "{}", l.size);
        assert!(l.size <= l.allowed);
    }

    #[test]
    fn a_look_that_cannot_fail_uses_nothing() {
        // One error, at a 10% share: even on the new side it is a 10% chance.
        let l = look(0.01, Spent::default(), 300, 1, 0.1);
        assert_eq!(l.critical, None);
        assert_eq!(l.spent, Spent::default());
    }

    #[test]
    fn counts_beyond_summing_are_bounded_quickly_and_never_under_the_true_tail() {
        let started = std::time::Instant::now();
        let l = look(0.01, Spent::default(), 300, u64::MAX / 320, 0.5);
        assert!(started.elapsed().as_millis() < 100);
        let c = l.critical.expect("a critical count");
        assert!(c as f64 > 0.5 * (u64::MAX / 320) as f64);
        // Where both can be computed, the bound is above the exact tail.
        let n = 2_000;
        for c in [1_010u64, 1_050, 1_100, 1_200] {
            let q = c as f64 / n as f64;
            let kl = q * (q / 0.5).ln() + (1.0 - q) * ((1.0 - q) / 0.5).ln();
            assert!((-(n as f64) * kl).exp() >= upper_tail(n, c, 0.5));
        }
    }

    #[test]
    fn all_looks_together_never_use_more_than_alpha() {
        let alpha = 0.01;
        let mut spent = Spent::default();
        let (mut requests, mut total) = (0u64, 0u64);
        for _ in 0..300 {
            requests += 400;
            total += 3;
            let l = look(alpha, spent, requests, total, 0.2);
            assert!(l.size <= l.allowed + 1e-15);
            spent = l.spent;
        }
        assert!(spent.alpha() <= alpha, "{}", spent.alpha());
        assert!(spent.alpha() > 0.5 * alpha, "{}", spent.alpha());
    }
}
