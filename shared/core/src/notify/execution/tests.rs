//! Tests of `execution`: this file is the body of its `#[cfg(test)] mod tests;`.

use super::*;
use crate::config::Verbosity;
use crate::notify::render::execution_message;
use crate::notify::testing::*;
use crate::notify::view::{self, Shown};

fn without_notices(mut e: Execution) -> Execution {
    e.notices.clear();
    e
}

#[test]
fn events_in_order_end_in_a_succeeded_execution_with_every_stage_succeeded() {
    let e = execution_of(&successful_run());
    assert_eq!(view::pipeline_shown(&e), Shown::Succeeded);
    let stages: Vec<(String, Shown)> = view::stages(&e)
        .into_iter()
        .map(|i| (i.name, i.shown))
        .collect();
    assert_eq!(
        stages,
        vec![
            ("Source".into(), Shown::Succeeded),
            ("Build".into(), Shown::Succeeded),
            ("Deploy".into(), Shown::Succeeded)
        ]
    );
    assert_eq!(e.elapsed_seconds(), 252);
}

#[test]
fn shuffled_and_repeated_events_leave_the_same_execution_and_message() {
    let events = successful_run();
    let mut reference = execution_of(&events);
    reference.set_layout(layout());
    let expected = execution_message(&reference, Verbosity::Actions);
    let mut rng = Lcg(7);
    for _ in 0..300 {
        let mut shuffled: Vec<_> = events
            .iter()
            .chain(events.iter().take(5))
            .cloned()
            .collect();
        rng.shuffle(&mut shuffled);
        let mut e = execution_of(&shuffled);
        e.set_layout(layout());
        assert_eq!(
            without_notices(e.clone()),
            without_notices(reference.clone())
        );
        assert_eq!(execution_message(&e, Verbosity::Actions), expected);
        // The outcome is always told, exactly once.
        let finals: Vec<_> = e
            .notices
            .iter()
            .filter(|n| n.scope == Scope::Pipeline && n.status == Status::Succeeded)
            .collect();
        assert_eq!(finals.len(), 1);
    }
}

#[test]
fn a_repeated_event_changes_nothing() {
    let events = successful_run();
    let mut e = execution_of(&events);
    for ev in &events {
        assert!(!e.apply(ev), "{ev:?}");
    }
}

#[test]
fn a_late_started_after_succeeded_is_ignored() {
    let mut e = execution_of(&successful_run());
    assert!(!e.apply(&stage(111, "Build", Status::Started)));
    assert!(!e.apply(&pipeline(100, Status::Started)));
    assert_eq!(view::pipeline_shown(&e), Shown::Succeeded);
}

#[test]
fn a_stage_is_running_from_its_first_action_even_before_its_own_event() {
    let e = execution_of(&[action(5, "Build", "Compile", "Build", Status::Started)]);
    assert_eq!(view::pipeline_shown(&e), Shown::Running);
    assert_eq!(view::stages(&e)[0].shown, Shown::Running);
}

#[test]
fn an_open_approval_shows_the_stage_waiting_for_approval() {
    let mut events = successful_run()[..9].to_vec();
    events.push(stage(300, "Approve", Status::Started));
    events.push(action(
        300,
        "Approve",
        "Approve",
        "Approval",
        Status::Started,
    ));
    let e = execution_of(&events);
    let approve = view::stages(&e)
        .into_iter()
        .find(|s| s.name == "Approve")
        .unwrap();
    assert_eq!(approve.shown, Shown::WaitingForApproval);
    assert_eq!(view::pipeline_shown(&e), Shown::WaitingForApproval);
}

#[test]
fn a_superseded_execution_shows_the_stages_it_never_reached_as_superseded() {
    let mut events = successful_run()[..5].to_vec();
    events.push(pipeline(120, Status::Superseded));
    let mut e = execution_of(&events);
    e.set_layout(layout());
    let shown: Vec<Shown> = view::stages(&e).into_iter().map(|i| i.shown).collect();
    assert_eq!(
        shown,
        vec![Shown::Succeeded, Shown::Superseded, Shown::Superseded]
    );
    assert_eq!(view::pipeline_shown(&e), Shown::Superseded);
}

#[test]
fn a_failed_build_leaves_later_stages_not_run_and_remembers_the_error() {
    let events = vec![
        pipeline(1, Status::Started),
        stage(1, "Source", Status::Succeeded),
        stage(2, "Build", Status::Started),
        failed_action(
            9,
            "Build",
            "Build",
            "Build terminated with state: FAILED",
            "https://logs",
        ),
        stage(9, "Build", Status::Failed),
        pipeline(9, Status::Failed),
    ];
    let mut e = execution_of(&events);
    e.set_layout(layout());
    let shown: Vec<Shown> = view::stages(&e).into_iter().map(|i| i.shown).collect();
    assert_eq!(shown, vec![Shown::Succeeded, Shown::Failed, Shown::NotRun]);
    let (stage, action) = e.failed_action().unwrap();
    assert_eq!(
        (stage.name.as_str(), action.name.as_str()),
        ("Build", "Build")
    );
    assert_eq!(action.result.url.as_deref(), Some("https://logs"));
    assert!(e.has_failure());
}

#[test]
fn a_retried_stage_moves_on_after_its_failure() {
    let events = vec![
        pipeline(1, Status::Started),
        stage(2, "Build", Status::Started),
        stage(9, "Build", Status::Failed),
        pipeline(9, Status::Failed),
        pipeline(100, Status::Resumed),
        stage(100, "Build", Status::Resumed),
        stage(150, "Build", Status::Succeeded),
        pipeline(150, Status::Succeeded),
    ];
    let e = execution_of(&events);
    assert_eq!(view::pipeline_shown(&e), Shown::Succeeded);
    assert_eq!(
        e.stage("Build").unwrap().status.unwrap().status,
        Status::Succeeded
    );
}

#[test]
fn stages_seen_only_in_events_follow_the_declared_ones_in_order_of_appearance() {
    let mut e = execution_of(&[
        stage(30, "Zeta", Status::Started),
        stage(10, "Alpha", Status::Succeeded),
    ]);
    assert_eq!(e.stage_names(), vec!["Alpha", "Zeta"]);
    e.set_layout(vec![DeclaredStage {
        name: "Zeta".into(),
        actions: vec![],
        account: None,
    }]);
    assert_eq!(e.stage_names(), vec!["Zeta", "Alpha"]);
}

#[test]
fn a_trigger_with_a_commit_replaces_one_without() {
    let mut e = execution_of(&successful_run());
    e.set_trigger(Trigger {
        kind: Some("StartPipelineExecution".into()),
        ..Default::default()
    });
    assert!(e.needs_details());
    e.set_trigger(trigger());
    e.set_layout(layout());
    assert!(!e.needs_details());
    assert_eq!(e.trigger.as_ref().unwrap().author.as_deref(), Some("ada"));
}

#[test]
fn the_record_round_trips_through_json() {
    let mut e = execution_of(&successful_run());
    e.set_trigger(trigger());
    e.set_layout(layout());
    let back: Execution = serde_json::from_str(&serde_json::to_string(&e).unwrap()).unwrap();
    assert_eq!(back, e);
}

#[test]
fn a_failure_that_arrives_after_the_retry_still_gets_its_notice() {
    // Build fails at 9 and is retried at 100; EventBridge delivers the FAILED last.
    let failed = failed_action(
        9,
        "Build",
        "Build",
        "no space left on device",
        "https://logs",
    );
    let events = vec![
        pipeline(1, Status::Started),
        action(2, "Build", "Build", "Build", Status::Started),
        action(100, "Build", "Build", "Build", Status::Started),
        failed.clone(),
    ];
    let late = execution_of(&events);
    let in_order = {
        let mut sorted = events.clone();
        sorted.sort_by_key(|e| e.at);
        execution_of(&sorted)
    };
    assert_eq!(
        late.notices, in_order.notices,
        "the same notices, whatever the order"
    );
    let failure = late
        .notices
        .iter()
        .find(|n| n.status == Status::Failed)
        .expect("the failure's notice");
    assert_eq!(failure.at, 9);
    assert_eq!(failure.result.url.as_deref(), Some("https://logs"));
    // The action itself stays where the retry took it.
    assert_eq!(
        late.action("Build", "Build").unwrap().status.unwrap(),
        Stamped {
            status: Status::Started,
            at: 100
        }
    );
    assert!(late.has_failure());
}
