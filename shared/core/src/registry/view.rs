//! A function's slice of the index in one item: the webhook needs every service's routes and
//! nothing else, the notifier and the traffic shifter every service's `notify`. Reading the
//! whole index costs a `Query` of every document (about 870 bytes each, 1,000 items at 1,000
//! services) and holds all of it while it is parsed; a view is one item of just the fields its
//! readers use (about 130 bytes a service), so a cold start at 1,000 services reads and parses a
//! seventh of it and no more items. The notifier writes the views after each change it applies
//! to the index, and each reconcile pass rewrites any that differs, so a view is never behind
//! the index for longer than a lost change event is (`super::DEFAULT_MAX_AGE_SECONDS`).
//!
//! A view larger than an item can hold (`VIEW_MAX_BYTES`) is not written, and one that is
//! absent, unreadable or of a newer release is not used: its readers then read the whole index,
//! as they did before views (slower at scale, never wrong).

use super::document::Service;
use super::{parameter_name, IndexedService, ServiceIndexWriter};
use crate::store::StoreError;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Which fields of each document a view keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum View {
    /// `routes`: the webhook's.
    Routes,
    /// `notify`: the notifier's and the traffic shifter's. A registry read from it has no
    /// routes, approvers or operators: it serves only `super::notify`.
    Notify,
}

impl View {
    pub const ALL: [View; 2] = [View::Routes, View::Notify];

    /// The view's name in the index (its item's sort key).
    pub fn name(self) -> &'static str {
        match self {
            View::Routes => "routes",
            View::Notify => "notify",
        }
    }

    fn field(self) -> &'static str {
        self.name()
    }
}

/// DynamoDB's item limit is 400 KB, the item's attribute names and other attributes included;
/// a view whose packed text is larger than this is not written (its readers read the whole
/// index).
pub const VIEW_MAX_BYTES: usize = 380 * 1024;

/// A view as the index stores it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredView {
    /// Its text (a JSON array, one `{"pipeline", "document"}` per service, in pipeline order),
    /// deflated (`pack`): the documents' keys repeat for every service, so it packs to about a
    /// tenth, and a read is charged and sent by size.
    pub packed: Vec<u8>,
    /// SHA-256 of the text: a reader that already holds this view does not unpack it again.
    pub digest: String,
    /// When the index was read to build it (epoch milliseconds): a view is replaced only by
    /// one built from a later read, so two syncs at once cannot leave the older one in place.
    pub read_ms: i64,
    /// When it was written (epoch milliseconds), for the table's TTL (`INDEX_REFRESH_DAYS`).
    pub written_ms: i64,
}

#[derive(Serialize, Deserialize)]
struct Entry {
    pipeline: String,
    document: Value,
}

/// The view's text for `entries`: each document cut to the view's field. An entry whose document
/// is not a JSON object (the index holds checked documents; never expected) is left out.
pub fn project(view: View, entries: &[IndexedService]) -> String {
    let mut out: Vec<Entry> = entries
        .iter()
        .filter_map(|e| {
            let Ok(Value::Object(mut document)) = serde_json::from_str::<Value>(&e.document) else {
                return None;
            };
            let kept: Map<String, Value> = document
                .remove(view.field())
                .filter(|v| !v.is_null())
                .map(|v| Map::from_iter([(view.field().to_string(), v)]))
                .unwrap_or_default();
            Some(Entry {
                pipeline: e.pipeline.clone(),
                document: Value::Object(kept),
            })
        })
        .collect();
    out.sort_by(|a, b| a.pipeline.cmp(&b.pipeline));
    serde_json::to_string(&out).unwrap_or_else(|_| "[]".into())
}

/// A view's text, deflated (raw DEFLATE, RFC 1951).
pub fn pack(text: &str) -> Vec<u8> {
    use std::io::Write;
    let mut encoder =
        flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
    // Writing to a `Vec` cannot fail.
    let _ = encoder.write_all(text.as_bytes());
    encoder.finish().unwrap_or_default()
}

/// The text `pack` deflated; `Err` when `packed` is not that (another release's, or damaged).
pub fn unpack(packed: &[u8]) -> Result<String, String> {
    use std::io::Read;
    let mut text = String::new();
    flate2::read::DeflateDecoder::new(packed)
        .read_to_string(&mut text)
        .map_err(|e| format!("the view does not unpack: {e}"))?;
    Ok(text)
}

/// SHA-256 of a view's text, in hex.
pub fn digest(text: &str) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The services a view's text holds, each checked as a document is (`path`: the registry's
/// path, to name a parameter). `Err`: the text is not a view at all; one entry that does not
/// check is skipped alone (logged). Entry by entry: at 1,000 services the text parsed whole
/// would hold a second copy of the registry, as JSON values, at the cold start's peak.
pub fn services_in(path: &str, text: &str) -> Result<Vec<Service>, String> {
    use serde::de::DeserializeSeed;
    let mut reader = serde_json::Deserializer::from_str(text);
    let services = Services { path }
        .deserialize(&mut reader)
        .map_err(|e| e.to_string())?;
    reader.end().map_err(|e| e.to_string())?;
    Ok(services)
}

/// `services_in`'s reader: a JSON array of entries, each checked as it is read.
struct Services<'p> {
    path: &'p str,
}

impl<'de> serde::de::DeserializeSeed<'de> for Services<'_> {
    type Value = Vec<Service>;

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Vec<Service>, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> serde::de::Visitor<'de> for Services<'_> {
    type Value = Vec<Service>;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a registry view: an array of {pipeline, document}")
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<Service>, A::Error> {
        let mut services = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        while let Some(entry) = seq.next_element::<Entry>()? {
            let parameter = parameter_name(self.path, &entry.pipeline);
            match Service::from_document(&parameter, entry.document) {
                Ok(service) => services.push(service),
                Err(e) => tracing::error!(
                    parameter,
                    field = e.field,
                    reason = e.reason,
                    "service document skipped"
                ),
            }
        }
        Ok(services)
    }
}

/// Brings every view in step with the index as it is now: `entries`, when the caller has just
/// read the index and written nothing since (the reconcile's pass that found nothing to change),
/// else read again. A view already in step (same digest, written within `INDEX_REFRESH_DAYS`) is
/// left alone. Returns the views written.
pub async fn refresh_views(
    index: &impl ServiceIndexWriter,
    entries: Option<(i64, Vec<IndexedService>)>,
) -> Result<Vec<View>, StoreError> {
    let (read_ms, entries) = match entries {
        Some(read) => read,
        None => {
            let read_ms = crate::clock::now_epoch_millis();
            (read_ms, index.written_services().await?)
        }
    };
    let mut written = Vec::new();
    for view in View::ALL {
        let text = project(view, &entries);
        let digest = digest(&text);
        let stored = index.view(view).await?;
        if stored
            .as_ref()
            .is_some_and(|s| s.digest == digest && !super::due_for_refresh(s.written_ms))
        {
            continue;
        }
        let packed = pack(&text);
        if packed.len() > VIEW_MAX_BYTES {
            tracing::warn!(
                view = view.name(),
                bytes = packed.len(),
                limit = VIEW_MAX_BYTES,
                "the registry's view is larger than an item holds: its readers read the whole index"
            );
            if stored.is_some() {
                index.remove_view(view).await?;
            }
            continue;
        }
        let put = StoredView {
            packed,
            digest,
            read_ms,
            written_ms: crate::clock::now_epoch_millis(),
        };
        if index.put_view(view, &put).await? {
            written.push(view);
        }
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::ServiceIndex;
    use std::collections::BTreeMap;
    use std::sync::Mutex;

    fn entry(pipeline: &str, document: &str) -> IndexedService {
        IndexedService {
            pipeline: pipeline.into(),
            document: document.into(),
            version: 1,
            modified_ms: 1,
            written_ms: 1,
        }
    }

    const SHOP: &str = r#"{"routes": [{"provider": "github", "repository": "acme/shop",
        "branches": ["main"], "source_action": "Source"}],
        "notify": {"channel": "C0SHOP", "verbosity": "failures"},
        "approvers": {"Prod": {"users": ["U0LEAD"]}}}"#;

    #[test]
    fn a_view_keeps_only_its_field_and_every_service() {
        let entries = [entry("shop", SHOP), entry("cart", "{}")];
        let routes = project(View::Routes, &entries);
        assert!(routes.contains("acme/shop"));
        assert!(!routes.contains("C0SHOP") && !routes.contains("U0LEAD"));
        let notify = project(View::Notify, &entries);
        assert!(notify.contains("C0SHOP"));
        assert!(!notify.contains("acme/shop") && !notify.contains("U0LEAD"));
        let services = services_in("/gantry/services/", &routes).unwrap();
        let pipelines: Vec<&str> = services.iter().map(|s| s.pipeline.as_str()).collect();
        assert_eq!(
            pipelines,
            ["cart", "shop"],
            "in pipeline order, the empty one too"
        );
        assert_eq!(services[1].routes[0].repository, "acme/shop");
        assert!(services[1].notify.is_none() && services[1].approvers.is_empty());
        let notified = services_in("/gantry/services/", &notify).unwrap();
        let channel = notified[1].notify.as_ref().and_then(|n| n.channel.clone());
        assert_eq!(channel.as_deref(), Some("C0SHOP"));
        assert!(notified[1].routes.is_empty());
    }

    #[test]
    fn a_view_does_not_depend_on_the_order_the_index_answers_in() {
        let a = [entry("shop", SHOP), entry("cart", "{}")];
        let b = [entry("cart", "{}"), entry("shop", SHOP)];
        assert_eq!(
            digest(&project(View::Routes, &a)),
            digest(&project(View::Routes, &b))
        );
    }

    #[test]
    fn an_entry_that_does_not_check_is_skipped_alone_and_a_non_view_is_refused() {
        let text = r#"[{"pipeline": "shop", "document": {"notify": {"channel": 7}}},
                       {"pipeline": "cart", "document": {}}]"#;
        let services = services_in("/gantry/services/", text).unwrap();
        assert_eq!(services.len(), 1);
        assert_eq!(services[0].pipeline, "cart");
        assert!(services_in("/gantry/services/", r#"{"routes": []}"#).is_err());
    }

    /// An index with views; a view from an older read is refused, as the state table's
    /// condition refuses it.
    #[derive(Default)]
    struct Index {
        entries: Mutex<BTreeMap<String, IndexedService>>,
        views: Mutex<BTreeMap<&'static str, StoredView>>,
        puts: Mutex<usize>,
    }

    impl ServiceIndex for &Index {
        async fn services(&self) -> Result<Vec<IndexedService>, StoreError> {
            Ok(self.entries.lock().unwrap().values().cloned().collect())
        }
        async fn view(&self, view: View) -> Result<Option<StoredView>, StoreError> {
            Ok(self.views.lock().unwrap().get(view.name()).cloned())
        }
    }

    impl ServiceIndexWriter for &Index {
        async fn put(&self, entry: &IndexedService) -> Result<(), StoreError> {
            let mut entries = self.entries.lock().unwrap();
            entries.insert(entry.pipeline.clone(), entry.clone());
            Ok(())
        }
        async fn remove(&self, pipeline: &str, _seen: Option<i64>) -> Result<(), StoreError> {
            self.entries.lock().unwrap().remove(pipeline);
            Ok(())
        }
        async fn put_view(&self, view: View, stored: &StoredView) -> Result<bool, StoreError> {
            let mut views = self.views.lock().unwrap();
            if views
                .get(view.name())
                .is_some_and(|held| held.read_ms > stored.read_ms)
            {
                return Ok(false);
            }
            *self.puts.lock().unwrap() += 1;
            views.insert(view.name(), stored.clone());
            Ok(true)
        }
        async fn remove_view(&self, view: View) -> Result<(), StoreError> {
            self.views.lock().unwrap().remove(view.name());
            Ok(())
        }
    }

    #[tokio::test]
    async fn views_are_written_when_the_index_changes_and_only_then() {
        let index = Index::default();
        (&index).put(&entry("shop", SHOP)).await.unwrap();
        assert_eq!(refresh_views(&&index, None).await.unwrap(), View::ALL);
        assert!(
            refresh_views(&&index, None).await.unwrap().is_empty(),
            "in step"
        );
        assert_eq!(*index.puts.lock().unwrap(), 2);
        // A change of the channel changes the notifier's view, not the webhook's.
        (&index)
            .put(&entry("shop", &SHOP.replace("C0SHOP", "C0NEW")))
            .await
            .unwrap();
        assert_eq!(refresh_views(&&index, None).await.unwrap(), [View::Notify]);
        let notify = (&index).view(View::Notify).await.unwrap().unwrap();
        assert!(unpack(&notify.packed).unwrap().contains("C0NEW"));
        (&index).remove("shop", None).await.unwrap();
        assert_eq!(refresh_views(&&index, None).await.unwrap(), View::ALL);
        let routes = (&index).view(View::Routes).await.unwrap().unwrap();
        assert_eq!(unpack(&routes.packed).unwrap(), "[]");
    }

    #[tokio::test]
    async fn a_view_a_week_old_is_written_again_before_the_tables_ttl_removes_it() {
        let index = Index::default();
        (&index).put(&entry("shop", SHOP)).await.unwrap();
        refresh_views(&&index, None).await.unwrap();
        for stored in index.views.lock().unwrap().values_mut() {
            stored.written_ms -= (super::super::INDEX_REFRESH_DAYS * 24 * 3600 + 1) * 1000;
        }
        assert_eq!(refresh_views(&&index, None).await.unwrap(), View::ALL);
    }

    #[test]
    fn a_view_packs_to_a_fraction_and_unpacks_to_itself() {
        let entries: Vec<IndexedService> = (0..1000)
            .map(|i| {
                entry(
                    &format!("svc{i}"),
                    &SHOP.replace("acme/shop", &format!("acme/svc{i}")),
                )
            })
            .collect();
        let text = project(View::Routes, &entries);
        let packed = pack(&text);
        assert!(
            packed.len() * 5 < text.len(),
            "{} of {}",
            packed.len(),
            text.len()
        );
        assert_eq!(unpack(&packed).unwrap(), text);
        assert!(unpack(b"not deflated").is_err());
    }

    #[tokio::test]
    async fn a_view_too_large_for_an_item_is_removed_and_not_written() {
        let index = Index::default();
        (&index).put(&entry("shop", SHOP)).await.unwrap();
        refresh_views(&&index, None).await.unwrap();
        // Channel names that do not pack (each character a fresh pseudo-random letter).
        let mut seed = 7u64;
        let noise: String = (0..VIEW_MAX_BYTES * 2)
            .map(|_| {
                seed = seed
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                char::from(b'A' + (seed >> 59) as u8 % 26)
            })
            .collect();
        let many = format!(r#"{{"notify": {{"channel": "C{noise}"}}}}"#);
        (&index).put(&entry("cart", &many)).await.unwrap();
        assert_eq!(refresh_views(&&index, None).await.unwrap(), [View::Routes]);
        assert!((&index).view(View::Notify).await.unwrap().is_none());
        assert!((&index).view(View::Routes).await.unwrap().is_some());
    }
}
