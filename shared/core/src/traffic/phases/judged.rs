//! What the canary judge carries between checks, in the continuation token (`Deployment::judged`),
//! and how a judged window is shown in Slack. Plain data: the flow (`flow::analysis_step`) fills
//! it, the deployment carries it, the progress message shows it.

use crate::analysis::verdict::utc;
use crate::analysis::{CanaryVerdict, JudgeState, Reason};
use serde::{Deserialize, Serialize};

/// ALB publishes its metrics per minute.
pub const PERIOD_SECONDS: i64 = 60;
/// How long after a window's end CloudWatch's ALB figures are taken as complete.
pub const DEFAULT_SETTLE_SECONDS: i64 = 120;
/// One judged window as the Slack message shows it: both sides' requests, 5xx and p99 (ms).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct WindowLine {
    #[serde(rename = "t")]
    pub start: i64,
    /// `p`, `f`, or an inconclusive window's reason (`Reason::inconclusive_code`).
    #[serde(rename = "v")]
    pub verdict: char,
    #[serde(rename = "n")]
    pub new: (u64, u64, Option<u32>),
    #[serde(rename = "l")]
    pub live: (u64, u64, Option<u32>),
}

impl WindowLine {
    pub(crate) fn of(v: &CanaryVerdict) -> Self {
        let w = v.evidence().window;
        let ms = |p: Option<f64>| p.map(|s| (s * 1000.0).round().clamp(0.0, 1e9) as u32);
        WindowLine {
            start: w.start,
            verdict: match v {
                CanaryVerdict::Pass(_) => 'p',
                CanaryVerdict::Fail(_) => 'f',
                CanaryVerdict::Inconclusive(e) => e.reason.inconclusive_code(),
            },
            new: (w.new.requests, w.new.errors, ms(w.new.p99)),
            live: (w.live.requests, w.live.errors, ms(w.live.p99)),
        }
    }

    /// `:white_check_mark: pass 22:01 · new 1.00% 5xx (3/300), p99 120 ms · live 1.00% (27/2700), p99 110 ms`
    ///
    /// An inconclusive window says why:
    /// `:grey_question: inconclusive (too few requests to judge) 22:01 · …`.
    pub fn render(&self) -> String {
        let (icon, name) = match self.verdict {
            'p' => (":white_check_mark:", "pass".to_string()),
            'f' => (":x:", "fail".to_string()),
            code => (
                ":grey_question:",
                format!(
                    "inconclusive ({})",
                    Reason::of_inconclusive_code(code).describe()
                ),
            ),
        };
        let rate = |(r, e, _): (u64, u64, Option<u32>)| {
            if r == 0 {
                "-".to_string()
            } else {
                format!("{:.2}%", e as f64 * 100.0 / r as f64)
            }
        };
        let p99 = |(_, _, p): (u64, u64, Option<u32>)| p.map_or("-".into(), |p| format!("{p} ms"));
        let time = utc(self.start);
        format!(
            "{icon} {name} {} · new {} 5xx ({}/{}), p99 {} · live {} 5xx ({}/{}), p99 {}",
            time.get(11..16).unwrap_or(&time),
            rate(self.new),
            self.new.1,
            self.new.0,
            p99(self.new),
            rate(self.live),
            self.live.1,
            self.live.0,
            p99(self.live)
        )
    }
}

/// What the shifter carries between checks for the judge: ~150 bytes in the token.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct StepState {
    #[serde(rename = "j", default)]
    pub judge: JudgeState,
    /// The plan step whose bake the judge's tally counts.
    #[serde(rename = "k", default, skip_serializing_if = "Option::is_none")]
    pub step: Option<usize>,
    /// When the new side started taking traffic (epoch seconds, at a period's start): the
    /// metrics are read from there.
    #[serde(rename = "s", default)]
    pub since: i64,
    /// A person was asked (inconclusive bake, `on_inconclusive: pause`) for this step.
    #[serde(rename = "a", default, skip_serializing_if = "std::ops::Not::not")]
    pub asked: bool,
    /// The latest judged windows, newest last.
    #[serde(rename = "r", default, skip_serializing_if = "Vec::is_empty")]
    pub recent: Vec<WindowLine>,
    /// Paused from Slack: the weights hold until Resume.
    #[serde(rename = "z", default, skip_serializing_if = "std::ops::Not::not")]
    pub paused: bool,
    /// Extra bake (Extend bake) for the step `extended_step`.
    #[serde(rename = "x", default, skip_serializing_if = "is_zero")]
    pub extra_seconds: u32,
    #[serde(rename = "xk", default, skip_serializing_if = "Option::is_none")]
    pub extended_step: Option<usize>,
    /// The controls' version: every control applied bumps it, and a click carrying another
    /// version (stale, or delivered twice) does nothing.
    #[serde(rename = "c", default, skip_serializing_if = "is_zero")]
    pub controls: u32,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

impl StepState {
    pub fn is_empty(&self) -> bool {
        *self == StepState::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::{judge, AnalysisConfig, SideStats, Window};

    fn line_of(new: (u64, u64), live: (u64, u64)) -> WindowLine {
        let w = Window {
            start: 1_700_000_040,
            new: SideStats {
                requests: new.0,
                errors: new.1,
                p99: Some(0.12),
            },
            live: SideStats {
                requests: live.0,
                errors: live.1,
                p99: Some(0.11),
            },
        };
        let (_, v) = judge(&AnalysisConfig::default(), &JudgeState::default(), &[w]);
        WindowLine::of(&v[0])
    }

    #[test]
    fn an_inconclusive_window_says_why_in_slack_and_keeps_it_through_the_token() {
        let cases = [
            ((10, 0), (90, 0), "too few requests to judge"),
            (
                (100, 2),
                (900, 2),
                "5xx rate looks higher than live, watching",
            ),
            (
                (300, 1),
                (2700, 3),
                "too few 5xx yet to rule out 10x live's, holding",
            ),
        ];
        for (new, live, why) in cases {
            let line = line_of(new, live);
            let back: WindowLine =
                serde_json::from_str(&serde_json::to_string(&line).expect("serializes"))
                    .expect("parses");
            let text = back.render();
            assert!(
                text.starts_with(&format!(":grey_question: inconclusive ({why}) ")),
                "{text}"
            );
        }
        let pass = line_of((300, 3), (2700, 27)).render();
        assert!(pass.starts_with(":white_check_mark: pass "), "{pass}");
        // A line written before the reasons had letters ("i") still renders.
        let old: WindowLine =
            serde_json::from_str(r#"{"t":1700000040,"v":"i","n":[10,0,null],"l":[90,0,null]}"#)
                .expect("parses");
        assert!(old
            .render()
            .contains("inconclusive (too few requests to judge)"));
    }
}
