//! What approvals ask of CodePipeline: the waiting approval's token (`GetPipelineState`), the
//! approval action's settings (`GetPipeline`), the execution's commit (`GetPipelineExecution`),
//! and the decision (`PutApprovalResult`).

use aws_sdk_codepipeline::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_codepipeline::types::{ActionDeclaration, ActionExecutionFilter, StageState};
use gantry_core::approval::ports::{ApprovalActions, PipelineDecision};
use gantry_core::approval::{
    commit_of, ActionOutcome, ApprovalCallError, ApprovalSettings, CommitSummary, Outcome,
    StageSuccesses, WaitingApproval,
};
use std::collections::HashMap;

/// Approval calls on the AWS SDK.
#[derive(Debug, Clone)]
pub struct CodePipelineApprovals {
    pub client: aws_sdk_codepipeline::Client,
}

impl ApprovalActions for CodePipelineApprovals {
    /// The approval waiting in `pipeline`/`stage`/`action`, if one is: `GetPipelineState`'s
    /// token (SUPERSEDED and QUEUED modes: one execution per stage); else, as PARALLEL mode
    /// needs, the `externalExecutionId` of the execution's waiting action in
    /// `ListActionExecutions` (`PutApprovalResult`'s documentation says to use it as the token).
    async fn waiting(
        &self,
        pipeline: &str,
        stage: &str,
        action: &str,
        execution_id: Option<&str>,
        token: Option<&str>,
    ) -> Result<Option<WaitingApproval>, ApprovalCallError> {
        let stage_state = self.stage_state(pipeline, stage).await?;
        let latest = stage_state
            .iter()
            .flat_map(|s| s.action_states())
            .find(|a| a.action_name() == Some(action))
            .and_then(|a| a.latest_execution());
        let in_progress = |l: &aws_sdk_codepipeline::types::ActionExecution| {
            l.status() == Some(&aws_sdk_codepipeline::types::ActionExecutionStatus::InProgress)
        };
        let stage_execution = stage_state
            .as_ref()
            .and_then(|s| s.latest_execution())
            .map(|e| e.pipeline_execution_id().to_string());
        if let Some((latest, state_token)) = latest
            .filter(|l| in_progress(l))
            .and_then(|l| Some((l, l.token()?)))
        {
            return Ok(Some(WaitingApproval {
                token: state_token.to_string(),
                execution_id: stage_execution,
                since: latest.last_status_change().map(|t| t.secs()),
            }));
        }
        if execution_id.is_none() && token.is_none() {
            return Ok(None);
        }
        self.parallel_waiting(pipeline, stage, action, execution_id, token)
            .await
    }

    /// How the action last ended in `execution_id` (`ListActionExecutions`, newest first), if
    /// it has: in PARALLEL mode the stage's latest action may be another execution's.
    async fn last_outcome(
        &self,
        pipeline: &str,
        stage: &str,
        action: &str,
        execution_id: &str,
    ) -> Result<ActionOutcome, ApprovalCallError> {
        use aws_sdk_codepipeline::types::ActionExecutionStatus as S;
        let out = super::action_executions_of(&self.client, pipeline, execution_id)
            .send()
            .await
            .map_err(|e| classify("ListActionExecutions", pipeline, e))?;
        let latest = out
            .action_execution_details()
            .iter()
            .filter(|d| d.stage_name() == Some(stage) && d.action_name() == Some(action))
            .max_by_key(|d| d.start_time().map(|t| (t.secs(), t.subsec_nanos())));
        Ok(ActionOutcome {
            outcome: match latest.and_then(|l| l.status()) {
                Some(S::Succeeded) => Some(Outcome::Approved),
                Some(S::Failed) => Some(Outcome::Rejected),
                _ => None,
            },
            summary: latest
                .and_then(|l| l.output())
                .and_then(|o| o.execution_result())
                .and_then(|r| r.external_execution_summary())
                .filter(|s| !s.trim().is_empty())
                .map(str::to_string),
        })
    }

    /// The approval action's custom message and review URL, as this execution sees them (the
    /// action execution's resolved configuration, where CodePipeline has replaced `#{…}`
    /// variables, else the pipeline's declaration, variables left as written), and the
    /// declared `timeoutInMinutes`: `GetPipeline` once for both.
    async fn settings(
        &self,
        pipeline: &str,
        stage: &str,
        action: &str,
        execution_id: &str,
    ) -> Result<ApprovalSettings, ApprovalCallError> {
        let resolved = self
            .resolved_configuration(pipeline, stage, action, execution_id)
            .await
            .unwrap_or_else(|e| {
                tracing::warn!(error = %e, "no resolved approval settings; using the declared ones");
                None
            });
        let declared = match self.declared_action(pipeline, stage, action).await {
            Ok(declared) => declared,
            Err(e) => match resolved {
                Some(configuration) => {
                    tracing::warn!(error = %e, "approval timeout unavailable; assuming seven days");
                    return Ok(settings_of(Some(&configuration), None));
                }
                None => return Err(e),
            },
        };
        let timeout = declared
            .as_ref()
            .and_then(|a| a.timeout_in_minutes())
            .map(i64::from);
        let configuration = resolved
            .as_ref()
            .or_else(|| declared.as_ref().and_then(|a| a.configuration()));
        Ok(settings_of(configuration, timeout))
    }

    /// The executions that recently succeeded in `stage` and their source revisions: one page
    /// of `ListPipelineExecutions` filtered by `succeededInStage`, newest first. Four-eyes needs
    /// only the newest that ran a push of the execution's ref, and looks no further back than
    /// the history of pushes (`PUSH_HISTORY_SECONDS`).
    async fn succeeded_in_stage(
        &self,
        pipeline: &str,
        stage: &str,
    ) -> Result<StageSuccesses, ApprovalCallError> {
        let out = super::succeeded_in_stage(&self.client, pipeline, stage, 100)
            .await
            .map_err(|e| classify("ListPipelineExecutions", pipeline, e))?;
        let mut ran = StageSuccesses::default();
        for summary in out.pipeline_execution_summaries() {
            if let Some(id) = summary.pipeline_execution_id() {
                ran.executions.insert(id.to_string());
            }
            for revision in summary.source_revisions() {
                if let Some(id) = revision.revision_id() {
                    ran.commits.insert(id.to_string());
                }
            }
        }
        Ok(ran)
    }

    /// The commit the execution runs, from the variables the webhook set or the source revision.
    async fn commit(
        &self,
        pipeline: &str,
        execution_id: &str,
    ) -> Result<Option<CommitSummary>, ApprovalCallError> {
        let out = super::pipeline_execution(&self.client, pipeline, execution_id)
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
    async fn decide(&self, d: &PipelineDecision<'_>) -> Result<(), ApprovalCallError> {
        let (pipeline, outcome) = (d.pipeline, d.outcome);
        use aws_sdk_codepipeline::types::{ApprovalResult, ApprovalStatus};
        let result = ApprovalResult::builder()
            .status(ApprovalStatus::from(outcome.as_status()))
            .summary(d.summary)
            .build()
            .map_err(|e| ApprovalCallError::Unavailable {
                operation: "PutApprovalResult",
                reason: e.to_string(),
            })?;
        let sent = self
            .client
            .put_approval_result()
            .pipeline_name(pipeline)
            .stage_name(d.stage)
            .action_name(d.action)
            .token(d.token)
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

impl CodePipelineApprovals {
    /// PARALLEL mode: the waiting approval of `execution_id` (or the one whose token is
    /// `token`), from `ListActionExecutions`; its `externalExecutionId` is the token.
    async fn parallel_waiting(
        &self,
        pipeline: &str,
        stage: &str,
        action: &str,
        execution_id: Option<&str>,
        token: Option<&str>,
    ) -> Result<Option<WaitingApproval>, ApprovalCallError> {
        use aws_sdk_codepipeline::types::ActionExecutionStatus as S;
        let mut request = self.client.list_action_executions().pipeline_name(pipeline);
        if let Some(e) = execution_id {
            request = request.filter(
                ActionExecutionFilter::builder()
                    .pipeline_execution_id(e)
                    .build(),
            );
        }
        let out = match request.send().await {
            Ok(out) => out,
            Err(e) => {
                return match classify("ListActionExecutions", pipeline, e) {
                    // An execution CodePipeline no longer knows has nothing waiting.
                    ApprovalCallError::NotFound { .. } => Ok(None),
                    other => Err(other),
                };
            }
        };
        Ok(out
            .action_execution_details()
            .iter()
            .filter(|d| d.stage_name() == Some(stage) && d.action_name() == Some(action))
            .filter(|d| d.status() == Some(&S::InProgress))
            .filter(|d| execution_id.is_none() || d.pipeline_execution_id() == execution_id)
            .find_map(|d| {
                let external = d
                    .output()
                    .and_then(|o| o.execution_result())
                    .and_then(|r| r.external_execution_id())
                    .filter(|t| token.is_none_or(|want| want == *t))?;
                Some(WaitingApproval {
                    token: external.to_string(),
                    execution_id: d.pipeline_execution_id().map(str::to_string),
                    since: d.start_time().map(|t| t.secs()),
                })
            }))
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
        let out = super::action_executions_of(&self.client, pipeline, execution_id)
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
}

impl CodePipelineApprovals {
    /// `GetPipelineState`'s entry for `stage`, if the pipeline has one.
    async fn stage_state(
        &self,
        pipeline: &str,
        stage: &str,
    ) -> Result<Option<StageState>, ApprovalCallError> {
        let out = self
            .client
            .get_pipeline_state()
            .name(pipeline)
            .send()
            .await
            .map_err(|e| classify("GetPipelineState", pipeline, e))?;
        Ok(out
            .stage_states()
            .iter()
            .find(|s| s.stage_name() == Some(stage))
            .cloned())
    }

    /// The action as the pipeline declares it (`GetPipeline`), if it does.
    async fn declared_action(
        &self,
        pipeline: &str,
        stage: &str,
        action: &str,
    ) -> Result<Option<ActionDeclaration>, ApprovalCallError> {
        let out = self
            .client
            .get_pipeline()
            .name(pipeline)
            .send()
            .await
            .map_err(|e| classify("GetPipeline", pipeline, e))?;
        Ok(super::action_in(out.pipeline(), stage, action).cloned())
    }
}

/// `CustomData` and `ExternalEntityLink` from an approval action's configuration, with its
/// declared timeout.
fn settings_of(
    configuration: Option<&HashMap<String, String>>,
    timeout_minutes: Option<i64>,
) -> ApprovalSettings {
    let get = |k: &str| {
        configuration
            .and_then(|c| c.get(k))
            .filter(|v| !v.trim().is_empty())
            .cloned()
    };
    ApprovalSettings {
        custom_data: get("CustomData"),
        review_url: get("ExternalEntityLink"),
        timeout_minutes,
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
