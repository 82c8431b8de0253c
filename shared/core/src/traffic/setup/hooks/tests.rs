use super::*;
use crate::traffic::phases::deployment::{Deployment, Phase, ServiceSnapshot, Timing};
use crate::traffic::phases::phase::expected_test_weights;
use crate::traffic::setup::plan::{Strategy, TrafficPlan};
use crate::traffic::setup::weights::{Side, Weights};
use serde_json::json;

const ARN: &str = "arn:aws:lambda:us-east-1:123456789012:function:smoke";

fn function(stages: &[LifecycleStage]) -> LifecycleHook {
    LifecycleHook::Function {
        arn: ARN.into(),
        stages: stages.to_vec(),
        details: json!({"mode": "succeed"}),
    }
}

fn returned(v: serde_json::Value) -> HookAnswer {
    read_answer(&Invocation::Returned(v.to_string()))
}

#[test]
fn ecs_answers_are_read_as_ecs_reads_them() {
    assert_eq!(
        returned(json!({"hookStatus": "SUCCEEDED"})),
        HookAnswer::Succeeded
    );
    assert!(matches!(
        returned(json!({"hookStatus": "FAILED"})),
        HookAnswer::Failed { .. }
    ));
    assert_eq!(
        returned(
            json!({"hookStatus": "IN_PROGRESS", "callBackDelay": 5, "hookDetails": {"calls": 1}})
        ),
        HookAnswer::InProgress {
            delay_seconds: 5,
            details: Some(r#"{"calls":1}"#.into())
        }
    );
    // No callBackDelay: ECS's 30 seconds.
    assert_eq!(
        returned(json!({"hookStatus": "IN_PROGRESS"})),
        HookAnswer::InProgress {
            delay_seconds: 30,
            details: None
        }
    );
}

#[test]
fn an_answer_without_a_valid_hook_status_or_a_thrown_error_fails() {
    for bad in [
        json!({}),
        json!({"hookStatus": "DONE"}),
        json!("SUCCEEDED"),
        json!(null),
    ] {
        assert!(
            matches!(returned(bad.clone()), HookAnswer::Failed { .. }),
            "{bad}"
        );
    }
    assert!(matches!(
        read_answer(&Invocation::Returned("not json".into())),
        HookAnswer::Failed { .. }
    ));
    let threw = read_answer(&Invocation::Threw {
        error_type: "HookError".into(),
        message: "smoke test failed".into(),
    });
    assert_eq!(
        threw,
        HookAnswer::Failed {
            reason: "the function failed (HookError: smoke test failed)".into()
        }
    );
}

#[test]
fn hook_details_too_large_for_the_token_fail_the_hook() {
    // Quotes are escaped in the token (twice over: in the details, then in the string that
    // holds them): 460 of them take far more than 900 characters there.
    let quoted = "\"".repeat(460);
    assert!(matches!(
        returned(json!({"hookStatus": "IN_PROGRESS", "hookDetails": {"q": quoted}})),
        HookAnswer::Failed { .. }
    ));
    assert!(matches!(
        returned(json!({"hookStatus": "IN_PROGRESS", "hookDetails": {"q": "x".repeat(400)}})),
        HookAnswer::InProgress { .. }
    ));
    let big = "x".repeat(MAX_DETAILS_CHARS);
    assert!(matches!(
        returned(json!({"hookStatus": "IN_PROGRESS", "hookDetails": {"big": big}})),
        HookAnswer::Failed { .. }
    ));
}

#[test]
fn in_progress_calls_again_after_the_delay_passing_the_details_back() {
    let run = HookRun::start(LifecycleStage::PostTestTrafficShift, 1_000);
    let answer = HookAnswer::InProgress {
        delay_seconds: 30,
        details: Some(r#"{"calls":1}"#.into()),
    };
    let HookStep::Again(again) = after_answer(&run, &answer, 2_000) else {
        panic!("not called again");
    };
    assert_eq!(again.due_ms, 32_000);
    assert_eq!(again.calls, 1);
    assert_eq!(
        details_to_send(&again, &json!({"mode": "x"})),
        json!({"calls": 1})
    );
    // The first call sends the hook's own details.
    assert_eq!(
        details_to_send(&run, &json!({"mode": "x"})),
        json!({"mode": "x"})
    );
    // Succeeded moves to the stage's next hook; Failed rolls back.
    assert!(
        matches!(after_answer(&again, &HookAnswer::Succeeded, 40_000), HookStep::Passed(r) if r.index == 1 && r.details.is_none())
    );
    assert!(matches!(
        after_answer(&again, &HookAnswer::Failed { reason: "x".into() }, 40_000),
        HookStep::RollBack { .. }
    ));
}

#[test]
fn a_pause_continues_on_a_current_click_and_times_out_as_configured() {
    let run = HookRun::start(LifecycleStage::PostTestTrafficShift, 0);
    let click = |version| PauseClick::Continue { version };
    let decide =
        |click: Option<&PauseClick>, action, now| decide_pause(&run, 10, action, click, 3, now);
    assert_eq!(
        decide(None, TimeoutAction::RollBack, 60_000),
        HookStep::Waiting
    );
    assert!(matches!(
        decide(Some(&click(3)), TimeoutAction::RollBack, 60_000),
        HookStep::Passed(_)
    ));
    // A click on an older message does nothing.
    assert_eq!(
        decide(Some(&click(2)), TimeoutAction::RollBack, 60_000),
        HookStep::Waiting
    );
    assert!(matches!(
        decide(
            Some(&PauseClick::RollBack { by: "U2".into() }),
            TimeoutAction::Continue,
            1
        ),
        HookStep::RollBack { .. }
    ));
    assert!(matches!(
        decide(
            Some(&PauseClick::RollBack { by: "U2".into() }),
            TimeoutAction::Continue,
            1
        ),
        HookStep::RollBack { .. }
    ));
    assert!(matches!(
        decide(None, TimeoutAction::RollBack, 600_000),
        HookStep::RollBack { .. }
    ));
    assert!(matches!(
        decide(None, TimeoutAction::Continue, 600_000),
        HookStep::Passed(_)
    ));
}

#[test]
fn stages_follow_ecs_order_skipping_those_without_hooks() {
    use LifecycleStage::*;
    let hooks = vec![function(&[
        PostTestTrafficShift,
        PostProductionTrafficShift,
    ])];
    assert_eq!(testing_starts(&hooks), (Some(PostTestTrafficShift), true));
    assert_eq!(stage_after(&hooks, PostTestTrafficShift, false), None);
    assert_eq!(after_production_step(&hooks, false), None);
    assert_eq!(
        after_production_step(&hooks, true),
        Some(PostProductionTrafficShift)
    );
    let all = vec![function(&LifecycleStage::ALL)];
    assert_eq!(testing_starts(&all), (Some(PostScaleUp), false));
    assert_eq!(
        stage_after(&all, PostScaleUp, false),
        Some(TestTrafficShift)
    );
    assert_eq!(
        stage_after(&all, TestTrafficShift, false),
        Some(PostTestTrafficShift)
    );
    assert_eq!(
        after_production_step(&all, false),
        Some(ProductionTrafficShift)
    );
    assert_eq!(stage_after(&all, ProductionTrafficShift, false), None);
    assert_eq!(
        stage_after(&all, ProductionTrafficShift, true),
        Some(PostProductionTrafficShift)
    );
}

fn deployment(phase: Phase, hook: Option<LifecycleStage>) -> Deployment {
    let mut d = Deployment::new(
        "j",
        Side::Blue,
        "arn:aws:ecs:us-east-1:1:task-definition/shop:2",
        2,
        ServiceSnapshot {
            task_definition: "arn:aws:ecs:us-east-1:1:task-definition/shop:1".into(),
            desired: 0,
        },
        TrafficPlan::new(Strategy::AllAtOnce),
        Timing {
            check_seconds: 1,
            scale_down_after_seconds: 1,
            ready_timeout_seconds: 30,
        },
        0,
    )
    .at(phase);
    d.hook = hook.map(|s| HookRun::start(s, 0));
    d
}

#[test]
fn the_test_listener_moves_after_post_scale_up_and_stays_on_the_new_side() {
    let live = Weights::all_to(Side::Blue);
    let new = Weights::all_to(Side::Green);
    let t = |since_ms| Phase::Testing { since_ms };
    assert_eq!(
        expected_test_weights(&deployment(Phase::Stabilizing { since_ms: 0 }, None)),
        live
    );
    assert_eq!(
        expected_test_weights(&deployment(t(0), Some(LifecycleStage::PostScaleUp))),
        live
    );
    assert_eq!(
        expected_test_weights(&deployment(
            t(0),
            Some(LifecycleStage::PostTestTrafficShift)
        )),
        new
    );
    assert_eq!(
        expected_test_weights(&deployment(Phase::Retiring { since_ms: 0 }, None)),
        new
    );
}

/// An ECS hook reads the new side's share as `weights[targetServiceRevisionArn]`.
fn ecs_lookup(p: &Value, map: &str) -> Option<u64> {
    let details = &p["executionDetails"];
    let target = details["targetServiceRevisionArn"].as_str()?;
    details[map].as_object()?.get(target)?.as_u64()
}

#[test]
fn the_payload_is_ecs_s() {
    let c = HookContext {
        execution_id: "job-1".into(),
        live_revision: "arn:aws:ecs:us-east-1:1:task-definition/shop:1".into(),
        new_service_arn: "arn:aws:ecs:us-east-1:1:service/shop/shop-green".into(),
        target_revision_arn: "arn:aws:ecs:us-east-1:1:task-definition/shop:2".into(),
        test_percent: Some(100),
        production_percent: 0,
    };
    let p = payload(LifecycleStage::PostTestTrafficShift, &json!({"a": 1}), &c);
    assert_eq!(p["lifecycleStage"], "POST_TEST_TRAFFIC_SHIFT");
    assert_eq!(p["hookDetails"], json!({"a": 1}));
    assert_eq!(p["executionDetails"]["serviceArn"], c.new_service_arn);
    assert_eq!(ecs_lookup(&p, "testTrafficWeights"), Some(100));
    assert_eq!(ecs_lookup(&p, "productionTrafficWeights"), Some(0));
    assert_eq!(
        p["executionDetails"]["productionTrafficWeights"][&c.live_revision],
        100
    );
    assert_eq!(
        service_arn(
            "arn:aws-us-gov:elasticloadbalancing:us-gov-west-1:123456789012:targetgroup/g/1",
            "shop",
            "shop-green"
        ),
        "arn:aws-us-gov:ecs:us-gov-west-1:123456789012:service/shop/shop-green"
    );
}

#[test]
fn without_a_test_listener_both_maps_are_sent_test_traffic_going_as_production_does() {
    let c = HookContext {
        execution_id: "job-1".into(),
        live_revision: "arn:aws:ecs:us-east-1:1:task-definition/shop:1".into(),
        new_service_arn: "arn:aws:ecs:us-east-1:1:service/shop/shop-green".into(),
        target_revision_arn: "arn:aws:ecs:us-east-1:1:task-definition/shop:2".into(),
        test_percent: None,
        production_percent: 10,
    };
    let p = payload(LifecycleStage::ProductionTrafficShift, &json!({}), &c);
    assert_eq!(ecs_lookup(&p, "productionTrafficWeights"), Some(10));
    assert_eq!(ecs_lookup(&p, "testTrafficWeights"), Some(10));
    assert_eq!(
        p["executionDetails"]["testTrafficWeights"][&c.live_revision],
        90
    );
}

#[test]
fn the_old_side_is_keyed_by_its_task_definition_unless_that_would_collide() {
    let service = "arn:aws:ecs:us-east-1:1:service/shop/shop-blue";
    let (old, new) = (
        "arn:aws:ecs:us-east-1:1:task-definition/shop:1",
        "arn:aws:ecs:us-east-1:1:task-definition/shop:2",
    );
    assert_eq!(revision_key(old, new, service), old);
    assert_eq!(revision_key(new, new, service), service);
    assert_eq!(revision_key("", new, service), service);
}

#[test]
fn a_token_in_the_middle_of_a_hook_stays_small() {
    let mut d = deployment(
        Phase::Testing {
            since_ms: 1_700_000_000_000,
        },
        None,
    );
    d.hook = Some(HookRun {
        stage: LifecycleStage::PostTestTrafficShift,
        index: 3,
        calls: 120,
        due_ms: 1_700_000_030_000,
        since_ms: 1_700_000_000_000,
        details: Some("x".repeat(MAX_DETAILS_CHARS)),
    });
    d.tests = true;
    let token = d.to_token().expect("fits");
    assert!(token.len() < 1600, "{} chars", token.len());
    assert_eq!(Deployment::from_token(&token).unwrap(), d);
}
