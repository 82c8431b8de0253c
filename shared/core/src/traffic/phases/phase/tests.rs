//! Tests of `phase`: this file is the body of its `#[cfg(test)] mod tests;`.

use super::*;
use crate::traffic::sample::{self, deployment, healthy};
use crate::traffic::setup::plan::Strategy;

fn canary() -> Deployment {
    sample::canary(30)
}

/// Runs the machine against a world where the listener does what it is told, until the
/// deployment finishes or rolls back; `tweak` changes the world before each check.
/// Returns the green shares set, in order, and the last action.
fn run(
    mut d: Deployment,
    mut tweak: impl FnMut(&Deployment, &mut Observed),
) -> (Vec<u8>, ShiftAction) {
    let mut now = 0;
    let mut weights = Weights::all_to(Side::Blue);
    let mut shifts = Vec::new();
    for _ in 0..10_000 {
        let mut o = healthy(&d, now);
        o.weights = weights;
        tweak(&d, &mut o);
        match next_step(&d, &o) {
            ShiftAction::Wait {
                phase,
                next_check_ms,
            } => {
                assert!(next_check_ms >= now, "time goes forward");
                d = d.at(phase);
                now = next_check_ms;
            }
            ShiftAction::Shift { weights: w, phase } => {
                shifts.push(w.percent(Side::Green));
                weights = w;
                d = d.at(phase);
            }
            done => return (shifts, done),
        }
    }
    panic!("the deployment never ended");
}

#[test]
fn a_canary_takes_ten_percent_bakes_then_takes_the_rest_and_retires_the_old_side() {
    let mut finished_at_phase = None;
    let (shifts, end) = run(canary(), |d, _| finished_at_phase = Some(d.phase));
    assert_eq!(shifts, vec![10, 100]);
    assert_eq!(end, ShiftAction::Finish);
    assert!(matches!(finished_at_phase, Some(Phase::Retiring { .. })));
}

#[test]
fn the_bake_is_held_for_its_full_time() {
    let mut d = canary().at(Phase::Shifting {
        step: 0,
        since_ms: 1_000,
    });
    d.timing.check_seconds = 100;
    let o = healthy(&d, 2_000);
    assert_eq!(
        next_step(&d, &o),
        ShiftAction::Wait {
            phase: d.phase,
            next_check_ms: 31_000
        },
        "the next check falls on the end of the bake, not after it"
    );
    let o = healthy(&d, 31_000);
    assert!(matches!(
        next_step(&d, &o),
        ShiftAction::Shift {
            phase: Phase::Shifting { step: 1, .. },
            ..
        }
    ));
}

#[test]
fn linear_steps_through_every_increment() {
    let (shifts, end) = run(
        deployment(Strategy::Linear {
            step_percent: 25,
            interval_seconds: 10,
        }),
        |_, _| {},
    );
    assert_eq!(shifts, vec![25, 50, 75, 100]);
    assert_eq!(end, ShiftAction::Finish);
}

#[test]
fn all_at_once_is_one_shift() {
    let (shifts, end) = run(deployment(Strategy::AllAtOnce), |_, _| {});
    assert_eq!(shifts, vec![100]);
    assert_eq!(end, ShiftAction::Finish);
}

#[test]
fn without_a_scale_down_wait_the_last_step_finishes_at_once() {
    let mut d = deployment(Strategy::AllAtOnce);
    d.timing.scale_down_after_seconds = 0;
    let d = d.at(Phase::Shifting {
        step: 0,
        since_ms: 0,
    });
    assert_eq!(next_step(&d, &healthy(&d, 0)), ShiftAction::Finish);
}

#[test]
fn an_alarm_at_step_two_rolls_back() {
    let d = deployment(Strategy::Linear {
        step_percent: 10,
        interval_seconds: 10,
    });
    let (shifts, end) = run(d, |d, o| {
        if matches!(d.phase, Phase::Shifting { step: 1, .. }) {
            o.alarms[0].state = AlarmState::Alarm;
        }
    });
    assert_eq!(shifts, vec![10, 20]);
    assert_eq!(
        end,
        ShiftAction::RollBack {
            reason: RollbackReason::Alarm {
                name: "shop-5xx".into()
            }
        }
    );
}

#[test]
fn insufficient_data_is_not_an_alarm_but_a_deleted_alarm_is_a_reason() {
    let d = canary().at(Phase::Shifting {
        step: 0,
        since_ms: 0,
    });
    let mut o = healthy(&d, 1);
    o.alarms[0].state = AlarmState::InsufficientData;
    assert!(matches!(next_step(&d, &o), ShiftAction::Wait { .. }));
    o.alarms[0].state = AlarmState::Missing;
    assert!(matches!(
        next_step(&d, &o),
        ShiftAction::RollBack {
            reason: RollbackReason::AlarmMissing { .. }
        }
    ));
}

#[test]
fn unhealthy_idle_targets_roll_back_once_traffic_flows() {
    let (shifts, end) = run(canary(), |d, o| {
        if matches!(d.phase, Phase::Shifting { step: 0, .. }) {
            o.idle_targets.healthy = 1;
            o.idle_targets.unhealthy = 1;
            o.idle_targets.reason = Some("Target.FailedHealthChecks".into());
        }
    });
    assert_eq!(shifts, vec![10]);
    let ShiftAction::RollBack { reason } = end else {
        panic!("{end:?}")
    };
    assert_eq!(
        reason.to_string(),
        "target group shop-green has 1 unhealthy target (Target.FailedHealthChecks)"
    );
}

#[test]
fn no_healthy_target_at_all_rolls_back_too() {
    let d = canary().at(Phase::Retiring { since_ms: 0 });
    let mut o = healthy(&d, 1);
    o.idle_targets.healthy = 0;
    o.idle_targets.other = 2;
    let action = next_step(&d, &o);
    let ShiftAction::RollBack { reason } = action else {
        panic!("{action:?}")
    };
    assert_eq!(
        reason.to_string(),
        "target group shop-green has no healthy targets"
    );
}

#[test]
fn stabilizing_waits_for_the_rollout_and_healthy_targets() {
    let d = canary();
    let mut o = healthy(&d, 1_000);
    o.idle.rollout = Rollout::InProgress;
    o.idle.running = 1;
    assert_eq!(
        next_step(&d, &o),
        ShiftAction::Wait {
            phase: d.phase,
            next_check_ms: 6_000
        }
    );
    let mut o = healthy(&d, 1_000);
    o.idle_targets.healthy = 1;
    o.idle_targets.other = 1;
    assert!(matches!(next_step(&d, &o), ShiftAction::Wait { .. }));
    // Stabilizing tolerates unhealthy targets for a while: ECS replaces failing tasks.
    o.idle_targets.unhealthy = 1;
    assert!(matches!(next_step(&d, &o), ShiftAction::Wait { .. }));
}

#[test]
fn a_new_version_that_never_gets_ready_is_given_up_after_the_timeout() {
    let d = canary();
    let mut o = healthy(&d, 300_000);
    o.idle_targets.healthy = 0;
    o.idle_targets.unhealthy = 2;
    o.idle_targets.reason = Some("Target.FailedHealthChecks".into());
    let action = next_step(&d, &o);
    let ShiftAction::RollBack { reason } = action else {
        panic!("{action:?}")
    };
    assert_eq!(
        reason.to_string(),
        "the new version was not ready after 5 min: 0/2 targets healthy in shop-green, 2 unhealthy (Target.FailedHealthChecks)"
    );
}

#[test]
fn a_failed_ecs_rollout_rolls_back_at_once() {
    let d = canary();
    let mut o = healthy(&d, 1);
    o.idle.rollout = Rollout::Failed {
        reason: "tasks failed to start".into(),
    };
    assert!(matches!(
        next_step(&d, &o),
        ShiftAction::RollBack {
            reason: RollbackReason::DeploymentFailed { .. }
        }
    ));
}

#[test]
fn the_roll_back_button_rolls_back_in_any_phase() {
    for phase in [
        Phase::Stabilizing { since_ms: 0 },
        Phase::Shifting {
            step: 0,
            since_ms: 0,
        },
        Phase::Retiring { since_ms: 0 },
    ] {
        let d = canary().at(phase);
        let mut o = healthy(&d, 1);
        o.command = Some(Command::RollBack { by: "U1".into() });
        let action = next_step(&d, &o);
        let ShiftAction::RollBack { reason } = action else {
            panic!("{action:?}")
        };
        assert_eq!(reason.to_string(), "rollback requested by <@U1>");
    }
}

#[test]
fn promote_now_skips_the_remaining_bake() {
    let d = canary().at(Phase::Shifting {
        step: 0,
        since_ms: 0,
    });
    let mut o = healthy(&d, 1_000);
    o.command = Some(Command::Promote { by: "U1".into() });
    assert_eq!(
        next_step(&d, &o),
        ShiftAction::Shift {
            weights: Weights::all_to(Side::Green),
            phase: Phase::Shifting {
                step: 1,
                since_ms: 1_000
            }
        }
    );
}

#[test]
fn promote_while_stabilizing_goes_straight_to_all_once_ready() {
    let d = canary();
    let mut o = healthy(&d, 1_000);
    o.command = Some(Command::Promote { by: "U1".into() });
    assert!(matches!(
        next_step(&d, &o),
        ShiftAction::Shift {
            phase: Phase::Shifting { step: 1, .. },
            ..
        }
    ));
}

#[test]
fn promote_during_the_scale_down_wait_scales_down_now() {
    let d = canary().at(Phase::Retiring { since_ms: 0 });
    let mut o = healthy(&d, 1_000);
    assert!(matches!(next_step(&d, &o), ShiftAction::Wait { .. }));
    o.command = Some(Command::Promote { by: "U1".into() });
    assert_eq!(next_step(&d, &o), ShiftAction::Finish);
}

#[test]
fn a_repeated_invocation_adopts_the_step_the_listener_already_shows() {
    // The token says "10%, baking"; the crashed invocation had already gone to 100%.
    let d = canary().at(Phase::Shifting {
        step: 0,
        since_ms: 0,
    });
    let mut o = healthy(&d, 40_000);
    o.weights = Weights::all_to(Side::Green);
    assert_eq!(
        next_step(&d, &o),
        ShiftAction::Wait {
            phase: Phase::Shifting {
                step: 1,
                since_ms: 40_000
            },
            next_check_ms: 40_000
        },
        "no second shift: the listener is already there"
    );
}

#[test]
fn a_repeated_first_invocation_adopts_the_first_step() {
    let d = canary();
    let mut o = healthy(&d, 2_000);
    o.weights = Weights::split(Side::Green, 10);
    assert!(matches!(
        next_step(&d, &o),
        ShiftAction::Wait {
            phase: Phase::Shifting { step: 0, .. },
            ..
        }
    ));
}

#[test]
fn weights_moved_by_someone_else_roll_back() {
    let d = canary().at(Phase::Shifting {
        step: 0,
        since_ms: 0,
    });
    let mut o = healthy(&d, 1_000);
    o.weights = Weights {
        blue: 50,
        green: 50,
    };
    let action = next_step(&d, &o);
    let ShiftAction::RollBack { reason } = action else {
        panic!("{action:?}")
    };
    assert_eq!(
        reason.to_string(),
        "the listener's weights were changed outside this deployment (blue 50, green 50)"
    );
    // Backwards is not "already done" either.
    let d = deployment(Strategy::Linear {
        step_percent: 10,
        interval_seconds: 10,
    })
    .at(Phase::Shifting {
        step: 3,
        since_ms: 0,
    });
    let mut o = healthy(&d, 1_000);
    o.weights = Weights::split(Side::Green, 20);
    assert!(matches!(next_step(&d, &o), ShiftAction::RollBack { .. }));
}

#[test]
fn a_service_redeployed_by_someone_else_rolls_back() {
    let d = canary().at(Phase::Shifting {
        step: 0,
        since_ms: 0,
    });
    let mut o = healthy(&d, 1_000);
    o.idle.task_definition = "arn:aws:ecs:us-east-1:1:task-definition/shop:9".into();
    assert!(matches!(
        next_step(&d, &o),
        ShiftAction::RollBack {
            reason: RollbackReason::ServiceChanged { .. }
        }
    ));
}

#[test]
fn the_token_of_every_phase_round_trips() {
    for phase in [
        Phase::Stabilizing { since_ms: 1 },
        Phase::Shifting {
            step: 3,
            since_ms: 2,
        },
        Phase::Retiring { since_ms: 3 },
    ] {
        let d = canary().at(phase);
        assert_eq!(Deployment::from_token(&d.to_token().unwrap()).unwrap(), d);
    }
}

#[test]
fn a_tested_deployment_passes_testing_with_production_untouched_then_shifts() {
    let mut d = canary();
    d.tests = true;
    // Ready: into Testing, no production weight moves.
    let action = next_step(&d, &healthy(&d, 1_000));
    assert_eq!(
        action,
        ShiftAction::Wait {
            phase: Phase::Testing { since_ms: 1_000 },
            next_check_ms: 1_000
        }
    );
    let d = d.at(Phase::Testing { since_ms: 1_000 });
    assert_eq!(expected_weights(&d, d.phase), Weights::all_to(Side::Blue));
    // Testing then takes the plan's first step (the flow holds it while hooks run)…
    assert!(matches!(
        next_step(&d, &healthy(&d, 2_000)),
        ShiftAction::Shift { weights, .. } if weights == Weights::split(Side::Green, 10)
    ));
    // …unless the new side's targets fail while tested.
    let mut o = healthy(&d, 2_000);
    o.idle_targets.unhealthy = 1;
    assert!(matches!(
        next_step(&d, &o),
        ShiftAction::RollBack {
            reason: RollbackReason::Unhealthy { .. }
        }
    ));
    // A token whose listener already shows step 0 carries on from there.
    let mut o = healthy(&d, 3_000);
    o.weights = Weights::split(Side::Green, 10);
    assert!(matches!(
        next_step(&d, &o),
        ShiftAction::Wait {
            phase: Phase::Shifting { step: 0, .. },
            ..
        }
    ));
}

#[test]
fn gantrys_own_reasons_complete_the_rollback_message_as_people_read_it() {
    use crate::traffic::steps::report::rollback_message;
    let said = |reason: RollbackReason| rollback_message(Side::Green, 25, &reason);
    assert_eq!(
        said(RollbackReason::PipelineStopped {
            status: "Stopping".into()
        }),
        "rolled back at 25% green: the pipeline execution was stopped (its status is Stopping)"
    );
    assert_eq!(
        said(RollbackReason::JobAbandoned),
        "rolled back at 25% green: the pipeline stopped waiting for this deployment (its job is no longer in progress)"
    );
    assert_eq!(
        said(RollbackReason::Unwatchable {
            seconds: 90,
            error: "throttled".into()
        }),
        "rolled back at 25% green: the deployment could not be watched for 90 s: throttled"
    );
    assert!(said(RollbackReason::Orphaned { idle_seconds: 900 })
        .contains("has watched this deployment for 900 s (its chain of invocations broke)"));
}
