//! Whether a Slack user may press a button: the stage's approvers, and the four-eyes rule.
//!
//! Four-eyes rests on who a change belongs to: the account the provider authenticated for the
//! push (`PUSHER`, mapped to Slack by `GANTRY_PEOPLE`) and every commit's author. A commit's
//! author is free text the committer writes, so it may only ever *bar* someone (when it maps to
//! the clicker), never clear anyone; a pusher Gantry cannot place in Slack fails closed.

use super::change::Provenance;
use crate::config::approvers::StageApprovers;
use crate::config::people::{LoginMapping, People};
use std::collections::{BTreeMap, BTreeSet};

/// What the button asks for. Approving, promoting, resuming and continuing release a change,
/// so the four-eyes rule applies to them; rejecting and rolling back stop one, which its author
/// may always do; pausing and extending the bake only hold it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Act {
    Approve,
    Reject,
    Promote,
    Rollback,
    Pause,
    Resume,
    Extend,
    Continue,
}

impl Act {
    /// True when the act lets the change go further.
    pub fn releases_change(self) -> bool {
        matches!(
            self,
            Act::Approve | Act::Promote | Act::Resume | Act::Continue
        )
    }

    /// The verb, as messages use it.
    pub fn verb(self) -> &'static str {
        match self {
            Act::Approve => "approve",
            Act::Reject => "reject",
            Act::Promote => "promote",
            Act::Rollback => "roll back",
            Act::Pause => "pause",
            Act::Resume => "resume",
            Act::Extend => "extend the bake of",
            Act::Continue => "continue",
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

/// Who a change belongs to, as far as Slack is concerned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChangeOwners {
    /// The Slack users the change belongs to: the pusher's, and each commit author's that maps.
    Slack(BTreeSet<String>),
    /// Gantry's webhook did not start the execution (the console, a CLI, a source action), so
    /// nobody can say whose change it is: its pipeline variables are whatever its starter typed.
    PusherUnknown,
    /// `GANTRY_PEOPLE` does not map the pusher's login (`add`: the keys that would).
    PusherUnmapped { login: String, add: Vec<String> },
    /// The change's owners could not be found just now (the state table, CodePipeline, or
    /// Slack's email lookup did not answer).
    LookupFailed,
}

/// How one commit author may bar someone: decided from the `authors` table and `GANTRY_PEOPLE`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthorLookup {
    /// These Slack users (none: a bot, or a name Slack cannot know, which bars nobody).
    Known(BTreeSet<String>),
    /// Ask Slack `users.lookupByEmail`; the user found (if any) is barred too.
    ByEmail(String),
}

/// Decides how one commit author (a Git username, name or email) is found in Slack.
pub fn author_lookup(
    author: &str,
    authors: &BTreeMap<String, Option<String>>,
    people: &People,
) -> AuthorLookup {
    let author = author.trim();
    if author.is_empty() {
        return AuthorLookup::Known(BTreeSet::new());
    }
    let mut barred = people.any_provider(author);
    let mapped = authors
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(author))
        .map(|(_, v)| v);
    match mapped {
        Some(Some(id)) => {
            barred.insert(id.clone());
        }
        Some(None) => {}
        None if author.contains('@') => return AuthorLookup::ByEmail(author.to_string()),
        None => {}
    }
    AuthorLookup::Known(barred)
}

/// What must be learnt to know a change's owners.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OwnersPlan {
    /// Known without asking Slack.
    Known(ChangeOwners),
    /// `barred` so far, plus whoever Slack finds by these emails.
    Lookup {
        barred: BTreeSet<String>,
        emails: Vec<String>,
    },
}

/// The owners of a change under `rule`: every pusher through `GANTRY_PEOPLE` (or the stage's
/// `authors` table), then every commit author through the `authors` table, `GANTRY_PEOPLE` or
/// an email. Only the webhook's record says who pushed: an execution it did not start has no
/// known owners, whatever its pipeline variables say.
pub fn owners_plan(provenance: &Provenance, rule: &StageApprovers, people: &People) -> OwnersPlan {
    let change = match provenance {
        Provenance::Pushed(change) => change,
        Provenance::NotStartedByGantry => return OwnersPlan::Known(ChangeOwners::PusherUnknown),
    };
    let mut barred = BTreeSet::new();
    for pusher in change.pushers.iter().map(|p| p.trim()) {
        if pusher.is_empty() {
            return OwnersPlan::Known(ChangeOwners::PusherUnknown);
        }
        match pusher_mapping(pusher, &rule.authors, people) {
            LoginMapping::Slack(users) => barred.extend(users),
            LoginMapping::Missing(add) => {
                return OwnersPlan::Known(ChangeOwners::PusherUnmapped {
                    login: pusher.to_string(),
                    add,
                })
            }
        }
    }
    if change.pushers.is_empty() {
        return OwnersPlan::Known(ChangeOwners::PusherUnknown);
    }
    let mut emails = Vec::new();
    for author in &change.authors {
        match author_lookup(author, &rule.authors, people) {
            AuthorLookup::Known(users) => barred.extend(users),
            AuthorLookup::ByEmail(email) => {
                if !emails.contains(&email) {
                    emails.push(email)
                }
            }
        }
    }
    if emails.is_empty() {
        OwnersPlan::Known(ChangeOwners::Slack(barred))
    } else {
        OwnersPlan::Lookup { barred, emails }
    }
}

/// The pusher's Slack users: from the stage's `authors` table when it names the login (an admin
/// wrote it, so it may place a pusher; `null` says the account has no Slack user), with whoever
/// `GANTRY_PEOPLE` names for it; else from `GANTRY_PEOPLE` alone.
fn pusher_mapping(
    login: &str,
    authors: &BTreeMap<String, Option<String>>,
    people: &People,
) -> LoginMapping {
    let listed = authors
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(login))
        .map(|(_, v)| v);
    match listed {
        Some(user) => {
            let mut users = people.any_provider(login);
            users.extend(user.iter().cloned());
            LoginMapping::Slack(users)
        }
        None => people.pusher(login),
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
    #[error("Four-eyes rule: you pushed this change or wrote one of its commits, so someone else must {verb} it.")]
    OwnChange { verb: &'static str },
    #[error("Four-eyes rule: {login:?} pushed this change, and Gantry cannot tell who that account is in Slack, so nobody may {verb} it from Slack. Ask an admin to add {} to GANTRY_PEOPLE (template parameter PeopleJson), or {login:?} to this stage's `authors` in GANTRY_APPROVERS; or use the CodePipeline console.", keys(.add))]
    PusherUnmapped {
        login: String,
        add: Vec<String>,
        verb: &'static str,
    },
    #[error("Four-eyes rule: Gantry's webhook did not start this execution (it was started from the console, the CLI or another tool), so Gantry cannot tell who pushed it, whatever its pipeline variables say, and nobody may {verb} it from Slack. Approve it in the CodePipeline console, or push the commit to the branch so that Gantry's webhook starts it.")]
    PusherUnknown { verb: &'static str },
    #[error("Four-eyes rule: Gantry could not find out just now who pushed or wrote this change (its records, CodePipeline or Slack did not answer). Try again in a moment.")]
    OwnersLookupFailed,
    /// Not decided by `authorize`: the caller could not learn the clicker's group membership.
    #[error("Slack could not say just now whether you are in this stage's approver groups. Try again in a moment.")]
    MembershipUnknown,
}

/// `"github:mona": "U…"` for each key, as the admin would type them.
pub fn keys(add: &[String]) -> String {
    add.iter()
        .map(|k| format!("`\"{k}\": \"U…\"`"))
        .collect::<Vec<_>>()
        .join(" and ")
}

/// Decides a click. Deny by default: no rule, no decision from Slack.
pub fn authorize(
    clicker: &Clicker,
    act: Act,
    rule: Option<&StageApprovers>,
    owners: &ChangeOwners,
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
    let verb = act.verb();
    match owners {
        ChangeOwners::Slack(ids) if ids.contains(&clicker.id) => {
            Verdict::Denied(Denial::OwnChange { verb })
        }
        ChangeOwners::Slack(_) => Verdict::Allowed,
        ChangeOwners::PusherUnmapped { login, add } => Verdict::Denied(Denial::PusherUnmapped {
            login: login.clone(),
            add: add.clone(),
            verb,
        }),
        ChangeOwners::PusherUnknown => Verdict::Denied(Denial::PusherUnknown { verb }),
        ChangeOwners::LookupFailed => Verdict::Denied(Denial::OwnersLookupFailed),
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
    use crate::approval::change::PushedChange;

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

    fn owners(ids: &[&str]) -> ChangeOwners {
        ChangeOwners::Slack(ids.iter().map(|s| s.to_string()).collect())
    }

    fn author(id: &str) -> ChangeOwners {
        owners(&[id])
    }

    #[test]
    fn a_listed_user_may_approve_and_reject() {
        for act in [Act::Approve, Act::Reject, Act::Promote, Act::Rollback] {
            let v = authorize(
                &clicker("U0ALLOWED", &[]),
                act,
                Some(&rule(false)),
                &ChangeOwners::PusherUnknown,
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
    fn four_eyes_stops_an_owner_releasing_but_not_stopping_or_holding() {
        let r = rule(true);
        let me = clicker("U0AUTHOR", &[]);
        let mine = owners(&["U0PUSHER", "U0AUTHOR"]);
        for act in [Act::Approve, Act::Promote, Act::Resume, Act::Continue] {
            assert_eq!(
                authorize(&me, act, Some(&r), &mine),
                Verdict::Denied(Denial::OwnChange { verb: act.verb() }),
                "{act:?}"
            );
        }
        for act in [Act::Reject, Act::Rollback, Act::Pause, Act::Extend] {
            assert_eq!(authorize(&me, act, Some(&r), &mine), Verdict::Allowed);
        }
        assert_eq!(
            authorize(&clicker("U0ALLOWED", &[]), Act::Approve, Some(&r), &mine),
            Verdict::Allowed
        );
    }

    #[test]
    fn four_eyes_fails_closed_when_the_pusher_cannot_be_placed() {
        let r = rule(true);
        let c = clicker("U0ALLOWED", &[]);
        let unmapped = ChangeOwners::PusherUnmapped {
            login: "mona".into(),
            add: vec!["github:mona".into()],
        };
        let Verdict::Denied(d) = authorize(&c, Act::Approve, Some(&r), &unmapped) else {
            panic!("an unmapped pusher released a change");
        };
        assert!(
            d.to_string()
                .contains(r#"`"github:mona": "U…"` to GANTRY_PEOPLE"#),
            "{d}"
        );
        assert_eq!(
            authorize(&c, Act::Promote, Some(&r), &ChangeOwners::PusherUnknown),
            Verdict::Denied(Denial::PusherUnknown { verb: "promote" })
        );
        assert_eq!(
            authorize(&c, Act::Approve, Some(&r), &ChangeOwners::LookupFailed),
            Verdict::Denied(Denial::OwnersLookupFailed)
        );
        // Stopping a change never needs its owners; nor does anything without four-eyes.
        assert_eq!(
            authorize(&c, Act::Reject, Some(&r), &unmapped),
            Verdict::Allowed
        );
        assert_eq!(
            authorize(&c, Act::Approve, Some(&rule(false)), &unmapped),
            Verdict::Allowed
        );
    }

    fn people() -> People {
        People::parse(r#"{"github:mona": "U0MONA", "github:ada": "U0ADA"}"#).unwrap()
    }

    /// The change of one push by `pusher` (none: a push whose payload named nobody), whose
    /// commits `authors` wrote, `head` last.
    fn pushed(pusher: Option<&str>, authors: &[&str], head: Option<&str>) -> Provenance {
        let mut all: Vec<String> = Vec::new();
        for a in authors.iter().chain(head.iter()) {
            if !all.iter().any(|x| x == a) {
                all.push(a.to_string());
            }
        }
        Provenance::Pushed(PushedChange {
            pushers: pusher.map(str::to_string).into_iter().collect(),
            authors: all,
            since_success: true,
        })
    }

    #[test]
    fn a_fake_commit_author_never_clears_the_pusher() {
        // The attack: mona commits as ghost@example.invalid and pushes.
        let c = pushed(
            Some("mona"),
            &["ghost@example.invalid"],
            Some("ghost@example.invalid"),
        );
        let plan = owners_plan(&c, &rule(true), &people());
        let OwnersPlan::Lookup { barred, emails } = plan else {
            panic!("{plan:?}")
        };
        assert!(barred.contains("U0MONA"));
        assert_eq!(emails, vec!["ghost@example.invalid"]);
    }

    #[test]
    fn every_commit_author_that_maps_is_barred() {
        let mut r = rule(true);
        r.authors = BTreeMap::from([
            ("Jane Doe".to_string(), Some("U0JANE".to_string())),
            ("dependabot[bot]".to_string(), None),
        ]);
        let c = pushed(
            Some("mona"),
            &["dependabot[bot]", "ada", "jane doe", "someone"],
            Some("dependabot[bot]"),
        );
        assert_eq!(
            owners_plan(&c, &r, &people()),
            OwnersPlan::Known(owners(&["U0ADA", "U0JANE", "U0MONA"]))
        );
    }

    #[test]
    fn the_stages_authors_table_may_place_the_pusher() {
        let mut r = rule(true);
        r.authors = BTreeMap::from([
            ("Codertocat".to_string(), Some("U0MONA".to_string())),
            ("dependabot[bot]".to_string(), None),
        ]);
        let c = pushed(Some("codertocat"), &["Codertocat"], None);
        assert_eq!(
            owners_plan(&c, &r, &People::default()),
            OwnersPlan::Known(owners(&["U0MONA"]))
        );
        // A bot's account has no Slack user: known, and it bars nobody.
        let c = pushed(Some("dependabot[bot]"), &["dependabot[bot]"], None);
        assert_eq!(
            owners_plan(&c, &r, &People::default()),
            OwnersPlan::Known(owners(&[]))
        );
    }

    #[test]
    fn without_a_mapped_pusher_the_owners_are_unknown() {
        let r = rule(true);
        assert_eq!(
            owners_plan(&pushed(Some("hubot"), &["ada"], None), &r, &people()),
            OwnersPlan::Known(ChangeOwners::PusherUnmapped {
                login: "hubot".into(),
                add: vec!["github:hubot".into()]
            })
        );
        for c in [
            Provenance::NotStartedByGantry,
            pushed(None, &["ada"], Some("ada")),
        ] {
            assert_eq!(
                owners_plan(&c, &r, &people()),
                OwnersPlan::Known(ChangeOwners::PusherUnknown)
            );
        }
    }

    #[test]
    fn every_pusher_of_the_change_is_barred_and_one_unmapped_pusher_fails_closed() {
        let change = |pushers: &[&str]| {
            Provenance::Pushed(PushedChange {
                pushers: pushers.iter().map(|p| p.to_string()).collect(),
                authors: vec![],
                since_success: true,
            })
        };
        assert_eq!(
            owners_plan(&change(&["mona", "ada"]), &rule(true), &people()),
            OwnersPlan::Known(owners(&["U0ADA", "U0MONA"]))
        );
        assert_eq!(
            owners_plan(&change(&["mona", "hubot"]), &rule(true), &people()),
            OwnersPlan::Known(ChangeOwners::PusherUnmapped {
                login: "hubot".into(),
                add: vec!["github:hubot".into()]
            })
        );
    }

    #[test]
    fn an_execution_gantry_did_not_start_is_nobodys_to_release() {
        let v = authorize(
            &clicker("U0ALLOWED", &[]),
            Act::Approve,
            Some(&rule(true)),
            &ChangeOwners::PusherUnknown,
        );
        let Verdict::Denied(d) = v else {
            panic!("approved an execution nobody can place")
        };
        let text = d.to_string();
        assert!(text.contains("webhook did not start"), "{text}");
        assert!(text.contains("CodePipeline console"), "{text}");
        assert!(text.contains("push the commit"), "{text}");
    }

    #[test]
    fn authors_are_found_by_table_people_then_email() {
        let table = BTreeMap::from([
            ("Jane Doe".to_string(), Some("U0JANE".to_string())),
            ("dependabot[bot]".to_string(), None),
        ]);
        let p = people();
        let known = |ids: &[&str]| AuthorLookup::Known(ids.iter().map(|s| s.to_string()).collect());
        assert_eq!(author_lookup("jane doe", &table, &p), known(&["U0JANE"]));
        assert_eq!(author_lookup("dependabot[bot]", &table, &p), known(&[]));
        assert_eq!(author_lookup("Ada", &table, &p), known(&["U0ADA"]));
        assert_eq!(
            author_lookup("joe@example.com", &table, &p),
            AuthorLookup::ByEmail("joe@example.com".into())
        );
        assert_eq!(author_lookup("octocat", &table, &p), known(&[]));
        assert_eq!(author_lookup("  ", &table, &p), known(&[]));
    }
}
