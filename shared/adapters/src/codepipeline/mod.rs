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
