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
    #[error("Slack did not answer {method} after {attempts} attempts: {reason}")]
    Unavailable {
        method: String,
        attempts: u32,
        reason: String,
    },
}

/// Slack error codes a retry cannot fix: the configuration (token, channel, scopes) or the
/// message itself must change.
const PERMANENT: [&str; 22] = [
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
];

impl SlackError {
    /// True when retrying the same call cannot succeed.
    pub fn is_permanent(&self) -> bool {
        match self {
            SlackError::Api { error, .. } => PERMANENT.contains(&error.as_str()),
            _ => false,
        }
    }

    /// The Slack error code, when Slack gave one.
    pub fn code(&self) -> Option<&str> {
        match self {
            SlackError::Api { error, .. } => Some(error),
            _ => None,
        }
    }
}
