//! The executions the webhook started, and each ref's history of pushes: what four-eyes trusts
//! about who pushed a change (pipeline variables are whatever the starter typed).
//!
//! Two records per started execution, both written by the webhook and read by the approval
//! function, both kept `PUSH_HISTORY_SECONDS` (TTL `expires_at`):
//!
//! - `STARTED#{pipeline}#{execution id}` / `STARTED`: the execution's own record, found by id.
//! - `PUSHES#{pipeline}#{full ref}` / `{received at, 12 digits}#{execution id}`: the same facts
//!   in the ref's item collection, ordered by the time Gantry received the push, so an approval
//!   reads the ref's pushes before its own, newest first, with one `Query`.

use super::attributes::{n, number, s, text, DynamoItem};
use super::{store_error, Key, StateTable, StoreError};
use aws_sdk_dynamodb::types::AttributeValue;
use gantry_core::approval::StageSuccesses;
use gantry_core::ingest::{PushFacts, StartedPush, PUSH_HISTORY_SECONDS};

impl Key {
    /// The record of an execution the webhook started: `STARTED#{pipeline}#{execution id}`.
    pub fn started(pipeline: &str, execution_id: &str) -> Self {
        Key {
            pk: format!("STARTED#{pipeline}#{execution_id}"),
            sk: "STARTED".to_string(),
        }
    }

    /// A push in its ref's history: `PUSHES#{pipeline}#{full ref}`, sorted by receive time.
    pub fn ref_push(started: &StartedPush) -> Self {
        Key {
            pk: pushes_pk(&started.pipeline, &started.git_ref),
            sk: push_sk(started),
        }
    }
}

fn pushes_pk(pipeline: &str, git_ref: &str) -> String {
    format!("PUSHES#{pipeline}#{git_ref}")
}

/// Fifteen digits of epoch milliseconds sort as numbers until the year 33658.
fn push_sk(started: &StartedPush) -> String {
    format!(
        "{:015}#{}",
        received_ms(&started.facts).max(0),
        started.execution_id
    )
}

/// When the push was received, in milliseconds (a record without them: its second's start).
fn received_ms(facts: &PushFacts) -> i64 {
    if facts.received_ms > 0 {
        facts.received_ms
    } else {
        facts.received_at.saturating_mul(1000)
    }
}

/// The record's attributes, the same in both records.
fn attributes(started: &StartedPush) -> Vec<(&'static str, AttributeValue)> {
    let list = |v: &[String]| AttributeValue::L(v.iter().map(s).collect());
    let mut out = vec![
        ("kind", s("started_push")),
        ("pipeline", s(&started.pipeline)),
        ("execution_id", s(&started.execution_id)),
        ("git_ref", s(&started.git_ref)),
        ("commit_id", s(&started.commit_id)),
        ("authors", list(&started.facts.authors)),
        ("commits", list(&started.facts.commits)),
        ("delivery", s(&started.facts.delivery)),
        ("received_at", n(started.facts.received_at)),
        ("received_ms", n(received_ms(&started.facts))),
        (
            "expires_at",
            n(started.facts.received_at + PUSH_HISTORY_SECONDS),
        ),
    ];
    if let Some(pusher) = &started.facts.pusher {
        out.push(("pusher", s(pusher)));
    }
    if !started.facts.carried_pushers.is_empty() {
        out.push(("carried_pushers", list(&started.facts.carried_pushers)));
    }
    out
}

fn from_item(item: &DynamoItem) -> Option<StartedPush> {
    let list = |name: &str| -> Vec<String> {
        item.get(name)
            .and_then(|v| v.as_l().ok())
            .map(|l| l.iter().filter_map(|v| v.as_s().ok().cloned()).collect())
            .unwrap_or_default()
    };
    Some(StartedPush {
        pipeline: text(item, "pipeline")?,
        execution_id: text(item, "execution_id")?,
        git_ref: text(item, "git_ref")?,
        commit_id: text(item, "commit_id")?,
        facts: PushFacts {
            pusher: text(item, "pusher"),
            authors: list("authors"),
            commits: list("commits"),
            delivery: text(item, "delivery").unwrap_or_default(),
            received_at: number(item, "received_at")?,
            received_ms: number(item, "received_ms").unwrap_or(0),
            carried_pushers: list("carried_pushers"),
        },
    })
}

/// Writes both records of a started execution: the ref's history first, so an execution whose
/// own record exists is always in its ref's history. Writing them again writes the same items.
pub(crate) async fn record_start(
    table: &StateTable,
    started: &StartedPush,
) -> Result<(), StoreError> {
    for key in [
        Key::ref_push(started),
        Key::started(&started.pipeline, &started.execution_id),
    ] {
        let mut put = table.put(&key);
        for (name, value) in attributes(started) {
            put = put.item(name, value);
        }
        put.send().await.map_err(|e| store_error(&table.name, e))?;
    }
    Ok(())
}

/// The webhook's record of an execution, if it started it.
pub(crate) async fn started(
    table: &StateTable,
    pipeline: &str,
    execution_id: &str,
) -> Result<Option<StartedPush>, StoreError> {
    let item = table.read(&Key::started(pipeline, execution_id)).await?;
    Ok(item.as_ref().and_then(from_item))
}

/// The ref's pushes received before `own`, newest first, down to the first one the stage ran
/// (included): one `Query` (its pages read only until that push).
pub(crate) async fn pushes_before(
    table: &StateTable,
    own: &StartedPush,
    ran: &StageSuccesses,
) -> Result<Vec<StartedPush>, StoreError> {
    let mut pages = table
        .client
        .query()
        .table_name(&table.name)
        .key_condition_expression("pk = :pk AND sk < :own")
        .expression_attribute_values(":pk", s(pushes_pk(&own.pipeline, &own.git_ref)))
        .expression_attribute_values(":own", s(push_sk(own)))
        .scan_index_forward(false)
        .consistent_read(true)
        .into_paginator()
        .send();
    let mut older = Vec::new();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| store_error(&table.name, e))?;
        for push in page.items().iter().filter_map(from_item) {
            if push.execution_id == own.execution_id {
                continue;
            }
            let last = ran.ran(&push);
            older.push(push);
            if last {
                return Ok(older);
            }
        }
    }
    Ok(older)
}

/// The ref's pushes received at or after `since_ms`, oldest first (delivery metrics: where a
/// change's lead time starts).
pub(crate) async fn pushes_since(
    table: &StateTable,
    pipeline: &str,
    git_ref: &str,
    since_ms: i64,
) -> Result<Vec<StartedPush>, StoreError> {
    let mut pages = table
        .client
        .query()
        .table_name(&table.name)
        .key_condition_expression("pk = :pk AND sk >= :since")
        .expression_attribute_values(":pk", s(pushes_pk(pipeline, git_ref)))
        .expression_attribute_values(":since", s(format!("{:015}", since_ms.max(0))))
        .into_paginator()
        .send();
    let mut out = Vec::new();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| store_error(&table.name, e))?;
        out.extend(page.items().iter().filter_map(from_item));
    }
    Ok(out)
}

impl gantry_core::ingest::StartedPushes for super::DynamoDeliveries {
    async fn record_start(&self, started: &StartedPush) -> Result<(), StoreError> {
        record_start(&self.table, started).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn started(at: i64) -> StartedPush {
        StartedPush {
            pipeline: "shop".into(),
            execution_id: "e-1".into(),
            git_ref: "refs/heads/main".into(),
            commit_id: "c0ffee".into(),
            facts: PushFacts {
                pusher: Some("mona".into()),
                authors: vec!["mona".into(), "ghost, the@example.invalid".into()],
                commits: vec!["c0ffee".into()],
                delivery: "d-1".into(),
                received_at: at,
                received_ms: at * 1000,
                carried_pushers: Vec::new(),
            },
        }
    }

    #[test]
    fn a_started_push_reads_back_as_written_and_expires() {
        let p = started(1_700_000_000);
        let item: DynamoItem = attributes(&p)
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect::<HashMap<_, _>>();
        assert_eq!(from_item(&item), Some(p));
        assert_eq!(
            number(&item, "expires_at"),
            Some(1_700_000_000 + PUSH_HISTORY_SECONDS)
        );
    }

    #[test]
    fn the_history_sorts_by_receive_time() {
        assert!(push_sk(&started(999)) < push_sk(&started(1_000)));
        // Two pushes in one second keep their order, whatever their execution ids.
        let mut first = started(1_000);
        first.execution_id = "z-first".into();
        first.facts.received_ms = 1_000_001;
        let mut second = started(1_000);
        second.execution_id = "a-second".into();
        second.facts.received_ms = 1_000_002;
        assert!(push_sk(&first) < push_sk(&second));
        // A record from before milliseconds were kept: its second's start.
        let mut old = started(1_000);
        old.facts.received_ms = 0;
        assert!(push_sk(&old) < push_sk(&first));
        assert_eq!(Key::ref_push(&started(5)).pk, "PUSHES#shop#refs/heads/main");
    }
}
