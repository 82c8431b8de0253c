//! Slack messages of the delivery figures: `/gantry stats [service]` ([`stats_message`]) and the
//! weekly post ([`weekly_message`]), pure functions of the figures (and, for the weekly post, of
//! the deployments it names and their threads' links). The window's length is read from the
//! figures, so the same renderer says "last 30 days" for the command and "last 7 days" for the
//! week.

use super::flow::ServiceFigures;
use super::history::{CountedDeployment, Derived, FailureCause};
use super::model::{Figures, Period, StageFigures};
use crate::notify::render::{cut, escape, MAX_BLOCKS, MAX_FALLBACK_TEXT, MAX_SECTION_TEXT};
use serde_json::{json, Value};
use std::collections::BTreeSet;

const DAY_MS: i64 = 24 * 3600 * 1000;
/// Stage sections at most: the rest of Slack's 50 blocks is the frame and the weekly lists.
const MAX_STAGE_SECTIONS: usize = 40;
/// How many slowest deployments the weekly post names.
pub const SLOWEST: usize = 3;
/// How many failed deployments the weekly post names (the count says how many more).
pub const MAX_FAILED: usize = 10;

/// `/gantry stats <service>`: the four keys per stage, the current window against the one
/// before. A Slack message body (`text` and `blocks`; the caller adds channel or response type).
pub fn stats_message(figures: &ServiceFigures) -> Value {
    let mut blocks = frame(figures);
    blocks.truncate(MAX_BLOCKS);
    json!({ "text": fallback(figures), "blocks": blocks })
}

/// One deployment the weekly post names, with what it is known by.
#[derive(Debug, Clone, PartialEq)]
pub struct Named {
    pub stage: String,
    /// The commit (short), or the execution when the commit is unknown.
    pub label: String,
    /// When it succeeded (slowest) or failed (failed), epoch ms.
    pub at_ms: i64,
    /// Lead time (slowest), seconds.
    pub lead_time_s: Option<i64>,
    pub cause: Option<FailureCause>,
    /// Its Slack thread, `channel/ts`, if the notifier posted one.
    pub thread: Option<String>,
}

/// The deployments the weekly post names: the slowest by lead time among those that succeeded in
/// `window`, and every failed one counted in `window` (oldest first).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Highlights {
    pub slowest: Vec<Named>,
    pub failed: Vec<Named>,
}

impl Highlights {
    /// Every thread named, for the caller to resolve to links.
    pub fn threads(&self) -> BTreeSet<&str> {
        self.slowest
            .iter()
            .chain(&self.failed)
            .filter_map(|n| n.thread.as_deref())
            .collect()
    }
}

fn label(d: &CountedDeployment) -> String {
    match &d.commit {
        Some(c) => c.chars().take(8).collect(),
        None => d.key.trim_start_matches("execution:").to_string(),
    }
}

/// Chooses `pipeline`'s slowest (at most [`SLOWEST`], longest lead time first, ties by time then
/// stage) and failed deployments (oldest first) in `window`.
pub fn highlights(derived: &Derived, pipeline: &str, window: Period) -> Highlights {
    let mine = || {
        derived
            .deployments
            .iter()
            .filter(|d| d.pipeline == pipeline)
    };
    let mut slowest: Vec<Named> = mine()
        .filter_map(|d| {
            let (at, _) = d.succeeded.as_ref()?;
            let lead = d.lead_time_ms?;
            window.contains(*at).then(|| Named {
                stage: d.stage.clone(),
                label: label(d),
                at_ms: *at,
                lead_time_s: Some(lead / 1000),
                cause: None,
                thread: d.thread.clone(),
            })
        })
        .collect();
    slowest.sort_by(|a, b| {
        b.lead_time_s
            .cmp(&a.lead_time_s)
            .then(a.at_ms.cmp(&b.at_ms))
            .then(a.stage.cmp(&b.stage))
    });
    slowest.truncate(SLOWEST);
    let mut failed: Vec<Named> = mine()
        .filter(|d| window.contains(d.first_end_ms))
        .filter_map(|d| {
            let f = d.failure.as_ref()?;
            Some(Named {
                stage: d.stage.clone(),
                label: label(d),
                at_ms: f.at_ms,
                lead_time_s: None,
                cause: Some(f.cause.clone()),
                thread: d.thread.clone(),
            })
        })
        .collect();
    failed.sort_by(|a, b| a.at_ms.cmp(&b.at_ms).then(a.stage.cmp(&b.stage)));
    Highlights { slowest, failed }
}

/// The weekly post: the figures, then the slowest and the failed deployments, each linked to its
/// thread when `link` knows the thread's URL (`channel/ts` → permalink).
pub fn weekly_message(
    figures: &ServiceFigures,
    highlights: &Highlights,
    link: &dyn Fn(&str) -> Option<String>,
) -> Value {
    let mut blocks = frame(figures);
    if !highlights.slowest.is_empty() {
        let lines: Vec<String> = highlights
            .slowest
            .iter()
            .map(|n| {
                let lead = n.lead_time_s.map(duration).unwrap_or_default();
                format!("• {} — lead time {lead}", named(n, link))
            })
            .collect();
        blocks.push(section(&format!(
            "*Slowest deployments*\n{}",
            lines.join("\n")
        )));
    }
    if !highlights.failed.is_empty() {
        let mut lines: Vec<String> = highlights
            .failed
            .iter()
            .take(MAX_FAILED)
            .map(|n| {
                let why = match &n.cause {
                    Some(FailureCause::Failed) => "failed",
                    Some(FailureCause::Stopped) => "stopped",
                    Some(FailureCause::RolledBack(_)) => "rolled back",
                    None => "failed",
                };
                format!("• {} — {why} {}", named(n, link), day(n.at_ms))
            })
            .collect();
        if highlights.failed.len() > MAX_FAILED {
            lines.push(format!(
                "…and {} more",
                highlights.failed.len() - MAX_FAILED
            ));
        }
        blocks.push(section(&format!(
            "*Failed deployments*\n{}",
            lines.join("\n")
        )));
    }
    // The lists come last: if the frame is long, the figures stay and the lists are cut.
    blocks.truncate(MAX_BLOCKS);
    json!({ "text": fallback(figures), "blocks": blocks })
}

fn named(n: &Named, link: &dyn Fn(&str) -> Option<String>) -> String {
    let what = format!("`{}` in *{}*", escape(&n.label), escape(&n.stage));
    match n.thread.as_deref().and_then(link) {
        Some(url) => format!("{what} (<{}|thread>)", url.replace('|', "%7C")),
        None => what,
    }
}

fn days_of(f: &Figures) -> i64 {
    f.window
        .map(|w| ((w.to_ms - w.from_ms) / DAY_MS).max(1))
        .unwrap_or(30)
}

fn header_text(figures: &ServiceFigures) -> String {
    let n = days_of(&figures.current);
    format!(
        "Delivery of {}: last {n} days against the {n} before",
        figures.current.pipeline
    )
}

/// The header, the window, and one section per stage.
fn frame(figures: &ServiceFigures) -> Vec<Value> {
    let mut blocks = vec![json!({
        "type": "header",
        "text": { "type": "plain_text", "text": cut(&header_text(figures), 150), "emoji": false }
    })];
    if let Some(w) = figures.current.window {
        blocks.push(json!({
            "type": "context",
            "elements": [{ "type": "mrkdwn", "text": format!(
                "{} – {} (UTC); before: {} – {}",
                day(w.from_ms), day(w.to_ms),
                figures.previous.window.map(|p| day(p.from_ms)).unwrap_or_default(),
                day(w.from_ms),
            ) }]
        }));
    }
    let stages = stage_names(figures);
    if stages.is_empty() {
        blocks.push(section(&format!(
            "No deployments of *{}* recorded in either window.",
            escape(&figures.current.pipeline)
        )));
    }
    let shown = stages.len().min(MAX_STAGE_SECTIONS);
    for stage in &stages[..shown] {
        let now = stage_of(&figures.current, stage);
        let before = stage_of(&figures.previous, stage);
        blocks.push(section(&stage_text(stage, &now, &before)));
    }
    if stages.len() > shown {
        blocks.push(section(&format!(
            "…and {} more stages",
            stages.len() - shown
        )));
    }
    blocks
}

fn stage_names(figures: &ServiceFigures) -> Vec<String> {
    let names: BTreeSet<&str> = figures
        .current
        .stages
        .iter()
        .chain(&figures.previous.stages)
        .filter(|s| s.deployments > 0 || s.time_to_restore_p50.is_some())
        .map(|s| s.stage.as_str())
        .collect();
    names.into_iter().map(str::to_string).collect()
}

fn stage_of(f: &Figures, stage: &str) -> StageFigures {
    f.stages
        .iter()
        .find(|s| s.stage == stage)
        .cloned()
        .unwrap_or_else(|| StageFigures {
            stage: stage.to_string(),
            ..StageFigures::default()
        })
}

fn stage_text(stage: &str, now: &StageFigures, before: &StageFigures) -> String {
    format!(
        "*{}*\nDeployments: {} (before: {})\nLead time: {} (before: {})\nChange failure rate: {} (before: {})\nTime to restore: {} (before: {})",
        escape(stage),
        now.deployments,
        before.deployments,
        percentiles(now.lead_time_p50, now.lead_time_p90),
        percentiles(before.lead_time_p50, before.lead_time_p90),
        rate(now),
        rate(before),
        percentiles(now.time_to_restore_p50, now.time_to_restore_p90),
        percentiles(before.time_to_restore_p50, before.time_to_restore_p90),
    )
}

fn percentiles(p50: Option<f64>, p90: Option<f64>) -> String {
    match (p50, p90) {
        (Some(a), Some(b)) => format!(
            "p50 {}, p90 {}",
            duration(a.round() as i64),
            duration(b.round() as i64)
        ),
        _ => "—".to_string(),
    }
}

fn rate(s: &StageFigures) -> String {
    match s.change_failure_rate {
        Some(r) => format!("{:.0}% ({} of {})", r * 100.0, s.failed, s.deployments),
        None => "—".to_string(),
    }
}

/// A duration for people: the two largest units.
pub fn duration(seconds: i64) -> String {
    let s = seconds.max(0);
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}m", s / 60),
        3600..=86_399 => match (s % 3600) / 60 {
            0 => format!("{}h", s / 3600),
            m => format!("{}h {m}m", s / 3600),
        },
        _ => match (s % 86_400) / 3600 {
            0 => format!("{}d", s / 86_400),
            h => format!("{}d {h}h", s / 86_400),
        },
    }
}

/// `YYYY-MM-DD` of an epoch-ms instant, UTC.
fn day(ms: i64) -> String {
    crate::clock::format_utc(ms.div_euclid(1000))
        .chars()
        .take(10)
        .collect()
}

fn section(text: &str) -> Value {
    json!({ "type": "section", "text": { "type": "mrkdwn", "text": cut(text, MAX_SECTION_TEXT) } })
}

/// The notification text: each stage's deployments and failures in the current window.
fn fallback(figures: &ServiceFigures) -> String {
    let stages: Vec<String> = figures
        .current
        .stages
        .iter()
        .filter(|s| s.deployments > 0)
        .map(|s| {
            format!(
                "{} {} deployments, {} failed",
                s.stage, s.deployments, s.failed
            )
        })
        .collect();
    let body = if stages.is_empty() {
        "no deployments".to_string()
    } else {
        stages.join("; ")
    };
    cut(
        &format!("{}: {body}", header_text(figures)),
        MAX_FALLBACK_TEXT,
    )
}

#[cfg(test)]
mod tests;
