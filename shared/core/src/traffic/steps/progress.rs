//! Deployment progress in the execution's Slack thread: one message, posted once the notifier
//! has opened the thread, then updated in place at every step, with Promote now / Roll back
//! buttons while the deployment runs.

use crate::slack::{Chat, PostedMessage, SlackError};
use crate::traffic::steps::report::{render, ProgressOutcome, ProgressView};
use crate::traffic::{DeploymentStore, PipelineContext};

/// Slack, for deployment progress.
#[derive(Debug, Clone)]
pub struct SlackProgress<K> {
    pub client: K,
    /// Pipelines whose `GANTRY_NOTIFY` verbosity is `failures`: only rollbacks are posted.
    pub failures_only: Vec<String>,
}

/// What one invocation knows about the Slack side of its deployment.
#[derive(Debug, Clone, Default)]
pub struct Thread {
    pub context: Option<PipelineContext>,
    pub message: Option<PostedMessage>,
}

impl<K: Chat + Sync> SlackProgress<K> {
    /// Posts or updates the progress message. Returns the message's address when it was
    /// posted for the first time (the caller saves it); `Ok(None)` when there is nothing to
    /// post into yet or this pipeline does not want it.
    pub async fn publish<S: DeploymentStore>(
        &self,
        store: &S,
        thread: &Thread,
        view: &ProgressView,
    ) -> Result<Option<PostedMessage>, SlackError> {
        let message = render(view);
        if let Some(at) = &thread.message {
            self.client.update(at, &message).await?;
            return Ok(None);
        }
        let Some(context) = &thread.context else {
            return Ok(None);
        };
        if view.outcome != ProgressOutcome::RolledBack
            && self.failures_only.contains(&context.pipeline)
        {
            return Ok(None);
        }
        let parent = match store
            .execution_thread(&context.pipeline, &context.execution_id)
            .await
        {
            Ok(Some(parent)) => parent,
            Ok(None) => return Ok(None),
            Err(e) => {
                tracing::warn!(error = %e, "could not read the execution's Slack thread");
                return Ok(None);
            }
        };
        // chat.postMessage may land although Slack answers an error (`SlackError::MaybePosted`),
        // and this deployment's message is remembered only once the post answers: look in the
        // thread for it before posting, so such a post is updated, never posted twice.
        let marker = serde_json::json!({
            "event_type": "gantry_deployment_progress",
            "event_payload": {"deployment_id": view.deployment_id},
        });
        let found = self
            .client
            .find(&parent.channel, Some(&parent.ts), &marker)
            .await?;
        if let Some(at) = found {
            self.client.update(&at, &message).await?;
            return Ok(Some(at));
        }
        let mut body = message;
        body["channel"] = serde_json::json!(parent.channel);
        body["thread_ts"] = serde_json::json!(parent.ts);
        body["metadata"] = marker;
        self.client.post(&body).await.map(Some)
    }

    /// A reply in the execution's thread (the judge's evidence on a rollback, a question to a
    /// person). Nothing when the thread is not known yet or this pipeline wants failures only
    /// and `text` is not about a rollback.
    pub async fn reply<S: DeploymentStore>(
        &self,
        store: &S,
        thread: &Thread,
        text: &str,
    ) -> Result<(), SlackError> {
        let Some(context) = &thread.context else {
            return Ok(());
        };
        let parent = match store
            .execution_thread(&context.pipeline, &context.execution_id)
            .await
        {
            Ok(Some(parent)) => parent,
            Ok(None) => return Ok(()),
            Err(e) => {
                tracing::warn!(error = %e, "could not read the execution's Slack thread");
                return Ok(());
            }
        };
        let body = serde_json::json!({
            "channel": parent.channel,
            "thread_ts": parent.ts,
            "text": crate::traffic::steps::report::clip(text, 3000),
        });
        self.client.post(&body).await.map(drop)
    }
}
