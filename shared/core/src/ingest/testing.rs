//! In-memory fakes of the webhook's ports, for its unit tests: a starter that can be told a
//! pipeline is missing or throttled, one ledger for deliveries, pushes and started executions,
//! and a retry queue.

use super::ports::{
    DeliveryLedger, IngestPorts, PipelineStarter, PushHistory, RetryQueue, StartedPushes,
};
use super::{
    Claim, DeliveryId, Newest, ParkedStart, QueueError, StartError, StartRequest, StartedPush,
};
use crate::store::StoreError;
use std::collections::HashMap;
use std::sync::Mutex;

#[derive(Default)]
pub struct FakeStarter {
    pub starts: Mutex<Vec<StartRequest>>,
    pub missing: Vec<&'static str>,
    /// How many more starts fail as a throttle.
    pub throttled: Mutex<u32>,
}

impl PipelineStarter for FakeStarter {
    async fn start(&self, r: &StartRequest) -> Result<String, StartError> {
        {
            let mut t = self.throttled.lock().unwrap();
            if *t > 0 {
                *t -= 1;
                return Err(StartError::Unavailable {
                    pipeline: r.pipeline.clone(),
                    reason: "ThrottlingException: arn:aws:codepipeline:us-east-1:123456789012:x"
                        .into(),
                });
            }
        }
        if self.missing.contains(&r.pipeline.as_str()) {
            return Err(StartError::PipelineNotFound {
                pipeline: r.pipeline.clone(),
            });
        }
        let mut starts = self.starts.lock().unwrap();
        starts.push(r.clone());
        Ok(format!("exec-{}", starts.len()))
    }
}

#[derive(Default)]
pub struct FakeLedger {
    pub records: Mutex<HashMap<String, &'static str>>,
    pub newest: Mutex<HashMap<String, i64>>,
    /// The started executions' records.
    pub started: Mutex<Vec<StartedPush>>,
    /// The table refuses the started executions' records.
    pub started_down: bool,
}

impl StartedPushes for FakeLedger {
    async fn record_start(&self, started: &StartedPush) -> Result<(), StoreError> {
        if self.started_down {
            return Err(StoreError::new("down"));
        }
        self.started.lock().unwrap().push(started.clone());
        Ok(())
    }
}

impl PushHistory for FakeLedger {
    async fn advance(
        &self,
        pipeline: &str,
        git_ref: &str,
        pushed_at: i64,
    ) -> Result<Newest, StoreError> {
        let mut n = self.newest.lock().unwrap();
        let key = format!("{pipeline}#{git_ref}");
        match n.get(&key) {
            Some(&newest) if newest > pushed_at => Ok(Newest::Older { newest }),
            _ => {
                n.insert(key, pushed_at);
                Ok(Newest::Recorded)
            }
        }
    }
}

#[derive(Default)]
pub struct FakeQueue {
    pub parked: Mutex<Vec<ParkedStart>>,
}

impl RetryQueue for FakeQueue {
    async fn park(&self, start: &ParkedStart) -> Result<(), QueueError> {
        self.parked.lock().unwrap().push(start.clone());
        Ok(())
    }
}

impl DeliveryLedger for FakeLedger {
    async fn claim(&self, key: &DeliveryId, _now: i64) -> Result<Claim, StoreError> {
        let mut r = self.records.lock().unwrap();
        Ok(match r.get(&format!("{}#{}", key.provider, key.id)) {
            Some(&"done") => Claim::Duplicate,
            Some(_) => Claim::InFlight,
            None => {
                r.insert(format!("{}#{}", key.provider, key.id), "pending");
                Claim::New
            }
        })
    }
    async fn complete(&self, key: &DeliveryId, _summary: &str) -> Result<(), StoreError> {
        self.records
            .lock()
            .unwrap()
            .insert(format!("{}#{}", key.provider, key.id), "done");
        Ok(())
    }
    async fn release(&self, key: &DeliveryId) -> Result<(), StoreError> {
        self.records
            .lock()
            .unwrap()
            .remove(&format!("{}#{}", key.provider, key.id));
        Ok(())
    }
}

/// The webhook over the fakes.
pub struct IngestFakes;

impl IngestPorts for IngestFakes {
    type Starter = FakeStarter;
    type Ledger = FakeLedger;
    type Queue = FakeQueue;
}

/// The webhook's record of a push to `shop`'s `main` that started `execution`: `commits` (the
/// head last), pushed by `pusher`, written by `authors`, received at `received_ms`.
pub fn pushed(
    execution: &str,
    commits: &[&str],
    pusher: &str,
    authors: &[&str],
    received_ms: i64,
) -> StartedPush {
    StartedPush {
        pipeline: "shop".into(),
        execution_id: execution.into(),
        git_ref: "refs/heads/main".into(),
        commit_id: commits.last().copied().unwrap_or_default().to_string(),
        facts: super::PushFacts {
            pusher: Some(pusher.into()),
            authors: authors.iter().map(|a| a.to_string()).collect(),
            commits: commits.iter().map(|c| c.to_string()).collect(),
            delivery: format!("d-{execution}"),
            received_at: received_ms.div_euclid(1000),
            received_ms,
            carried_pushers: Vec::new(),
        },
    }
}
