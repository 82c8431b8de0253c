//! GitLab's push and tag push payloads, only the fields Gantry reads.

use serde::Deserialize;

use super::payload::{ref_and_commits, Commit};
use super::{Provider, PushError, ZERO_SHA};

#[derive(Deserialize)]
struct Push {
    #[serde(rename = "ref")]
    pub git_ref: String,
    pub before: String,
    pub after: String,
    pub checkout_sha: Option<String>,
    pub user_name: Option<String>,
    pub user_username: Option<String>,
    pub user_email: Option<String>,
    pub project: Project,
    #[serde(default)]
    pub commits: Vec<Commit>,
    pub total_commits_count: Option<u64>,
}

#[derive(Deserialize)]
struct Project {
    pub path_with_namespace: String,
    pub web_url: Option<String>,
}

impl super::Push {
    /// Parses a GitLab `Push Hook` or `Tag Push Hook` payload.
    pub fn from_gitlab(body: &[u8]) -> Result<Self, PushError> {
        let p: Push = serde_json::from_slice(body)?;
        let (git_ref, mut commits) = ref_and_commits(&p.git_ref, p.commits)?;
        for c in &mut commits {
            // GitLab names a commit's author, never its account.
            c.author_username = None;
        }
        let commit_id = p.checkout_sha.clone().unwrap_or_else(|| p.after.clone());
        // GitLab has no head_commit: the head is the listed commit whose id is the pushed sha.
        let head = commits
            .iter()
            .find(|c| c.id == commit_id)
            .cloned()
            .map(|mut c| {
                if c.author_username.is_none()
                    && c.author_email == p.user_email.clone().unwrap_or_default()
                {
                    c.author_username = p.user_username.clone();
                }
                c
            });
        let total = p.total_commits_count.unwrap_or(commits.len() as u64);
        Ok(super::Push {
            provider: Provider::GitLab,
            repository: p.project.path_with_namespace,
            repository_url: p.project.web_url,
            deleted: p.after == ZERO_SHA,
            created: p.before == ZERO_SHA,
            // GitLab does not flag forced pushes in the payload.
            forced: false,
            commits_complete: total <= commits.len() as u64,
            before: p.before,
            commit_id,
            git_ref,
            head,
            commits,
            sender: p.user_username.clone().filter(|u| !u.is_empty()),
            pusher: p.user_username.or(p.user_name),
            pushed_at: None,
        })
    }
}
