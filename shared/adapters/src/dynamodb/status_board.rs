//! The slash command's status projection: two rows per pipeline stage under one partition,
//! written by the notifier as it saves an execution, read by `/gantry status` in one `Query`.
//!
//! `STATUS` / `{pipeline}#{stage}#{live|latest|shift}`: attributes `run` (S, JSON of
//! `operate::BoardRun`) and `at` (N). The `shift` row is the traffic shifter's: the weight it
//! holds the stage at, written each time it moves traffic (`note_shift`). A row is replaced only
//! by a run at least as recent, so events in any order leave each row at its newest run. A row is
//! the stage's current state until the table's TTL removes it, `STATUS_ROW_SECONDS` after its
//! run. 50 services of 5 stages are 500 rows of about 400
//! bytes, a fifth of one `Query` page.

use super::attributes::{n, s, text};
use super::{conditional_write, store_error, Key, StateTable, StoreError};
use gantry_core::notify::Execution;
use gantry_core::operate::{project, BoardRun, RowKind, StatusBoard};

/// The projection's partition.
const PARTITION: &str = "STATUS";
/// How long a row outlives its run (the table's TTL): a stage that ran nothing for 400 days
/// leaves `/gantry status` (docs/operations.md).
const STATUS_ROW_SECONDS: i64 = 400 * 24 * 3600;

impl Key {
    /// One row of the status projection.
    pub fn status_row(kind: RowKind, run: &BoardRun) -> Self {
        let kind = match kind {
            RowKind::Live => "live",
            RowKind::Latest => "latest",
            RowKind::Shift => "shift",
        };
        Key {
            pk: PARTITION.to_string(),
            sk: format!("{}#{}#{kind}", run.pipeline, run.stage),
        }
    }
}

/// `StatusBoard` on the state table.
#[derive(Debug, Clone)]
pub struct DynamoStatusBoard {
    pub table: StateTable,
}

/// Writes the rows `execution` gives the projection, each only over an older run. Best effort:
/// a row that fails is logged, and the next event of the stage writes it again.
pub(crate) async fn project_execution(table: &StateTable, execution: &Execution) {
    for (kind, run) in project(execution) {
        if let Err(e) = write_row(table, kind, &run).await {
            tracing::warn!(error = %e, pipeline = run.pipeline, stage = run.stage, "could not update the status projection");
        }
    }
}

/// The traffic shifter's row: the weight it holds the stage at (`operate::shift_row`).
pub(crate) async fn note_shift(table: &StateTable, run: &BoardRun) -> Result<(), StoreError> {
    write_row(table, RowKind::Shift, run).await
}

/// Writes one row unless the row already holds a newer run (that is no error: the newer one
/// stays).
async fn write_row(table: &StateTable, kind: RowKind, run: &BoardRun) -> Result<(), StoreError> {
    let json = serde_json::to_string(run).map_err(|e| StoreError::new(e.to_string()))?;
    let written = table
        .update(&Key::status_row(kind, run))
        .update_expression(
            "SET #run = :run, #at = :at, kind = :kind, expires_at = :expires, #schema = :schema",
        )
        .expression_attribute_names("#schema", gantry_core::schema::ATTRIBUTE)
        .expression_attribute_values(":schema", super::attributes::version())
        .condition_expression("attribute_not_exists(#at) OR #at <= :at")
        .expression_attribute_names("#run", "run")
        .expression_attribute_names("#at", "at")
        .expression_attribute_values(":run", s(json))
        .expression_attribute_values(":at", n(run.at))
        .expression_attribute_values(":kind", s("status_row"))
        .expression_attribute_values(":expires", n(run.at + STATUS_ROW_SECONDS))
        .send()
        .await;
    conditional_write(&table.name, written).map(drop)
}

impl StatusBoard for DynamoStatusBoard {
    async fn rows(&self) -> Result<Vec<(RowKind, BoardRun)>, StoreError> {
        let t = &self.table;
        let mut pages = t
            .client
            .query()
            .table_name(&t.name)
            .key_condition_expression("pk = :pk")
            .expression_attribute_values(":pk", s(PARTITION))
            .into_paginator()
            .send();
        let mut rows = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| store_error(&t.name, e))?;
            for item in page.items() {
                let kind = match text(item, "sk") {
                    Some(sk) if sk.ends_with("#live") => RowKind::Live,
                    Some(sk) if sk.ends_with("#shift") => RowKind::Shift,
                    Some(_) => RowKind::Latest,
                    None => continue,
                };
                match text(item, "run").map(|j| serde_json::from_str::<BoardRun>(&j)) {
                    Some(Ok(run)) => rows.push((kind, run)),
                    _ => tracing::warn!("skipped a malformed status row"),
                }
            }
        }
        Ok(rows)
    }
}
