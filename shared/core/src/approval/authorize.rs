//! Whether a Slack user may press a button: the stage's approvers, and the four-eyes rule.

use crate::config::approvers::StageApprovers;
use std::collections::{BTreeMap, BTreeSet};

/// What the button asks for. Approving and promoting release a change, so the four-eyes rule
/// applies to them; rejecting and rolling back stop one, which its author may always do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Act {
    Approve,
    Reject,
    Promote,
    Rollback,
}

impl Act {
    /// True when the act lets the change go further.
    pub fn releases_change(self) -> bool {
        matches!(self, Act::Approve | Act::Promote)
    }

    /// The verb, as messages use it.
    pub fn verb(self) -> &'static str {
        match self {
            Act::Approve => "approve",
            Act::Reject => "reject",
            Act::Promote => "promote",
            Act::Rollback => "roll back",
        }
    }
}

/// The user who clicked, with the stage's user groups they belong to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Clicker {
    pub id: String,
    /// Those of the rule's groups the user is a member of (resolved by the caller).
    pub groups: BTreeSet<String>,
}

/// Who wrote the change, as far as Slack is concerned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthorIdentity {
    /// The author's Slack user id.
    Slack(String),
    /// The author has no Slack user (their email matches none, or `authors` maps them to null).
    NotInSlack,
    /// The author is named (`name`) but neither `authors` nor an email finds their Slack user.
    Unmatched(String),
    /// The execution says nothing about its commit's author.
    Unknown,
    /// Slack could not be asked just now.
    LookupFailed,
}

/// How to find the author's Slack user: decided from the Git author and the `authors` table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthorLookup {
    /// Already known (from the table).
    Known(AuthorIdentity),
    /// Ask Slack `users.lookupByEmail`.
    ByEmail(String),
}

/// Decides how to identify `author` (a Git name, username or email) in Slack.
pub fn author_lookup(
    author: Option<&str>,
    authors: &BTreeMap<String, Option<String>>,
) -> AuthorLookup {
    let Some(author) = author.map(str::trim).filter(|a| !a.is_empty()) else {
        return AuthorLookup::Known(AuthorIdentity::Unknown);
    };
    let mapped = authors
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(author))
        .map(|(_, v)| v);
    match mapped {
        Some(Some(id)) => AuthorLookup::Known(AuthorIdentity::Slack(id.clone())),
        Some(None) => AuthorLookup::Known(AuthorIdentity::NotInSlack),
        None if author.contains('@') => AuthorLookup::ByEmail(author.to_string()),
        None => AuthorLookup::Known(AuthorIdentity::Unmatched(author.to_string())),
    }
}

/// The answer to a click.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Allowed,
    Denied(Denial),
}

/// Why a click was refused. `Display` is what the clicker reads.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Denial {
    #[error("Nobody may decide this stage from Slack: GANTRY_APPROVERS has no entry for it. Use the CodePipeline console, or ask an admin to add approvers.")]
    NoApprovers,
    #[error("You are not one of the approvers of this stage ({allowed}).")]
    NotAnApprover { allowed: String },
    #[error("Four-eyes rule: you wrote this change, so someone else must {verb} it.")]
    OwnChange { verb: &'static str },
    #[error("Four-eyes rule: the commit's author {author:?} has no known Slack user, so Gantry cannot tell whether you wrote it. Ask an admin to map them in GANTRY_APPROVERS `authors`, or use the CodePipeline console.")]
    AuthorNotMatched { author: String },
    #[error("Four-eyes rule: Gantry does not know who wrote this change, so it cannot be released from Slack. Use the CodePipeline console.")]
    AuthorUnknown,
    #[error("Four-eyes rule: Slack could not be asked who wrote this change just now. Try again in a moment.")]
    AuthorLookupFailed,
    /// Not decided by `authorize`: the caller could not learn the clicker's group membership.
    #[error("Slack could not say just now whether you are in this stage's approver groups. Try again in a moment.")]
    MembershipUnknown,
}

/// Decides a click. Deny by default: no rule, no decision from Slack.
pub fn authorize(
    clicker: &Clicker,
    act: Act,
    rule: Option<&StageApprovers>,
    author: &AuthorIdentity,
) -> Verdict {
    let Some(rule) = rule else {
        return Verdict::Denied(Denial::NoApprovers);
    };
    let listed =
        rule.lists_user(&clicker.id) || rule.groups.iter().any(|g| clicker.groups.contains(g));
    if !listed {
        return Verdict::Denied(Denial::NotAnApprover {
            allowed: approvers_mrkdwn(rule),
        });
    }
    if !(rule.four_eyes && act.releases_change()) {
        return Verdict::Allowed;
    }
    match author {
        AuthorIdentity::Slack(id) if *id == clicker.id => {
            Verdict::Denied(Denial::OwnChange { verb: act.verb() })
        }
        AuthorIdentity::Slack(_) | AuthorIdentity::NotInSlack => Verdict::Allowed,
        AuthorIdentity::Unmatched(name) => Verdict::Denied(Denial::AuthorNotMatched {
            author: name.clone(),
        }),
        AuthorIdentity::Unknown => Verdict::Denied(Denial::AuthorUnknown),
        AuthorIdentity::LookupFailed => Verdict::Denied(Denial::AuthorLookupFailed),
    }
}

/// The stage's approvers as Slack mentions: `<@U1>, <!subteam^S1>`.
pub fn approvers_mrkdwn(rule: &StageApprovers) -> String {
    rule.users
        .iter()
        .map(|u| format!("<@{u}>"))
        .chain(rule.groups.iter().map(|g| format!("<!subteam^{g}>")))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(four_eyes: bool) -> StageApprovers {
        StageApprovers {
            users: vec!["U0ALLOWED".into(), "U0AUTHOR".into()],
            groups: vec!["S0RELEASE".into()],
            four_eyes,
            authors: BTreeMap::new(),
        }
    }

    fn clicker(id: &str, groups: &[&str]) -> Clicker {
        Clicker {
            id: id.into(),
            groups: groups.iter().map(|g| g.to_string()).collect(),
        }
    }

    fn author(id: &str) -> AuthorIdentity {
        AuthorIdentity::Slack(id.into())
    }

    #[test]
    fn a_listed_user_may_approve_and_reject() {
        for act in [Act::Approve, Act::Reject, Act::Promote, Act::Rollback] {
            let v = authorize(
                &clicker("U0ALLOWED", &[]),
                act,
                Some(&rule(false)),
                &AuthorIdentity::Unknown,
            );
            assert_eq!(v, Verdict::Allowed, "{act:?}");
        }
    }

    #[test]
    fn a_member_of_a_listed_group_may_approve() {
        let v = authorize(
            &clicker("U0MEMBER", &["S0RELEASE"]),
            Act::Approve,
            Some(&rule(false)),
            &author("U0X"),
        );
        assert_eq!(v, Verdict::Allowed);
    }

    #[test]
    fn anyone_else_is_refused_and_told_who_may() {
        let v = authorize(
            &clicker("U0STRANGER", &["S0OTHER"]),
            Act::Reject,
            Some(&rule(false)),
            &author("U0X"),
        );
        let Verdict::Denied(d) = v else {
            panic!("allowed")
        };
        assert!(
            d.to_string()
                .contains("<@U0ALLOWED>, <@U0AUTHOR>, <!subteam^S0RELEASE>"),
            "{d}"
        );
    }

    #[test]
    fn a_stage_without_rule_cannot_be_decided_from_slack() {
        let v = authorize(
            &clicker("U0ALLOWED", &[]),
            Act::Approve,
            None,
            &author("U0X"),
        );
        assert_eq!(v, Verdict::Denied(Denial::NoApprovers));
    }

    #[test]
    fn four_eyes_stops_the_author_approving_or_promoting_but_not_rejecting() {
        let r = rule(true);
        let me = clicker("U0AUTHOR", &[]);
        assert_eq!(
            authorize(&me, Act::Approve, Some(&r), &author("U0AUTHOR")),
            Verdict::Denied(Denial::OwnChange { verb: "approve" })
        );
        assert_eq!(
            authorize(&me, Act::Promote, Some(&r), &author("U0AUTHOR")),
            Verdict::Denied(Denial::OwnChange { verb: "promote" })
        );
        assert_eq!(
            authorize(&me, Act::Reject, Some(&r), &author("U0AUTHOR")),
            Verdict::Allowed
        );
        assert_eq!(
            authorize(&me, Act::Rollback, Some(&r), &author("U0AUTHOR")),
            Verdict::Allowed
        );
        assert_eq!(
            authorize(
                &clicker("U0ALLOWED", &[]),
                Act::Approve,
                Some(&r),
                &author("U0AUTHOR")
            ),
            Verdict::Allowed
        );
    }

    #[test]
    fn four_eyes_fails_closed_when_the_author_cannot_be_placed() {
        let r = rule(true);
        let c = clicker("U0ALLOWED", &[]);
        assert_eq!(
            authorize(&c, Act::Approve, Some(&r), &AuthorIdentity::NotInSlack),
            Verdict::Allowed
        );
        for (a, d) in [
            (AuthorIdentity::Unknown, Denial::AuthorUnknown),
            (AuthorIdentity::LookupFailed, Denial::AuthorLookupFailed),
            (
                AuthorIdentity::Unmatched("octocat".into()),
                Denial::AuthorNotMatched {
                    author: "octocat".into(),
                },
            ),
        ] {
            assert_eq!(
                authorize(&c, Act::Approve, Some(&r), &a),
                Verdict::Denied(d)
            );
        }
        // Without four-eyes, the author does not matter.
        assert_eq!(
            authorize(
                &c,
                Act::Approve,
                Some(&rule(false)),
                &AuthorIdentity::Unknown
            ),
            Verdict::Allowed
        );
    }

    #[test]
    fn authors_are_found_by_table_then_email() {
        let table = BTreeMap::from([
            ("Jane Doe".to_string(), Some("U0JANE".to_string())),
            ("dependabot[bot]".to_string(), None),
        ]);
        assert_eq!(
            author_lookup(Some("jane doe"), &table),
            AuthorLookup::Known(author("U0JANE"))
        );
        assert_eq!(
            author_lookup(Some("dependabot[bot]"), &table),
            AuthorLookup::Known(AuthorIdentity::NotInSlack)
        );
        assert_eq!(
            author_lookup(Some("joe@example.com"), &table),
            AuthorLookup::ByEmail("joe@example.com".into())
        );
        assert_eq!(
            author_lookup(Some("octocat"), &table),
            AuthorLookup::Known(AuthorIdentity::Unmatched("octocat".into()))
        );
        assert_eq!(
            author_lookup(Some("  "), &table),
            AuthorLookup::Known(AuthorIdentity::Unknown)
        );
        assert_eq!(
            author_lookup(None, &table),
            AuthorLookup::Known(AuthorIdentity::Unknown)
        );
    }
}
