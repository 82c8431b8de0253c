//! The deployment's state machine. `next_step` is the whole decision: given where the
//! deployment stands and what was just observed, what to do now. It does no I/O, so every
//! path (promotion, rollback, a repeated or crashed invocation) is tested with plain values.

use crate::traffic::phases::deployment::Deployment;
pub use crate::traffic::phases::deployment::Phase;
use crate::traffic::setup::weights::{Side, Weights};

/// How the idle service's ECS deployment is going.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rollout {
    Completed,
    InProgress,
    /// The deployment circuit breaker gave up.
    Failed {
        reason: String,
    },
    /// ECS did not say (services without a rollout state).
    Unknown,
}

/// The idle service as ECS describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceStatus {
    pub task_definition: String,
    pub desired: i32,
    pub running: i32,
    /// How many deployments the service has (more than one: a rollout is still replacing tasks).
    pub deployments: usize,
    pub rollout: Rollout,
}

/// The idle target group's targets, counted by health.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TargetHealth {
    /// The target group's name, for messages.
    pub target_group: String,
    pub healthy: u32,
    pub unhealthy: u32,
    /// Initial, draining, unused, unavailable.
    pub other: u32,
    /// The load balancer's reason for the first unhealthy target.
    pub reason: Option<String>,
}

/// A watched CloudWatch alarm's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlarmState {
    Ok,
    Alarm,
    InsufficientData,
    /// The alarm does not exist (any more).
    Missing,
}

/// A watched alarm and its state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlarmReading {
    pub name: String,
    pub state: AlarmState,
}

/// An operator's command from Slack, waiting in the deployment record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Skip the remaining steps and bake: all traffic to the new version now; during the
    /// scale-down wait, scale the old version down now.
    Promote { by: String },
    /// Back to the old version now.
    RollBack { by: String },
    /// Hold the current weights (alarms, health and the judge keep running) until Resume.
    /// `version`: the controls' version the clicked message showed (a stale click does nothing).
    Pause { by: String, version: u32 },
    /// Carry on after a Pause.
    Resume { by: String, version: u32 },
    /// Make the current step's bake `minutes` longer.
    Extend {
        by: String,
        version: u32,
        minutes: u32,
    },
    /// Continue past a pause lifecycle hook (the hook's Continue button).
    Continue { by: String, version: u32 },
}

impl Command {
    /// The controls' version a command carries (Pause, Resume, Extend bake, Continue): it acts
    /// only while the deployment's controls are still at it. Promote and Roll back act whatever
    /// the message showed.
    pub fn version(&self) -> Option<u32> {
        match self {
            Command::Pause { version, .. }
            | Command::Resume { version, .. }
            | Command::Extend { version, .. }
            | Command::Continue { version, .. } => Some(*version),
            Command::Promote { .. } | Command::RollBack { .. } => None,
        }
    }
}

/// Everything one check reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observed {
    pub now_ms: i64,
    pub weights: Weights,
    pub idle: ServiceStatus,
    pub idle_targets: TargetHealth,
    pub alarms: Vec<AlarmReading>,
    pub command: Option<Command>,
}

/// Why a deployment is rolled back: the index of every reason, each decided in one place (the
/// state machine's in `next_step`; the canary judge's, the lifecycle hooks', the sweep's and
/// Gantry's own in `flow`, a check's in `flow/check_step.rs`), and every one carried out by `Shifter::roll_back_for`. The message
/// completes "rolled back at 25% green: …".
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RollbackReason {
    Alarm {
        name: String,
    },
    AlarmMissing {
        name: String,
    },
    Unhealthy {
        health: TargetHealth,
    },
    NotReady {
        waited_seconds: u64,
        detail: String,
    },
    DeploymentFailed {
        reason: String,
    },
    ServiceChanged {
        task_definition: String,
    },
    WeightsChanged {
        found: Weights,
    },
    Operator {
        by: String,
    },
    /// The canary judge found the new side worse than the live side (the `analysis: ...`
    /// evidence), or its bake ended unjudged with `on_inconclusive: rollback`.
    Analysis {
        evidence: String,
    },
    /// A lifecycle hook failed, threw, timed out, or a person chose Roll back on a pause hook.
    Hook {
        hook: String,
        stage: String,
        reason: String,
    },
    /// The deployment's state could not be read for longer than the checks allow.
    Unwatchable {
        seconds: i64,
        error: String,
    },
    /// The pipeline execution was stopped while traffic was split.
    PipelineStopped {
        status: String,
    },
    /// CodePipeline no longer waits for the job (the execution stopped or the job timed out),
    /// so no invocation would continue the deployment.
    JobAbandoned,
    /// No invocation has watched the deployment for `idle_seconds` (its chain of invocations
    /// broke): the sweep rolls it back.
    Orphaned {
        idle_seconds: i64,
    },
    /// Gantry itself could not go on (AWS refused or did not answer).
    Error {
        message: String,
    },
}

impl std::fmt::Display for RollbackReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RollbackReason::Alarm { name } => write!(f, "alarm {name} went to ALARM"),
            RollbackReason::AlarmMissing { name } => {
                write!(f, "alarm {name} no longer exists, so it cannot be watched")
            }
            RollbackReason::Unhealthy { health } => {
                if health.unhealthy == 0 {
                    write!(
                        f,
                        "target group {} has no healthy targets",
                        health.target_group
                    )
                } else {
                    write!(
                        f,
                        "target group {} has {} unhealthy target{}",
                        health.target_group,
                        health.unhealthy,
                        if health.unhealthy == 1 { "" } else { "s" }
                    )?;
                    match &health.reason {
                        Some(r) => write!(f, " ({r})"),
                        None => Ok(()),
                    }
                }
            }
            RollbackReason::NotReady {
                waited_seconds,
                detail,
            } => write!(
                f,
                "the new version was not ready after {}: {detail}",
                crate::traffic::setup::plan::duration_text(*waited_seconds)
            ),
            RollbackReason::DeploymentFailed { reason } => {
                write!(f, "ECS could not start the new version: {reason}")
            }
            RollbackReason::ServiceChanged { task_definition } => write!(
                f,
                "the service was changed outside this deployment (it now runs {task_definition})"
            ),
            RollbackReason::WeightsChanged { found } => write!(
                f,
                "the listener's weights were changed outside this deployment ({found})"
            ),
            RollbackReason::Operator { by } => write!(f, "rollback requested by <@{by}>"),
            RollbackReason::Analysis { evidence } => f.write_str(evidence),
            RollbackReason::Hook {
                hook,
                stage,
                reason,
            } => write!(f, "lifecycle {hook} at {stage}: {reason}"),
            RollbackReason::Unwatchable { seconds, error } => write!(
                f,
                "the deployment could not be watched for {seconds} s: {error}"
            ),
            RollbackReason::PipelineStopped { status } => write!(
                f,
                "the pipeline execution was stopped (its status is {status})"
            ),
            RollbackReason::JobAbandoned => f.write_str(
                "the pipeline stopped waiting for this deployment (its job is no longer in progress)",
            ),
            RollbackReason::Orphaned { idle_seconds } => write!(
                f,
                "no invocation of the traffic shifter has watched this deployment for {idle_seconds} s (its chain of invocations broke), so the sweep rolled it back"
            ),
            RollbackReason::Error { message } => f.write_str(message),
        }
    }
}

/// What to do after a check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ShiftAction {
    /// Nothing to change: continue in `phase`, check again at `next_check_ms`.
    Wait { phase: Phase, next_check_ms: i64 },
    /// Set the listener to `weights`, then continue in `phase`.
    Shift { weights: Weights, phase: Phase },
    /// Scale the old version down: the deployment is done.
    Finish,
    /// All traffic back to the old version, the new one scaled back, the job failed.
    RollBack { reason: RollbackReason },
}

/// The weights `phase` means for `deployment`.
pub fn expected_weights(deployment: &Deployment, phase: Phase) -> Weights {
    let new = deployment.new_side();
    match phase {
        Phase::Stabilizing { .. } | Phase::Testing { .. } => Weights::all_to(deployment.live),
        Phase::Shifting { step, .. } => {
            let percent = deployment.plan.step(step).map_or(100, |s| s.percent);
            Weights::split(new, percent)
        }
        Phase::Retiring { .. } => Weights::all_to(new),
    }
}

/// Where the test listener points in `d`'s state: the live side until the new side is ready
/// and its `POST_SCALE_UP` hooks passed, then the new side, to the end. After a success the new
/// side is live, so test traffic at rest reaches what production runs, and the next
/// deployment's test shift is again "all to the idle side".
pub fn expected_test_weights(d: &Deployment) -> Weights {
    let on_new = match d.phase {
        Phase::Stabilizing { .. } => false,
        Phase::Testing { .. } => {
            !matches!(&d.hook, Some(r) if r.stage == crate::traffic::setup::hooks::LifecycleStage::PostScaleUp)
        }
        Phase::Shifting { .. } | Phase::Retiring { .. } => true,
    };
    Weights::all_to(if on_new { d.new_side() } else { d.live })
}

/// The decision for one check.
pub fn next_step(d: &Deployment, o: &Observed) -> ShiftAction {
    let rollback = |reason| ShiftAction::RollBack { reason };
    if let Some(Command::RollBack { by }) = &o.command {
        return rollback(RollbackReason::Operator { by: by.clone() });
    }
    let phase = match settle_weights(d, o) {
        Ok(phase) => phase,
        Err(found) => return rollback(RollbackReason::WeightsChanged { found }),
    };
    if phase != d.phase {
        // A repeated or crashed invocation had already moved the listener on: carry on from
        // there (its hold starts again: longer, never shorter) instead of shifting twice.
        return ShiftAction::Wait {
            phase,
            next_check_ms: o.now_ms,
        };
    }
    if let Some(alarm) = o.alarms.iter().find(|a| a.state == AlarmState::Alarm) {
        return rollback(RollbackReason::Alarm {
            name: alarm.name.clone(),
        });
    }
    if let Some(alarm) = o.alarms.iter().find(|a| a.state == AlarmState::Missing) {
        return rollback(RollbackReason::AlarmMissing {
            name: alarm.name.clone(),
        });
    }
    if let Rollout::Failed { reason } = &o.idle.rollout {
        return rollback(RollbackReason::DeploymentFailed {
            reason: reason.clone(),
        });
    }
    if o.idle.task_definition != d.task_definition {
        return rollback(RollbackReason::ServiceChanged {
            task_definition: o.idle.task_definition.clone(),
        });
    }
    let promote = matches!(o.command, Some(Command::Promote { .. }));
    let check = |phase| ShiftAction::Wait {
        phase,
        next_check_ms: o.now_ms + i64::from(d.timing.check_seconds) * 1000,
    };
    let last = d.plan.last_index();
    match d.phase {
        Phase::Stabilizing { since_ms } => match readiness(d, o) {
            Ok(()) if d.tests => ShiftAction::Wait {
                phase: Phase::Testing { since_ms: o.now_ms },
                next_check_ms: o.now_ms,
            },
            Ok(()) => {
                let step = if promote { last } else { 0 };
                shift_to(d, step, o.now_ms)
            }
            Err(detail) => {
                let waited_ms = o.now_ms - since_ms;
                if waited_ms >= i64::from(d.timing.ready_timeout_seconds) * 1000 {
                    rollback(RollbackReason::NotReady {
                        waited_seconds: (waited_ms / 1000) as u64,
                        detail,
                    })
                } else {
                    check(d.phase)
                }
            }
        },
        Phase::Testing { .. } => {
            // The testing stages' hooks hold this move until they passed (the flow's gate).
            if failing(&o.idle_targets) {
                return rollback(RollbackReason::Unhealthy {
                    health: o.idle_targets.clone(),
                });
            }
            shift_to(d, if promote { last } else { 0 }, o.now_ms)
        }
        Phase::Shifting { step, since_ms } => {
            if failing(&o.idle_targets) {
                return rollback(RollbackReason::Unhealthy {
                    health: o.idle_targets.clone(),
                });
            }
            if promote {
                return if step < last {
                    shift_to(d, last, o.now_ms)
                } else {
                    ShiftAction::Finish
                };
            }
            let hold_ms = i64::from(d.plan.step(step).map_or(0, |s| s.hold_seconds)) * 1000;
            let hold_end = since_ms + hold_ms;
            if o.now_ms < hold_end {
                return ShiftAction::Wait {
                    phase: d.phase,
                    next_check_ms: (o.now_ms + i64::from(d.timing.check_seconds) * 1000)
                        .min(hold_end),
                };
            }
            if step < last {
                shift_to(d, step + 1, o.now_ms)
            } else if d.timing.scale_down_after_seconds == 0 {
                ShiftAction::Finish
            } else {
                ShiftAction::Wait {
                    phase: Phase::Retiring { since_ms: o.now_ms },
                    next_check_ms: o.now_ms,
                }
            }
        }
        Phase::Retiring { since_ms } => {
            if failing(&o.idle_targets) {
                return rollback(RollbackReason::Unhealthy {
                    health: o.idle_targets.clone(),
                });
            }
            let end = since_ms + i64::from(d.timing.scale_down_after_seconds) * 1000;
            if promote || o.now_ms >= end {
                ShiftAction::Finish
            } else {
                ShiftAction::Wait {
                    phase: d.phase,
                    next_check_ms: (o.now_ms + i64::from(d.timing.check_seconds) * 1000).min(end),
                }
            }
        }
    }
}

fn shift_to(d: &Deployment, step: usize, now_ms: i64) -> ShiftAction {
    let phase = Phase::Shifting {
        step,
        since_ms: now_ms,
    };
    ShiftAction::Shift {
        weights: expected_weights(d, phase),
        phase,
    }
}

/// The phase the observed weights are consistent with: the current one, or a later step the
/// listener already shows. `Err` with the weights when they fit neither.
fn settle_weights(d: &Deployment, o: &Observed) -> Result<Phase, Weights> {
    if o.weights.same_shares(&expected_weights(d, d.phase)) {
        return Ok(d.phase);
    }
    let current = match d.phase {
        Phase::Stabilizing { .. } | Phase::Testing { .. } => None,
        Phase::Shifting { step, .. } => Some(step),
        Phase::Retiring { .. } => return Err(o.weights),
    };
    let new = d.new_side();
    d.plan
        .steps()
        .iter()
        .enumerate()
        .filter(|(k, _)| current.is_none_or(|c| *k > c))
        .find(|(_, s)| o.weights.same_shares(&Weights::split(new, s.percent)))
        .map(|(k, _)| Phase::Shifting {
            step: k,
            since_ms: o.now_ms,
        })
        .ok_or(o.weights)
}

/// `Ok` when the idle service runs the new task definition at full strength and every target
/// is healthy; otherwise what is still missing.
fn readiness(d: &Deployment, o: &Observed) -> Result<(), String> {
    let s = &o.idle;
    let t = &o.idle_targets;
    let wanted = d.desired.max(1) as u32;
    let rolled_out = match s.rollout {
        Rollout::Completed => true,
        Rollout::InProgress | Rollout::Failed { .. } => false,
        Rollout::Unknown => s.deployments <= 1,
    };
    if !rolled_out || s.running < d.desired || s.desired != d.desired {
        return Err(format!(
            "{}/{} tasks running{}",
            s.running,
            d.desired,
            if rolled_out {
                ""
            } else {
                ", ECS rollout in progress"
            }
        ));
    }
    if t.healthy < wanted || t.unhealthy > 0 {
        let mut detail = format!(
            "{}/{} targets healthy in {}",
            t.healthy, wanted, t.target_group
        );
        if t.unhealthy > 0 {
            detail.push_str(&format!(", {} unhealthy", t.unhealthy));
            if let Some(r) = &t.reason {
                detail.push_str(&format!(" ({r})"));
            }
        }
        return Err(detail);
    }
    Ok(())
}

/// Once traffic flows, any unhealthy target, or no healthy one at all, is a reason to go back.
fn failing(t: &TargetHealth) -> bool {
    t.unhealthy > 0 || t.healthy == 0
}

/// The new version's share of traffic, as observed.
pub fn new_share(d: &Deployment, weights: &Weights) -> u8 {
    weights.percent(d.new_side())
}

/// Which side `phase` considers live (for messages): the old side until the last step.
pub fn serving_side(d: &Deployment, phase: Phase) -> Side {
    match phase {
        Phase::Retiring { .. } => d.new_side(),
        _ => d.live,
    }
}

#[cfg(test)]
mod tests;
