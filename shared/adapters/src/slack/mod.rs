//! Slack's Web API over HTTPS: the client (Slack's rate-limit and retry rules) and its TLS roots.

mod client;
mod tls;

pub use client::{RetryPolicy, SlackClient};
