//! A sample deployment and the healthy world it sees: what the traffic shifter's unit tests (the
//! phase machine's, the canary judge's step, the progress report's) and the warm benchmark run
//! the shifter's decisions on.

use super::phases::deployment::{Deployment, ServiceSnapshot, Timing};
use super::phases::phase::{expected_weights, AlarmReading, AlarmState, Observed, Rollout};
use super::setup::plan::{Strategy, TrafficPlan};
use super::{ServiceStatus, Side, TargetHealth};

/// The task definition the deployment brings.
pub const NEW_TD: &str = "arn:aws:ecs:us-east-1:1:task-definition/shop:8";

/// Job `job-1` deploys shop:8 to green (blue is live) on 2 tasks with `strategy`, started at 0:
/// checks every 5 s, keeps blue 60 s after the last step, gives green 300 s to be ready.
pub fn deployment(strategy: Strategy) -> Deployment {
    Deployment::new(
        "job-1",
        Side::Blue,
        NEW_TD,
        2,
        ServiceSnapshot {
            task_definition: "arn:aws:ecs:us-east-1:1:task-definition/shop:7".into(),
            desired: 0,
        },
        TrafficPlan::new(strategy),
        Timing {
            check_seconds: 5,
            scale_down_after_seconds: 60,
            ready_timeout_seconds: 300,
        },
        0,
    )
}

/// The same deployment as a 10% canary baking `bake_seconds`.
pub fn canary(bake_seconds: u32) -> Deployment {
    deployment(Strategy::Canary {
        percent: 10,
        bake_seconds,
    })
}

/// A healthy world for `d` at `now_ms`: the listener at the weights `d`'s phase expects, green
/// running the new revision on 2 healthy targets, alarm `shop-5xx` OK, no command.
pub fn healthy(d: &Deployment, now_ms: i64) -> Observed {
    Observed {
        now_ms,
        weights: expected_weights(d, d.phase),
        idle: ServiceStatus {
            task_definition: NEW_TD.into(),
            desired: 2,
            running: 2,
            deployments: 1,
            rollout: Rollout::Completed,
        },
        idle_targets: TargetHealth {
            target_group: "shop-green".into(),
            healthy: 2,
            unhealthy: 0,
            other: 0,
            reason: None,
        },
        alarms: vec![AlarmReading {
            name: "shop-5xx".into(),
            state: AlarmState::Ok,
        }],
        command: None,
    }
}
