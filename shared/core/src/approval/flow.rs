//! The approval function's flows, generic over their ports: `Approvals` holds the rules and the
//! ports; each flow is a file of its own: `request` (an approval started: post the request),
//! `click` (Approve / Reject: decided there), `deploy_controls` (Promote / Roll back), `close`
//! (an approval ended outside Slack). This file holds what they share, and the dispatch of
//! CodePipeline's events to them.

use super::authorize::{owners_plan, OwnersPlan};
use super::change::{change_since, Provenance};
use super::ports::{ApprovalActions, ApprovalStore, DeploymentCommands, Directory, Replies};
use super::{
    authorize, events, render_closed, Act, ApprovalRecord, Approver, ApproverRules, ChangeOwners,
    Clicker, Denial, StageApprovers, Verdict,
};
use crate::config::people::People;
use crate::config::NotifyConfig;
use crate::secrets::SecretString;
use crate::slack::Chat;
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::future::Future;

/// The approval feature, wired to its ports.
/// The outside systems the approval flows speak to, named once: each flow's `impl` then states one
/// bound instead of five. The function binds them to DynamoDB, CodePipeline and Slack;
/// `testing` to in-memory fakes.
pub trait ApprovalPorts {
    type Store: ApprovalStore;
    type Pipeline: ApprovalActions;
    type Chat: Replies;
    type Directory: Directory;
    type Deployments: DeploymentCommands;
}

pub struct Approvals<A: ApprovalPorts> {
    pub approvers: ApproverRules,
    /// `GANTRY_PEOPLE`: who a pusher's login is in Slack, for the four-eyes rule.
    pub people: People,
    pub channels: NotifyConfig,
    pub signing_secret: SecretString,
    pub records: A::Store,
    pub pipeline: A::Pipeline,
    /// For CodePipeline events: Slack's usual retry rules.
    pub slack: A::Chat,
    /// For clicks: few, short attempts, so the answer beats Slack's three seconds.
    pub slack_now: A::Chat,
    pub directory: A::Directory,
    pub deployments: A::Deployments,
}

impl<A: ApprovalPorts> Approvals<A> {
    /// Handles one EventBridge event (CodePipeline's approval action state changes). An error
    /// asks Lambda to retry the event.
    pub async fn on_eventbridge(
        &self,
        event: &Value,
        now: i64,
    ) -> Result<Value, super::RequestError> {
        match events::from_eventbridge(event, now) {
            Ok(events::ApprovalEvent::Started(notice)) => self.open(notice, now).await,
            Ok(events::ApprovalEvent::Finished(finished)) => self.close(&finished).await,
            Ok(events::ApprovalEvent::Ignored(reason)) => {
                tracing::debug!(reason, "event ignored");
                Ok(json!({ "ignored": reason }))
            }
            // A retry cannot make a malformed event readable: log it, don't fail.
            Err(e) => {
                tracing::error!(error = %e, "unreadable EventBridge event");
                Ok(json!({ "ignored": e.to_string() }))
            }
        }
    }

    /// Handles the `Message`s of an SNS event (the approval action's notifications).
    pub async fn on_sns(
        &self,
        messages: &[String],
        now: i64,
    ) -> Result<Value, super::RequestError> {
        let mut outcomes = Vec::new();
        for message in messages {
            let outcome = match events::from_sns_message(message) {
                Ok(notice) => self.open(notice, now).await?,
                Err(e) => {
                    tracing::warn!(error = %e, "SNS message ignored");
                    json!({ "ignored": e.to_string() })
                }
            };
            outcomes.push(outcome);
        }
        Ok(json!({ "notifications": outcomes }))
    }

    /// The rule of a stage (`None`: nobody may decide it from Slack).
    pub(super) fn rule(&self, pipeline: &str, stage: &str) -> Option<&StageApprovers> {
        self.approvers.stage(pipeline, stage)
    }

    /// Where `execution_id` came from and, when Gantry's webhook started it, the change it
    /// would give `stage`: its push and every older push to its ref since the stage last
    /// succeeded. One read of the execution's record, one `ListPipelineExecutions` and one
    /// query of the ref's pushes. `None` when the table or CodePipeline could not answer.
    pub(super) async fn provenance(
        &self,
        pipeline: &str,
        stage: &str,
        execution_id: &str,
    ) -> Option<Provenance> {
        let own = match self.records.started(pipeline, execution_id).await {
            Ok(Some(own)) => own,
            Ok(None) => return Some(Provenance::NotStartedByGantry),
            Err(e) => {
                tracing::warn!(error = %e, execution_id, "could not read the started execution's record");
                return None;
            }
        };
        let ran = match self.pipeline.succeeded_in_stage(pipeline, stage).await {
            Ok(ran) => ran,
            Err(e) => {
                tracing::warn!(error = %e, stage, "could not list the stage's successful executions");
                return None;
            }
        };
        match self.records.pushes_before(&own, &ran).await {
            Ok(older) => Some(Provenance::Pushed(change_since(&own, &older, &ran))),
            Err(e) => {
                tracing::warn!(error = %e, git_ref = own.git_ref, "could not read the ref's pushes");
                None
            }
        }
    }

    /// Who a change belongs to, in Slack terms: `GANTRY_PEOPLE` for its pushers, the
    /// `authors` table, `GANTRY_PEOPLE` or Slack's email lookup for each commit author.
    /// `None` (the change could not be found) is a failed lookup.
    pub(super) async fn owners_of(
        &self,
        provenance: Option<&Provenance>,
        rule: &StageApprovers,
    ) -> ChangeOwners {
        let Some(provenance) = provenance else {
            return ChangeOwners::LookupFailed;
        };
        let (mut barred, emails) = match owners_plan(provenance, rule, &self.people) {
            OwnersPlan::Known(owners) => return owners,
            OwnersPlan::Lookup { barred, emails } => (barred, emails),
        };
        for email in emails {
            match self.directory.user_by_email(&email).await {
                Ok(Some(id)) => {
                    barred.insert(id);
                }
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "could not look a commit author up in Slack");
                    return ChangeOwners::LookupFailed;
                }
            }
        }
        ChangeOwners::Slack(barred)
    }

    /// Whether `user` may `act` on a stage with `rule`: resolves groups and, for the four-eyes
    /// rule, the change's owners (`owners`, asked only then), then asks `authorize`.
    pub(super) async fn permission<F, Fut>(
        &self,
        user: &Approver,
        act: Act,
        rule: Option<&StageApprovers>,
        owners: F,
    ) -> Verdict
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = ChangeOwners>,
    {
        let Some(r) = rule else {
            return Verdict::Denied(Denial::NoApprovers);
        };
        let mut groups = BTreeSet::new();
        if !r.lists_user(&user.id) {
            for group in &r.groups {
                match self.directory.group_members(group).await {
                    Ok(members) if members.contains(&user.id) => {
                        groups.insert(group.clone());
                    }
                    Ok(_) => {}
                    Err(e) => {
                        tracing::warn!(error = %e, "could not read user group members");
                        return Verdict::Denied(Denial::MembershipUnknown);
                    }
                }
            }
        }
        let owners = if r.four_eyes && act.releases_change() {
            owners().await
        } else {
            ChangeOwners::PusherUnknown
        };
        let clicker = Clicker {
            id: user.id.clone(),
            groups,
        };
        authorize(&clicker, act, rule, &owners)
    }

    /// Replaces the request message with its outcome (no buttons), where it was posted, or
    /// through the click's `response_url` when that is all there is.
    pub(super) async fn show_closed(
        &self,
        slack: &A::Chat,
        record: &ApprovalRecord,
        response_url: Option<&str>,
    ) {
        let message = render_closed(record, self.rule(&record.pipeline, &record.stage));
        if let Some(at) = &record.message {
            match slack.update(at, &message).await {
                Ok(()) => return,
                Err(e) => {
                    tracing::warn!(error = %e, approval = record.id, "could not update the request message")
                }
            }
        }
        if let Some(url) = response_url {
            let mut body = message;
            body["replace_original"] = json!(true);
            if let Err(e) = slack.respond(url, &body).await {
                tracing::warn!(error = %e, approval = record.id, "could not replace the request message");
            }
        }
    }
}

#[cfg(test)]
mod tests;
