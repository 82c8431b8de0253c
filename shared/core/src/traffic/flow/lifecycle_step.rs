//! ECS's lifecycle in the traffic shifter's loop
//! (docs/traffic-shifting.md#test-traffic-lifecycle-hooks-and-auto-scaling): test traffic through a
//! test listener, lifecycle hooks at each stage, and Application Auto Scaling kept out of the way.
//!
//! The decisions are `crate::traffic::setup::hooks` and `crate::traffic::phases::scaling` (pure); this file
//! does their I/O: invoking a hook's Lambda, posting a pause hook's buttons, moving the test
//! listener, suspending and restoring scale-in. The hook being run rides in the deployment
//! (`Deployment::hook`), so a hook that answers IN_PROGRESS for an hour spans many tokens.

use super::{pairs, services, Check};
use crate::analysis::verdict::utc;
use crate::clock::now_epoch_millis as now_ms;
use crate::traffic::phases::deployment::Deployment;
use crate::traffic::phases::phase::{Command, Phase, RollbackReason, ShiftAction};
use crate::traffic::phases::scaling::{new_side_floor, SavedScaling};
use crate::traffic::setup::hooks::{
    self, after_answer, decide_pause, details_to_send, read_answer, HookAnswer, HookContext,
    HookRun, HookStep, LifecycleHook, LifecycleStage, PauseClick,
};
use crate::traffic::setup::weights::read_weights;
use crate::traffic::steps::progress::Thread;
use crate::traffic::steps::report::{self, ProgressOutcome};
use crate::traffic::{
    Cluster, DeploymentStore, HookFunctions, LoadBalancer, ServiceScaling, ShiftError, Side,
    TrafficControl, UserParameters, Weights,
};

/// A pause hook's click, from the operator's command.
fn pause_click(command: Option<&Command>) -> Option<PauseClick> {
    match command? {
        Command::Continue { version, .. } => Some(PauseClick::Continue { version: *version }),
        Command::RollBack { by } => Some(PauseClick::RollBack { by: by.clone() }),
        _ => None,
    }
}

/// What the hooks of the current stage let the deployment do.
enum HookGate {
    /// Every hook of the stage passed.
    Passed,
    /// Still running (IN_PROGRESS, or a pause waiting): check again by `until_ms`.
    Hold {
        until_ms: i64,
    },
    RollBack(RollbackReason),
}

impl<P: crate::traffic::ShifterPorts> crate::traffic::Shifter<P> {
    /// At the start, before anything moves: what the deployment carries for its lifecycle
    /// (whether it tests, the saved auto scaling state, the PRE_SCALE_UP hooks to run first).
    pub(super) async fn with_lifecycle(
        &self,
        p: &UserParameters,
        mut d: Deployment,
        now_ms: i64,
    ) -> Result<Deployment, ShiftError> {
        d.tests = p.tests();
        if let Some(test) = &p.test_traffic {
            // The test listener's forward action is rewritten with the two target groups: it
            // must hold exactly those, or a team's other target group would be dropped.
            self.read_control(p, test).await.map_err(|e| match e {
                ShiftError::Weights(w) => ShiftError::Setup(format!(
                    "test_listener: {w} (its forward action must hold the blue and green target groups)"
                )),
                other => other,
            })?;
        }
        let (blue, green) = tokio::join!(
            self.scaling.suspended(&p.cluster, &p.blue.service),
            self.scaling.suspended(&p.cluster, &p.green.service),
        );
        d.scaling = SavedScaling {
            blue: blue?,
            green: green?,
        };
        d.hook = hooks::first_with_hooks(&p.lifecycle_hooks, &[LifecycleStage::PreScaleUp])
            .map(|s| HookRun::start(s, now_ms));
        Ok(d)
    }

    /// Whether the new side waits for PRE_SCALE_UP hooks before it is started.
    pub(super) fn before_scale_up(d: &Deployment) -> bool {
        matches!(&d.hook, Some(r) if r.stage == LifecycleStage::PreScaleUp)
    }

    /// Suspends dynamic scale-in on every side that is a scalable target (the saved state
    /// otherwise kept): idempotent, so a resumed start does it again harmlessly.
    pub(super) async fn suspend_scale_in(&self, p: &UserParameters, d: &Deployment) {
        for side in [Side::Blue, Side::Green] {
            let Some(saved) = d.scaling.of(side) else {
                continue;
            };
            let service = &p.side(side).service;
            if let Err(e) = self
                .scaling
                .set_suspended(&p.cluster, service, saved.without_scale_in())
                .await
            {
                tracing::warn!(deployment = %d.id, service = %service, error = %e, "could not suspend scale-in");
            }
        }
    }

    /// Puts back exactly the auto scaling state saved at the start. A failure is logged and
    /// named in the job's message: a person must put it back.
    pub(super) async fn restore_scaling(
        &self,
        p: &UserParameters,
        d: &Deployment,
    ) -> Option<String> {
        let mut failed = Vec::new();
        for side in [Side::Blue, Side::Green] {
            let Some(saved) = d.scaling.of(side) else {
                continue;
            };
            let service = &p.side(side).service;
            // Already as saved (its scale-in was never suspended: a target the role may not
            // change, see docs/traffic-shifting.md): nothing to put back.
            if matches!(self.scaling.suspended(&p.cluster, service).await, Ok(Some(now)) if now == saved)
            {
                continue;
            }
            let result = crate::traffic::steps::retry::until(
                crate::clock::instant_now() + std::time::Duration::from_secs(5),
                || self.scaling.set_suspended(&p.cluster, service, saved),
            )
            .await;
            if let Err(e) = result {
                tracing::error!(deployment = %d.id, service = %service, error = %e, "could not restore the auto scaling state");
                failed.push(service.clone());
            }
        }
        (!failed.is_empty()).then(|| {
            format!(
                "; the auto scaling state of {} could not be restored (scale-in stays suspended)",
                failed.join(", ")
            )
        })
    }

    /// The PRE_SCALE_UP stage, decided before the state machine (whose readiness checks would
    /// see a service not started yet): `Some` action while it is pending.
    pub(super) async fn pre_scale_up(
        &self,
        p: &UserParameters,
        d: &mut Deployment,
        check: &Check,
        thread: &mut Thread,
    ) -> Option<ShiftAction> {
        if !Self::before_scale_up(d) {
            return None;
        }
        let o = &check.observed;
        self.drop_stray_continue(p, d, check).await;
        if let Some(Command::RollBack { by }) = &o.command {
            return Some(ShiftAction::RollBack {
                reason: RollbackReason::Operator { by: by.clone() },
            });
        }
        Some(match self.run_hooks(p, d, check, thread).await {
            HookGate::Hold { until_ms } => self.hold_for(d, o.now_ms, until_ms),
            HookGate::RollBack(reason) => ShiftAction::RollBack { reason },
            HookGate::Passed => {
                let idle = p.side(d.new_side());
                if let Err(e) = self
                    .cluster
                    .update_service(
                        &p.cluster,
                        &idle.service,
                        Some(&d.task_definition),
                        d.desired,
                    )
                    .await
                {
                    return Some(ShiftAction::RollBack {
                        reason: RollbackReason::Error {
                            message: e.to_string(),
                        },
                    });
                }
                d.hook = None;
                // The new side starts now: its readiness is timed from here.
                let now = now_ms();
                *d = d.at(Phase::Stabilizing { since_ms: now });
                ShiftAction::Wait {
                    phase: d.phase,
                    next_check_ms: now,
                }
            }
        })
    }

    /// The lifecycle's gate on the state machine's `action`: entering `Testing` moves the test
    /// listener and starts the testing stages' hooks; a pending stage holds every move until
    /// its hooks passed. A rollback is never held.
    pub(super) async fn lifecycle(
        &self,
        p: &UserParameters,
        d: &mut Deployment,
        check: &Check,
        action: ShiftAction,
        thread: &mut Thread,
    ) -> ShiftAction {
        let o = &check.observed;
        if matches!(action, ShiftAction::RollBack { .. }) {
            return action;
        }
        self.drop_stray_continue(p, d, check).await;
        if let ShiftAction::Wait {
            phase: phase @ Phase::Testing { .. },
            ..
        } = action
        {
            if !matches!(d.phase, Phase::Testing { .. }) {
                *d = d.at(phase);
                let (first, move_now) = hooks::testing_starts(&p.lifecycle_hooks);
                if move_now {
                    if let Err(reason) = self.move_test_traffic(p, d).await {
                        return ShiftAction::RollBack { reason };
                    }
                }
                d.hook = first.map(|s| HookRun::start(s, o.now_ms));
                self.log_step(p, d, "testing");
                self.tell_slack(p, d, ProgressOutcome::Running, thread)
                    .await;
            }
        }
        if let ShiftAction::Wait {
            phase: phase @ Phase::Shifting { step, .. },
            ..
        } = action
        {
            // A crashed invocation had already taken this step: its hooks still run.
            if !matches!(d.phase, Phase::Shifting { step: s, .. } if s == step) {
                let at_full = d.plan.step(step).is_some_and(|s| s.percent >= 100);
                *d = d.at(phase);
                d.hook = hooks::after_production_step(&p.lifecycle_hooks, at_full)
                    .map(|s| HookRun::start(s, o.now_ms));
            }
        }
        let Some(run) = d.hook.clone() else {
            return action;
        };
        match self.run_hooks(p, d, check, thread).await {
            HookGate::Hold { until_ms } => self.hold_for(d, o.now_ms, until_ms),
            HookGate::RollBack(reason) => ShiftAction::RollBack { reason },
            HookGate::Passed => {
                if run.stage == LifecycleStage::PostScaleUp {
                    if let Err(reason) = self.move_test_traffic(p, d).await {
                        return ShiftAction::RollBack { reason };
                    }
                }
                let at_full = matches!(d.phase, Phase::Shifting { step, .. }
                    if d.plan.step(step).is_some_and(|s| s.percent >= 100));
                let now = now_ms();
                d.hook = hooks::stage_after(&p.lifecycle_hooks, run.stage, at_full)
                    .map(|s| HookRun::start(s, now));
                tracing::info!(deployment = %d.id, stage = %run.stage, "lifecycle hooks passed");
                // Look again at once: the next stage, or the state machine's next move.
                ShiftAction::Wait {
                    phase: d.phase,
                    next_check_ms: now,
                }
            }
        }
    }

    /// After a production step was taken: its PRODUCTION_TRAFFIC_SHIFT hooks (and at 100%,
    /// the POST_PRODUCTION_TRAFFIC_SHIFT ones) run before it may move on; with auto scaling,
    /// the new side gets at least its share of the live side's tasks.
    pub(super) async fn after_shift(&self, p: &UserParameters, d: &mut Deployment) {
        let Phase::Shifting { step, .. } = d.phase else {
            return;
        };
        let percent = d.plan.step(step).map_or(100, |s| s.percent);
        d.hook = hooks::after_production_step(&p.lifecycle_hooks, percent >= 100)
            .map(|s| HookRun::start(s, now_ms()));
        self.keep_new_side_floor(p, d, percent).await;
    }

    /// With auto scaling on either side: the new side's desired count is at least
    /// ceil(`percent` × the live side's desired count) (the live side may have scaled out).
    pub(super) async fn keep_new_side_floor(
        &self,
        p: &UserParameters,
        d: &Deployment,
        percent: u8,
    ) {
        if d.scaling.is_empty() {
            return;
        }
        let (live, new) = (p.side(d.live), p.side(d.new_side()));
        let (live_now, new_now) = tokio::join!(
            self.cluster.service(&p.cluster, &live.service),
            self.cluster.service(&p.cluster, &new.service),
        );
        let (Ok(Some(live_now)), Ok(Some(new_now))) = (live_now, new_now) else {
            tracing::warn!(deployment = %d.id, "could not read the services to size the new side");
            return;
        };
        let floor = new_side_floor(percent, live_now.desired, new_now.desired);
        if floor > new_now.desired {
            tracing::info!(deployment = %d.id, service = %new.service, from = new_now.desired, to = floor, "sizing the new side for its share");
            if let Err(e) = self
                .cluster
                .update_service(&p.cluster, &new.service, None, floor)
                .await
            {
                tracing::warn!(deployment = %d.id, error = %e, "could not size the new side");
            }
        }
    }

    /// Test traffic back to the live side (a rollback).
    pub(super) async fn set_test_back(
        &self,
        p: &UserParameters,
        d: &Deployment,
    ) -> Result<(), ShiftError> {
        let Some(test) = &p.test_traffic else {
            return Ok(());
        };
        self.put_back(p, test, Weights::all_to(d.live)).await
    }

    /// All test traffic to the new side, read back.
    async fn move_test_traffic(
        &self,
        p: &UserParameters,
        d: &Deployment,
    ) -> Result<(), RollbackReason> {
        let Some(test) = &p.test_traffic else {
            return Ok(());
        };
        let to = Weights::all_to(d.new_side());
        let error = |e: ShiftError| RollbackReason::Error {
            message: e.to_string(),
        };
        self.balancer
            .set_weights(test, &pairs(p, to))
            .await
            .map_err(error)?;
        let found = self.read_control(p, test).await.map_err(error)?;
        if !found.same_shares(&to) {
            return Err(RollbackReason::Error {
                message: format!(
                    "the test {} does not show the weights just set ({found})",
                    test.describe()
                ),
            });
        }
        tracing::info!(deployment = %d.id, to = %d.new_side(), "test traffic on the new side");
        Ok(())
    }

    async fn read_control(
        &self,
        p: &UserParameters,
        control: &TrafficControl,
    ) -> Result<Weights, ShiftError> {
        let forward = self.balancer.forward(control).await?;
        Ok(read_weights(
            &forward,
            &p.blue.target_group_arn,
            &p.green.target_group_arn,
            &control.describe(),
        )?)
    }

    fn hold_for(&self, d: &Deployment, now_ms: i64, until_ms: i64) -> ShiftAction {
        ShiftAction::Wait {
            phase: d.phase,
            next_check_ms: until_ms
                .min(now_ms + i64::from(d.timing.check_seconds) * 1000)
                .max(now_ms),
        }
    }

    /// Runs the current stage's hooks from the one `d.hook` points at, as far as they go now.
    async fn run_hooks(
        &self,
        p: &UserParameters,
        d: &mut Deployment,
        check: &Check,
        thread: &mut Thread,
    ) -> HookGate {
        let o = &check.observed;
        loop {
            let Some(run) = d.hook.clone() else {
                return HookGate::Passed;
            };
            let Some(hook) = hooks::current(&p.lifecycle_hooks, &run) else {
                return HookGate::Passed;
            };
            let step = match hook {
                LifecycleHook::Function { arn, details, .. } => {
                    let now = now_ms();
                    if now < run.due_ms {
                        return HookGate::Hold {
                            until_ms: run.due_ms,
                        };
                    }
                    let payload = hooks::payload(
                        run.stage,
                        &details_to_send(&run, details),
                        &self.hook_context(p, d, check),
                    );
                    let answer = match self.hooks.invoke(arn, &payload.to_string()).await {
                        Ok(invocation) => read_answer(&invocation),
                        Err(e) => HookAnswer::Failed {
                            reason: format!("it could not be invoked ({e})"),
                        },
                    };
                    tracing::info!(deployment = %d.id, stage = %run.stage, hook = %arn, answer = ?answer, call = run.calls + 1, "lifecycle hook answered");
                    after_answer(&run, &answer, now_ms())
                }
                LifecycleHook::Pause {
                    timeout_minutes,
                    timeout_action,
                    ..
                } => {
                    if run.calls == 0 {
                        // First sight: the Continue button goes up on the deployment's message.
                        d.hook = Some(HookRun {
                            calls: 1,
                            ..run.clone()
                        });
                        self.tell_slack_final(
                            p,
                            d,
                            ProgressOutcome::Running,
                            &format!(
                                "{}; waiting at {} for Continue (or Roll back), at most {timeout_minutes} min",
                                report::summary(d, &services(p, d), o.now_ms),
                                run.stage
                            ),
                            thread,
                        )
                        .await;
                    }
                    let step = decide_pause(
                        &run,
                        *timeout_minutes,
                        *timeout_action,
                        pause_click(o.command.as_ref()).as_ref(),
                        d.judged.controls,
                        o.now_ms,
                    );
                    if let (HookStep::Passed(_), Some(Command::Continue { by, .. })) =
                        (&step, &o.command)
                    {
                        self.consume_continue(
                            d,
                            check,
                            &format!("continue at {} by <@{by}>: applied", run.stage),
                        )
                        .await;
                        d.judged.controls = d.judged.controls.saturating_add(1);
                    }
                    if matches!(step, HookStep::Passed(_)) {
                        d.hook = None;
                        let status = report::summary(d, &services(p, d), o.now_ms);
                        self.tell_slack_final(p, d, ProgressOutcome::Running, &status, thread)
                            .await;
                    }
                    step
                }
            };
            match step {
                HookStep::Passed(next) => d.hook = Some(next),
                HookStep::Again(next) => {
                    let until_ms = next.due_ms;
                    d.hook = Some(next);
                    return HookGate::Hold { until_ms };
                }
                HookStep::Waiting => {
                    return HookGate::Hold {
                        until_ms: o.now_ms + i64::from(d.timing.check_seconds) * 1000,
                    }
                }
                HookStep::RollBack { reason } => {
                    return HookGate::RollBack(RollbackReason::Hook {
                        hook: hook.label(),
                        stage: run.stage.to_string(),
                        reason,
                    })
                }
            }
        }
    }

    /// ECS's view of the deployment, for a hook's payload.
    fn hook_context(&self, p: &UserParameters, d: &Deployment, check: &Check) -> HookContext {
        let arn = |side: Side| {
            let spec = p.side(side);
            hooks::service_arn(&spec.target_group_arn, &p.cluster, &spec.service)
        };
        let new = d.new_side();
        HookContext {
            execution_id: d.id.clone(),
            live_revision: hooks::revision_key(
                &d.live_task_definition,
                &d.task_definition,
                &arn(d.live),
            ),
            new_service_arn: arn(new),
            target_revision_arn: d.task_definition.clone(),
            test_percent: p
                .test_traffic
                .as_ref()
                .map(|_| crate::traffic::phases::phase::expected_test_weights(d).percent(new)),
            production_percent: check.observed.weights.percent(new),
        }
    }

    /// A Continue that no pause hook is waiting for (a stale click, or a pause that already
    /// ended) is removed, so it does not stand in the way of the next click.
    async fn drop_stray_continue(&self, p: &UserParameters, d: &Deployment, check: &Check) {
        let Some(Command::Continue { by, version }) = &check.observed.command else {
            return;
        };
        let pausing = hooks::pausing_at(&p.lifecycle_hooks, d.hook.as_ref()).is_some();
        if pausing && *version == d.judged.controls {
            return;
        }
        self.consume_continue(
            d,
            check,
            &format!("continue by <@{by}> (controls v{version}): ignored, no pause hook is waiting for it"),
        )
        .await;
    }

    async fn consume_continue(&self, d: &Deployment, check: &Check, text: &str) {
        if let Err(e) = self
            .store
            .clear_command(&d.id, check.command_at.as_deref())
            .await
        {
            tracing::warn!(deployment = %d.id, error = %e, "could not clear the continue command");
        }
        let entry = format!("{} {text}", utc(check.observed.now_ms / 1000));
        if let Err(e) = self.store.audit(&d.id, &entry).await {
            tracing::warn!(deployment = %d.id, error = %e, "could not write the audit trail");
        }
    }
}
