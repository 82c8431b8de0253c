//! An in-memory state table for the delivery flow's tests.

use super::model::{Metric, StageRun};
use super::ports::{DeliveryHistory, FigureClaims};
use crate::ingest::StartedPush;
use crate::store::StoreError;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;

/// A run's identity: pipeline, stage, execution, outcome, time.
type RunId = (String, String, String, String, i64);

/// Keeps runs by identity (a rewrite replaces), pushes by execution, claims as a set.
#[derive(Default)]
pub struct MemoryFacts {
    pub runs: Mutex<BTreeMap<RunId, StageRun>>,
    pub pushes: Mutex<Vec<StartedPush>>,
    pub claims: Mutex<BTreeSet<String>>,
}

impl MemoryFacts {
    pub fn with_pushes(pushes: Vec<StartedPush>) -> Self {
        MemoryFacts {
            pushes: Mutex::new(pushes),
            ..Default::default()
        }
    }
}

fn poisoned() -> StoreError {
    StoreError::new("lock poisoned")
}

impl DeliveryHistory for MemoryFacts {
    async fn record_run(&self, run: &StageRun) -> Result<(), StoreError> {
        let key = (
            run.pipeline.clone(),
            run.stage.clone(),
            run.execution_id.clone(),
            format!("{:?}", run.outcome),
            run.at_ms,
        );
        self.runs
            .lock()
            .map_err(|_| poisoned())?
            .insert(key, run.clone());
        Ok(())
    }

    async fn runs(&self, pipeline: &str, since_ms: i64) -> Result<Vec<StageRun>, StoreError> {
        Ok(self
            .runs
            .lock()
            .map_err(|_| poisoned())?
            .values()
            .filter(|r| r.pipeline == pipeline && r.at_ms >= since_ms)
            .cloned()
            .collect())
    }

    async fn pushes(
        &self,
        pipeline: &str,
        git_ref: &str,
        since_ms: i64,
    ) -> Result<Vec<StartedPush>, StoreError> {
        Ok(self
            .pushes
            .lock()
            .map_err(|_| poisoned())?
            .iter()
            .filter(|p| p.pipeline == pipeline && p.git_ref == git_ref)
            .filter(|p| p.facts.received_ms >= since_ms)
            .cloned()
            .collect())
    }

    async fn started(
        &self,
        pipeline: &str,
        execution_id: &str,
    ) -> Result<Option<StartedPush>, StoreError> {
        Ok(self
            .pushes
            .lock()
            .map_err(|_| poisoned())?
            .iter()
            .find(|p| p.pipeline == pipeline && p.execution_id == execution_id)
            .cloned())
    }
}

impl FigureClaims for MemoryFacts {
    async fn claim(
        &self,
        pipeline: &str,
        stage: &str,
        metric: Metric,
        subject: &str,
    ) -> Result<bool, StoreError> {
        Ok(self
            .claims
            .lock()
            .map_err(|_| poisoned())?
            .insert(format!("{pipeline}#{stage}#{}#{subject}", metric.name())))
    }
}

impl super::ports::WeeklyClaims for MemoryFacts {
    async fn claim_week(&self, pipeline: &str, week: &str) -> Result<bool, StoreError> {
        Ok(self
            .claims
            .lock()
            .map_err(|_| poisoned())?
            .insert(format!("WEEKLY#{pipeline}#{week}")))
    }

    async fn release_week(&self, pipeline: &str, week: &str) -> Result<(), StoreError> {
        self.claims
            .lock()
            .map_err(|_| poisoned())?
            .remove(&format!("WEEKLY#{pipeline}#{week}"));
        Ok(())
    }
}
