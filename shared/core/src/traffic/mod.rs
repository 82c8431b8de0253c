//! Blue/green traffic shifting, as plain data and pure decisions: the action's
//! `UserParameters`, the `TrafficPlan` a strategy makes, the listener's `Weights`, and the
//! deployment's state machine (`Phase`, `next_step`), whose state is the continuation token.
//!
//! Nothing here talks to AWS; `crate::traffic` observes, applies and reports.

pub mod account;
pub mod budget;
pub mod confirm;
pub mod deployment;
pub mod flow;
pub mod health;
pub mod hooks;
pub mod images;
pub mod job;
pub mod judged;
pub mod params;
pub mod phase;
pub mod plan;
pub mod ports;
pub mod preflight;
pub mod progress;
pub mod record;
pub mod report;
pub mod retry;
pub mod sample;
pub mod scaling;
#[cfg(test)]
mod simulation;
pub mod sweep;
#[cfg(test)]
pub mod testing;
pub mod turn;
pub mod weights;

pub use account::{Accounts, OneAccount, TargetAccount};
pub use budget::invocation_budget;
pub use confirm::{Forged, InvokeDeclaration, IssuedJob};
pub use deployment::{Deployment, ServiceSnapshot, Timing, TokenError, MAX_TOKEN_CHARS};
pub use flow::{ShiftOutcome, Shifter, ShifterPorts, DEFAULT_SLICE};
pub use job::{ArtifactCredentials, InputArtifact, Job, JobFailure, PipelineContext};
pub use params::{ParamsError, SideSpec, TrafficControl, UserParameters, WaitBetweenChecks};
pub use phase::{
    next_step, AlarmReading, AlarmState, Command, Observed, Phase, RollbackReason, Rollout,
    ServiceStatus, ShiftAction, TargetHealth,
};
pub use plan::{Step, Strategy, TrafficPlan};
pub use ports::*;
pub use progress::{SlackProgress, Thread};
pub use record::{DeploymentRecord, DeploymentStatus, HandOver, Watch};
pub use weights::{ForwardTarget, Side, Weights, WeightsError};
