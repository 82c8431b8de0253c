//! The state table: one DynamoDB table (`GANTRY_TABLE`), keys `pk`/`sk`, TTL on `expires_at`.
//!
//! Every record kind has its own key prefix, so one table holds deliveries, executions and
//! approvals without collisions, and a scan of the table reads like a log.

mod deliveries;

pub use deliveries::DynamoDeliveries;

use aws_sdk_dynamodb::types::AttributeValue;

/// Typed keys: the only way to build a `pk`/`sk` pair.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Key {
    /// A webhook delivery, for de-duplication.
    Delivery { provider: String, id: String },
}

impl Key {
    pub fn pk(&self) -> String {
        match self {
            Key::Delivery { provider, id } => format!("DELIVERY#{provider}#{id}"),
        }
    }

    pub fn sk(&self) -> String {
        match self {
            Key::Delivery { .. } => "DELIVERY".to_string(),
        }
    }

    /// The key as DynamoDB attributes.
    pub fn attributes(&self) -> [(String, AttributeValue); 2] {
        [
            ("pk".to_string(), AttributeValue::S(self.pk())),
            ("sk".to_string(), AttributeValue::S(self.sk())),
        ]
    }
}

/// Why the state table could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("state table {table}: {reason}")]
    Dynamo { table: String, reason: String },
}

impl StateError {
    pub(crate) fn dynamo<E>(table: &str, e: E) -> Self
    where
        E: std::error::Error + 'static,
    {
        StateError::Dynamo {
            table: table.to_string(),
            reason: aws_sdk_dynamodb::error::DisplayErrorContext(e).to_string(),
        }
    }
}

/// The state table: a client and a name.
#[derive(Debug, Clone)]
pub struct StateTable {
    pub client: aws_sdk_dynamodb::Client,
    pub name: String,
}

/// Seconds since the Unix epoch.
pub fn now_epoch_seconds() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}
