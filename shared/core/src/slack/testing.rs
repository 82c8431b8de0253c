//! The one Slack fake every feature's tests use: it records each call, can fail the next ones,
//! and finds a post again by its metadata as Slack's history does.

use super::{Chat, PostedMessage, SlackError};
use serde_json::{json, Value};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

/// Slack: every call that reached it, in order, and what it said privately (the approval
/// function's ephemeral answers, kept here so one fake serves every port onto Slack).
#[derive(Default)]
pub struct FakeSlack {
    /// `(method, body)`: `chat.postMessage` (the message), `chat.update` (the message, its
    /// `ts` set to the one updated), `find` (`{channel, thread, marker}`).
    pub calls: Mutex<Vec<(String, Value)>>,
    /// Errors the next calls answer with, one each, before Slack answers normally again.
    faults: Mutex<VecDeque<SlackError>>,
    pub private: Mutex<Vec<String>>,
    /// How often a post yields to the runtime before it lands (`taking_a_moment`).
    post_yields: usize,
}

impl FakeSlack {
    /// A Slack whose posts take a moment, so that concurrent callers interleave around them
    /// (not for the traffic simulation, whose executor takes a pending call for a wait).
    pub fn taking_a_moment() -> FakeSlack {
        FakeSlack {
            post_yields: 3,
            ..FakeSlack::default()
        }
    }

    /// The next call fails with `e` (and reaches nobody).
    pub fn fail_next(&self, e: SlackError) {
        self.faults.lock().unwrap().push_back(e);
    }

    /// The bodies of the calls to `method`, in order.
    pub fn calls(&self, method: &str) -> Vec<Value> {
        self.calls
            .lock()
            .unwrap()
            .iter()
            .filter(|(m, _)| m == method)
            .map(|(_, b)| b.clone())
            .collect()
    }

    /// The messages posted, in order.
    pub fn posted(&self) -> Vec<Value> {
        self.calls("chat.postMessage")
    }

    /// The updates made, in order: (the message updated, its new content).
    pub fn updated(&self) -> Vec<(PostedMessage, Value)> {
        self.calls("chat.update")
            .into_iter()
            .map(|mut body| {
                let at = PostedMessage {
                    channel: body["channel"].as_str().unwrap_or_default().to_string(),
                    ts: body["ts"].as_str().unwrap_or_default().to_string(),
                };
                if let Some(b) = body.as_object_mut() {
                    b.remove("ts");
                }
                (at, body)
            })
            .collect()
    }

    fn answer(&self, method: &str, body: &Value) -> Result<(), SlackError> {
        if let Some(e) = self.faults.lock().unwrap().pop_front() {
            return Err(e);
        }
        self.calls
            .lock()
            .unwrap()
            .push((method.to_string(), body.clone()));
        Ok(())
    }

    /// The address of the `n`th post (from 1), as Slack numbers its messages' `ts`.
    fn address(channel: &str, n: usize) -> PostedMessage {
        PostedMessage {
            channel: channel.to_string(),
            ts: format!("1700000000.{n:06}"),
        }
    }
}

impl Chat for FakeSlack {
    async fn post(&self, message: &Value) -> Result<PostedMessage, SlackError> {
        for _ in 0..self.post_yields {
            tokio::task::yield_now().await;
        }
        self.answer("chat.postMessage", message)?;
        let n = self.calls("chat.postMessage").len();
        Ok(Self::address(
            message["channel"].as_str().unwrap_or_default(),
            n,
        ))
    }

    async fn update(&self, at: &PostedMessage, message: &Value) -> Result<(), SlackError> {
        let mut body = message.clone();
        body["ts"] = json!(at.ts);
        self.answer("chat.update", &body)
    }

    async fn find(
        &self,
        channel: &str,
        thread: Option<&str>,
        marker: &Value,
    ) -> Result<Option<PostedMessage>, SlackError> {
        let query = json!({"channel": channel, "thread": thread, "marker": marker});
        self.answer("find", &query)?;
        Ok(self
            .posted()
            .iter()
            .position(|p| p["channel"] == channel && &p["metadata"] == marker)
            .map(|i| Self::address(channel, i + 1)))
    }
}

/// The same Slack, shared with the test that looks at it.
impl Chat for Arc<FakeSlack> {
    async fn post(&self, message: &Value) -> Result<PostedMessage, SlackError> {
        self.as_ref().post(message).await
    }
    async fn update(&self, at: &PostedMessage, message: &Value) -> Result<(), SlackError> {
        self.as_ref().update(at, message).await
    }
    async fn find(
        &self,
        channel: &str,
        thread: Option<&str>,
        marker: &Value,
    ) -> Result<Option<PostedMessage>, SlackError> {
        self.as_ref().find(channel, thread, marker).await
    }
}
