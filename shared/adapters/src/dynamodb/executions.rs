//! Execution records: the notifier's merged view of one pipeline execution, what each sink has
//! delivered of it, and the per-sink leases that keep concurrent invocations from delivering
//! twice.
//!
//! Attributes: `execution` (S, JSON of `notify::Execution`), `version` (N, optimistic
//! concurrency), `channel` and `ts` (S, the Slack parent message, read by other functions to
//! reply in the thread), `slack_rendered` (S), `slack_replies` and `sns_sent` (SS, notice ids),
//! `slack_gave_up` (S), `slack_uncertain` (SS, posts Slack may or may not have taken: `parent`
//! or notice ids), `lock_<sink>` / `lock_<sink>_until`, `expires_at` (N, TTL).

use super::attributes::{n, s, string_set, text, DynamoItem};
use super::{conditional_write, store_error, Key, StateTable, StoreError};
use aws_sdk_dynamodb::types::AttributeValue;
use gantry_core::notify::{
    Delivered, Execution, ExecutionRecord, ExecutionRef, ExecutionStore, Sink, SlackMemory,
};
use gantry_core::slack::PostedMessage;
use std::collections::HashMap;

impl Key {
    /// A pipeline execution: `EXECUTION#<pipeline>#<execution id>`.
    pub fn execution(pipeline: &str, execution_id: &str) -> Self {
        Key {
            pk: format!("EXECUTION#{pipeline}#{execution_id}"),
            sk: "EXECUTION".to_string(),
        }
    }
}

/// `ExecutionStore` on the state table.
#[derive(Debug, Clone)]
pub struct DynamoExecutions {
    pub table: StateTable,
    /// How long a record outlives its last event (executions waiting for approval last days).
    pub remember_seconds: i64,
}

impl DynamoExecutions {
    pub fn new(table: StateTable) -> Self {
        Self {
            table,
            remember_seconds: 30 * 24 * 3600,
        }
    }
}

/// The execution's Slack thread (`channel`, `ts`), the one reading of it for every function:
/// an empty string is no thread.
pub(crate) fn thread_of(item: &DynamoItem) -> Option<PostedMessage> {
    Some(PostedMessage {
        channel: text(item, "channel").filter(|c| !c.is_empty())?,
        ts: text(item, "ts").filter(|t| !t.is_empty())?,
    })
}

/// The execution's Slack thread, once the notifier has posted it.
pub(crate) async fn execution_thread(
    table: &StateTable,
    pipeline: &str,
    execution_id: &str,
) -> Result<Option<PostedMessage>, StoreError> {
    let item = table.read(&Key::execution(pipeline, execution_id)).await?;
    Ok(item.as_ref().and_then(thread_of))
}

/// Reads a record; a malformed one is reported rather than silently replaced.
fn record(
    table: &str,
    item: &HashMap<String, AttributeValue>,
) -> Result<ExecutionRecord, StoreError> {
    let malformed = |reason: String| {
        StoreError::new(format!(
            "table {table}: malformed execution record: {reason}"
        ))
    };
    // A newer release's record is left to it (the event fails and is retried), never
    // rendered from a guess or written over in this release's shape.
    super::attributes::schema(item)
        .map_err(|e| StoreError::too_new(&format!("table {table}: execution"), e))?;
    let json = text(item, "execution").ok_or_else(|| malformed("no execution".into()))?;
    let execution: Execution = serde_json::from_str(&json).map_err(|e| malformed(e.to_string()))?;
    let version = item
        .get("version")
        .and_then(|v| v.as_n().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .ok_or_else(|| malformed("no version".into()))?;
    let message = thread_of(item);
    Ok(ExecutionRecord {
        execution,
        version,
        slack: SlackMemory {
            message,
            rendered: text(item, "slack_rendered"),
            replies: string_set(item, "slack_replies"),
            gave_up: text(item, "slack_gave_up"),
            uncertain: string_set(item, "slack_uncertain"),
        },
        sns_sent: string_set(item, "sns_sent"),
    })
}

impl ExecutionStore for DynamoExecutions {
    async fn load(&self, execution: &ExecutionRef) -> Result<Option<ExecutionRecord>, StoreError> {
        let key = &Key::execution(&execution.pipeline, &execution.execution_id);
        let t = &self.table;
        let item = t.read(key).await?;
        item.as_ref().map(|i| record(&t.name, i)).transpose()
    }

    async fn save(
        &self,
        id: &ExecutionRef,
        execution: &Execution,
        expected: Option<u64>,
        now: i64,
    ) -> Result<bool, StoreError> {
        let key = &Key::execution(&id.pipeline, &id.execution_id);
        let t = &self.table;
        let json = serde_json::to_string(execution)
            .map_err(|e| StoreError::new(format!("table {}: {e}", t.name)))?;
        let mut request = t
            .update(key)
            .update_expression(
                "SET execution = :execution, version = :next, expires_at = :expires, \
                 kind = :kind, pipeline = :pipeline, execution_id = :execution_id, #schema = :schema",
            )
            .expression_attribute_names("#schema", gantry_core::schema::ATTRIBUTE)
            .expression_attribute_values(":schema", super::attributes::version())
            .expression_attribute_values(":execution", s(json))
            .expression_attribute_values(":next", n(expected.map_or(1, |v| v + 1)))
            .expression_attribute_values(":expires", n(now + self.remember_seconds))
            .expression_attribute_values(":kind", s("execution"))
            .expression_attribute_values(":pipeline", s(&execution.pipeline))
            .expression_attribute_values(":execution_id", s(&execution.execution_id));
        request = match expected {
            None => request.condition_expression("attribute_not_exists(pk)"),
            Some(v) => request
                .condition_expression("version = :expected")
                .expression_attribute_values(":expected", n(v)),
        };
        let saved = conditional_write(&t.name, request.send().await)?;
        if saved {
            // `/gantry status` reads each stage's state from this projection, not CodePipeline.
            super::status_board::project_execution(t, execution).await;
        }
        Ok(saved)
    }

    async fn lock(
        &self,
        execution: &ExecutionRef,
        sink: Sink,
        owner: &str,
        now: i64,
        lease_seconds: i64,
    ) -> Result<bool, StoreError> {
        let key = &Key::execution(&execution.pipeline, &execution.execution_id);
        let t = &self.table;
        let result = t.update(key)
            .update_expression("SET #owner = :owner, #until = :until")
            .condition_expression(
                "attribute_exists(pk) AND (attribute_not_exists(#until) OR #until < :now OR #owner = :owner)",
            )
            .expression_attribute_names("#owner", format!("lock_{}", sink.name()))
            .expression_attribute_names("#until", format!("lock_{}_until", sink.name()))
            .expression_attribute_values(":owner", s(owner))
            .expression_attribute_values(":until", n(now + lease_seconds))
            .expression_attribute_values(":now", n(now))
            .send()
            .await;
        conditional_write(&t.name, result)
    }

    async fn unlock(
        &self,
        execution: &ExecutionRef,
        sink: Sink,
        owner: &str,
    ) -> Result<(), StoreError> {
        let key = &Key::execution(&execution.pipeline, &execution.execution_id);
        let t = &self.table;
        let result = t
            .update(key)
            .update_expression("REMOVE #owner, #until")
            .condition_expression("#owner = :owner")
            .expression_attribute_names("#owner", format!("lock_{}", sink.name()))
            .expression_attribute_names("#until", format!("lock_{}_until", sink.name()))
            .expression_attribute_values(":owner", s(owner))
            .send()
            .await;
        // A condition that failed means the lease expired and someone else took it: theirs now.
        conditional_write(&t.name, result).map(|_| ())
    }

    async fn remember(
        &self,
        execution: &ExecutionRef,
        delivered: &Delivered,
    ) -> Result<(), StoreError> {
        let key = &Key::execution(&execution.pipeline, &execution.execution_id);
        let t = &self.table;
        // What each delivery records: an update expression and its values.
        let set = |id: &str| AttributeValue::Ss(vec![id.to_string()]);
        let (expression, values) = match delivered {
            Delivered::SlackPosted { message, rendered } => (
                "SET channel = :channel, ts = :ts, slack_rendered = :rendered",
                vec![
                    (":channel", s(&message.channel)),
                    (":ts", s(&message.ts)),
                    (":rendered", s(rendered)),
                ],
            ),
            Delivered::SlackUpdated { rendered } => (
                "SET slack_rendered = :rendered",
                vec![(":rendered", s(rendered))],
            ),
            Delivered::SlackReplied { notice } => {
                ("ADD slack_replies :id", vec![(":id", set(notice))])
            }
            Delivered::SlackGaveUp { error } => {
                ("SET slack_gave_up = :error", vec![(":error", s(error))])
            }
            Delivered::SlackUncertain { post } => {
                ("ADD slack_uncertain :post", vec![(":post", set(post))])
            }
            Delivered::Published { notice } => ("ADD sns_sent :id", vec![(":id", set(notice))]),
        };
        let request = values.into_iter().fold(
            t.update(key).update_expression(expression),
            |request, (name, value)| request.expression_attribute_values(name, value),
        );
        request
            .send()
            .await
            .map(|_| ())
            .map_err(|e| store_error(&t.name, e))
    }

    async fn started_from_slack(
        &self,
        pipeline: &str,
        execution_id: &str,
    ) -> Result<Option<String>, StoreError> {
        // The slash command records the executions it starts as the webhook does, its user as
        // the pusher `slack:<user id>` (`operate::flow::slack_pusher`).
        let started = super::pushes::started(&self.table, pipeline, execution_id).await?;
        Ok(started
            .and_then(|p| p.facts.pusher)
            .and_then(|p| p.strip_prefix("slack:").map(str::to_string)))
    }
}
