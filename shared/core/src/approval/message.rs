//! The approval request as a Slack message (Block Kit), before and after the decision.
//!
//! Pure functions of the record: `{"text": …, "blocks": […]}`, ready for `chat.postMessage` or
//! `chat.update` once the caller adds the channel. The token is never part of it.

use super::authorize::approvers_mrkdwn;
use super::interaction::{APPROVE, REASON, REJECT};
use super::{
    Act, ApprovalRecord, ApprovalState, ChangeOwners, Closure, Denial, Outcome, Provenance,
    StageApprovers,
};
use crate::clock;
use crate::schema::stamp;
use crate::text::truncate;
use serde_json::{json, Value};

/// `block_id` of the buttons.
pub const BUTTONS_BLOCK: &str = "gantry.approval.buttons";

const HEADER_MAX: usize = 150;
const FIELD_MAX: usize = 2000;
const SECTION_MAX: usize = 3000;

/// The request: who/what/when, the reason field and the Approve and Reject buttons. A stage
/// nobody may approve from Slack (`rule` is `None`) gets no buttons, and says so.
pub fn render_request(record: &ApprovalRecord, rule: Option<&StageApprovers>) -> Value {
    let title = format!("Approval needed: {} › {}", record.pipeline, record.stage);
    let mut blocks = vec![header(&format!("⏸️ {title}"))];
    blocks.extend(facts(record, rule));
    match rule {
        Some(rule) => {
            if rule.four_eyes {
                blocks.push(context(&four_eyes_note(record)));
                if let Some(why) = four_eyes_blocked(record) {
                    blocks.push(section(&format!("⛔ {why}")));
                }
            }
            blocks.push(json!({
                "type": "input",
                "block_id": REASON,
                "optional": true,
                "label": {"type": "plain_text", "text": "Reason or comment (kept with the decision)"},
                "element": {"type": "plain_text_input", "action_id": REASON,
                            "placeholder": {"type": "plain_text", "text": "Why reject, or a note on the approval (optional)"}}
            }));
            blocks.push(json!({
                "type": "actions",
                "block_id": BUTTONS_BLOCK,
                "elements": [
                    {"type": "button", "action_id": APPROVE, "value": stamp(&record.id), "style": "primary",
                     "text": {"type": "plain_text", "text": "Approve"}},
                    {"type": "button", "action_id": REJECT, "value": stamp(&record.id), "style": "danger",
                     "text": {"type": "plain_text", "text": "Reject"}},
                ]
            }));
        }
        None => blocks.push(context(
            "Nobody may decide this stage from Slack (no GANTRY_APPROVERS entry): use the CodePipeline console.",
        )),
    }
    json!({ "text": fallback(&title, record), "blocks": blocks })
}

/// The request once it is over: the same facts, the outcome, no buttons.
pub fn render_closed(record: &ApprovalRecord, rule: Option<&StageApprovers>) -> Value {
    let (icon, word, line) = outcome(&record.state);
    let title = format!("{word}: {} › {}", record.pipeline, record.stage);
    let mut blocks = vec![header(&format!("{icon} {title}"))];
    blocks.extend(facts(record, rule));
    blocks.push(section(&line));
    json!({ "text": fallback(&title, record), "blocks": blocks })
}

fn outcome(state: &ApprovalState) -> (&'static str, &'static str, String) {
    match state {
        ApprovalState::Decided(d) => {
            let when = date(d.at);
            let (icon, word) = match d.outcome {
                Outcome::Approved => ("✅", "Approved"),
                Outcome::Rejected => ("❌", "Rejected"),
            };
            let mut line = format!("{icon} *{word}* by <@{}> {when}", d.by.id);
            if let Some(reason) = &d.reason {
                line.push_str(&format!("\n>{}", escape(reason)));
            }
            (icon, word, line)
        }
        ApprovalState::Closed(Closure::DecidedElsewhere {
            outcome,
            summary,
            at,
        }) => {
            let (icon, word) = match outcome {
                Some(Outcome::Approved) => ("✅", "Approved"),
                Some(Outcome::Rejected) => ("❌", "Rejected"),
                None => ("☑️", "Decided"),
            };
            let mut line = format!("{icon} *{word} outside Slack* {}", date(*at));
            if let Some(s) = summary {
                line.push_str(&format!("\n>{}", escape(s)));
            }
            (icon, word, line)
        }
        ApprovalState::Closed(Closure::Expired { at }) => (
            "⌛",
            "Expired",
            format!("⌛ *Expired*: nobody decided before {}.", date(*at)),
        ),
        ApprovalState::Closed(Closure::TokenRefused { at }) => (
            "🚫",
            "No longer valid",
            format!(
                "🚫 *No longer valid* {}: CodePipeline no longer accepts this approval (it expired, was answered outside Slack, or its execution stopped).",
                date(*at)
            ),
        ),
        ApprovalState::Closed(Closure::Superseded { at }) => (
            "⏭️",
            "Superseded",
            format!(
                "⏭️ *Superseded* {}: a newer request replaced this one, or the execution stopped.",
                date(*at)
            ),
        ),
        ApprovalState::Waiting | ApprovalState::Deciding { .. } => {
            ("⏸️", "Waiting", "⏸️ Waiting for a decision.".to_string())
        }
    }
}

fn facts(record: &ApprovalRecord, rule: Option<&StageApprovers>) -> Vec<Value> {
    let mut fields = vec![
        field("Pipeline", &escape(&record.pipeline)),
        field(
            "Stage",
            &format!("{} · {}", escape(&record.stage), escape(&record.action)),
        ),
    ];
    if let Some(c) = &record.commit {
        let mut text = format!("`{}`", escape(c.short_id()));
        if let Some(m) = &c.message {
            text.push(' ');
            text.push_str(&escape(m));
        }
        if let Some(b) = &c.branch {
            text.push_str(&format!(" ({})", escape(b)));
        }
        fields.push(field("Commit", &text));
        if let Some(name) = &c.author {
            fields.push(field("Author", &escape(name)));
        }
        match (&record.change, &c.pusher) {
            (Some(change), _) => fields.push(field("Pushed by", &pushed_by(change))),
            (None, Some(pusher)) => fields.push(field("Pushed by", &escape(pusher))),
            (None, None) => {}
        }
    } else if let Some(change) = &record.change {
        fields.push(field("Pushed by", &pushed_by(change)));
    }
    fields.push(field(
        "Who may approve",
        &rule
            .map(approvers_mrkdwn)
            .unwrap_or_else(|| "nobody from Slack".into()),
    ));
    fields.push(field("Expires", &date(record.expires_at)));
    let mut blocks = vec![json!({"type": "section", "fields": fields})];
    if let Some(custom) = &record.custom_data {
        blocks.push(section(&format!(
            ">{}",
            escape(custom).replace('\n', "\n>")
        )));
    }
    if let Some(url) = &record.review_url {
        blocks.push(section(&format!("🔎 *Review:* {}", link(url))));
    }
    blocks
}

/// Who pushed the change, as the webhook recorded it: every pusher since the stage last
/// succeeded, oldest first.
fn pushed_by(change: &Provenance) -> String {
    match change {
        Provenance::Pushed(c) => pushers(c),
        Provenance::NotStartedByGantry => "unknown: not started by Gantry's webhook".into(),
    }
}

fn pushers(change: &crate::approval::PushedChange) -> String {
    change
        .pushers
        .iter()
        .map(|p| {
            if p.is_empty() {
                "unknown".into()
            } else {
                escape(p)
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The four-eyes rule as the request states it, naming the change's pushers when known.
fn four_eyes_note(record: &ApprovalRecord) -> String {
    let mut note = String::from(
        "👀 Four-eyes: whoever pushed this change or wrote one of its commits may not approve it.",
    );
    if let Some(Provenance::Pushed(change)) = &record.change {
        let many = change.pushers.len() > 1;
        note.push_str(&format!(
            " The change is every push since {} last succeeded: {} by {}.",
            escape(&record.stage),
            if many { "pushes" } else { "one push" },
            pushers(change),
        ));
        if !change.since_success {
            note.push_str(&format!(
                " ({} ran none of the pushes Gantry keeps ({} days), so all of them count.)",
                escape(&record.stage),
                crate::ingest::PUSH_HISTORY_SECONDS / 86_400
            ));
        }
    }
    note
}

/// Why nobody may approve from Slack under four-eyes, when the owners could not be placed.
fn four_eyes_blocked(record: &ApprovalRecord) -> Option<String> {
    let verb = Act::Approve.verb();
    let denial = match record.owners.as_ref()? {
        ChangeOwners::PusherUnmapped { login, add } => Denial::PusherUnmapped {
            login: login.clone(),
            add: add.clone(),
            verb,
        },
        ChangeOwners::PusherUnknown => Denial::PusherUnknown { verb },
        ChangeOwners::Slack(_) | ChangeOwners::LookupFailed => return None,
    };
    Some(escape(&denial.to_string()))
}

/// The top-level `text` (notifications, screen readers): Slack reads it as mrkdwn, so the free
/// text in it (stage names, the commit's author) is escaped exactly as in the blocks.
fn fallback(title: &str, record: &ApprovalRecord) -> String {
    let suffix = match &record.commit {
        Some(c) => match &c.author {
            Some(a) => format!(" ({} by {})", escape(c.short_id()), escape(a)),
            None => format!(" ({})", escape(c.short_id())),
        },
        None => String::new(),
    };
    format!("{}{suffix}", escape(title))
}

fn header(text: &str) -> Value {
    json!({"type": "header", "text": {"type": "plain_text", "text": truncate(text, HEADER_MAX), "emoji": true}})
}

fn section(text: &str) -> Value {
    json!({"type": "section", "text": {"type": "mrkdwn", "text": truncate(text, SECTION_MAX)}})
}

fn field(label: &str, value: &str) -> Value {
    json!({"type": "mrkdwn", "text": truncate(&format!("*{label}*\n{value}"), FIELD_MAX)})
}

fn context(text: &str) -> Value {
    json!({"type": "context", "elements": [{"type": "mrkdwn", "text": text}]})
}

/// A date Slack shows in the reader's time zone, with a UTC fallback.
fn date(epoch: i64) -> String {
    format!(
        "<!date^{epoch}^{{date_short_pretty}} at {{time}}|{}>",
        clock::format_utc(epoch)
    )
}

/// Slack's mrkdwn escaping: only `&`, `<` and `>` are special.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// A link when the URL is a plain http(s) URL, otherwise the escaped text.
fn link(url: &str) -> String {
    let plain = (url.starts_with("https://") || url.starts_with("http://"))
        && !url.contains(['|', '<', '>', ' ', '\n']);
    if plain {
        format!("<{url}>")
    } else {
        escape(url)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::approval::{ApprovalDecision, Approver, CommitSummary};
    use crate::slack::shown::buttons;
    use std::collections::BTreeMap;

    const TOKEN: &str = "0f8b8a31-7c1e-4b7e-9d7e-2d3c4b5a6f70";

    fn record() -> ApprovalRecord {
        ApprovalRecord {
            id: "a1b2c3".into(),
            pipeline: "shop".into(),
            stage: "Prod".into(),
            action: "Approve".into(),
            token: TOKEN.into(),
            execution_id: "e-1".into(),
            requested_at: 1_700_000_000,
            expires_at: 1_700_604_800,
            custom_data: Some("Check the <canary> & dashboards".into()),
            review_url: Some("https://grafana.example.com/d/shop".into()),
            commit: Some(CommitSummary {
                id: "6113728f27ae82c7b1a177c8d03f9e96e0adf246".into(),
                message: Some("Fix the cart total".into()),
                author: Some("octocat".into()),
                repository: Some("octo/shop".into()),
                branch: Some("main".into()),
                pusher: Some("octocat".into()),
                authors: vec!["octocat".into()],
            }),
            change: None,
            owners: None,
            message: None,
            state: ApprovalState::Waiting,
        }
    }

    fn rule() -> StageApprovers {
        StageApprovers {
            users: vec!["U0ALLOWED".into()],
            groups: vec!["S0RELEASE".into()],
            four_eyes: true,
            authors: BTreeMap::new(),
        }
    }

    fn all_text(v: &Value) -> String {
        v.to_string()
    }

    #[test]
    fn the_request_says_what_who_and_until_when_with_two_buttons() {
        let m = render_request(&record(), Some(&rule()));
        let text = all_text(&m);
        for expected in [
            "Approval needed: shop › Prod",
            "`6113728` Fix the cart total (main)",
            "octocat",
            "<@U0ALLOWED>, <!subteam^S0RELEASE>",
            "<!date^1700604800^{date_short_pretty} at {time}|2023-11-21 22:13 UTC>",
            "Check the &lt;canary&gt; &amp; dashboards",
            "<https://grafana.example.com/d/shop>",
            "Four-eyes",
        ] {
            assert!(text.contains(expected), "{expected} missing from {text}");
        }
        assert_eq!(
            buttons(&m),
            vec![
                (APPROVE.to_string(), "a1b2c3".to_string()),
                (REJECT.to_string(), "a1b2c3".to_string())
            ]
        );
        assert_eq!(
            m["text"],
            "Approval needed: shop › Prod (6113728 by octocat)"
        );
    }

    #[test]
    fn the_fallback_text_escapes_free_text_as_the_blocks_do() {
        let mut r = record();
        r.commit.as_mut().unwrap().author = Some("<!channel> & <@U0BOSS>".into());
        let author = "&lt;!channel&gt; &amp; &lt;@U0BOSS&gt;";
        for m in [
            render_request(&r, Some(&rule())),
            render_closed(&r, Some(&rule())),
        ] {
            let text = m["text"].as_str().unwrap();
            assert!(text.ends_with(&format!("(6113728 by {author})")), "{text}");
            assert!(!text.contains("<!channel>"), "{text}");
            assert!(all_text(&m["blocks"]).contains(author));
        }
    }

    #[test]
    fn the_token_never_appears() {
        let mut r = record();
        for m in [render_request(&r, Some(&rule())), render_request(&r, None)] {
            assert!(!all_text(&m).contains(TOKEN));
        }
        r.state = ApprovalState::Closed(Closure::Expired { at: 1 });
        assert!(!all_text(&render_closed(&r, Some(&rule()))).contains(TOKEN));
    }

    #[test]
    fn a_stage_nobody_may_approve_gets_no_buttons() {
        let m = render_request(&record(), None);
        assert!(buttons(&m).is_empty());
        assert!(all_text(&m).contains("Nobody may decide this stage from Slack"));
    }

    #[test]
    fn the_decided_message_names_the_approver_and_has_no_buttons() {
        let mut r = record();
        r.state = ApprovalState::Decided(ApprovalDecision {
            outcome: Outcome::Rejected,
            by: Approver {
                id: "U0JANE".into(),
                name: "jane".into(),
            },
            at: 1_700_000_600,
            reason: Some("p99 <up>".into()),
        });
        let m = render_closed(&r, Some(&rule()));
        assert!(buttons(&m).is_empty());
        assert!(!all_text(&m).contains("\"input\""));
        let text = all_text(&m);
        assert!(
            text.contains("❌ *Rejected* by <@U0JANE> <!date^1700000600^"),
            "{text}"
        );
        assert!(text.contains(">p99 &lt;up&gt;"), "{text}");
        assert_eq!(m["text"], "Rejected: shop › Prod (6113728 by octocat)");
    }

    #[test]
    fn each_ending_reads_differently() {
        let mut r = record();
        for (state, says) in [
            (Closure::Expired { at: 5 }, "*Expired*"),
            (Closure::Superseded { at: 5 }, "*Superseded*"),
            (
                Closure::DecidedElsewhere {
                    outcome: Some(Outcome::Approved),
                    summary: Some("via CLI".into()),
                    at: 5,
                },
                "*Approved outside Slack*",
            ),
            (
                Closure::DecidedElsewhere {
                    outcome: None,
                    summary: None,
                    at: 5,
                },
                "*Decided outside Slack*",
            ),
        ] {
            r.state = ApprovalState::Closed(state);
            let m = render_closed(&r, Some(&rule()));
            assert!(all_text(&m).contains(says), "{says}");
            assert!(buttons(&m).is_empty());
        }
    }

    #[test]
    fn the_author_and_the_pusher_are_shown() {
        let text = all_text(&render_request(&record(), Some(&rule())));
        assert!(text.contains("*Author*\\noctocat"), "{text}");
        assert!(text.contains("*Pushed by*\\noctocat"), "{text}");
    }

    #[test]
    fn an_unmapped_pusher_is_explained_with_the_mapping_to_add() {
        let mut r = record();
        r.owners = Some(ChangeOwners::PusherUnmapped {
            login: "mona".into(),
            add: vec!["github:mona".into()],
        });
        let text = all_text(&render_request(&r, Some(&rule())));
        assert!(text.contains("nobody may approve it from Slack"), "{text}");
        assert!(text.contains("github:mona"), "{text}");
        assert!(text.contains("GANTRY_PEOPLE"), "{text}");
        r.owners = Some(ChangeOwners::Slack(Default::default()));
        let text = all_text(&render_request(&r, Some(&rule())));
        assert!(!text.contains("GANTRY_PEOPLE"), "{text}");
    }

    #[test]
    fn the_request_names_every_pusher_of_the_change() {
        let mut r = record();
        r.change = Some(Provenance::Pushed(crate::approval::PushedChange {
            pushers: vec!["mona".into(), "lee".into()],
            authors: vec!["mona".into(), "lee".into()],
            since_success: true,
        }));
        let text = all_text(&render_request(&r, Some(&rule())));
        assert!(text.contains("*Pushed by*\\nmona, lee"), "{text}");
        assert!(
            text.contains("every push since Prod last succeeded: pushes by mona, lee"),
            "{text}"
        );
        assert!(!text.contains("all of them count"), "{text}");
    }

    #[test]
    fn an_execution_gantry_did_not_start_says_why_and_how_to_approve_it() {
        let mut r = record();
        r.change = Some(Provenance::NotStartedByGantry);
        r.owners = Some(ChangeOwners::PusherUnknown);
        let m = render_request(&r, Some(&rule()));
        let text = all_text(&m);
        assert!(
            text.contains("unknown: not started by Gantry's webhook"),
            "{text}"
        );
        assert!(text.contains("CodePipeline console"), "{text}");
        assert!(text.contains("push the commit"), "{text}");
        // Reject still works: the buttons stay.
        assert_eq!(buttons(&m).len(), 2);
    }

    #[test]
    fn long_texts_stay_within_slacks_limits() {
        let mut r = record();
        r.pipeline = "p".repeat(200);
        r.custom_data = Some("x".repeat(5000));
        let m = render_request(&r, Some(&rule()));
        for b in m["blocks"].as_array().unwrap() {
            if b["type"] == "header" {
                assert!(b["text"]["text"].as_str().unwrap().chars().count() <= 150);
            }
            if let Some(t) = b["text"]["text"].as_str() {
                assert!(t.chars().count() <= 3000);
            }
            for f in b["fields"].as_array().into_iter().flatten() {
                assert!(f["text"].as_str().unwrap().chars().count() <= 2000);
            }
        }
    }

    #[test]
    fn odd_review_urls_are_shown_not_linked() {
        assert_eq!(link("javascript:alert(1)"), "javascript:alert(1)");
        assert_eq!(link("https://x/|evil"), "https://x/|evil");
        assert_eq!(link("https://x/y"), "<https://x/y>");
    }
}
