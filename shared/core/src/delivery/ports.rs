//! Where delivery facts are kept, and how a figure is claimed once. In domain words: the
//! adapter (`gantry_adapters::dynamodb::delivery_facts`) decides the keys.

use super::model::{Metric, StageRun};
use crate::ingest::StartedPush;
use crate::store::StoreError;
use std::future::Future;

/// The recorded facts: stage runs (written by the notifier) and pushes (the webhook's record).
pub trait DeliveryHistory {
    /// Records `run`; recording the same run again changes nothing.
    fn record_run(&self, run: &StageRun) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// `pipeline`'s stage runs that ended at or after `since_ms`.
    fn runs(
        &self,
        pipeline: &str,
        since_ms: i64,
    ) -> impl Future<Output = Result<Vec<StageRun>, StoreError>> + Send;

    /// The pushes to `git_ref` that started `pipeline`'s executions, received at or after
    /// `since_ms`.
    fn pushes(
        &self,
        pipeline: &str,
        git_ref: &str,
        since_ms: i64,
    ) -> impl Future<Output = Result<Vec<StartedPush>, StoreError>> + Send;

    /// The webhook's record of the execution it started, if it did.
    fn started(
        &self,
        pipeline: &str,
        execution_id: &str,
    ) -> impl Future<Output = Result<Option<StartedPush>, StoreError>> + Send;
}

/// Claims a figure before it is emitted: `true` exactly once per pipeline, stage, metric and
/// subject, however many invocations ask (a conditional write).
pub trait FigureClaims {
    fn claim(
        &self,
        pipeline: &str,
        stage: &str,
        metric: Metric,
        subject: &str,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
}

/// The weekly post's bookkeeping: one post per pipeline and week, however many times the
/// schedule's event is delivered (a conditional write, like the figures' claims).
pub trait WeeklyClaims {
    /// `true` exactly once per pipeline and week.
    fn claim_week(
        &self,
        pipeline: &str,
        week: &str,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
    /// Gives the claim back when the post surely did not happen, so a retry posts it.
    fn release_week(
        &self,
        pipeline: &str,
        week: &str,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// Slack's `chat.getPermalink`: the URL of a posted message (a thread's parent), for links.
pub trait Permalinks {
    fn permalink(
        &self,
        channel: &str,
        ts: &str,
    ) -> impl Future<Output = Result<String, crate::slack::SlackError>> + Send;
}
