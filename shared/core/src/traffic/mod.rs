//! Blue/green traffic shifting on ECS behind an ALB (the traffic shifter).
//!
//! - `setup`: the plan and its parameters, as plain data (`UserParameters`, the `TrafficPlan` a
//!   strategy makes, the listener's `Weights`, images, lifecycle hooks, the job).
//! - `phases`: where a deployment stands. Its state machine (`Phase`, `next_step`) is a pure
//!   function, and its state is the continuation token (`Deployment`).
//! - `checks`: what is checked before and while traffic moves (the job is CodePipeline's own,
//!   pre-flight, target health, the time left).
//! - `steps`: what the flow applies around each decision (whose turn it is, the Slack progress
//!   message and the job's details, retries).
//! - `ports`: one trait per outside system; `flow`: the async `Shifter`, generic over them
//!   (`ShifterPorts`), which observes, decides and applies. This crate holds no AWS client: the
//!   adapters (`gantry_adapters`) implement the ports.
//! - Every reason a deployment rolls back is a `RollbackReason`; `testing` and `simulation`
//!   (unit tests only) fake the ports and drive whole deployments through faults.

pub mod account;
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

pub use account::{Accounts, OneAccount, TargetAccount};
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
pub use setup::params::{ParamsError, SideSpec, TrafficControl, UserParameters, WaitBetweenChecks};
pub use setup::plan::{Step, Strategy, TrafficPlan};
pub use setup::weights::{ForwardTarget, Side, Weights, WeightsError};
pub use steps::progress::{SlackProgress, Thread};
