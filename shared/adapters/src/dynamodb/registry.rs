//! The service registry's index: pk `REGISTRY`, sk the pipeline, one item per valid document.
//! All of it in one partition, so a function reads the whole registry with one `Query` (a page
//! holds 1 MB: about 2,000 documents of the contract's size). Its views
//! (`gantry_core::registry::View`): pk `REGISTRY_VIEW`, sk the view's name, one item each, in a
//! partition of their own so that a read of the whole index does not read them too.

use super::attributes::{n, number, s, schema, text};
use super::{conditional_write, store_error, Key, StateTable, StoreError};
use aws_sdk_dynamodb::types::AttributeValue;
use gantry_core::registry::{IndexedService, ServiceIndex, ServiceIndexWriter, StoredView, View};

const PARTITION: &str = "REGISTRY";
const VIEWS: &str = "REGISTRY_VIEW";

impl Key {
    /// A service's index entry: `REGISTRY` / `<pipeline>`.
    pub fn service(pipeline: &str) -> Self {
        Key {
            pk: PARTITION.to_string(),
            sk: pipeline.to_string(),
        }
    }

    /// A view of the index: `REGISTRY_VIEW` / `<view>`.
    pub fn registry_view(view: View) -> Self {
        Key {
            pk: VIEWS.to_string(),
            sk: view.name().to_string(),
        }
    }
}

/// The table's TTL for an index entry or a view written now: the reconcile writes either again
/// well before this (`INDEX_REFRESH_DAYS`).
fn expires_at() -> AttributeValue {
    n(
        gantry_core::clock::now_epoch_seconds()
            + gantry_core::registry::INDEX_ENTRY_DAYS * 24 * 3600,
    )
}

/// `ServiceIndex` (and its writer) on the state table.
#[derive(Debug, Clone)]
pub struct DynamoServiceIndex {
    pub table: StateTable,
}

impl DynamoServiceIndex {
    /// Every entry; `consistent`: with the writes just made (a strongly consistent read, twice
    /// the read capacity).
    async fn entries(&self, consistent: bool) -> Result<Vec<IndexedService>, StoreError> {
        let t = &self.table;
        let mut entries = Vec::new();
        let mut start = None;
        loop {
            let out = t
                .client
                .query()
                .table_name(&t.name)
                .key_condition_expression("pk = :pk")
                .expression_attribute_values(":pk", s(PARTITION))
                // Only what an entry is made of: at 1,000 services the answer is held whole
                // while it is parsed, so every attribute left out is memory at the cold start.
                .projection_expression("sk, document, version, modified_ms, written_ms")
                .consistent_read(consistent)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| store_error(&t.name, e))?;
            for item in out.items() {
                let (Some(pipeline), Some(document)) = (text(item, "sk"), text(item, "document"))
                else {
                    continue;
                };
                entries.push(IndexedService {
                    pipeline,
                    document,
                    version: number(item, "version").unwrap_or(0),
                    modified_ms: number(item, "modified_ms").unwrap_or(0),
                    written_ms: number(item, "written_ms").unwrap_or(0),
                });
            }
            start = out.last_evaluated_key;
            if start.is_none() {
                return Ok(entries);
            }
        }
    }
}

impl ServiceIndex for DynamoServiceIndex {
    async fn services(&self) -> Result<Vec<IndexedService>, StoreError> {
        self.entries(false).await
    }

    /// One `GetItem`, eventually consistent: a view a moment old is what the cache serves anyway.
    async fn view(&self, view: View) -> Result<Option<StoredView>, StoreError> {
        let t = &self.table;
        let out = t
            .client
            .get_item()
            .table_name(&t.name)
            .set_key(Some(Key::registry_view(view).attributes()))
            .send()
            .await
            .map_err(|e| store_error(&t.name, e))?;
        let Some(item) = out.item.as_ref() else {
            return Ok(None);
        };
        if schema(item).is_err() {
            // A newer release's view: its readers read the index, which this release can.
            return Ok(None);
        }
        let (Some(AttributeValue::B(packed)), Some(digest)) =
            (item.get("view"), text(item, "digest"))
        else {
            return Ok(None);
        };
        Ok(Some(StoredView {
            packed: packed.clone().into_inner(),
            digest,
            read_ms: number(item, "read_ms").unwrap_or(0),
            written_ms: number(item, "written_ms").unwrap_or(0),
        }))
    }
}

impl ServiceIndexWriter for DynamoServiceIndex {
    async fn put(&self, entry: &IndexedService) -> Result<(), StoreError> {
        let t = &self.table;
        let result = t
            .put(&Key::service(&entry.pipeline))
            .item("kind", s("service"))
            .item("document", s(&entry.document))
            .item("version", n(entry.version))
            .item("modified_ms", n(entry.modified_ms))
            .item("written_ms", n(entry.written_ms))
            .item("expires_at", expires_at())
            // A late event or reconcile never puts back an older write of the parameter.
            .condition_expression("attribute_not_exists(pk) OR modified_ms <= :m")
            .expression_attribute_values(":m", n(entry.modified_ms))
            .send()
            .await;
        conditional_write(&t.name, result).map(drop)
    }

    async fn remove(&self, pipeline: &str, seen: Option<i64>) -> Result<(), StoreError> {
        let t = &self.table;
        let mut delete = t.delete(&Key::service(pipeline));
        if let Some(seen) = seen {
            delete = delete
                .condition_expression("modified_ms = :m")
                .expression_attribute_values(":m", AttributeValue::N(seen.to_string()));
        }
        conditional_write(&t.name, delete.send().await).map(drop)
    }

    async fn written_services(&self) -> Result<Vec<IndexedService>, StoreError> {
        self.entries(true).await
    }

    async fn put_view(&self, view: View, stored: &StoredView) -> Result<bool, StoreError> {
        let t = &self.table;
        let result = t
            .put(&Key::registry_view(view))
            .item("kind", s("registry_view"))
            .item(
                "view",
                AttributeValue::B(aws_sdk_dynamodb::primitives::Blob::new(
                    stored.packed.clone(),
                )),
            )
            .item("digest", s(&stored.digest))
            .item("read_ms", n(stored.read_ms))
            .item("written_ms", n(stored.written_ms))
            .item("expires_at", expires_at())
            // Two syncs at once: the view built from the later read of the index stays.
            .condition_expression("attribute_not_exists(pk) OR read_ms <= :r")
            .expression_attribute_values(":r", n(stored.read_ms))
            .send()
            .await;
        conditional_write(&t.name, result)
    }

    async fn remove_view(&self, view: View) -> Result<(), StoreError> {
        let t = &self.table;
        conditional_write(&t.name, t.delete(&Key::registry_view(view)).send().await).map(drop)
    }
}
