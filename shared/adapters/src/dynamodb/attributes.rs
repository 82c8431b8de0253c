//! Reading and writing DynamoDB attribute values: one set of helpers for every record kind.

use aws_sdk_dynamodb::types::AttributeValue;
use std::collections::{BTreeSet, HashMap};

/// A record as DynamoDB returns it.
pub type DynamoItem = HashMap<String, AttributeValue>;

/// A string attribute.
pub fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

/// A number attribute.
pub fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

/// A string attribute's value, if present and a string.
pub fn text(item: &DynamoItem, name: &str) -> Option<String> {
    item.get(name).and_then(|v| v.as_s().ok()).cloned()
}

/// A number attribute's value, if present and a whole number.
pub fn number(item: &DynamoItem, name: &str) -> Option<i64> {
    item.get(name)
        .and_then(|v| v.as_n().ok())
        .and_then(|v| v.parse().ok())
}

/// The version this release writes on every record (`gantry_core::schema`).
pub fn version() -> AttributeValue {
    n(gantry_core::schema::SCHEMA_VERSION)
}

/// A record's version as `gantry_core::schema::check` judges it: absent is the first shape; a
/// version stored as text rather than a number is judged by its text (never silently read).
pub fn schema(item: &DynamoItem) -> Result<u32, gantry_core::schema::TooNew> {
    let raw = item.get(gantry_core::schema::ATTRIBUTE).map(|v| match v {
        AttributeValue::N(x) | AttributeValue::S(x) => x.clone(),
        other => format!("{other:?}"),
    });
    gantry_core::schema::check(raw.as_deref())
}

/// A string set attribute's values (none when absent).
pub fn string_set(item: &DynamoItem, name: &str) -> BTreeSet<String> {
    item.get(name)
        .and_then(|v| v.as_ss().ok())
        .map(|v| v.iter().cloned().collect())
        .unwrap_or_default()
}

/// True when a write failed only because its condition did not hold.
pub fn conditional_failed<E, R>(e: &aws_sdk_dynamodb::error::SdkError<E, R>) -> bool
where
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata,
{
    e.as_service_error()
        .and_then(|se| se.code())
        .is_some_and(|c| c == "ConditionalCheckFailedException")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_read_back_and_wrong_types_read_as_absent() {
        let item: DynamoItem = HashMap::from([
            ("a".to_string(), s("x")),
            ("b".to_string(), n(42)),
            ("c".to_string(), n("4.5")),
        ]);
        assert_eq!(text(&item, "a").as_deref(), Some("x"));
        assert_eq!(text(&item, "b"), None);
        assert_eq!(number(&item, "b"), Some(42));
        assert_eq!(number(&item, "c"), None);
        assert_eq!(number(&item, "z"), None);
        assert!(string_set(&item, "a").is_empty());
    }
}
