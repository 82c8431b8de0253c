//! Proof that a request comes from who it claims: GitHub, GitLab and Slack each sign differently.
//!
//! Every comparison is constant-time, and every check accepts several secrets so a secret can be
//! rotated without downtime (add the new one, switch the provider, remove the old one).

mod github;
mod gitlab;
mod slack;

pub use github::verify_github;
pub use gitlab::verify_gitlab;
pub use slack::{verify_slack, SLACK_MAX_SKEW_SECONDS};

/// Why a request was not accepted as signed. The messages name no secret.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SignatureError {
    #[error("missing {0} header")]
    MissingHeader(&'static str),
    #[error("malformed {0} header")]
    Malformed(&'static str),
    #[error("signature does not match")]
    Mismatch,
    #[error("no secret is configured for this provider")]
    NoSecretConfigured,
    #[error("request timestamp is {0} seconds away from now (more than five minutes: a replay?)")]
    Stale(i64),
}

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// True when HMAC-SHA256(key, parts concatenated) equals `tag`, compared in constant time.
fn hmac_sha256_matches(key: &[u8], parts: &[&[u8]], tag: &[u8]) -> bool {
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(key) else {
        return false;
    };
    for part in parts {
        mac.update(part);
    }
    mac.verify_slice(tag).is_ok()
}

/// HMAC-SHA256 as lowercase hex: what senders put in their headers (used by tests and the demo).
pub fn hmac_sha256_hex(key: &[u8], parts: &[&[u8]]) -> String {
    // An HMAC key of any length is valid, so this cannot fail; fall back to an empty tag anyway.
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(key) else {
        return String::new();
    };
    for part in parts {
        mac.update(part);
    }
    hex::encode(mac.finalize().into_bytes())
}
