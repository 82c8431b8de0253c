//! Publishes what an Application Load Balancer would for one target group and one 60-second
//! period, through the emulator's `POST /_gantry/cloudwatch/alb-metrics` (AWS refuses
//! PutMetricData into `AWS/` namespaces, so tests cannot publish ALB metrics themselves):
//! `RequestCount`, `HTTPCode_Target_5XX_Count` (only when non-zero, as ALB) and one
//! `TargetResponseTime` per request. The shifter then reads them with `GetMetricData`.

use serde_json::json;

/// One side's traffic in one period.
#[derive(Debug, Clone, Copy)]
pub struct Period {
    /// Any second inside the period (seconds since the epoch); CloudWatch buckets by minute.
    pub timestamp: i64,
    pub requests: u64,
    pub errors_5xx: u64,
    /// Most requests take `typical_seconds`; the slowest 1% take `p99_seconds`, so the period's
    /// p99 is `p99_seconds`.
    pub typical_seconds: f64,
    pub p99_seconds: f64,
}

/// Response times for `p`: deterministic, with exactly the p99 asked for.
pub fn response_times(p: &Period) -> Vec<f64> {
    // CloudWatch's p99 is the ceil(0.99 n)-th smallest value: that one and all above it are slow.
    let rank = (99 * p.requests).div_ceil(100);
    let slow = p.requests - rank + u64::from(p.requests > 0);
    (0..p.requests)
        .map(|i| {
            if i < p.requests - slow {
                p.typical_seconds
            } else {
                p.p99_seconds
            }
        })
        .collect()
}

/// Publishes `p` for the target group `target_group_arn` behind `load_balancer_arn`.
pub async fn publish(load_balancer_arn: &str, target_group_arn: &str, p: &Period) {
    crate::http::post(
        &format!("{}/_gantry/cloudwatch/alb-metrics", crate::emulator_url()),
        &json!({
            "load_balancer_arn": load_balancer_arn,
            "target_group_arn": target_group_arn,
            "timestamp": p.timestamp,
            "requests": p.requests,
            "errors_5xx": p.errors_5xx,
            "response_times": response_times(p),
        }),
    )
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_slowest_one_percent_sets_the_p99() {
        let p = Period {
            timestamp: 0,
            requests: 250,
            errors_5xx: 0,
            typical_seconds: 0.05,
            p99_seconds: 0.4,
        };
        let mut t = response_times(&p);
        assert_eq!(t.len(), 250);
        t.sort_by(f64::total_cmp);
        // Nearest rank: the ceil(0.99 x 250) = 248th value.
        assert_eq!(t[247], 0.4);
        assert_eq!(t[246], 0.05);
        let mut t = response_times(&Period { requests: 100, ..p });
        t.sort_by(f64::total_cmp);
        assert_eq!((t[97], t[98]), (0.05, 0.4));
        assert!(response_times(&Period { requests: 0, ..p }).is_empty());
    }
}
