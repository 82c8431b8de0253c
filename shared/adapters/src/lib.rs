//! Gantry's adapters: the core's ports (`gantry_core`) implemented on the outside systems, one
//! module per system, and the pieces every Lambda needs at start-up. Nothing here decides:
//! each adapter fetches or applies and translates errors into the core's types.
//!
//! # Map
//! - [`dynamodb`]: the state table, one file (and one codec) per record kind.
//! - [`codepipeline`]: starting executions, approvals, execution details, job results.
//! - [`ecs`], [`elb`], [`cloudwatch`], [`s3`]: what the traffic shifter observes and moves.
//! - [`sns`]: notifications. [`secretsmanager`]: the secret. [`ssm`]: the service registry's documents.
//! - [`slack`]: the Web API client (rate limits, retries, TLS roots).
//! - [`autoscaling`]: Application Auto Scaling (the shifter's scale-in suspension).
//! - [`sts`]: the shifter's target accounts (a role assumed, its credentials kept fresh).
//! - [`sdk`]: one AWS configuration per cold start. [`lambda`]: every function's start-up (the
//!   secret read beside the configuration and the clients), init errors, JSON logs, and Invoke
//!   (lifecycle hooks).

pub mod autoscaling;
mod aws_error;
pub mod cloudwatch;
pub mod codepipeline;
pub mod dynamodb;
pub mod ecs;
pub mod elb;
pub mod lambda;
pub mod restarts;
pub mod s3;
pub mod sdk;
pub mod secretsmanager;
pub mod slack;
pub mod sns;
pub mod sqs;
pub mod ssm;
pub mod sts;
