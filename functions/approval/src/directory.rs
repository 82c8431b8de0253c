//! Slack user groups and users by email, cached in the warm Lambda so a click stays inside
//! Slack's three seconds. Group membership is kept briefly (a removed member loses the right
//! within a minute); emails longer (they rarely change).

use gantry_adapters::slack::SlackClient;
use gantry_core::slack::SlackError;
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

/// Who is in which group, and who has which email.
pub struct Directory {
    groups: Cache<BTreeSet<String>>,
    emails: Cache<Option<String>>,
}

impl Default for Directory {
    fn default() -> Self {
        Self::new(Duration::from_secs(60), Duration::from_secs(600))
    }
}

impl Directory {
    pub fn new(group_ttl: Duration, email_ttl: Duration) -> Self {
        Self {
            groups: Cache::new(group_ttl),
            emails: Cache::new(email_ttl),
        }
    }

    /// Those of `groups` that `user` belongs to.
    pub async fn groups_of(
        &self,
        slack: &SlackClient,
        user: &str,
        groups: &[String],
    ) -> Result<BTreeSet<String>, SlackError> {
        let mut member_of = BTreeSet::new();
        for group in groups {
            let members = match self.groups.get(group) {
                Some(m) => m,
                None => {
                    let m: BTreeSet<String> =
                        slack.usergroup_members(group).await?.into_iter().collect();
                    self.groups.put(group, m.clone());
                    m
                }
            };
            if members.contains(user) {
                member_of.insert(group.clone());
            }
        }
        Ok(member_of)
    }

    /// The Slack user id with this email, if any.
    pub async fn user_by_email(
        &self,
        slack: &SlackClient,
        email: &str,
    ) -> Result<Option<String>, SlackError> {
        let key = email.to_ascii_lowercase();
        if let Some(hit) = self.emails.get(&key) {
            return Ok(hit);
        }
        let id = slack.user_by_email(email).await?.map(|u| u.id);
        self.emails.put(&key, id.clone());
        Ok(id)
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
