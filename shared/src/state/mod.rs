//! The state table: one DynamoDB table (`GANTRY_TABLE`), keys `pk`/`sk`, TTL on `expires_at`.
//!
//! Every record kind has its own key prefix, so one table holds deliveries, executions and
//! approvals without collisions, and a scan of the table reads like a log.

mod approvals;
mod deliveries;
mod deploy_commands;
mod deployments;
mod executions;

pub use approvals::{Created, DecisionClaim, DynamoApprovals};
pub use deliveries::DynamoDeliveries;
pub use deploy_commands::{
    CommandOutcome, DeployCommand, DeployCommands, Deployment, PendingCommand,
};
pub use deployments::{DeploymentRecord, DeploymentStatus, DynamoDeployments};
pub use executions::DynamoExecutions;

use aws_sdk_dynamodb::types::AttributeValue;

/// A record's key. Each record kind builds its keys in its own module (`Key::delivery`, …) with
/// its own `pk` prefix, so kinds never collide and a scan of the table reads like a log.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Key {
    pub pk: String,
    pub sk: String,
}

impl Key {
    /// The key as DynamoDB attributes.
    pub fn attributes(&self) -> std::collections::HashMap<String, AttributeValue> {
        std::collections::HashMap::from([
            ("pk".to_string(), AttributeValue::S(self.pk.clone())),
            ("sk".to_string(), AttributeValue::S(self.sk.clone())),
        ])
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

impl StateTable {
    /// Reads one record, strongly consistent: every reader here decides on what it reads.
    pub async fn read(
        &self,
        key: &Key,
    ) -> Result<Option<std::collections::HashMap<String, AttributeValue>>, StateError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.name)
            .set_key(Some(key.attributes()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| StateError::dynamo(&self.name, e))?;
        Ok(out.item)
    }
}

/// Seconds since the Unix epoch.
pub fn now_epoch_seconds() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}
