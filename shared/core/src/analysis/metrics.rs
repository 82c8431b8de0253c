//! The one `GetMetricData` request a check makes, as plain data (the adapter turns it into SDK
//! calls), and the answer back into both sides' series: ALB's per-target-group metrics in
//! `AWS/ApplicationELB`, dimensions `LoadBalancer` + `TargetGroup` derived from the ARNs.

use super::SideSeries;

pub const NAMESPACE: &str = "AWS/ApplicationELB";
pub const REQUESTS: &str = "RequestCount";
pub const ERRORS: &str = "HTTPCode_Target_5XX_Count";
pub const LATENCY: &str = "TargetResponseTime";

/// A target group's dimensions as ALB publishes them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlbDimensions {
    /// `app/<name>/<id>`: the load balancer ARN after `loadbalancer/`.
    pub load_balancer: String,
    /// `targetgroup/<name>/<id>`: the target group ARN's resource part.
    pub target_group: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ArnError {
    #[error("not an Application Load Balancer ARN (arn:...:loadbalancer/app/<name>/<id>)")]
    LoadBalancer,
    #[error("not a target group ARN (arn:...:targetgroup/<name>/<id>)")]
    TargetGroup,
}

impl AlbDimensions {
    pub fn from_arns(load_balancer_arn: &str, target_group_arn: &str) -> Result<Self, ArnError> {
        let load_balancer = load_balancer_arn
            .split_once(":loadbalancer/")
            .map(|(_, rest)| rest)
            .filter(|rest| rest.starts_with("app/") && rest.split('/').count() == 3)
            .ok_or(ArnError::LoadBalancer)?;
        let target_group = target_group_arn
            .splitn(6, ':')
            .nth(5)
            .filter(|rest| rest.starts_with("targetgroup/") && rest.split('/').count() == 3)
            .ok_or(ArnError::TargetGroup)?;
        Ok(AlbDimensions {
            load_balancer: load_balancer.to_owned(),
            target_group: target_group.to_owned(),
        })
    }
}

/// One `MetricDataQuery` with a `MetricStat`.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricQuery {
    /// Unique in the request: `n_req`, `n_5xx`, `n_p99`, `l_req`, `l_5xx`, `l_p99`.
    pub id: &'static str,
    pub metric_name: &'static str,
    /// `Sum` or `p99`.
    pub stat: &'static str,
    pub dimensions: AlbDimensions,
    pub period_seconds: i32,
}

/// The six queries of a check: requests, 5xx (Sum) and p99 latency, for each side.
pub fn metric_queries(
    new: &AlbDimensions,
    live: &AlbDimensions,
    period_seconds: i32,
) -> Vec<MetricQuery> {
    let side = |prefix: [&'static str; 3], d: &AlbDimensions| {
        [
            (prefix[0], REQUESTS, "Sum"),
            (prefix[1], ERRORS, "Sum"),
            (prefix[2], LATENCY, "p99"),
        ]
        .map(|(id, metric_name, stat)| MetricQuery {
            id,
            metric_name,
            stat,
            dimensions: d.clone(),
            period_seconds,
        })
    };
    let mut q = side(["n_req", "n_5xx", "n_p99"], new).to_vec();
    q.extend(side(["l_req", "l_5xx", "l_p99"], live));
    q
}

/// Both sides' series from the answer: `(query id, points)`; unknown ids are ignored, and a query
/// answered more than once (pagination) has its points appended.
pub fn series_from_results<'a>(
    results: impl IntoIterator<Item = (&'a str, Vec<(i64, f64)>)>,
) -> (SideSeries, SideSeries) {
    let (mut new, mut live) = (SideSeries::default(), SideSeries::default());
    for (id, points) in results {
        let target = match id {
            "n_req" => &mut new.requests,
            "n_5xx" => &mut new.errors,
            "n_p99" => &mut new.p99,
            "l_req" => &mut live.requests,
            "l_5xx" => &mut live.errors,
            "l_p99" => &mut live.p99,
            _ => continue,
        };
        target.extend(points);
    }
    (new, live)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::windows_from_series;

    const LB: &str = "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/shop/50dc6c495c0c9188";
    const TG: &str =
        "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/green/943f017f100becff";

    #[test]
    fn dimensions_come_from_the_arns() {
        let d = AlbDimensions::from_arns(LB, TG).expect("valid");
        assert_eq!(d.load_balancer, "app/shop/50dc6c495c0c9188");
        assert_eq!(d.target_group, "targetgroup/green/943f017f100becff");
        assert_eq!(
            AlbDimensions::from_arns(
                "arn:aws:elasticloadbalancing:us-east-1:1:loadbalancer/net/x/1",
                TG
            ),
            Err(ArnError::LoadBalancer)
        );
        assert_eq!(
            AlbDimensions::from_arns(LB, "targetgroup/green/1"),
            Err(ArnError::TargetGroup)
        );
    }

    #[test]
    fn one_request_covers_both_sides_and_reads_back_into_windows() {
        let new = AlbDimensions::from_arns(LB, TG).expect("valid");
        let live = AlbDimensions {
            target_group: "targetgroup/blue/1".into(),
            ..new.clone()
        };
        let q = metric_queries(&new, &live, 60);
        assert_eq!(q.len(), 6);
        assert_eq!(
            q.iter()
                .map(|q| q.id)
                .collect::<std::collections::HashSet<_>>()
                .len(),
            6
        );
        assert!(q.iter().all(|q| q.period_seconds == 60));
        assert_eq!(q[2].stat, "p99");
        assert_eq!(q[3].dimensions, live);
        let (n, l) = series_from_results([
            ("n_req", vec![(60, 100.0)]),
            ("n_5xx", vec![(60, 3.0)]),
            ("l_req", vec![(60, 900.0)]),
            ("l_p99", vec![(60, 0.2)]),
            ("other", vec![(60, 1.0)]),
        ]);
        let w = windows_from_series(&n, &l);
        assert_eq!(
            (
                w[0].new.requests,
                w[0].new.errors,
                w[0].live.requests,
                w[0].live.errors
            ),
            (100, 3, 900, 0)
        );
        assert_eq!(w[0].live.p99, Some(0.2));
    }
}
