//! Blue/green deployments: one record per deployment, so an operator's Slack click reaches the
//! running deployment, and a repeated first invocation finds what the first one decided.

use super::attributes::{conditional_failed, text, DynamoItem};
use super::{conditional_write, store_error, Key, StateTable, StoreError};
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};
use gantry_core::slack::PostedMessage;
use gantry_core::traffic::phases::sweep::Listed;
use gantry_core::traffic::Command;
use gantry_core::traffic::{
    DeploymentRecord, DeploymentStatus, DeploymentStore, HandOver, PipelineContext, Turn, Watch,
};

impl Key {
    /// A deployment: `DEPLOYMENT#<id>` (the id of the job that started it).
    pub fn deployment(id: &str) -> Self {
        Key {
            pk: format!("DEPLOYMENT#{id}"),
            sk: "DEPLOYMENT".to_string(),
        }
    }
}

/// How long a finished deployment's record is kept.
const KEEP_SECONDS: i64 = 90 * 24 * 3600;

/// The stored spelling back to a status; anything unknown reads as in progress (the safe side:
/// the next invocation looks again).
fn parse_status(s: &str) -> DeploymentStatus {
    match s {
        "rolling_back" => DeploymentStatus::RollingBack,
        "succeeded" => DeploymentStatus::Succeeded,
        "rolled_back" => DeploymentStatus::RolledBack,
        _ => DeploymentStatus::InProgress,
    }
}

/// `DeploymentStore` on the state table.
#[derive(Debug, Clone)]
pub struct DynamoDeployments {
    pub table: StateTable,
}

/// The stored spelling of an operator command.
pub(super) fn command_attribute(command: &Command) -> (&'static str, &str) {
    match command {
        Command::Promote { by } => ("promote", by),
        Command::RollBack { by } => ("rollback", by),
        Command::Pause { by, .. } => ("pause", by),
        Command::Resume { by, .. } => ("resume", by),
        Command::Extend { by, .. } => ("extend", by),
        Command::Continue { by, .. } => ("continue", by),
    }
}

/// The one reading of a `DEPLOYMENT#` record.
pub(super) fn record(item: &DynamoItem) -> DeploymentRecord {
    let context = text(item, "pipeline").map(|pipeline| PipelineContext {
        pipeline,
        stage: text(item, "stage").unwrap_or_default(),
        action: text(item, "action").unwrap_or_default(),
        execution_id: text(item, "execution_id").unwrap_or_default(),
    });
    let by = text(item, "command_by").unwrap_or_default();
    let number = |name: &str| {
        item.get(name)
            .and_then(|v| v.as_n().ok())
            .and_then(|n| n.parse::<u32>().ok())
    };
    // Pause, Resume and Extend carry the controls' version their button showed.
    let version = number("command_version");
    let command = match (text(item, "command").as_deref(), version) {
        (Some("promote"), _) => Some(Command::Promote { by }),
        (Some("rollback"), _) => Some(Command::RollBack { by }),
        (Some("pause"), Some(version)) => Some(Command::Pause { by, version }),
        (Some("resume"), Some(version)) => Some(Command::Resume { by, version }),
        (Some("continue"), Some(version)) => Some(Command::Continue { by, version }),
        (Some("extend"), Some(version)) => Some(Command::Extend {
            by,
            version,
            minutes: number("command_minutes").unwrap_or(0),
        }),
        _ => None,
    };
    let message = match (text(item, "slack_channel"), text(item, "slack_ts")) {
        (Some(channel), Some(ts)) => Some(PostedMessage { channel, ts }),
        _ => None,
    };
    let record = DeploymentRecord {
        id: text(item, "pk")
            .and_then(|pk| pk.strip_prefix("DEPLOYMENT#").map(str::to_string))
            .unwrap_or_default(),
        context,
        state: text(item, "state").unwrap_or_default(),
        status: parse_status(&text(item, "status").unwrap_or_default()),
        summary: text(item, "summary"),
        command,
        command_at: item.get("command_at").and_then(|v| v.as_n().ok()).cloned(),
        controls: number("controls_version").unwrap_or(0),
        message,
        handed_over: match (number("token_seq"), text(item, "token_digest")) {
            (Some(seq), Some(digest)) => Some(HandOver { seq, digest }),
            _ => None,
        },
        watch: watch(item),
    };
    match super::attributes::schema(item) {
        Ok(_) => record,
        Err(too_new) => record.too_new(&too_new),
    }
}

/// Who last drove the deployment, as `take`, `release`, `keep_job` and `note_job` wrote it.
fn watch(item: &DynamoItem) -> Watch {
    let whole = |name: &str| super::attributes::number(item, name).unwrap_or(0);
    Watch {
        seq: super::attributes::number(item, "seq").and_then(|q| u32::try_from(q).ok()),
        lease_until_ms: whole("lease_until"),
        released_ms: whole("released_at"),
        // `created_at` is whole seconds: the end of that second, so a deployment just opened
        // never looks older than it is.
        created_ms: whole("created_at").saturating_add(1).saturating_mul(1000),
        job_id: text(item, "job_id"),
        user_parameters: text(item, "user_parameters"),
    }
}

impl DynamoDeployments {
    pub(super) async fn get(&self, key: &Key) -> Result<Option<DynamoItem>, StoreError> {
        let t = &self.table;
        t.read(key).await
    }

    pub(super) async fn update(
        &self,
        id: &str,
        expression: &str,
        values: Vec<(&str, AttributeValue)>,
        condition: Option<&str>,
    ) -> Result<bool, StoreError> {
        let t = &self.table;
        let mut request = t
            .update(&Key::deployment(id))
            .update_expression(expression)
            .set_condition_expression(condition.map(str::to_string));
        for (name, value) in values {
            request = request.expression_attribute_values(name, value);
        }
        if expression.contains("#s") || condition.is_some_and(|c| c.contains("#s")) {
            request = request.expression_attribute_names("#s", "status");
        }
        conditional_write(&t.name, request.send().await)
    }
}

impl DeploymentStore for DynamoDeployments {
    async fn open(
        &self,
        id: &str,
        context: Option<&PipelineContext>,
        state: &str,
        now: i64,
    ) -> Result<DeploymentRecord, StoreError> {
        let t = &self.table;
        let key = Key::deployment(id);
        // An update, not a put: the invocation's lease (`seq`, `lease_until`) was taken on
        // this key before anything was written, and stays.
        let mut sets = vec![
            ("kind", AttributeValue::S("deployment".into())),
            (gantry_core::schema::ATTRIBUTE, super::attributes::version()),
            ("state", AttributeValue::S(state.into())),
            (
                "status",
                AttributeValue::S(DeploymentStatus::InProgress.as_str().into()),
            ),
            ("created_at", AttributeValue::N(now.to_string())),
            (
                "expires_at",
                AttributeValue::N((now + KEEP_SECONDS).to_string()),
            ),
        ];
        if let Some(c) = context {
            sets.push(("pipeline", AttributeValue::S(c.pipeline.clone())));
            sets.push(("stage", AttributeValue::S(c.stage.clone())));
            sets.push(("action", AttributeValue::S(c.action.clone())));
            sets.push(("execution_id", AttributeValue::S(c.execution_id.clone())));
        }
        // Listed first: a record the sweep's index does not know could be orphaned unseen.
        super::open_deployments::list(t, id, now).await?;
        // Every name through a placeholder: `state`, `status` and `action` are DynamoDB
        // reserved words. `#n1` is `state`, the attribute only a recorded deployment has.
        let mut expression = Vec::new();
        let mut request = t
            .update(&key)
            .condition_expression("attribute_not_exists(#n1)")
            .return_values(ReturnValue::AllNew);
        for (i, (name, value)) in sets.into_iter().enumerate() {
            expression.push(format!("#n{i} = :v{i}"));
            request = request
                .expression_attribute_names(format!("#n{i}"), name)
                .expression_attribute_values(format!(":v{i}"), value);
        }
        let created = request
            .update_expression(format!("SET {}", expression.join(", ")))
            .send()
            .await;
        match created {
            Ok(out) => Ok(record(&out.attributes.unwrap_or_default())),
            Err(e) if conditional_failed(&e) => {
                // A repeated first invocation: what the first one decided stands.
                match self.get(&key).await? {
                    Some(existing) => Ok(record(&existing)),
                    None => Err(StoreError::new(format!(
                        "table {}: deployment {id} was recorded and is gone",
                        t.name
                    ))),
                }
            }
            Err(e) => Err(store_error(&t.name, e)),
        }
    }

    async fn read(&self, id: &str) -> Result<Option<DeploymentRecord>, StoreError> {
        // A lease taken before the deployment was recorded is not a deployment yet.
        Ok(self
            .get(&Key::deployment(id))
            .await?
            .filter(|i| i.contains_key("state"))
            .map(|i| record(&i)))
    }

    async fn claim(&self, id: &str, seq: u32) -> Result<bool, StoreError> {
        self.update(
            id,
            "SET seq = :q",
            vec![(":q", AttributeValue::N(seq.to_string()))],
            Some("attribute_not_exists(seq) OR seq <= :q"),
        )
        .await
    }

    async fn take(
        &self,
        id: &str,
        seq: u32,
        now_ms: i64,
        until_ms: i64,
    ) -> Result<Turn, StoreError> {
        // An equal number is taken only from a holder whose lease ran out unreleased (it
        // died); `lease_until = 0` marks a released number.
        let taken = self
            .update(
                id,
                // A first invocation takes its lease before the record exists: the lease
                // alone must expire too.
                "SET seq = :q, lease_until = :until, expires_at = if_not_exists(expires_at, :exp)",
                vec![
                    (":q", AttributeValue::N(seq.to_string())),
                    (":until", AttributeValue::N(until_ms.to_string())),
                    (
                        ":exp",
                        AttributeValue::N((now_ms / 1000 + KEEP_SECONDS).to_string()),
                    ),
                    (":now", AttributeValue::N(now_ms.to_string())),
                    (":zero", AttributeValue::N("0".into())),
                ],
                Some("attribute_not_exists(seq) OR seq < :q OR (seq = :q AND lease_until > :zero AND lease_until < :now)"),
            )
            .await?;
        if taken {
            return Ok(Turn::Taken);
        }
        let item = self.get(&Key::deployment(id)).await?;
        let n = |name: &str| {
            item.as_ref()
                .and_then(|i| i.get(name))
                .and_then(|v| v.as_n().ok())
                .and_then(|v| v.parse::<i64>().ok())
        };
        Ok(match (n("seq"), n("lease_until")) {
            (Some(held), Some(until)) if held == i64::from(seq) && until > 0 => {
                Turn::Held { until_ms: until }
            }
            _ => Turn::Overtaken,
        })
    }

    async fn record_hand_over(
        &self,
        id: &str,
        held: u32,
        next: &HandOver,
    ) -> Result<bool, StoreError> {
        self.update(
            id,
            "SET token_seq = :next, token_digest = :digest",
            vec![
                (":next", AttributeValue::N(next.seq.to_string())),
                (":digest", AttributeValue::S(next.digest.clone())),
                (":held", AttributeValue::N(held.to_string())),
            ],
            Some("seq = :held"),
        )
        .await
    }

    async fn release(&self, id: &str, seq: u32) -> Result<(), StoreError> {
        // When it was released is the deployment's last sign of life until the next holder.
        self.update(
            id,
            "SET lease_until = :zero, released_at = :now",
            vec![
                (":q", AttributeValue::N(seq.to_string())),
                (":zero", AttributeValue::N("0".into())),
                (
                    ":now",
                    AttributeValue::N(gantry_core::clock::now_epoch_millis().to_string()),
                ),
            ],
            Some("seq = :q"),
        )
        .await
        .map(|_| ())
    }

    async fn let_go(&self, id: &str, seq: u32) -> Result<(), StoreError> {
        // Ended, not released (`lease_until > 0`): the same number may be taken again.
        let now = gantry_core::clock::now_epoch_millis();
        self.update(
            id,
            "SET lease_until = :now",
            vec![
                (":q", AttributeValue::N(seq.to_string())),
                (":zero", AttributeValue::N("0".into())),
                (":now", AttributeValue::N(now.max(1).to_string())),
            ],
            Some("seq = :q AND lease_until > :zero AND lease_until > :now"),
        )
        .await
        .map(|_| ())
    }

    async fn clear_command(&self, id: &str, command_at: Option<&str>) -> Result<(), StoreError> {
        // Only the command that was acted on: a newer click stays for the next check.
        let (condition, values) = match command_at {
            Some(at) => (
                "command_at = :at",
                vec![(":at", AttributeValue::N(at.to_string()))],
            ),
            None => ("attribute_not_exists(command_at)", vec![]),
        };
        self.update(
            id,
            "REMOVE command, command_by, command_at, command_version, command_minutes",
            values,
            Some(condition),
        )
        .await
        .map(|_| ())
    }

    async fn set_controls(&self, id: &str, version: u32) -> Result<(), StoreError> {
        self.update(
            id,
            "SET controls_version = :v",
            vec![(":v", AttributeValue::N(version.to_string()))],
            Some("attribute_exists(pk)"),
        )
        .await
        .map(|_| ())
    }

    async fn audit(&self, id: &str, entry: &str) -> Result<(), StoreError> {
        self.update(
            id,
            "SET controls = list_append(if_not_exists(controls, :none), :e)",
            vec![
                (":none", AttributeValue::L(vec![])),
                (
                    ":e",
                    AttributeValue::L(vec![AttributeValue::S(entry.to_string())]),
                ),
            ],
            Some("attribute_exists(pk)"),
        )
        .await
        .map(|_| ())
    }

    async fn save_message(&self, id: &str, message: &PostedMessage) -> Result<(), StoreError> {
        self.update(
            id,
            "SET slack_channel = :c, slack_ts = :t",
            vec![
                (":c", AttributeValue::S(message.channel.clone())),
                (":t", AttributeValue::S(message.ts.clone())),
            ],
            None,
        )
        .await
        .map(|_| ())
    }

    async fn set_status(
        &self,
        id: &str,
        status: DeploymentStatus,
        summary: &str,
        now: i64,
    ) -> Result<(), StoreError> {
        self.update(
            id,
            "SET #s = :s, summary = :m, updated_at = :now",
            vec![
                (":s", AttributeValue::S(status.as_str().into())),
                (":m", AttributeValue::S(summary.into())),
                (":now", AttributeValue::N(now.to_string())),
            ],
            None,
        )
        .await?;
        // A finished deployment stays on the sweep's index: its holder may still die before
        // giving the job its result, and only the sweep would then see it. The sweep takes it
        // off once released (or once it gave the job the recorded result).
        Ok(())
    }

    async fn note_job(&self, id: &str, job_id: &str, token: &HandOver) -> Result<bool, StoreError> {
        self.update(
            id,
            "SET job_id = :j",
            vec![
                (":j", AttributeValue::S(job_id.to_string())),
                (":q", AttributeValue::N(token.seq.to_string())),
                (":d", AttributeValue::S(token.digest.clone())),
            ],
            Some("token_seq = :q AND token_digest = :d"),
        )
        .await
    }

    async fn keep_job(
        &self,
        id: &str,
        seq: u32,
        job_id: &str,
        user_parameters: &str,
    ) -> Result<(), StoreError> {
        self.update(
            id,
            "SET job_id = :j, user_parameters = :p",
            vec![
                (":j", AttributeValue::S(job_id.to_string())),
                (":p", AttributeValue::S(user_parameters.to_string())),
                (":q", AttributeValue::N(seq.to_string())),
            ],
            Some("seq = :q"),
        )
        .await
        .map(drop)
    }

    async fn open_deployments(&self) -> Result<Vec<Listed>, StoreError> {
        Ok(super::open_deployments::listed(&self.table)
            .await?
            .into_iter()
            .map(|e| Listed {
                record: e.item.as_ref().map(record),
                listed_ms: e.listed_ms,
                id: e.id,
            })
            .collect())
    }

    async fn forget(&self, id: &str) -> Result<(), StoreError> {
        super::open_deployments::forget(&self.table, id).await
    }

    async fn take_orphan(
        &self,
        id: &str,
        seen: &Watch,
        seq: u32,
        until_ms: i64,
    ) -> Result<bool, StoreError> {
        // Only from the lease the sweep judged, and only while the deployment is not finished:
        // an invocation that took it meanwhile wins.
        let mut values = vec![
            (":q", AttributeValue::N(seq.to_string())),
            (":until", AttributeValue::N(until_ms.to_string())),
            (":lease", AttributeValue::N(seen.lease_until_ms.to_string())),
            (
                ":going",
                AttributeValue::S(DeploymentStatus::InProgress.as_str().into()),
            ),
            (
                ":back",
                AttributeValue::S(DeploymentStatus::RollingBack.as_str().into()),
            ),
        ];
        let mut condition = "attribute_exists(pk) AND (#s = :going OR #s = :back)".to_string();
        match seen.seq {
            Some(held) => {
                values.push((":held", AttributeValue::N(held.to_string())));
                condition.push_str(" AND seq = :held");
            }
            None => condition.push_str(" AND attribute_not_exists(seq)"),
        }
        condition.push_str(if seen.lease_until_ms == 0 {
            " AND (attribute_not_exists(lease_until) OR lease_until = :lease)"
        } else {
            " AND lease_until = :lease"
        });
        self.update(
            id,
            "SET seq = :q, lease_until = :until",
            values,
            Some(&condition),
        )
        .await
    }

    async fn live_release(
        &self,
        pipeline: &str,
        stage: &str,
    ) -> Result<Option<(String, Option<String>)>, StoreError> {
        let key = Key {
            pk: "STATUS".into(),
            sk: format!("{pipeline}#{stage}#live"),
        };
        let Some(item) = self.table.read(&key).await? else {
            return Ok(None);
        };
        // The row's `run` is the projection's JSON (`status_board`): only two fields are read.
        let run: Option<serde_json::Value> =
            text(&item, "run").and_then(|j| serde_json::from_str(&j).ok());
        Ok(run.and_then(|r| {
            let execution = r["execution_id"].as_str()?.to_string();
            Some((execution, r["commit"].as_str().map(str::to_string)))
        }))
    }

    async fn execution_thread(
        &self,
        pipeline: &str,
        execution_id: &str,
    ) -> Result<Option<PostedMessage>, StoreError> {
        super::executions::execution_thread(&self.table, pipeline, execution_id).await
    }

    async fn note_weight(
        &self,
        context: &PipelineContext,
        percent: u8,
        now: i64,
    ) -> Result<(), StoreError> {
        let row = gantry_core::operate::shift_row(
            &context.pipeline,
            &context.stage,
            &context.execution_id,
            percent,
            now,
        );
        super::status_board::note_shift(&self.table, &row).await
    }
}

#[cfg(test)]
mod schema_tests {
    use super::*;
    use std::collections::HashMap;

    fn item(status: &str, schema: Option<u32>) -> DynamoItem {
        let mut item: DynamoItem = HashMap::from([
            (
                "pk".to_string(),
                AttributeValue::S("DEPLOYMENT#job-1".into()),
            ),
            ("state".to_string(), AttributeValue::S("{}".into())),
            ("status".to_string(), AttributeValue::S(status.into())),
            ("command".to_string(), AttributeValue::S("promote".into())),
            ("added_later".to_string(), AttributeValue::S("x".into())),
        ]);
        if let Some(v) = schema {
            item.insert("schema".into(), AttributeValue::N(v.to_string()));
        }
        item
    }

    #[test]
    fn a_deployment_of_this_shape_or_none_reads_as_stored() {
        for schema in [None, Some(gantry_core::schema::SCHEMA_VERSION)] {
            let r = record(&item("in_progress", schema));
            assert_eq!(r.status, DeploymentStatus::InProgress);
            assert!(r.command.is_some());
        }
    }

    #[test]
    fn a_moving_deployment_a_newer_release_wrote_reads_as_rolling_back() {
        let r = record(&item(
            "in_progress",
            Some(gantry_core::schema::SCHEMA_VERSION + 1),
        ));
        assert_eq!(r.status, DeploymentStatus::RollingBack);
        assert!(r.summary.unwrap_or_default().contains("newer Gantry"));
        assert_eq!(r.command, None);
    }
}
