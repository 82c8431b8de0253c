//! Who a provider account is in Slack: `GANTRY_PEOPLE`, for the four-eyes rule.
//!
//! The webhook records the account the provider authenticated for a push (`PUSHER`: GitHub's
//! `sender.login`, GitLab's `user_username`). That login is the one fact about who a change
//! belongs to that the committer cannot write; Slack knows nothing of it, so an admin maps it:
//!
//! ```json
//! {"github:mona": "U0MONA", "gitlab:mona": "U0MONA", "gitlab:mlisa": "U0MONA"}
//! ```
//!
//! The execution keeps the login, not the provider that authenticated it. So a login maps only
//! when every provider named anywhere in `GANTRY_PEOPLE` has an entry for it (a team on GitHub
//! alone lists `github:` keys only), and it stands for every Slack user those entries name: a
//! `gitlab:mona` who is someone else than `github:mona` can then never pass for her.

use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};

/// The providers whose logins `GANTRY_PEOPLE` may name.
pub const PROVIDERS: [&str; 2] = ["github", "gitlab"];

/// `GANTRY_PEOPLE`: `provider:login` → Slack user id.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct People(BTreeMap<String, String>);

/// A login's Slack users, or why it has none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoginMapping {
    /// Every Slack user the login may be (one, unless providers' entries differ).
    Slack(BTreeSet<String>),
    /// No entry for the login under these providers (`provider:login` keys to add).
    Missing(Vec<String>),
}

impl People {
    /// Parses and checks `GANTRY_PEOPLE`; the error names the bad entry.
    pub fn parse(json: &str) -> Result<Self, String> {
        let people: People = serde_json::from_str(json).map_err(|e| e.to_string())?;
        for (key, user) in &people.0 {
            let Some((provider, login)) = key.split_once(':') else {
                return Err(format!(
                    "{key:?} is not provider:login (github:mona or gitlab:mona)"
                ));
            };
            if !PROVIDERS.contains(&provider) || login.trim().is_empty() {
                return Err(format!(
                    "{key:?} is not provider:login (github:mona or gitlab:mona)"
                ));
            }
            if !super::approvers::is_user_id(user) {
                return Err(format!(
                    "{key:?} = {user:?} is not a Slack user id (U… or W…)"
                ));
            }
        }
        Ok(people)
    }

    /// The Slack users `login` (as a push names its pusher) may be; see the module's doc.
    pub fn pusher(&self, login: &str) -> LoginMapping {
        let login = login.trim();
        // A deploy from the `/gantry` slash command records its Slack user as `slack:U…`: no
        // GitHub or GitLab login holds a colon, so none can pass for it.
        if let Some(user) = login
            .strip_prefix("slack:")
            .filter(|u| super::approvers::is_user_id(u))
        {
            return LoginMapping::Slack(BTreeSet::from([user.to_string()]));
        }
        let providers: BTreeSet<&str> = self.0.keys().filter_map(|k| provider_of(k)).collect();
        let mut users = BTreeSet::new();
        let mut missing = Vec::new();
        for provider in &providers {
            match self.entry(provider, login) {
                Some(user) => {
                    users.insert(user.to_string());
                }
                None => missing.push(format!("{provider}:{login}")),
            }
        }
        if providers.is_empty() {
            missing = PROVIDERS.iter().map(|p| format!("{p}:{login}")).collect();
        }
        if missing.is_empty() && !users.is_empty() {
            LoginMapping::Slack(users)
        } else {
            LoginMapping::Missing(missing)
        }
    }

    /// Every Slack user any provider's entry for `login` names (for a commit author's username:
    /// it may only bar someone, so every match counts).
    pub fn any_provider(&self, login: &str) -> BTreeSet<String> {
        PROVIDERS
            .iter()
            .filter_map(|p| self.entry(p, login.trim()))
            .map(str::to_string)
            .collect()
    }

    fn entry(&self, provider: &str, login: &str) -> Option<&str> {
        // GitHub and GitLab logins are case-insensitive.
        self.0
            .iter()
            .find(|(k, _)| {
                k.split_once(':')
                    .is_some_and(|(p, l)| p == provider && l.eq_ignore_ascii_case(login))
            })
            .map(|(_, v)| v.as_str())
    }
}

fn provider_of(key: &str) -> Option<&str> {
    key.split_once(':').map(|(p, _)| p)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(ids: &[&str]) -> BTreeSet<String> {
        ids.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn a_slash_command_deployer_is_their_slack_user() {
        let p = People::default();
        assert_eq!(
            p.pusher("slack:U0JANE"),
            LoginMapping::Slack(set(&["U0JANE"]))
        );
        assert!(matches!(p.pusher("slack:jane"), LoginMapping::Missing(_)));
    }

    #[test]
    fn a_github_only_team_maps_its_logins() {
        let p = People::parse(r#"{"github:mona": "U0MONA"}"#).unwrap();
        assert_eq!(p.pusher("Mona"), LoginMapping::Slack(set(&["U0MONA"])));
        assert_eq!(
            p.pusher("hubot"),
            LoginMapping::Missing(vec!["github:hubot".into()])
        );
    }

    #[test]
    fn with_both_providers_in_use_a_login_needs_both_entries() {
        // gitlab:mona might be someone else: github:mona alone must not vouch for her.
        let p = People::parse(r#"{"github:mona": "U0MONA", "gitlab:ada": "U0ADA"}"#).unwrap();
        assert_eq!(
            p.pusher("mona"),
            LoginMapping::Missing(vec!["gitlab:mona".into()])
        );
        let p = People::parse(
            r#"{"github:mona": "U0MONA", "gitlab:mona": "U0OTHER", "gitlab:ada": "U0ADA"}"#,
        )
        .unwrap();
        assert_eq!(
            p.pusher("mona"),
            LoginMapping::Slack(set(&["U0MONA", "U0OTHER"]))
        );
    }

    #[test]
    fn without_entries_nobody_maps() {
        assert_eq!(
            People::default().pusher("mona"),
            LoginMapping::Missing(vec!["github:mona".into(), "gitlab:mona".into()])
        );
    }

    #[test]
    fn bad_keys_and_ids_are_refused_naming_the_entry() {
        for (json, part) in [
            (r#"{"mona": "U0MONA"}"#, "\"mona\""),
            (r#"{"bitbucket:mona": "U0MONA"}"#, "bitbucket"),
            (r#"{"github:": "U0MONA"}"#, "github:"),
            (
                r#"{"github:mona": "mona@example.com"}"#,
                "not a Slack user id",
            ),
        ] {
            let err = People::parse(json).unwrap_err();
            assert!(err.contains(part), "{json}: {err}");
        }
    }

    #[test]
    fn a_username_bars_whoever_any_provider_maps_it_to() {
        let p = People::parse(r#"{"github:ada": "U0ADA", "gitlab:ada": "U0LOVE"}"#).unwrap();
        assert_eq!(p.any_provider("ADA"), set(&["U0ADA", "U0LOVE"]));
        assert!(p.any_provider("nobody").is_empty());
    }
}
