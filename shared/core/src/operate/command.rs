//! The `/gantry` slash command as Slack sends it (a signed form body), and what its text asks.

use crate::approval::Approver;
use std::fmt;

/// A slash command request: the fields of Slack's form body Gantry reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlashCommand {
    /// `/gantry` (or whatever the app's manifest names it).
    pub command: String,
    pub text: String,
    pub user: Approver,
    pub channel: String,
    pub team: String,
    /// Where Slack accepts up to five answers within 30 minutes.
    pub response_url: Option<String>,
    /// Unique to this request; a Slack retry carries the same one.
    pub trigger_id: String,
}

/// Why a form body is not a slash command Gantry can read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommandError {
    #[error("the form body has no `{0}` field")]
    Missing(&'static str),
}

/// True when a form body is a slash command (`command=`), not an interactivity request
/// (`payload=`): both come to the same URL, signed the same way.
pub fn is_slash_command(body: &[u8]) -> bool {
    form_urlencoded::parse(body).any(|(k, _)| k == "command")
}

/// Reads Slack's slash command form body.
pub fn parse_request(body: &[u8]) -> Result<SlashCommand, CommandError> {
    let mut fields = std::collections::HashMap::new();
    for (k, v) in form_urlencoded::parse(body) {
        fields
            .entry(k.into_owned())
            .or_insert_with(|| v.into_owned());
    }
    let take = |name: &'static str| fields.get(name).cloned().filter(|v| !v.is_empty());
    let command = take("command").ok_or(CommandError::Missing("command"))?;
    let user_id = take("user_id").ok_or(CommandError::Missing("user_id"))?;
    Ok(SlashCommand {
        command,
        text: fields.get("text").cloned().unwrap_or_default(),
        user: Approver {
            name: take("user_name").unwrap_or_else(|| user_id.clone()),
            id: user_id,
        },
        channel: take("channel_id").ok_or(CommandError::Missing("channel_id"))?,
        team: take("team_id").unwrap_or_default(),
        response_url: take("response_url"),
        trigger_id: take("trigger_id").unwrap_or_default(),
    })
}

/// What the command's text asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Operation {
    /// `status [service]`.
    Status { service: Option<String> },
    /// `deploy <service> <commit>`.
    Deploy { service: String, commit: String },
    /// `rollback <service> <stage>`.
    Rollback { service: String, stage: String },
    /// `restart <service> <stage>`.
    Restart { service: String, stage: String },
    /// `stats [service]`: the four keys, the last 30 days against the 30 before.
    Stats { service: Option<String> },
    /// `help`, or nothing at all.
    Help,
    /// Anything else: the answer says what is wrong and shows the help.
    Unknown { reason: String },
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Operation::Status { service: None } => write!(f, "status"),
            Operation::Status { service: Some(s) } => write!(f, "status {s}"),
            Operation::Deploy { service, commit } => write!(f, "deploy {service} {commit}"),
            Operation::Rollback { service, stage } => write!(f, "rollback {service} {stage}"),
            Operation::Restart { service, stage } => write!(f, "restart {service} {stage}"),
            Operation::Stats { service: None } => write!(f, "stats"),
            Operation::Stats { service: Some(s) } => write!(f, "stats {s}"),
            Operation::Help => write!(f, "help"),
            Operation::Unknown { .. } => write!(f, "unknown"),
        }
    }
}

/// The help text, in Slack's mrkdwn.
pub const HELP: &str = "*Gantry* from Slack:\n\
• `/gantry status [service]`: each stage's live commit, who pushed it, when, and what runs now\n\
• `/gantry deploy <service> <commit>`: start the service's pipeline at that commit (its approvals still apply)\n\
• `/gantry rollback <service> <stage>`: roll the stage back to the last execution that succeeded in it\n\
• `/gantry restart <service> <stage>`: restart the live side's ECS service in that stage\n\
• `/gantry stats [service]`: deployments, lead time, change failure rate and time to restore per stage, the last 30 days against the 30 before\n\
• `/gantry help`: this text\n\
`<service>` is the pipeline's name.";

/// Reads the command's text: words separated by blanks, the verb in any case.
pub fn parse_text(text: &str) -> Operation {
    let words: Vec<&str> = text.split_whitespace().collect();
    let Some((verb, args)) = words.split_first() else {
        return Operation::Help;
    };
    let usage = |u: &str| Operation::Unknown {
        reason: format!("Usage: `/gantry {u}`."),
    };
    match (verb.to_ascii_lowercase().as_str(), args) {
        ("help", _) => Operation::Help,
        ("status", []) => Operation::Status { service: None },
        ("status", [service]) => Operation::Status {
            service: Some(service.to_string()),
        },
        ("status", _) => usage("status [service]"),
        ("stats", []) => Operation::Stats { service: None },
        ("stats", [service]) => Operation::Stats {
            service: Some(service.to_string()),
        },
        ("stats", _) => usage("stats [service]"),
        ("deploy", [service, commit]) if is_commit(commit) => Operation::Deploy {
            service: service.to_string(),
            commit: commit.to_string(),
        },
        ("deploy", [_, commit]) => Operation::Unknown {
            reason: format!(
                "`{}` is not a commit id (4 to 40 hexadecimal digits).",
                crate::text::truncate(commit, 60)
            ),
        },
        ("deploy", _) => usage("deploy <service> <commit>"),
        ("rollback", [service, stage]) => Operation::Rollback {
            service: service.to_string(),
            stage: stage.to_string(),
        },
        ("rollback", _) => usage("rollback <service> <stage>"),
        ("restart", [service, stage]) => Operation::Restart {
            service: service.to_string(),
            stage: stage.to_string(),
        },
        ("restart", _) => usage("restart <service> <stage>"),
        (other, _) => Operation::Unknown {
            reason: format!(
                "Gantry does not know `{}`.",
                crate::text::truncate(other, 40)
            ),
        },
    }
}

/// A Git commit id as people type it: 4 to 40 hex digits (CodePipeline pins the full id).
fn is_commit(s: &str) -> bool {
    (4..=40).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_hexdigit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_subcommand_is_read_and_anything_else_is_explained() {
        assert_eq!(parse_text(""), Operation::Help);
        assert_eq!(parse_text("  HELP "), Operation::Help);
        assert_eq!(parse_text("status"), Operation::Status { service: None });
        assert_eq!(
            parse_text("status shop"),
            Operation::Status {
                service: Some("shop".into())
            }
        );
        assert_eq!(
            parse_text("Stats shop"),
            Operation::Stats {
                service: Some("shop".into())
            }
        );
        assert_eq!(parse_text("stats"), Operation::Stats { service: None });
        assert_eq!(
            parse_text("deploy shop 6113728f"),
            Operation::Deploy {
                service: "shop".into(),
                commit: "6113728f".into()
            }
        );
        assert_eq!(
            parse_text("rollback shop Prod"),
            Operation::Rollback {
                service: "shop".into(),
                stage: "Prod".into()
            }
        );
        assert_eq!(
            parse_text("restart shop Prod"),
            Operation::Restart {
                service: "shop".into(),
                stage: "Prod".into()
            }
        );
        for (text, says) in [
            ("deploy shop", "Usage: `/gantry deploy <service> <commit>`"),
            ("deploy shop main", "`main` is not a commit id"),
            ("rollback shop", "Usage: `/gantry rollback"),
            ("restart", "Usage: `/gantry restart"),
            ("status a b", "Usage: `/gantry status"),
            ("stats a b", "Usage: `/gantry stats [service]`"),
            ("launch rockets", "Gantry does not know `launch`"),
        ] {
            match parse_text(text) {
                Operation::Unknown { reason } => assert!(reason.contains(says), "{text}: {reason}"),
                other => panic!("{text}: {other:?}"),
            }
        }
    }

    #[test]
    fn a_command_body_is_told_from_a_click_body() {
        let body = b"token=x&team_id=T1&channel_id=C0DEPLOYS&user_id=U0JANE&user_name=jane&command=%2Fgantry&text=status+shop&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1%2F1%2Fabc&trigger_id=1.2.3";
        assert!(is_slash_command(body));
        assert!(!is_slash_command(b"payload=%7B%7D"));
        let c = parse_request(body).unwrap();
        assert_eq!(c.text, "status shop");
        assert_eq!(c.user.id, "U0JANE");
        assert_eq!(c.user.name, "jane");
        assert_eq!(c.channel, "C0DEPLOYS");
        assert_eq!(
            c.response_url.as_deref(),
            Some("https://hooks.slack.com/commands/T1/1/abc")
        );
        assert_eq!(
            parse_request(b"command=%2Fgantry&text=x"),
            Err(CommandError::Missing("user_id"))
        );
    }
}
