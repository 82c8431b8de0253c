//! Slack Block Kit for an execution: the one parent message, and the thread reply of a failed
//! action. Pure functions of an `Execution`; the same execution renders the same JSON.
//!
//! Slack refuses messages over its limits (50 blocks, 3,000 characters a section text, 150 a
//! header), so every text is cut to fit, ending with `…`, and long stage lists are cut with a
//! count of what was left out.

use super::execution::{Execution, Notice};
use super::view::{self, Item, Shown};
use crate::config::Verbosity;
use serde_json::{json, Value};

pub const MAX_BLOCKS: usize = 50;
pub const MAX_SECTION_TEXT: usize = 3000;
pub const MAX_HEADER_TEXT: usize = 150;
/// The top-level `text` is the notification and screen-reader fallback: keep it short.
pub const MAX_FALLBACK_TEXT: usize = 3000;
/// Stage lines get at most this many section blocks (the rest of the 50 is for the frame).
const MAX_STAGE_SECTIONS: usize = 40;

/// A Slack message body: `text` and `blocks` (channel and ts are added by the caller).
pub fn execution_message(e: &Execution, verbosity: Verbosity) -> Value {
    let shown = view::pipeline_shown(e);
    let mut blocks = vec![header(e, shown), trigger_section(e)];
    if verbosity != Verbosity::Pipeline {
        let sections = match verbosity {
            Verbosity::Actions => pack(&action_lines(e), "\n", MAX_STAGE_SECTIONS),
            _ => pack(
                &stage_parts(e, &view::stages(e)),
                STAGE_SEPARATOR,
                MAX_STAGE_SECTIONS,
            ),
        };
        blocks.extend(sections.iter().map(|text| section(text)));
    }
    blocks.push(footer(e, shown));
    blocks.truncate(MAX_BLOCKS);
    json!({ "text": fallback(e, shown), "blocks": blocks })
}

/// The thread reply for a failed action: its name, the error summary and the link to its logs.
pub fn failure_reply(e: &Execution, notice: &Notice) -> Value {
    let stage = notice.scope.stage().unwrap_or_default();
    let action = notice.scope.action().unwrap_or_default();
    let summary = notice
        .result
        .summary
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        // Another action's summary is AWS's text: what failed stays, the identifiers go.
        .map(crate::text::hide_aws_identifiers);
    let summary = summary.as_deref();
    let mut text = format!(
        ":x: *{}* failed in stage *{}*",
        escape(action),
        escape(stage)
    );
    match summary {
        Some(s) => {
            text.push_str("\n```");
            text.push_str(&escape(&s.replace("```", "'''")));
            text.push_str("```");
        }
        None => text.push_str("\n_No error summary was reported._"),
    }
    let mut context = vec![];
    if let Some(url) = &notice.result.url {
        context.push(format!("<{}|View logs>", link_target(url)));
    }
    if let Some(code) = &notice.result.error_code {
        context.push(format!("Error `{}`", escape(code)));
    }
    context.push(format!(
        "<{}|Execution {}>",
        link_target(&view::console_url(e)),
        view::short_id(e)
    ));
    // Slack reads the fallback `text` as mrkdwn too: escaped exactly as the blocks are.
    let fallback = format!(
        "{} › {} failed in {}: {}",
        escape(stage),
        escape(action),
        escape(&e.pipeline),
        escape(summary.unwrap_or("no error summary"))
    );
    json!({
        "text": cut(&fallback, MAX_FALLBACK_TEXT),
        "blocks": [
            section(&cut_code(&text, MAX_SECTION_TEXT)),
            context_block(&context.join("  ·  ")),
        ]
    })
}

fn header(e: &Execution, shown: Shown) -> Value {
    let text = format!("{} {} {}", shown.emoji(), e.pipeline, shown.label());
    json!({
        "type": "header",
        "text": { "type": "plain_text", "text": cut(&text, MAX_HEADER_TEXT), "emoji": true }
    })
}

fn trigger_section(e: &Execution) -> Value {
    let Some(t) = &e.trigger else {
        return section(&format!("Execution `{}`", escape(&e.execution_id)));
    };
    let mut first = String::new();
    match (t.short_commit(), &t.commit_url) {
        (Some(c), Some(url)) => first.push_str(&format!("*<{}|`{c}`>*", link_target(url))),
        (Some(c), None) => first.push_str(&format!("*`{c}`*")),
        _ => first.push_str(&format!("Execution `{}`", escape(&e.execution_id))),
    }
    if let Some(m) = &t.message {
        first.push(' ');
        first.push_str(&escape(m));
    }
    let mut second = vec![];
    if let Some(a) = &t.author {
        second.push(format!("by *{}*", escape(a)));
    }
    match (&t.branch, &t.tag) {
        (_, Some(tag)) => second.push(format!("tag `{}`", escape(tag))),
        (Some(b), None) => second.push(format!("on `{}`", escape(b))),
        (None, None) => {}
    }
    if let Some(r) = &t.repository {
        second.push(format!("in {}", escape(r)));
    }
    match (&t.kind, slack_user(t)) {
        (Some(k), Some(user)) if is_rollback(k) => {
            second.push(format!("_rolled back from Slack by_ <@{user}>"));
        }
        (Some(k), _) => second.push(format!("_{}_", escape(&trigger_words(k)))),
        (None, _) => {}
    }
    let text = if second.is_empty() {
        first
    } else {
        format!("{first}\n{}", second.join(" "))
    };
    section(&text)
}

fn is_rollback(kind: &str) -> bool {
    matches!(kind, "ManualRollback" | "AutomatedRollback")
}

/// The Slack user id Gantry recorded as starting the execution, if it looks like one (it is
/// put inside a mention).
fn slack_user(t: &super::Trigger) -> Option<&str> {
    t.from_slack
        .as_deref()
        .filter(|u| !u.is_empty() && u.bytes().all(|b| b.is_ascii_alphanumeric()))
}

/// CodePipeline's trigger type in words.
fn trigger_words(kind: &str) -> String {
    match kind {
        "StartPipelineExecution" => "started by API".into(),
        "Webhook" | "WebhookV2" | super::trigger::WEBHOOK_TRIGGER_KIND => {
            "started by a push".into()
        }
        "CloudWatchEvent" => "started by an EventBridge rule".into(),
        "PutActionRevision" => "started by a new revision".into(),
        "CreatePipeline" => "started when the pipeline was created".into(),
        "PollForSourceChanges" => "started by polling".into(),
        "ManualRollback" | "AutomatedRollback" => "a rollback".into(),
        other => format!("started by {other}"),
    }
}

const STAGE_SEPARATOR: &str = "  ›  ";

/// The parts of the stage line `✅ Source › ✅ Build › 🔵 Deploy _running_`.
fn stage_parts(e: &Execution, items: &[Item]) -> Vec<String> {
    items
        .iter()
        .map(|i| format!("{}{}", item(i), in_account(e, &i.name)))
        .collect()
}

/// ` (account 222222222222)` after a stage whose traffic shift acts in another account (prod
/// in its own account, as AWS recommends); empty for the pipeline's own account.
fn in_account(e: &Execution, stage: &str) -> String {
    e.layout
        .iter()
        .flatten()
        .find(|s| s.name == stage)
        .and_then(|s| s.account.as_deref())
        .map(|a| format!(" (account {})", escape(a)))
        .unwrap_or_default()
}

fn item(i: &Item) -> String {
    if i.shown.is_quiet() {
        format!("{} {}", i.shown.emoji(), escape(&i.name))
    } else {
        format!(
            "{} {} _{}_",
            i.shown.emoji(),
            escape(&i.name),
            i.shown.label()
        )
    }
}

/// One line per stage, with its actions: `✅ *Build*: ✅ Compile · ✅ Test`.
fn action_lines(e: &Execution) -> Vec<String> {
    view::stages(e)
        .iter()
        .map(|stage| {
            let actions: Vec<String> = view::actions(e, &stage.name).iter().map(item).collect();
            let head = format!(
                "{} *{}*{}",
                stage.shown.emoji(),
                escape(&stage.name),
                in_account(e, &stage.name)
            );
            if actions.is_empty() {
                head
            } else {
                format!("{head}: {}", actions.join("  ·  "))
            }
        })
        .collect()
}

/// Packs parts into section texts of at most `MAX_SECTION_TEXT` characters, joined by
/// `separator`. When more than `max_sections` would be needed, the last one says how many parts
/// were left out.
fn pack(parts: &[String], separator: &str, max_sections: usize) -> Vec<String> {
    let mut sections: Vec<String> = vec![];
    let mut current = String::new();
    for (i, part) in parts.iter().enumerate() {
        let sep = if current.is_empty() { "" } else { separator };
        if !current.is_empty() && len(&current) + len(sep) + len(part) > MAX_SECTION_TEXT {
            if sections.len() + 1 == max_sections {
                let more = format!("{separator}… and {} more", parts.len() - i);
                let room = MAX_SECTION_TEXT.saturating_sub(len(&more));
                sections.push(cut(&current, room) + &more);
                return sections;
            }
            sections.push(std::mem::take(&mut current));
        }
        let sep = if current.is_empty() { "" } else { separator };
        current.push_str(sep);
        current.push_str(part);
    }
    if !current.is_empty() {
        sections.push(current);
    }
    sections
}

fn footer(e: &Execution, shown: Shown) -> Value {
    let time = match e.outcome() {
        Some(_) => format!(
            "{} {} in {}",
            shown.emoji(),
            capitalise(shown.label()),
            view::duration(e.elapsed_seconds())
        ),
        None => format!(
            ":stopwatch: Elapsed {}",
            view::duration(e.elapsed_seconds())
        ),
    };
    context_block(&format!(
        "{time}  ·  <{}|Execution {}> in the AWS console",
        link_target(&view::console_url(e)),
        view::short_id(e)
    ))
}

fn fallback(e: &Execution, shown: Shown) -> String {
    let mut text = match e.outcome() {
        Some(_) => format!(
            "{} {} in {}",
            e.pipeline,
            shown.label(),
            view::duration(e.elapsed_seconds())
        ),
        None => format!("{} {}", e.pipeline, shown.label()),
    };
    if let Some(t) = &e.trigger {
        if let Some(c) = t.short_commit() {
            text.push_str(&format!(" ({c}"));
            if let Some(m) = &t.message {
                // Slack reads the fallback as mrkdwn too: escaped as in the blocks.
                text.push_str(&format!(" {}", escape(m)));
            }
            text.push(')');
        }
    }
    cut(&text, MAX_FALLBACK_TEXT)
}

fn section(text: &str) -> Value {
    json!({ "type": "section", "text": { "type": "mrkdwn", "text": cut(text, MAX_SECTION_TEXT) } })
}

fn context_block(text: &str) -> Value {
    json!({ "type": "context", "elements": [ { "type": "mrkdwn", "text": cut(text, MAX_SECTION_TEXT) } ] })
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().collect::<String>() + c.as_str(),
        None => String::new(),
    }
}

fn len(s: &str) -> usize {
    s.chars().count()
}

/// Cuts to at most `max` characters, ending with `…` when cut.
pub fn cut(text: &str, max: usize) -> String {
    crate::text::truncate(text, max)
}

/// Like `cut`, but keeps a code block closed.
fn cut_code(text: &str, max: usize) -> String {
    if len(text) <= max {
        return text.to_string();
    }
    let mut out = cut(text, max - 3);
    if text.contains("```") && out.matches("```").count() % 2 == 1 {
        out.push_str("```");
    }
    out
}

/// Slack's mrkdwn escaping: `&`, `<` and `>` only.
pub fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// A URL safe inside `<url|label>`.
fn link_target(url: &str) -> String {
    url.replace('|', "%7C")
        .replace('<', "%3C")
        .replace('>', "%3E")
        .replace(' ', "%20")
}

#[cfg(test)]
mod tests;
