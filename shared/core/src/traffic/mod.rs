//! Blue/green traffic shifting, as plain data and pure decisions: the action's
//! `UserParameters`, the `TrafficPlan` a strategy makes, the listener's `Weights`, and the
//! deployment's state machine (`Phase`, `next_step`), whose state is the continuation token.
//!
//! Nothing here talks to AWS; `crate::traffic` observes, applies and reports.

pub mod checks;
pub mod flow;
pub mod phases;
pub mod ports;
pub mod sample;
pub mod setup;
#[cfg(test)]
mod simulation;
pub mod steps;
#[cfg(test)]
pub mod testing;

pub use checks::budget::invocation_budget;
pub use checks::confirm::{Forged, InvokeDeclaration, IssuedJob};
pub use flow::{ShiftOutcome, Shifter, ShifterPorts, DEFAULT_SLICE};
pub use phases::deployment::{Deployment, ServiceSnapshot, Timing, TokenError, MAX_TOKEN_CHARS};
pub use phases::phase::{
    next_step, AlarmReading, AlarmState, Command, Observed, Phase, RollbackReason, Rollout,
    ServiceStatus, ShiftAction, TargetHealth,
};
pub use phases::record::{DeploymentRecord, DeploymentStatus, HandOver, Watch};
pub use ports::*;
pub use setup::job::{ArtifactCredentials, InputArtifact, Job, JobFailure, PipelineContext};
pub use setup::params::{ParamsError, SideSpec, TrafficControl, UserParameters};
pub use setup::plan::{Step, Strategy, TrafficPlan};
pub use setup::weights::{ForwardTarget, Side, Weights, WeightsError};
pub use steps::progress::{SlackProgress, Thread};
