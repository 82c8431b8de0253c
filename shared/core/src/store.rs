//! The one error every record port returns: the store (the state table in production) could
//! not be read or written. Ports speak in domain ids; how records are keyed and encoded is the
//! adapter's business (`gantry_adapters::dynamodb`).

/// Why a record could not be read or written. The reason is for logs, never for answers.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("state store: {reason}")]
pub struct StoreError {
    pub reason: String,
}

impl StoreError {
    pub fn new(reason: impl Into<String>) -> Self {
        StoreError {
            reason: reason.into(),
        }
    }
}
