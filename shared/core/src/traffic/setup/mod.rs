//! The plan and its parameters: the action's `UserParameters`, the `TrafficPlan` a strategy
//! makes, the listener's `Weights`, the images, the lifecycle hooks and the job they come with.

pub mod hooks;
pub mod images;
pub mod job;
pub mod params;
pub mod plan;
pub mod weights;
