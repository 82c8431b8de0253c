//! The rig every traffic-shifter end-to-end test stands on: a shop, its state table and the
//! shifter started on them; how a test starts a canary on it and runs it until green holds its
//! first step; and how it writes an operator's click into the deployment record. The tests of
//! the shifter, the canary judge and the lifecycle hooks each add what only they need (the
//! approval function, a hook function, the Slack stand-in) around this one.

use crate::shifter::{spawn_run, write_command, Command, Setup, NEW_IMAGE};
use crate::traffic::Shop;
use serde_json::{json, Value};
use std::sync::Arc;
use traffic_shifter::TrafficShifter;

pub struct Rig {
    pub shop: Shop,
    pub shifter: Arc<TrafficShifter>,
    pub table: String,
}

impl Rig {
    /// The rig `setup` describes, driven by `shifter` (built from `setup`, perhaps adjusted).
    pub fn new(setup: Setup, shifter: TrafficShifter) -> Rig {
        Rig {
            shop: setup.shop,
            shifter: Arc::new(shifter),
            table: setup.table,
        }
    }
}

/// A shop (blue live with two tasks), a state table, and the shifter with a short time slice
/// so that deployments span several invocations.
pub async fn rig() -> Rig {
    started(Setup::new("shop", &json!({})).await).await
}

/// The rig `setup` makes, its shifter started.
pub async fn started(setup: Setup) -> Rig {
    let shifter = setup.shifter().await;
    Rig::new(setup, shifter)
}

/// A 10% canary baking `bake_seconds` (a strategy of `UserParameters`).
pub fn canary(bake_seconds: u64) -> Value {
    json!({"type": "canary", "percent": 10, "bake_seconds": bake_seconds})
}

/// Starts a job deploying NEW_IMAGE with `strategy`; returns `{job_id, event}`.
pub async fn start(rig: &Rig, strategy: Value) -> Value {
    let shop = &rig.shop;
    shop.start_job(&shop.user_parameters(NEW_IMAGE, strategy), json!([]))
        .await
}

/// Runs `first` (a job of a 10% canary) and its continuations in the background; returns once
/// green is at its 10%.
pub async fn running_at_ten(rig: &Rig, first: &Value) -> tokio::task::JoinHandle<Vec<Value>> {
    let running = spawn_run(&rig.shifter, first);
    rig.shop.until_green_at(10).await;
    running
}

/// A rig running a 10% canary of NEW_IMAGE baking `bake_seconds` in the background, green at
/// its 10%: (rig, the first job, the run).
pub async fn canary_at_ten(bake_seconds: u64) -> (Rig, Value, tokio::task::JoinHandle<Vec<Value>>) {
    let rig = rig().await;
    let first = start(&rig, canary(bake_seconds)).await;
    let running = running_at_ten(&rig, &first).await;
    (rig, first, running)
}

/// Writes an operator's command into the deployment record, as the approval function does
/// when someone clicks a button (the click itself is tested with the approval function).
pub async fn click(rig: &Rig, deployment: &str, command: &str) {
    click_with(
        rig,
        deployment,
        &Command {
            command,
            ..Command::default()
        },
    )
    .await
}

/// `click`, the command's every field given (a controls' version, an Extend bake's minutes).
pub async fn click_with(rig: &Rig, deployment: &str, command: &Command<'_>) {
    write_command(&rig.shop, &rig.table, deployment, command).await;
}
