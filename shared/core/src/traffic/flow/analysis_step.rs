//! The canary judge in the traffic shifter's loop (docs/analysis.md#in-the-traffic-shifter): per
//! check, while a step with a bake holds part of the traffic on the new side, fetch both sides'
//! load-balancer metrics in one request, judge the windows not judged before, and gate the step: it
//! advances only once its bake passed (`analysis::decide_step`); a Fail rolls back at once with the
//! evidence.
//!
//! The pure part (`StepState`, `gate_step`, `hold`) decides; `Shifter::judge_step` does the I/O.
//! What the judge remembers rides in the continuation token (`Deployment::judged`).

use crate::analysis::verdict::utc;
use crate::analysis::{
    decide_step, judge, metric_queries, series_from_results, settled, windows_from_series,
    AlbDimensions, AnalysisConfig, BakeTime, CanaryVerdict, StepDecision, Window,
};
use crate::traffic::phases::deployment::Deployment;
use crate::traffic::phases::judged::{StepState, WindowLine, PERIOD_SECONDS};
use crate::traffic::phases::phase::{Command, Observed, Phase, ShiftAction};
use crate::traffic::steps::progress::Thread;
use crate::traffic::{DeploymentStore, TargetMetrics, UserParameters};

/// The latest windows kept for the Slack message.
const KEPT_WINDOWS: usize = 5;

/// The longest a bake can be extended, in total.
pub const MAX_EXTRA_SECONDS: u32 = 24 * 3600;

/// What a control from Slack did to `d` at `now_ms`: applied (the new state), or ignored
/// (stale, or refused because it would push the deployment past the time its action may still
/// run: `budget::control_over_limit`); with the audit text.
pub fn apply_control(
    d: &Deployment,
    command: &Command,
    now_ms: i64,
) -> Option<(StepState, String)> {
    let (state, phase) = (&d.judged, d.phase);
    let (by, version, what) = match command {
        Command::Pause { by, version } => (by, *version, "pause".to_string()),
        Command::Resume { by, version } => (by, *version, "resume".to_string()),
        Command::Extend {
            by,
            version,
            minutes,
        } => (by, *version, format!("extend bake +{minutes} min")),
        Command::Promote { .. } | Command::RollBack { .. } | Command::Continue { .. } => {
            return None
        }
    };
    let head = format!("{what} by <@{by}> (controls v{version})");
    if version != state.controls {
        return Some((
            state.clone(),
            format!(
                "{head}: ignored, stale (controls are at v{})",
                state.controls
            ),
        ));
    }
    if let Some(refusal) = crate::traffic::checks::budget::control_over_limit(d, command, now_ms) {
        return Some((state.clone(), format!("{head}: {refusal}")));
    }
    let mut next = state.clone();
    next.controls = state.controls.saturating_add(1);
    let outcome = match command {
        Command::Pause { .. } => {
            // It holds only while the plan can still end in time (`steer_gate`).
            next.paused = true;
            "applied: the weights hold".to_string()
        }
        Command::Resume { .. } => {
            next.paused = false;
            "applied".to_string()
        }
        Command::Extend { minutes, .. } => {
            let Phase::Shifting { step, .. } = phase else {
                return Some((state.clone(), format!("{head}: ignored, no step is baking")));
            };
            if next.extended_step != Some(step) {
                next.extra_seconds = 0;
                next.extended_step = Some(step);
            }
            next.extra_seconds = next
                .extra_seconds
                .saturating_add(minutes.saturating_mul(60))
                .min(MAX_EXTRA_SECONDS);
            format!("applied: the bake is {} s longer", next.extra_seconds)
        }
        _ => return None,
    };
    Some((next, format!("{head}: {outcome}")))
}

/// The extra bake the current step has.
pub fn extra_ms(d: &Deployment) -> i64 {
    match d.phase {
        Phase::Shifting { step, .. } if d.judged.extended_step == Some(step) => {
            i64::from(d.judged.extra_seconds) * 1000
        }
        _ => 0,
    }
}

/// What the controls from Slack let the step do: hold while paused or within an extended bake.
pub fn steer_gate(d: &Deployment, now_ms: i64) -> Gate {
    // A pause holds only while the rest of the plan can still end before CodePipeline's limit
    // for the action: past that, CodePipeline would end it with traffic split, so it rolls
    // back (what a person who paused it would rather have than a promotion nobody watched).
    if d.judged.paused {
        if crate::traffic::checks::budget::room_ms(d, now_ms) > 0 {
            return Gate::Hold;
        }
        return Gate::RollBack {
            message: "paused from Slack until the rest of the plan could no longer end before CodePipeline's limit for the action".into(),
        };
    }
    if let Phase::Shifting { step, since_ms } = d.phase {
        let hold_ms = i64::from(d.plan.step(step).map_or(0, |s| s.hold_seconds)) * 1000;
        if extra_ms(d) > 0 && now_ms < since_ms + hold_ms + extra_ms(d) {
            return Gate::Hold;
        }
    }
    Gate::Proceed
}

impl Gate {
    /// The stricter of two gates.
    pub fn and(self, other: Gate) -> Gate {
        let rank = |g: &Gate| match g {
            Gate::Proceed => 0,
            Gate::Hold => 1,
            Gate::AskPerson { .. } => 2,
            Gate::RollBack { .. } => 3,
        };
        if rank(&other) > rank(&self) {
            other
        } else {
            self
        }
    }
}

/// What the judge lets the current step do.
#[derive(Debug, Clone, PartialEq)]
pub enum Gate {
    /// Nothing to hold: the state machine decides as without a judge.
    Proceed,
    /// Keep the weights: the bake has not passed yet.
    Hold,
    /// Roll back now: `message` is the `analysis: ...` evidence.
    RollBack { message: String },
    /// Keep the weights and ask a person, once (`message` says why).
    AskPerson { message: String },
}

/// The step the judge watches, if the phase is one: a step that holds part of the traffic on
/// the new side for a bake. Returns (step, when it started in ms, its bake in seconds).
pub fn judged_step(d: &Deployment) -> Option<(usize, i64, u32)> {
    match d.phase {
        Phase::Shifting { step, since_ms } => d
            .plan
            .step(step)
            .filter(|s| s.percent < 100 && s.hold_seconds > 0)
            .map(|s| (step, since_ms, s.hold_seconds)),
        _ => None,
    }
}

/// Starts the step's tally when the step changed. Returns the state to judge from.
pub fn enter_step(state: &StepState, step: usize, since_ms: i64) -> StepState {
    let mut s = state.clone();
    if s.step != Some(step) {
        s.judge.start_step();
        s.step = Some(step);
        s.asked = false;
    }
    if s.since == 0 {
        s.since = (since_ms / 1000).div_euclid(PERIOD_SECONDS) * PERIOD_SECONDS;
    }
    s
}

/// The metrics' time range for a check at `now_s`: from the new side's first traffic to the
/// end of the last period that can be settled.
pub fn query_range(state: &StepState, now_s: i64, settle_seconds: i64) -> (i64, i64) {
    let start = state.since;
    let end = (now_s - settle_seconds).div_euclid(PERIOD_SECONDS) * PERIOD_SECONDS + PERIOD_SECONDS;
    (start, end.max(start + PERIOD_SECONDS))
}

/// Judges the settled windows not judged before and gates the step. `windows` is `None` when
/// the metrics could not be read (the step then holds: nothing advances unjudged).
pub fn gate_step(
    config: &AnalysisConfig,
    state: &StepState,
    windows: Option<&[Window]>,
    now_ms: i64,
    bake_end_ms: i64,
    bake_ms: i64,
    settle_seconds: i64,
) -> (StepState, Gate, Vec<CanaryVerdict>) {
    let Some(windows) = windows else {
        return (state.clone(), Gate::Hold, Vec::new());
    };
    let ready = settled(windows, now_ms / 1000, PERIOD_SECONDS, settle_seconds);
    let (judged, mut verdicts) = judge(config, &state.judge, &ready);
    // A Fail ends the deployment: the windows after it in the same check are not shown.
    if let Some(fail) = verdicts.iter().position(CanaryVerdict::is_fail) {
        verdicts.truncate(fail + 1);
    }
    let mut next = state.clone();
    next.judge = judged;
    next.recent.extend(verdicts.iter().map(WindowLine::of));
    let extra = next.recent.len().saturating_sub(KEPT_WINDOWS);
    next.recent.drain(..extra);
    let time = BakeTime::at(now_ms, bake_end_ms, bake_ms);
    let gate = match decide_step(config, &next.judge.bake, &verdicts, time) {
        StepDecision::Advance => Gate::Proceed,
        StepDecision::Wait => Gate::Hold,
        StepDecision::RollBack { message, .. } => Gate::RollBack { message },
        StepDecision::AskPerson { message } if !next.asked => {
            next.asked = true;
            Gate::AskPerson { message }
        }
        StepDecision::AskPerson { .. } => Gate::Hold,
    };
    (next, gate, verdicts)
}

/// The state machine's action, held back when the gate holds: a move past the judged step
/// becomes a wait at the same weights. A person's Promote now or Roll back is never held.
pub fn hold(d: &Deployment, o: &Observed, gate: &Gate, action: ShiftAction) -> ShiftAction {
    let person_decided = matches!(
        o.command,
        Some(Command::Promote { .. }) | Some(Command::RollBack { .. })
    );
    if matches!(gate, Gate::Proceed) || person_decided {
        return action;
    }
    let Phase::Shifting { step, .. } = d.phase else {
        return action;
    };
    let moves_on = match &action {
        ShiftAction::Shift {
            phase: Phase::Shifting { step: next, .. },
            ..
        } => *next > step,
        ShiftAction::Shift { .. } | ShiftAction::Finish => true,
        ShiftAction::Wait { phase, .. } => {
            !matches!(phase, Phase::Shifting { step: s, .. } if *s == step)
        }
        ShiftAction::RollBack { .. } => false,
    };
    if !moves_on {
        return action;
    }
    ShiftAction::Wait {
        phase: d.phase,
        next_check_ms: o.now_ms + i64::from(d.timing.check_seconds) * 1000,
    }
}

/// The load balancer's ARN from the listener's or rule's ARN (they share its name and id):
/// `…:listener/app/<name>/<id>/<listener>` -> `…:loadbalancer/app/<name>/<id>`.
pub fn load_balancer_arn(control: &crate::traffic::TrafficControl) -> Option<String> {
    let arn = control.arn();
    let (head, rest) = arn
        .split_once(":listener/")
        .or_else(|| arn.split_once(":listener-rule/"))?;
    let parts: Vec<&str> = rest.split('/').collect();
    if parts.len() < 4 || parts[0] != "app" {
        return None;
    }
    Some(format!(
        "{head}:loadbalancer/{}/{}/{}",
        parts[0], parts[1], parts[2]
    ))
}

impl<P: crate::traffic::ShifterPorts> crate::traffic::Shifter<P> {
    /// One check's judging: reads both sides' metrics in one request, judges, keeps the state
    /// in `d`, and says what the step may do. Updates the Slack message when windows were
    /// judged, and replies in the execution's thread when a person is asked or on a Fail.
    pub(super) async fn judge_step(
        &self,
        p: &UserParameters,
        d: &mut Deployment,
        now_ms: i64,
        thread: &mut Thread,
    ) -> Gate {
        let (Some(config), Some((step, since_ms, bake_seconds))) =
            (p.analysis.as_ref(), judged_step(d))
        else {
            return Gate::Proceed;
        };
        let state = enter_step(&d.judged, step, since_ms);
        let new = p.side(d.new_side());
        let live = p.side(d.live);
        let lb = load_balancer_arn(&p.traffic);
        let dims = lb.as_deref().and_then(|lb| {
            Some((
                AlbDimensions::from_arns(lb, &new.target_group_arn).ok()?,
                AlbDimensions::from_arns(lb, &live.target_group_arn).ok()?,
            ))
        });
        let windows = match dims {
            None => {
                tracing::warn!(deployment = %d.id, "analysis: the load balancer's dimensions could not be read; holding the step");
                None
            }
            Some((n, l)) => {
                let queries = metric_queries(&n, &l, PERIOD_SECONDS as i32);
                let (start, end) = query_range(&state, now_ms / 1000, self.analysis_settle_seconds);
                match self.alarms.series(&queries, start, end).await {
                    Ok(found) => {
                        let (n, l) = series_from_results(
                            found.iter().map(|s| (s.id.as_str(), s.points.clone())),
                        );
                        Some(windows_from_series(&n, &l))
                    }
                    Err(e) => {
                        tracing::warn!(deployment = %d.id, error = %e, "analysis: metrics not read; holding the step");
                        None
                    }
                }
            }
        };
        let bake_end_ms = since_ms + i64::from(bake_seconds) * 1000 + extra_ms(d);
        let (next, gate, verdicts) = gate_step(
            config,
            &state,
            windows.as_deref(),
            now_ms,
            bake_end_ms,
            i64::from(bake_seconds) * 1000,
            self.analysis_settle_seconds,
        );
        for v in &verdicts {
            tracing::info!(deployment = %d.id, verdict = v.name(), evidence = %v, "analysis");
        }
        d.judged = next;
        match &gate {
            Gate::RollBack { message } => self.reply_in_thread(d, thread, message).await,
            Gate::AskPerson { message } => {
                let text = format!("{message}. The weights stay where they are: *Promote now* or *Roll back* on the deployment's message.");
                self.reply_in_thread(d, thread, &text).await;
            }
            _ => {}
        }
        if !verdicts.is_empty() && !matches!(gate, Gate::RollBack { .. }) {
            self.tell_slack_running(p, d, thread, now_ms).await;
        }
        gate
    }

    /// Applies a Pause, Resume or Extend bake waiting in the record (or ignores a stale one, or
    /// refuses one past the action's limit, saying so in the thread), clears it, writes the
    /// audit trail and updates the Slack message.
    pub(super) async fn steer(
        &self,
        p: &UserParameters,
        d: &mut Deployment,
        command: &Option<Command>,
        command_at: &Option<String>,
        thread: &mut Thread,
        now_ms: i64,
    ) {
        let Some((next, text)) = command.as_ref().and_then(|c| apply_control(d, c, now_ms)) else {
            return;
        };
        // A refusal is said in the thread: the message alone would not show why nothing held.
        let refused = command.as_ref().is_some_and(|c| {
            c.version() == Some(d.judged.controls)
                && crate::traffic::checks::budget::control_over_limit(d, c, now_ms).is_some()
        });
        d.judged = next;
        tracing::info!(deployment = %d.id, control = %text, "control from Slack");
        if let Err(e) = self.store.set_controls(&d.id, d.judged.controls).await {
            tracing::warn!(deployment = %d.id, error = %e, "could not record the controls' version");
        }
        if let Err(e) = self.store.clear_command(&d.id, command_at.as_deref()).await {
            tracing::warn!(deployment = %d.id, error = %e, "could not clear the control");
        }
        let entry = format!("{} {text}", utc(now_ms / 1000));
        if let Err(e) = self.store.audit(&d.id, &entry).await {
            tracing::warn!(deployment = %d.id, error = %e, "could not write the audit trail");
        }
        if refused {
            self.reply_in_thread(d, thread, &text).await;
        }
        self.tell_slack_running(p, d, thread, now_ms).await;
    }

    /// Updates the deployment's Slack message: still running, its status as of `now_ms` (the
    /// check's own clock, not the wall clock `tell_slack` reads).
    async fn tell_slack_running(
        &self,
        p: &UserParameters,
        d: &Deployment,
        thread: &mut Thread,
        now_ms: i64,
    ) {
        let status = crate::traffic::steps::report::summary(d, &super::services(p, d), now_ms);
        self.tell_slack_final(
            p,
            d,
            crate::traffic::steps::report::ProgressOutcome::Running,
            &status,
            thread,
        )
        .await;
    }

    /// A reply in the execution's Slack thread (the rollback's evidence, a question).
    async fn reply_in_thread(&self, d: &Deployment, thread: &Thread, text: &str) {
        let Some(slack) = &self.slack else { return };
        if let Err(e) = slack.reply(&self.store, thread, text).await {
            tracing::warn!(deployment = %d.id, error = %e, "analysis: Slack reply not posted");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::SideStats;
    use crate::traffic::{Side, TrafficControl, Weights};

    fn window(start: i64, new: (u64, u64), live: (u64, u64)) -> Window {
        let side = |(requests, errors)| SideStats {
            requests,
            errors,
            p99: Some(0.1),
        };
        Window {
            start,
            new: side(new),
            live: side(live),
        }
    }

    /// A 5-minute canary at 10% since `since_ms`, checked every 15 s.
    fn canary_at_ten_percent(since_ms: i64) -> Deployment {
        let mut d = crate::traffic::sample::canary(300).at(Phase::Shifting { step: 0, since_ms });
        d.timing.check_seconds = 15;
        d
    }

    #[test]
    fn a_pause_holds_until_the_plan_could_no_longer_end_in_time_then_rolls_back() {
        let mut d = canary_at_ten_percent(0);
        d.judged.paused = true;
        assert_eq!(steer_gate(&d, 60_000), Gate::Hold);
        let out_of_room = crate::traffic::checks::preflight::MAX_ACTION_SECONDS as i64 * 1000;
        let Gate::RollBack { message } = steer_gate(&d, out_of_room) else {
            panic!("held past the action's limit");
        };
        assert!(message.starts_with("paused from Slack until"), "{message}");
    }

    #[test]
    fn the_load_balancer_comes_from_the_listener_or_rule_arn() {
        let lb = "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/shop/50dc6c495c0c9188";
        for control in [
            TrafficControl::Listener("arn:aws:elasticloadbalancing:us-east-1:123456789012:listener/app/shop/50dc6c495c0c9188/f2f7dc8efc522ab2".into()),
            TrafficControl::Rule("arn:aws:elasticloadbalancing:us-east-1:123456789012:listener-rule/app/shop/50dc6c495c0c9188/f2f7dc8efc522ab2/9683b2d02a6cabee".into()),
        ] {
            assert_eq!(load_balancer_arn(&control).as_deref(), Some(lb));
        }
        assert_eq!(
            load_balancer_arn(&TrafficControl::Listener(
                "arn:aws:elasticloadbalancing:us-east-1:1:listener/net/x/1/2".into()
            )),
            None
        );
    }

    #[test]
    fn only_a_partial_step_with_a_bake_is_judged() {
        let d = canary_at_ten_percent(1_000);
        assert_eq!(judged_step(&d), Some((0, 1_000, 300)));
        assert_eq!(
            judged_step(&d.at(Phase::Shifting {
                step: 1,
                since_ms: 0
            })),
            None
        );
        assert_eq!(judged_step(&d.at(Phase::Stabilizing { since_ms: 0 })), None);
    }

    #[test]
    fn a_fail_rolls_back_and_the_windows_after_it_are_not_shown() {
        let c = AnalysisConfig::default();
        let s = enter_step(&StepState::default(), 0, 60_000);
        assert_eq!(s.since, 60);
        let ws: Vec<Window> = (1..=4)
            .map(|i| window(i * 60, (300, 30), (2700, 27)))
            .collect();
        let (next, gate, verdicts) =
            gate_step(&c, &s, Some(&ws), 10_000_000, 20_000_000, 600_000, 120);
        assert!(
            matches!(gate, Gate::RollBack { ref message } if message.starts_with("analysis: fail"))
        );
        assert!(verdicts.last().is_some_and(CanaryVerdict::is_fail));
        assert_eq!(next.recent.last().map(|w| w.verdict), Some('f'));
    }

    #[test]
    fn windows_cloudwatch_is_still_filling_wait_and_unreadable_metrics_hold() {
        let c = AnalysisConfig::default();
        let s = enter_step(&StepState::default(), 0, 0);
        let ws = [window(60, (300, 3), (2700, 27))];
        // The window ends at 120 s; it is settled at 240 s.
        let (next, gate, v) = gate_step(&c, &s, Some(&ws), 200_000, 100_000, 600_000, 120);
        assert!(v.is_empty());
        assert_eq!(
            gate,
            Gate::AskPerson {
                message: "analysis: inconclusive: the bake ended with no window in which the new side served 50 requests (0 inconclusive windows); on_inconclusive is pause".into()
            }
        );
        let (_, again, _) = gate_step(&c, &next, Some(&ws), 201_000, 100_000, 600_000, 120);
        assert_eq!(again, Gate::Hold, "a person is asked once");
        let (_, gate, v) = gate_step(&c, &s, Some(&ws), 240_000, 300_000, 600_000, 120);
        assert_eq!((gate, v.len()), (Gate::Hold, 1), "passed, bake not over");
        let (_, gate, _) = gate_step(&c, &s, Some(&ws), 240_000, 200_000, 600_000, 120);
        assert_eq!(gate, Gate::Proceed);
        let (_, gate, _) = gate_step(&c, &s, None, 240_000, 200_000, 600_000, 120);
        assert_eq!(gate, Gate::Hold);
    }

    #[test]
    fn a_held_step_does_not_move_on_but_a_person_can_move_it() {
        let d = canary_at_ten_percent(0);
        let o = Observed {
            now_ms: 400_000,
            weights: Weights::split(Side::Green, 10),
            idle: crate::traffic::ServiceStatus {
                task_definition: d.task_definition.clone(),
                desired: 2,
                running: 2,
                deployments: 1,
                rollout: crate::traffic::phases::phase::Rollout::Completed,
            },
            idle_targets: crate::traffic::TargetHealth {
                target_group: "green".into(),
                healthy: 2,
                ..Default::default()
            },
            alarms: vec![],
            command: None,
        };
        let action = crate::traffic::next_step(&d, &o);
        assert!(matches!(action, ShiftAction::Shift { .. }));
        assert_eq!(
            hold(&d, &o, &Gate::Hold, action.clone()),
            ShiftAction::Wait {
                phase: d.phase,
                next_check_ms: 415_000
            }
        );
        assert_eq!(hold(&d, &o, &Gate::Proceed, action.clone()), action);
        let promoted = Observed {
            command: Some(crate::traffic::Command::Promote { by: "U1".into() }),
            ..o
        };
        let action = crate::traffic::next_step(&d, &promoted);
        assert_eq!(hold(&d, &promoted, &Gate::Hold, action.clone()), action);
    }

    #[test]
    fn the_token_with_the_judge_state_stays_within_codepipelines_limit() {
        let c = AnalysisConfig::default();
        let mut d = canary_at_ten_percent(0);
        let long = |rev| {
            format!(
                "arn:aws-us-gov:ecs:us-gov-west-1:123456789012:task-definition/{}:{rev}",
                "f".repeat(255)
            )
        };
        d.task_definition = long(1_000_000);
        d.idle_before.task_definition = long(999_999);
        d.id = "j".repeat(64);
        let s = enter_step(&StepState::default(), 0, 0);
        let ws: Vec<Window> = (1..=30)
            .map(|i| {
                window(
                    i * 60,
                    (u64::MAX / 64, u64::MAX / 640),
                    (u64::MAX / 64, u64::MAX / 640),
                )
            })
            .collect();
        let (next, _, _) = gate_step(&c, &s, Some(&ws), i64::MAX / 2, 0, 600_000, 120);
        assert_eq!(next.recent.len(), 5);
        d.judged = next;
        d.judged.asked = true;
        let token = d.to_token().expect("fits");
        assert!(
            token.len() <= crate::traffic::MAX_TOKEN_CHARS,
            "{}",
            token.len()
        );
        assert_eq!(Deployment::from_token(&token).expect("reads"), d);
    }
}
