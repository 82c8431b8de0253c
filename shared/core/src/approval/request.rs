//! An approval started (EventBridge or SNS): post its request in Slack, once, in the
//! execution's thread when there is one; a newer request of the same action closes the older.

use super::flow::ApprovalPorts;
use super::ports::{ApprovalActions, ApprovalStore, Created};
use super::{
    approval_id, render_request, ApprovalCallError, ApprovalNotice, ApprovalRecord,
    ApprovalSettings, ApprovalState, Approvals, Closure, APPROVAL_LIFETIME_SECONDS,
};
use crate::slack::Chat;
use crate::slack::SlackError;
use crate::store::StoreError;
use serde_json::{json, Value};

/// Why a request could not be posted (or closed); the invocation fails so Lambda retries it.
#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    #[error(transparent)]
    Pipeline(#[from] ApprovalCallError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Slack(#[from] SlackError),
    #[error(
        "no Slack channel for pipeline {0}: it has no execution thread, and GANTRY_NOTIFY \
         names no channel for it"
    )]
    NoChannel(String),
}

impl<A: ApprovalPorts> Approvals<A> {
    /// Posts the request of an approval that started, once.
    pub async fn open(&self, notice: ApprovalNotice, now: i64) -> Result<Value, RequestError> {
        let (p, s, a) = (&notice.pipeline, &notice.stage, &notice.action);
        let waiting = self
            .pipeline
            .waiting(
                p,
                s,
                a,
                notice.execution_id.as_deref(),
                notice.token.as_deref(),
            )
            .await?;
        let Some(waiting) = waiting else {
            return Ok(skipped(&notice, "no approval is waiting there any more"));
        };
        // SNS knows the token, EventBridge the execution: both must match what waits now.
        if notice.token.as_ref().is_some_and(|t| *t != waiting.token) {
            return Ok(skipped(
                &notice,
                "a newer approval replaced the notified one",
            ));
        }
        let execution_id = match (&notice.execution_id, &waiting.execution_id) {
            (Some(notified), Some(current)) if notified != current => {
                return Ok(skipped(&notice, "the stage now runs another execution"))
            }
            (Some(id), _) | (None, Some(id)) => id.clone(),
            (None, None) => return Ok(skipped(&notice, "the stage has no execution")),
        };
        let settings = match (&notice.token, notice.expires_at) {
            // The notification carries the action's settings and expiry already.
            (Some(_), Some(_)) => ApprovalSettings {
                custom_data: notice.custom_data.clone(),
                review_url: notice.review_url.clone(),
                timeout_minutes: None,
            },
            _ => self
                .pipeline
                .settings(p, s, a, &execution_id)
                .await
                .unwrap_or_else(|e| {
                    tracing::warn!(error = %e, "approval settings unavailable; posting without them, expiring in seven days");
                    Default::default()
                }),
        };
        let (custom_data, review_url) = match notice.token {
            Some(_) => (notice.custom_data.clone(), notice.review_url.clone()),
            None => (settings.custom_data, settings.review_url),
        };
        let commit = self
            .pipeline
            .commit(p, &execution_id)
            .await
            .unwrap_or_else(|e| {
                tracing::warn!(error = %e, "commit unavailable; posting without it");
                None
            });
        let started = waiting.since.or(notice.started_at).unwrap_or(now);
        let expires_at = match notice.expires_at {
            Some(at) => at,
            None => expiry(started, settings.timeout_minutes),
        };
        let mut record = ApprovalRecord {
            id: approval_id(p, s, a, &waiting.token),
            pipeline: p.clone(),
            stage: s.clone(),
            action: a.clone(),
            token: waiting.token,
            execution_id,
            requested_at: now,
            expires_at,
            custom_data,
            review_url,
            commit,
            change: None,
            owners: None,
            message: None,
            state: ApprovalState::Waiting,
        };
        let rule = self.rule(p, s);
        if let Some(rule) = rule.filter(|r| r.four_eyes) {
            // Found now, while nobody waits, so the click needs no lookup.
            record.change = self.provenance(p, s, &record.execution_id).await;
            record.owners = Some(self.owners_of(record.change.as_ref(), rule).await);
        }
        let created = self.records.create(&record, now).await?;
        if created == Created::Exists {
            tracing::info!(approval = record.id, "request already posted");
            return Ok(
                json!({ "approval": record.id, "posted": false, "reason": "already posted" }),
            );
        }
        if let Some(previous) = self.records.link_action(&record).await? {
            self.close_open(&previous, &Closure::Superseded { at: now })
                .await?;
        }
        let thread = self
            .records
            .execution_thread(p, &record.execution_id)
            .await?;
        let mut message = render_request(&record, rule);
        // Marks the post as this request's, so a post whose outcome was unknown is found.
        let marker = json!({"event_type": "gantry_approval_request", "event_payload": {"approval": record.id}});
        message["metadata"] = marker.clone();
        match &thread {
            Some(parent) => {
                message["channel"] = json!(parent.channel);
                message["thread_ts"] = json!(parent.ts);
                // Also in the channel, so the request is not missed.
                message["reply_broadcast"] = json!(true);
            }
            None => {
                let channel = self
                    .channels
                    .channel_for(p)
                    .ok_or_else(|| RequestError::NoChannel(p.clone()))?;
                message["channel"] = json!(channel);
            }
        }
        if created == Created::TakenOver {
            let channel = message["channel"].as_str().unwrap_or_default();
            let thread_ts = thread.as_ref().map(|t| t.ts.as_str());
            if let Some(found) = self.slack.find(channel, thread_ts, &marker).await? {
                self.records.set_message(&record.id, &found).await?;
                tracing::info!(
                    approval = record.id,
                    "an earlier attempt had posted the request"
                );
                return Ok(
                    json!({ "approval": record.id, "posted": false, "reason": "found the earlier post" }),
                );
            }
        }
        let posted = self.slack.post(&message).await?;
        self.records.set_message(&record.id, &posted).await?;
        tracing::info!(
            approval = record.id,
            pipeline = p,
            stage = s,
            action = a,
            execution_id = record.execution_id,
            channel = posted.channel,
            in_thread = thread.is_some(),
            "approval request posted"
        );
        Ok(json!({
            "approval": record.id,
            "posted": true,
            "channel": posted.channel,
            "ts": posted.ts,
        }))
    }
}

/// When an approval that started at `started` expires: its declared `timeoutInMinutes`, else
/// CodePipeline's default of seven days (also when the declaration could not be read).
pub fn expiry(started: i64, declared: Option<i64>) -> i64 {
    match declared.filter(|m| *m > 0) {
        Some(minutes) => started + minutes * 60,
        None => started + APPROVAL_LIFETIME_SECONDS,
    }
}

fn skipped(notice: &ApprovalNotice, reason: &str) -> Value {
    tracing::warn!(
        pipeline = notice.pipeline,
        stage = notice.stage,
        action = notice.action,
        reason,
        "approval request not posted"
    );
    json!({ "posted": false, "reason": reason })
}
