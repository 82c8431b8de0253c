//! The index of deployments that may still be open, for the traffic shifter's sweep: one item
//! per deployment in a single item collection (pk `OPEN_DEPLOYMENTS`, sk `DEPLOYMENT#<id>`), so
//! the sweep lists them with one `Query` instead of scanning the table. An entry is written
//! before its deployment's record and removed once the deployment has finished; the record
//! stays the truth (the sweep reads it before deciding anything).

use super::attributes::{n, number, s, text, DynamoItem};
use super::{store_error, Key, StateTable, StoreError};

/// The index's partition key.
pub const OPEN: &str = "OPEN_DEPLOYMENTS";

/// How long an entry is kept if nothing removes it: past CodePipeline's one-day limit on the
/// action, with room for the sweep to have seen it finish.
const KEEP_SECONDS: i64 = 3 * 24 * 3600;

impl Key {
    /// Deployment `id`'s entry in the index of open deployments.
    pub fn open_deployment(id: &str) -> Self {
        Key {
            pk: OPEN.to_string(),
            sk: format!("DEPLOYMENT#{id}"),
        }
    }
}

/// Lists deployment `id` (now: epoch seconds).
pub(super) async fn list(t: &StateTable, id: &str, now: i64) -> Result<(), StoreError> {
    t.put(&Key::open_deployment(id))
        .item("listed_at", n(now))
        .item("expires_at", n(now + KEEP_SECONDS))
        .send()
        .await
        .map(drop)
        .map_err(|e| store_error(&t.name, e))
}

/// Removes deployment `id` from the index.
pub(super) async fn forget(t: &StateTable, id: &str) -> Result<(), StoreError> {
    t.delete(&Key::open_deployment(id))
        .send()
        .await
        .map(drop)
        .map_err(|e| store_error(&t.name, e))
}

/// A listed deployment and its record's item as it stands (`None`: not recorded). The
/// deployments' codec turns the item into a record, so this index stays a leaf beside it.
pub(super) struct Entry {
    pub id: String,
    pub listed_ms: i64,
    pub item: Option<DynamoItem>,
}

/// Every listed deployment with its record (one query, its pages followed; then each record,
/// strongly consistent).
pub(super) async fn listed(t: &StateTable) -> Result<Vec<Entry>, StoreError> {
    let mut entries: Vec<DynamoItem> = Vec::new();
    let mut start = None;
    loop {
        let page = t
            .client
            .query()
            .table_name(&t.name)
            .key_condition_expression("pk = :pk")
            .expression_attribute_values(":pk", s(OPEN))
            .consistent_read(true)
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(|e| store_error(&t.name, e))?;
        entries.extend(page.items.unwrap_or_default());
        start = page.last_evaluated_key;
        if start.is_none() {
            break;
        }
    }
    let mut out = Vec::with_capacity(entries.len());
    for entry in entries {
        let Some(id) =
            text(&entry, "sk").and_then(|sk| sk.strip_prefix("DEPLOYMENT#").map(str::to_string))
        else {
            continue;
        };
        // A lease taken before the deployment was recorded is not a deployment (as in `read`):
        // the sweep forgets its entry once it is old, instead of trying to roll it back.
        let found = t
            .read(&Key::deployment(&id))
            .await?
            .filter(|item| item.contains_key("state"));
        out.push(Entry {
            listed_ms: number(&entry, "listed_at").unwrap_or(0) * 1000,
            item: found,
            id,
        });
    }
    Ok(out)
}
