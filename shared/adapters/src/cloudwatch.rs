//! `AlarmWatch` on CloudWatch (metric and composite alarms).

use aws_sdk_cloudwatch::types::{AlarmType, StateValue};
use gantry_core::traffic::{AlarmReading, AlarmState};
use gantry_core::traffic::{AlarmWatch, ShiftError};
use std::collections::HashMap;

/// CloudWatch through the AWS SDK.
#[derive(Debug, Clone)]
pub struct CloudWatchAlarms {
    pub client: aws_sdk_cloudwatch::Client,
}

impl AlarmWatch for CloudWatchAlarms {
    async fn states(&self, names: &[String]) -> Result<Vec<AlarmReading>, ShiftError> {
        if names.is_empty() {
            return Ok(Vec::new());
        }
        let mut found: HashMap<String, StateValue> = HashMap::new();
        let mut next: Option<String> = None;
        loop {
            let out = self
                .client
                .describe_alarms()
                .set_alarm_names(Some(names.to_vec()))
                .alarm_types(AlarmType::MetricAlarm)
                .alarm_types(AlarmType::CompositeAlarm)
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
                _ => break,
            }
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
