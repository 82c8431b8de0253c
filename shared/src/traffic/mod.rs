//! Blue/green traffic shifting, as plain data and pure decisions: the action's
//! `UserParameters`, the `TrafficPlan` a strategy makes, the listener's `Weights`, and the
//! deployment's state machine (`Phase`, `next_step`), whose state is the continuation token.
//!
//! Nothing here talks to AWS; `crate::shifter` observes, applies and reports.

pub mod deployment;
pub mod images;
pub mod params;
pub mod phase;
pub mod plan;
pub mod report;
pub mod weights;

pub use deployment::{Deployment, ServiceSnapshot, Timing, TokenError, MAX_TOKEN_CHARS};
pub use params::{ParamsError, SideSpec, TrafficControl, UserParameters};
pub use phase::{
    next_step, AlarmReading, AlarmState, Command, Observed, Phase, RollbackReason, Rollout,
    ServiceStatus, ShiftAction, TargetHealth,
};
pub use plan::{Step, Strategy, TrafficPlan};
pub use weights::{ForwardTarget, Side, Weights, WeightsError};
