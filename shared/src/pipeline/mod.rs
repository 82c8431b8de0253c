//! CodePipeline: what Gantry asks of it (start an execution pinned to a commit, decide an
//! approval) and what an execution's events do not say.

mod approval;
mod details;
mod start;

pub use approval::{
    commit_of, ActionOutcome, ApprovalCallError, ApprovalSettings, CodePipelineApprovals,
    WaitingApproval,
};
pub use details::CodePipelineDetails;
pub use start::{
    truncate, CodePipelineStarter, PipelineStarter, StartError, StartRequest, Variable,
    UNSET_VARIABLE,
};
