//! The slash command's proposals waiting for a Confirm: `OPERATION#{id}` / `OPERATION`,
//! attributes `confirmation` (S, JSON of `operate::confirm::Confirmation`), `confirmed_by` (S,
//! written once, conditionally) and `expires_at` (N, TTL: a day after the proposal, long past
//! its 5 minutes, for the audit trail).

use super::attributes::{n, s, text};
use super::{conditional_write, Key, StateTable, StoreError};
use gantry_core::operate::confirm::Confirmation;
use gantry_core::operate::Confirmations;

impl Key {
    /// A proposal waiting for its Confirm.
    pub fn operation(id: &str) -> Self {
        Key {
            pk: format!("OPERATION#{id}"),
            sk: "OPERATION".to_string(),
        }
    }
}

/// How long a proposal's record is kept.
const KEEP_SECONDS: i64 = 24 * 3600;

/// `Confirmations` on the state table.
#[derive(Debug, Clone)]
pub struct DynamoConfirmations {
    pub table: StateTable,
}

impl Confirmations for DynamoConfirmations {
    async fn create(&self, c: &Confirmation) -> Result<(), StoreError> {
        let t = &self.table;
        let json = serde_json::to_string(c).map_err(|e| StoreError::new(e.to_string()))?;
        let put = t
            .put(&Key::operation(&c.id))
            .item("kind", s("operation"))
            .item("confirmation", s(json))
            .item("requested_by", s(&c.requested_by))
            .item("expires_at", n(c.requested_at + KEEP_SECONDS))
            // A retried task writes the same proposal again: never over a Confirm.
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await;
        conditional_write(&t.name, put).map(|_| ())
    }

    async fn read(&self, id: &str) -> Result<Option<Confirmation>, StoreError> {
        let Some(item) = self.table.read(&Key::operation(id)).await? else {
            return Ok(None);
        };
        let json = text(&item, "confirmation")
            .ok_or_else(|| StoreError::new("malformed operation record".to_string()))?;
        let mut c: Confirmation =
            serde_json::from_str(&json).map_err(|e| StoreError::new(e.to_string()))?;
        c.confirmed_by = text(&item, "confirmed_by");
        Ok(Some(c))
    }

    async fn confirm(&self, id: &str, by: &str) -> Result<bool, StoreError> {
        let t = &self.table;
        let written = t
            .update(&Key::operation(id))
            .update_expression("SET confirmed_by = :by")
            .condition_expression("attribute_exists(pk) AND attribute_not_exists(confirmed_by)")
            .expression_attribute_values(":by", s(by))
            .send()
            .await;
        conditional_write(&t.name, written)
    }
}
