//! The SNS notification of one transition: a subject and a human-readable text for email and
//! SMS, a JSON body for machines (SQS, Lambda, HTTP), and message attributes for filter
//! policies (`pipeline`, `state`, `stage`, `severity`, plus `scope` and `action`).

use super::execution::{Execution, Notice, Scope};
use super::view;
use serde_json::{json, Value};

/// SNS's subject limit (exclusive) and character rules.
const MAX_SUBJECT: usize = 99;
/// Keeps the text readable in an email; the JSON body carries the same facts.
const MAX_SUMMARY: usize = 2000;

/// Everything `Publish` needs besides the topic.
#[derive(Debug, Clone, PartialEq)]
pub struct SnsNotification {
    pub subject: String,
    /// The default (human) text.
    pub text: String,
    /// The JSON body, as sent to machine protocols.
    pub body: Value,
    /// String message attributes, in a fixed order.
    pub attributes: Vec<(&'static str, String)>,
}

impl SnsNotification {
    /// The `Message` for `MessageStructure=json`: text by default and for email, the JSON body
    /// for the machine protocols.
    pub fn message_structure(&self) -> String {
        let body = self.body.to_string();
        json!({
            "default": self.text,
            "email": self.text,
            "sms": cut(&self.text, 140),
            "sqs": body,
            "lambda": body,
            "http": body,
            "https": body,
            "firehose": body,
        })
        .to_string()
    }
}

/// The notification of `notice` in `execution`.
pub fn notification(e: &Execution, notice: &Notice) -> SnsNotification {
    let what = match &notice.scope {
        Scope::Pipeline => "execution".to_string(),
        Scope::Stage { stage } => format!("stage {stage}"),
        Scope::Action { stage, action } => format!("action {stage}/{action}"),
    };
    let state_word = state_word(notice);
    let headline = format!("{}: {what} {state_word}", e.pipeline);
    let mut lines = vec![headline.clone()];
    let shown = view::pipeline_shown(e);
    lines.push(format!(
        "Execution {} is {} ({})",
        e.execution_id,
        shown.label(),
        view::duration(e.elapsed_seconds())
    ));
    if let Some(t) = &e.trigger {
        let mut l = String::from("Commit");
        if let Some(c) = &t.commit_id {
            l.push_str(&format!(" {c}"));
        }
        if let Some(m) = &t.message {
            l.push_str(&format!(" \"{m}\""));
        }
        if let Some(a) = &t.author {
            l.push_str(&format!(" by {a}"));
        }
        if let Some(tag) = &t.tag {
            l.push_str(&format!(" (tag {tag})"));
        } else if let Some(b) = &t.branch {
            l.push_str(&format!(" on {b}"));
        }
        if l != "Commit" {
            lines.push(l);
        }
        if let Some(u) = &t.commit_url {
            lines.push(u.clone());
        }
    }
    let failure = failure_of(e, notice);
    if let Some((stage, action, result)) = &failure {
        lines.push(String::new());
        lines.push(format!(
            "{stage}/{action} failed: {}",
            cut(
                result.summary.as_deref().unwrap_or("no error summary"),
                MAX_SUMMARY
            )
        ));
        if let Some(u) = &result.url {
            lines.push(format!("Logs: {u}"));
        }
    }
    let items = view::stages(e);
    if !items.is_empty() {
        lines.push(String::new());
        lines.push(
            items
                .iter()
                .map(|i| format!("{} ({})", i.name, i.shown.label()))
                .collect::<Vec<_>>()
                .join(" > "),
        );
    }
    lines.push(String::new());
    lines.push(view::console_url(e));

    let severity = notice.status.severity().name();
    let mut body = json!({
        "source": "gantry",
        "type": "execution-state-change",
        "pipeline": e.pipeline,
        "execution_id": e.execution_id,
        "scope": notice.scope.name(),
        "stage": notice.scope.stage(),
        "action": notice.scope.action(),
        "state": notice.status.name(),
        "severity": severity,
        "at": notice.at,
        "execution_state": shown.label(),
        "elapsed_seconds": e.elapsed_seconds(),
        "region": e.region,
        "account": e.account,
        "console_url": view::console_url(e),
        "trigger": e.trigger,
        "stages": items.iter().map(|i| json!({"name": i.name, "state": i.shown.label()})).collect::<Vec<_>>(),
    });
    if let Some((stage, action, result)) = failure {
        body["failure"] = json!({"stage": stage, "action": action, "summary": result.summary,
            "log_url": result.url, "error_code": result.error_code});
    }
    let mut attributes = vec![
        ("pipeline", e.pipeline.clone()),
        ("state", notice.status.name().to_string()),
        ("severity", severity.to_string()),
        ("scope", notice.scope.name().to_string()),
    ];
    if let Some(s) = notice.scope.stage() {
        attributes.push(("stage", s.to_string()));
    }
    if let Some(a) = notice.scope.action() {
        attributes.push(("action", a.to_string()));
    }
    SnsNotification {
        subject: subject(&headline),
        text: lines.join("\n"),
        body,
        attributes,
    }
}

fn state_word(notice: &Notice) -> &'static str {
    use super::status::Status::*;
    match notice.status {
        Started => "started",
        Resumed => "resumed",
        Stopping => "stopping",
        Stopped => "stopped",
        Succeeded => "succeeded",
        Failed => "failed",
        Superseded => "superseded",
        Canceled => "cancelled",
        Abandoned => "abandoned",
    }
}

/// The failed action a failure notice is about: the action itself, or for a stage or pipeline
/// failure, the latest failed action.
fn failure_of(
    e: &Execution,
    notice: &Notice,
) -> Option<(String, String, super::event::ActionResult)> {
    if notice.status != super::status::Status::Failed {
        return None;
    }
    if let Scope::Action { stage, action } = &notice.scope {
        return Some((stage.clone(), action.clone(), notice.result.clone()));
    }
    let (stage, action) = e.failed_action()?;
    if notice.scope.stage().is_some_and(|s| s != stage.name) {
        return None;
    }
    Some((
        stage.name.clone(),
        action.name.clone(),
        action.result.clone(),
    ))
}

/// SNS subjects: printable ASCII, no line breaks, under 100 characters.
fn subject(text: &str) -> String {
    let ascii: String = text
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() || c == ' ' {
                c
            } else {
                '?'
            }
        })
        .collect();
    if ascii.len() <= MAX_SUBJECT {
        ascii
    } else {
        format!("{}...", &ascii[..MAX_SUBJECT - 3])
    }
}

fn cut(text: &str, max: usize) -> String {
    crate::text::truncate(text, max)
}
