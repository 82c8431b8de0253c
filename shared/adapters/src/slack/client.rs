//! The Slack Web API over HTTPS, with a bearer token: write methods as `POST {base}/{method}`
//! with a JSON body, read methods as `GET {base}/{method}?args` (Slack reads JSON bodies only for
//! write methods: a JSON `usergroups.users.list` is answered `invalid_arguments`).
//!
//! `chat.postMessage` is not idempotent: an answer that leaves open whether Slack posted
//! (`internal_error`, `fatal_error`, a 5xx without a "not processed" code, a timeout or a broken
//! answer after the request went out) is returned as `SlackError::MaybePosted`, never retried
//! here, so the caller can look for the message before posting again.

use gantry_core::secrets::SecretString;
use gantry_core::slack::{PostedMessage, SlackError, SlackUser};
use serde_json::{json, Value};
use std::time::Duration;

/// How hard to try before giving up. Slack asks clients to honour `Retry-After` on 429; 5xx
/// and timeouts are retried with exponential backoff, a bounded number of times, so one Slack
/// outage cannot hold a Lambda invocation until its timeout.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    pub max_attempts: u32,
    pub first_backoff: Duration,
    /// The longest `Retry-After` worth waiting for within one invocation.
    pub max_retry_after: Duration,
    pub request_timeout: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 4,
            first_backoff: Duration::from_millis(250),
            max_retry_after: Duration::from_secs(20),
            request_timeout: Duration::from_secs(5),
        }
    }
}

impl RetryPolicy {
    /// Retries that fit in Slack's three-second window for an interaction, with a CodePipeline
    /// call beside them.
    pub fn for_clicks() -> Self {
        Self {
            max_attempts: 2,
            first_backoff: Duration::from_millis(100),
            max_retry_after: Duration::from_secs(1),
            request_timeout: Duration::from_millis(1200),
        }
    }
}

/// Slack's origin for interactivity `response_url`s.
const SLACK_RESPONSE_ORIGIN: &str = "https://hooks.slack.com";

/// The error a `response_url` outside Slack's origin gets (a Slack-style code: permanent).
pub const NOT_SLACKS_ORIGIN: &str = "response_url_not_slack";

/// Whether `url` has Slack's origin, or `api_base`'s (scheme, host and port alike).
pub fn response_url_allowed(url: &str, api_base: &str) -> bool {
    let origin = |u: &str| reqwest::Url::parse(u).ok().map(|u| u.origin());
    let Some(target) = origin(url).filter(|o| o.is_tuple()) else {
        return false;
    };
    [SLACK_RESPONSE_ORIGIN, api_base]
        .iter()
        .any(|allowed| origin(allowed).as_ref() == Some(&target))
}

/// A Slack Web API client for one bot token.
#[derive(Clone)]
pub struct SlackClient {
    http: reqwest::Client,
    base_url: String,
    token: SecretString,
    pub policy: RetryPolicy,
}

impl std::fmt::Debug for SlackClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SlackClient")
            .field("base_url", &self.base_url)
            .finish_non_exhaustive()
    }
}

/// The HTTPS client, verifying with Mozilla's compiled-in roots, or a custom certificate store's
/// when one is configured (`tls.rs` says why). A function that needs two retry policies derives
/// the second client from the first (`with_retry_policy`). The client is not shared process-wide
/// on purpose: its pooled connections belong to the Tokio runtime that opened them.
#[derive(Clone)]
pub struct SlackHttps(reqwest::Client);

impl SlackHttps {
    /// Needs no token: a function builds it while its secret is being read.
    pub fn new() -> Self {
        // No redirect is followed: Slack's API and response URLs never redirect, and a
        // redirect could carry a post (a response_url's decision text) to another host.
        let builder = reqwest::Client::builder()
            .user_agent(concat!("gantry/", env!("CARGO_PKG_VERSION")))
            .redirect(reqwest::redirect::Policy::none());
        let builder = match super::tls::client_config() {
            Ok(config) => builder.tls_backend_preconfigured(config),
            Err(error) => {
                tracing::error!(%error, "no TLS configuration for Slack; reqwest's own verifier is used");
                builder
            }
        };
        Self(builder.build().unwrap_or_else(|_| reqwest::Client::new()))
    }
}

impl Default for SlackHttps {
    fn default() -> Self {
        Self::new()
    }
}

impl SlackClient {
    pub fn new(base_url: &str, token: SecretString) -> Self {
        Self::with_policy(base_url, token, RetryPolicy::default())
    }

    pub fn with_policy(base_url: &str, token: SecretString, policy: RetryPolicy) -> Self {
        Self::over(SlackHttps::new(), base_url, token, policy)
    }

    /// A client for `token` over an HTTPS client built beforehand.
    pub fn over(
        https: SlackHttps,
        base_url: &str,
        token: SecretString,
        policy: RetryPolicy,
    ) -> Self {
        Self {
            http: https.0,
            base_url: base_url.trim_end_matches('/').to_string(),
            token,
            policy,
        }
    }

    /// The same client (connections, certificates) with another retry policy.
    pub fn with_retry_policy(&self, policy: RetryPolicy) -> Self {
        Self {
            policy,
            ..self.clone()
        }
    }

    /// Calls the write `method` with a JSON body; returns Slack's answer when `ok` is true.
    pub async fn call(&self, method: &str, body: &Value) -> Result<Value, SlackError> {
        let url = format!("{}/{method}", self.base_url);
        self.send(method, &url, Body::Json(body), true).await
    }

    /// Calls the read `method` (`users.*`, `usergroups.*.list`, `conversations.history`...) as
    /// a GET with its arguments in the query string; returns Slack's answer when `ok` is true.
    pub async fn read(&self, method: &str, args: &[(&str, &str)]) -> Result<Value, SlackError> {
        let url = format!("{}/{method}", self.base_url);
        self.send(method, &url, Body::Query(args), true).await
    }

    /// Posts to an interactivity `response_url` (no token: the URL is the credential), only
    /// when it is on Slack's origin (`https://hooks.slack.com`) or on this client's base URL's
    /// (SLACK_API_URL: a stand-in in tests): the URL comes from a request body, and Gantry must
    /// not become a way to post to anywhere else.
    pub async fn respond(&self, response_url: &str, body: &Value) -> Result<(), SlackError> {
        if !response_url_allowed(response_url, &self.base_url) {
            // The origin only: the rest of a response_url is a credential.
            let origin = reqwest::Url::parse(response_url)
                .map(|u| u.origin().ascii_serialization())
                .unwrap_or_else(|_| "not a URL".into());
            tracing::warn!(origin, "response_url outside Slack's origin: not called");
            return Err(SlackError::Api {
                method: "response_url".to_string(),
                error: NOT_SLACKS_ORIGIN.to_string(),
            });
        }
        self.send("response_url", response_url, Body::Json(body), false)
            .await
            .map(|_| ())
    }

    async fn send(
        &self,
        method: &str,
        url: &str,
        body: Body<'_>,
        auth: bool,
    ) -> Result<Value, SlackError> {
        let once = posts_once(method);
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut request = match body {
                Body::Json(body) => self
                    .http
                    .post(url)
                    .header("content-type", "application/json; charset=utf-8")
                    .body(body.to_string()),
                Body::Query(args) => {
                    let query = form_urlencoded::Serializer::new(String::new())
                        .extend_pairs(args)
                        .finish();
                    self.http.get(format!("{url}?{query}"))
                }
            }
            .timeout(self.policy.request_timeout);
            if auth {
                request = request.bearer_auth(self.token.expose());
            }
            let outcome = match request.send().await {
                Ok(response) => self.answer(method, response).await,
                // Not connected: the request never left, so it cannot have been posted.
                Err(e) if e.is_connect() => Attempt::Retry(Duration::ZERO, describe(&e)),
                Err(e) => Attempt::Unknown(describe(&e)),
            };
            let (wait, reason) = match outcome {
                Attempt::Done(result) => return result,
                Attempt::Unknown(reason) if once => {
                    return Err(SlackError::MaybePosted {
                        method: method.to_string(),
                        reason,
                    })
                }
                Attempt::Unknown(reason) => (Duration::ZERO, reason),
                Attempt::Retry(wait, reason) => (wait, reason),
            };
            if attempt >= self.policy.max_attempts {
                return Err(SlackError::Unavailable {
                    method: method.to_string(),
                    attempts: attempt,
                    reason,
                });
            }
            let backoff = self.policy.first_backoff * 2u32.saturating_pow(attempt - 1);
            let wait = if wait.is_zero() { backoff } else { wait };
            tracing::warn!(
                method,
                attempt,
                wait_ms = wait.as_millis() as u64,
                reason,
                "Slack call will be retried"
            );
            tokio::time::sleep(wait).await;
        }
    }

    async fn answer(&self, method: &str, response: reqwest::Response) -> Attempt {
        let status = response.status();
        if status.as_u16() == 429 {
            let retry_after = response
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
                .unwrap_or(1);
            if Duration::from_secs(retry_after) > self.policy.max_retry_after {
                return Attempt::Done(Err(SlackError::RateLimited {
                    method: method.to_string(),
                    retry_after_seconds: retry_after,
                }));
            }
            return Attempt::Retry(
                Duration::from_secs(retry_after),
                "rate limited (429)".into(),
            );
        }
        let text = match response.text().await {
            Ok(t) => t,
            Err(e) => return Attempt::Unknown(describe(&e)),
        };
        if status.is_server_error() {
            let code = serde_json::from_str::<Value>(&text)
                .ok()
                .and_then(|v| v.get("error").and_then(Value::as_str).map(str::to_string));
            let reason = match &code {
                Some(code) => format!("HTTP {status} {code}"),
                None => format!("HTTP {status}"),
            };
            return match code.as_deref() {
                Some(code) if NOT_PROCESSED.contains(&code) => {
                    Attempt::Retry(Duration::ZERO, reason)
                }
                _ => Attempt::Unknown(reason),
            };
        }
        let value: Value = match serde_json::from_str(&text) {
            Ok(v) => v,
            Err(_) if status.is_success() => Value::Object(Default::default()),
            Err(_) => {
                return Attempt::Done(Err(SlackError::Api {
                    method: method.to_string(),
                    error: format!("http_{}", status.as_u16()),
                }))
            }
        };
        // response_url answers are not always Web API shaped: a 2xx with no `ok` is success.
        let ok = value
            .get("ok")
            .and_then(Value::as_bool)
            .unwrap_or(status.is_success());
        if ok {
            return Attempt::Done(Ok(value));
        }
        let error = value
            .get("error")
            .and_then(Value::as_str)
            .unwrap_or("unknown_error")
            .to_string();
        if NOT_PROCESSED.contains(&error.as_str()) {
            return Attempt::Retry(Duration::ZERO, error);
        }
        if matches!(error.as_str(), "internal_error" | "fatal_error") {
            // Slack: "it's possible some aspect of the operation succeeded".
            return Attempt::Unknown(error);
        }
        Attempt::Done(Err(SlackError::Api {
            method: method.to_string(),
            error,
        }))
    }

    /// `chat.postMessage`; `message` holds channel, text, blocks and optionally thread_ts.
    pub async fn post_message(&self, message: &Value) -> Result<PostedMessage, SlackError> {
        let answer = self.call("chat.postMessage", message).await?;
        Ok(PostedMessage {
            channel: answer["channel"].as_str().unwrap_or_default().to_string(),
            ts: answer["ts"].as_str().unwrap_or_default().to_string(),
        })
    }

    /// `chat.update` of the message at `at` with new text and blocks.
    pub async fn update_message(
        &self,
        at: &PostedMessage,
        message: &Value,
    ) -> Result<(), SlackError> {
        let mut body = message.clone();
        body["channel"] = json!(at.channel);
        body["ts"] = json!(at.ts);
        self.call("chat.update", &body).await.map(|_| ())
    }

    /// `chat.postEphemeral`: a message only `user` sees.
    pub async fn post_ephemeral(
        &self,
        channel: &str,
        user: &str,
        text: &str,
    ) -> Result<(), SlackError> {
        self.call(
            "chat.postEphemeral",
            &json!({ "channel": channel, "user": user, "text": text }),
        )
        .await
        .map(|_| ())
    }

    /// Members of a user group (`usergroups.users.list`).
    pub async fn usergroup_members(&self, group: &str) -> Result<Vec<String>, SlackError> {
        let answer = self
            .read("usergroups.users.list", &[("usergroup", group)])
            .await?;
        Ok(answer["users"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|u| u.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default())
    }

    /// The Slack user with this email (`users.lookupByEmail`), if any.
    pub async fn user_by_email(&self, email: &str) -> Result<Option<SlackUser>, SlackError> {
        match self.read("users.lookupByEmail", &[("email", email)]).await {
            Ok(answer) => Ok(Some(SlackUser {
                id: answer["user"]["id"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                name: answer["user"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            })),
            Err(e) if e.code() == Some("users_not_found") => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The newest message this bot posted in `channel` (or, with `thread`, in that thread)
    /// whose metadata is `marker` (`event_type` and `event_payload` equal), among the last
    /// `within` messages: how a caller finds out whether a `MaybePosted` post landed.
    pub async fn find_posted(
        &self,
        channel: &str,
        thread: Option<&str>,
        marker: &Value,
        within: usize,
    ) -> Result<Option<PostedMessage>, SlackError> {
        let (method, mut args) = match thread {
            Some(ts) => (
                "conversations.replies",
                vec![("channel", channel), ("ts", ts)],
            ),
            None => ("conversations.history", vec![("channel", channel)]),
        };
        args.push(("include_all_metadata", "true"));
        args.push(("limit", "200"));
        let mut cursor = String::new();
        let mut seen = 0;
        loop {
            let mut page_args = args.clone();
            if !cursor.is_empty() {
                page_args.push(("cursor", cursor.as_str()));
            }
            let answer = match self.read(method, &page_args).await {
                Ok(answer) => answer,
                // No such thread (its parent is gone): nothing of ours in it either.
                Err(e) if e.code() == Some("thread_not_found") => return Ok(None),
                Err(e) => return Err(e),
            };
            let messages = answer["messages"].as_array().cloned().unwrap_or_default();
            seen += messages.len();
            let found = messages.iter().find(|m| {
                m["metadata"]["event_type"] == marker["event_type"]
                    && m["metadata"]["event_payload"] == marker["event_payload"]
            });
            if let Some(ts) = found.and_then(|m| m["ts"].as_str()) {
                return Ok(Some(PostedMessage {
                    channel: channel.to_string(),
                    ts: ts.to_string(),
                }));
            }
            cursor = answer["response_metadata"]["next_cursor"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            if cursor.is_empty() || messages.is_empty() || seen >= within {
                return Ok(None);
            }
        }
    }
}

/// What a call sends: a JSON body (write methods) or a query string (read methods).
#[derive(Clone, Copy)]
enum Body<'a> {
    Json(&'a Value),
    Query(&'a [(&'a str, &'a str)]),
}

/// Methods that must not be repeated when their first attempt's outcome is unknown.
fn posts_once(method: &str) -> bool {
    method == "chat.postMessage"
}

/// Error codes that say Slack did not process the call: retrying cannot duplicate anything.
const NOT_PROCESSED: [&str; 3] = ["ratelimited", "service_unavailable", "request_timeout"];

enum Attempt {
    Done(Result<Value, SlackError>),
    /// Retry after this wait (zero: use the backoff), for this reason.
    Retry(Duration, String),
    /// The request went out and its outcome is unknown: retried only if repeating is harmless.
    Unknown(String),
}

fn describe(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "timed out".into()
    } else if e.is_connect() {
        "could not connect".into()
    } else {
        // Never the URL: response URLs carry credentials.
        match e.status() {
            Some(s) => format!("HTTP {s}"),
            None if e.is_body() || e.is_decode() => "unreadable answer".into(),
            None => "request failed".into(),
        }
    }
}

impl gantry_core::slack::Chat for SlackClient {
    async fn post(&self, message: &Value) -> Result<PostedMessage, SlackError> {
        self.post_message(message).await
    }
    async fn update(&self, at: &PostedMessage, message: &Value) -> Result<(), SlackError> {
        self.update_message(at, message).await
    }
    async fn find(
        &self,
        channel: &str,
        thread: Option<&str>,
        marker: &Value,
    ) -> Result<Option<PostedMessage>, SlackError> {
        self.find_posted(channel, thread, marker, FIND_WITHIN).await
    }
}

/// `chat.getPermalink`: a message's URL, for the weekly post's links to threads.
impl gantry_core::delivery::Permalinks for SlackClient {
    async fn permalink(&self, channel: &str, ts: &str) -> Result<String, SlackError> {
        let answer = self
            .read(
                "chat.getPermalink",
                &[("channel", channel), ("message_ts", ts)],
            )
            .await?;
        answer["permalink"]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| SlackError::Api {
                method: "chat.getPermalink".into(),
                error: "no permalink in the answer".into(),
            })
    }
}

/// How far back in a channel (or thread) a post whose outcome was unknown is looked for.
const FIND_WITHIN: usize = 1000;

#[cfg(test)]
mod tests {
    use super::response_url_allowed;

    #[test]
    fn only_slacks_origin_or_the_api_bases_may_be_called_back() {
        let slack = "https://slack.com/api";
        assert!(response_url_allowed(
            "https://hooks.slack.com/actions/T0/1/abc",
            slack
        ));
        assert!(response_url_allowed(
            "https://hooks.slack.com:443/actions/T0/1/abc",
            slack
        ));
        let sink = "http://127.0.0.1:4000/ns/t/api";
        assert!(response_url_allowed(
            "http://127.0.0.1:4000/ns/t/response/1",
            sink
        ));
        for other in [
            "http://127.0.0.1:4001/ns/t/response/1",
            "https://127.0.0.1:4000/x",
            "http://hooks.slack.com/actions/1",
            "https://hooks.slack.com.evil.example/actions/1",
            "https://hooks.slack.com@evil.example/actions/1",
            "https://evil.example/?https://hooks.slack.com",
            "file:///etc/passwd",
            "",
        ] {
            assert!(!response_url_allowed(other, sink), "{other}");
        }
    }
}
