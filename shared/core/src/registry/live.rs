//! A function's view of the registry: its view item (`super::view`) or, without one, the whole
//! index, read at most every `max_age_seconds` and parsed only when it changed. Between reads an
//! event costs no AWS call.

use super::view::{services_in, unpack, View};
use super::{parameter_name, IndexedService, Registry, RegistryError, Service, ServiceIndex};
use crate::store::StoreError;
use std::sync::{Arc, Mutex};

/// The registry as of the last read, and whether it changed since the previous call (the caller
/// then rebuilds what it derives from it: its route table, its channels, its approvers).
#[derive(Debug, Clone)]
pub struct Current {
    pub registry: Arc<Registry>,
    pub changed: bool,
}

/// What tells a change without parsing: a view's digest, or each index entry's pipeline,
/// version and write time.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Stamp {
    View(String),
    Index(Vec<(String, i64, i64)>),
}

struct Loaded {
    at: i64,
    stamp: Stamp,
    registry: Arc<Registry>,
}

/// What one read found, not yet parsed.
enum Read {
    View { digest: String, packed: Vec<u8> },
    Index(Vec<IndexedService>),
}

/// The index, cached.
pub struct LiveRegistry<I> {
    index: I,
    /// `GANTRY_SERVICES_PATH`, to name a parameter in a log line.
    path: String,
    /// How long a read serves; 0 re-reads on every call (tests).
    pub max_age_seconds: i64,
    /// The view this function reads, if one serves it; `None`: the whole index.
    view: Option<View>,
    loaded: Mutex<Option<Loaded>>,
}

impl<I: ServiceIndex> LiveRegistry<I> {
    /// Reads the whole index: every field of every document.
    pub fn new(index: I, path: &str, max_age_seconds: i64) -> Self {
        Self {
            index,
            path: path.to_string(),
            max_age_seconds,
            view: None,
            loaded: Mutex::new(None),
        }
    }

    /// Reads `view` (the index when it has none usable): a registry with only that view's field.
    pub fn of_view(index: I, path: &str, max_age_seconds: i64, view: View) -> Self {
        Self {
            view: Some(view),
            ..Self::new(index, path, max_age_seconds)
        }
    }

    /// The registry, re-read when the last read is `max_age_seconds` old. When the index cannot
    /// be read, the last read serves on (logged); only a function that never read it fails.
    pub async fn current(&self, now: i64) -> Result<Current, RegistryError> {
        if let Some(current) = self.cached(now, |at| now - at < self.max_age_seconds) {
            return Ok(current);
        }
        let read = match self.read().await {
            Ok(read) => read,
            Err(e) => {
                tracing::warn!(error = %e, "could not re-read the service registry: the last read serves on");
                // Retried at the next `max_age`, not on every event of an outage.
                return self.cached(now, |_| true).ok_or(RegistryError(e));
            }
        };
        match read {
            Read::View { digest, packed } => {
                let stamp = Stamp::View(digest);
                if let Some(current) = self.unchanged(now, &stamp) {
                    return Ok(current);
                }
                match unpack(&packed).and_then(|text| services_in(&self.path, &text)) {
                    Ok(services) => Ok(self.store(now, stamp, services)),
                    Err(e) => {
                        // Not the shape this release writes: the index still is. Stamped as the
                        // index, so the index's own changes are seen while the view stays so.
                        tracing::warn!(error = %e, "the registry's view does not parse: reading the whole index");
                        match self.index.services().await {
                            Ok(entries) => Ok(self.of_index(now, &entries)),
                            Err(e) => self.cached(now, |_| true).ok_or(RegistryError(e)),
                        }
                    }
                }
            }
            Read::Index(entries) => Ok(self.of_index(now, &entries)),
        }
    }

    /// The last read, marked read again at `now`, if `stamp` says nothing changed since.
    fn unchanged(&self, now: i64, stamp: &Stamp) -> Option<Current> {
        let mut loaded = self.loaded.lock().unwrap_or_else(|p| p.into_inner());
        let l = loaded.as_mut().filter(|l| &l.stamp == stamp)?;
        l.at = now;
        Some(Current {
            registry: l.registry.clone(),
            changed: false,
        })
    }

    /// The registry of the index's `entries`, parsed only if they changed.
    fn of_index(&self, now: i64, entries: &[IndexedService]) -> Current {
        let stamp = Stamp::Index(
            entries
                .iter()
                .map(|e| (e.pipeline.clone(), e.version, e.modified_ms))
                .collect(),
        );
        self.unchanged(now, &stamp).unwrap_or_else(|| {
            let services = entries.iter().filter_map(|e| self.parse(e)).collect();
            self.store(now, stamp, services)
        })
    }

    /// `services` as the registry read at `now`.
    fn store(&self, now: i64, stamp: Stamp, services: Vec<Service>) -> Current {
        let registry = Arc::new(Registry::new(services));
        *self.loaded.lock().unwrap_or_else(|p| p.into_inner()) = Some(Loaded {
            at: now,
            stamp,
            registry: registry.clone(),
        });
        Current {
            registry,
            changed: true,
        }
    }

    /// The view when this function has one and the index holds it, else the whole index.
    /// A view that cannot be read (a throttle, a role without the view's grant) is passed over
    /// for the index too: the index alone is what must be readable.
    async fn read(&self) -> Result<Read, StoreError> {
        if let Some(view) = self.view {
            match self.index.view(view).await {
                Ok(Some(stored)) => {
                    return Ok(Read::View {
                        digest: stored.digest,
                        packed: stored.packed,
                    })
                }
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!(view = view.name(), error = %e, "the registry's view could not be read: reading the whole index");
                }
            }
        }
        Ok(Read::Index(self.index.services().await?))
    }

    /// The last read, if `fresh(at)` says it serves; its read time becomes `now` when stale.
    fn cached(&self, now: i64, fresh: impl Fn(i64) -> bool) -> Option<Current> {
        let mut loaded = self.loaded.lock().unwrap_or_else(|p| p.into_inner());
        let l = loaded.as_mut().filter(|l| fresh(l.at))?;
        if now - l.at >= self.max_age_seconds {
            l.at = now;
        }
        Some(Current {
            registry: l.registry.clone(),
            changed: false,
        })
    }

    /// The index holds checked documents; one that no longer parses (written by another
    /// version of Gantry, say) is skipped here too.
    fn parse(&self, entry: &IndexedService) -> Option<Service> {
        let parameter = parameter_name(&self.path, &entry.pipeline);
        match Service::parse(&parameter, &entry.document) {
            Ok(service) => Some(service),
            Err(e) => {
                tracing::error!(
                    parameter,
                    field = e.field,
                    reason = e.reason,
                    "service document skipped"
                );
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::StoredView;
    use crate::store::StoreError;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[derive(Default)]
    struct Index {
        entries: Mutex<Vec<IndexedService>>,
        view: Mutex<Option<StoredView>>,
        reads: AtomicUsize,
        view_reads: AtomicUsize,
        down: Mutex<bool>,
        view_down: Mutex<bool>,
    }

    impl ServiceIndex for &Index {
        async fn services(&self) -> Result<Vec<IndexedService>, StoreError> {
            self.reads.fetch_add(1, Ordering::SeqCst);
            if *self.down.lock().unwrap() {
                return Err(StoreError::new("throttled"));
            }
            Ok(self.entries.lock().unwrap().clone())
        }
        async fn view(&self, view: View) -> Result<Option<StoredView>, StoreError> {
            self.view_reads.fetch_add(1, Ordering::SeqCst);
            assert_eq!(view, View::Notify, "the function's own view");
            if *self.view_down.lock().unwrap() {
                return Err(StoreError::new("access denied"));
            }
            Ok(self.view.lock().unwrap().clone())
        }
    }

    fn stored(text: &str) -> StoredView {
        StoredView {
            packed: crate::registry::pack(text),
            digest: crate::registry::digest(text),
            read_ms: 0,
            written_ms: 0,
        }
    }

    fn entry(pipeline: &str, version: i64) -> IndexedService {
        IndexedService {
            pipeline: pipeline.into(),
            document: r#"{"notify": {"channel": "C0SHOP"}}"#.into(),
            version,
            modified_ms: version * 1000,
            written_ms: 0,
        }
    }

    #[tokio::test]
    async fn one_read_serves_until_it_is_max_age_old() {
        let index = Index::default();
        index.entries.lock().unwrap().push(entry("shop", 1));
        let live = LiveRegistry::new(&index, "/gantry/services/", 30);
        let first = live.current(100).await.unwrap();
        assert!(first.changed);
        assert!(first.registry.service("shop").is_some());
        for now in 101..130 {
            assert!(!live.current(now).await.unwrap().changed);
        }
        assert_eq!(index.reads.load(Ordering::SeqCst), 1);
        index.entries.lock().unwrap().push(entry("cart", 1));
        let later = live.current(130).await.unwrap();
        assert!(later.changed);
        assert_eq!(later.registry.len(), 2);
        assert_eq!(index.reads.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn an_unchanged_index_is_not_parsed_again() {
        let index = Index::default();
        index.entries.lock().unwrap().push(entry("shop", 1));
        let live = LiveRegistry::new(&index, "/gantry/services/", 0);
        let first = live.current(1).await.unwrap();
        let second = live.current(2).await.unwrap();
        assert!(!second.changed);
        assert!(Arc::ptr_eq(&first.registry, &second.registry));
        index.entries.lock().unwrap()[0] = entry("shop", 2);
        assert!(live.current(3).await.unwrap().changed);
        index.entries.lock().unwrap().clear();
        let removed = live.current(4).await.unwrap();
        assert!(removed.changed && removed.registry.is_empty());
    }

    #[tokio::test]
    async fn an_unreadable_index_keeps_the_last_read_and_fails_only_the_first() {
        let index = Index::default();
        *index.down.lock().unwrap() = true;
        let live = LiveRegistry::new(&index, "/gantry/services/", 30);
        assert!(live.current(0).await.is_err());
        *index.down.lock().unwrap() = false;
        index.entries.lock().unwrap().push(entry("shop", 1));
        assert!(live.current(1).await.unwrap().changed);
        *index.down.lock().unwrap() = true;
        let stale = live.current(40).await.unwrap();
        assert!(stale.registry.service("shop").is_some());
        // Not re-read on every event of the outage.
        let reads = index.reads.load(Ordering::SeqCst);
        live.current(41).await.unwrap();
        assert_eq!(index.reads.load(Ordering::SeqCst), reads);
    }

    #[tokio::test]
    async fn an_entry_that_no_longer_parses_is_skipped_alone() {
        let index = Index::default();
        let mut bad = entry("cart", 1);
        bad.document = r#"{"notify": {"channel": 7}}"#.into();
        index
            .entries
            .lock()
            .unwrap()
            .extend([entry("shop", 1), bad]);
        let live = LiveRegistry::new(&index, "/gantry/services/", 30);
        let current = live.current(0).await.unwrap();
        assert!(current.registry.service("shop").is_some());
        assert!(current.registry.service("cart").is_none());
    }

    #[tokio::test]
    async fn a_function_reads_its_view_and_the_whole_index_only_without_one() {
        let index = Index::default();
        index.entries.lock().unwrap().push(entry("shop", 1));
        let live = LiveRegistry::of_view(&index, "/gantry/services/", 0, View::Notify);
        // No view yet (a hub upgraded from a release without them): the index serves.
        assert!(live
            .current(0)
            .await
            .unwrap()
            .registry
            .service("shop")
            .is_some());
        assert_eq!(index.reads.load(Ordering::SeqCst), 1);
        let view = r#"[{"pipeline": "cart", "document": {"notify": {"channel": "C0CART"}}}]"#;
        *index.view.lock().unwrap() = Some(stored(view));
        let first = live.current(1).await.unwrap();
        assert!(first.changed);
        assert!(first.registry.service("cart").is_some());
        assert!(
            first.registry.service("shop").is_none(),
            "the view, not the index"
        );
        let again = live.current(2).await.unwrap();
        assert!(!again.changed && Arc::ptr_eq(&first.registry, &again.registry));
        assert_eq!(
            index.reads.load(Ordering::SeqCst),
            1,
            "the index is not read"
        );
        assert_eq!(index.view_reads.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn a_view_that_does_not_parse_is_passed_over_for_the_index() {
        let index = Index::default();
        index.entries.lock().unwrap().push(entry("shop", 1));
        *index.view.lock().unwrap() = Some(stored(r#"{"a later shape": true}"#));
        let live = LiveRegistry::of_view(&index, "/gantry/services/", 0, View::Notify);
        let current = live.current(0).await.unwrap();
        assert!(current.registry.service("shop").is_some());
        // The same unusable view, and the index unchanged: nothing to rebuild.
        assert!(!live.current(1).await.unwrap().changed);
        // While the view stays unusable, the index's changes are still seen.
        index.entries.lock().unwrap().push(entry("cart", 1));
        let later = live.current(2).await.unwrap();
        assert!(later.changed);
        assert!(later.registry.service("cart").is_some());
    }

    #[tokio::test]
    async fn a_view_that_cannot_be_read_is_passed_over_for_the_index() {
        let index = Index::default();
        index.entries.lock().unwrap().push(entry("shop", 1));
        *index.view.lock().unwrap() = Some(stored("[]"));
        *index.view_down.lock().unwrap() = true;
        let live = LiveRegistry::of_view(&index, "/gantry/services/", 0, View::Notify);
        let current = live.current(0).await.unwrap();
        assert!(current.registry.service("shop").is_some());
        assert_eq!(index.reads.load(Ordering::SeqCst), 1);
    }
}
