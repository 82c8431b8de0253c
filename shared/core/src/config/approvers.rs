//! Who may approve what: `GANTRY_APPROVERS`, keyed by pipeline then stage. Deny by default.

use serde::Deserialize;
use std::collections::BTreeMap;

/// The approvers of one stage of one pipeline.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StageApprovers {
    /// Slack user ids (`U…`, or `W…` on Enterprise Grid).
    #[serde(default)]
    pub users: Vec<String>,
    /// Slack user group ids (`S…`); members are resolved with `usergroups.users.list`.
    #[serde(default)]
    pub groups: Vec<String>,
    /// The commit's author may not approve (or promote) their own change.
    #[serde(default)]
    pub four_eyes: bool,
    /// Git author (name, username or email, compared without case) → Slack user id, for authors
    /// whose Slack account cannot be found by email; `null` for authors with no Slack account
    /// (bots), who then never count as the clicker.
    #[serde(default)]
    pub authors: BTreeMap<String, Option<String>>,
}

impl StageApprovers {
    /// True when the user is listed by id (group membership is checked separately).
    pub fn lists_user(&self, user: &str) -> bool {
        self.users.iter().any(|u| u == user)
    }
}

/// Every pipeline's and stage's approvers.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct ApproverRules(BTreeMap<String, BTreeMap<String, StageApprovers>>);

impl ApproverRules {
    /// Parses and checks `GANTRY_APPROVERS`; the error says which entry is wrong.
    pub fn parse(json: &str) -> Result<Self, String> {
        let rules: ApproverRules = serde_json::from_str(json).map_err(|e| e.to_string())?;
        rules.validate()?;
        for at in rules.nobody_may_approve() {
            tracing::warn!(
                stage = at,
                "GANTRY_APPROVERS lists no users or groups for this stage: nobody may approve it from Slack"
            );
        }
        Ok(rules)
    }

    /// The `pipeline/stage` entries that list no users and no groups: nobody may approve them
    /// from Slack (what the template's defaults, `ApproverUsers` and `ApproverGroups` empty, give).
    pub fn nobody_may_approve(&self) -> Vec<String> {
        self.0
            .iter()
            .flat_map(|(pipeline, stages)| {
                stages
                    .iter()
                    .filter(|(_, r)| r.users.is_empty() && r.groups.is_empty())
                    .map(move |(stage, _)| format!("{pipeline}/{stage}"))
            })
            .collect()
    }

    /// The rule of `pipeline`/`stage`, if any: `None` means nobody may decide from Slack.
    pub fn stage(&self, pipeline: &str, stage: &str) -> Option<&StageApprovers> {
        self.0.get(pipeline).and_then(|stages| stages.get(stage))
    }

    /// Every pipeline and its stages' rules, by name.
    pub fn pipelines(&self) -> impl Iterator<Item = (&String, &BTreeMap<String, StageApprovers>)> {
        self.0.iter()
    }

    /// True when no stage is configured at all.
    pub fn is_empty(&self) -> bool {
        self.0.values().all(BTreeMap::is_empty)
    }

    /// Rules for the given pipelines, unchecked (`validate` checks them).
    pub(crate) fn from_pipelines(
        pipelines: BTreeMap<String, BTreeMap<String, StageApprovers>>,
    ) -> Self {
        ApproverRules(pipelines)
    }

    /// Every stage rule of `pipeline` (empty when it has none).
    pub(crate) fn stages(&self, pipeline: &str) -> BTreeMap<String, StageApprovers> {
        self.0.get(pipeline).cloned().unwrap_or_default()
    }

    /// The pipelines that have rules.
    pub(crate) fn pipeline_names(&self) -> impl Iterator<Item = &str> {
        self.0.keys().map(String::as_str)
    }

    pub(crate) fn validate(&self) -> Result<(), String> {
        for (pipeline, stages) in &self.0 {
            for (stage, rule) in stages {
                let at = format!("{pipeline}/{stage}");
                if let Some(u) = rule.users.iter().find(|u| !is_user_id(u)) {
                    return Err(format!(
                        "{at}: {u:?} is not a Slack user id (U… or W…; a name or email does not work)"
                    ));
                }
                if let Some(g) = rule.groups.iter().find(|g| !is_group_id(g)) {
                    return Err(format!(
                        "{at}: {g:?} is not a Slack user group id (S…; a @handle does not work)"
                    ));
                }
                let bad_author = rule
                    .authors
                    .iter()
                    .find_map(|(a, u)| u.as_ref().filter(|u| !is_user_id(u)).map(|u| (a, u)));
                if let Some((a, u)) = bad_author {
                    return Err(format!(
                        "{at}: authors[{a:?}] = {u:?} is not a Slack user id"
                    ));
                }
            }
        }
        Ok(())
    }
}

fn slack_id(text: &str, prefixes: &[char]) -> bool {
    text.len() >= 2
        && text.starts_with(prefixes)
        && text
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
}

pub(crate) fn is_user_id(text: &str) -> bool {
    slack_id(text, &['U', 'W'])
}

pub(crate) fn is_group_id(text: &str) -> bool {
    slack_id(text, &['S'])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_documented_shape_parses() {
        let rules = ApproverRules::parse(
            r#"{"shop": {"Prod": {"users": ["U0ALLOWED"], "groups": ["S0RELEASE"], "four_eyes": true}}}"#,
        )
        .unwrap();
        let prod = rules.stage("shop", "Prod").unwrap();
        assert!(prod.four_eyes);
        assert!(prod.lists_user("U0ALLOWED"));
        assert!(!prod.lists_user("U0OTHER"));
        assert_eq!(prod.groups, vec!["S0RELEASE"]);
    }

    #[test]
    fn authors_map_to_a_user_or_to_null() {
        let rules = ApproverRules::parse(
            r#"{"shop": {"Prod": {"users": ["U1"], "authors": {"octocat": "U0OCTO", "dependabot[bot]": null}}}}"#,
        )
        .unwrap();
        let authors = &rules.stage("shop", "Prod").unwrap().authors;
        assert_eq!(authors["octocat"].as_deref(), Some("U0OCTO"));
        assert_eq!(authors["dependabot[bot]"], None);
    }

    #[test]
    fn an_unlisted_pipeline_or_stage_has_no_rule() {
        let rules = ApproverRules::parse(r#"{"shop": {"Prod": {"users": ["U1"]}}}"#).unwrap();
        assert!(rules.stage("shop", "Staging").is_none());
        assert!(rules.stage("api", "Prod").is_none());
        assert!(ApproverRules::default().is_empty());
    }

    #[test]
    fn an_empty_rule_is_accepted_and_lets_nobody_approve() {
        // The template's defaults: ApproverUsers and ApproverGroups empty.
        let rules =
            ApproverRules::parse(r#"{"shop": {"Prod": {"users": [], "groups": []}, "QA": {}}}"#)
                .unwrap();
        assert_eq!(rules.nobody_may_approve(), vec!["shop/Prod", "shop/QA"]);
        let prod = rules.stage("shop", "Prod").unwrap();
        assert!(!prod.lists_user("U0ANYONE"));
        assert!(prod.groups.is_empty());
    }

    #[test]
    fn mistakes_are_named() {
        for (json, says) in [
            (
                r#"{"shop": {"Prod": {"users": ["jane"]}}}"#,
                "\"jane\" is not a Slack user id",
            ),
            (
                r#"{"shop": {"Prod": {"groups": ["@release"]}}}"#,
                "not a Slack user group id",
            ),
            (
                r#"{"shop": {"Prod": {"user": ["U1"]}}}"#,
                "unknown field `user`",
            ),
            (
                r#"{"shop": {"Prod": {"users": ["U1"], "authors": {"jane": "jane@x"}}}}"#,
                "authors[\"jane\"]",
            ),
        ] {
            let err = ApproverRules::parse(json).unwrap_err();
            assert!(err.contains(says), "{json}: {err}");
        }
    }
}
