//! The one error every record port returns: the store (the state table in production) could
//! not be read or written. Ports speak in domain ids; how records are keyed and encoded is the
//! adapter's business (`gantry_adapters::dynamodb`).

/// Why a record could not be read or written. The reason is for logs, never for answers.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("state store: {reason}")]
pub struct StoreError {
    pub reason: String,
    /// Set when the record was read and is too new for this release to read (`schema`): the
    /// work it holds is then ended or left, and a person told why, rather than retried.
    pub too_new: Option<crate::schema::TooNew>,
}

impl StoreError {
    pub fn new(reason: impl Into<String>) -> Self {
        StoreError {
            reason: reason.into(),
            too_new: None,
        }
    }

    /// A record written by a newer release (`what` names it, for logs).
    pub fn too_new(what: &str, e: crate::schema::TooNew) -> Self {
        StoreError {
            reason: format!("{what}: {e}"),
            too_new: Some(e),
        }
    }
}
