//! `AlarmWatch` on CloudWatch (metric and composite alarms), and `TargetMetrics`: the load
//! balancer's per-target-group metrics for the canary judge, in one `GetMetricData` per check.

use aws_sdk_cloudwatch::types::{AlarmType, StateValue};
use gantry_core::analysis::MetricQuery;
use gantry_core::traffic::{AlarmReading, AlarmState};
use gantry_core::traffic::{AlarmWatch, MetricSeries, ShiftError, TargetMetrics};
use std::collections::HashMap;

/// CloudWatch through the AWS SDK.
#[derive(Debug, Clone)]
pub struct CloudWatchAlarms {
    pub client: aws_sdk_cloudwatch::Client,
}

impl CloudWatchAlarms {
    /// The client for the account the current deployment acts in (`crate::sts`).
    fn client(&self) -> aws_sdk_cloudwatch::Client {
        crate::sts::in_target(|e| e.cloudwatch.clone()).unwrap_or_else(|| self.client.clone())
    }
}

impl AlarmWatch for CloudWatchAlarms {
    async fn states(&self, names: &[String]) -> Result<Vec<AlarmReading>, ShiftError> {
        if names.is_empty() {
            return Ok(Vec::new());
        }
        let mut found: HashMap<String, StateValue> = HashMap::new();
        // DescribeAlarms takes at most 100 names and returns at most 100 alarms a page (50 unless
        // asked): one call per 100 watched alarms, whatever their number
        // (docs/performance.md#how-the-cost-grows-with-the-work).
        for chunk in names.chunks(DESCRIBE_ALARMS_MAX) {
            self.read_states(chunk, &mut found).await?;
        }
        Ok(names
            .iter()
            .map(|name| AlarmReading {
                name: name.clone(),
                state: match found.get(name) {
                    None => AlarmState::Missing,
                    Some(StateValue::Alarm) => AlarmState::Alarm,
                    Some(StateValue::Ok) => AlarmState::Ok,
                    Some(_) => AlarmState::InsufficientData,
                },
            })
            .collect())
    }
}

/// DescribeAlarms' limit on `AlarmNames` and on `MaxRecords`.
pub const DESCRIBE_ALARMS_MAX: usize = 100;

impl CloudWatchAlarms {
    /// The states of up to [`DESCRIBE_ALARMS_MAX`] alarms, following `NextToken` (composite
    /// alarms page separately from metric alarms).
    async fn read_states(
        &self,
        names: &[String],
        found: &mut HashMap<String, StateValue>,
    ) -> Result<(), ShiftError> {
        let mut next: Option<String> = None;
        loop {
            let out = self
                .client()
                .describe_alarms()
                .set_alarm_names(Some(names.to_vec()))
                .alarm_types(AlarmType::MetricAlarm)
                .alarm_types(AlarmType::CompositeAlarm)
                .max_records(DESCRIBE_ALARMS_MAX as i32)
                .set_next_token(next.take())
                .send()
                .await
                .map_err(|e| crate::aws_error::shift_error("CloudWatch DescribeAlarms", e))?;
            let metric = out
                .metric_alarms()
                .iter()
                .map(|a| (a.alarm_name(), a.state_value()));
            let composite = out
                .composite_alarms()
                .iter()
                .map(|a| (a.alarm_name(), a.state_value()));
            for (name, state) in metric.chain(composite) {
                if let (Some(name), Some(state)) = (name, state) {
                    found.insert(name.to_string(), state.clone());
                }
            }
            match out.next_token() {
                Some(t) if !t.is_empty() => next = Some(t.to_string()),
                _ => return Ok(()),
            }
        }
    }
}

impl TargetMetrics for CloudWatchAlarms {
    async fn series(
        &self,
        queries: &[MetricQuery],
        start: i64,
        end: i64,
    ) -> Result<Vec<MetricSeries>, ShiftError> {
        use aws_sdk_cloudwatch::primitives::DateTime;
        use aws_sdk_cloudwatch::types::{Dimension, Metric, MetricDataQuery, MetricStat};
        let queries: Vec<MetricDataQuery> = queries
            .iter()
            .map(|q| {
                let metric = Metric::builder()
                    .namespace(gantry_core::analysis::metrics::NAMESPACE)
                    .metric_name(q.metric_name)
                    .dimensions(
                        Dimension::builder()
                            .name("LoadBalancer")
                            .value(&q.dimensions.load_balancer)
                            .build(),
                    )
                    .dimensions(
                        Dimension::builder()
                            .name("TargetGroup")
                            .value(&q.dimensions.target_group)
                            .build(),
                    )
                    .build();
                MetricDataQuery::builder()
                    .id(q.id)
                    .metric_stat(
                        MetricStat::builder()
                            .metric(metric)
                            .period(q.period_seconds)
                            .stat(q.stat)
                            .build(),
                    )
                    .return_data(true)
                    .build()
            })
            .collect();
        let mut found: Vec<MetricSeries> = Vec::new();
        let mut next: Option<String> = None;
        loop {
            let out = self
                .client()
                .get_metric_data()
                .set_metric_data_queries(Some(queries.clone()))
                .start_time(DateTime::from_secs(start))
                .end_time(DateTime::from_secs(end))
                .set_next_token(next.take())
                .send()
                .await
                .map_err(|e| crate::aws_error::shift_error("CloudWatch GetMetricData", e))?;
            for r in out.metric_data_results() {
                let Some(id) = r.id() else { continue };
                let points = r
                    .timestamps()
                    .iter()
                    .zip(r.values())
                    .map(|(t, v)| (t.secs(), *v))
                    .collect();
                found.push(MetricSeries {
                    id: id.to_string(),
                    points,
                });
            }
            match out.next_token() {
                Some(t) if !t.is_empty() => next = Some(t.to_string()),
                _ => break,
            }
        }
        Ok(found)
    }
}
