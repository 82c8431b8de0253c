//! The notifier's behaviour, in the order that keeps it safe under EventBridge's at-least-once,
//! any-order delivery: parse, merge into the record (conditional write, retried on conflict),
//! then bring each sink up to date with the record, under that sink's lease.
//!
//! A sink compares what the record says should have been delivered with what it remembers
//! having delivered, and sends only the difference, remembering each item as soon as it is
//! sent. So a redelivered event sends nothing, a Lambda retry after a partial failure sends only
//! what is missing, and Slack and SNS never wait on each other's failures.

use super::event::{Change, EventError, PipelineEvent};
use super::execution::Execution;
use super::status::Status;
use super::trigger::{SourceOutput, Trigger};
use super::{
    policy, render, sns, ActionRun, Chat, Delivered, ExecutionRecord, ExecutionRef, ExecutionStore,
    NotifyPorts, PipelineDetails, PublishError, Sink, Topic,
};
use crate::config::{Audience, NotifyConfig};
use crate::slack::SlackError;
use crate::store::StoreError;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::collections::HashSet;
use std::sync::Mutex;
use std::time::Duration;

/// How sinks share an execution's record between concurrent invocations.
#[derive(Debug, Clone)]
pub struct LockPolicy {
    /// How long a lease lasts if its holder dies (longer than one delivery round can take).
    pub lease_seconds: i64,
    /// How long to wait for another invocation's lease before leaving the work to a retry.
    pub wait: Duration,
    pub poll: Duration,
    /// Conditional-write conflicts tolerated while merging one event.
    pub max_conflicts: u32,
}

impl Default for LockPolicy {
    fn default() -> Self {
        Self {
            lease_seconds: 90,
            wait: Duration::from_secs(20),
            poll: Duration::from_millis(100),
            max_conflicts: 25,
        }
    }
}

/// What happened to one event.
#[derive(Debug, Clone, PartialEq)]
pub enum Handled {
    /// Not an event the notifier handles; logged and skipped.
    Skipped(EventError),
    /// Merged (or found already merged) and delivered.
    Notified {
        changed: bool,
        slack: SinkOutcome,
        sns: SinkOutcome,
    },
}

/// What a sink did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SinkOutcome {
    /// Already up to date: nothing sent.
    UpToDate,
    /// This many messages sent (posts, updates, replies or publishes).
    Sent(usize),
    /// Not configured for this pipeline.
    Off,
    /// A Slack error no retry fixes; logged once, Slack left alone for this execution.
    GaveUp(String),
}

impl SinkOutcome {
    /// What a sink did that ran to the end having sent `sent` messages: none means the sink
    /// was already up to date.
    fn of_count(sent: usize) -> Self {
        if sent == 0 {
            SinkOutcome::UpToDate
        } else {
            SinkOutcome::Sent(sent)
        }
    }
}

/// Why an event must be retried (Lambda retries failed asynchronous invocations).
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    #[error(transparent)]
    State(#[from] StoreError),
    #[error("the execution record kept changing under {attempts} attempts to save it")]
    Contended { attempts: u32 },
    #[error("another invocation still holds the {sink} lease of {pipeline} {execution_id}")]
    Busy {
        sink: &'static str,
        pipeline: String,
        execution_id: String,
    },
    #[error("Slack: {0}")]
    Slack(SlackError),
    #[error(transparent)]
    Sns(#[from] PublishError),
    #[error("{slack}; {sns}")]
    Both {
        slack: Box<NotifyError>,
        sns: Box<NotifyError>,
    },
}

/// The notifier: configuration and the four ports. `chat` is `None` when no pipeline posts to
/// Slack.
pub struct Notifier<P: NotifyPorts> {
    pub notify: NotifyConfig,
    pub store: P::Store,
    pub details: P::Details,
    pub chat: Option<P::Chat>,
    pub topic: P::Topic,
    pub lock: LockPolicy,
    /// Permanent Slack errors already logged by this process, so each is logged once.
    logged: Mutex<HashSet<String>>,
}

impl<P: NotifyPorts> Notifier<P> {
    pub fn new(
        notify: NotifyConfig,
        store: P::Store,
        details: P::Details,
        chat: Option<P::Chat>,
        topic: P::Topic,
    ) -> Self {
        Self {
            notify,
            store,
            details,
            chat,
            topic,
            lock: LockPolicy::default(),
            logged: Mutex::new(HashSet::new()),
        }
    }

    /// Handles one EventBridge event. `owner` names this invocation in leases (the Lambda
    /// request id). Never panics; an `Err` means "retry me".
    pub async fn handle(&self, raw: &Value, owner: &str) -> Result<Handled, NotifyError> {
        let event = match PipelineEvent::parse(raw) {
            Ok(e) => e,
            Err(e) => {
                tracing::warn!(
                    reason = %e,
                    event_id = raw.get("id").and_then(|v| v.as_str()),
                    "skipped an event the notifier does not handle"
                );
                return Ok(Handled::Skipped(e));
            }
        };
        let key = ExecutionRef::new(&event.pipeline, &event.execution_id);
        let (record, changed) = self.merge(&key, &event).await?;
        let audience = self.notify.audience(&event.pipeline);
        let (slack, sns) = tokio::join!(
            self.deliver_slack(&key, &audience, &record, owner),
            self.deliver_sns(&key, &audience, &record, owner),
        );
        tracing::info!(
            pipeline = event.pipeline,
            execution_id = event.execution_id,
            event_id = event.id,
            changed,
            slack = ?slack,
            sns = ?sns,
            "handled"
        );
        match (slack, sns) {
            (Ok(slack), Ok(sns)) => Ok(Handled::Notified {
                changed,
                slack,
                sns,
            }),
            (Err(e), Ok(_)) | (Ok(_), Err(e)) => Err(e),
            (Err(slack), Err(sns)) => Err(NotifyError::Both {
                slack: Box::new(slack),
                sns: Box::new(sns),
            }),
        }
    }

    /// Folds the event into the record; returns the record as saved and whether it changed.
    async fn merge(
        &self,
        key: &ExecutionRef,
        event: &PipelineEvent,
    ) -> Result<(ExecutionRecord, bool), NotifyError> {
        let mut event = event.clone();
        let mut fetched_result = false;
        let mut details: Option<(Option<Trigger>, Option<Vec<super::DeclaredStage>>)> = None;
        for _ in 0..self.lock.max_conflicts {
            let loaded = self.store.load(key).await?;
            let (mut execution, expected) = match &loaded {
                Some(r) => (r.execution.clone(), Some(r.version)),
                None => (Execution::new(&event), None),
            };
            let before = loaded.as_ref().map(|r| r.execution.clone());
            if !fetched_result && self.lacks_failure_detail(&execution, &event) {
                self.fill_failure_detail(&mut event).await;
                fetched_result = true;
            }
            execution.apply(&event);
            if execution.needs_details() {
                if details.is_none() {
                    details = Some(self.fetch_details(&execution).await);
                }
                if let Some((trigger, layout)) = details.clone() {
                    if let Some(t) = trigger {
                        execution.set_trigger(t);
                    }
                    if let Some(l) = layout {
                        execution.set_layout(l);
                    }
                    if execution.needs_details() {
                        execution.details_attempts += 1;
                    }
                }
            }
            if let (Some(before), Some(record)) = (&before, &loaded) {
                if *before == execution {
                    return Ok((record.clone(), false));
                }
            }
            let now = crate::clock::now_epoch_seconds();
            if self.store.save(key, &execution, expected, now).await? {
                let mut record = loaded.unwrap_or_else(|| ExecutionRecord {
                    execution: execution.clone(),
                    version: 0,
                    slack: Default::default(),
                    sns_sent: Default::default(),
                });
                record.execution = execution;
                record.version = expected.map_or(1, |v| v + 1);
                return Ok((record, true));
            }
            tracing::debug!(execution = %key.execution_id, "record changed under us; merging again");
        }
        Err(NotifyError::Contended {
            attempts: self.lock.max_conflicts,
        })
    }

    /// A failed action event without its error summary or log link, not known from earlier.
    fn lacks_failure_detail(&self, execution: &Execution, event: &PipelineEvent) -> bool {
        match &event.change {
            Change::Action {
                stage,
                action,
                status: Status::Failed,
                result,
                ..
            } => {
                let known = execution
                    .action(stage, action)
                    .is_some_and(|a| !a.result.is_empty());
                (result.summary.is_none() || result.url.is_none()) && !known
            }
            _ => false,
        }
    }

    /// Completes a failed action's result from `ListActionExecutions`.
    async fn fill_failure_detail(&self, event: &mut PipelineEvent) {
        let (pipeline, execution_id) = (event.pipeline.clone(), event.execution_id.clone());
        let Change::Action {
            stage,
            action,
            result,
            ..
        } = &mut event.change
        else {
            return;
        };
        match self.details.actions(&pipeline, &execution_id).await {
            Ok(runs) => {
                if let Some(run) = runs
                    .iter()
                    .find(|r| &r.stage == stage && &r.action == action && r.status == "Failed")
                {
                    *result = std::mem::take(result).or(run.result.clone());
                }
            }
            Err(e) => tracing::warn!(error = %e, "failure details unavailable"),
        }
    }

    /// The trigger and the layout, as far as CodePipeline tells them.
    async fn fetch_details(
        &self,
        execution: &Execution,
    ) -> (Option<Trigger>, Option<Vec<super::DeclaredStage>>) {
        let (p, id) = (&execution.pipeline, &execution.execution_id);
        let (facts, actions, layout) = tokio::join!(
            self.details.execution(p, id),
            self.details.actions(p, id),
            async {
                match &execution.layout {
                    Some(_) => Ok(vec![]),
                    None => self.details.layout(p, execution.pipeline_version).await,
                }
            }
        );
        let trigger = match facts {
            Ok(mut facts) => {
                facts.sources = sources(actions.as_deref().unwrap_or_default());
                let mut trigger = Trigger::derive(&facts);
                // Only a rollback asks: the slash command is the one thing here that starts them.
                if facts.rollback_of.is_some() {
                    match self.store.started_from_slack(p, id).await {
                        Ok(user) => trigger.from_slack = user,
                        Err(e) => tracing::warn!(error = %e, "could not read who rolled back"),
                    }
                }
                Some(trigger)
            }
            Err(e) => {
                tracing::warn!(error = %e, "execution details unavailable");
                None
            }
        };
        let layout = match layout {
            Ok(l) => Some(l),
            Err(e) => {
                tracing::warn!(error = %e, "pipeline structure unavailable");
                None
            }
        };
        (trigger, layout)
    }

    async fn deliver_slack(
        &self,
        key: &ExecutionRef,
        audience: &Audience,
        record: &ExecutionRecord,
        owner: &str,
    ) -> Result<SinkOutcome, NotifyError> {
        let Some(chat) = &self.chat else {
            return Ok(SinkOutcome::Off);
        };
        if let Some(e) = &record.slack.gave_up {
            return Ok(SinkOutcome::GaveUp(e.clone()));
        }
        let channel = match (&record.slack.message, &audience.channel) {
            (Some(m), _) => m.channel.clone(),
            (None, Some(c)) => c.clone(),
            (None, None) => return Ok(SinkOutcome::Off),
        };
        self.deliver_under_lease(
            key,
            Sink::Slack,
            owner,
            record,
            |r| slack_plan(r, audience).is_empty(),
            || self.slack_rounds(chat, key, audience, &channel),
        )
        .await
    }

    /// Delivers Slack's difference until the record stops changing under us (bounded).
    async fn slack_rounds(
        &self,
        chat: &P::Chat,
        key: &ExecutionRef,
        audience: &Audience,
        channel: &str,
    ) -> Result<SinkOutcome, NotifyError> {
        let mut sent = 0;
        for _ in 0..5 {
            let Some(record) = self.store.load(key).await? else {
                break;
            };
            if let Some(e) = record.slack.gave_up {
                return Ok(SinkOutcome::GaveUp(e));
            }
            let plan = slack_plan(&record, audience);
            if plan.is_empty() {
                break;
            }
            let mut parent = record.slack.message.clone();
            if let Some((body, rendered)) = plan.parent {
                let outcome = match &parent {
                    None => {
                        let mut body = body;
                        body["channel"] = json!(channel);
                        body["metadata"] = marker(&record, PARENT_POST);
                        self.post_once(chat, key, &record, None, PARENT_POST, &body)
                            .await
                            .map(|message| {
                                parent = Some(message.clone());
                                Delivered::SlackPosted { message, rendered }
                            })
                    }
                    Some(at) => chat
                        .update(at, &body)
                        .await
                        .map(|_| Delivered::SlackUpdated { rendered }),
                };
                match outcome {
                    Ok(d) => {
                        self.store.remember(key, &d).await?;
                        sent += 1;
                    }
                    Err(e) => return self.slack_failed(key, &record, channel, e).await,
                }
            }
            let Some(parent) = parent else { break };
            for (notice, mut body) in plan.replies {
                body["channel"] = json!(parent.channel);
                body["thread_ts"] = json!(parent.ts);
                body["metadata"] = marker(&record, &notice);
                let posted = self
                    .post_once(chat, key, &record, Some(&parent), &notice, &body)
                    .await;
                match posted {
                    Ok(_) => {
                        self.store
                            .remember(key, &Delivered::SlackReplied { notice })
                            .await?;
                        sent += 1;
                    }
                    Err(e) => return self.slack_failed(key, &record, channel, e).await,
                }
            }
        }
        Ok(SinkOutcome::of_count(sent))
    }

    /// Posts `body` (the parent, or a reply in `thread`) unless an earlier attempt whose
    /// outcome Slack left open turns out to have posted it: then that message is updated to
    /// `body` and returned. When this attempt's outcome is unknown, the post is remembered as
    /// uncertain and the error returned, so the invocation fails and its retry looks first.
    async fn post_once(
        &self,
        chat: &P::Chat,
        key: &ExecutionRef,
        record: &super::ExecutionRecord,
        thread: Option<&crate::slack::PostedMessage>,
        post: &str,
        body: &Value,
    ) -> Result<crate::slack::PostedMessage, SlackError> {
        let channel = body["channel"].as_str().unwrap_or_default();
        if record.slack.uncertain.contains(post) {
            let found = chat
                .find(channel, thread.map(|t| t.ts.as_str()), &body["metadata"])
                .await?;
            if let Some(message) = found {
                tracing::info!(
                    pipeline = record.execution.pipeline,
                    post,
                    ts = message.ts,
                    "an earlier uncertain post did land; updating it instead of posting again"
                );
                if thread.is_none() {
                    chat.update(&message, body).await?;
                }
                return Ok(message);
            }
        }
        match chat.post(body).await {
            Err(e) if e.maybe_posted() => {
                let uncertain = Delivered::SlackUncertain {
                    post: post.to_string(),
                };
                if let Err(state) = self.store.remember(key, &uncertain).await {
                    tracing::error!(error = %state, post, "could not remember an uncertain post");
                }
                Err(e)
            }
            other => other,
        }
    }

    /// A Slack error: permanent ones are remembered and logged once; others are retried by
    /// Lambda.
    async fn slack_failed(
        &self,
        key: &ExecutionRef,
        record: &ExecutionRecord,
        channel: &str,
        error: SlackError,
    ) -> Result<SinkOutcome, NotifyError> {
        if !error.is_permanent() {
            tracing::warn!(
                pipeline = record.execution.pipeline,
                channel,
                error = %error,
                "Slack unavailable; SNS is unaffected and Lambda's retry will deliver the rest"
            );
            return Err(NotifyError::Slack(error));
        }
        let code = error.code().unwrap_or("unknown").to_string();
        let first = self
            .logged
            .lock()
            .map(|mut l| l.insert(format!("{channel}/{code}")))
            .unwrap_or(true);
        if first {
            tracing::error!(
                pipeline = record.execution.pipeline,
                channel,
                error = %error,
                "Slack refused the message and retrying cannot fix it: check the bot token, \
                 the channel in GANTRY_NOTIFY and that the bot is in the channel"
            );
        }
        self.store
            .remember(
                key,
                &Delivered::SlackGaveUp {
                    error: code.clone(),
                },
            )
            .await?;
        Ok(SinkOutcome::GaveUp(code))
    }

    async fn deliver_sns(
        &self,
        key: &ExecutionRef,
        audience: &Audience,
        record: &ExecutionRecord,
        owner: &str,
    ) -> Result<SinkOutcome, NotifyError> {
        self.deliver_under_lease(
            key,
            Sink::Sns,
            owner,
            record,
            |r| sns_plan(r, audience).is_empty(),
            || self.sns_rounds(key, audience),
        )
        .await
    }

    /// Delivers `sink`'s difference with `rounds` while holding its lease, unless `up_to_date`
    /// finds nothing to deliver: before taking the lease, or once whoever held it has delivered.
    async fn deliver_under_lease<Rounds>(
        &self,
        key: &ExecutionRef,
        sink: Sink,
        owner: &str,
        record: &ExecutionRecord,
        up_to_date: impl Fn(&ExecutionRecord) -> bool,
        rounds: impl FnOnce() -> Rounds,
    ) -> Result<SinkOutcome, NotifyError>
    where
        Rounds: std::future::Future<Output = Result<SinkOutcome, NotifyError>>,
    {
        if up_to_date(record) {
            return Ok(SinkOutcome::UpToDate);
        }
        let lease = self
            .under_lease(key, sink, owner, &record.execution, &up_to_date)
            .await?;
        if lease == Lease::NotNeeded {
            return Ok(SinkOutcome::UpToDate);
        }
        let result = rounds().await;
        self.release(key, sink, owner).await;
        result
    }

    async fn sns_rounds(
        &self,
        key: &ExecutionRef,
        audience: &Audience,
    ) -> Result<SinkOutcome, NotifyError> {
        let mut sent = 0;
        for _ in 0..5 {
            let Some(record) = self.store.load(key).await? else {
                break;
            };
            let plan = sns_plan(&record, audience);
            if plan.is_empty() {
                break;
            }
            for notice in plan {
                let n = sns::notification(&record.execution, notice);
                self.topic.publish(&n).await?;
                self.store
                    .remember(
                        key,
                        &Delivered::Published {
                            notice: notice.id.clone(),
                        },
                    )
                    .await?;
                sent += 1;
            }
        }
        Ok(SinkOutcome::of_count(sent))
    }

    /// Waits for `sink`'s lease, or until whoever holds it has delivered what we came for.
    async fn under_lease(
        &self,
        key: &ExecutionRef,
        sink: Sink,
        owner: &str,
        execution: &Execution,
        done: impl Fn(&ExecutionRecord) -> bool,
    ) -> Result<Lease, NotifyError> {
        let started = tokio::time::Instant::now();
        loop {
            let now = crate::clock::now_epoch_seconds();
            if self
                .store
                .lock(key, sink, owner, now, self.lock.lease_seconds)
                .await?
            {
                return Ok(Lease::Held);
            }
            if started.elapsed() >= self.lock.wait {
                return Err(NotifyError::Busy {
                    sink: sink.name(),
                    pipeline: execution.pipeline.clone(),
                    execution_id: execution.execution_id.clone(),
                });
            }
            tokio::time::sleep(self.lock.poll).await;
            if self.store.load(key).await?.is_some_and(|r| done(&r)) {
                return Ok(Lease::NotNeeded);
            }
        }
    }

    async fn release(&self, key: &ExecutionRef, sink: Sink, owner: &str) {
        if let Err(e) = self.store.unlock(key, sink, owner).await {
            // The lease expires by itself; the next invocation only waits a little longer.
            tracing::warn!(error = %e, sink = sink.name(), "could not release a lease");
        }
    }
}

/// What Slack lacks: the parent message if its content changed, and replies not yet posted.
#[derive(Debug, Default)]
struct SlackPlan {
    parent: Option<(Value, String)>,
    replies: Vec<(String, Value)>,
}

impl SlackPlan {
    fn is_empty(&self) -> bool {
        self.parent.is_none() && self.replies.is_empty()
    }
}

fn slack_plan(record: &ExecutionRecord, audience: &Audience) -> SlackPlan {
    let e = &record.execution;
    if record.slack.gave_up.is_some()
        || (record.slack.message.is_none() && !policy::posts(audience.verbosity, e))
    {
        return SlackPlan::default();
    }
    let body = render::execution_message(e, audience.verbosity);
    let rendered = digest(&body);
    let parent =
        (record.slack.rendered.as_deref() != Some(rendered.as_str())).then_some((body, rendered));
    let replies = e
        .notices
        .iter()
        .filter(|n| policy::replies(n) && !record.slack.replies.contains(&n.id))
        .map(|n| (n.id.clone(), render::failure_reply(e, n)))
        .collect();
    SlackPlan { parent, replies }
}

fn sns_plan<'a>(record: &'a ExecutionRecord, audience: &Audience) -> Vec<&'a super::Notice> {
    record
        .execution
        .notices
        .iter()
        .filter(|n| policy::publishes(audience.verbosity, n) && !record.sns_sent.contains(&n.id))
        .collect()
}

/// The uncertain-post id of the parent message (notice ids name the replies).
const PARENT_POST: &str = "parent";

/// The metadata that marks a post as this execution's `post`, so it can be found again.
fn marker(record: &ExecutionRecord, post: &str) -> Value {
    json!({
        "event_type": "gantry_execution_message",
        "event_payload": {
            "pipeline": record.execution.pipeline,
            "execution_id": record.execution.execution_id,
            "post": post,
        }
    })
}

fn digest(body: &Value) -> String {
    hex::encode(Sha256::digest(body.to_string().as_bytes()))[..32].to_string()
}

fn sources(runs: &[ActionRun]) -> Vec<SourceOutput> {
    runs.iter()
        .filter(|r| r.category.as_deref() == Some("Source") && r.status == "Succeeded")
        .map(|r| SourceOutput {
            external_url: r.external_url.clone(),
            variables: r.variables.clone(),
        })
        .collect()
}

/// The outcome of waiting for a lease.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Lease {
    Held,
    /// Another invocation delivered everything meanwhile.
    NotNeeded,
}

#[cfg(test)]
mod tests;
