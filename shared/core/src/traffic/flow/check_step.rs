//! One turn of the shifter's loop (`Shifter::drive`): look at the deployment (`look`), decide
//! what the check allows (`decide`), and apply it (`apply`: wait, or write the weights). Each
//! returns the loop's `Next` move; `drive` carries out the moves that end the invocation.

use super::{pairs, same_step, Check, ShifterPorts};
use crate::clock::now_epoch_millis as now_ms;
use crate::clock::{instant_now, sleep};
use crate::traffic::flow::analysis_step::{hold, steer_gate, Gate};
use crate::traffic::phases::deployment::Deployment;
use crate::traffic::phases::phase::{new_share, next_step, Phase, RollbackReason, ShiftAction};
use crate::traffic::steps::progress::Thread;
use crate::traffic::steps::report::ProgressOutcome;
use crate::traffic::steps::retry::{self, Blind};
use crate::traffic::{LoadBalancer, Shifter, UserParameters, Weights};
use std::time::{Duration, Instant};

/// What the loop does after a turn.
pub(super) enum Next {
    /// Another turn: look again.
    Again,
    /// The slice is used up: hand over to the next invocation.
    HandOver,
    /// Roll back, with the new side's `share` of traffic at the moment it was decided.
    RollBack { reason: RollbackReason, share: u8 },
    /// The last step is done: scale the old side down and succeed.
    Finish,
}

/// When the checks first failed to read, and how many times in a row.
pub(super) type Blindness = Option<(i64, u32)>;

impl<P: ShifterPorts> Shifter<P> {
    /// One check: look, decide, apply.
    pub(super) async fn turn(
        &self,
        p: &UserParameters,
        d: &mut Deployment,
        blind: &mut Blindness,
        thread: &mut Thread,
        end: Instant,
    ) -> Next {
        let check = match self.look(p, d, end, blind).await {
            Ok(check) => check,
            Err(next) => return next,
        };
        let share = new_share(d, &check.observed.weights);
        match self.decide(p, d, &check, share, thread).await {
            Ok(action) => self.apply(p, d, &check, action, share, thread, end).await,
            Err(next) => next,
        }
    }

    /// The deployment as it stands, or the move to make when it cannot be read: look again
    /// after a wait (blind for less than the limit), hand over (no time left to wait), or roll
    /// back (blind too long, or a read that no retry mends).
    pub(super) async fn look(
        &self,
        p: &UserParameters,
        d: &Deployment,
        end: Instant,
        blind: &mut Blindness,
    ) -> Result<Check, Next> {
        let e = match self.observe(p, d).await {
            Ok(check) => {
                *blind = None;
                return Ok(check);
            }
            Err(e) => e,
        };
        let share = super::report_share(d);
        if !e.is_transient() {
            let reason = RollbackReason::Error {
                message: e.to_string(),
            };
            return Err(Next::RollBack { reason, share });
        }
        let (since, attempt) = *blind.get_or_insert((now_ms(), 0));
        let check_seconds = d.timing.check_seconds.into();
        match retry::after_failed_look(since, now_ms(), check_seconds, attempt) {
            Blind::LookAgain { wait } if instant_now() + wait < end => {
                tracing::warn!(deployment = %d.id, error = %e, attempt, "could not read the deployment's state: nothing moves, looking again");
                *blind = Some((since, attempt + 1));
                sleep(wait).await;
                Err(Next::Again)
            }
            // Out of time for this invocation: the next one looks again.
            Blind::LookAgain { .. } => Err(Next::HandOver),
            Blind::GiveUp => {
                let reason = RollbackReason::Unwatchable {
                    seconds: (now_ms() - since) / 1000,
                    error: e.to_string(),
                };
                Err(Next::RollBack { reason, share })
            }
        }
    }

    /// What this check allows: a stopped pipeline or the judge's Fail rolls back; otherwise
    /// the operator's command is applied and the state machine (held by the judge's gate and
    /// ECS's lifecycle) picks the action.
    pub(super) async fn decide(
        &self,
        p: &UserParameters,
        d: &mut Deployment,
        check: &Check,
        share: u8,
        thread: &mut Thread,
    ) -> Result<ShiftAction, Next> {
        let o = &check.observed;
        if let Some(status) = self.stopped(check.context.as_ref()).await {
            // Checked at every check, so also right before the old side is scaled down:
            // nothing moves on once the pipeline stopped waiting.
            let reason = RollbackReason::PipelineStopped { status };
            return Err(Next::RollBack { reason, share });
        }
        self.steer(p, d, &o.command, &check.command_at, thread, o.now_ms)
            .await;
        let gate = self
            .judge_step(p, d, o.now_ms, thread)
            .await
            .and(steer_gate(d, o.now_ms));
        if let Gate::RollBack { message } = gate {
            let reason = RollbackReason::Analysis { evidence: message };
            return Err(Next::RollBack { reason, share });
        }
        Ok(match self.pre_scale_up(p, d, check, thread).await {
            Some(action) => action,
            None => {
                let action = hold(d, o, &gate, next_step(d, o));
                self.lifecycle(p, d, check, action, thread).await
            }
        })
    }

    /// Carries out the decided `action`.
    #[allow(clippy::too_many_arguments)] // one turn's state, as `drive` holds it
    pub(super) async fn apply(
        &self,
        p: &UserParameters,
        d: &mut Deployment,
        check: &Check,
        action: ShiftAction,
        share: u8,
        thread: &mut Thread,
        end: Instant,
    ) -> Next {
        match action {
            ShiftAction::Wait {
                phase,
                next_check_ms,
            } => {
                self.wait_step(p, d, phase, next_check_ms, thread, end)
                    .await
            }
            ShiftAction::Shift { weights, phase } => {
                self.shift_step(p, d, check, weights, phase, share, thread)
                    .await
            }
            ShiftAction::Finish => {
                self.consume_promote(d, &check.observed, &check.command_at)
                    .await;
                Next::Finish
            }
            ShiftAction::RollBack { reason } => Next::RollBack { reason, share },
        }
    }

    /// Holds the weights until the next check, telling Slack when the phase moved on; hands
    /// over when the wait would outlast the slice or is long enough to cost more than a
    /// continuation (`checks::budget::hands_back`).
    async fn wait_step(
        &self,
        p: &UserParameters,
        d: &mut Deployment,
        phase: Phase,
        next_check_ms: i64,
        thread: &mut Thread,
        end: Instant,
    ) -> Next {
        let moved = !same_step(d.phase, phase);
        *d = d.at(phase);
        if moved {
            self.log_step(p, d, "carrying on");
            self.tell_slack(p, d, ProgressOutcome::Running, thread)
                .await;
        }
        let wait = Duration::from_millis((next_check_ms - now_ms()).max(0) as u64);
        if instant_now() + wait >= end
            || crate::traffic::checks::budget::hands_back(wait, p.wait_between_checks)
        {
            return Next::HandOver;
        }
        sleep(wait).await;
        Next::Again
    }

    /// Writes the step's weights to the listener and reads them back; a write refused or a
    /// listener found changed by someone else rolls back.
    #[allow(clippy::too_many_arguments)] // one turn's state, as `drive` holds it
    async fn shift_step(
        &self,
        p: &UserParameters,
        d: &mut Deployment,
        check: &Check,
        weights: Weights,
        phase: Phase,
        share: u8,
        thread: &mut Thread,
    ) -> Next {
        if let Err(e) = self
            .balancer
            .set_weights(&p.traffic, &pairs(p, weights))
            .await
        {
            let reason = RollbackReason::Error {
                message: e.to_string(),
            };
            return Next::RollBack { reason, share };
        }
        if let Some(reason) = self.read_back(p, weights).await {
            // A person (or another tool) changed the listener as it was being set: stop now,
            // with what was found, rather than at the next check.
            return Next::RollBack { reason, share };
        }
        self.consume_promote(d, &check.observed, &check.command_at)
            .await;
        *d = d.at(phase);
        self.after_shift(p, d).await;
        self.note_weight(thread, new_share(d, &weights)).await;
        self.log_step(p, d, "shifted");
        self.tell_slack(p, d, ProgressOutcome::Running, thread)
            .await;
        Next::Again
    }
}
