//! The work a slash command leaves for after its acknowledgement, as the event the function
//! sends itself (`{"gantry_operation": …}`).

use serde::{Deserialize, Serialize};

/// The event key that marks a task.
pub const TASK_KEY: &str = "gantry_operation";

/// One operation to carry out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Task {
    /// `deploy <service> <commit>`, authorized.
    Deploy {
        service: String,
        commit: String,
        user_id: String,
        user_name: String,
        /// Where the command was typed (the answer goes to the service's channel).
        channel: String,
        response_url: Option<String>,
        /// `StartPipelineExecution`'s `clientRequestToken`: one execution per double submit.
        token: String,
    },
    /// `rollback <service> <stage>`, authorized: find the target, post the Confirm.
    ProposeRollback {
        service: String,
        stage: String,
        user_id: String,
        channel: String,
        response_url: Option<String>,
        /// Unique to the request (Slack's `trigger_id`): the confirmation's id comes from it.
        token: String,
        /// From a *Roll back to* button: the execution the button's message is about, which
        /// must still be the live one (else the stage has moved on since the button was shown).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        expected_live: Option<String>,
    },
    /// `restart <service> <stage>`, authorized: find the live side, post the Confirm.
    ProposeRestart {
        service: String,
        stage: String,
        user_id: String,
        channel: String,
        response_url: Option<String>,
        token: String,
    },
    /// A confirmed restart's deployment, watched until it ends: one look per invocation, then
    /// the task is handed over again.
    WatchRestart {
        service: String,
        stage: String,
        cluster: String,
        ecs_service: String,
        /// The ECS deployment `UpdateService` started.
        deployment: String,
        by: String,
        channel: Option<String>,
        thread_ts: Option<String>,
        /// When the restart started (epoch seconds): the watch gives up after a while.
        since: i64,
    },
    /// `stats` of every known service: one read per service, more than Slack's three seconds
    /// allow once there are a few, so answered after the acknowledgement.
    Stats {
        user_id: String,
        channel: String,
        response_url: Option<String>,
    },
    /// A Confirm click that won: carry the proposal out.
    Carry {
        id: String,
        by: String,
        channel: Option<String>,
        /// The proposal's message: results go in its thread.
        thread_ts: Option<String>,
    },
}

impl Task {
    /// The task's kind, for the logs (its fields may carry a `response_url`, which is not).
    pub fn name(&self) -> &'static str {
        match self {
            Task::Deploy { .. } => "deploy",
            Task::ProposeRollback { .. } => "propose_rollback",
            Task::ProposeRestart { .. } => "propose_restart",
            Task::WatchRestart { .. } => "watch_restart",
            Task::Stats { .. } => "stats",
            Task::Carry { .. } => "carry",
        }
    }

    /// The event that carries the task.
    pub fn to_event(&self) -> serde_json::Value {
        serde_json::json!({ TASK_KEY: self })
    }

    /// The task an event carries, if it is one.
    pub fn from_event(event: &serde_json::Value) -> Option<Result<Task, String>> {
        let task = event.get(TASK_KEY)?;
        Some(serde_json::from_value(task.clone()).map_err(|e| e.to_string()))
    }
}
