//! Keeping the index in step with Parameter Store: a change event for one parameter, and the
//! periodic reconcile of the whole path. Each checks a document before it enters the index; an
//! invalid one is logged (parameter and field) and counted, and its service leaves the index.

use super::document::{pipeline_of, DocumentError, Service};
use super::{IndexedService, ServiceIndexWriter};
use crate::store::StoreError;
use serde_json::Value;
use std::collections::BTreeMap;
use std::future::Future;

/// The metric an invalid document counts in (namespace `Gantry`), for the alarm.
pub const INVALID_DOCUMENTS_METRIC: &str = "InvalidServiceDocuments";

/// One parameter as Parameter Store returns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parameter {
    pub name: String,
    pub value: String,
    pub version: i64,
    pub modified_ms: i64,
}

/// Parameter Store, read-only, under the registry's path.
pub trait ParameterStore {
    /// One parameter; `None` when it does not exist.
    fn get(&self, name: &str)
        -> impl Future<Output = Result<Option<Parameter>, StoreError>> + Send;
    /// Every parameter directly under `path` (all pages).
    fn list(&self, path: &str) -> impl Future<Output = Result<Vec<Parameter>, StoreError>> + Send;
}

/// One parameter changed (EventBridge `aws.ssm`, `Parameter Store Change`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParameterChange {
    pub name: String,
    pub operation: String,
}

/// The change a Parameter Store event announces, if it is one for a parameter directly under
/// `path`; `None` for any other event.
pub fn change_of(event: &Value, path: &str) -> Option<ParameterChange> {
    if event["source"] != "aws.ssm" || event["detail-type"] != "Parameter Store Change" {
        return None;
    }
    let name = event["detail"]["name"].as_str()?;
    let rest = name.strip_prefix(path)?;
    if rest.is_empty() || rest.contains('/') {
        return None;
    }
    Some(ParameterChange {
        name: name.to_string(),
        operation: event["detail"]["operation"]
            .as_str()
            .unwrap_or("")
            .to_string(),
    })
}

/// What a sync did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncReport {
    pub written: Vec<String>,
    pub removed: Vec<String>,
    /// The documents that are invalid: their services are not in the index.
    pub invalid: Vec<DocumentError>,
    /// The views written again, by name (`View::name`).
    pub views: Vec<String>,
}

/// Applies one change: the parameter is read again (the event does not carry its value, and
/// events may come late or out of order: the parameter as it is now is what counts).
pub async fn sync_change(
    change: &ParameterChange,
    store: &impl ParameterStore,
    index: &impl ServiceIndexWriter,
) -> Result<SyncReport, StoreError> {
    let pipeline = pipeline_of(&change.name).to_string();
    let mut report = SyncReport::default();
    let current = if change.operation == "Delete" {
        None
    } else {
        store.get(&change.name).await?
    };
    match current {
        None => {
            index.remove(&pipeline, None).await?;
            report.removed.push(pipeline);
        }
        Some(parameter) => apply(&parameter, None, index, &mut report).await?,
    }
    report.views = written_views(index, None).await?;
    Ok(report)
}

/// Brings the whole index in step with the path: every valid document in, everything else out.
/// Entries already at a parameter's version are left alone.
pub async fn reconcile(
    path: &str,
    store: &impl ParameterStore,
    index: &impl ServiceIndexWriter,
) -> Result<SyncReport, StoreError> {
    let parameters = store.list(path).await?;
    let read_ms = crate::clock::now_epoch_millis();
    let indexed: BTreeMap<String, IndexedService> = index
        .services()
        .await?
        .into_iter()
        .map(|e| (e.pipeline.clone(), e))
        .collect();
    let mut report = SyncReport::default();
    let mut listed = std::collections::BTreeSet::new();
    for parameter in &parameters {
        let pipeline = pipeline_of(&parameter.name);
        listed.insert(pipeline.to_string());
        let held = indexed.get(pipeline);
        if held.is_some_and(|h| {
            h.version == parameter.version
                && h.modified_ms == parameter.modified_ms
                && !super::due_for_refresh(h.written_ms)
        }) {
            continue;
        }
        apply(parameter, held.map(|h| h.modified_ms), index, &mut report).await?;
    }
    for (pipeline, held) in &indexed {
        if !listed.contains(pipeline) {
            index.remove(pipeline, Some(held.modified_ms)).await?;
            report.removed.push(pipeline.clone());
        }
    }
    // Also when nothing changed here: a view left behind by two syncs at once, or never written
    // (a hub upgraded from a release without views), is repaired by the next pass. A pass that
    // wrote nothing builds them from its own read (a pass a minute at 1,000 services: the read
    // is most of its cost).
    let unchanged = report.written.is_empty() && report.removed.is_empty();
    let read = unchanged.then(|| (read_ms, indexed.into_values().collect()));
    report.views = written_views(index, read).await?;
    Ok(report)
}

async fn written_views(
    index: &impl ServiceIndexWriter,
    read: Option<(i64, Vec<IndexedService>)>,
) -> Result<Vec<String>, StoreError> {
    Ok(super::view::refresh_views(index, read)
        .await?
        .into_iter()
        .map(|v| v.name().to_string())
        .collect())
}

/// Checks one parameter's document: a valid one is written, an invalid one is logged and its
/// service removed (`held`: the entry the index had, for a reconcile's conditional remove).
async fn apply(
    parameter: &Parameter,
    held: Option<i64>,
    index: &impl ServiceIndexWriter,
    report: &mut SyncReport,
) -> Result<(), StoreError> {
    let pipeline = pipeline_of(&parameter.name).to_string();
    match Service::parse(&parameter.name, &parameter.value) {
        Ok(_) => {
            index
                .put(&IndexedService {
                    pipeline: pipeline.clone(),
                    document: parameter.value.clone(),
                    version: parameter.version,
                    modified_ms: parameter.modified_ms,
                    written_ms: crate::clock::now_epoch_millis(),
                })
                .await?;
            report.written.push(pipeline);
        }
        Err(e) => {
            tracing::error!(
                parameter = e.parameter,
                field = e.field,
                reason = e.reason,
                "invalid service document: the service is skipped until its document is fixed"
            );
            index.remove(&pipeline, held).await?;
            report.invalid.push(e);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::{ServiceIndex, StoredView, View};
    use super::*;
    use std::sync::Mutex;

    const PATH: &str = "/gantry/services/";

    #[derive(Default)]
    struct Store(Mutex<BTreeMap<String, Parameter>>);

    impl Store {
        fn set(&self, pipeline: &str, value: &str, version: i64) {
            let name = format!("{PATH}{pipeline}");
            self.0.lock().unwrap().insert(
                name.clone(),
                Parameter {
                    name,
                    value: value.into(),
                    version,
                    modified_ms: version * 10,
                },
            );
        }
    }

    impl ParameterStore for Store {
        async fn get(&self, name: &str) -> Result<Option<Parameter>, StoreError> {
            Ok(self.0.lock().unwrap().get(name).cloned())
        }
        async fn list(&self, path: &str) -> Result<Vec<Parameter>, StoreError> {
            Ok(self
                .0
                .lock()
                .unwrap()
                .values()
                .filter(|p| p.name.starts_with(path))
                .cloned()
                .collect())
        }
    }

    #[derive(Default)]
    struct Index(
        Mutex<BTreeMap<String, IndexedService>>,
        Mutex<BTreeMap<&'static str, StoredView>>,
    );

    impl Index {
        fn pipelines(&self) -> Vec<String> {
            self.0.lock().unwrap().keys().cloned().collect()
        }
    }

    impl ServiceIndex for Index {
        async fn services(&self) -> Result<Vec<IndexedService>, StoreError> {
            Ok(self.0.lock().unwrap().values().cloned().collect())
        }
        async fn view(&self, view: View) -> Result<Option<StoredView>, StoreError> {
            Ok(self.1.lock().unwrap().get(view.name()).cloned())
        }
    }

    impl ServiceIndexWriter for Index {
        async fn put(&self, entry: &IndexedService) -> Result<(), StoreError> {
            let mut map = self.0.lock().unwrap();
            if map
                .get(&entry.pipeline)
                .is_none_or(|held| held.modified_ms <= entry.modified_ms)
            {
                map.insert(entry.pipeline.clone(), entry.clone());
            }
            Ok(())
        }
        async fn remove(&self, pipeline: &str, seen: Option<i64>) -> Result<(), StoreError> {
            let mut map = self.0.lock().unwrap();
            if seen.is_none() || map.get(pipeline).map(|h| h.modified_ms) == seen {
                map.remove(pipeline);
            }
            Ok(())
        }
        async fn put_view(&self, view: View, stored: &StoredView) -> Result<bool, StoreError> {
            self.1.lock().unwrap().insert(view.name(), stored.clone());
            Ok(true)
        }
        async fn remove_view(&self, view: View) -> Result<(), StoreError> {
            self.1.lock().unwrap().remove(view.name());
            Ok(())
        }
    }

    const VALID: &str = r#"{"notify": {"channel": "C0SHOP"}}"#;

    fn event(name: &str, operation: &str) -> Value {
        serde_json::json!({"source": "aws.ssm", "detail-type": "Parameter Store Change",
            "detail": {"name": name, "operation": operation, "type": "String"}})
    }

    #[test]
    fn only_changes_directly_under_the_path_are_changes() {
        let c = change_of(&event("/gantry/services/shop", "Update"), PATH).unwrap();
        assert_eq!(c.name, "/gantry/services/shop");
        assert_eq!(c.operation, "Update");
        assert!(change_of(&event("/other/shop", "Update"), PATH).is_none());
        assert!(change_of(&event("/gantry/services/a/b", "Update"), PATH).is_none());
        assert!(change_of(&event("/gantry/services/", "Update"), PATH).is_none());
        let mut pipeline_event = event("/gantry/services/shop", "Update");
        pipeline_event["source"] = "aws.codepipeline".into();
        assert!(change_of(&pipeline_event, PATH).is_none());
    }

    #[tokio::test]
    async fn a_change_is_read_again_and_written_or_removed() {
        let (store, index) = (Store::default(), Index::default());
        store.set("shop", VALID, 1);
        let change = change_of(&event("/gantry/services/shop", "Create"), PATH).unwrap();
        let report = sync_change(&change, &store, &index).await.unwrap();
        assert_eq!(report.written, vec!["shop"]);
        assert_eq!(index.pipelines(), vec!["shop"]);
        assert_eq!(report.views, ["routes", "notify"]);
        let notify = index.view(View::Notify).await.unwrap().unwrap();
        assert!(super::super::unpack(&notify.packed)
            .unwrap()
            .contains("C0SHOP"));
        store.0.lock().unwrap().clear();
        let change = change_of(&event("/gantry/services/shop", "Delete"), PATH).unwrap();
        sync_change(&change, &store, &index).await.unwrap();
        assert!(index.pipelines().is_empty());
        let notify = index.view(View::Notify).await.unwrap().unwrap();
        let text = super::super::unpack(&notify.packed).unwrap();
        assert_eq!(text, "[]", "the removed service leaves the views too");
    }

    #[tokio::test]
    async fn an_invalid_document_is_reported_and_its_service_leaves_the_index() {
        let (store, index) = (Store::default(), Index::default());
        store.set("shop", VALID, 1);
        let change = change_of(&event("/gantry/services/shop", "Update"), PATH).unwrap();
        sync_change(&change, &store, &index).await.unwrap();
        store.set("shop", r#"{"notify": {"verbosity": "loud"}}"#, 2);
        let report = sync_change(&change, &store, &index).await.unwrap();
        assert_eq!(report.invalid.len(), 1);
        assert_eq!(report.invalid[0].parameter, "/gantry/services/shop");
        assert_eq!(report.invalid[0].field, "notify.verbosity");
        assert!(index.pipelines().is_empty());
    }

    #[tokio::test]
    async fn the_reconcile_repairs_lost_events_and_counts_every_invalid_document() {
        let (store, index) = (Store::default(), Index::default());
        store.set("shop", VALID, 1);
        store.set("cart", VALID, 3);
        store.set("broken", r#"{"routes": 1}"#, 1);
        // A stale entry whose parameter is gone, and one behind its parameter.
        index
            .put(&IndexedService {
                pipeline: "gone".into(),
                document: VALID.into(),
                version: 1,
                modified_ms: 10,
                written_ms: 0,
            })
            .await
            .unwrap();
        index
            .put(&IndexedService {
                pipeline: "cart".into(),
                document: "{}".into(),
                version: 2,
                modified_ms: 20,
                written_ms: 0,
            })
            .await
            .unwrap();
        let report = reconcile(PATH, &store, &index).await.unwrap();
        assert_eq!(index.pipelines(), vec!["cart", "shop"]);
        assert_eq!(index.0.lock().unwrap()["cart"].version, 3);
        assert_eq!(report.removed, vec!["gone"]);
        assert_eq!(report.invalid.len(), 1);
        assert_eq!(report.invalid[0].field, "routes");
        // In step: nothing written, and the invalid document is still counted (the alarm stays on).
        let again = reconcile(PATH, &store, &index).await.unwrap();
        assert!(again.written.is_empty() && again.removed.is_empty());
        assert!(again.views.is_empty());
        assert_eq!(again.invalid.len(), 1);
        // A view lost (or never written, before views existed) is written by the next pass.
        index.1.lock().unwrap().clear();
        let repaired = reconcile(PATH, &store, &index).await.unwrap();
        assert_eq!(repaired.views, ["routes", "notify"]);
    }

    #[tokio::test]
    async fn the_reconcile_writes_an_entry_again_before_the_tables_ttl_removes_it() {
        let (store, index) = (Store::default(), Index::default());
        store.set("shop", VALID, 1);
        reconcile(PATH, &store, &index).await.unwrap();
        let fresh = reconcile(PATH, &store, &index).await.unwrap();
        assert!(
            fresh.written.is_empty(),
            "a fresh entry in step is left alone"
        );
        let mut aged = index.services().await.unwrap().remove(0);
        aged.written_ms -= (super::super::INDEX_REFRESH_DAYS * 24 * 3600 + 1) * 1000;
        index.put(&aged).await.unwrap();
        let again = reconcile(PATH, &store, &index).await.unwrap();
        assert_eq!(
            again.written,
            vec!["shop"],
            "an entry a week old is written again"
        );
    }
}
