//! CodePipeline: what Gantry asks of it (start an execution pinned to a commit, and what an
//! execution's events do not say).

mod details;
mod start;

pub use details::CodePipelineDetails;
pub use start::{
    truncate, CodePipelineStarter, PipelineStarter, StartError, StartRequest, Variable,
};
mod approval;

pub use approval::{
    commit_of, ActionOutcome, ApprovalCallError, ApprovalSettings, CodePipelineApprovals,
    WaitingApproval,
