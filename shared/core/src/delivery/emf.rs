//! CloudWatch's Embedded Metric Format: one JSON log line that CloudWatch Logs turns into a
//! metric point, with no `PutMetricData` call and no added latency. Specification:
//! <https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html>.

use super::history::Due;
use serde_json::{json, Value};

/// The namespace every Gantry figure is in.
pub const NAMESPACE: &str = "Gantry";

/// CloudWatch refuses points more than two weeks old; an older figure is stamped now.
const OLDEST_ACCEPTED_MS: i64 = 14 * 24 * 3600 * 1000 - 3600 * 1000;

/// The EMF document of one figure, stamped when it happened (or `now_ms` when that is too old
/// for CloudWatch). `subject` and `execution_id`-like context ride along as plain properties,
/// searchable in Logs Insights and not metrics themselves.
pub fn document(due: &Due, now_ms: i64) -> Value {
    let timestamp = if now_ms - due.at_ms > OLDEST_ACCEPTED_MS {
        now_ms
    } else {
        due.at_ms
    };
    let mut doc = json!({
        "_aws": {
            "Timestamp": timestamp,
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": [["Pipeline", "Stage"]],
                "Metrics": [{"Name": due.metric.name(), "Unit": due.metric.unit()}],
            }],
        },
        "Pipeline": due.pipeline,
        "Stage": due.stage,
        "subject": due.subject,
    });
    doc[due.metric.name()] = json!(due.value);
    doc
}

/// The same, as the single line written to stdout.
pub fn line(due: &Due, now_ms: i64) -> String {
    document(due, now_ms).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::delivery::model::Metric;

    fn due(at_ms: i64) -> Due {
        Due {
            pipeline: "shop".into(),
            stage: "Prod".into(),
            metric: Metric::LeadTimeSeconds,
            value: 42.5,
            at_ms,
            subject: "c0ffee".into(),
            executions: Default::default(),
        }
    }

    #[test]
    fn a_figure_is_one_line_with_its_value_under_its_metric_name() {
        let line = line(&due(1_000), 2_000);
        assert!(!line.contains('\n'));
        let v: Value = serde_json::from_str(&line).expect("json");
        assert_eq!(v["LeadTimeSeconds"], json!(42.5));
        assert_eq!(v["_aws"]["Timestamp"], json!(1_000));
        assert_eq!(v["_aws"]["CloudWatchMetrics"][0]["Namespace"], "Gantry");
        assert_eq!(
            v["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]["Unit"],
            "Seconds"
        );
    }

    #[test]
    fn a_figure_too_old_for_cloudwatch_is_stamped_now() {
        let now = 30 * 24 * 3600 * 1000;
        let v = document(&due(0), now);
        assert_eq!(v["_aws"]["Timestamp"], json!(now));
    }
}
