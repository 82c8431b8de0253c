//! Plain data the judge reads: per window (one CloudWatch period), per side, the requests, the
//! 5xx and the p99 latency; and the conversion from CloudWatch's per-period series.

use serde::{Deserialize, Serialize};

/// One side's figures in one window.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct SideStats {
    /// `RequestCount` (Sum).
    pub requests: u64,
    /// `HTTPCode_Target_5XX_Count` (Sum); ALB publishes no point when there were none.
    pub errors: u64,
    /// `TargetResponseTime` p99 in seconds, when CloudWatch had one.
    pub p99: Option<f64>,
}

/// Both sides over the same window.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Window {
    /// The period's start, seconds since the Unix epoch (CloudWatch's timestamp).
    pub start: i64,
    /// The side taking the new version.
    pub new: SideStats,
    /// The side serving the version users had before.
    pub live: SideStats,
}

/// One side's series as `GetMetricData` returns them: (timestamp in epoch seconds, value), in any
/// order (CloudWatch answers newest first by default).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SideSeries {
    pub requests: Vec<(i64, f64)>,
    pub errors: Vec<(i64, f64)>,
    pub p99: Vec<(i64, f64)>,
}

/// Turns both sides' series into windows, oldest first: one window per timestamp at which either
/// side has a `RequestCount` point. A missing count is zero (ALB publishes only non-zero counts);
/// a missing p99 stays unknown. Negative or non-finite values count as zero / unknown.
pub fn windows_from_series(new: &SideSeries, live: &SideSeries) -> Vec<Window> {
    let mut starts: Vec<i64> = new
        .requests
        .iter()
        .chain(&live.requests)
        .map(|(t, _)| *t)
        .collect();
    starts.sort_unstable();
    starts.dedup();
    starts
        .into_iter()
        .map(|start| Window {
            start,
            new: side_at(new, start),
            live: side_at(live, start),
        })
        .collect()
}

fn side_at(series: &SideSeries, start: i64) -> SideStats {
    SideStats {
        requests: count_at(&series.requests, start),
        errors: count_at(&series.errors, start),
        p99: series
            .p99
            .iter()
            .find(|(t, _)| *t == start)
            .map(|(_, v)| *v)
            .filter(|v| v.is_finite() && *v >= 0.0),
    }
}

fn count_at(points: &[(i64, f64)], start: i64) -> u64 {
    let sum: f64 = points
        .iter()
        .filter(|(t, _)| *t == start)
        .map(|(_, v)| *v)
        .filter(|v| v.is_finite() && *v > 0.0)
        .sum();
    // CloudWatch sums of counts are whole numbers; round rather than truncate 2.9999999.
    sum.round() as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_error_points_are_zero_and_windows_come_oldest_first() {
        let new = SideSeries {
            requests: vec![(120, 30.0), (60, 20.0)],
            errors: vec![(120, 2.0)],
            p99: vec![(60, 0.25), (120, 0.5)],
        };
        let live = SideSeries {
            requests: vec![(60, 200.0), (120, 180.0)],
            errors: vec![],
            p99: vec![(120, 0.3)],
        };
        let w = windows_from_series(&new, &live);
        assert_eq!(w.len(), 2);
        assert_eq!(w[0].start, 60);
        assert_eq!(
            w[0].new,
            SideStats {
                requests: 20,
                errors: 0,
                p99: Some(0.25)
            }
        );
        assert_eq!(
            w[0].live,
            SideStats {
                requests: 200,
                errors: 0,
                p99: None
            }
        );
        assert_eq!(w[1].new.errors, 2);
        assert_eq!(w[1].live.p99, Some(0.3));
    }

    #[test]
    fn a_period_where_only_one_side_had_traffic_is_still_a_window() {
        let new = SideSeries::default();
        let live = SideSeries {
            requests: vec![(0, 10.0)],
            errors: vec![(0, 1.0)],
            p99: vec![],
        };
        let w = windows_from_series(&new, &live);
        assert_eq!(
            w,
            vec![Window {
                start: 0,
                new: SideStats::default(),
                live: SideStats {
                    requests: 10,
                    errors: 1,
                    p99: None
                }
            }]
        );
    }

    #[test]
    fn nonsense_values_count_as_nothing() {
        let new = SideSeries {
            requests: vec![(0, f64::NAN), (0, 4.9999999)],
            errors: vec![(0, -1.0)],
            p99: vec![(0, f64::INFINITY)],
        };
        let w = windows_from_series(&new, &SideSeries::default());
        assert_eq!(
            w[0].new,
            SideStats {
                requests: 5,
                errors: 0,
                p99: None
            }
        );
    }
}
