//! How long one invocation of the traffic shifter may work.

use std::time::Duration;

/// What is left before Lambda's deadline (`deadline_ms`, epoch milliseconds), less a margin to
/// roll back and report: a quarter of what is left, at least 2 s, at most 15 s.
pub fn invocation_budget(deadline_ms: u64, now_ms: u64) -> Duration {
    let left = deadline_ms.saturating_sub(now_ms);
    let margin = (left / 4).clamp(2_000, 15_000);
    Duration::from_millis(left.saturating_sub(margin))
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
}
