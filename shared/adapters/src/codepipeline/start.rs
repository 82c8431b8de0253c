//! `StartPipelineExecution` on the AWS SDK: the webhook's `PipelineStarter`.

use gantry_core::ingest::{PipelineStarter, StartError, StartRequest};

/// `PipelineStarter` on the AWS SDK.
#[derive(Debug, Clone)]
pub struct CodePipelineStarter {
    pub client: aws_sdk_codepipeline::Client,
}

impl PipelineStarter for CodePipelineStarter {
    async fn start(&self, r: &StartRequest) -> Result<String, StartError> {
        use aws_sdk_codepipeline::types::{
            PipelineVariable, SourceRevisionOverride, SourceRevisionType,
        };
        let revision = SourceRevisionOverride::builder()
            .action_name(&r.source_action)
            .revision_type(SourceRevisionType::CommitId)
            .revision_value(&r.commit_id)
            .build()
            .map_err(|e| StartError::Rejected {
                pipeline: r.pipeline.clone(),
                reason: e.to_string(),
            })?;
        let variables = r
            .variables
            .iter()
            .map(|v| {
                PipelineVariable::builder()
                    .name(&v.name)
                    .value(&v.value)
                    .build()
            })
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| StartError::Rejected {
                pipeline: r.pipeline.clone(),
                reason: e.to_string(),
            })?;
        let out = self
            .client
            .start_pipeline_execution()
            .name(&r.pipeline)
            .client_request_token(&r.client_request_token)
            .source_revisions(revision)
            .set_variables(Some(variables))
            .send()
            .await
            .map_err(|e| classify(&r.pipeline, e))?;
        Ok(out.pipeline_execution_id().unwrap_or_default().to_string())
    }
}

fn classify(
    pipeline: &str,
    e: aws_sdk_codepipeline::error::SdkError<
        aws_sdk_codepipeline::operation::start_pipeline_execution::StartPipelineExecutionError,
    >,
) -> StartError {
    use aws_sdk_codepipeline::error::ProvideErrorMetadata;
    let pipeline = pipeline.to_string();
    let reason = aws_sdk_codepipeline::error::DisplayErrorContext(&e).to_string();
    match e.as_service_error() {
        Some(se) if se.is_pipeline_not_found_exception() => {
            StartError::PipelineNotFound { pipeline }
        }
        Some(se) if se.code() == Some("AccessDeniedException") => {
            StartError::AccessDenied { pipeline, reason }
        }
        Some(se) if se.is_validation_exception() || se.is_conflict_exception() => {
            StartError::Rejected { pipeline, reason }
        }
        _ => StartError::Unavailable { pipeline, reason },
    }
}
