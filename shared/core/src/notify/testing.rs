//! Event builders for the notifier's unit tests.

use super::event::{ActionResult, Change, PipelineEvent};
use super::execution::{DeclaredAction, DeclaredStage, Execution};
use super::status::Status;
use super::trigger::Trigger;

pub const PIPELINE: &str = "shop";
pub const EXECUTION: &str = "4f1e2d3c-0000-1111-2222-333344445555";

fn event(n: usize, at: i64, change: Change) -> PipelineEvent {
    PipelineEvent {
        id: format!("event-{n}"),
        at,
        region: "eu-west-1".into(),
        account: "123456789012".into(),
        pipeline: PIPELINE.into(),
        execution_id: EXECUTION.into(),
        pipeline_version: Some(3),
        change,
    }
}

pub fn pipeline(at: i64, status: Status) -> PipelineEvent {
    event(at as usize * 100, at, Change::Pipeline { status })
}

pub fn stage(at: i64, stage: &str, status: Status) -> PipelineEvent {
    event(
        at as usize * 100 + stage.len(),
        at,
        Change::Stage {
            stage: stage.into(),
            status,
        },
    )
}

pub fn action(at: i64, stage: &str, action: &str, category: &str, status: Status) -> PipelineEvent {
    event(
        at as usize * 100 + 50 + action.len(),
        at,
        Change::Action {
            stage: stage.into(),
            action: action.into(),
            status,
            category: Some(category.into()),
            provider: None,
            result: ActionResult::default(),
        },
    )
}

pub fn failed_action(
    at: i64,
    stage: &str,
    action: &str,
    summary: &str,
    url: &str,
) -> PipelineEvent {
    let mut e = self::action(at, stage, action, "Build", Status::Failed);
    if let Change::Action { result, .. } = &mut e.change {
        *result = ActionResult {
            summary: Some(summary.into()),
            url: Some(url.into()),
            error_code: Some("JobFailed".into()),
        };
    }
    e
}

/// Source → Build → Deploy, each with one action, all succeeding.
pub fn successful_run() -> Vec<PipelineEvent> {
    use Status::*;
    vec![
        pipeline(100, Started),
        stage(100, "Source", Started),
        action(100, "Source", "Source", "Source", Started),
        action(110, "Source", "Source", "Source", Succeeded),
        stage(110, "Source", Succeeded),
        stage(111, "Build", Started),
        action(111, "Build", "Build", "Build", Started),
        action(290, "Build", "Build", "Build", Succeeded),
        stage(290, "Build", Succeeded),
        stage(291, "Deploy", Started),
        action(291, "Deploy", "Deploy", "Deploy", Started),
        action(352, "Deploy", "Deploy", "Deploy", Succeeded),
        stage(352, "Deploy", Succeeded),
        pipeline(352, Succeeded),
    ]
}

pub fn layout() -> Vec<DeclaredStage> {
    ["Source", "Build", "Deploy"]
        .iter()
        .map(|s| DeclaredStage {
            name: s.to_string(),
            actions: vec![DeclaredAction {
                name: s.to_string(),
                category: Some(if *s == "Deploy" { "Deploy" } else { "Build" }.into()),
            }],
            account: None,
        })
        .collect()
}

pub fn trigger() -> Trigger {
    Trigger {
        commit_id: Some("9fceb02d0ae598e95dc970b74767f19372d61af8".into()),
        commit_url: Some(
            "https://github.com/octo/shop/commit/9fceb02d0ae598e95dc970b74767f19372d61af8".into(),
        ),
        message: Some("Fix the cart total".into()),
        author: Some("ada".into()),
        branch: Some("main".into()),
        tag: None,
        repository: Some("octo/shop".into()),
        kind: Some("StartPipelineExecution".into()),
    }
}

/// An execution with all of `events` applied in order.
pub fn execution_of(events: &[PipelineEvent]) -> Execution {
    let mut e = Execution::new(&events[0]);
    for ev in events {
        e.apply(ev);
    }
    e
}

/// A small deterministic generator for shuffles (no dependency, same sequence every run).
pub struct Lcg(pub u64);

impl Lcg {
    pub fn next(&mut self, bound: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.0 >> 33) % bound as u64) as usize
    }

    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.next(i + 1);
            items.swap(i, j);
        }
    }
}
