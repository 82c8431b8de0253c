//! Alpha spending: how the deployment's `alpha` (its chance of rolling back a new side that is no
//! worse than the tolerance) is shared between the looks, so that looking at every window does not
//! multiply false rollbacks.
//!
//! The error test looks whenever both sides' errors together have grown since the last look. By
//! the time the new side has served `n` requests, the looks together may have used
//! `A(n) = alpha x n / (n + HALF)` (half of alpha by `HALF` requests, all of it only in the limit).
//!
//! What a look *uses* is the chance, with no difference, that it fails although the last look
//! that could fail did not: `P(X_k >= c_k and X_j < c_j)`, where `X` is the new side's count of
//! the errors and `c` a look's critical count. The looks are taken on the same, growing counts, so
//! a look that follows another sees mostly what that one saw: the chance of failing now without
//! having failed then is a small part of the chance of failing now. Spending only that part, and
//! not each look's whole tail, leaves the allowance to the later looks, which have the evidence.
//! Counts are whole numbers, so a look's size is usually below what it was allowed, and the rest
//! stays for later looks too.
//!
//! Why this keeps false rollbacks under `alpha`: given how many errors both sides had, which side
//! each error fell on is, with no difference, a coin with a known bias (the new side's share of the
//! traffic, times the tolerance). When to look and what each look may use depend only on those
//! totals and on the requests, never on the coins. "Some look fails" is the union, over the looks
//! `k`, of "look `k` fails and look `j` did not" (`j` any earlier look): so its chance is at most
//! the sum of the sizes used, which never exceeds `A(n)` and so never `alpha`, however many
//! windows there are. The counts up to look `j` and the errors since are binomial with the shares
//! of their own requests, so each size is computed exactly.

use serde::{Deserialize, Serialize};

use super::binomial::{ln_pmf, upper_tail};

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
    /// The chance, with no difference, of reaching `critical` without having reached the critical
    /// count of `since` (the whole tail when there is none): what the look uses.
    pub size: f64,
    pub spent: Spent,
}

/// The last look that could fail, as the next look's size needs it: both sides' errors then,
/// the new side's share of them with no difference, and its critical count.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Earlier {
    pub total: u64,
    pub share: f64,
    pub critical: u64,
}

/// The look at `total` errors when the new side has served `requests`: `p0` is the new side's
/// share of all of them with no difference; with `since`, `p_since` is its share of the errors
/// that came after that look (from the requests since).
pub fn look(
    alpha: f64,
    spent: Spent,
    requests: u64,
    total: u64,
    p0: f64,
    since: Option<(Earlier, f64)>,
) -> Look {
    let allowed = (allowance(alpha, requests) - spent.alpha()).max(0.0);
    let since = since.and_then(|(earlier, p_since)| {
        (earlier.total < total)
            .then(|| SinceEarlier::new(earlier, total - earlier.total, p_since))
            .flatten()
    });
    let size_at = |c: u64| match &since {
        Some(since) => since.size(c),
        None => tail(total, c, p0),
    };
    let critical = critical_count(total, p0, allowed, &size_at);
    let size = critical.map_or(0.0, size_at);
    Look {
        allowed,
        critical,
        size,
        spent: spent.add(size),
    }
}

/// The most terms `SinceEarlier` holds; beyond, the look's whole tail (a larger, still valid
/// size) is used: at such counts the evidence is ample and the saving small.
const MOST_TERMS: u64 = 20_000;

/// Standard deviations below the mean from which the earlier count's terms are summed; the mass
/// below (under e^-70 by Chernoff's bound) is added whole, so the size stays an upper bound.
const SDS_BELOW: f64 = 12.0;
const MASS_BELOW: f64 = 1e-25;

/// `P(X + Y >= c and X < earlier.critical)` for every `c` of one look, for `X ~ Bin(earlier.total,
/// earlier.share)` (the new side's errors at the earlier look) and `Y ~ Bin(added, p_added)` (its
/// errors since): `Σ_x P(X = x) P(Y >= c - x)` over `x < earlier.critical`. Built once a look
/// (the terms), then each probe of the critical count sums at most `added` products.
struct SinceEarlier {
    /// The first `x` held, and `P(X = x)` from there to `earlier.critical - 1`.
    first: u64,
    pmf: Vec<f64>,
    /// `Σ P(X = x)` from each held `x` to the end.
    from: Vec<f64>,
    /// `P(Y >= j)` for `j = 0..=added + 1`.
    at_least: Vec<f64>,
    added: u64,
    /// Mass not held (below `first`), added whole.
    below: f64,
}

impl SinceEarlier {
    fn new(earlier: Earlier, added: u64, p_added: f64) -> Option<SinceEarlier> {
        let (n, p) = (earlier.total, earlier.share);
        let end = earlier.critical.min(n.saturating_add(1));
        let mean = n as f64 * p;
        let sd = (mean * (1.0 - p)).sqrt();
        let first = ((mean - SDS_BELOW * sd).floor().max(0.0) as u64).min(end);
        if end - first > MOST_TERMS || added > MOST_TERMS {
            return None;
        }
        let below = if first == 0 { 0.0 } else { MASS_BELOW };
        let odds = p / (1.0 - p);
        let mut pmf = Vec::with_capacity((end - first) as usize);
        let mut term = ln_pmf(n, first, p).exp();
        for x in first..end {
            pmf.push(term);
            term *= (n - x) as f64 / (x + 1) as f64 * odds;
        }
        let mut from = vec![0.0f64; pmf.len() + 1];
        for i in (0..pmf.len()).rev() {
            from[i] = from[i + 1] + pmf[i];
        }
        let mut at_least = vec![0.0f64; added as usize + 2];
        for j in (0..=added).rev() {
            at_least[j as usize] =
                (at_least[j as usize + 1] + ln_pmf(added, j, p_added).exp()).min(1.0);
        }
        Some(SinceEarlier {
            first,
            pmf,
            from,
            at_least,
            added,
            below,
        })
    }

    /// The chance of failing at count `c` now without having failed then.
    fn size(&self, c: u64) -> f64 {
        let end = self.first + self.pmf.len() as u64;
        // From `c` up, every x reaches `c` whatever comes after: their mass at once.
        let whole_from = c.clamp(self.first, end);
        let mut sum = self.below + self.from[(whole_from - self.first) as usize];
        // Below `c - added`, even every later error on the new side would not reach `c`.
        let start = c.saturating_sub(self.added).max(self.first);
        for x in start..whole_from {
            sum += self.pmf[(x - self.first) as usize] * self.at_least[(c - x) as usize];
        }
        sum.min(1.0)
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

/// The smallest `c` with `size(c) <= allowed` (a look's size falls as `c` grows), searched
/// between the mean and `total`.
fn critical_count(total: u64, p0: f64, allowed: f64, size: &dyn Fn(u64) -> f64) -> Option<u64> {
    if total == 0 || allowed <= 0.0 || size(total) > allowed {
        return None;
    }
    let mean = (total as f64 * p0).floor() as u64;
    let (mut low, mut high) = (mean.clamp(1, total), total);
    while low < high {
        let mid = low + (high - low) / 2;
        if size(mid) <= allowed {
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
        let l = look(0.01, Spent::default(), 300, 20, 0.1, None);
        assert_eq!(l.critical, Some(7));
        assert!((l.size - 0.002_386).abs() < 1e-5, "{}", l.size);
        assert!(l.size <= l.allowed);
    }

    #[test]
    fn a_look_that_cannot_fail_uses_nothing() {
        // One error, at a 10% share: even on the new side it is a 10% chance.
        let l = look(0.01, Spent::default(), 300, 1, 0.1, None);
        assert_eq!(l.critical, None);
        assert_eq!(l.spent, Spent::default());
    }

    #[test]
    fn counts_beyond_summing_are_bounded_quickly_and_never_under_the_true_tail() {
        let started = std::time::Instant::now();
        let l = look(0.01, Spent::default(), 300, u64::MAX / 320, 0.5, None);
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
            let l = look(alpha, spent, requests, total, 0.2, None);
            assert!(l.size <= l.allowed + 1e-15);
            spent = l.spent;
        }
        assert!(spent.alpha() <= alpha, "{}", spent.alpha());
        assert!(spent.alpha() > 0.5 * alpha, "{}", spent.alpha());
    }

    /// `P(X + Y >= c and X < c1)` summed term by term, for the check below.
    fn brute(n1: u64, p1: f64, c1: u64, added: u64, q: f64, c: u64) -> f64 {
        let mut sum = 0.0;
        for x in 0..c1.min(n1 + 1) {
            for y in 0..=added {
                if x + y >= c {
                    sum += ln_pmf(n1, x, p1).exp() * ln_pmf(added, y, q).exp();
                }
            }
        }
        sum
    }

    #[test]
    fn a_look_after_another_spends_only_the_chance_of_failing_now_and_not_then() {
        let earlier = Earlier {
            total: 20,
            share: 0.1,
            critical: 7,
        };
        let since = SinceEarlier::new(earlier, 3, 0.1).expect("small counts");
        for c in 5..=12 {
            let exact = brute(20, 0.1, 7, 3, 0.1, c);
            assert!((since.size(c) - exact).abs() < 1e-15, "c = {c}");
        }
        // Far less than the look's whole tail at the same critical count: the two looks share
        // most of their counts.
        let l = look(
            0.01,
            Spent(5_000_000_000),
            400,
            23,
            0.1,
            Some((earlier, 0.1)),
        );
        let c = l.critical.expect("a critical count");
        assert!(
            l.size < 0.5 * upper_tail(23, c, 0.1),
            "{} vs {}",
            l.size,
            upper_tail(23, c, 0.1)
        );
        assert!(l.size <= l.allowed);
        // A weight change between the looks: the errors since come at the new share.
        let shifted = SinceEarlier::new(earlier, 5, 0.5).expect("small counts");
        assert!((shifted.size(9) - brute(20, 0.1, 7, 5, 0.5, 9)).abs() < 1e-15);
    }

    #[test]
    fn two_looks_never_fail_more_often_than_they_spent() {
        // Enumerate every way the coins can fall at two looks (20 errors, then 8 more, the new side's
        // share 0.1): the chance that either look fails is at most what the two spent.
        let first = look(0.01, Spent::default(), 300, 20, 0.1, None);
        let c1 = first.critical.expect("a critical count");
        let earlier = Earlier {
            total: 20,
            share: 0.1,
            critical: c1,
        };
        let second = look(0.01, first.spent, 600, 28, 0.1, Some((earlier, 0.1)));
        let c2 = second.critical.expect("a critical count");
        let mut fails = 0.0;
        for x in 0..=20u64 {
            for y in 0..=8u64 {
                if x >= c1 || x + y >= c2 {
                    fails += ln_pmf(20, x, 0.1).exp() * ln_pmf(8, y, 0.1).exp();
                }
            }
        }
        assert!(
            fails <= second.spent.alpha() + 1e-12,
            "{fails} > {}",
            second.spent.alpha()
        );
        assert!(second.spent.alpha() <= allowance(0.01, 600));
        // And the second look could use more than its whole tail would have left it.
        assert!(second.size < upper_tail(28, c2, 0.1));
    }

    #[test]
    fn counts_too_large_to_sum_fall_back_to_the_whole_tail() {
        let earlier = Earlier {
            total: 5_000_000,
            share: 0.5,
            critical: 2_600_000,
        };
        assert!(SinceEarlier::new(earlier, 100, 0.5).is_none());
        let l = look(
            0.01,
            Spent::default(),
            10_000,
            5_000_100,
            0.5,
            Some((earlier, 0.5)),
        );
        let c = l.critical.expect("a critical count");
        assert!((l.size - tail(5_000_100, c, 0.5)).abs() < 1e-18);
    }
}
