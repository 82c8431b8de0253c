//! The state table: one DynamoDB table (`GANTRY_TABLE`), keys `pk`/`sk`, TTL on `expires_at`.
//!
//! Every record kind has its own key prefix, so one table holds deliveries, executions and
//! approvals without collisions, and a scan of the table reads like a log.

mod approvals;
pub mod attributes;
mod confirmations;
mod deliveries;
mod delivery_facts;
mod deploy_commands;
mod deployments;
mod executions;
mod open_deployments;
mod pushes;
mod registry;
mod status_board;

pub use approvals::DynamoApprovals;
pub use confirmations::DynamoConfirmations;
pub use deliveries::DynamoDeliveries;
pub use delivery_facts::DynamoDeliveryFacts;
pub use deployments::DynamoDeployments;
pub use executions::DynamoExecutions;
pub use registry::DynamoServiceIndex;
pub use status_board::DynamoStatusBoard;

use aws_sdk_dynamodb::types::AttributeValue;
use gantry_core::store::StoreError;

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

/// A DynamoDB error as the core's `StoreError`, naming the table (for logs only: it is logged
/// here, because a caller may show only that the table failed).
pub(crate) fn store_error<E>(table: &str, e: E) -> StoreError
where
    E: std::error::Error + 'static,
{
    let error = StoreError::new(format!(
        "table {table}: {}",
        aws_sdk_dynamodb::error::DisplayErrorContext(e)
    ));
    tracing::warn!(%error, "state table call failed");
    error
}

/// A conditional write's result: `true` written, `false` when its condition did not hold,
/// any other failure a `StoreError`.
pub(crate) fn conditional_write<T, E, R>(
    table: &str,
    result: Result<T, aws_sdk_dynamodb::error::SdkError<E, R>>,
) -> Result<bool, StoreError>
where
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug + 'static,
{
    match result {
        Ok(_) => Ok(true),
        Err(e) if attributes::conditional_failed(&e) => Ok(false),
        Err(e) => Err(store_error(table, e)),
    }
}

/// The state table: a client and a name.
#[derive(Debug, Clone)]
pub struct StateTable {
    pub client: aws_sdk_dynamodb::Client,
    pub name: String,
}

impl StateTable {
    /// `UpdateItem` on the record at `key` (the caller adds the expressions).
    pub fn update(
        &self,
        key: &Key,
    ) -> aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder {
        self.client
            .update_item()
            .table_name(&self.name)
            .set_key(Some(key.attributes()))
    }

    /// `PutItem` of a record at `key`, stamped with this release's schema version (the
    /// caller adds its attributes).
    pub fn put(
        &self,
        key: &Key,
    ) -> aws_sdk_dynamodb::operation::put_item::builders::PutItemFluentBuilder {
        let mut item = key.attributes();
        item.insert(
            gantry_core::schema::ATTRIBUTE.to_string(),
            attributes::version(),
        );
        self.client
            .put_item()
            .table_name(&self.name)
            .set_item(Some(item))
    }

    /// `DeleteItem` of the record at `key`.
    pub fn delete(
        &self,
        key: &Key,
    ) -> aws_sdk_dynamodb::operation::delete_item::builders::DeleteItemFluentBuilder {
        self.client
            .delete_item()
            .table_name(&self.name)
            .set_key(Some(key.attributes()))
    }

    /// Reads one record, strongly consistent: every reader here decides on what it reads.
    pub async fn read(
        &self,
        key: &Key,
    ) -> Result<Option<std::collections::HashMap<String, AttributeValue>>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.name)
            .set_key(Some(key.attributes()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| store_error(&self.name, e))?;
        Ok(out.item)
    }
}
