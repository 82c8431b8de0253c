//! Webhook deliveries seen, so a redelivery starts nothing twice.

use super::{store_error, Key, StateTable, StoreError};
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::types::ReturnValuesOnConditionCheckFailure;
use gantry_core::ingest::{Claim, DeliveryId, DeliveryLedger};

const PENDING: &str = "pending";

impl Key {
    /// A webhook delivery: `DELIVERY#<provider>#<delivery id>`.
    pub fn delivery(d: &DeliveryId) -> Self {
        Key {
            pk: format!("DELIVERY#{}#{}", d.provider, d.id),
            sk: "DELIVERY".to_string(),
        }
    }
}
const DONE: &str = "done";

/// `DeliveryLedger` on the state table.
///
/// A claim is a conditional put: it succeeds when no record exists, or when a pending record's
/// lease has run out (the invocation that held it crashed). A finished record is kept until its
/// TTL so redeliveries within that time are recognised.
#[derive(Debug, Clone)]
pub struct DynamoDeliveries {
    pub table: StateTable,
    /// How long a pending claim blocks others (longer than one invocation may take).
    pub lease_seconds: i64,
    /// How long a finished delivery is remembered.
    pub remember_seconds: i64,
    /// How long after its push the newest-push record of a ref is kept: a ref without a push
    /// for that long starts its next push whatever it carries (deliveries older than
    /// `remember_seconds` are no longer recognised either).
    pub newest_push_seconds: i64,
}

impl DynamoDeliveries {
    pub fn new(table: StateTable) -> Self {
        Self {
            table,
            lease_seconds: 120,
            // GitHub lets users redeliver for 3 days; GitLab retries within hours.
            remember_seconds: 7 * 24 * 3600,
            newest_push_seconds: 90 * 24 * 3600,
        }
    }
}

impl DynamoDeliveries {
    async fn status(&self, key: &Key) -> Result<Option<String>, StoreError> {
        let t = &self.table;
        let item = t.read(key).await?;
        Ok(item
            .as_ref()
            .and_then(|i| i.get("status"))
            .and_then(|v| v.as_s().ok())
            .cloned())
    }
}

impl DeliveryLedger for DynamoDeliveries {
    async fn claim(&self, delivery: &DeliveryId, now: i64) -> Result<Claim, StoreError> {
        let key = &Key::delivery(delivery);
        let t = &self.table;
        let result = t
            .put(key)
            .item("kind", AttributeValue::S("delivery".into()))
            .item("status", AttributeValue::S(PENDING.into()))
            .item(
                "lease_until",
                AttributeValue::N((now + self.lease_seconds).to_string()),
            )
            .item(
                "expires_at",
                AttributeValue::N((now + self.remember_seconds).to_string()),
            )
            .condition_expression(
                "attribute_not_exists(pk) OR (#s = :pending AND lease_until < :now)",
            )
            .expression_attribute_names("#s", "status")
            .expression_attribute_values(":pending", AttributeValue::S(PENDING.into()))
            .expression_attribute_values(":now", AttributeValue::N(now.to_string()))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match result {
            Ok(_) => Ok(Claim::New),
            Err(e) => match e.as_service_error() {
                Some(se) if se.is_conditional_check_failed_exception() => {
                    // The old item tells done from in-flight without a second read.
                    let status = match se {
                        aws_sdk_dynamodb::operation::put_item::PutItemError::ConditionalCheckFailedException(c) => c
                            .item()
                            .and_then(|i| i.get("status"))
                            .and_then(|v| v.as_s().ok())
                            .cloned(),
                        _ => None,
                    };
                    let status = match status {
                        Some(s) => Some(s),
                        // Not every DynamoDB implementation returns the old item: read it.
                        None => self.status(key).await?,
                    };
                    Ok(if status.as_deref() == Some(PENDING) {
                        Claim::InFlight
                    } else {
                        Claim::Duplicate
                    })
                }
                _ => Err(store_error(&t.name, e)),
            },
        }
    }

    async fn complete(&self, delivery: &DeliveryId, summary: &str) -> Result<(), StoreError> {
        let key = &Key::delivery(delivery);
        let t = &self.table;
        t.update(key)
            .update_expression("SET #s = :done, summary = :summary REMOVE lease_until")
            .expression_attribute_names("#s", "status")
            .expression_attribute_values(":done", AttributeValue::S(DONE.into()))
            .expression_attribute_values(":summary", AttributeValue::S(summary.to_string()))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| store_error(&t.name, e))
    }

    async fn release(&self, delivery: &DeliveryId) -> Result<(), StoreError> {
        let key = &Key::delivery(delivery);
        let t = &self.table;
        let result = t
            .delete(key)
            .condition_expression("#s = :pending")
            .expression_attribute_names("#s", "status")
            .expression_attribute_values(":pending", AttributeValue::S(PENDING.into()))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            // Already finished by someone else: nothing to release.
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_conditional_check_failed_exception()) =>
            {
                Ok(())
            }
            Err(e) => Err(store_error(&t.name, e)),
        }
    }
}

impl Key {
    /// The newest push started for a pipeline and ref: `NEWEST_PUSH#<pipeline>#<full ref>`.
    pub fn newest_push(pipeline: &str, git_ref: &str) -> Self {
        Key {
            pk: format!("NEWEST_PUSH#{pipeline}#{git_ref}"),
            sk: "NEWEST_PUSH".to_string(),
        }
    }
}

impl gantry_core::ingest::PushHistory for DynamoDeliveries {
    /// A conditional put: it lands when no push is recorded or the recorded one is not newer.
    /// `pushed_at` is the provider's push time or the time Gantry received the push (see
    /// `Push::pushed_at`), never a commit's timestamp.
    async fn advance(
        &self,
        pipeline: &str,
        git_ref: &str,
        pushed_at: i64,
    ) -> Result<gantry_core::ingest::Newest, StoreError> {
        use gantry_core::ingest::Newest;
        let key = Key::newest_push(pipeline, git_ref);
        let t = &self.table;
        let result = t
            .put(&key)
            .item("kind", AttributeValue::S("newest_push".into()))
            .item("pushed_at", AttributeValue::N(pushed_at.to_string()))
            .item(
                "expires_at",
                AttributeValue::N((pushed_at + self.newest_push_seconds).to_string()),
            )
            .condition_expression("attribute_not_exists(pk) OR pushed_at <= :t")
            .expression_attribute_values(":t", AttributeValue::N(pushed_at.to_string()))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match result {
            Ok(_) => Ok(Newest::Recorded),
            Err(e) => match e.as_service_error() {
                Some(aws_sdk_dynamodb::operation::put_item::PutItemError::ConditionalCheckFailedException(c)) => {
                    let newest = match c.item().and_then(|i| i.get("pushed_at")).cloned() {
                        Some(v) => Some(v),
                        None => t.read(&key).await?.and_then(|i| i.get("pushed_at").cloned()),
                    };
                    let newest = newest
                        .as_ref()
                        .and_then(|v| v.as_n().ok())
                        .and_then(|n| n.parse().ok())
                        .unwrap_or(pushed_at + 1);
                    Ok(Newest::Older { newest })
                }
                _ => Err(store_error(&t.name, e)),
            },
        }
    }
}
