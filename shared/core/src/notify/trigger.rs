//! What started an execution (commit, message, author, branch or tag), from what CodePipeline
//! reports about it: the pipeline variables Gantry's webhook sets, the source action's output,
//! the artifact revisions and the trigger.

use serde::{Deserialize, Serialize};

/// The trigger kind of an execution Gantry's webhook started for a push.
pub const WEBHOOK_TRIGGER_KIND: &str = "GantryWebhook";

/// An artifact revision of `GetPipelineExecution`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Revision {
    pub name: String,
    pub revision_id: Option<String>,
    pub summary: Option<String>,
    pub url: Option<String>,
}

/// A source action's execution, from `ListActionExecutions`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SourceOutput {
    pub external_url: Option<String>,
    /// The action's output variables (`CommitId`, `BranchName`, `FullRepositoryName`,
    /// `ProviderType`, `CommitMessage` for CodeStar connections).
    pub variables: Vec<(String, String)>,
}

/// Everything CodePipeline said about an execution's origin, as plain data.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExecutionFacts {
    /// Resolved pipeline variables (`name`, `resolvedValue`).
    pub variables: Vec<(String, String)>,
    pub revisions: Vec<Revision>,
    pub trigger_type: Option<String>,
    pub trigger_detail: Option<String>,
    pub sources: Vec<SourceOutput>,
    /// For a rollback (`executionType` `ROLLBACK`): the execution it rolls the stage back to.
    pub rollback_of: Option<String>,
}

/// What the message's trigger line shows.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Trigger {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit_url: Option<String>,
    /// The commit message's first line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub branch: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repository: Option<String>,
    /// CodePipeline's trigger type (`Webhook`, `StartPipelineExecution`, `CloudWatchEvent`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// The Slack user who started it with `/gantry` (Gantry's own record of a rollback it
    /// carried out), when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_slack: Option<String>,
}

impl Trigger {
    /// Derives the trigger, preferring what Gantry's webhook pinned (pipeline variables), then
    /// the source action's output, then the artifact revisions.
    pub fn derive(facts: &ExecutionFacts) -> Trigger {
        let var = |name: &str| lookup(&facts.variables, name);
        let source_var = |name: &str| {
            facts
                .sources
                .iter()
                .find_map(|s| lookup(&s.variables, name))
        };
        let revision = facts.revisions.first();
        let commit_id = var("COMMIT_ID")
            .or_else(|| source_var("CommitId"))
            .or_else(|| revision.and_then(|r| clean(r.revision_id.as_deref())));
        let repository = var("REPOSITORY").or_else(|| source_var("FullRepositoryName"));
        let commit_url = revision
            .and_then(|r| web_url(r.url.as_deref()))
            .or_else(|| {
                facts
                    .sources
                    .iter()
                    .find_map(|s| web_url(s.external_url.as_deref()))
            })
            .or_else(|| {
                provider_commit_url(
                    source_var("ProviderType").as_deref(),
                    repository.as_deref(),
                    commit_id.as_deref(),
                )
            });
        let message = var("COMMIT_MESSAGE")
            .or_else(|| source_var("CommitMessage"))
            .or_else(|| revision.and_then(|r| summary_message(r.summary.as_deref())))
            .and_then(|m| clean(m.lines().next()));
        Trigger {
            commit_id,
            commit_url,
            message,
            author: var("AUTHOR").or_else(|| {
                starter(
                    facts.trigger_type.as_deref(),
                    facts.trigger_detail.as_deref(),
                )
            }),
            branch: var("BRANCH").or_else(|| source_var("BranchName")),
            tag: var("TAG"),
            repository,
            // A rollback runs again with its target's variables, Gantry's included: it is a
            // rollback all the same, whatever CodePipeline names its trigger.
            kind: if facts.rollback_of.is_some() {
                match facts.trigger_type.as_deref() {
                    Some(t @ "AutomatedRollback") => Some(t.to_string()),
                    _ => Some("ManualRollback".to_string()),
                }
            // Gantry's webhook starts executions through the API; its variables say it was a push.
            } else if var("COMMIT_ID").is_some()
                && facts.trigger_type.as_deref() == Some("StartPipelineExecution")
            {
                Some(WEBHOOK_TRIGGER_KIND.to_string())
            } else {
                clean(facts.trigger_type.as_deref())
            },
            from_slack: None,
        }
    }

    /// The short commit id shown in messages.
    pub fn short_commit(&self) -> Option<String> {
        self.commit_id
            .as_ref()
            .map(|c| c.chars().take(8).collect::<String>())
    }
}

fn clean(s: Option<&str>) -> Option<String> {
    s.map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

fn lookup(vars: &[(String, String)], name: &str) -> Option<String> {
    vars.iter()
        .find(|(k, _)| k == name)
        .and_then(|(_, v)| clean(Some(v)))
        .filter(|v| v != crate::ingest::UNSET_VARIABLE)
}

fn web_url(url: Option<&str>) -> Option<String> {
    clean(url).filter(|u| u.starts_with("https://") || u.starts_with("http://"))
}

/// CodeStar connections write the revision summary as JSON (`{"CommitMessage": …}`); other
/// sources write the message itself.
fn summary_message(summary: Option<&str>) -> Option<String> {
    let summary = clean(summary)?;
    match serde_json::from_str::<serde_json::Value>(&summary) {
        Ok(v) if v.is_object() => v
            .get("CommitMessage")
            .and_then(|m| m.as_str())
            .and_then(|m| clean(Some(m))),
        _ => Some(summary),
    }
}

fn provider_commit_url(
    provider: Option<&str>,
    repository: Option<&str>,
    commit: Option<&str>,
) -> Option<String> {
    let (repository, commit) = (repository?, commit?);
    match provider?.to_ascii_lowercase().as_str() {
        "github" => Some(format!("https://github.com/{repository}/commit/{commit}")),
        "gitlab" => Some(format!("https://gitlab.com/{repository}/-/commit/{commit}")),
        "bitbucket" => Some(format!(
            "https://bitbucket.org/{repository}/commits/{commit}"
        )),
        _ => None,
    }
}

/// Who started a manual execution: the IAM user or role session at the end of the caller's ARN.
fn starter(kind: Option<&str>, detail: Option<&str>) -> Option<String> {
    if kind != Some("StartPipelineExecution") {
        return None;
    }
    let arn = clean(detail)?;
    let resource = arn.splitn(6, ':').nth(5)?;
    clean(resource.rsplit('/').next())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn a_variable_at_the_templates_default_is_no_data() {
        // CodePipeline resolves every declared variable: a branch push leaves TAG at "-".
        let facts = ExecutionFacts {
            variables: vars(&[
                ("COMMIT_ID", "abc"),
                ("BRANCH", "main"),
                ("TAG", "-"),
                ("AUTHOR", "-"),
            ]),
            ..ExecutionFacts::default()
        };
        let t = Trigger::derive(&facts);
        assert_eq!(
            (t.branch.as_deref(), t.tag, t.author),
            (Some("main"), None, None)
        );
    }

    #[test]
    fn a_rollback_is_a_rollback_though_it_carries_the_webhooks_variables() {
        // CodePipeline runs a rollback with its target's variables: Gantry's COMMIT_ID included.
        let mut facts = ExecutionFacts {
            variables: vars(&[("COMMIT_ID", "abc"), ("BRANCH", "main")]),
            trigger_type: Some("StartPipelineExecution".into()),
            ..ExecutionFacts::default()
        };
        assert_eq!(
            Trigger::derive(&facts).kind.as_deref(),
            Some(WEBHOOK_TRIGGER_KIND)
        );
        facts.rollback_of = Some("e-target".into());
        assert_eq!(
            Trigger::derive(&facts).kind.as_deref(),
            Some("ManualRollback")
        );
        facts.trigger_type = Some("AutomatedRollback".into());
        assert_eq!(
            Trigger::derive(&facts).kind.as_deref(),
            Some("AutomatedRollback")
        );
    }

    #[test]
    fn the_webhooks_variables_come_first() {
        let facts = ExecutionFacts {
            variables: vars(&[
                ("COMMIT_ID", "0123456789abcdef"),
                ("BRANCH", "main"),
                ("REPOSITORY", "octo/shop"),
                ("AUTHOR", "ada"),
                ("COMMIT_MESSAGE", "Fix the cart\n\nbody"),
            ]),
            revisions: vec![Revision {
                name: "Source".into(),
                revision_id: Some("ffff".into()),
                ..Default::default()
            }],
            sources: vec![SourceOutput {
                external_url: Some("https://github.com/octo/shop/commit/0123456789abcdef".into()),
                variables: vec![],
            }],
            trigger_type: Some("StartPipelineExecution".into()),
            trigger_detail: Some("arn:aws:sts::1:assumed-role/gantry-webhook/session".into()),
            rollback_of: None,
        };
        let t = Trigger::derive(&facts);
        assert_eq!(t.commit_id.as_deref(), Some("0123456789abcdef"));
        assert_eq!(t.short_commit().as_deref(), Some("01234567"));
        assert_eq!(t.message.as_deref(), Some("Fix the cart"));
        assert_eq!(t.author.as_deref(), Some("ada"));
        assert_eq!(t.branch.as_deref(), Some("main"));
        assert_eq!(
            t.commit_url.as_deref(),
            Some("https://github.com/octo/shop/commit/0123456789abcdef")
        );
        assert_eq!(t.kind.as_deref(), Some(WEBHOOK_TRIGGER_KIND));
    }

    #[test]
    fn a_codestar_source_alone_gives_commit_message_branch_and_link() {
        let facts = ExecutionFacts {
            revisions: vec![Revision {
                name: "SourceArtifact".into(),
                revision_id: Some("abc".into()),
                summary: Some(
                    r#"{"ProviderType":"GitHub","CommitMessage":"Bump deps\nmore"}"#.into(),
                ),
                url: None,
            }],
            sources: vec![SourceOutput {
                external_url: None,
                variables: vars(&[
                    ("BranchName", "release/1"),
                    ("FullRepositoryName", "octo/shop"),
                    ("ProviderType", "GitHub"),
                ]),
            }],
            trigger_type: Some("Webhook".into()),
            trigger_detail: Some("arn:aws:codestar-connections:us-east-1:1:connection/x".into()),
            ..Default::default()
        };
        let t = Trigger::derive(&facts);
        assert_eq!(t.message.as_deref(), Some("Bump deps"));
        assert_eq!(t.branch.as_deref(), Some("release/1"));
        assert_eq!(
            t.commit_url.as_deref(),
            Some("https://github.com/octo/shop/commit/abc")
        );
        assert_eq!(t.author, None, "a webhook trigger names no person");
        assert_eq!(t.kind.as_deref(), Some("Webhook"));
    }

    #[test]
    fn a_manual_start_names_who_started_it() {
        let facts = ExecutionFacts {
            trigger_type: Some("StartPipelineExecution".into()),
            trigger_detail: Some("arn:aws:sts::123456789012:assumed-role/Admin/grace".into()),
            ..Default::default()
        };
        assert_eq!(Trigger::derive(&facts).author.as_deref(), Some("grace"));
    }

    #[test]
    fn a_url_that_is_not_a_web_link_is_not_used() {
        let facts = ExecutionFacts {
            revisions: vec![Revision {
                name: "S".into(),
                revision_id: Some("abc".into()),
                url: Some("s3://bucket/key".into()),
                ..Default::default()
            }],
            ..Default::default()
        };
        assert_eq!(Trigger::derive(&facts).commit_url, None);
    }
}
