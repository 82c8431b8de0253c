/// Why a Slack call did not succeed. `is_permanent` errors will not go away by retrying.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum SlackError {
    #[error("Slack refused {method}: {error}")]
    Api { method: String, error: String },
    #[error("Slack rate-limited {method} for {retry_after_seconds}s, longer than this invocation may wait")]
    RateLimited {
        method: String,
        retry_after_seconds: u64,
    },
    /// Slack may have done it: `internal_error`/`fatal_error`, a 5xx, a timeout or a broken
    /// answer after the request went out. Not retried: look for the message before posting
    /// again.
    #[error("Slack may or may not have done {method}: {reason}")]
    MaybePosted { method: String, reason: String },
    #[error("Slack did not answer {method} after {attempts} attempts: {reason}")]
    Unavailable {
        method: String,
        attempts: u32,
        reason: String,
    },
}

/// Slack error codes a retry cannot fix: the configuration (token, channel, scopes) or the
/// message itself must change.
const PERMANENT: [&str; 23] = [
    "invalid_auth",
    "not_authed",
    "account_inactive",
    "token_revoked",
    "token_expired",
    "no_permission",
    "missing_scope",
    "not_allowed_token_type",
    "channel_not_found",
    "not_in_channel",
    "is_archived",
    "msg_too_long",
    "no_text",
    "invalid_blocks",
    "invalid_blocks_format",
    "message_not_found",
    "cant_update_message",
    "users_not_found",
    "user_not_found",
    "no_such_subteam",
    "restricted_action",
    "invalid_arguments",
    // Gantry's own: a response_url outside Slack's origin is never called.
    "response_url_not_slack",
];

impl SlackError {
    /// True when retrying the same call cannot succeed.
    pub fn is_permanent(&self) -> bool {
        match self {
            SlackError::Api { error, .. } => PERMANENT.contains(&error.as_str()),
            _ => false,
        }
    }

    /// True when the call may have taken effect although it did not answer success.
    pub fn maybe_posted(&self) -> bool {
        matches!(self, SlackError::MaybePosted { .. })
    }

    /// The Slack error code, when Slack gave one.
    pub fn code(&self) -> Option<&str> {
        match self {
            SlackError::Api { error, .. } => Some(error),
            _ => None,
        }
    }
}
