//! A push for the unit tests of the features that take one (routing, starting a pipeline).

use super::{Commit, GitRef, Provider, Push};

/// Ada's push of one commit, `c0ffee`, to `octo-org/shop` on GitHub: `git_ref` is the full ref
/// (`refs/heads/main`), `paths` the files the commit touched.
pub fn push(git_ref: &str, paths: &[&str], message: &str) -> Push {
    let commit = Commit {
        id: "c0ffee".into(),
        message: message.into(),
        author_name: "Ada".into(),
        author_email: "ada@example.com".into(),
        author_username: Some("ada".into()),
        url: None,
        paths: paths.iter().map(|p| p.to_string()).collect(),
    };
    Push {
        provider: Provider::GitHub,
        repository: "octo-org/shop".into(),
        repository_url: None,
        git_ref: GitRef::parse(git_ref).unwrap(),
        before: "a".repeat(40),
        commit_id: "c0ffee".into(),
        head: Some(commit.clone()),
        commits: vec![commit],
        created: false,
        deleted: false,
        forced: false,
        commits_complete: true,
        pusher: None,
        sender: None,
        pushed_at: None,
    }
}
