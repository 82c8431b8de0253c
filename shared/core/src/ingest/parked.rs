//! A verified push that CodePipeline could not start in time, parked in a queue and started
//! later by the same function (the queue is its SQS event source).

use super::start::StartRequest;

/// One start, as the queue carries it: the request exactly as it would have been sent (its
/// `clientRequestToken` makes a second start of it a no-op) and what the newest-push check needs.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ParkedStart {
    pub request: StartRequest,
    /// `refs/heads/x` or `refs/tags/x`.
    pub git_ref: String,
    /// The provider's push time (epoch seconds), when it said.
    pub pushed_at: Option<i64>,
    /// The signed push's facts, for the record of the execution it starts (absent from messages
    /// parked before Gantry kept that record: such an execution is not known to four-eyes).
    #[serde(default)]
    pub facts: Option<super::started::PushFacts>,
}

/// Why a queue message is not a start this release can make.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    #[error("not a parked start: {0}")]
    Unreadable(String),
    /// Parked by a newer release: left on the queue for it (`schema`).
    #[error(transparent)]
    TooNew(#[from] crate::schema::TooNew),
}

impl ParkedStart {
    /// The queue message's body: the start as JSON, with this release's schema version (`v`).
    pub fn to_body(&self) -> Result<String, serde_json::Error> {
        let mut body = serde_json::to_value(self)?;
        if let Some(fields) = body.as_object_mut() {
            fields.insert(
                crate::schema::FIELD.into(),
                crate::schema::SCHEMA_VERSION.into(),
            );
        }
        serde_json::to_string(&body)
    }

    /// A queue message's body read back. One without `v` is 0.1.0's; unknown fields are
    /// ignored, so an older release reads what a newer one adds.
    pub fn from_body(body: &str) -> Result<Self, BodyError> {
        let json: serde_json::Value =
            serde_json::from_str(body).map_err(|e| BodyError::Unreadable(e.to_string()))?;
        crate::schema::check_json(&json)?;
        serde_json::from_value(json).map_err(|e| BodyError::Unreadable(e.to_string()))
    }
}

/// Why a start could not be parked. The text is for logs only.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error("no retry queue is configured (GANTRY_RETRY_QUEUE_URL)")]
    NotConfigured,
    #[error("the retry queue refused the message: {0}")]
    Unavailable(String),
}

/// Whether a push is the newest started for its pipeline and ref.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Newest {
    /// Recorded as the newest (or as new as the newest): go ahead.
    Recorded,
    /// A newer push already started: starting this one would roll the pipeline back.
    Older { newest: i64 },
}

/// What became of a parked start taken from the queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParkedOutcome {
    /// Started (or found already started through its token): the execution id.
    Started(String),
    /// A newer push started meanwhile: dropped.
    Superseded { newest: i64 },
    /// Not started: leave it on the queue (its redrive policy ends in the dead-letter queue).
    Retry(String),
}

#[cfg(test)]
mod body_tests {
    use super::*;

    fn parked() -> ParkedStart {
        ParkedStart {
            request: StartRequest {
                pipeline: "shop".into(),
                client_request_token: "t".into(),
                source_action: "Source".into(),
                commit_id: "abc".into(),
                variables: vec![],
            },
            git_ref: "refs/heads/main".into(),
            pushed_at: Some(1),
            facts: None,
        }
    }

    #[test]
    fn a_parked_start_reads_back_and_carries_its_version() {
        let body = parked().to_body().unwrap();
        let json: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(json["v"], crate::schema::SCHEMA_VERSION);
        assert_eq!(ParkedStart::from_body(&body).unwrap(), parked());
    }

    #[test]
    fn an_unversioned_body_with_fields_added_later_still_reads() {
        // 0.1.0's shape (no `v`), plus a field a later release might add: both read.
        let mut json = serde_json::to_value(parked()).unwrap();
        json["added_later"] = serde_json::json!({"x": 1});
        let read = ParkedStart::from_body(&json.to_string()).unwrap();
        assert_eq!(read, parked());
    }

    #[test]
    fn a_body_a_newer_release_parked_is_not_started_from_a_guess() {
        let mut json = serde_json::to_value(parked()).unwrap();
        json["v"] = serde_json::json!(crate::schema::SCHEMA_VERSION + 1);
        assert!(matches!(
            ParkedStart::from_body(&json.to_string()),
            Err(BodyError::TooNew(_))
        ));
        assert!(matches!(
            ParkedStart::from_body("{"),
            Err(BodyError::Unreadable(_))
        ));
    }
}
