//! The exact binomial tail, summed from log-space terms so that neither a large `n` (millions of
//! requests) nor a tiny probability (1e-300) overflows or underflows on the way.

/// ln Γ(x) for x > 0 (Lanczos, g = 7, 9 terms: ~15 significant digits).
pub fn ln_gamma(x: f64) -> f64 {
    const G: f64 = 7.0;
    const C: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    if x < 0.5 {
        // Reflection: Γ(x)Γ(1-x) = π / sin(πx).
        let pi = std::f64::consts::PI;
        return (pi / (pi * x).sin()).abs().ln() - ln_gamma(1.0 - x);
    }
    let x = x - 1.0;
    let mut a = C[0];
    let t = x + G + 0.5;
    for (i, c) in C.iter().enumerate().skip(1) {
        a += c / (x + i as f64);
    }
    0.5 * (2.0 * std::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + a.ln()
}

/// ln P(X = k) for X ~ Binomial(n, p).
pub fn ln_pmf(n: u64, k: u64, p: f64) -> f64 {
    if k > n {
        return f64::NEG_INFINITY;
    }
    if p <= 0.0 {
        return if k == 0 { 0.0 } else { f64::NEG_INFINITY };
    }
    if p >= 1.0 {
        return if k == n { 0.0 } else { f64::NEG_INFINITY };
    }
    let (nf, kf) = (n as f64, k as f64);
    ln_gamma(nf + 1.0) - ln_gamma(kf + 1.0) - ln_gamma(nf - kf + 1.0)
        + kf * p.ln()
        + (nf - kf) * (-p).ln_1p()
}

/// P(X >= k) for X ~ Binomial(n, p): the exact one-sided p-value of seeing `k` or more.
///
/// The terms fall away from the mode, so the tail on the far side of the mean is summed outward
/// from `k` until they no longer matter; when `k` is below the mean, one minus the lower tail is
/// summed instead. Either way at most a few dozen standard deviations of terms are visited.
pub fn upper_tail(n: u64, k: u64, p: f64) -> f64 {
    if k == 0 {
        return 1.0;
    }
    if k > n || p <= 0.0 {
        return 0.0;
    }
    if p >= 1.0 {
        return 1.0;
    }
    let mean = n as f64 * p;
    if k as f64 > mean {
        sum_from(n, k, p, true).min(1.0)
    } else {
        (1.0 - sum_from(n, k - 1, p, false)).clamp(0.0, 1.0)
    }
}

/// Σ P(X = j) for j from `start` outward (upward or downward), with each term from the previous
/// by the pmf's ratio, stopping when a term is below 1e-17 of the sum.
fn sum_from(n: u64, start: u64, p: f64, upward: bool) -> f64 {
    let mut term = ln_pmf(n, start, p).exp();
    if term == 0.0 {
        // Underflow: the tail is smaller than f64 can hold; report the smallest it can.
        return f64::MIN_POSITIVE;
    }
    let odds = p / (1.0 - p);
    let mut sum = term;
    let mut j = start;
    loop {
        if upward {
            if j >= n {
                break;
            }
            term *= (n - j) as f64 / (j + 1) as f64 * odds;
            j += 1;
        } else {
            if j == 0 {
                break;
            }
            term *= j as f64 / (n - j + 1) as f64 / odds;
            j -= 1;
        }
        sum += term;
        if term < sum * 1e-17 {
            break;
        }
    }
    sum
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, rel: f64) -> bool {
        (a - b).abs() <= rel * b.abs().max(1e-300)
    }

    #[test]
    fn ln_gamma_matches_factorials() {
        assert!(close(ln_gamma(1.0), 0.0, 1e-12) || ln_gamma(1.0).abs() < 1e-13);
        assert!(close(ln_gamma(11.0), (3_628_800f64).ln(), 1e-13));
        assert!(close(
            ln_gamma(0.5),
            std::f64::consts::PI.sqrt().ln(),
            1e-13
        ));
        // Stirling with two corrections at 1e6.
        let x: f64 = 1e6;
        let stirling =
            (x - 0.5) * x.ln() - x + 0.5 * (2.0 * std::f64::consts::PI).ln() + 1.0 / (12.0 * x);
        assert!(close(ln_gamma(x), stirling, 1e-14));
    }

    #[test]
    fn known_binomial_tails() {
        // Fair coin, 10 tosses: P(X >= 8) = 56/1024.
        assert!(close(upper_tail(10, 8, 0.5), 56.0 / 1024.0, 1e-12));
        // P(X >= 1) = 1 - 0.9^20.
        assert!(close(upper_tail(20, 1, 0.1), 1.0 - 0.9f64.powi(20), 1e-12));
        // Below the mean: P(X >= 3) for Bin(10, 0.5) = 1 - 56/1024.
        assert!(close(upper_tail(10, 3, 0.5), 1.0 - 56.0 / 1024.0, 1e-12));
        // Far above the mean: the same as summing every term of the tail one by one.
        let direct: f64 = (25..=47).map(|k| ln_pmf(47, k, 0.18).exp()).sum();
        assert!(close(upper_tail(47, 25, 0.18), direct, 1e-10));
    }

    #[test]
    fn edges() {
        assert_eq!(upper_tail(0, 0, 0.3), 1.0);
        assert_eq!(upper_tail(5, 0, 0.3), 1.0);
        assert_eq!(upper_tail(5, 6, 0.3), 0.0);
        assert_eq!(upper_tail(5, 1, 0.0), 0.0);
        assert_eq!(upper_tail(5, 5, 1.0), 1.0);
        assert!(close(upper_tail(5, 5, 0.5), 1.0 / 32.0, 1e-12));
    }

    #[test]
    fn huge_n_stays_finite_and_ordered() {
        // 10 million trials: the mean is 100,000, sd ~316.
        let at_mean = upper_tail(10_000_000, 100_000, 0.01);
        assert!((0.45..0.55).contains(&at_mean), "{at_mean}");
        let three_sd = upper_tail(10_000_000, 100_949, 0.01);
        assert!(close(three_sd, 0.00135, 0.1), "{three_sd}");
        let far = upper_tail(10_000_000, 200_000, 0.01);
        assert!(far > 0.0 && far < 1e-300, "{far}");
        assert!(upper_tail(10_000_000, 99_000, 0.01) > 0.99);
    }
}
