//! Slack: the Web API client (with Slack's rate-limit and retry rules) and the types it returns.
//!
//! Message *content* (Block Kit) is built by each feature from plain data; this module only
//! delivers it.

mod client;
mod error;
mod tls;

pub use client::{PostedMessage, RetryPolicy, SlackClient, SlackUser};
pub use error::SlackError;

/// Slack's public Web API base URL (`SLACK_API_URL` overrides it).
pub const DEFAULT_API_URL: &str = "https://slack.com/api";
