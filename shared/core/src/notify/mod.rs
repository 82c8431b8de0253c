//! Pipeline notifications: EventBridge CodePipeline events in, one live Slack message per
//! execution (with failures in its thread) and SNS notifications out.
//!
//! The pure core (`event`, `status`, `execution`, `trigger`, `view`, `render`, `sns`, `policy`)
//! takes and returns plain data. `Notifier` (in `flow`) drives it over four ports: the state
//! table (`ExecutionStore`), CodePipeline (`PipelineDetails`) and SNS (`Topic`), all in `ports`,
//! and Slack (`Chat`, shared with the other features in `crate::slack`). The adapters live in `gantry_adapters` (`dynamodb::executions`,
//! `codepipeline::details`, `sns`, `slack`).

pub mod event;
pub mod execution;
mod flow;
pub mod policy;
mod ports;
pub mod render;
pub mod sns;
pub mod status;
pub mod trigger;
pub mod view;

#[cfg(test)]
pub(crate) mod testing;

pub use crate::slack::Chat;
#[cfg(any(test, feature = "testing"))]
pub use event::EventSource;
pub use event::{ActionResult, Change, EventError, PipelineEvent};
pub use execution::{DeclaredAction, DeclaredStage, Execution, Notice, Scope};
pub use flow::{Handled, LockPolicy, Notifier, NotifyError, SinkOutcome};
pub use ports::{
    ActionRun, Delivered, DetailsError, ExecutionRecord, ExecutionStore, NotifyPorts,
    PipelineDetails, PublishError, Sink, SlackMemory, Topic,
};
pub use status::{Severity, Stamped, Status};
pub use trigger::{ExecutionFacts, Revision, SourceOutput, Trigger};

/// Which execution a record is about: the pipeline and CodePipeline's execution id.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ExecutionRef {
    pub pipeline: String,
    pub execution_id: String,
}

impl ExecutionRef {
    pub fn new(pipeline: &str, execution_id: &str) -> Self {
        ExecutionRef {
            pipeline: pipeline.to_string(),
            execution_id: execution_id.to_string(),
        }
    }
}
