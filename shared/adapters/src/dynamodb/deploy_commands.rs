//! Operator commands for a running traffic shift: the Promote and Roll back buttons write
//! `command`, `command_by`, `command_at` on the deployment record (`DEPLOYMENT#{id}`, read and
//! written through `deployments`' codec), which the traffic shifter reads at its next check.
//! One command per deployment: the first click wins.

use super::attributes::{n, s};
use super::deployments::{command_attribute, record};
use super::{Key, StoreError};
use crate::dynamodb::DynamoDeployments;
use aws_sdk_dynamodb::types::AttributeValue;
use gantry_core::approval::ports::{CommandOutcome, DeploymentCommands};
use gantry_core::traffic::{Command, DeploymentRecord};

impl DeploymentCommands for DynamoDeployments {
    async fn deployment(&self, id: &str) -> Result<Option<DeploymentRecord>, StoreError> {
        Ok(self.get(&Key::deployment(id)).await?.map(|i| record(&i)))
    }

    async fn request(
        &self,
        id: &str,
        command: &Command,
        now: i64,
    ) -> Result<CommandOutcome, StoreError> {
        let (name, by) = command_attribute(command);
        let (set, condition, values) = command_update(command, name, by, now);
        let written = self.update(id, &set, values, Some(&condition)).await?;
        if written {
            return Ok(CommandOutcome::Recorded);
        }
        Ok(match self.deployment(id).await? {
            Some(DeploymentRecord {
                command: Some(pending),
                ..
            }) => CommandOutcome::AlreadyPending(pending),
            Some(d) if command.version().is_some_and(|v| v != d.controls) => {
                CommandOutcome::Stale {
                    current: d.controls,
                }
            }
            // Exists without a command: the condition cannot have failed for it, but a record
            // that disappeared in between is simply missing.
            _ => CommandOutcome::Missing,
        })
    }
}

/// The update writing `command` (with its version and, for Extend bake, its minutes), and its
/// condition: the deployment exists, has no command waiting, and (for a versioned command) its
/// controls are at the command's version (no `controls_version` yet means version 0).
fn command_update(
    command: &Command,
    name: &str,
    by: &str,
    now: i64,
) -> (String, String, Vec<(&'static str, AttributeValue)>) {
    let mut set = vec!["command = :c", "command_by = :by", "command_at = :at"];
    let mut values = vec![(":c", s(name)), (":by", s(by)), (":at", n(now))];
    let mut condition = "attribute_exists(pk) AND attribute_not_exists(command)".to_string();
    if let Some(version) = command.version() {
        set.push("command_version = :v");
        values.push((":v", n(i64::from(version))));
        condition.push_str(if version == 0 {
            " AND (attribute_not_exists(controls_version) OR controls_version = :v)"
        } else {
            " AND controls_version = :v"
        });
    }
    if let Command::Extend { minutes, .. } = command {
        set.push("command_minutes = :m");
        values.push((":m", n(i64::from(*minutes))));
    }
    (format!("SET {}", set.join(", ")), condition, values)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn a_command_reads_back_as_written() {
        for c in [
            Command::Promote { by: "U1".into() },
            Command::RollBack { by: "U2".into() },
            Command::Pause {
                by: "U3".into(),
                version: 2,
            },
            Command::Resume {
                by: "U3".into(),
                version: 3,
            },
            Command::Continue {
                by: "U3".into(),
                version: 4,
            },
            Command::Extend {
                by: "U4".into(),
                version: 5,
                minutes: 10,
            },
        ] {
            // Apply the update's assignments to the item, as DynamoDB would.
            let (name, by) = command_attribute(&c);
            let (set, _, values) = command_update(&c, name, by, 7);
            let values: HashMap<_, _> = values.into_iter().collect();
            let mut item = Key::deployment("d-1").attributes();
            for assignment in set.trim_start_matches("SET ").split(", ") {
                let (attribute, value) = assignment.split_once(" = ").unwrap();
                item.insert(attribute.to_string(), values[value].clone());
            }
            assert_eq!(record(&item).command, Some(c));
        }
        let k = Key::deployment("d-1");
        assert_eq!(
            (k.pk.as_str(), k.sk.as_str()),
            ("DEPLOYMENT#d-1", "DEPLOYMENT")
        );
    }
}
