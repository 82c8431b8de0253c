//! Operator commands for a running traffic shift: the Promote and Roll back buttons write
//! `command`, `command_by`, `command_at` on the deployment record (`DEPLOYMENT#{id}`, read and
//! written through `deployments`' codec), which the traffic shifter reads at its next check.
//! One command per deployment: the first click wins.

use super::attributes::{n, s};
use super::deployments::{command_attribute, record};
use super::{Key, StoreError};
use crate::dynamodb::DynamoDeployments;
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
        let written = self
            .update(
                id,
                "SET command = :c, command_by = :by, command_at = :at",
                vec![(":c", s(name)), (":by", s(by)), (":at", n(now))],
                Some("attribute_exists(pk) AND attribute_not_exists(command)"),
            )
            .await?;
        if written {
            return Ok(CommandOutcome::Recorded);
        }
        Ok(match self.deployment(id).await? {
            Some(DeploymentRecord {
                command: Some(pending),
                ..
            }) => CommandOutcome::AlreadyPending(pending),
            // Exists without a command: the condition cannot have failed for it, but a record
            // that disappeared in between is simply missing.
            _ => CommandOutcome::Missing,
        })
    }
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
        ] {
            let (name, by) = command_attribute(&c);
            let mut item = Key::deployment("d-1").attributes();
            item.extend(HashMap::from([
                ("command".to_string(), s(name)),
                ("command_by".to_string(), s(by)),
            ]));
            assert_eq!(record(&item).command, Some(c));
        }
        let k = Key::deployment("d-1");
        assert_eq!(
            (k.pk.as_str(), k.sk.as_str()),
            ("DEPLOYMENT#d-1", "DEPLOYMENT")
        );
    }
}
