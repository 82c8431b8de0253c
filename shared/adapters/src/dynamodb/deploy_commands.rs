//! Operator commands for a running traffic shift: the Promote and Rollback buttons write
//! `command`, `command_by`, `command_at` on the deployment record (`DEPLOYMENT#{id}`), which the
//! traffic shifter reads at its next check. One command per deployment: the first click wins.

use super::{store_error, Key, StateTable, StoreError};
use aws_sdk_dynamodb::types::AttributeValue;

/// What an operator asks of a running deployment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeployCommand {
    Promote,
    Rollback,
}

impl DeployCommand {
    /// The `command` attribute's value.
    pub fn as_str(self) -> &'static str {
        match self {
            DeployCommand::Promote => "promote",
            DeployCommand::Rollback => "rollback",
        }
    }

    fn parse(text: &str) -> Option<Self> {
        match text {
            "promote" => Some(DeployCommand::Promote),
            "rollback" => Some(DeployCommand::Rollback),
            _ => None,
        }
    }
}

/// A command already written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingCommand {
    pub command: DeployCommand,
    pub by: String,
    pub at: i64,
}

/// What the approval function needs of a deployment: whose rules apply, and any command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deployment {
    pub id: String,
    pub pipeline: String,
    pub stage: String,
    pub execution_id: Option<String>,
    pub command: Option<PendingCommand>,
}

/// The result of asking for a command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommandOutcome {
    Recorded,
    /// Someone asked first: their command stands.
    AlreadyPending(PendingCommand),
    /// No such deployment (finished and expired, or never existed).
    Missing,
}

/// Deployment commands on the state table.
#[derive(Debug, Clone)]
pub struct DeployCommands {
    pub table: StateTable,
}

impl DeployCommands {
    /// Reads the deployment record.
    pub async fn get(&self, id: &str) -> Result<Option<Deployment>, StoreError> {
        let t = &self.table;
        let Some(item) = t.read(&Key::deployment(id)).await? else {
            return Ok(None);
        };
        let text = |k: &str| item.get(k).and_then(|v| v.as_s().ok()).cloned();
        let (Some(pipeline), Some(stage)) = (text("pipeline"), text("stage")) else {
            return Err(StoreError::new(format!(
                "table {}: deployment record {id} lacks pipeline or stage",
                t.name
            )));
        };
        let command = text("command")
            .as_deref()
            .and_then(DeployCommand::parse)
            .map(|command| PendingCommand {
                command,
                by: text("command_by").unwrap_or_default(),
                at: item
                    .get("command_at")
                    .and_then(|v| v.as_n().ok())
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0),
            });
        Ok(Some(Deployment {
            id: id.to_string(),
            pipeline,
            stage,
            execution_id: text("execution_id"),
            command,
        }))
    }

    /// Writes the command if the deployment exists and has none yet.
    pub async fn request(
        &self,
        id: &str,
        command: DeployCommand,
        by: &str,
        now: i64,
    ) -> Result<CommandOutcome, StoreError> {
        let t = &self.table;
        let result = t
            .client
            .update_item()
            .table_name(&t.name)
            .set_key(Some(Key::deployment(id).attributes()))
            .update_expression("SET command = :c, command_by = :by, command_at = :at")
            .condition_expression("attribute_exists(pk) AND attribute_not_exists(command)")
            .expression_attribute_values(":c", AttributeValue::S(command.as_str().into()))
            .expression_attribute_values(":by", AttributeValue::S(by.into()))
            .expression_attribute_values(":at", AttributeValue::N(now.to_string()))
            .send()
            .await;
        match result {
            Ok(_) => Ok(CommandOutcome::Recorded),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_conditional_check_failed_exception()) =>
            {
                Ok(match self.get(id).await? {
                    Some(Deployment {
                        command: Some(pending),
                        ..
                    }) => CommandOutcome::AlreadyPending(pending),
                    // Exists without a command: the condition cannot have failed for it, but
                    // a record that disappeared in between is simply missing.
                    _ => CommandOutcome::Missing,
                })
            }
            Err(e) => Err(store_error(&t.name, e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_and_values_are_the_agreed_ones() {
        let k = Key::deployment("d-1");
        assert_eq!(
            (k.pk.as_str(), k.sk.as_str()),
            ("DEPLOYMENT#d-1", "DEPLOYMENT")
        );
        for c in [DeployCommand::Promote, DeployCommand::Rollback] {
            assert_eq!(DeployCommand::parse(c.as_str()), Some(c));
        }
        assert_eq!(DeployCommand::parse("abort"), None);
    }
}
