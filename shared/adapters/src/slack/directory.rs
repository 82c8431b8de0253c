//! Slack's directory for the approval flows: user group members and users by email, cached in
//! the warm Lambda so a click stays inside Slack's three seconds. Group membership is kept
//! briefly (a removed member loses the right within a minute); emails longer (they rarely
//! change). Also the private replies a click gets (`Replies`).

use super::SlackClient;
use gantry_core::approval::ports::{Directory, Replies};
use gantry_core::slack::SlackError;
use serde_json::Value;
use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A small cache with a time to live.
struct Cache<V> {
    ttl: Duration,
    entries: Mutex<HashMap<String, (Instant, V)>>,
}

impl<V: Clone> Cache<V> {
    fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            entries: Mutex::new(HashMap::new()),
        }
    }

    fn get(&self, key: &str) -> Option<V> {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries
            .get(key)
            .filter(|(at, _)| at.elapsed() < self.ttl)
            .map(|(_, v)| v.clone())
    }

    fn put(&self, key: &str, value: V) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries.insert(key.to_string(), (Instant::now(), value));
    }
}

/// Slack's directory through a client, cached.
pub struct CachedDirectory {
    slack: SlackClient,
    groups: Cache<BTreeSet<String>>,
    emails: Cache<Option<String>>,
}

impl CachedDirectory {
    /// Members kept a minute, emails ten.
    pub fn new(slack: SlackClient) -> Self {
        Self::with_ttls(slack, Duration::from_secs(60), Duration::from_secs(600))
    }

    pub fn with_ttls(slack: SlackClient, group_ttl: Duration, email_ttl: Duration) -> Self {
        Self {
            slack,
            groups: Cache::new(group_ttl),
            emails: Cache::new(email_ttl),
        }
    }
}

impl Directory for CachedDirectory {
    async fn group_members(&self, group: &str) -> Result<BTreeSet<String>, SlackError> {
        if let Some(members) = self.groups.get(group) {
            return Ok(members);
        }
        let members: BTreeSet<String> = self
            .slack
            .usergroup_members(group)
            .await?
            .into_iter()
            .collect();
        self.groups.put(group, members.clone());
        Ok(members)
    }

    async fn user_by_email(&self, email: &str) -> Result<Option<String>, SlackError> {
        let key = email.to_ascii_lowercase();
        if let Some(hit) = self.emails.get(&key) {
            return Ok(hit);
        }
        let id = self.slack.user_by_email(email).await?.map(|u| u.id);
        self.emails.put(&key, id.clone());
        Ok(id)
    }
}

impl Replies for SlackClient {
    async fn respond(&self, response_url: &str, body: &Value) -> Result<(), SlackError> {
        SlackClient::respond(self, response_url, body).await
    }

    async fn post_ephemeral(
        &self,
        channel: &str,
        user: &str,
        text: &str,
    ) -> Result<(), SlackError> {
        SlackClient::post_ephemeral(self, channel, user, text).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_live_for_their_ttl_only() {
        let c = Cache::new(Duration::from_millis(30));
        c.put("S1", 1);
        assert_eq!(c.get("S1"), Some(1));
        assert_eq!(c.get("S2"), None);
        std::thread::sleep(Duration::from_millis(40));
        assert_eq!(c.get("S1"), None);
    }
}
