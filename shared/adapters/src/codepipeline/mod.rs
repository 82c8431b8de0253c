//! CodePipeline: what Gantry asks of it (start an execution pinned to a commit, decide an
//! approval, answer a job) and what an execution's events do not say.

mod approvals;
mod details;
mod jobs;
mod start;

pub use approvals::CodePipelineApprovals;
pub use details::CodePipelineDetails;
pub use jobs::CodePipelineJobs;
pub use start::CodePipelineStarter;

use aws_sdk_codepipeline::types::{ActionDeclaration, PipelineDeclaration};

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
