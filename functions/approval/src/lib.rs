//! The approval Lambda: CodePipeline's approval events in, Slack requests out; Slack's button
//! clicks in, `PutApprovalResult` (or a deployment command) out. Every decision is made by
//! `gantry_core::approval`; this crate fetches, asks it, and applies.

mod click;
mod deploy;
mod directory;
mod lifecycle;
mod source;

pub use directory::Directory;
pub use source::{classify, http_response, Origin, Source};

use gantry_adapters::codepipeline::CodePipelineApprovals;
use gantry_adapters::dynamodb::{DeployCommands, DynamoApprovals, StateTable};
use gantry_adapters::slack::{RetryPolicy, SlackClient};
use gantry_core::approval::{
    author_lookup, events, render_closed, ApprovalRecord, ApproverRules, AuthorIdentity,
    AuthorLookup, StageApprovers,
};
use gantry_core::clock::now_epoch_seconds;
use gantry_core::config::{ApprovalConfig, NotifyConfig};
use gantry_core::ingest::Inbound;
use gantry_core::secrets::{GantrySecrets, SecretString, SecretsError};
use serde_json::{json, Value};
use std::time::Duration;

pub use click::Reply;

/// The approval function, wired to AWS and Slack.
pub struct Approvals {
    pub approvers: ApproverRules,
    pub channels: NotifyConfig,
    pub signing_secret: SecretString,
    pub pipeline: CodePipelineApprovals,
    pub records: DynamoApprovals,
    pub deployments: DeployCommands,
    /// For CodePipeline events: Slack's usual retry rules.
    pub slack: SlackClient,
    /// For clicks: few, short attempts, so the answer beats Slack's three seconds.
    pub slack_now: SlackClient,
    pub directory: Directory,
}

/// Retries that fit in Slack's three-second window with CodePipeline's call beside them.
pub fn click_policy() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 2,
        first_backoff: Duration::from_millis(100),
        max_retry_after: Duration::from_secs(1),
        request_timeout: Duration::from_millis(1200),
    }
}

/// Builds the function from its configuration, the secret and one SDK configuration.
pub fn build(
    config: ApprovalConfig,
    secrets: &GantrySecrets,
    sdk: &aws_config::SdkConfig,
) -> Result<Approvals, SecretsError> {
    let token = secrets
        .require_slack_bot_token(&config.secrets_arn)?
        .clone();
    let signing_secret = secrets
        .require_slack_signing_secret(&config.secrets_arn)?
        .clone();
    if config.approvers.is_empty() {
        tracing::warn!("GANTRY_APPROVERS is not set: nobody can decide an approval from Slack");
    }
    let table = StateTable {
        client: aws_sdk_dynamodb::Client::new(sdk),
        name: config.table,
    };
    let slack = SlackClient::new(&config.slack_api_url, token);
    Ok(Approvals {
        approvers: config.approvers,
        channels: config.channels,
        signing_secret,
        pipeline: CodePipelineApprovals {
            client: aws_sdk_codepipeline::Client::new(sdk),
        },
        records: DynamoApprovals::new(table.clone()),
        deployments: DeployCommands { table },
        slack_now: slack.with_retry_policy(click_policy()),
        slack,
        directory: Directory::default(),
    })
}

/// Why an event must be retried (Lambda retries failed asynchronous invocations).
pub type Error = lambda_runtime::Error;

/// Handles one invocation, whatever its source.
pub async fn handle(app: &Approvals, event: Value) -> Result<Value, Error> {
    match classify(event)? {
        Source::Http(request, origin) => {
            let reply = app.on_http(&request, now_epoch_seconds()).await;
            Ok(http_response(origin, reply.status, &reply.body))
        }
        Source::EventBridge(event) => {
            let now = now_epoch_seconds();
            let outcome = match events::from_eventbridge(&event, now) {
                Ok(events::ApprovalEvent::Started(notice)) => app.open(notice, now).await?,
                Ok(events::ApprovalEvent::Finished(finished)) => app.close(&finished).await?,
                Ok(events::ApprovalEvent::Ignored(reason)) => {
                    tracing::debug!(reason, "event ignored");
                    json!({ "ignored": reason })
                }
                // A retry cannot make a malformed event readable: log it, don't fail.
                Err(e) => {
                    tracing::error!(error = %e, "unreadable EventBridge event");
                    json!({ "ignored": e.to_string() })
                }
            };
            Ok(outcome)
        }
        Source::Sns(messages) => {
            let mut outcomes = Vec::new();
            for message in messages {
                let outcome = match events::from_sns_message(&message) {
                    Ok(notice) => app.open(notice, now_epoch_seconds()).await?,
                    Err(e) => {
                        tracing::warn!(error = %e, "SNS message ignored");
                        json!({ "ignored": e.to_string() })
                    }
                };
                outcomes.push(outcome);
            }
            Ok(json!({ "notifications": outcomes }))
        }
    }
}

impl Approvals {
    /// Handles Slack's interactivity request.
    pub async fn on_http(&self, request: &Inbound, now: i64) -> Reply {
        click::on_click(self, request, now).await
    }

    /// The rule of a stage (`None`: nobody may decide it from Slack).
    fn rule(&self, pipeline: &str, stage: &str) -> Option<&StageApprovers> {
        self.approvers.stage(pipeline, stage)
    }

    /// Who wrote the change, in Slack terms: from the record, else from `authors` or Slack.
    async fn author_of(
        &self,
        slack: &SlackClient,
        known: Option<&AuthorIdentity>,
        git_author: Option<&str>,
        rule: &StageApprovers,
    ) -> AuthorIdentity {
        if let Some(known) = known {
            return known.clone();
        }
        match author_lookup(git_author, &rule.authors) {
            AuthorLookup::Known(identity) => identity,
            AuthorLookup::ByEmail(email) => match self.directory.user_by_email(slack, &email).await
            {
                Ok(Some(id)) => AuthorIdentity::Slack(id),
                Ok(None) => AuthorIdentity::NotInSlack,
                Err(e) => {
                    tracing::warn!(error = %e, "could not look the commit's author up in Slack");
                    AuthorIdentity::LookupFailed
                }
            },
        }
    }

    /// Replaces the request message with its outcome (no buttons), where it was posted, or
    /// through the click's `response_url` when that is all there is.
    async fn show_closed(
        &self,
        slack: &SlackClient,
        record: &ApprovalRecord,
        response_url: Option<&str>,
    ) {
        let message = render_closed(record, self.rule(&record.pipeline, &record.stage));
        if let Some(at) = &record.message {
            match slack.update_message(at, &message).await {
                Ok(()) => return,
                Err(e) => {
                    tracing::warn!(
                        error = %e,
                        approval = record.id,
                        "could not update the request message"
                    )
                }
            }
        }
        if let Some(url) = response_url {
            let mut body = message;
            body["replace_original"] = json!(true);
            if let Err(e) = slack.respond(url, &body).await {
                tracing::warn!(
                    error = %e,
                    approval = record.id,
                    "could not replace the request message"
                );
            }
        }
    }
}
