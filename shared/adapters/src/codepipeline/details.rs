//! `PipelineDetails` on the AWS SDK: what events do not carry (commit, trigger, the declared
//! stages, error summaries and log links), read from CodePipeline and returned as plain data.

use gantry_core::notify::{
    ActionResult, ActionRun, DeclaredAction, DeclaredStage, DetailsError, ExecutionFacts,
    PipelineDetails, Revision,
};

/// At most this many pages of `ListActionExecutions` (100 each) per execution.
const MAX_ACTION_PAGES: usize = 3;

/// CodePipeline's read API.
#[derive(Debug, Clone)]
pub struct CodePipelineDetails {
    pub client: aws_sdk_codepipeline::Client,
}

fn error<E: std::error::Error + 'static>(
    operation: &'static str,
    pipeline: &str,
    e: E,
) -> DetailsError {
    DetailsError {
        operation,
        pipeline: pipeline.to_string(),
        reason: aws_sdk_codepipeline::error::DisplayErrorContext(e).to_string(),
    }
}

impl PipelineDetails for CodePipelineDetails {
    async fn execution(
        &self,
        pipeline: &str,
        execution_id: &str,
    ) -> Result<ExecutionFacts, DetailsError> {
        let out = super::pipeline_execution(&self.client, pipeline, execution_id)
            .await
            .map_err(|e| error("GetPipelineExecution", pipeline, e))?;
        let Some(x) = out.pipeline_execution else {
            return Ok(ExecutionFacts::default());
        };
        Ok(ExecutionFacts {
            variables: x
                .variables
                .unwrap_or_default()
                .into_iter()
                .filter_map(|v| Some((v.name?, v.resolved_value?)))
                .collect(),
            revisions: x
                .artifact_revisions
                .unwrap_or_default()
                .into_iter()
                .map(|r| Revision {
                    name: r.name.unwrap_or_default(),
                    revision_id: r.revision_id,
                    summary: r.revision_summary,
                    url: r.revision_url,
                })
                .collect(),
            trigger_type: x
                .trigger
                .as_ref()
                .and_then(|t| t.trigger_type.as_ref())
                .map(|t| t.as_str().to_string()),
            trigger_detail: x.trigger.and_then(|t| t.trigger_detail),
            sources: vec![],
            rollback_of: x
                .rollback_metadata
                .and_then(|m| m.rollback_target_pipeline_execution_id)
                .filter(|_| {
                    x.execution_type
                        .as_ref()
                        .is_some_and(|t| t.as_str() == "ROLLBACK")
                }),
        })
    }

    async fn layout(
        &self,
        pipeline: &str,
        version: Option<i64>,
    ) -> Result<Vec<DeclaredStage>, DetailsError> {
        let mut request = self.client.get_pipeline().name(pipeline);
        if let Some(v) = version
            .and_then(|v| i32::try_from(v).ok())
            .filter(|v| *v > 0)
        {
            request = request.version(v);
        }
        let out = request
            .send()
            .await
            .map_err(|e| error("GetPipeline", pipeline, e))?;
        Ok(out
            .pipeline
            .map(|p| p.stages)
            .unwrap_or_default()
            .into_iter()
            .map(|s| DeclaredStage {
                // The stage's traffic shift acts in another account when an action's
                // UserParameters name a role there (`role_arn`).
                account: s.actions.iter().find_map(|a| {
                    let parameters = a.configuration.as_ref()?.get("UserParameters")?;
                    gantry_core::traffic::account::declared_account(parameters)
                }),
                name: s.name,
                actions: s
                    .actions
                    .into_iter()
                    .map(|a| DeclaredAction {
                        name: a.name,
                        category: a.action_type_id.map(|t| t.category.as_str().to_string()),
                    })
                    .collect(),
            })
            .collect())
    }

    async fn actions(
        &self,
        pipeline: &str,
        execution_id: &str,
    ) -> Result<Vec<ActionRun>, DetailsError> {
        let mut runs = vec![];
        let mut next: Option<String> = None;
        for _ in 0..MAX_ACTION_PAGES {
            let out = super::action_executions_of(&self.client, pipeline, execution_id)
                .max_results(100)
                .set_next_token(next.take())
                .send()
                .await
                .map_err(|e| error("ListActionExecutions", pipeline, e))?;
            runs.extend(
                out.action_execution_details
                    .unwrap_or_default()
                    .into_iter()
                    .map(run),
            );
            match out.next_token {
                Some(t) if !t.is_empty() => next = Some(t),
                _ => break,
            }
        }
        Ok(runs)
    }
}

fn run(d: aws_sdk_codepipeline::types::ActionExecutionDetail) -> ActionRun {
    let output = d
        .output
        .unwrap_or_else(|| aws_sdk_codepipeline::types::ActionExecutionOutput::builder().build());
    let result = output.execution_result;
    let error_details = result.as_ref().and_then(|r| r.error_details.clone());
    let summary = result
        .as_ref()
        .and_then(|r| r.external_execution_summary.clone())
        .or_else(|| error_details.as_ref().and_then(|e| e.message.clone()))
        .filter(|s| !s.trim().is_empty());
    let url = result
        .as_ref()
        .and_then(|r| r.external_execution_url.clone())
        .filter(|u| !u.trim().is_empty());
    let mut variables: Vec<(String, String)> = output
        .output_variables
        .unwrap_or_default()
        .into_iter()
        .collect();
    variables.sort();
    ActionRun {
        stage: d.stage_name.unwrap_or_default(),
        action: d.action_name.unwrap_or_default(),
        status: d.status.map(|s| s.as_str().to_string()).unwrap_or_default(),
        category: d
            .input
            .and_then(|i| i.action_type_id)
            .map(|t| t.category.as_str().to_string()),
        result: ActionResult {
            summary,
            url: url.clone(),
            error_code: error_details.and_then(|e| e.code),
        },
        external_url: url,
        variables,
    }
}
