//! `Jobs` on CodePipeline: job results, what CodePipeline holds for a job, and the pipeline's
//! declaration of its action.

use aws_sdk_codepipeline::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_codepipeline::types::{ExecutionDetails, FailureDetails, FailureType};
use gantry_core::traffic::steps::report::clip;
use gantry_core::traffic::{
    Ack, InvokeDeclaration, IssuedJob, JobFailure, JobProgress, Jobs, PipelineContext, ShiftError,
};

/// CodePipeline's limits on what a job result carries.
const MAX_SUMMARY_CHARS: usize = 2048;
const MAX_FAILURE_CHARS: usize = 5000;
const MAX_EXTERNAL_ID_CHARS: usize = 1500;

/// CodePipeline through the AWS SDK.
#[derive(Debug, Clone)]
pub struct CodePipelineJobs {
    pub client: aws_sdk_codepipeline::Client,
}

impl Jobs for CodePipelineJobs {
    async fn succeed(
        &self,
        job_id: &str,
        continuation: Option<&str>,
        progress: &JobProgress,
    ) -> Result<Ack, ShiftError> {
        let details = ExecutionDetails::builder()
            .summary(clip(&progress.summary, MAX_SUMMARY_CHARS))
            .percent_complete(progress.percent_complete.clamp(0, 100))
            .external_execution_id(clip(&progress.external_id, MAX_EXTERNAL_ID_CHARS))
            .build();
        let sent = self
            .client
            .put_job_success_result()
            .job_id(job_id)
            .set_continuation_token(continuation.map(str::to_string))
            .execution_details(details)
            .send()
            .await;
        ack_of("CodePipeline PutJobSuccessResult", sent, |s| {
            s.is_invalid_job_state_exception()
        })
    }

    async fn fail(&self, job_id: &str, failure: &JobFailure) -> Result<Ack, ShiftError> {
        let kind = if failure.configuration {
            FailureType::ConfigurationError
        } else {
            FailureType::JobFailed
        };
        let details = FailureDetails::builder()
            .r#type(kind)
            .message(clip(&failure.message, MAX_FAILURE_CHARS))
            .set_external_execution_id(
                failure
                    .external_id
                    .as_deref()
                    .map(|id| clip(id, MAX_EXTERNAL_ID_CHARS)),
            )
            .build()
            .map_err(|e| crate::aws_error::local_error("CodePipeline PutJobFailureResult", e))?;
        let sent = self
            .client
            .put_job_failure_result()
            .job_id(job_id)
            .failure_details(details)
            .send()
            .await;
        ack_of("CodePipeline PutJobFailureResult", sent, |s| {
            s.is_invalid_job_state_exception()
        })
    }

    async fn execution_status(
        &self,
        pipeline: &str,
        execution_id: &str,
    ) -> Result<Option<String>, ShiftError> {
        let out = super::pipeline_execution(&self.client, pipeline, execution_id)
            .await
            .map_err(|e| crate::aws_error::shift_error("CodePipeline GetPipelineExecution", e))?;
        Ok(out
            .pipeline_execution()
            .and_then(|e| e.status())
            .map(|s| s.as_str().to_string()))
    }

    async fn issued(&self, job_id: &str) -> Result<Option<IssuedJob>, ShiftError> {
        let out = match self.client.get_job_details().job_id(job_id).send().await {
            Ok(out) => out,
            Err(e)
                if e.as_service_error().is_some_and(|s| {
                    s.is_job_not_found_exception() || s.is_validation_exception()
                }) =>
            {
                // A job id CodePipeline never issued (or not even a job id's shape).
                return Ok(None);
            }
            Err(e) => {
                return Err(crate::aws_error::shift_error(
                    "CodePipeline GetJobDetails",
                    e,
                ))
            }
        };
        let Some(data) = out.job_details().and_then(|d| d.data()) else {
            return Ok(None);
        };
        let configuration = data.action_configuration().and_then(|c| c.configuration());
        Ok(Some(IssuedJob {
            context: data.pipeline_context().and_then(|c| {
                Some(PipelineContext {
                    pipeline: c.pipeline_name()?.to_string(),
                    stage: c
                        .stage()
                        .and_then(|s| s.name())
                        .unwrap_or_default()
                        .to_string(),
                    action: c
                        .action()
                        .and_then(|a| a.name())
                        .unwrap_or_default()
                        .to_string(),
                    // Optional in the API: the core falls back on the parameters' own.
                    execution_id: c.pipeline_execution_id().unwrap_or_default().to_string(),
                })
            }),
            provider: data.action_type_id().map(|t| t.provider().to_string()),
            user_parameters: configuration.and_then(|c| c.get("UserParameters")).cloned(),
            continuation_token: data.continuation_token().map(str::to_string),
        }))
    }

    async fn declared_action(
        &self,
        context: &PipelineContext,
    ) -> Result<Option<InvokeDeclaration>, ShiftError> {
        let out = match self
            .client
            .get_pipeline()
            .name(&context.pipeline)
            .send()
            .await
        {
            Ok(out) => out,
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_pipeline_not_found_exception()) =>
            {
                return Ok(None);
            }
            Err(e) => return Err(crate::aws_error::shift_error("CodePipeline GetPipeline", e)),
        };
        let action = super::action_in(out.pipeline(), &context.stage, &context.action);
        Ok(action.map(|a| {
            let configuration = a.configuration();
            InvokeDeclaration {
                provider: a
                    .action_type_id()
                    .map(|t| t.provider().to_string())
                    .unwrap_or_default(),
                function_name: configuration.and_then(|c| c.get("FunctionName")).cloned(),
                user_parameters: configuration.and_then(|c| c.get("UserParameters")).cloned(),
            }
        }))
    }
}

/// What CodePipeline said to a job result. It refuses a result for a job that has already
/// finished (`already_finished`: `InvalidJobStateException`), which answers the job all the same.
fn ack_of<O, E>(
    operation: &str,
    sent: Result<O, SdkError<E>>,
    already_finished: impl Fn(&E) -> bool,
) -> Result<Ack, ShiftError>
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    match sent {
        Ok(_) => Ok(Ack::Accepted),
        Err(e) if e.as_service_error().is_some_and(&already_finished) => Ok(Ack::AlreadyFinished),
        Err(e) => Err(crate::aws_error::shift_error(operation, e)),
    }
}
