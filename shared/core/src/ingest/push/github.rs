//! GitHub's push payload, only the fields Gantry reads.

use serde::Deserialize;

use super::payload::{ref_and_commits, Commit};
use super::{Provider, PushError, GITHUB_MAX_COMMITS, ZERO_SHA};

#[derive(Deserialize)]
struct Push {
    #[serde(rename = "ref")]
    pub git_ref: String,
    pub before: String,
    pub after: String,
    #[serde(default)]
    pub created: bool,
    #[serde(default)]
    pub deleted: bool,
    #[serde(default)]
    pub forced: bool,
    #[serde(default)]
    pub commits: Vec<Commit>,
    pub head_commit: Option<Commit>,
    pub repository: Repository,
    pub pusher: Option<Pusher>,
    pub sender: Option<Sender>,
}

#[derive(Deserialize)]
struct Repository {
    pub full_name: String,
    pub html_url: Option<String>,
    /// Epoch seconds in push events (an RFC 3339 string in others).
    pub pushed_at: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct Sender {
    pub login: Option<String>,
}

#[derive(Deserialize)]
struct Pusher {
    pub name: Option<String>,
}

impl super::Push {
    /// Parses a GitHub `push` payload.
    pub fn from_github(body: &[u8]) -> Result<Self, PushError> {
        let p: Push = serde_json::from_slice(body)?;
        let (git_ref, commits) = ref_and_commits(&p.git_ref, p.commits)?;
        let head = p.head_commit.map(Commit::into_commit);
        Ok(super::Push {
            provider: Provider::GitHub,
            repository: p.repository.full_name,
            repository_url: p.repository.html_url,
            commit_id: head
                .as_ref()
                .map(|h| h.id.clone())
                .unwrap_or_else(|| p.after.clone()),
            deleted: p.deleted || p.after == ZERO_SHA,
            created: p.created || p.before == ZERO_SHA,
            forced: p.forced,
            commits_complete: commits.len() < GITHUB_MAX_COMMITS,
            before: p.before,
            git_ref,
            head,
            commits,
            pusher: p.pusher.and_then(|u| u.name),
            sender: p.sender.and_then(|s| s.login).filter(|l| !l.is_empty()),
            pushed_at: p
                .repository
                .pushed_at
                .as_ref()
                .and_then(crate::clock::epoch_seconds_of_json),
        })
    }
}
