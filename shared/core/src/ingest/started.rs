//! The record of each execution the webhook starts: which push started it, who pushed, and who
//! wrote its commits. The four-eyes rule trusts this record alone: a pipeline variable such as
//! `PUSHER` is whatever the caller of `StartPipelineExecution` typed (the console's *Release
//! change* included), while this record is written only by the webhook, after a signed push.

use crate::ingest::push::Push;

/// How long the record of a started push is kept (the state table's TTL). The four-eyes rule
/// looks back over a ref's pushes until the stage last succeeded; pushes older than this are
/// no longer counted, which the approval request says.
pub const PUSH_HISTORY_SECONDS: i64 = 90 * 24 * 3600;

/// At most this many pushed commit ids are kept per record (the payload's head included).
pub const MAX_RECORDED_COMMITS: usize = 100;

/// What the webhook knows of a push, whichever pipeline it starts: the part of a started
/// push's record that comes from the signed payload (and rides along when a start is parked).
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct PushFacts {
    /// The account the provider authenticated for the push (GitHub `sender.login`, GitLab
    /// `user_username`); `None` when the payload named none.
    pub pusher: Option<String>,
    /// Every pushed commit's author (username, else email, else name), head commit included.
    pub authors: Vec<String>,
    /// The pushed commits' ids, oldest first, the head last (at most `MAX_RECORDED_COMMITS`).
    pub commits: Vec<String>,
    /// The provider's delivery id (for people reading the table; not trusted for anything).
    pub delivery: String,
    /// When Gantry received the push (epoch seconds), which no committer can write.
    pub received_at: i64,
    /// The same, in epoch milliseconds: the order of a ref's pushes (two pushes can arrive in
    /// one second, and the four-eyes change must not mistake which came first).
    #[serde(default)]
    pub received_ms: i64,
    /// The pushers a slash deploy carries (`operate::deploy`): the accounts the webhook
    /// recorded pushing the change it brings. Four-eyes counts each as a pusher, so one that
    /// maps to no Slack user fails closed as a push's own pusher does. Empty for a push.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub carried_pushers: Vec<String>,
}

impl PushFacts {
    /// The facts of `push`, delivered as `delivery` and received at `now`.
    pub fn of(push: &Push, delivery: &str, now: i64) -> Self {
        let mut commits: Vec<String> = push.commits.iter().map(|c| c.id.clone()).collect();
        if !commits.contains(&push.commit_id) {
            commits.push(push.commit_id.clone());
        }
        // Keep the newest ones: the head is what runs.
        let cut = commits.len().saturating_sub(MAX_RECORDED_COMMITS);
        commits.drain(..cut);
        PushFacts {
            pusher: push.sender.clone().filter(|s| !s.trim().is_empty()),
            // `commit_authors` de-duplicates, and replaces commas inside a name.
            authors: push
                .commit_authors(usize::MAX)
                .split(',')
                .filter(|a| !a.is_empty())
                .map(str::to_string)
                .collect(),
            commits,
            delivery: delivery.to_string(),
            received_at: now,
            received_ms: received_ms(now),
            carried_pushers: Vec::new(),
        }
    }
}

/// The clock's milliseconds when they agree with `now` (the caller's clock, in seconds; within a
/// second either way, so a push read just before a second ends keeps its real order), else the
/// start of `now`'s second.
fn received_ms(now: i64) -> i64 {
    let ms = crate::clock::now_epoch_millis();
    if (ms.div_euclid(1000) - now).abs() <= 1 {
        ms
    } else {
        now.saturating_mul(1000)
    }
}

/// One execution the webhook started, and the push that started it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct StartedPush {
    pub pipeline: String,
    pub execution_id: String,
    /// `refs/heads/x` or `refs/tags/x`.
    pub git_ref: String,
    /// The commit the execution runs (the pushed head).
    pub commit_id: String,
    pub facts: PushFacts,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::push::testing::push;
    use crate::ingest::push::Commit;

    #[test]
    fn the_facts_name_the_authenticated_pusher_and_every_author() {
        let mut p = push("refs/heads/main", &[], "x");
        p.sender = Some("mona".into());
        p.commits = vec![
            Commit {
                id: "a1".into(),
                author_email: "ghost@example.invalid".into(),
                ..Commit::default()
            },
            p.head.clone().expect("head"),
        ];
        let f = PushFacts::of(&p, "d-1", 1_700_000_000);
        assert_eq!(f.pusher.as_deref(), Some("mona"));
        assert_eq!(f.authors, vec!["ghost@example.invalid", "ada"]);
        assert_eq!(f.commits.last(), Some(&p.commit_id));
        assert_eq!(f.received_at, 1_700_000_000);
        // A caller's clock far from the machine's: the start of its second.
        assert_eq!(f.received_ms, 1_700_000_000_000);
        let now = crate::clock::now_epoch_seconds();
        let live = PushFacts::of(&p, "d", now);
        assert!(
            (live.received_ms.div_euclid(1000) - now).abs() <= 1,
            "{live:?}"
        );
    }

    #[test]
    fn a_long_push_keeps_its_newest_commits() {
        let mut p = push("refs/heads/main", &[], "x");
        p.commits = (0..150)
            .map(|i| Commit {
                id: format!("c{i}"),
                ..Commit::default()
            })
            .collect();
        p.commit_id = "c149".into();
        let f = PushFacts::of(&p, "d-1", 0);
        assert_eq!(f.commits.len(), MAX_RECORDED_COMMITS);
        assert_eq!(f.commits.last().map(String::as_str), Some("c149"));
    }
}
