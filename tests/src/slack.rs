//! The Slack stand-in, one namespace per test so parallel tests never see each other's calls.

use crate::http;
use serde_json::{json, Value};

/// One test's private corner of the Slack stand-in.
pub struct SlackNs {
    base: String,
}

impl SlackNs {
    /// A fresh namespace.
    pub fn new() -> Self {
        Self {
            base: format!("{}/ns/{}", crate::slack_url(), crate::unique("slack")),
        }
    }

    /// What `SLACK_API_URL` must be for Gantry to talk to this namespace.
    pub fn api_url(&self) -> String {
        format!("{}/api", self.base)
    }

    /// A `response_url` Slack would give an interactivity payload.
    pub fn response_url(&self, id: &str) -> String {
        format!("{}/response/{id}", self.base)
    }

    /// Every call made, optionally of one method only.
    pub async fn calls(&self, method: Option<&str>) -> Vec<Value> {
        let url = match method {
            Some(m) => format!("{}/_sink/calls?method={m}", self.base),
            None => format!("{}/_sink/calls", self.base),
        };
        http::get(&url).await["calls"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// The current state of every message posted.
    pub async fn messages(&self) -> Vec<Value> {
        let v = http::get(&format!("{}/_sink/messages", self.base)).await;
        v.get("messages")
            .or(Some(&v))
            .and_then(|m| m.as_array())
            .cloned()
            .unwrap_or_default()
    }

    /// Every `chat.postEphemeral` message, in post order.
    pub async fn ephemerals(&self) -> Vec<Value> {
        http::get(&format!("{}/_sink/ephemerals", self.base)).await["ephemerals"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// Queues fault answers for `method` (or `*`).
    pub async fn fault(&self, method: &str, responses: Value) {
        http::post(
            &format!("{}/_sink/faults", self.base),
            &json!({ "method": method, "responses": responses }),
        )
        .await;
    }

    /// Merges configuration (users, user groups, unknown channels, channels the bot is not in
    /// (`not_in_channels`), the valid token, `clock_offset_seconds` for response_url expiry).
    pub async fn configure(&self, config: Value) {
        http::post(&format!("{}/_sink/config", self.base), &config).await;
    }
}

impl Default for SlackNs {
    fn default() -> Self {
        Self::new()
    }
}

/// A Slack message's buttons, in order: (action id, value) each.
pub use gantry_core::slack::shown::buttons;
