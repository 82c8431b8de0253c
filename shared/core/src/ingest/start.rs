//! `StartPipelineExecution`, pinned to the pushed commit and safe to repeat.

use crate::ingest::push::{Push, RefKind};
use crate::text::truncate;
use sha2::{Digest, Sha256};

/// CodePipeline's limit on a pipeline variable's value.
pub const MAX_VARIABLE_VALUE: usize = 1000;

/// The default `template.yaml` declares for the webhook's pipeline variables. CodePipeline
/// resolves every declared variable, so an execution the webhook did not start (or a variable it
/// did not set, such as `TAG` on a branch push) carries this value: it means "no data".
pub const UNSET_VARIABLE: &str = "-";

/// A pipeline variable passed at start.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Variable {
    pub name: String,
    pub value: String,
}

/// Everything `StartPipelineExecution` needs, derived from a push and a route.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct StartRequest {
    pub pipeline: String,
    /// Derived from the hash of the signed body and the pipeline: AWS refuses to start twice for
    /// one token, whatever delivery id a replay claims.
    pub client_request_token: String,
    pub source_action: String,
    pub commit_id: String,
    pub variables: Vec<Variable>,
}

impl StartRequest {
    /// Builds the request for `pipeline` from a push whose signed body hashes to `body_hash`.
    pub fn new(pipeline: &str, source_action: &str, body_hash: &str, push: &Push) -> Self {
        let (ref_var, ref_name) = match push.git_ref.kind {
            RefKind::Branch => ("BRANCH", &push.git_ref.name),
            RefKind::Tag => ("TAG", &push.git_ref.name),
        };
        let message = push
            .head
            .as_ref()
            .and_then(|h| h.message.lines().next())
            .unwrap_or_default();
        let variables = [
            ("COMMIT_ID", push.commit_id.clone()),
            (ref_var, ref_name.clone()),
            ("REPOSITORY", push.repository.clone()),
            ("AUTHOR", push.author()),
            ("COMMIT_MESSAGE", message.to_string()),
            ("PUSHER", push.sender.clone().unwrap_or_default()),
            ("COMMIT_AUTHORS", push.commit_authors(MAX_VARIABLE_VALUE)),
        ]
        .into_iter()
        // CodePipeline rejects empty values: leave out what the payload did not say.
        .filter(|(_, v)| !v.trim().is_empty())
        .map(|(name, value)| Variable {
            name: name.to_string(),
            // COMMIT_AUTHORS is already cut to whole entries.
            value: truncate(&value, MAX_VARIABLE_VALUE),
        })
        .collect();
        StartRequest {
            pipeline: pipeline.to_string(),
            client_request_token: client_request_token(body_hash, pipeline),
            source_action: source_action.to_string(),
            commit_id: push.commit_id.clone(),
            variables,
        }
    }
}

/// `gantry-` + 40 hex digits of SHA-256(delivery id, pipeline): within CodePipeline's token
/// pattern (`[a-zA-Z0-9-]+`, at most 128), the same on every redelivery, distinct per pipeline.
pub fn client_request_token(delivery_id: &str, pipeline: &str) -> String {
    let digest = Sha256::new()
        .chain_update(delivery_id.as_bytes())
        .chain_update([0u8])
        .chain_update(pipeline.as_bytes())
        .finalize();
    format!("gantry-{}", &hex::encode(digest)[..40])
}

impl StartError {
    /// What an HTTP answer may say: no AWS error text (it can hold ARNs and account ids).
    pub fn public_reason(&self) -> String {
        match self {
            StartError::PipelineNotFound { pipeline } => format!("pipeline {pipeline} not found"),
            StartError::AccessDenied { pipeline, .. } => {
                format!("not allowed to start pipeline {pipeline}")
            }
            StartError::Rejected { pipeline, .. } => {
                format!("pipeline {pipeline} refused the start")
            }
            StartError::Unavailable { pipeline, .. } => {
                format!("CodePipeline did not start {pipeline}: unavailable or throttled")
            }
        }
    }

    /// Whether trying again later can succeed without a person fixing something.
    pub fn is_transient(&self) -> bool {
        matches!(self, StartError::Unavailable { .. })
    }
}

/// Why an execution could not be started. `is_permanent` failures need a person to fix them.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("pipeline {pipeline} not found")]
    PipelineNotFound { pipeline: String },
    #[error("not allowed to start pipeline {pipeline}: {reason}")]
    AccessDenied { pipeline: String, reason: String },
    #[error("pipeline {pipeline} refused the start: {reason}")]
    Rejected { pipeline: String, reason: String },
    #[error("could not reach CodePipeline to start {pipeline}: {reason}")]
    Unavailable { pipeline: String, reason: String },
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::push::testing::push;
    use crate::ingest::push::Commit;

    /// The start of `shop` (source action `Source`) for delivery `d-1`.
    fn request_for(push: &Push) -> StartRequest {
        StartRequest::new("shop", "Source", "d-1", push)
    }

    fn var<'a>(r: &'a StartRequest, name: &str) -> Option<&'a str> {
        r.variables
            .iter()
            .find(|v| v.name == name)
            .map(|v| v.value.as_str())
    }

    #[test]
    fn branch_push_sets_the_documented_variables() {
        let r = request_for(&push("refs/heads/main", &[], "Fix cart\n\nLong body"));
        assert_eq!(var(&r, "COMMIT_ID"), Some("c0ffee"));
        assert_eq!(var(&r, "BRANCH"), Some("main"));
        assert_eq!(var(&r, "TAG"), None);
        assert_eq!(var(&r, "REPOSITORY"), Some("octo-org/shop"));
        assert_eq!(var(&r, "AUTHOR"), Some("ada"));
        assert_eq!(var(&r, "COMMIT_MESSAGE"), Some("Fix cart"));
        assert_eq!(r.commit_id, "c0ffee");
        assert_eq!(r.source_action, "Source");
    }

    #[test]
    fn pusher_and_every_commit_author_are_set() {
        let mut p = push("refs/heads/main", &[], "x");
        p.sender = Some("mona".into());
        let ghost = Commit {
            id: "c1".into(),
            author_name: "Ghost".into(),
            author_email: "ghost@example.invalid".into(),
            author_username: None,
            ..Commit::default()
        };
        p.commits = vec![ghost.clone(), p.head.clone().unwrap(), ghost];
        let r = request_for(&p);
        assert_eq!(var(&r, "PUSHER"), Some("mona"));
        assert_eq!(var(&r, "COMMIT_AUTHORS"), Some("ghost@example.invalid,ada"));
    }

    #[test]
    fn commit_authors_are_cut_to_whole_entries() {
        let mut p = push("refs/heads/main", &[], "x");
        p.commits = (0..200)
            .map(|i| Commit {
                id: format!("c{i}"),
                author_username: Some(format!("user-number-{i:03}")),
                ..Commit::default()
            })
            .collect();
        let r = request_for(&p);
        let value = var(&r, "COMMIT_AUTHORS").unwrap();
        assert!(value.len() <= MAX_VARIABLE_VALUE, "{}", value.len());
        assert!(value.split(',').all(|e| e.len() == 15), "{value}");
        assert!(value.starts_with("user-number-000,user-number-001"));
    }

    #[test]
    fn tag_push_sets_tag_not_branch() {
        let r = request_for(&push("refs/tags/v1.0", &[], "Release"));
        assert_eq!(var(&r, "TAG"), Some("v1.0"));
        assert_eq!(var(&r, "BRANCH"), None);
    }

    #[test]
    fn long_messages_are_cut_to_what_codepipeline_accepts() {
        let long = "é".repeat(3000);
        let r = request_for(&push("refs/heads/main", &[], &long));
        let value = var(&r, "COMMIT_MESSAGE").unwrap();
        assert_eq!(value.chars().count(), MAX_VARIABLE_VALUE);
        assert!(value.ends_with('…'));
    }

    #[test]
    fn empty_values_are_left_out() {
        let r = request_for(&push("refs/heads/main", &[], ""));
        assert_eq!(var(&r, "COMMIT_MESSAGE"), None);
    }

    #[test]
    fn token_is_stable_per_delivery_and_distinct_per_pipeline() {
        let a = client_request_token("delivery-1", "shop");
        assert_eq!(a, client_request_token("delivery-1", "shop"));
        assert_ne!(a, client_request_token("delivery-2", "shop"));
        assert_ne!(a, client_request_token("delivery-1", "api"));
        assert!(a.len() <= 128);
        assert!(a.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'));
    }
}
