//! Slack's Web API over HTTPS: the client (Slack's rate-limit and retry rules), its TLS roots,
//! and the approval flows' directory (cached) and private replies.

mod client;
mod directory;
pub(crate) mod tls;

pub use client::{RetryPolicy, SlackClient, SlackHttps};
pub use directory::CachedDirectory;
