//! Delivery metrics' facts and claims (`gantry_core::delivery`):
//!
//! - `RUNS#{pipeline}` / `{ended at, 15 digits of ms}#{stage}#{execution id}#{outcome}`: one
//!   stage run, written by the notifier when a stage ends. The key is the run's identity, so a
//!   redelivered event writes the same item; sorted by time, so a window is one `Query`.
//! - `FIGURE#{pipeline}#{stage}` / `{metric}#{subject}`: a figure's claim, written once
//!   (`attribute_not_exists`) before its EMF line, so no figure is emitted twice.
//! - `WEEKLY#{pipeline}` / `{week's Monday}`: the weekly post's claim, written once before the
//!   post, deleted again if the post surely failed.
//! - pushes: the webhook's `PUSHES#…` records (`pushes.rs`).
//!
//! All kept `PUSH_HISTORY_SECONDS` (TTL `expires_at`).

use super::attributes::{n, s, text};
use super::{conditional_write, pushes, store_error, Key, StateTable, StoreError};
use gantry_core::delivery::{DeliveryHistory, FigureClaims, Metric, StageRun, WeeklyClaims};
use gantry_core::ingest::{StartedPush, PUSH_HISTORY_SECONDS};

/// The state table, as delivery metrics use it.
#[derive(Debug, Clone)]
pub struct DynamoDeliveryFacts {
    pub table: StateTable,
}

impl DynamoDeliveryFacts {
    pub fn new(table: StateTable) -> Self {
        Self { table }
    }
}

fn runs_pk(pipeline: &str) -> String {
    format!("RUNS#{pipeline}")
}

impl Key {
    /// A stage run: `RUNS#{pipeline}`, sorted by the time it ended.
    pub fn stage_run(run: &StageRun) -> Self {
        Key {
            pk: runs_pk(&run.pipeline),
            sk: format!(
                "{:015}#{}#{}#{:?}",
                run.at_ms.max(0),
                run.stage,
                run.execution_id,
                run.outcome
            ),
        }
    }

    /// A figure's claim: `FIGURE#{pipeline}#{stage}` / `{metric}#{subject}`.
    pub fn figure(pipeline: &str, stage: &str, metric: Metric, subject: &str) -> Self {
        Key {
            pk: format!("FIGURE#{pipeline}#{stage}"),
            sk: format!("{}#{subject}", metric.name()),
        }
    }
}

impl DeliveryHistory for DynamoDeliveryFacts {
    async fn record_run(&self, run: &StageRun) -> Result<(), StoreError> {
        let body = serde_json::to_string(run).map_err(|e| StoreError::new(e.to_string()))?;
        self.table
            .put(&Key::stage_run(run))
            .item("kind", s("stage_run"))
            .item("run", s(body))
            .item("expires_at", n(run.at_ms / 1000 + PUSH_HISTORY_SECONDS))
            .send()
            .await
            .map_err(|e| store_error(&self.table.name, e))?;
        Ok(())
    }

    async fn runs(&self, pipeline: &str, since_ms: i64) -> Result<Vec<StageRun>, StoreError> {
        let mut pages = self
            .table
            .client
            .query()
            .table_name(&self.table.name)
            .key_condition_expression("pk = :pk AND sk >= :since")
            .expression_attribute_values(":pk", s(runs_pk(pipeline)))
            .expression_attribute_values(":since", s(format!("{:015}", since_ms.max(0))))
            .consistent_read(true)
            .into_paginator()
            .send();
        let mut out = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| store_error(&self.table.name, e))?;
            for item in page.items() {
                // A record this version cannot read is skipped, not fatal: figures are derived
                // from the rest.
                match text(item, "run").map(|t| serde_json::from_str::<StageRun>(&t)) {
                    Some(Ok(run)) => out.push(run),
                    _ => tracing::warn!(pipeline, "skipped an unreadable stage run record"),
                }
            }
        }
        Ok(out)
    }

    async fn pushes(
        &self,
        pipeline: &str,
        git_ref: &str,
        since_ms: i64,
    ) -> Result<Vec<StartedPush>, StoreError> {
        pushes::pushes_since(&self.table, pipeline, git_ref, since_ms).await
    }

    async fn started(
        &self,
        pipeline: &str,
        execution_id: &str,
    ) -> Result<Option<StartedPush>, StoreError> {
        pushes::started(&self.table, pipeline, execution_id).await
    }
}

impl FigureClaims for DynamoDeliveryFacts {
    async fn claim(
        &self,
        pipeline: &str,
        stage: &str,
        metric: Metric,
        subject: &str,
    ) -> Result<bool, StoreError> {
        let now = gantry_core::clock::now_epoch_seconds();
        let result = self
            .table
            .put(&Key::figure(pipeline, stage, metric, subject))
            .item("kind", s("figure_claim"))
            .item("expires_at", n(now + PUSH_HISTORY_SECONDS))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await;
        conditional_write(&self.table.name, result)
    }
}

impl Key {
    /// The weekly post's claim: `WEEKLY#{pipeline}` / `{week}`.
    pub fn weekly_post(pipeline: &str, week: &str) -> Self {
        Key {
            pk: format!("WEEKLY#{pipeline}"),
            sk: week.to_string(),
        }
    }
}

impl WeeklyClaims for DynamoDeliveryFacts {
    async fn claim_week(&self, pipeline: &str, week: &str) -> Result<bool, StoreError> {
        let now = gantry_core::clock::now_epoch_seconds();
        let result = self
            .table
            .put(&Key::weekly_post(pipeline, week))
            .item("kind", s("weekly_post_claim"))
            // A few weeks: long after any redelivery of the schedule's event.
            .item("expires_at", n(now + 35 * 24 * 3600))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await;
        conditional_write(&self.table.name, result)
    }

    async fn release_week(&self, pipeline: &str, week: &str) -> Result<(), StoreError> {
        self.table
            .delete(&Key::weekly_post(pipeline, week))
            .send()
            .await
            .map_err(|e| store_error(&self.table.name, e))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gantry_core::delivery::{RunKind, RunOutcome};

    #[test]
    fn a_run_key_sorts_by_time_and_names_the_run() {
        let run = |at_ms| StageRun {
            pipeline: "shop".into(),
            stage: "Prod".into(),
            execution_id: "e-1".into(),
            kind: RunKind::Change,
            outcome: RunOutcome::Failed,
            at_ms,
            commit: None,
            git_ref: None,
            thread: None,
        };
        assert!(Key::stage_run(&run(999)).sk < Key::stage_run(&run(1_000)).sk);
        assert_eq!(Key::stage_run(&run(5)).pk, "RUNS#shop");
        assert_eq!(
            Key::stage_run(&run(5)).sk,
            "000000000000005#Prod#e-1#Failed"
        );
        let claim = Key::figure("shop", "Prod", Metric::LeadTimeSeconds, "c0ffee");
        assert_eq!(
            (claim.pk.as_str(), claim.sk.as_str()),
            ("FIGURE#shop#Prod", "LeadTimeSeconds#c0ffee")
        );
    }
}
