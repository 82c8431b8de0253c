//! What approvals need of CodePipeline, in CodePipeline's words: a waiting approval, an approval
//! action's settings and last outcome, and why a call about an approval failed. The port
//! (`ApprovalActions`) is in `ports`; the AWS adapter is `gantry_adapters::codepipeline`.

use super::{CommitSummary, Outcome};

/// An approval waiting in an action, as `GetPipelineState` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WaitingApproval {
    pub token: String,
    /// The execution in the stage (from the stage's latest execution).
    pub execution_id: Option<String>,
    /// When the approval started waiting.
    pub since: Option<i64>,
}

/// The approval action's configuration: `CustomData` and `ExternalEntityLink`, and the
/// lifetime it declares (`timeoutInMinutes`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ApprovalSettings {
    pub custom_data: Option<String>,
    pub review_url: Option<String>,
    /// `None`: not declared (CodePipeline's default, seven days), or not known.
    pub timeout_minutes: Option<i64>,
}

/// How an approval action last ended, as `GetPipelineState` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActionOutcome {
    /// `None` while it is still in progress (a newer approval).
    pub outcome: Option<Outcome>,
    pub summary: Option<String>,
}

/// Why a CodePipeline call about an approval failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApprovalCallError {
    #[error("the approval was already approved or rejected")]
    AlreadyDecided,
    #[error(
        "the approval token is no longer valid (the approval expired or a newer one replaced it)"
    )]
    TokenInvalid,
    #[error("{what} not found in CodePipeline")]
    NotFound { what: String },
    #[error("CodePipeline {operation} failed: {reason}")]
    Unavailable {
        operation: &'static str,
        reason: String,
    },
}

/// The commit from the execution's variables (`COMMIT_ID`, `COMMIT_MESSAGE`, `AUTHOR`,
/// `REPOSITORY`, `BRANCH`/`TAG`, set by Gantry's webhook), else from its first source revision
/// (whose summary a CodeStar connection fills with `{"CommitMessage": …}`).
pub fn commit_of(
    variables: &[(&str, &str)],
    revisions: &[(&str, Option<&str>)],
) -> Option<CommitSummary> {
    let var = |name: &str| {
        variables
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.trim().to_string())
            .filter(|v| !v.is_empty() && v != crate::ingest::UNSET_VARIABLE)
    };
    let first_line = |m: String| m.lines().next().unwrap_or_default().to_string();
    if let Some(id) = var("COMMIT_ID") {
        return Some(CommitSummary {
            id,
            message: var("COMMIT_MESSAGE").map(first_line),
            author: var("AUTHOR"),
            repository: var("REPOSITORY"),
            branch: var("BRANCH").or_else(|| var("TAG")),
            pusher: var("PUSHER"),
            authors: var("COMMIT_AUTHORS")
                .map(|all| split_authors(&all))
                .unwrap_or_default(),
        });
    }
    let (id, summary) = revisions.first()?;
    let message = summary.map(|s| {
        serde_json::from_str::<serde_json::Value>(s)
            .ok()
            .and_then(|v| v["CommitMessage"].as_str().map(str::to_string))
            .unwrap_or_else(|| s.to_string())
    });
    Some(CommitSummary {
        id: id.to_string(),
        message: message.map(first_line).filter(|m| !m.is_empty()),
        ..CommitSummary::default()
    })
}

/// `COMMIT_AUTHORS` as the webhook writes it: comma-separated, commas inside a name replaced.
pub fn split_authors(all: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for a in all.split(',').map(str::trim) {
        if !a.is_empty() && a != crate::ingest::UNSET_VARIABLE && !out.iter().any(|o| o == a) {
            out.push(a.to_string());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_webhooks_variables_describe_the_commit() {
        let c = commit_of(
            &[
                ("COMMIT_ID", "6113728f27ae82c7b1a177c8d03f9e96e0adf246"),
                ("COMMIT_MESSAGE", "Fix the cart total"),
                ("AUTHOR", "octocat"),
                ("REPOSITORY", "octo/shop"),
                ("TAG", "v1.2.0"),
            ],
            &[("ffff", None)],
        )
        .unwrap();
        assert_eq!(c.id, "6113728f27ae82c7b1a177c8d03f9e96e0adf246");
        assert_eq!(c.author.as_deref(), Some("octocat"));
        assert_eq!(c.branch.as_deref(), Some("v1.2.0"));
        assert_eq!(c.pusher, None);
        assert!(c.authors.is_empty());
    }

    #[test]
    fn the_pusher_and_every_commit_author_are_kept() {
        let c = commit_of(
            &[
                ("COMMIT_ID", "6113728f27ae82c7b1a177c8d03f9e96e0adf246"),
                ("AUTHOR", "ghost@example.invalid"),
                ("PUSHER", "mona"),
                ("COMMIT_AUTHORS", "ghost@example.invalid, ada,,-,ada"),
            ],
            &[],
        )
        .unwrap();
        assert_eq!(c.pusher.as_deref(), Some("mona"));
        assert_eq!(c.authors, vec!["ghost@example.invalid", "ada"]);
        let console = commit_of(
            &[
                ("COMMIT_ID", "abc"),
                ("PUSHER", "-"),
                ("COMMIT_AUTHORS", "-"),
            ],
            &[],
        )
        .unwrap();
        assert_eq!((console.pusher, console.authors.len()), (None, 0));
    }

    #[test]
    fn a_console_started_execution_is_not_a_push_by_author_dash() {
        // CodePipeline resolves every declared variable; the template's default "-" is no data.
        let c = commit_of(
            &[
                ("COMMIT_ID", "-"),
                ("AUTHOR", "-"),
                ("BRANCH", "main"),
                ("TAG", "-"),
            ],
            &[("ffff", None)],
        )
        .unwrap();
        assert_eq!((c.id.as_str(), c.author), ("ffff", None));
    }

    #[test]
    fn without_variables_the_source_revision_is_the_commit() {
        let c = commit_of(
            &[],
            &[(
                "abc",
                Some(r#"{"ProviderType":"GitHub","CommitMessage":"Add cart\n\nbody"}"#),
            )],
        )
        .unwrap();
        assert_eq!(
            (c.id.as_str(), c.message.as_deref()),
            ("abc", Some("Add cart"))
        );
        assert_eq!(c.author, None);
        let plain = commit_of(&[], &[("abc", Some("Plain summary"))]).unwrap();
        assert_eq!(plain.message.as_deref(), Some("Plain summary"));
        assert_eq!(commit_of(&[], &[]), None);
    }
}
