//! The webhook's decisions, in the order that keeps it safe: size, signature, envelope, payload,
//! routes, de-duplication, starts.

mod parked_batch;

use super::delivery::{github_payload, Delivery, EventKind, Inbound};
use super::parked::{Newest, ParkedOutcome, ParkedStart};
use super::ports::{
    Claim, DeliveryId, DeliveryLedger, IngestPorts, PipelineStarter, PushHistory, RetryQueue,
    StartedPushes,
};
use super::start::{StartError, StartRequest};
use super::started::{PushFacts, StartedPush};
use crate::ingest::push::{Provider, Push, RefKind};
use crate::ingest::routing::{route, RouteDecision, RouteTable};
use crate::secrets::SecretString;
use crate::signature::{verify_github, verify_gitlab};
pub use parked_batch::QueuedMessage;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

/// An HTTP answer: status and JSON body.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    pub status: u16,
    pub body: Value,
}

impl Answer {
    fn error(status: u16, reason: impl Into<String>) -> Self {
        Answer {
            status,
            body: json!({ "error": reason.into() }),
        }
    }

    fn ignored(reason: impl Into<String>) -> Self {
        Answer {
            status: 202,
            body: json!({ "ignored": reason.into() }),
        }
    }
}

/// The webhook: configuration, secrets and the ports.
pub struct Ingest<P: IngestPorts> {
    pub routes: RouteTable,
    pub github_secrets: Vec<SecretString>,
    pub gitlab_tokens: Vec<SecretString>,
    pub max_body_bytes: u64,
    pub starter: P::Starter,
    pub ledger: P::Ledger,
    /// Where a verified push waits when CodePipeline cannot start it in time.
    pub queue: P::Queue,
    pub retry: StartRetryPolicy,
}

impl<P: IngestPorts> Ingest<P> {
    /// Handles one delivery. Never panics; every outcome is an `Answer`. An error answer carries
    /// the request id (`req.request_id`) so an operator can find the log line.
    pub async fn handle(&self, req: &Inbound, now: i64) -> Answer {
        let mut answer = self.answer(req, now).await;
        if answer.status >= 400 {
            if let Some(body) = answer.body.as_object_mut() {
                body.insert("request_id".into(), json!(req.request_id));
            }
        }
        answer
    }

    async fn answer(&self, req: &Inbound, now: i64) -> Answer {
        if req.body.len() as u64 > self.max_body_bytes {
            return Answer::error(
                413,
                format!(
                    "body of {} bytes exceeds the {} byte limit",
                    req.body.len(),
                    self.max_body_bytes
                ),
            );
        }
        let delivery = match Delivery::from_headers(req) {
            Ok(d) => d,
            Err(reason) => return Answer::error(400, reason),
        };
        // Authenticate before reading anything of the body.
        let verified = match delivery.provider {
            Provider::GitHub => verify_github(
                req.header("x-hub-signature-256"),
                &req.body,
                &self.github_secrets,
            ),
            Provider::GitLab => verify_gitlab(req.header("x-gitlab-token"), &self.gitlab_tokens),
        };
        if let Err(e) = verified {
            tracing::warn!(provider = delivery.provider.name(), reason = %e, "rejected unauthenticated delivery");
            return Answer::error(401, e.to_string());
        }
        match &delivery.event {
            EventKind::Ping => {
                return Answer {
                    status: 200,
                    body: json!({ "pong": true }),
                }
            }
            EventKind::Other(event) => {
                return Answer::ignored(format!(
                    "{} event {event:?} is not handled",
                    delivery.provider.name()
                ))
            }
            EventKind::Push => {}
        }
        let Some(delivery_id) = delivery.id.clone().filter(|id| !id.trim().is_empty()) else {
            return Answer::error(
                400,
                match delivery.provider {
                    Provider::GitHub => "missing X-GitHub-Delivery header",
                    Provider::GitLab => "missing Idempotency-Key (or X-Gitlab-Event-UUID) header",
                },
            );
        };
        let push = match parse_push(delivery.provider, req) {
            Ok(p) => p,
            Err(reason) => return Answer::error(400, reason),
        };
        if push.deleted {
            let kind = match push.git_ref.kind {
                RefKind::Branch => "branch",
                RefKind::Tag => "tag",
            };
            return Answer::ignored(format!("{kind} {} was deleted", push.git_ref.name));
        }
        self.start(&delivery, &delivery_id, &push, &body_hash(&req.body), now)
            .await
    }

    async fn start(
        &self,
        delivery: &Delivery,
        delivery_id: &str,
        push: &Push,
        body_hash: &str,
        now: i64,
    ) -> Answer {
        let decisions = route(push, &self.routes);
        let mut skipped: Vec<Value> = decisions
            .iter()
            .filter_map(|d| match d {
                RouteDecision::Skip { pipeline, reason } => {
                    Some(json!({ "pipeline": pipeline, "reason": reason }))
                }
                RouteDecision::Start { .. } => None,
            })
            .collect();
        let starts: Vec<StartPlan> = decisions
            .iter()
            .filter_map(|d| match d {
                RouteDecision::Start {
                    pipeline,
                    source_action,
                    note,
                } => Some(StartPlan {
                    request: StartRequest::new(pipeline, source_action, body_hash, push),
                    note: note.clone(),
                }),
                RouteDecision::Skip { .. } => None,
            })
            .collect();
        if starts.is_empty() {
            let mut body = summary(push, vec![], vec![], &skipped);
            if decisions.is_empty() {
                body["ignored"] = json!(format!(
                    "no route for {} repository {}",
                    push.provider.name(),
                    push.repository
                ));
            }
            return Answer { status: 202, body };
        }

        // The body, not the unsigned delivery id, is what identifies a delivery: a replay of a
        // signed body under a fresh delivery id is the same delivery.
        let key = DeliveryId {
            provider: delivery.provider.name().to_string(),
            id: body_hash.to_string(),
        };
        match self.ledger.claim(&key, now).await {
            Ok(Claim::New) => {}
            Ok(Claim::Duplicate) => {
                tracing::info!(delivery_id, "same signed body seen before: nothing started");
                return Answer {
                    status: 200,
                    body: json!({ "duplicate": true, "delivery": delivery_id,
                                  "reason": "this signed body was already handled" }),
                };
            }
            Ok(Claim::InFlight) => {
                return Answer::error(409, "this delivery is being handled right now; retry later")
            }
            Err(e) => {
                tracing::error!(error = %e, "could not record the delivery");
                return Answer::error(503, "state table unavailable; retry later");
            }
        }

        let git_ref = push.git_ref.full();
        let facts = PushFacts::of(push, delivery_id, now);
        // Pushes are ordered by a time the committer cannot write: the provider's own push time
        // (GitHub), else the time this delivery reached Gantry (GitLab sends none). A commit's
        // timestamp would let one commit dated 2099 make every later push of the ref `stale`.
        let pushed_at = push.pushed_at.unwrap_or(now);
        let mut started = Vec::new();
        let mut queued = Vec::new();
        let mut older = 0;
        let mut failure = None;
        for plan in &starts {
            let pipeline = &plan.request.pipeline;
            {
                match self.ledger.advance(pipeline, &git_ref, pushed_at).await {
                    Ok(Newest::Recorded) => {}
                    Ok(Newest::Older { newest }) => {
                        tracing::warn!(
                            pipeline,
                            git_ref,
                            pushed_at,
                            newest,
                            delivery_id,
                            "older push: not started"
                        );
                        older += 1;
                        skipped.push(json!({ "pipeline": pipeline, "reason": format!(
                            "a newer push to {} (pushed at {newest}) already started {pipeline}; this push (pushed at {pushed_at}) would roll it back",
                            push.git_ref.name) }));
                        continue;
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "could not read the newest push");
                        failure = Some(StartFailure {
                            status: 503,
                            pipeline,
                            reason: "state table unavailable; retry later".into(),
                        });
                        break;
                    }
                }
            }
            match self.start_with_retry(&plan.request).await {
                Ok(execution_id) => {
                    // Four-eyes trusts only this record: without it, nobody may approve the
                    // execution from Slack. Failing the delivery makes the provider retry, and
                    // the retry's start finds the same execution through its token.
                    let record = StartedPush {
                        pipeline: pipeline.clone(),
                        execution_id: execution_id.clone(),
                        git_ref: git_ref.clone(),
                        commit_id: plan.request.commit_id.clone(),
                        facts: facts.clone(),
                    };
                    if let Err(e) = self.ledger.record_start(&record).await {
                        tracing::error!(error = %e, pipeline, execution_id, "could not record the started execution");
                        failure = Some(StartFailure {
                            status: 503,
                            pipeline,
                            reason: "state table unavailable; retry later".into(),
                        });
                        break;
                    }
                    tracing::info!(
                        pipeline,
                        execution_id,
                        commit = plan.request.commit_id,
                        delivery_id,
                        "started pipeline execution"
                    );
                    let mut entry = json!({ "pipeline": pipeline, "execution_id": execution_id });
                    if let Some(note) = &plan.note {
                        entry["note"] = json!(note);
                    }
                    started.push(entry);
                }
                Err(e) if e.is_transient() => {
                    let parked = ParkedStart {
                        request: plan.request.clone(),
                        git_ref: git_ref.clone(),
                        pushed_at: Some(pushed_at),
                        facts: Some(facts.clone()),
                    };
                    match self.queue.park(&parked).await {
                        Ok(()) => {
                            tracing::warn!(error = %e, pipeline, delivery_id, "start failed after retries: parked in the retry queue");
                            queued
                                .push(json!({ "pipeline": pipeline, "reason": e.public_reason() }));
                        }
                        Err(qe) => {
                            tracing::error!(error = %e, queue_error = %qe, pipeline, delivery_id, "start failed and could not be parked");
                            failure = Some(StartFailure {
                                status: 503,
                                pipeline,
                                reason: e.public_reason(),
                            });
                            break;
                        }
                    }
                }
                Err(e) => {
                    tracing::error!(error = %e, delivery_id, "pipeline start failed");
                    failure = Some(StartFailure {
                        status: 502,
                        pipeline,
                        reason: e.public_reason(),
                    });
                    break;
                }
            }
        }
        if let Some(failure) = failure {
            return self
                .fail(&key, push, started, queued, &skipped, failure)
                .await;
        }
        let all_older = started.is_empty() && queued.is_empty() && older > 0;
        let queued_any = !queued.is_empty();
        let mut body = summary(push, started, queued, &skipped);
        if queued_any {
            body["queued"] = json!(true);
        }
        if all_older {
            body["stale"] = json!(format!(
                "a newer push to {} already started every routed pipeline: nothing started",
                push.git_ref.name
            ));
        }
        if let Err(e) = self.ledger.complete(&key, &body.to_string()).await {
            // The executions exist; a redelivery would be refused by their client request tokens.
            tracing::error!(error = %e, "could not mark the delivery done");
        }
        Answer {
            status: if all_older { 200 } else { 202 },
            body,
        }
    }

    /// Nothing (more) can be recorded for this delivery: forget the claim so the provider's retry
    /// can succeed (client request tokens keep what already started from starting twice).
    async fn fail(
        &self,
        key: &DeliveryId,
        push: &Push,
        started: Vec<Value>,
        queued: Vec<Value>,
        skipped: &[Value],
        failure: StartFailure<'_>,
    ) -> Answer {
        if let Err(re) = self.ledger.release(key).await {
            tracing::error!(error = %re, "could not release the delivery claim");
        }
        let mut body = summary(push, started, queued, skipped);
        body["error"] = json!(failure.reason);
        body["pipeline"] = json!(failure.pipeline);
        Answer {
            status: failure.status,
            body,
        }
    }

    /// Starts, retrying throttles and outages within the policy's budget (GitHub waits 10 s).
    async fn start_with_retry(&self, request: &StartRequest) -> Result<String, StartError> {
        let began = std::time::Instant::now();
        let mut delays = self.retry.delays_ms.iter();
        loop {
            match self.starter.start(request).await {
                Err(e) if e.is_transient() => {
                    let Some(&delay) = delays.next() else {
                        return Err(e);
                    };
                    let spent = began.elapsed().as_millis() as u64;
                    if spent + delay > self.retry.budget_ms {
                        return Err(e);
                    }
                    tracing::warn!(error = %e, delay_ms = delay, "start failed; retrying");
                    tokio::time::sleep(std::time::Duration::from_millis(delay)).await;
                }
                other => return other,
            }
        }
    }

    /// Starts a push taken from the retry queue: once, unless a newer push started meanwhile.
    pub async fn start_parked(&self, parked: &ParkedStart) -> ParkedOutcome {
        let pipeline = &parked.request.pipeline;
        if let Some(pushed_at) = parked.pushed_at {
            match self
                .ledger
                .advance(pipeline, &parked.git_ref, pushed_at)
                .await
            {
                Ok(Newest::Recorded) => {}
                Ok(Newest::Older { newest }) => return ParkedOutcome::Superseded { newest },
                Err(e) => return ParkedOutcome::Retry(e.to_string()),
            }
        }
        let id = match self.starter.start(&parked.request).await {
            Ok(id) => id,
            Err(e) => return ParkedOutcome::Retry(e.to_string()),
        };
        if let Some(facts) = &parked.facts {
            let record = StartedPush {
                pipeline: pipeline.clone(),
                execution_id: id.clone(),
                git_ref: parked.git_ref.clone(),
                commit_id: parked.request.commit_id.clone(),
                facts: facts.clone(),
            };
            // Left on the queue, the start is tried again and finds the same execution.
            if let Err(e) = self.ledger.record_start(&record).await {
                return ParkedOutcome::Retry(format!("started {id}, not recorded: {e}"));
            }
        }
        ParkedOutcome::Started(id)
    }
}

fn summary(push: &Push, started: Vec<Value>, queued: Vec<Value>, skipped: &[Value]) -> Value {
    let mut body = json!({
        "repository": push.repository,
        "ref": push.git_ref.name,
        "commit": push.commit_id,
        "started": started,
        "skipped": skipped,
    });
    if !queued.is_empty() {
        body["queued_starts"] = json!(queued);
    }
    body
}

/// Hex SHA-256 of a raw body: the delivery's identity for de-duplication.
pub fn body_hash(body: &[u8]) -> String {
    hex::encode(Sha256::digest(body))
}

/// Retries of `StartPipelineExecution` within one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StartRetryPolicy {
    /// The pause before each further attempt.
    pub delays_ms: Vec<u64>,
    /// No retry begins once this much time has passed (GitHub gives up after 10 s).
    pub budget_ms: u64,
}

impl Default for StartRetryPolicy {
    fn default() -> Self {
        StartRetryPolicy {
            delays_ms: vec![100, 300, 700, 1500, 2500],
            budget_ms: 6500,
        }
    }
}

struct StartPlan {
    request: StartRequest,
    note: Option<String>,
}

/// Why a delivery stopped before every routed pipeline was started or parked: the answer's
/// status, the pipeline it stopped at and the reason the provider is told.
struct StartFailure<'a> {
    status: u16,
    pipeline: &'a str,
    reason: String,
}

fn parse_push(provider: Provider, req: &Inbound) -> Result<Push, String> {
    let parsed = match provider {
        Provider::GitHub => Push::from_github(&github_payload(req)?),
        Provider::GitLab => Push::from_gitlab(&req.body),
    };
    parsed.map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests;
