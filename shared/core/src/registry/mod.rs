//! The service registry (docs/deploy.md#the-service-registry): each service's configuration is one Parameter Store
//! document, `{GANTRY_SERVICES_PATH}<pipeline>`, written by the service's own stack.
//!
//! Reading 1,000 parameters on every event (or every cold start) would cost 100 paged calls, so
//! the functions read an **index** of the valid documents in the state table instead: one
//! `Query` at most every `max_age` seconds (`live`). The notifier keeps the index in step
//! (`sync`): on Parameter Store's own change events for the path (the event carries the name, not
//! the value: one `GetParameter`), and on a one-minute schedule that reconciles the whole path
//! twice, 30 s apart (a lost event is repaired within 30 s and a pass, and live within a minute).
//!
//! - `document`: one document parsed and checked; its errors name the parameter and the field.
//! - `merge`: the registry with `GANTRY_ROUTES`, `GANTRY_NOTIFY`, `GANTRY_APPROVERS` (the static
//!   variable wins a clash, for the whole pipeline), and `operators(pipeline, stage)`.
//! - `live`: a function's cached view of the index.
//! - `sync`: change events and the reconcile, against Parameter Store and the index (ports).
//! - `view`: one item per function's needs (the webhook's routes, the notifier's channels), so a
//!   cold start reads one item rather than every document.

mod document;
mod live;
mod merge;
mod sync;
mod view;

pub use document::{pipeline_of, DocumentError, Service, StageOperators};
pub use live::{Current, LiveRegistry};
pub use merge::{approvers, notify, operators, routes, Registry};
pub use sync::{
    change_of, reconcile, sync_change, Parameter, ParameterChange, ParameterStore, SyncReport,
    INVALID_DOCUMENTS_METRIC,
};
pub use view::{
    digest, pack, project, refresh_views, services_in, unpack, StoredView, View, VIEW_MAX_BYTES,
};

use crate::store::StoreError;
use std::future::Future;

pub use crate::config::DEFAULT_SERVICES_PATH;

/// How old a function's view of the index may be before the next event re-reads it. Changes
/// reach the index within seconds (change events), so a change is live within about this long.
/// With a change event lost, the reconcile's passes add at most `RECONCILE_AGAIN_AFTER_SECONDS`
/// and a pass's own time: 30 + 20 leaves 10 s of the issue's 60 for the pass (a few seconds at
/// 1,000 services) and the schedule's delivery (`a_lost_change_is_live_within_a_minute`).
pub const DEFAULT_MAX_AGE_SECONDS: i64 = 20;

/// EventBridge's finest schedule is once a minute, so the scheduled invocation reconciles twice:
/// again this long after its first pass started. Parameter Store is then listed every 30 s, not
/// every 60 s, which is what keeps a lost change event inside a minute; the price is the wait,
/// billed (docs/deploy.md#the-service-registry).
pub const RECONCILE_AGAIN_AFTER_SECONDS: u64 = 30;

/// One entry of the index: a valid document as Parameter Store held it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexedService {
    pub pipeline: String,
    /// The document's text, as read from the parameter.
    pub document: String,
    /// The parameter's version.
    pub version: i64,
    /// When the parameter was last written (epoch milliseconds): versions restart at 1 when a
    /// parameter is deleted and created again, this does not go back.
    pub modified_ms: i64,
    /// When this index entry was written (epoch milliseconds; 0 when unknown). The entry expires
    /// `INDEX_ENTRY_DAYS` after (the table's TTL), and the reconcile writes it again once it is
    /// `INDEX_REFRESH_DAYS` old, so it never lapses while its parameter exists.
    pub written_ms: i64,
}

/// How long an index entry lives unless written again (the state table's TTL).
pub const INDEX_ENTRY_DAYS: i64 = 30;
/// How old an entry gets before the reconcile writes it again, well inside its life.
pub const INDEX_REFRESH_DAYS: i64 = 7;

/// Whether an index entry or view written at `written_ms` is old enough to be written again
/// (`INDEX_REFRESH_DAYS`), so the table's TTL never removes it while it is current.
pub(crate) fn due_for_refresh(written_ms: i64) -> bool {
    crate::clock::now_epoch_millis() - written_ms >= INDEX_REFRESH_DAYS * 24 * 3600 * 1000
}

/// The index of valid documents (the state table in production).
pub trait ServiceIndex {
    /// Every entry.
    fn services(&self) -> impl Future<Output = Result<Vec<IndexedService>, StoreError>> + Send;

    /// One view (`view`); `None` when there is none usable (never written, too large, or
    /// written by a newer release): the reader then reads `services`.
    fn view(
        &self,
        _view: View,
    ) -> impl Future<Output = Result<Option<StoredView>, StoreError>> + Send {
        async { Ok(None) }
    }
}

/// What the sync writes to the index.
pub trait ServiceIndexWriter: ServiceIndex {
    /// Stores `entry` unless the index holds a newer write of it (`modified_ms` greater).
    fn put(&self, entry: &IndexedService) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Removes `pipeline`'s entry; with `seen`, only if it is still the entry written at
    /// `seen` (`modified_ms`): a reconcile must not remove what a change event wrote meanwhile.
    fn remove(
        &self,
        pipeline: &str,
        seen: Option<i64>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Every entry, the writes just made included (a strongly consistent read: the views are
    /// built from it right after the sync's own writes).
    fn written_services(
        &self,
    ) -> impl Future<Output = Result<Vec<IndexedService>, StoreError>> + Send {
        self.services()
    }
    /// Stores `view` unless the index holds one built from a later read (`read_ms` greater);
    /// `false` when it did.
    fn put_view(
        &self,
        view: View,
        stored: &StoredView,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
    /// Removes `view` (its readers then read `services`).
    fn remove_view(&self, view: View) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// The registry could not be read and no earlier read is at hand.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the service registry could not be read: {0}")]
pub struct RegistryError(pub StoreError);

/// The full name of `pipeline`'s parameter under `path` (which ends with `/`).
pub fn parameter_name(path: &str, pipeline: &str) -> String {
    format!("{path}{pipeline}")
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::store::StoreError;
    use std::sync::atomic::{AtomicI64, Ordering};

    /// The index as the reconcile leaves it: the new service is in it from `live_at` on.
    struct Index {
        now: AtomicI64,
        live_at: i64,
    }

    impl ServiceIndex for &Index {
        async fn services(&self) -> Result<Vec<IndexedService>, StoreError> {
            let now = self.now.load(Ordering::SeqCst);
            Ok((now >= self.live_at)
                .then(|| IndexedService {
                    pipeline: "search".into(),
                    document: r#"{"notify": {"channel": "C0SEARCH"}}"#.into(),
                    version: 1,
                    modified_ms: 1,
                    written_ms: 1,
                })
                .into_iter()
                .collect())
        }
    }

    /// The issue's bound, with the change event lost: the schedule fires each minute and its
    /// invocation lists Parameter Store at its passes; a pass takes `PASS` seconds to write what
    /// it found; a warm function sees one event a second through its cached view. For a change
    /// at every second of three minutes and every phase of the function's cache, the function
    /// sees the new service within 60 s.
    #[tokio::test]
    async fn a_lost_change_is_live_within_a_minute() {
        // A pass at 1,000 services: 100 pages at Parameter Store's 40 calls a second, and the
        // index writes of what changed, with room to spare.
        const PASS: i64 = 6;
        let again = RECONCILE_AGAIN_AFTER_SECONDS as i64;
        let passes: Vec<i64> = (0..6)
            .flat_map(|minute| (0..60 / again).map(move |m| minute * 60 + m * again))
            .collect();
        let mut worst = 0;
        for change in 0..180 {
            // A listing at `s` misses a change made at `s` (the listing was already under way).
            let Some(pass) = passes.iter().find(|&&s| s > change) else {
                continue;
            };
            for phase in 0..DEFAULT_MAX_AGE_SECONDS {
                let index = Index {
                    now: AtomicI64::new(0),
                    live_at: pass + PASS,
                };
                let live = LiveRegistry::new(&index, "/gantry/services/", DEFAULT_MAX_AGE_SECONDS);
                // Warm before the change: its first read is `phase` seconds into the run.
                let mut seen = None;
                for t in phase..change + 120 {
                    index.now.store(t, Ordering::SeqCst);
                    let current = live.current(t).await.expect("the index reads");
                    if t >= change && current.registry.service("search").is_some() {
                        seen = Some(t);
                        break;
                    }
                }
                let seen = seen.expect("the service went live");
                worst = worst.max(seen - change);
            }
        }
        assert!(worst <= 60, "a lost change took {worst} s to go live");
    }

    #[test]
    fn a_parameter_is_its_pipeline_under_the_path() {
        assert_eq!(
            parameter_name("/gantry/services/", "shop"),
            "/gantry/services/shop"
        );
    }
}
