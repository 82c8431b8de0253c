//! `UserParameters.analysis`: how the new side is judged against the live side. `{}` takes the
//! defaults; an unknown field or a value out of range is refused with a message naming the field.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// What to do when a step's bake ends without a single window that could be judged (too little
/// traffic on the new side): `pause` (the default) holds the weights and asks a person in Slack;
/// `continue` advances anyway; `rollback` rolls back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnInconclusive {
    /// Hold the current weights and ask a person (Promote now / Roll back in Slack).
    Pause,
    /// Advance as if the bake had passed: for services whose canary sees too little traffic to judge.
    Continue,
    /// Roll back: for teams that would rather redeploy than promote an unjudged version.
    Rollback,
}

impl OnInconclusive {
    /// The name used in `UserParameters` and in messages.
    pub fn as_str(self) -> &'static str {
        match self {
            OnInconclusive::Pause => "pause",
            OnInconclusive::Continue => "continue",
            OnInconclusive::Rollback => "rollback",
        }
    }
}

/// The judge's settings, every one with a default (see `docs/analysis.md`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AnalysisConfig {
    /// The new side's requests in a window before that window gets a verdict (fewer: Inconclusive).
    pub min_requests: u64,
    /// The 5xx rate the new side may have, as a multiple of the live side's, before it counts as
    /// worse: the null hypothesis of the exact test is "new rate <= this x live rate".
    pub error_ratio_tolerance: f64,
    /// How many times the live side's p99 the new side's p99 may be in a window.
    pub latency_ratio_tolerance: f64,
    /// Requests on each side in a window before their p99s are compared. A p99 of `n` requests
    /// is the `n/100`-th slowest: of 200, the second slowest, which alone is over 1.5x another
    /// side's often enough to roll back same-version deployments now and then; of 400, the
    /// fourth, and almost never (docs/analysis.md#latency-p99-against-p99).
    pub latency_min_requests: u64,
    /// Consecutive judged windows with the new p99 over the tolerance before it is a Fail.
    pub latency_windows: u32,
    /// The chance, over the whole deployment and all its looks, of rolling back a new side whose
    /// error rate is no worse than `error_ratio_tolerance` x the live side's: the most it can be
    /// is at exactly the tolerance. A new side no worse than live (the same version) is rolled
    /// back less often; how often, `make bench` measures
    /// (docs/analysis.md#what-the-simulation-shows-make-bench).
    pub alpha: f64,
    /// A step advances only if its bake had at least one Pass.
    pub require_pass: bool,
    /// What a bake that ends with no Pass (and no Fail) does.
    pub on_inconclusive: OnInconclusive,
}

impl Default for AnalysisConfig {
    fn default() -> Self {
        AnalysisConfig {
            min_requests: 50,
            error_ratio_tolerance: 1.1,
            latency_ratio_tolerance: 1.5,
            latency_min_requests: 400,
            latency_windows: 2,
            alpha: 0.015,
            require_pass: true,
            on_inconclusive: OnInconclusive::Pause,
        }
    }
}

/// Why `analysis` was refused; the message names the field.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AnalysisConfigError {
    #[error("analysis must be a JSON object")]
    NotAnObject,
    #[error("analysis.{0} is not a known field (known: {known})", known = FIELDS.join(", "))]
    UnknownField(String),
    #[error("analysis.{field} {expected}")]
    Invalid {
        field: &'static str,
        expected: &'static str,
    },
}

const FIELDS: [&str; 8] = [
    "min_requests",
    "error_ratio_tolerance",
    "latency_ratio_tolerance",
    "latency_min_requests",
    "latency_windows",
    "alpha",
    "require_pass",
    "on_inconclusive",
];

impl AnalysisConfig {
    /// Parses the `analysis` object of `UserParameters`.
    pub fn from_json(value: &Value) -> Result<Self, AnalysisConfigError> {
        let object = value.as_object().ok_or(AnalysisConfigError::NotAnObject)?;
        if let Some(unknown) = object.keys().find(|k| !FIELDS.contains(&k.as_str())) {
            return Err(AnalysisConfigError::UnknownField(
                unknown.chars().take(64).collect(),
            ));
        }
        let d = AnalysisConfig::default();
        Ok(AnalysisConfig {
            min_requests: count(object, "min_requests", d.min_requests, 1)?,
            error_ratio_tolerance: ratio(object, "error_ratio_tolerance", d.error_ratio_tolerance)?,
            latency_ratio_tolerance: ratio(
                object,
                "latency_ratio_tolerance",
                d.latency_ratio_tolerance,
            )?,
            latency_min_requests: count(object, "latency_min_requests", d.latency_min_requests, 1)?,
            latency_windows: u32::try_from(count(
                object,
                "latency_windows",
                d.latency_windows.into(),
                1,
            )?)
            .map_err(|_| invalid("latency_windows", "must be a whole number from 1 to 60"))?,
            alpha: alpha(object)?,
            require_pass: match object.get("require_pass") {
                None => d.require_pass,
                Some(v) => v
                    .as_bool()
                    .ok_or(invalid("require_pass", "must be true or false"))?,
            },
            on_inconclusive: match object.get("on_inconclusive") {
                None => d.on_inconclusive,
                Some(v) => serde_json::from_value(v.clone()).map_err(|_| {
                    invalid(
                        "on_inconclusive",
                        "must be \"pause\", \"continue\" or \"rollback\"",
                    )
                })?,
            },
        })
    }
}

fn invalid(field: &'static str, expected: &'static str) -> AnalysisConfigError {
    AnalysisConfigError::Invalid { field, expected }
}

fn count(
    o: &Map<String, Value>,
    field: &'static str,
    default: u64,
    min: u64,
) -> Result<u64, AnalysisConfigError> {
    let Some(v) = o.get(field) else {
        return Ok(default);
    };
    let limit = if field == "latency_windows" {
        60
    } else {
        1_000_000_000
    };
    match v.as_u64() {
        Some(n) if n >= min && n <= limit => Ok(n),
        _ if field == "latency_windows" => {
            Err(invalid(field, "must be a whole number from 1 to 60"))
        }
        _ => Err(invalid(
            field,
            "must be a whole number from 1 to 1000000000",
        )),
    }
}

fn ratio(
    o: &Map<String, Value>,
    field: &'static str,
    default: f64,
) -> Result<f64, AnalysisConfigError> {
    let Some(v) = o.get(field) else {
        return Ok(default);
    };
    match v.as_f64() {
        Some(x) if x.is_finite() && (1.0..=100.0).contains(&x) => Ok(x),
        _ => Err(invalid(field, "must be a number from 1 to 100")),
    }
}

fn alpha(o: &Map<String, Value>) -> Result<f64, AnalysisConfigError> {
    let Some(v) = o.get("alpha") else {
        return Ok(AnalysisConfig::default().alpha);
    };
    match v.as_f64() {
        Some(x) if x.is_finite() && x > 0.0 && x <= 0.2 => Ok(x),
        _ => Err(invalid("alpha", "must be a number above 0 and at most 0.2")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn empty_object_takes_the_defaults() {
        let c = AnalysisConfig::from_json(&json!({})).expect("defaults");
        assert_eq!(c, AnalysisConfig::default());
        assert_eq!(c.on_inconclusive, OnInconclusive::Pause);
        assert!(c.require_pass);
    }

    #[test]
    fn every_field_can_be_set() {
        let c = AnalysisConfig::from_json(&json!({
            "min_requests": 500, "error_ratio_tolerance": 2, "latency_ratio_tolerance": 1.25,
            "latency_min_requests": 1000, "latency_windows": 3, "alpha": 0.05,
            "require_pass": false, "on_inconclusive": "rollback"
        }))
        .expect("valid");
        assert_eq!(c.min_requests, 500);
        assert_eq!(c.error_ratio_tolerance, 2.0);
        assert_eq!(c.latency_ratio_tolerance, 1.25);
        assert_eq!(c.latency_min_requests, 1000);
        assert_eq!(c.latency_windows, 3);
        assert_eq!(c.alpha, 0.05);
        assert!(!c.require_pass);
        assert_eq!(c.on_inconclusive, OnInconclusive::Rollback);
    }

    #[test]
    fn unknown_field_is_refused_by_name() {
        let e = AnalysisConfig::from_json(&json!({"min_request": 5})).unwrap_err();
        assert!(
            e.to_string()
                .contains("analysis.min_request is not a known field"),
            "{e}"
        );
    }

    #[test]
    fn invalid_values_are_refused_naming_the_field() {
        for (body, field) in [
            (json!({"min_requests": 0}), "min_requests"),
            (json!({"min_requests": -3}), "min_requests"),
            (json!({"min_requests": "100"}), "min_requests"),
            (
                json!({"error_ratio_tolerance": 0.5}),
                "error_ratio_tolerance",
            ),
            (
                json!({"latency_ratio_tolerance": "x"}),
                "latency_ratio_tolerance",
            ),
            (json!({"latency_windows": 0}), "latency_windows"),
            (json!({"alpha": 0}), "alpha"),
            (json!({"alpha": 0.5}), "alpha"),
            (json!({"require_pass": "yes"}), "require_pass"),
            (json!({"on_inconclusive": "wait"}), "on_inconclusive"),
        ] {
            let e = AnalysisConfig::from_json(&body).unwrap_err().to_string();
            assert!(e.starts_with(&format!("analysis.{field} ")), "{body}: {e}");
        }
        assert_eq!(
            AnalysisConfig::from_json(&json!([])).unwrap_err(),
            AnalysisConfigError::NotAnObject
        );
    }
}
