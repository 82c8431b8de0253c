//! Reading an HTTP delivery: which provider, which event, which delivery id, which payload.

use crate::ingest::push::Provider;
use std::collections::BTreeMap;

/// An HTTP request as the webhook sees it: lower-cased header names and the raw body.
#[derive(Debug, Clone, Default)]
pub struct Inbound {
    pub headers: BTreeMap<String, String>,
    pub body: Vec<u8>,
    /// The invocation's request id, echoed in error answers (empty when unknown).
    pub request_id: String,
}

impl Inbound {
    pub fn new<'a>(headers: impl IntoIterator<Item = (&'a str, &'a str)>, body: Vec<u8>) -> Self {
        Self {
            headers: headers
                .into_iter()
                .map(|(k, v)| (k.to_ascii_lowercase(), v.to_string()))
                .collect(),
            body,
            request_id: String::new(),
        }
    }

    /// A header by case-insensitive name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .get(&name.to_ascii_lowercase())
            .map(String::as_str)
    }
}

/// What the provider says the delivery is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventKind {
    Ping,
    Push,
    Other(String),
}

/// The delivery's envelope, read from headers only (nothing of the body is trusted yet).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub provider: Provider,
    pub event: EventKind,
    pub id: Option<String>,
}

impl Delivery {
    /// Identifies the provider and event from headers, or says which header is missing.
    pub fn from_headers(req: &Inbound) -> Result<Self, String> {
        if let Some(event) = req.header("x-github-event") {
            return Ok(Delivery {
                provider: Provider::GitHub,
                event: match event {
                    "ping" => EventKind::Ping,
                    "push" => EventKind::Push,
                    other => EventKind::Other(other.to_string()),
                },
                id: req.header("x-github-delivery").map(str::to_string),
            });
        }
        if let Some(event) = req.header("x-gitlab-event") {
            return Ok(Delivery {
                provider: Provider::GitLab,
                event: match event {
                    "Push Hook" | "Tag Push Hook" => EventKind::Push,
                    other => EventKind::Other(other.to_string()),
                },
                // Idempotency-Key stays the same across GitLab's retries; the event UUID is new
                // on each. Neither is signed: de-duplication rests on the body's hash.
                id: req
                    .header("idempotency-key")
                    .or_else(|| req.header("x-gitlab-event-uuid"))
                    .map(str::to_string),
            });
        }
        Err("unknown provider: expected an X-GitHub-Event or X-Gitlab-Event header".into())
    }
}

/// The JSON payload of a GitHub delivery, whichever content type the hook was set up with.
pub fn github_payload(req: &Inbound) -> Result<Vec<u8>, String> {
    let content_type = req.header("content-type").unwrap_or("application/json");
    if content_type.starts_with("application/x-www-form-urlencoded") {
        form_urlencoded::parse(&req.body)
            .find(|(k, _)| k == "payload")
            .map(|(_, v)| v.into_owned().into_bytes())
            .ok_or_else(|| "form body has no payload field".to_string())
    } else {
        Ok(req.body.clone())
    }
}
