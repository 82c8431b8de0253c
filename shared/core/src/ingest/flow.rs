//! The webhook's decisions, in the order that keeps it safe: size, signature, envelope, payload,
//! routes, de-duplication, starts.

use super::delivery::{github_payload, Delivery, EventKind, Inbound};
use super::start::{PipelineStarter, StartError, StartRequest};
use super::{Claim, DeliveryId, DeliveryLedger};
use crate::push::{Provider, Push, RefKind};
use crate::routing::{route, RouteDecision, RouteTable};
use crate::secrets::SecretString;
use crate::signature::{verify_github, verify_gitlab};
use serde_json::{json, Value};

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

/// The webhook: configuration, secrets and the two ports.
pub struct Ingest<S, L> {
    pub routes: RouteTable,
    pub github_secrets: Vec<SecretString>,
    pub gitlab_tokens: Vec<SecretString>,
    pub max_body_bytes: u64,
    pub starter: S,
    pub ledger: L,
}

impl<S: PipelineStarter, L: DeliveryLedger> Ingest<S, L> {
    /// Handles one delivery. Never panics; every outcome is an `Answer`.
    pub async fn handle(&self, req: &Inbound, now: i64) -> Answer {
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
                    Provider::GitLab => "missing X-Gitlab-Event-UUID (or Idempotency-Key) header",
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
        self.start(&delivery, &delivery_id, &push, now).await
    }

    async fn start(&self, delivery: &Delivery, delivery_id: &str, push: &Push, now: i64) -> Answer {
        let decisions = route(push, &self.routes);
        let skipped: Vec<Value> = decisions
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
                    request: StartRequest::new(pipeline, source_action, delivery_id, push),
                    note: note.clone(),
                }),
                RouteDecision::Skip { .. } => None,
            })
            .collect();
        let summary = |started: Vec<Value>| {
            json!({
                "repository": push.repository,
                "ref": push.git_ref.name,
                "commit": push.commit_id,
                "started": started,
                "skipped": skipped,
            })
        };
        if starts.is_empty() {
            let mut body = summary(vec![]);
            if decisions.is_empty() {
                body["ignored"] = json!(format!(
                    "no route for {} repository {}",
                    push.provider.name(),
                    push.repository
                ));
            }
            return Answer { status: 202, body };
        }

        let key = DeliveryId {
            provider: delivery.provider.name().to_string(),
            id: delivery_id.to_string(),
        };
        match self.ledger.claim(&key, now).await {
            Ok(Claim::New) => {}
            Ok(Claim::Duplicate) => {
                tracing::info!(delivery_id, "redelivery: nothing started");
                return Answer {
                    status: 200,
                    body: json!({ "duplicate": true, "delivery": delivery_id }),
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

        let mut started = Vec::new();
        for plan in &starts {
            match self.starter.start(&plan.request).await {
                Ok(execution_id) => {
                    tracing::info!(
                        pipeline = plan.request.pipeline,
                        execution_id,
                        commit = plan.request.commit_id,
                        delivery_id,
                        "started pipeline execution"
                    );
                    let mut entry =
                        json!({ "pipeline": plan.request.pipeline, "execution_id": execution_id });
                    if let Some(note) = &plan.note {
                        entry["note"] = json!(note);
                    }
                    started.push(entry);
                }
                Err(e) => {
                    // Forget the claim: once fixed, the provider's retry starts what is missing,
                    // and the client request token keeps what already started from starting twice.
                    if let Err(re) = self.ledger.release(&key).await {
                        tracing::error!(error = %re, "could not release the delivery claim");
                    }
                    tracing::error!(error = %e, delivery_id, "pipeline start failed");
                    let status = match e {
                        StartError::PipelineNotFound { .. }
                        | StartError::AccessDenied { .. }
                        | StartError::Rejected { .. } => 502,
                        StartError::Unavailable { .. } => 503,
                    };
                    let mut body = summary(started);
                    body["error"] = json!(e.to_string());
                    body["pipeline"] = json!(plan.request.pipeline);
                    return Answer { status, body };
                }
            }
        }
        let body = summary(started);
        if let Err(e) = self.ledger.complete(&key, &body.to_string()).await {
            // The executions exist; a redelivery would be refused by their client request tokens.
            tracing::error!(error = %e, "could not mark the delivery done");
        }
        Answer { status: 202, body }
    }
}

struct StartPlan {
    request: StartRequest,
    note: Option<String>,
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
