//! Event builders and in-memory fakes of the notifier's ports, for its unit tests.

use super::event::{ActionResult, Change, PipelineEvent};
use super::execution::{DeclaredAction, DeclaredStage, Execution};
use super::status::Status;
use super::trigger::{ExecutionFacts, Trigger};
use super::{
    ActionRun, Delivered, DetailsError, ExecutionRecord, ExecutionRef, ExecutionStore,
    PipelineDetails, PublishError, Sink, SlackMemory, Topic,
};
use crate::notify::sns;
use crate::store::StoreError;
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

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
        from_slack: None,
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

#[derive(Default)]
pub struct Rows {
    pub records: HashMap<String, ExecutionRecord>,
    pub locks: HashMap<(String, &'static str), (String, i64)>,
}

#[derive(Default, Clone)]
pub struct MemoryStore(pub Arc<Mutex<Rows>>);

impl ExecutionStore for MemoryStore {
    async fn load(&self, key: &ExecutionRef) -> Result<Option<ExecutionRecord>, StoreError> {
        tokio::task::yield_now().await;
        Ok(self
            .0
            .lock()
            .unwrap()
            .records
            .get(&key.execution_id)
            .cloned())
    }
    async fn save(
        &self,
        key: &ExecutionRef,
        execution: &Execution,
        expected: Option<u64>,
        _now: i64,
    ) -> Result<bool, StoreError> {
        tokio::task::yield_now().await;
        let mut rows = self.0.lock().unwrap();
        let current = rows.records.get(&key.execution_id).map(|r| r.version);
        if current != expected {
            return Ok(false);
        }
        let record = rows
            .records
            .entry(key.execution_id.clone())
            .or_insert_with(|| ExecutionRecord {
                execution: execution.clone(),
                version: 0,
                slack: SlackMemory::default(),
                sns_sent: Default::default(),
            });
        record.execution = execution.clone();
        record.version = expected.map_or(1, |v| v + 1);
        Ok(true)
    }
    async fn lock(
        &self,
        key: &ExecutionRef,
        sink: Sink,
        owner: &str,
        now: i64,
        lease: i64,
    ) -> Result<bool, StoreError> {
        tokio::task::yield_now().await;
        let mut rows = self.0.lock().unwrap();
        let slot = (key.execution_id.clone(), sink.name());
        match rows.locks.get(&slot) {
            Some((holder, until)) if holder != owner && *until >= now => Ok(false),
            _ => {
                rows.locks.insert(slot, (owner.to_string(), now + lease));
                Ok(true)
            }
        }
    }
    async fn unlock(&self, key: &ExecutionRef, sink: Sink, owner: &str) -> Result<(), StoreError> {
        let mut rows = self.0.lock().unwrap();
        let slot = (key.execution_id.clone(), sink.name());
        if rows.locks.get(&slot).is_some_and(|(h, _)| h == owner) {
            rows.locks.remove(&slot);
        }
        Ok(())
    }
    async fn remember(&self, key: &ExecutionRef, d: &Delivered) -> Result<(), StoreError> {
        tokio::task::yield_now().await;
        let mut rows = self.0.lock().unwrap();
        let Some(r) = rows.records.get_mut(&key.execution_id) else {
            return Ok(());
        };
        match d {
            Delivered::SlackPosted { message, rendered } => {
                r.slack.message = Some(message.clone());
                r.slack.rendered = Some(rendered.clone());
            }
            Delivered::SlackUpdated { rendered } => r.slack.rendered = Some(rendered.clone()),
            Delivered::SlackReplied { notice } => {
                r.slack.replies.insert(notice.clone());
            }
            Delivered::SlackGaveUp { error } => r.slack.gave_up = Some(error.clone()),
            Delivered::SlackUncertain { post } => {
                r.slack.uncertain.insert(post.clone());
            }
            Delivered::Published { notice } => {
                r.sns_sent.insert(notice.clone());
            }
        }
        Ok(())
    }
}

#[derive(Default)]
pub struct FakePipelines {
    pub calls: AtomicUsize,
}

impl PipelineDetails for FakePipelines {
    async fn execution(&self, _: &str, _: &str) -> Result<ExecutionFacts, DetailsError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        Ok(ExecutionFacts {
            variables: vec![
                (
                    "COMMIT_ID".into(),
                    "9fceb02d0ae598e95dc970b74767f19372d61af8".into(),
                ),
                ("BRANCH".into(), "main".into()),
            ],
            ..Default::default()
        })
    }
    async fn layout(&self, _: &str, _: Option<i64>) -> Result<Vec<DeclaredStage>, DetailsError> {
        Ok(layout())
    }
    async fn actions(&self, _: &str, _: &str) -> Result<Vec<ActionRun>, DetailsError> {
        Ok(vec![ActionRun {
            stage: "Build".into(),
            action: "Build".into(),
            status: "Failed".into(),
            category: Some("Build".into()),
            result: ActionResult {
                summary: Some("Build terminated with state: FAILED".into()),
                url: Some("https://logs.example/build".into()),
                error_code: None,
            },
            ..Default::default()
        }])
    }
}

#[derive(Default)]
pub struct FakeTopic {
    pub published: Mutex<Vec<sns::SnsNotification>>,
    pub failing: Mutex<bool>,
}

impl Topic for Arc<FakeTopic> {
    async fn publish(&self, n: &sns::SnsNotification) -> Result<(), PublishError> {
        if *self.failing.lock().unwrap() {
            return Err(PublishError {
                topic: "t".into(),
                reason: "throttled".into(),
            });
        }
        self.published.lock().unwrap().push(n.clone());
        Ok(())
    }
}

impl FakeTopic {
    /// The subjects of what was published, in order.
    pub fn subjects(&self) -> Vec<String> {
        self.published
            .lock()
            .unwrap()
            .iter()
            .map(|n| n.subject.clone())
            .collect()
    }
}
