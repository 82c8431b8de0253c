//! CodePipeline: what Gantry asks of it (start an execution pinned to a commit).

mod approval;
mod start;

pub use approval::{
    commit_of, ActionOutcome, ApprovalCallError, ApprovalSettings, CodePipelineApprovals,
    WaitingApproval,
};
pub use start::truncate;
pub use start::{CodePipelineStarter, PipelineStarter, StartError, StartRequest, Variable};
