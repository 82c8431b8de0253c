//! CodePipeline: what Gantry asks of it (start an execution pinned to a commit, decide an
//! approval, answer a job) and what an execution's events do not say.

mod approvals;
mod details;
mod jobs;
mod rollbacks;
mod start;

pub use approvals::CodePipelineApprovals;
pub use details::CodePipelineDetails;
pub use jobs::CodePipelineJobs;
pub use rollbacks::CodePipelineRollbacks;
pub use start::CodePipelineStarter;

use aws_sdk_codepipeline::error::SdkError;
use aws_sdk_codepipeline::operation::get_pipeline_execution::{
    GetPipelineExecutionError, GetPipelineExecutionOutput,
};
use aws_sdk_codepipeline::operation::list_action_executions::builders::ListActionExecutionsFluentBuilder;
use aws_sdk_codepipeline::operation::list_pipeline_executions::{
    ListPipelineExecutionsError, ListPipelineExecutionsOutput,
};
use aws_sdk_codepipeline::types::{ActionDeclaration, ActionExecutionFilter, PipelineDeclaration};

/// `GetPipelineExecution` for `execution_id` of `pipeline`; each caller maps the error to its
/// own port's.
async fn pipeline_execution(
    client: &aws_sdk_codepipeline::Client,
    pipeline: &str,
    execution_id: &str,
) -> Result<GetPipelineExecutionOutput, SdkError<GetPipelineExecutionError>> {
    client
        .get_pipeline_execution()
        .pipeline_name(pipeline)
        .pipeline_execution_id(execution_id)
        .send()
        .await
}

/// One page, newest first, of `pipeline`'s executions that succeeded in `stage`
/// (`ListPipelineExecutions` filtered by `succeededInStage`): what four-eyes and rollbacks both
/// read. Each caller maps the error to its own port's.
async fn succeeded_in_stage(
    client: &aws_sdk_codepipeline::Client,
    pipeline: &str,
    stage: &str,
    max_results: i32,
) -> Result<ListPipelineExecutionsOutput, SdkError<ListPipelineExecutionsError>> {
    use aws_sdk_codepipeline::types::{PipelineExecutionFilter, SucceededInStageFilter};
    client
        .list_pipeline_executions()
        .pipeline_name(pipeline)
        .max_results(max_results)
        .filter(
            PipelineExecutionFilter::builder()
                .succeeded_in_stage(SucceededInStageFilter::builder().stage_name(stage).build())
                .build(),
        )
        .send()
        .await
}

/// A `ListActionExecutions` request for the actions of `execution_id` of `pipeline`, for the
/// caller to page or send.
fn action_executions_of(
    client: &aws_sdk_codepipeline::Client,
    pipeline: &str,
    execution_id: &str,
) -> ListActionExecutionsFluentBuilder {
    client
        .list_action_executions()
        .pipeline_name(pipeline)
        .filter(
            ActionExecutionFilter::builder()
                .pipeline_execution_id(execution_id)
                .build(),
        )
}

/// The action `stage`/`action` in a pipeline's declaration (`GetPipeline`), if it declares one.
fn action_in<'a>(
    pipeline: Option<&'a PipelineDeclaration>,
    stage: &str,
    action: &str,
) -> Option<&'a ActionDeclaration> {
    pipeline
        .into_iter()
        .flat_map(|p| p.stages())
        .filter(|s| s.name() == stage)
        .flat_map(|s| s.actions())
        .find(|a| a.name() == action)
}
