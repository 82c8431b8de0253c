//! `deploy`'s four-eyes: whose change a slash deploy carries. The four-eyes rule trusts only
//! what Gantry's webhook recorded of a signed push (`ingest::started`); a Slack user typing a
//! commit id says nothing of who wrote it. So a slash deploy carries the people the webhook
//! recorded for that commit's push and for the pushes to the same ref it brings along (since
//! each stage last ran something of that ref), and a commit the webhook never saw pushed is
//! not deployed at all: otherwise its authors would be unknown, and one of them could approve
//! their own code.

use crate::approval::{change_since, StageSuccesses};
use crate::ingest::StartedPush;
use std::collections::BTreeSet;

/// What the webhook recorded of a commit a slash deploy names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pushed {
    /// Pushed to `git_ref` as `commit` (the full id): `pushers` are everyone who pushed any of
    /// the change it brings to a stage, `authors` everyone who wrote it (each once, oldest
    /// first). They stay apart because four-eyes treats them apart: a pusher it cannot map to
    /// a Slack user fails closed, an author it cannot map bars nobody.
    Seen {
        commit: String,
        git_ref: String,
        pushers: Vec<String>,
        authors: Vec<String>,
    },
    /// The webhook's retained history of the service has no push with this commit.
    Unseen,
    /// The id is the start of more than one pushed commit.
    Ambiguous(Vec<String>),
}

/// Whether `typed` (4 to 40 hexadecimal digits) names `commit`.
fn names(typed: &str, commit: &str) -> bool {
    commit.len() >= typed.len() && commit[..typed.len()].eq_ignore_ascii_case(typed)
}

/// Finds `typed` in `pushes` (each ref's retained pushes, oldest first) and the change it
/// brings to each stage, whose last success is one of `lives` (execution, commit): the union
/// of those changes, so whichever stage's approval reads the deploy's record finds everyone.
/// A stage with nothing live counts every retained push of the ref.
pub fn pushed_change(
    typed: &str,
    pushes: &[Vec<StartedPush>],
    lives: &[(String, Option<String>)],
) -> Pushed {
    let mut found: Vec<(&StartedPush, &[StartedPush])> = Vec::new();
    let mut commits = BTreeSet::new();
    for history in pushes {
        // The newest push carrying the commit: what a stage would run after it.
        let at = history.iter().rposition(|p| {
            names(typed, &p.commit_id) || p.facts.commits.iter().any(|c| names(typed, c))
        });
        if let Some(i) = at {
            let push = &history[i];
            let full = std::iter::once(&push.commit_id)
                .chain(&push.facts.commits)
                .find(|c| names(typed, c))
                .cloned()
                .unwrap_or_default();
            commits.insert(full.to_ascii_lowercase());
            found.push((push, &history[..i]));
        }
    }
    if commits.len() > 1 {
        return Pushed::Ambiguous(commits.into_iter().collect());
    }
    let Some(commit) = commits.into_iter().next() else {
        return Pushed::Unseen;
    };
    let mut pushers: Vec<String> = Vec::new();
    let mut authors: Vec<String> = Vec::new();
    let add = |to: &mut Vec<String>, who: &str| {
        if !who.trim().is_empty() && !to.iter().any(|p| p == who) {
            to.push(who.to_string());
        }
    };
    let mut git_ref = String::new();
    for (push, before) in found {
        git_ref = push.git_ref.clone();
        let older: Vec<StartedPush> = before.iter().rev().cloned().collect();
        let stages: Vec<StageSuccesses> = if lives.is_empty() {
            vec![StageSuccesses::default()]
        } else {
            lives
                .iter()
                .map(|(execution, commit)| StageSuccesses {
                    executions: BTreeSet::from([execution.clone()]),
                    commits: commit.iter().cloned().collect(),
                })
                .collect()
        };
        for ran in stages {
            let change = change_since(push, &older, &ran);
            change.pushers.iter().for_each(|p| add(&mut pushers, p));
            change.authors.iter().for_each(|a| add(&mut authors, a));
        }
    }
    Pushed::Seen {
        commit,
        git_ref,
        pushers,
        authors,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pushed(execution: &str, commits: &[&str], pusher: &str, authors: &[&str]) -> StartedPush {
        crate::ingest::testing::pushed(execution, commits, pusher, authors, 0)
    }

    const A: &str = "aaaa111111111111111111111111111111111111";
    const B: &str = "bbbb222222222222222222222222222222222222";
    const C: &str = "cccc333333333333333333333333333333333333";

    #[test]
    fn a_commit_never_pushed_is_unseen() {
        let main = vec![pushed("e-a", &[A], "kim", &["kim"])];
        assert_eq!(pushed_change(&B[..7], &[main], &[]), Pushed::Unseen);
    }

    #[test]
    fn a_deploy_carries_everyone_of_the_change_since_each_stage_last_ran() {
        // Prod runs A; mona pushed B (never deployed), lee pushed C on top.
        let main = vec![
            pushed("e-a", &[A], "kim", &["kim"]),
            pushed("e-b", &[B], "mona", &["ada"]),
            pushed("e-c", &[C], "lee", &["lee"]),
        ];
        let lives = vec![("e-a".to_string(), Some(A.to_string()))];
        assert_eq!(
            pushed_change("CCCC333", std::slice::from_ref(&main), &lives),
            Pushed::Seen {
                commit: C.into(),
                git_ref: "refs/heads/main".into(),
                pushers: vec!["mona".into(), "lee".into()],
                authors: vec!["ada".into(), "lee".into()],
            }
        );
        // Deploying B (an older commit) brings only what came before it.
        let Pushed::Seen {
            pushers, authors, ..
        } = pushed_change(B, &[main], &lives)
        else {
            panic!("seen")
        };
        assert_eq!(
            (pushers, authors),
            (vec!["mona".into()], vec!["ada".into()])
        );
    }

    #[test]
    fn a_commit_inside_a_push_is_found_and_with_no_stage_live_every_push_counts() {
        let main = vec![
            pushed("e-a", &[A], "kim", &["kim"]),
            pushed("e-c", &[B, C], "lee", &["mona", "lee"]),
        ];
        let Pushed::Seen {
            commit,
            pushers,
            authors,
            ..
        } = pushed_change("bbbb2222", &[main], &[])
        else {
            panic!("seen")
        };
        assert_eq!(commit, B);
        assert_eq!(pushers, vec!["kim", "lee"]);
        assert_eq!(authors, vec!["kim", "mona", "lee"]);
    }

    #[test]
    fn a_short_id_of_two_commits_is_ambiguous() {
        let x = "abcd000000000000000000000000000000000000";
        let y = "abcd111111111111111111111111111111111111";
        let main = vec![pushed("e-x", &[x], "kim", &["kim"])];
        let mut other = vec![pushed("e-y", &[y], "lee", &["lee"])];
        other[0].git_ref = "refs/heads/next".into();
        assert_eq!(
            pushed_change("abcd", &[main, other], &[]),
            Pushed::Ambiguous(vec![x.into(), y.into()])
        );
    }
}
