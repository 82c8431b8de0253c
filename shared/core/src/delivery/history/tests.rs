use super::*;
use crate::ingest::PushFacts;

const MIN: i64 = 60_000;
const HOUR: i64 = 60 * MIN;

fn run(exec: &str, kind: RunKind, outcome: RunOutcome, at_ms: i64, commit: &str) -> StageRun {
    StageRun {
        pipeline: "shop".into(),
        stage: "Prod".into(),
        execution_id: exec.into(),
        kind,
        outcome,
        at_ms,
        commit: Some(commit.into()),
        git_ref: Some("refs/heads/main".into()),
        thread: None,
    }
}

fn ok(exec: &str, at_ms: i64, commit: &str) -> StageRun {
    run(exec, RunKind::Change, RunOutcome::Succeeded, at_ms, commit)
}

fn failed(exec: &str, at_ms: i64, commit: &str) -> StageRun {
    run(exec, RunKind::Change, RunOutcome::Failed, at_ms, commit)
}

fn push(exec: &str, commits: &[&str], received_ms: i64) -> StartedPush {
    StartedPush {
        pipeline: "shop".into(),
        execution_id: exec.into(),
        git_ref: "refs/heads/main".into(),
        commit_id: commits.last().map(|c| c.to_string()).unwrap_or_default(),
        facts: PushFacts {
            pusher: Some("mona".into()),
            authors: vec!["mona".into()],
            commits: commits.iter().map(|c| c.to_string()).collect(),
            delivery: format!("d-{exec}"),
            received_at: received_ms / 1000,
            received_ms,
            carried_pushers: Vec::new(),
        },
    }
}

fn all_time() -> Period {
    Period {
        from_ms: 0,
        to_ms: i64::MAX,
    }
}

fn prod(derived: &Derived) -> StageFigures {
    figures(derived, "shop", all_time())
        .stages
        .into_iter()
        .find(|s| s.stage == "Prod")
        .unwrap_or_default()
}

#[test]
fn a_rerun_of_the_same_commit_is_one_deployment() {
    let d = derive(&[failed("e1", HOUR, "aaa"), ok("e2", 2 * HOUR, "aaa")], &[]);
    assert_eq!(d.deployments.len(), 1);
    let f = prod(&d);
    assert_eq!((f.deployments, f.failed), (1, 1));
}

#[test]
fn a_failed_stage_is_restored_by_the_next_success_whatever_it_runs() {
    let d = derive(
        &[
            ok("e0", 0, "zzz"),
            failed("e1", HOUR, "aaa"),
            failed("e2", 2 * HOUR, "bbb"),
            ok("e3", 3 * HOUR, "ccc"),
        ],
        &[],
    );
    assert_eq!(d.restorations.len(), 1);
    // From the first failure, not the second.
    assert_eq!(d.restorations[0].time_to_restore_ms(), 2 * HOUR);
    assert_eq!(d.restorations[0].restored_by, "e3");
    let f = prod(&d);
    assert_eq!((f.deployments, f.failed), (4, 2));
    assert_eq!(f.change_failure_rate, Some(0.5));
}

#[test]
fn a_rollback_within_the_window_blames_the_deployment_before_it() {
    let d = derive(
        &[
            ok("e0", 0, "zzz"),
            ok("e1", HOUR, "aaa"),
            run(
                "r1",
                RunKind::ManualRollback,
                RunOutcome::Succeeded,
                3 * HOUR,
                "zzz",
            ),
        ],
        &[],
    );
    let blamed = d.deployments.iter().find(|d| d.key == "aaa").expect("aaa");
    assert_eq!(
        blamed.failure.as_ref().map(|f| &f.cause),
        Some(&FailureCause::RolledBack(RunKind::ManualRollback))
    );
    // The rollback is not a deployment; the stage ran the bad change from its success on.
    let f = prod(&d);
    assert_eq!((f.deployments, f.failed), (2, 1));
    assert_eq!(d.restorations.len(), 1);
    assert_eq!(d.restorations[0].time_to_restore_ms(), 2 * HOUR);
    assert_eq!(d.restorations[0].restored_by, "r1");
}

#[test]
fn a_rollback_long_after_the_deployment_blames_nothing() {
    let d = derive(
        &[
            ok("e1", 0, "aaa"),
            run(
                "r1",
                RunKind::ManualRollback,
                RunOutcome::Succeeded,
                25 * HOUR,
                "zzz",
            ),
        ],
        &[],
    );
    assert!(d.deployments.iter().all(|d| d.failure.is_none()));
    assert!(d.restorations.is_empty());
}

#[test]
fn an_automatic_rollback_after_a_failure_blames_no_earlier_deployment() {
    let d = derive(
        &[
            ok("e0", 0, "zzz"),
            failed("e1", HOUR, "aaa"),
            run(
                "r1",
                RunKind::AutomatedRollback,
                RunOutcome::Succeeded,
                HOUR + 5 * MIN,
                "zzz",
            ),
        ],
        &[],
    );
    let zzz = d.deployments.iter().find(|d| d.key == "zzz").expect("zzz");
    assert!(zzz.failure.is_none());
    assert_eq!(d.restorations.len(), 1);
    assert_eq!(d.restorations[0].time_to_restore_ms(), 5 * MIN);
}

#[test]
fn lead_time_starts_at_the_first_push_of_the_change_not_yet_in_the_stage() {
    let pushes = [
        push("e0", &["zzz"], 0),
        // Superseded before prod: still part of the next change.
        push("e1", &["a1", "aaa"], 10 * MIN),
        push("e2", &["bbb"], 20 * MIN),
    ];
    let d = derive(&[ok("e0", 5 * MIN, "zzz"), ok("e2", HOUR, "bbb")], &pushes);
    let bbb = d.deployments.iter().find(|d| d.key == "bbb").expect("bbb");
    assert_eq!(bbb.lead_time_ms, Some(50 * MIN));
}

#[test]
fn without_an_earlier_deployment_the_change_is_its_own_push() {
    let pushes = [
        push("e1", &["aaa"], 10 * MIN),
        push("e2", &["bbb"], 20 * MIN),
    ];
    let d = derive(&[ok("e2", HOUR, "bbb")], &pushes);
    assert_eq!(d.deployments[0].lead_time_ms, Some(40 * MIN));
}

#[test]
fn a_commit_received_in_an_earlier_push_counts_from_that_push() {
    // A re-run (console) of a commit first pushed earlier: its first receipt counts.
    let pushes = [
        push("e1", &["x1", "aaa"], 10 * MIN),
        push("e9", &["aaa"], 50 * MIN),
    ];
    let d = derive(&[ok("console", HOUR, "aaa")], &pushes);
    assert_eq!(d.deployments[0].lead_time_ms, Some(50 * MIN));
}

#[test]
fn squash_and_merge_of_the_same_work_give_the_same_lead_time() {
    // The feature branch's commits never reached main; main receives one push either way.
    let squash = derive(
        &[ok("e0", 0, "zzz"), ok("e1", HOUR, "sq1")],
        &[push("e0", &["zzz"], 0), push("e1", &["sq1"], 30 * MIN)],
    );
    let merge = derive(
        &[ok("e0", 0, "zzz"), ok("e1", HOUR, "m1")],
        &[
            push("e0", &["zzz"], 0),
            push("e1", &["f1", "f2", "m1"], 30 * MIN),
        ],
    );
    let lead = |d: &Derived| {
        d.deployments
            .iter()
            .find(|d| d.key != "zzz")
            .and_then(|d| d.lead_time_ms)
    };
    assert_eq!(lead(&squash), Some(30 * MIN));
    assert_eq!(lead(&squash), lead(&merge));
}

#[test]
fn duplicates_and_order_change_no_figure() {
    let runs = vec![
        ok("e0", 0, "zzz"),
        failed("e1", HOUR, "aaa"),
        ok("e2", 2 * HOUR, "bbb"),
        run(
            "r1",
            RunKind::ManualRollback,
            RunOutcome::Succeeded,
            3 * HOUR,
            "zzz",
        ),
    ];
    let pushes = vec![
        push("e0", &["zzz"], 0),
        push("e1", &["aaa"], MIN),
        push("e2", &["bbb"], 2 * MIN),
    ];
    let once = prod(&derive(&runs, &pushes));
    let mut twice: Vec<StageRun> = runs.iter().rev().cloned().collect();
    twice.extend(runs.iter().cloned());
    let mut pushes_twice: Vec<StartedPush> = pushes.iter().rev().cloned().collect();
    pushes_twice.extend(pushes.iter().cloned());
    assert_eq!(prod(&derive(&twice, &pushes_twice)), once);
    assert_eq!((once.deployments, once.failed), (3, 2));
}

#[test]
fn percentiles_are_values_that_occurred() {
    assert_eq!(percentile(&[], 50), None);
    assert_eq!(percentile(&[7], 90), Some(7));
    assert_eq!(percentile(&[4, 1, 3, 2], 50), Some(2));
    assert_eq!(
        percentile(&[10, 20, 30, 40, 50, 60, 70, 80, 90, 100], 90),
        Some(90)
    );
    assert_eq!(
        percentile(&[10, 20, 30, 40, 50, 60, 70, 80, 90, 100, 110], 90),
        Some(100)
    );
}

#[test]
fn the_window_counts_a_deployment_when_its_first_run_ended() {
    let d = derive(&[failed("e1", HOUR, "aaa"), ok("e2", 3 * HOUR, "aaa")], &[]);
    let window = Period {
        from_ms: 2 * HOUR,
        to_ms: 4 * HOUR,
    };
    let f = &figures(&d, "shop", window).stages[0];
    assert_eq!(f.deployments, 0);
    assert_eq!(f.change_failure_rate, None);
    // Its restoration ended in the window.
    assert_eq!(f.time_to_restore_p50, Some(7200.0));
}
