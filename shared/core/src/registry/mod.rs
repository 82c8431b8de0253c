//! The service registry (docs/deploy.md#the-service-registry): each service's configuration is one Parameter Store
//! document, `{GANTRY_SERVICES_PATH}<pipeline>`, written by the service's own stack.
//!
//! Reading 1,000 parameters on every event (or every cold start) would cost 100 paged calls, so
//! the functions read an **index** of the valid documents in the state table instead: one
//! `Query` at most every `max_age` seconds (`live`). The notifier keeps the index in step
//! (`sync`): on Parameter Store's own change events for the path (the event carries the name, not
//! the value: one `GetParameter`), and on a one-minute schedule that reconciles the whole path
//! (a lost event is repaired within a minute).
//!
//! - `document`: one document parsed and checked; its errors name the parameter and the field.
//! - `merge`: the registry with `GANTRY_ROUTES`, `GANTRY_NOTIFY`, `GANTRY_APPROVERS` (the static
//!   variable wins a clash, for the whole pipeline), and `operators(pipeline, stage)`.
//! - `live`: a function's cached view of the index.
//! - `sync`: change events and the reconcile, against Parameter Store and the index (ports).

mod document;
mod live;
mod merge;
mod sync;

pub use document::{pipeline_of, DocumentError, Service, StageOperators};
pub use live::{Current, LiveRegistry};
pub use merge::{approvers, notify, operators, routes, Registry};
pub use sync::{
    change_of, reconcile, sync_change, Parameter, ParameterChange, ParameterStore, SyncReport,
    INVALID_DOCUMENTS_METRIC,
};

use crate::store::StoreError;
use std::future::Future;

pub use crate::config::DEFAULT_SERVICES_PATH;

/// How old a function's view of the index may be before the next event re-reads it. Changes
/// reach the index within seconds (change events), so a change is live within about this long.
pub const DEFAULT_MAX_AGE_SECONDS: i64 = 30;

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

/// The index of valid documents (the state table in production).
pub trait ServiceIndex {
    /// Every entry.
    fn services(&self) -> impl Future<Output = Result<Vec<IndexedService>, StoreError>> + Send;
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

    #[test]
    fn a_parameter_is_its_pipeline_under_the_path() {
        assert_eq!(
            parameter_name("/gantry/services/", "shop"),
            "/gantry/services/shop"
        );
    }
}
