//! CodePipeline: what Gantry asks of it (start an execution pinned to a commit).

mod start;

pub use start::truncate;
pub use start::{CodePipelineStarter, PipelineStarter, StartError, StartRequest, Variable};
