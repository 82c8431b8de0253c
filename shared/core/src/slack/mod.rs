//! Slack, in the words every feature uses: where a message was posted, who a user is, why a
//! call failed, and the port (`Chat`) that posts and updates messages. Message *content*
//! (Block Kit) is built by each feature from plain data, and read back by `shown`; the HTTP
//! client is `gantry_adapters::slack`.

mod error;
pub mod shown;
#[cfg(test)]
pub(crate) mod testing;

pub use error::SlackError;

use serde_json::Value;
use std::future::Future;

/// Slack's public Web API base URL (`SLACK_API_URL` overrides it).
pub const DEFAULT_API_URL: &str = "https://slack.com/api";

/// A posted message's address.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PostedMessage {
    pub channel: String,
    pub ts: String,
}

/// A Slack user, as far as Gantry cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlackUser {
    pub id: String,
    pub name: String,
}

/// The port onto Slack's messages.
pub trait Chat {
    /// `chat.postMessage`; `message` carries its `channel` (and `thread_ts` for a reply).
    fn post(
        &self,
        message: &Value,
    ) -> impl Future<Output = Result<PostedMessage, SlackError>> + Send;
    /// `chat.update` of the message at `at`.
    fn update(
        &self,
        at: &PostedMessage,
        message: &Value,
    ) -> impl Future<Output = Result<(), SlackError>> + Send;
    /// The message posted in `channel` (in the `thread` if given) with this metadata `marker`:
    /// how a post whose outcome was unknown (`SlackError::MaybePosted`) is found again.
    fn find(
        &self,
        channel: &str,
        thread: Option<&str>,
        marker: &Value,
    ) -> impl Future<Output = Result<Option<PostedMessage>, SlackError>> + Send;
}
