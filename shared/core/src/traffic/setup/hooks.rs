//! Lifecycle hooks, in ECS's own terms (`UserParameters.lifecycle_hooks`): at each stage a
//! deployment passes (`PRE_SCALE_UP` … `POST_PRODUCTION_TRAFFIC_SHIFT`) the hooks named for it
//! run in order, and the deployment goes on only once each has passed.
//!
//! A function hook is a Lambda invoked with ECS's payload, answering as an ECS hook does
//! (`hookStatus` `SUCCEEDED` / `FAILED` / `IN_PROGRESS`, `callBackDelay`, `hookDetails`); a pause
//! hook waits for a Continue (or Roll back) click in Slack. Everything here is pure: the flow
//! invokes (`HookFunctions`) and posts, these functions decide. The hook being run (`HookRun`)
//! rides in the continuation token, so a hook may take many invocations.

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

/// ECS's lifecycle stages that a Gantry deployment passes, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum LifecycleStage {
    /// Before the new side's tasks are started.
    #[serde(rename = "a")]
    PreScaleUp,
    /// The new side runs at full strength and is healthy; no traffic reaches it yet.
    #[serde(rename = "b")]
    PostScaleUp,
    /// The test listener has just been pointed at the new side.
    #[serde(rename = "c")]
    TestTrafficShift,
    /// Test traffic reaches the new side; production is still all on the live side.
    #[serde(rename = "d")]
    PostTestTrafficShift,
    /// After each production step.
    #[serde(rename = "e")]
    ProductionTrafficShift,
    /// All production traffic is on the new side.
    #[serde(rename = "f")]
    PostProductionTrafficShift,
}

impl LifecycleStage {
    /// Every stage, in the order a deployment passes them.
    pub const ALL: [LifecycleStage; 6] = [
        LifecycleStage::PreScaleUp,
        LifecycleStage::PostScaleUp,
        LifecycleStage::TestTrafficShift,
        LifecycleStage::PostTestTrafficShift,
        LifecycleStage::ProductionTrafficShift,
        LifecycleStage::PostProductionTrafficShift,
    ];

    /// ECS's name (`lifecycleStage`).
    pub fn name(self) -> &'static str {
        match self {
            LifecycleStage::PreScaleUp => "PRE_SCALE_UP",
            LifecycleStage::PostScaleUp => "POST_SCALE_UP",
            LifecycleStage::TestTrafficShift => "TEST_TRAFFIC_SHIFT",
            LifecycleStage::PostTestTrafficShift => "POST_TEST_TRAFFIC_SHIFT",
            LifecycleStage::ProductionTrafficShift => "PRODUCTION_TRAFFIC_SHIFT",
            LifecycleStage::PostProductionTrafficShift => "POST_PRODUCTION_TRAFFIC_SHIFT",
        }
    }

    /// The stage ECS names `name`.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.name() == name)
    }

    /// The stages run while the new side is tested, before any production weight moves.
    pub fn is_testing(self) -> bool {
        matches!(
            self,
            LifecycleStage::PostScaleUp
                | LifecycleStage::TestTrafficShift
                | LifecycleStage::PostTestTrafficShift
        )
    }
}

impl std::fmt::Display for LifecycleStage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// What a pause hook does when nobody decided in time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeoutAction {
    RollBack,
    Continue,
}

/// One entry of `lifecycle_hooks`.
#[derive(Debug, Clone, PartialEq)]
pub enum LifecycleHook {
    /// An ECS hook function: invoked (RequestResponse) with ECS's payload.
    Function {
        arn: String,
        stages: Vec<LifecycleStage>,
        /// `hook_details`, passed as `hookDetails` on the first call.
        details: Value,
    },
    /// Waits for Continue or Roll back in Slack.
    Pause {
        stages: Vec<LifecycleStage>,
        timeout_minutes: u32,
        timeout_action: TimeoutAction,
    },
}

impl LifecycleHook {
    pub fn stages(&self) -> &[LifecycleStage] {
        match self {
            LifecycleHook::Function { stages, .. } | LifecycleHook::Pause { stages, .. } => stages,
        }
    }

    /// How messages name it: the function's name, or `pause`.
    pub fn label(&self) -> String {
        match self {
            LifecycleHook::Function { arn, .. } => {
                let name = arn.split(":function:").nth(1).unwrap_or(arn);
                format!("hook {}", name.split(':').next().unwrap_or(name))
            }
            LifecycleHook::Pause { .. } => "pause hook".into(),
        }
    }
}

/// The hooks that run at `stage`, in the order they were given.
pub fn hooks_at(hooks: &[LifecycleHook], stage: LifecycleStage) -> Vec<&LifecycleHook> {
    hooks
        .iter()
        .filter(|h| h.stages().contains(&stage))
        .collect()
}

/// The hook `run` points at, if the stage still has it.
pub fn current<'a>(hooks: &'a [LifecycleHook], run: &HookRun) -> Option<&'a LifecycleHook> {
    hooks_at(hooks, run.stage)
        .get(usize::from(run.index))
        .copied()
}

/// The stage a pause hook is holding the deployment at, for the Slack message.
pub fn pausing_at(hooks: &[LifecycleHook], run: Option<&HookRun>) -> Option<String> {
    let run = run?;
    matches!(current(hooks, run), Some(LifecycleHook::Pause { .. })).then(|| run.stage.to_string())
}

/// The first of `stages` that has a hook.
pub fn first_with_hooks(
    hooks: &[LifecycleHook],
    stages: &[LifecycleStage],
) -> Option<LifecycleStage> {
    stages
        .iter()
        .copied()
        .find(|s| !hooks_at(hooks, *s).is_empty())
}

/// The hook a deployment is running, carried from check to check and token to token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HookRun {
    #[serde(rename = "s")]
    pub stage: LifecycleStage,
    /// The hook's position among the stage's hooks.
    #[serde(rename = "i", default)]
    pub index: u8,
    /// How many times it was invoked (IN_PROGRESS answers so far, plus one while it runs).
    #[serde(rename = "n", default)]
    pub calls: u16,
    /// When the next invocation is due (epoch ms; 0: now).
    #[serde(rename = "at", default)]
    pub due_ms: i64,
    /// When this hook started (a pause's timeout counts from here).
    #[serde(rename = "t", default)]
    pub since_ms: i64,
    /// The `hookDetails` its last IN_PROGRESS answer asked to be passed back (compact JSON).
    #[serde(rename = "d", default, skip_serializing_if = "Option::is_none")]
    pub details: Option<String>,
}

impl HookRun {
    /// The first hook of `stage`, starting now.
    pub fn start(stage: LifecycleStage, now_ms: i64) -> Self {
        Self {
            stage,
            index: 0,
            calls: 0,
            due_ms: 0,
            since_ms: now_ms,
            details: None,
        }
    }

    /// The stage's next hook.
    fn next(&self, now_ms: i64) -> Self {
        Self {
            index: self.index.saturating_add(1),
            ..Self::start(self.stage, now_ms)
        }
    }
}

/// ECS's default `callBackDelay`, in seconds.
pub const DEFAULT_CALLBACK_SECONDS: u32 = 30;
/// The longest `callBackDelay` honoured (a longer one waits this long).
pub const MAX_CALLBACK_SECONDS: u32 = 3600;
/// The longest `hookDetails` an IN_PROGRESS answer may ask to be passed back, as the token
/// holds them (compact JSON inside a JSON string, so quotes count twice): they ride in the
/// continuation token, which CodePipeline caps at 2048 characters.
pub const MAX_DETAILS_CHARS: usize = 900;

/// How many characters `details` take in the token.
pub fn details_size(details: &str) -> usize {
    serde_json::to_string(details).map_or(usize::MAX, |s| s.chars().count() - 2)
}

/// What the hook's Lambda gave back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Invocation {
    /// The function returned this payload.
    Returned(String),
    /// The function failed (Lambda's `X-Amz-Function-Error`): an uncaught exception, a timeout.
    Threw { error_type: String, message: String },
}

/// An ECS hook's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HookAnswer {
    Succeeded,
    Failed {
        reason: String,
    },
    InProgress {
        delay_seconds: u32,
        details: Option<String>,
    },
}

/// Reads the function's answer as ECS does: a valid `hookStatus` or it counts as FAILED.
pub fn read_answer(invocation: &Invocation) -> HookAnswer {
    let text = match invocation {
        Invocation::Threw {
            error_type,
            message,
        } => {
            let mut reason = format!("the function failed ({error_type}");
            if !message.is_empty() {
                reason.push_str(": ");
                reason.extend(message.chars().take(200));
            }
            reason.push(')');
            return HookAnswer::Failed { reason };
        }
        Invocation::Returned(text) => text,
    };
    let Ok(Value::Object(answer)) = serde_json::from_str::<Value>(text) else {
        return HookAnswer::Failed {
            reason: "it answered without a valid hookStatus (not a JSON object)".into(),
        };
    };
    match answer.get("hookStatus").and_then(Value::as_str) {
        Some("SUCCEEDED") => HookAnswer::Succeeded,
        Some("FAILED") => HookAnswer::Failed {
            reason: "it answered FAILED".into(),
        },
        Some("IN_PROGRESS") => {
            let delay = answer
                .get("callBackDelay")
                .and_then(Value::as_u64)
                .map_or(DEFAULT_CALLBACK_SECONDS, |s| {
                    s.clamp(1, u64::from(MAX_CALLBACK_SECONDS)) as u32
                });
            let details = match answer.get("hookDetails") {
                None | Some(Value::Null) => None,
                Some(d) => {
                    let text = d.to_string();
                    let size = details_size(&text);
                    if size > MAX_DETAILS_CHARS {
                        return HookAnswer::Failed {
                            reason: format!(
                                "its hookDetails take {size} characters, over the {MAX_DETAILS_CHARS} Gantry can pass back"
                            ),
                        };
                    }
                    Some(text)
                }
            };
            HookAnswer::InProgress {
                delay_seconds: delay,
                details,
            }
        }
        Some(other) => HookAnswer::Failed {
            reason: format!("it answered without a valid hookStatus ({other:?})"),
        },
        None => HookAnswer::Failed {
            reason: "it answered without a valid hookStatus".into(),
        },
    }
}

/// What happens after a hook's answer (or a pause's decision).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HookStep {
    /// Call the same hook again (IN_PROGRESS) at the run's `due_ms`.
    Again(HookRun),
    /// The hook passed: go on with the stage's next hook (`index` one further).
    Passed(HookRun),
    /// Nothing decided yet (a pause waiting for a click): check again.
    Waiting,
    RollBack {
        reason: String,
    },
}

/// The decision after a function hook answered.
pub fn after_answer(run: &HookRun, answer: &HookAnswer, now_ms: i64) -> HookStep {
    match answer {
        HookAnswer::Succeeded => HookStep::Passed(run.next(now_ms)),
        HookAnswer::Failed { reason } => HookStep::RollBack {
            reason: reason.clone(),
        },
        HookAnswer::InProgress {
            delay_seconds,
            details,
        } => HookStep::Again(HookRun {
            calls: run.calls.saturating_add(1),
            due_ms: now_ms + i64::from(*delay_seconds) * 1000,
            details: details.clone().or_else(|| run.details.clone()),
            ..run.clone()
        }),
    }
}

/// A click on a pause hook's message (the approval function records only authorized ones).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PauseClick {
    /// Continue, from a message showing the controls' `version`.
    Continue {
        version: u32,
    },
    RollBack {
        by: String,
    },
}

/// The decision on a pause hook: a Continue click from the message showing the controls'
/// current `version`, a Roll back click, or the timeout.
pub fn decide_pause(
    run: &HookRun,
    timeout_minutes: u32,
    timeout_action: TimeoutAction,
    click: Option<&PauseClick>,
    version: u32,
    now_ms: i64,
) -> HookStep {
    match click {
        Some(PauseClick::Continue { version: v }) if *v == version => {
            return HookStep::Passed(run.next(now_ms))
        }
        Some(PauseClick::RollBack { by }) => {
            return HookStep::RollBack {
                reason: format!("<@{by}> chose Roll back"),
            }
        }
        _ => {}
    }
    if now_ms >= run.since_ms + i64::from(timeout_minutes) * 60_000 {
        return match timeout_action {
            TimeoutAction::Continue => HookStep::Passed(run.next(now_ms)),
            TimeoutAction::RollBack => HookStep::RollBack {
                reason: format!("nobody chose Continue within {timeout_minutes} min"),
            },
        };
    }
    HookStep::Waiting
}

/// The stage that follows `done` once all its hooks passed, if it has hooks. `at_full`: the
/// production step just taken sends all traffic to the new side.
pub fn stage_after(
    hooks: &[LifecycleHook],
    done: LifecycleStage,
    at_full: bool,
) -> Option<LifecycleStage> {
    use LifecycleStage::*;
    match done {
        PreScaleUp | PostTestTrafficShift | PostProductionTrafficShift => None,
        PostScaleUp => first_with_hooks(hooks, &[TestTrafficShift, PostTestTrafficShift]),
        TestTrafficShift => first_with_hooks(hooks, &[PostTestTrafficShift]),
        ProductionTrafficShift if at_full => first_with_hooks(hooks, &[PostProductionTrafficShift]),
        ProductionTrafficShift => None,
    }
}

/// The first stage to run when the new side is ready (the deployment enters `Testing`), and
/// whether the test listener moves now (otherwise after `POST_SCALE_UP`).
pub fn testing_starts(hooks: &[LifecycleHook]) -> (Option<LifecycleStage>, bool) {
    use LifecycleStage::*;
    match first_with_hooks(hooks, &[PostScaleUp]) {
        Some(s) => (Some(s), false),
        None => (
            first_with_hooks(hooks, &[TestTrafficShift, PostTestTrafficShift]),
            true,
        ),
    }
}

/// The stage to run after a production step, if it has hooks.
pub fn after_production_step(hooks: &[LifecycleHook], at_full: bool) -> Option<LifecycleStage> {
    use LifecycleStage::*;
    first_with_hooks(hooks, &[ProductionTrafficShift]).or_else(|| {
        if at_full {
            first_with_hooks(hooks, &[PostProductionTrafficShift])
        } else {
            None
        }
    })
}

/// What ECS's payload says about the deployment. ECS keys its weight maps by service
/// revision, `targetServiceRevisionArn` being the new one's; Gantry has no service revisions,
/// so each side is keyed by the task definition it runs (`revision_key`), the new side's being
/// the `targetServiceRevisionArn` it sends: a hook's `weights[targetServiceRevisionArn]` finds
/// the new side's share, as in ECS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HookContext {
    pub execution_id: String,
    /// The old (live) side's key in the weight maps (`revision_key`).
    pub live_revision: String,
    pub new_service_arn: String,
    /// The new task definition: `targetServiceRevisionArn`, and the new side's key.
    pub target_revision_arn: String,
    /// The new side's share of test traffic, `None` without a test listener (test requests
    /// then reach the sides as production requests do).
    pub test_percent: Option<u8>,
    /// The new side's share of production traffic.
    pub production_percent: u8,
}

/// The old side's key in the weight maps: the task definition it ran when the deployment
/// started. When that is unknown (a deployment started by an older Gantry) or the very one the
/// new side runs (a redeploy of the live revision), its service ARN instead, so that the two
/// sides never share a key.
pub fn revision_key(
    live_task_definition: &str,
    target_revision: &str,
    live_service_arn: &str,
) -> String {
    if live_task_definition.is_empty() || live_task_definition == target_revision {
        live_service_arn.to_string()
    } else {
        live_task_definition.to_string()
    }
}

/// ECS's hook payload. Both weight maps are always sent, each keyed as `HookContext` says.
pub fn payload(stage: LifecycleStage, hook_details: &Value, c: &HookContext) -> Value {
    let weights = |new: u8| {
        let mut m = Map::new();
        m.insert(
            c.live_revision.clone(),
            json!(100 - u32::from(new.min(100))),
        );
        m.insert(c.target_revision_arn.clone(), json!(new.min(100)));
        Value::Object(m)
    };
    json!({
        "executionId": c.execution_id,
        "lifecycleStage": stage.name(),
        "resourceArn": c.new_service_arn,
        "hookDetails": hook_details,
        "executionDetails": {
            "serviceArn": c.new_service_arn,
            "targetServiceRevisionArn": c.target_revision_arn,
            "testTrafficWeights": weights(c.test_percent.unwrap_or(c.production_percent)),
            "productionTrafficWeights": weights(c.production_percent),
        },
    })
}

/// The `hookDetails` to send: what the last IN_PROGRESS answer passed back, else the hook's own.
pub fn details_to_send(run: &HookRun, configured: &Value) -> Value {
    run.details
        .as_deref()
        .and_then(|d| serde_json::from_str(d).ok())
        .unwrap_or_else(|| configured.clone())
}

/// An ECS service's ARN, from a target group ARN of the same account and region (ECS's
/// long ARN format).
pub fn service_arn(target_group_arn: &str, cluster: &str, service: &str) -> String {
    let parts: Vec<&str> = target_group_arn.splitn(6, ':').collect();
    let (partition, region, account) = match parts.as_slice() {
        [_, p, _, r, a, ..] => (*p, *r, *a),
        _ => ("aws", "", ""),
    };
    format!("arn:{partition}:ecs:{region}:{account}:service/{cluster}/{service}")
}

#[cfg(test)]
mod tests;
