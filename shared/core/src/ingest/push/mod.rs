//! A Git push, the same whichever provider sent it, parsed from GitHub's and GitLab's payloads.

use serde::Deserialize;
use std::collections::BTreeSet;

/// Where a webhook comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Provider {
    #[serde(rename = "github")]
    GitHub,
    #[serde(rename = "gitlab")]
    GitLab,
}

impl Provider {
    pub const fn name(self) -> &'static str {
        match self {
            Provider::GitHub => "github",
            Provider::GitLab => "gitlab",
        }
    }
}

/// Branch or tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefKind {
    Branch,
    Tag,
}

/// A pushed ref, without its `refs/heads/` or `refs/tags/` prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GitRef {
    pub kind: RefKind,
    pub name: String,
}

impl GitRef {
    /// The full ref: `refs/heads/x` or `refs/tags/x`.
    pub fn full(&self) -> String {
        match self.kind {
            RefKind::Branch => format!("refs/heads/{}", self.name),
            RefKind::Tag => format!("refs/tags/{}", self.name),
        }
    }

    /// Parses `refs/heads/x` and `refs/tags/x`; other refs (notes, pull heads) are not deployable.
    pub fn parse(full: &str) -> Option<Self> {
        if let Some(name) = full.strip_prefix("refs/heads/") {
            Some(GitRef {
                kind: RefKind::Branch,
                name: name.to_string(),
            })
        } else {
            full.strip_prefix("refs/tags/").map(|name| GitRef {
                kind: RefKind::Tag,
                name: name.to_string(),
            })
        }
    }
}

/// One pushed commit and the files it touched.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Commit {
    pub id: String,
    pub message: String,
    pub author_name: String,
    pub author_email: String,
    pub author_username: Option<String>,
    pub url: Option<String>,
    pub paths: Vec<String>,
}

/// The files a push changed, when the payload can prove them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChangedPaths {
    Known(BTreeSet<String>),
    /// The payload cannot list every changed file; the reason is told to the caller.
    Unknown(&'static str),
}

/// A push, provider-neutral.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Push {
    pub provider: Provider,
    /// `owner/name` on GitHub, `path_with_namespace` on GitLab.
    pub repository: String,
    pub repository_url: Option<String>,
    pub git_ref: GitRef,
    pub before: String,
    /// The commit to build: the pushed head.
    pub commit_id: String,
    pub head: Option<Commit>,
    pub commits: Vec<Commit>,
    pub created: bool,
    pub deleted: bool,
    pub forced: bool,
    /// Whether `commits` lists every pushed commit (providers cut long lists short).
    pub commits_complete: bool,
    /// Who pushed, when the head commit's author is unknown.
    pub pusher: Option<String>,
    /// The account the provider authenticated for the push (GitHub `sender.login`, GitLab
    /// `user_username`): the one identity in the payload the committer cannot write.
    pub sender: Option<String>,
    /// When the push happened, epoch seconds, by the provider's own clock: GitHub's
    /// `repository.pushed_at`. Never a commit's timestamp: the committer writes those, and one
    /// dated 2099 would make every later push look older. GitLab's payload has no such time
    /// (`None`): the webhook orders its pushes by when it received them.
    pub pushed_at: Option<i64>,
}

/// GitHub's webhook payload lists at most this many commits.
pub const GITHUB_MAX_COMMITS: usize = 2048;
/// GitLab's push payload lists at most this many commits (`total_commits_count` has the truth).
pub const GITLAB_MAX_COMMITS: usize = 20;

const ZERO_SHA: &str = "0000000000000000000000000000000000000000";

/// Why a payload could not be read as a push.
#[derive(Debug, thiserror::Error)]
pub enum PushError {
    #[error("body is not valid JSON for this event: {0}")]
    Json(#[from] serde_json::Error),
    #[error("ref {0:?} is neither a branch nor a tag")]
    UnsupportedRef(String),
}

impl Push {
    /// The files changed by the push, or why they cannot be known from the payload.
    pub fn changed_paths(&self) -> ChangedPaths {
        if let Some(why) = self.changes_unknown() {
            return ChangedPaths::Unknown(why);
        }
        ChangedPaths::Known(
            self.commits
                .iter()
                .flat_map(|c| c.paths.iter().cloned())
                .collect(),
        )
    }

    /// Why the payload does not tell which files changed, or `None` when its commits do.
    pub fn changes_unknown(&self) -> Option<&'static str> {
        if self.created {
            return Some("new branch or tag: the payload does not list what differs from the base");
        }
        if self.forced {
            return Some(
                "forced push: history was rewritten, the commit list does not show what changed",
            );
        }
        if !self.commits_complete {
            return Some("the payload's commit list is cut short");
        }
        if self.commits.is_empty() {
            return Some("the payload lists no commits");
        }
        None
    }

    /// Every listed commit's author (username, else email, else name), de-duplicated in push
    /// order, comma-separated, cut to `limit` characters keeping whole entries. The head commit
    /// counts too, listed or not.
    pub fn commit_authors(&self, limit: usize) -> String {
        let mut seen: Vec<String> = Vec::new();
        for c in self.commits.iter().chain(self.head.iter()) {
            let who = [
                c.author_username.as_deref().unwrap_or(""),
                c.author_email.as_str(),
                c.author_name.as_str(),
            ]
            .into_iter()
            .map(|w| w.trim().replace(',', " "))
            .find(|w| !w.is_empty());
            if let Some(who) = who {
                if !seen.contains(&who) {
                    seen.push(who);
                }
            }
        }
        let mut out = String::new();
        for who in seen {
            let extra = if out.is_empty() { 0 } else { 1 };
            if out.chars().count() + extra + who.chars().count() > limit {
                break;
            }
            if extra == 1 {
                out.push(',');
            }
            out.push_str(&who);
        }
        out
    }

    /// The head commit's author, falling back to the pusher.
    pub fn author(&self) -> String {
        self.head
            .as_ref()
            .map(|c| {
                c.author_username
                    .clone()
                    .unwrap_or_else(|| c.author_name.clone())
            })
            .filter(|a| !a.is_empty())
            .or_else(|| self.pusher.clone())
            .unwrap_or_default()
    }
}

mod github;
mod gitlab;

/// What GitHub's and GitLab's push payloads share: the ref, and the pushed commits with their
/// authors.
mod payload {
    use super::{GitRef, PushError};
    use serde::Deserialize;

    #[derive(Deserialize)]
    pub struct Commit {
        pub id: String,
        #[serde(default)]
        pub message: String,
        pub url: Option<String>,
        pub author: Option<Author>,
        #[serde(default)]
        pub added: Vec<String>,
        #[serde(default)]
        pub modified: Vec<String>,
        #[serde(default)]
        pub removed: Vec<String>,
    }

    /// A commit's author. `username` is GitHub's account for the author's email; GitLab's
    /// payload names no account, and `from_gitlab` reads none.
    #[derive(Deserialize)]
    pub struct Author {
        #[serde(default)]
        pub name: String,
        #[serde(default)]
        pub email: Option<String>,
        pub username: Option<String>,
    }

    /// The ref Gantry builds from (a branch or a tag) and the pushed commits, in the payload's
    /// order: what both providers' parsers start with.
    pub fn ref_and_commits(
        raw_ref: &str,
        commits: Vec<Commit>,
    ) -> Result<(GitRef, Vec<super::Commit>), PushError> {
        let git_ref =
            GitRef::parse(raw_ref).ok_or_else(|| PushError::UnsupportedRef(raw_ref.to_string()))?;
        Ok((
            git_ref,
            commits.into_iter().map(Commit::into_commit).collect(),
        ))
    }

    impl Commit {
        pub fn into_commit(self) -> super::Commit {
            let (name, email, username) = match self.author {
                Some(a) => (a.name, a.email.unwrap_or_default(), a.username),
                None => (String::new(), String::new(), None),
            };
            super::Commit {
                id: self.id,
                message: self.message,
                author_name: name,
                author_email: email,
                author_username: username,
                url: self.url,
                paths: self
                    .added
                    .into_iter()
                    .chain(self.modified)
                    .chain(self.removed)
                    .collect(),
            }
        }
    }
}

#[cfg(test)]
pub(crate) mod testing;

#[cfg(test)]
mod tests {
    use super::*;

    macro_rules! fixture {
        ($path:literal) => {
            include_bytes!(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../tests/fixtures/",
                $path
            ))
        };
    }

    #[test]
    fn github_tag_deletion() {
        for body in [
            &fixture!("github/push.json")[..],
            &fixture!("github/push-with-organization.json")[..],
        ] {
            let p = Push::from_github(body).unwrap();
            assert!(p.deleted);
            assert_eq!(
                p.git_ref,
                GitRef {
                    kind: RefKind::Tag,
                    name: "simple-tag".into()
                }
            );
            assert_eq!(p.repository, "Codertocat/Hello-World");
            assert!(p.head.is_none());
        }
    }

    #[test]
    fn github_new_branch_is_created_with_unknown_paths() {
        let p = Push::from_github(fixture!("github/push-with-new-branch.json")).unwrap();
        assert!(p.created && !p.deleted);
        assert_eq!(
            p.git_ref,
            GitRef {
                kind: RefKind::Branch,
                name: "master".into()
            }
        );
        assert_eq!(p.commit_id, "6113728f27ae82c7b1a177c8d03f9e96e0adf246");
        assert_eq!(p.author(), "Codertocat");
        assert_eq!(p.commits[0].paths, vec!["README.md".to_string()]);
        assert!(matches!(p.changed_paths(), ChangedPaths::Unknown(r) if r.contains("new branch")));
    }

    #[test]
    fn github_committer_without_username_still_parses() {
        let p = Push::from_github(fixture!("github/push-with-no-username-committer.json")).unwrap();
        assert_eq!(p.head.unwrap().message, "Initial commit");
    }

    #[test]
    fn github_non_push_payloads_are_not_pushes() {
        for body in [
            &fixture!("github/ping.json")[..],
            &fixture!("github/create.json")[..],
            &fixture!("github/delete.json")[..],
            &fixture!("github/pull_request-opened.json")[..],
            &fixture!("github/pull_request-synchronize.json")[..],
        ] {
            assert!(Push::from_github(body).is_err());
        }
    }

    #[test]
    fn gitlab_push_with_more_commits_than_listed_has_unknown_paths() {
        let p = Push::from_gitlab(fixture!("gitlab/push.json")).unwrap();
        assert_eq!(p.provider, Provider::GitLab);
        assert_eq!(p.repository, "mike/diaspora");
        assert_eq!(
            p.git_ref,
            GitRef {
                kind: RefKind::Branch,
                name: "master".into()
            }
        );
        assert_eq!(p.commit_id, "da1560886d4f094c3e6c9ef40349f7d38b5d27d7");
        assert_eq!(p.commits.len(), 2);
        // total_commits_count is 4: two commits are missing from the payload.
        assert!(!p.commits_complete);
        assert!(matches!(p.changed_paths(), ChangedPaths::Unknown(r) if r.contains("cut short")));
        assert_eq!(p.head.unwrap().message, "fixed readme\n");
    }

    #[test]
    fn gitlab_complete_push_lists_its_paths() {
        let mut v: serde_json::Value =
            serde_json::from_slice(fixture!("gitlab/push.json")).unwrap();
        v["total_commits_count"] = 2.into();
        let p = Push::from_gitlab(&serde_json::to_vec(&v).unwrap()).unwrap();
        let ChangedPaths::Known(paths) = p.changed_paths() else {
            panic!()
        };
        assert_eq!(
            paths.into_iter().collect::<Vec<_>>(),
            vec![
                "CHANGELOG".to_string(),
                "app/controller/application.rb".to_string()
            ]
        );
    }

    #[test]
    fn gitlab_tag_push() {
        let p = Push::from_gitlab(fixture!("gitlab/tag_push.json")).unwrap();
        assert_eq!(
            p.git_ref,
            GitRef {
                kind: RefKind::Tag,
                name: "v1.0.0".into()
            }
        );
        assert_eq!(p.commit_id, "82b3d5ae55f7080f1e6022629cdb57bfae7cccc7");
        assert!(p.created);
        // The tag's commit author, not the pusher (same person here, by name).
        assert_eq!(p.author(), "John Smith");
    }

    #[test]
    fn gitlab_other_hooks_are_not_pushes() {
        assert!(Push::from_gitlab(fixture!("gitlab/merge_request.json")).is_err());
        assert!(Push::from_gitlab(fixture!("gitlab/pipeline.json")).is_err());
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        for body in [
            &b""[..],
            b"null",
            b"[]",
            b"{",
            b"{\"ref\": 5}",
            &[0xff, 0xfe][..],
        ] {
            assert!(Push::from_github(body).is_err());
            assert!(Push::from_gitlab(body).is_err());
        }
    }

    #[test]
    fn refs_outside_heads_and_tags_are_refused() {
        let mut v: serde_json::Value =
            serde_json::from_slice(fixture!("github/push-with-new-branch.json")).unwrap();
        v["ref"] = "refs/pull/1/head".into();
        assert!(matches!(
            Push::from_github(&serde_json::to_vec(&v).unwrap()),
            Err(PushError::UnsupportedRef(_))
        ));
    }

    /// A commit dated far ahead, as a laptop with a wrong clock or a crafted commit writes it.
    const YEAR_2099: &str = "2099-01-01T00:00:00Z";

    #[test]
    fn a_push_time_is_never_a_commit_timestamp() {
        let mut v: serde_json::Value =
            serde_json::from_slice(fixture!("github/push-with-new-branch.json")).unwrap();
        v["head_commit"]["timestamp"] = YEAR_2099.into();
        let p = Push::from_github(&serde_json::to_vec(&v).unwrap()).unwrap();
        assert_eq!(p.pushed_at, Some(1_557_933_657), "GitHub's own push time");
        v["repository"].as_object_mut().unwrap().remove("pushed_at");
        let p = Push::from_github(&serde_json::to_vec(&v).unwrap()).unwrap();
        assert_eq!(
            p.pushed_at, None,
            "no server time: the receive time orders it"
        );

        let mut v: serde_json::Value =
            serde_json::from_slice(fixture!("gitlab/push.json")).unwrap();
        v["commits"][1]["timestamp"] = YEAR_2099.into();
        let p = Push::from_gitlab(&serde_json::to_vec(&v).unwrap()).unwrap();
        assert_eq!(p.pushed_at, None);
    }
}
