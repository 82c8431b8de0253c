//! `StageRollbacks` on the AWS SDK: the executions that succeeded in a stage
//! (`ListPipelineExecutions` filtered by `succeededInStage`) and `RollbackStage`.

use gantry_core::operate::{RollbackError, RollbackTarget, StageRollbacks};

/// CodePipeline's stage rollbacks.
#[derive(Debug, Clone)]
pub struct CodePipelineRollbacks {
    pub client: aws_sdk_codepipeline::Client,
}

impl StageRollbacks for CodePipelineRollbacks {
    async fn successes(
        &self,
        pipeline: &str,
        stage: &str,
    ) -> Result<Vec<RollbackTarget>, RollbackError> {
        let out = super::succeeded_in_stage(&self.client, pipeline, stage, 20)
            .await
            .map_err(|e| {
                RollbackError::Unavailable(
                    aws_sdk_codepipeline::error::DisplayErrorContext(e).to_string(),
                )
            })?;
        Ok(out
            .pipeline_execution_summaries()
            .iter()
            .filter_map(|s| {
                Some(RollbackTarget {
                    execution_id: s.pipeline_execution_id()?.to_string(),
                    commit: s
                        .source_revisions()
                        .first()
                        .and_then(|r| r.revision_id())
                        .map(str::to_string),
                })
            })
            .collect())
    }

    async fn rollback(
        &self,
        pipeline: &str,
        stage: &str,
        target: &str,
    ) -> Result<String, RollbackError> {
        use aws_sdk_codepipeline::error::ProvideErrorMetadata;
        match self
            .client
            .rollback_stage()
            .pipeline_name(pipeline)
            .stage_name(stage)
            .target_pipeline_execution_id(target)
            .send()
            .await
        {
            Ok(out) => Ok(out.pipeline_execution_id().to_string()),
            Err(e) => {
                let message = e
                    .as_service_error()
                    .and_then(|se| se.message())
                    .map(str::to_string)
                    .unwrap_or_else(|| {
                        aws_sdk_codepipeline::error::DisplayErrorContext(&e).to_string()
                    });
                Err(match e.as_service_error().and_then(|se| se.code()) {
                    Some("UnableToRollbackStageException")
                    | Some("StageNotFoundException")
                    | Some("PipelineExecutionNotFoundException")
                    | Some("PipelineExecutionOutdatedException") => RollbackError::Unable(message),
                    Some("ConflictException") => RollbackError::Conflict(message),
                    _ => RollbackError::Unavailable(message),
                })
            }
        }
    }
}
