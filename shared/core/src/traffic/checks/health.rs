//! Counting a target group's targets by health, as the shifter judges them.

use crate::traffic::phases::phase::TargetHealth;

/// Counts targets given as the load balancer's (state, reason) pairs. Once traffic may reach
/// a target, only `healthy` serves it: `draining` (deregistering, or failing and being
/// replaced) and `unavailable` (health checks off, or the load balancer cannot judge) count
/// as unhealthy, like `unhealthy`; `initial` and `unused` are neither yet.
pub fn count<'a>(
    target_group: &str,
    targets: impl IntoIterator<Item = (&'a str, Option<&'a str>)>,
) -> TargetHealth {
    let mut health = TargetHealth {
        target_group: target_group.to_string(),
        ..TargetHealth::default()
    };
    for (state, reason) in targets {
        match state {
            "healthy" => health.healthy += 1,
            "unhealthy" | "draining" | "unavailable" => {
                health.unhealthy += 1;
                if health.reason.is_none() {
                    health.reason = Some(match reason {
                        Some(r) => r.to_string(),
                        None => format!("target {state}"),
                    });
                }
            }
            _ => health.other += 1,
        }
    }
    health
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draining_and_unavailable_targets_count_as_unhealthy() {
        let h = count(
            "shop-green",
            [
                ("healthy", None),
                ("draining", Some("Target.DeregistrationInProgress")),
                ("unavailable", None),
            ],
        );
        assert_eq!(h.healthy, 1);
        assert_eq!(h.unhealthy, 2);
        assert_eq!(h.reason.as_deref(), Some("Target.DeregistrationInProgress"));
    }

    #[test]
    fn an_unavailable_target_without_reason_says_its_state() {
        let h = count("shop-green", [("unavailable", None)]);
        assert_eq!(h.unhealthy, 1);
        assert_eq!(h.reason.as_deref(), Some("target unavailable"));
    }

    #[test]
    fn initial_and_unused_targets_are_not_yet_judged() {
        let h = count("shop-green", [("initial", None), ("unused", None)]);
        assert_eq!((h.healthy, h.unhealthy, h.other), (0, 0, 2));
    }
}
