//! What approvals ask of CodePipeline: the waiting approval's token (`GetPipelineState`), the
//! approval action's settings (`GetPipeline`), the execution's commit (`GetPipelineExecution`),
//! and the decision (`PutApprovalResult`).

use crate::approval::{Commit, Outcome};
use aws_sdk_codepipeline::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_codepipeline::types::ActionExecutionFilter;
use std::collections::HashMap;

/// An approval waiting in an action, as `GetPipelineState` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WaitingApproval {
    pub token: String,
    /// The execution in the stage (from the stage's latest execution).
    pub execution_id: Option<String>,
    /// When the approval started waiting.
    pub since: Option<i64>,
}

/// The approval action's configuration: `CustomData` and `ExternalEntityLink`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ApprovalSettings {
    pub custom_data: Option<String>,
    pub review_url: Option<String>,
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

/// Approval calls on the AWS SDK.
#[derive(Debug, Clone)]
pub struct CodePipelineApprovals {
    pub client: aws_sdk_codepipeline::Client,
}

impl CodePipelineApprovals {
    /// The approval waiting in `pipeline`/`stage`/`action`, if one is.
    pub async fn waiting(
        &self,
        pipeline: &str,
        stage: &str,
        action: &str,
    ) -> Result<Option<WaitingApproval>, ApprovalCallError> {
        let out = self
            .client
            .get_pipeline_state()
            .name(pipeline)
            .send()
            .await
            .map_err(|e| classify("GetPipelineState", pipeline, e))?;
        let Some(stage_state) = out
            .stage_states()
            .iter()
            .find(|s| s.stage_name() == Some(stage))
        else {
            return Ok(None);
        };
        let latest = stage_state
            .action_states()
            .iter()
            .find(|a| a.action_name() == Some(action))
            .and_then(|a| a.latest_execution());
        let Some(latest) = latest else {
            return Ok(None);
        };
        let waiting = latest.status()
            == Some(&aws_sdk_codepipeline::types::ActionExecutionStatus::InProgress);
        Ok(latest
            .token()
            .filter(|_| waiting)
            .map(|token| WaitingApproval {
                token: token.to_string(),
                execution_id: stage_state
                    .latest_execution()
                    .map(|e| e.pipeline_execution_id().to_string()),
                since: latest.last_status_change().map(|t| t.secs()),
            }))
    }

    /// How the action's latest execution ended, if it has.
    pub async fn last_outcome(
        &self,
        pipeline: &str,
        stage: &str,
        action: &str,
    ) -> Result<ActionOutcome, ApprovalCallError> {
        use aws_sdk_codepipeline::types::ActionExecutionStatus as S;
        let out = self
            .client
            .get_pipeline_state()
            .name(pipeline)
            .send()
            .await
            .map_err(|e| classify("GetPipelineState", pipeline, e))?;
        let latest = out
            .stage_states()
            .iter()
            .filter(|s| s.stage_name() == Some(stage))
            .flat_map(|s| s.action_states())
            .find(|a| a.action_name() == Some(action))
            .and_then(|a| a.latest_execution());
        Ok(ActionOutcome {
            outcome: match latest.and_then(|l| l.status()) {
                Some(S::Succeeded) => Some(Outcome::Approved),
                Some(S::Failed) => Some(Outcome::Rejected),
                _ => None,
            },
            summary: latest.and_then(|l| l.summary()).map(str::to_string),
        })
    }

    /// The approval action's custom message and review URL, as this execution sees them: the
    /// action execution's resolved configuration (CodePipeline has replaced `#{…}` variables
    /// there), else the pipeline's declaration (variables left as written).
    pub async fn settings(
        &self,
        pipeline: &str,
        stage: &str,
        action: &str,
        execution_id: &str,
    ) -> Result<ApprovalSettings, ApprovalCallError> {
        match self
            .resolved_configuration(pipeline, stage, action, execution_id)
            .await
        {
            Ok(Some(configuration)) => return Ok(settings_of(Some(&configuration))),
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(error = %e, "no resolved approval settings; using the declared ones")
            }
        }
        let out = self
            .client
            .get_pipeline()
            .name(pipeline)
            .send()
            .await
            .map_err(|e| classify("GetPipeline", pipeline, e))?;
        let configuration = out
            .pipeline()
            .into_iter()
            .flat_map(|p| p.stages())
            .filter(|s| s.name() == stage)
            .flat_map(|s| s.actions())
            .find(|a| a.name() == action)
            .and_then(|a| a.configuration());
        Ok(settings_of(configuration))
    }

    /// The approval action execution's `resolvedConfiguration` in `execution_id`, if listed. The
    /// newest first page is enough: the approval has just started.
    async fn resolved_configuration(
        &self,
        pipeline: &str,
        stage: &str,
        action: &str,
        execution_id: &str,
    ) -> Result<Option<HashMap<String, String>>, ApprovalCallError> {
        let out = self
            .client
            .list_action_executions()
            .pipeline_name(pipeline)
            .filter(
                ActionExecutionFilter::builder()
                    .pipeline_execution_id(execution_id)
                    .build(),
            )
            .send()
            .await
            .map_err(|e| classify("ListActionExecutions", pipeline, e))?;
        Ok(out
            .action_execution_details()
            .iter()
            .find(|d| d.stage_name() == Some(stage) && d.action_name() == Some(action))
            .and_then(|d| d.input())
            .and_then(|i| i.resolved_configuration().cloned()))
    }

    /// The commit the execution runs, from the variables the webhook set or the source revision.
    pub async fn commit(
        &self,
        pipeline: &str,
        execution_id: &str,
    ) -> Result<Option<Commit>, ApprovalCallError> {
        let out = self
            .client
            .get_pipeline_execution()
            .pipeline_name(pipeline)
            .pipeline_execution_id(execution_id)
            .send()
            .await
            .map_err(|e| classify("GetPipelineExecution", pipeline, e))?;
        let Some(execution) = out.pipeline_execution() else {
            return Ok(None);
        };
        let variables: Vec<(&str, &str)> = execution
            .variables()
            .iter()
            .filter_map(|v| Some((v.name()?, v.resolved_value()?)))
            .collect();
        let revisions: Vec<(&str, Option<&str>)> = execution
            .artifact_revisions()
            .iter()
            .filter_map(|r| Some((r.revision_id()?, r.revision_summary())))
            .collect();
        Ok(commit_of(&variables, &revisions))
    }

    /// Approves or rejects with `summary`.
    pub async fn decide(
        &self,
        pipeline: &str,
        stage: &str,
        action: &str,
        token: &str,
        outcome: Outcome,
        summary: &str,
    ) -> Result<(), ApprovalCallError> {
        use aws_sdk_codepipeline::types::{ApprovalResult, ApprovalStatus};
        let result = ApprovalResult::builder()
            .status(ApprovalStatus::from(outcome.as_status()))
            .summary(summary)
            .build()
            .map_err(|e| ApprovalCallError::Unavailable {
                operation: "PutApprovalResult",
                reason: e.to_string(),
            })?;
        let sent = self
            .client
            .put_approval_result()
            .pipeline_name(pipeline)
            .stage_name(stage)
            .action_name(action)
            .token(token)
            .result(result)
            .send()
            .await;
        match sent {
            Ok(_) => Ok(()),
            Err(e) => Err(match e.as_service_error() {
                Some(se) if se.is_approval_already_completed_exception() => {
                    ApprovalCallError::AlreadyDecided
                }
                Some(se) if se.is_invalid_approval_token_exception() => {
                    ApprovalCallError::TokenInvalid
                }
                _ => classify("PutApprovalResult", pipeline, e),
            }),
        }
    }
}

/// `CustomData` and `ExternalEntityLink` from an approval action's configuration.
fn settings_of(configuration: Option<&HashMap<String, String>>) -> ApprovalSettings {
    let get = |k: &str| {
        configuration
            .and_then(|c| c.get(k))
            .filter(|v| !v.trim().is_empty())
            .cloned()
    };
    ApprovalSettings {
        custom_data: get("CustomData"),
        review_url: get("ExternalEntityLink"),
    }
}

fn classify<E: ProvideErrorMetadata + std::error::Error + 'static>(
    operation: &'static str,
    pipeline: &str,
    e: SdkError<E>,
) -> ApprovalCallError {
    let code = e.as_service_error().and_then(|se| se.code()).unwrap_or("");
    match code {
        "PipelineNotFoundException" => ApprovalCallError::NotFound {
            what: format!("pipeline {pipeline}"),
        },
        "StageNotFoundException"
        | "ActionNotFoundException"
        | "PipelineExecutionNotFoundException" => ApprovalCallError::NotFound {
            what: format!("{code} in pipeline {pipeline}"),
        },
        _ => ApprovalCallError::Unavailable {
            operation,
            reason: DisplayErrorContext(&e).to_string(),
        },
    }
}

/// The commit from the execution's variables (`COMMIT_ID`, `COMMIT_MESSAGE`, `AUTHOR`,
/// `REPOSITORY`, `BRANCH`/`TAG`, set by Gantry's webhook), else from its first source revision
/// (whose summary a CodeStar connection fills with `{"CommitMessage": …}`).
pub fn commit_of(variables: &[(&str, &str)], revisions: &[(&str, Option<&str>)]) -> Option<Commit> {
    let var = |name: &str| {
        variables
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.trim().to_string())
            .filter(|v| !v.is_empty() && v != super::start::UNSET_VARIABLE)
    };
    let first_line = |m: String| m.lines().next().unwrap_or_default().to_string();
    if let Some(id) = var("COMMIT_ID") {
        return Some(Commit {
            id,
            message: var("COMMIT_MESSAGE").map(first_line),
            author: var("AUTHOR"),
            repository: var("REPOSITORY"),
            branch: var("BRANCH").or_else(|| var("TAG")),
        });
    }
    let (id, summary) = revisions.first()?;
    let message = summary.map(|s| {
        serde_json::from_str::<serde_json::Value>(s)
            .ok()
            .and_then(|v| v["CommitMessage"].as_str().map(str::to_string))
            .unwrap_or_else(|| s.to_string())
    });
    Some(Commit {
        id: id.to_string(),
        message: message.map(first_line).filter(|m| !m.is_empty()),
        ..Commit::default()
    })
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
