//! A window's verdict and the evidence behind it; its `Display` is the one-line `analysis: ...`
//! message for CodePipeline's failure message and Slack.

use serde::{Deserialize, Serialize};

/// Why a verdict is what it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// Neither errors nor latency are worse than the tolerances allow.
    WithinTolerance,
    /// The new side served fewer than `min_requests` in the window.
    TooFewRequests,
    /// The new p99 was over the tolerance, in fewer consecutive windows than `latency_windows`.
    LatencyUnderWatch,
    /// The new side's 5xx rate looks higher than the tolerance allows (the exact test's p-value,
    /// before any spending, is at most `judge::WATCH_P`) but not yet significantly: the step
    /// holds its weights until the evidence decides.
    ErrorsUnderWatch,
    /// Too few 5xx yet to tell the new side from one `judge::HOLD_RATIO` times worse than live:
    /// the step holds its weights until they do.
    ErrorsUndecided,
    /// The exact test says the new side's 5xx rate is above the tolerance x the live side's.
    Errors,
    /// The new p99 was over the tolerance x the live p99 in `latency_windows` consecutive windows.
    Latency,
}

impl Reason {
    /// A few words for the `analysis: ...` line and the Slack message.
    pub fn describe(self) -> &'static str {
        match self {
            Reason::WithinTolerance => "within tolerance",
            Reason::TooFewRequests => "too few requests to judge",
            Reason::LatencyUnderWatch => "p99 over tolerance, watching",
            Reason::ErrorsUnderWatch => "5xx rate looks higher than live, watching",
            // `judge::HOLD_RATIO` (a test holds the two together).
            Reason::ErrorsUndecided => "too few 5xx yet to rule out 10x live's, holding",
            Reason::Errors => "new side's 5xx rate is worse than live",
            Reason::Latency => "new side's p99 is worse than live",
        }
    }

    /// Why a window was inconclusive, in one letter for the continuation token's window lines
    /// (`i` for too few requests, as tokens written before the letters were told apart say).
    pub fn inconclusive_code(self) -> char {
        INCONCLUSIVE_CODES
            .iter()
            .find(|(reason, _)| *reason == self)
            .map_or('i', |(_, code)| *code)
    }

    /// The reason an inconclusive window's letter stands for.
    pub fn of_inconclusive_code(code: char) -> Reason {
        INCONCLUSIVE_CODES
            .iter()
            .find(|(_, c)| *c == code)
            .map_or(Reason::TooFewRequests, |(reason, _)| *reason)
    }
}

/// The inconclusive reasons and their letters, both ways from one table.
const INCONCLUSIVE_CODES: [(Reason, char); 4] = [
    (Reason::TooFewRequests, 'i'),
    (Reason::LatencyUnderWatch, 'l'),
    (Reason::ErrorsUnderWatch, 'w'),
    (Reason::ErrorsUndecided, 'u'),
];

/// What the judge saw: the window's own figures (for Slack), and the cumulative counts the error
/// test used (since the new side started taking traffic).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Evidence {
    pub reason: Reason,
    /// The window's start, seconds since the epoch.
    pub window_start: i64,
    pub window: super::Window,
    pub new_requests: u64,
    pub new_errors: u64,
    pub live_requests: u64,
    pub live_errors: u64,
    /// The new side's cumulative 5xx rate over the live side's (`None` when the live side had
    /// no errors or no requests).
    pub error_ratio: Option<f64>,
    /// The exact test's p-value on the cumulative counts (`None` before the new side has errors
    /// and the live side has traffic: nothing to test).
    pub p_value: Option<f64>,
    /// The alpha this window's look could spend (`None`: not a look).
    pub look_alpha: Option<f64>,
    /// The error ratio tolerance the test used.
    pub error_tolerance: f64,
    /// New p99 over live p99 in this window, when both were known.
    pub latency_ratio: Option<f64>,
    pub latency_tolerance: f64,
}

/// A window's verdict.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "verdict", rename_all = "snake_case")]
pub enum CanaryVerdict {
    Pass(Evidence),
    Inconclusive(Evidence),
    Fail(Evidence),
}

impl CanaryVerdict {
    pub fn evidence(&self) -> &Evidence {
        match self {
            CanaryVerdict::Pass(e) | CanaryVerdict::Inconclusive(e) | CanaryVerdict::Fail(e) => e,
        }
    }

    pub fn is_fail(&self) -> bool {
        matches!(self, CanaryVerdict::Fail(_))
    }

    pub fn is_pass(&self) -> bool {
        matches!(self, CanaryVerdict::Pass(_))
    }

    /// `pass`, `inconclusive` or `fail`.
    pub fn name(&self) -> &'static str {
        match self {
            CanaryVerdict::Pass(_) => "pass",
            CanaryVerdict::Inconclusive(_) => "inconclusive",
            CanaryVerdict::Fail(_) => "fail",
        }
    }
}

/// `2026-11-29T22:01:00Z` from seconds since the epoch (proleptic Gregorian, UTC).
pub fn utc(seconds: i64) -> String {
    let days = seconds.div_euclid(86_400);
    let secs = seconds.rem_euclid(86_400);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

fn percent(errors: u64, requests: u64) -> String {
    if requests == 0 {
        "-".into()
    } else {
        format!("{:.2}%", errors as f64 * 100.0 / requests as f64)
    }
}

fn seconds(p99: Option<f64>) -> String {
    p99.map_or_else(|| "-".into(), |s| format!("{:.0} ms", s * 1000.0))
}

impl std::fmt::Display for CanaryVerdict {
    /// One line, under 400 characters: what, when, both sides' counts, the ratio and the p-value.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let e = self.evidence();
        let why = e.reason.describe();
        write!(
            f,
            "analysis: {} ({why}) in window {}: ",
            self.name(),
            utc(e.window_start)
        )?;
        write!(
            f,
            "new {}/{} 5xx ({}), live {}/{} ({}) since the new side started",
            e.new_errors,
            e.new_requests,
            percent(e.new_errors, e.new_requests),
            e.live_errors,
            e.live_requests,
            percent(e.live_errors, e.live_requests)
        )?;
        match e.error_ratio {
            Some(r) => write!(f, "; ratio {r:.2}x (tolerance {:.2}x)", e.error_tolerance)?,
            None => write!(f, "; ratio - (tolerance {:.2}x)", e.error_tolerance)?,
        }
        if let Some(p) = e.p_value {
            write!(f, ", p = {p:.2e}")?;
            if let Some(a) = e.look_alpha {
                write!(f, " (limit {a:.2e})")?;
            }
        }
        write!(
            f,
            "; p99 new {}, live {}",
            seconds(e.window.new.p99),
            seconds(e.window.live.p99)
        )?;
        if let Some(r) = e.latency_ratio {
            write!(f, " ({r:.2}x, tolerance {:.2}x)", e.latency_tolerance)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::{SideStats, Window};

    #[test]
    fn utc_formats_known_instants() {
        assert_eq!(utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(utc(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(utc(1_796_076_060), "2026-11-30T22:01:00Z");
    }

    #[test]
    fn a_failure_reads_as_one_short_line_with_the_evidence() {
        let side = |requests, errors, p99| SideStats {
            requests,
            errors,
            p99: Some(p99),
        };
        let window = Window {
            start: 1_796_076_060,
            new: side(250, 25, 0.120),
            live: side(2250, 22, 0.110),
        };
        let v = CanaryVerdict::Fail(Evidence {
            reason: Reason::Errors,
            window_start: window.start,
            window,
            new_requests: u64::MAX,
            new_errors: u64::MAX,
            live_requests: u64::MAX,
            live_errors: u64::MAX,
            error_ratio: Some(10.23),
            p_value: Some(1.234e-9),
            look_alpha: Some(3.3e-3),
            error_tolerance: 1.2,
            latency_ratio: Some(1.09),
            latency_tolerance: 1.5,
        });
        let line = v.to_string();
        assert!(line.starts_with("analysis: fail (new side's 5xx rate is worse than live) in window 2026-11-30T22:01:00Z"), "{line}");
        assert!(
            line.contains("ratio 10.23x (tolerance 1.20x), p = 1.23e-9 (limit 3.30e-3)"),
            "{line}"
        );
        assert!(line.contains("p99 new 120 ms, live 110 ms"), "{line}");
        assert!(!line.contains('\n'));
        assert!(line.len() < 400, "{} chars: {line}", line.len());
        let json = serde_json::to_value(&v).expect("serializes");
        assert_eq!(
            (json["verdict"].as_str(), json["reason"].as_str()),
            (Some("fail"), Some("errors"))
        );
        assert_eq!(
            serde_json::from_value::<CanaryVerdict>(json).expect("parses"),
            v
        );
    }
}
