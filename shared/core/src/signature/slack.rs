use super::{hmac_sha256_matches, SignatureError};
use crate::secrets::SecretString;

/// Slack's replay window: requests stamped further than this from now are refused.
pub const SLACK_MAX_SKEW_SECONDS: i64 = 5 * 60;

const SIGNATURE: &str = "X-Slack-Signature";
const TIMESTAMP: &str = "X-Slack-Request-Timestamp";

/// Verifies Slack's request signature: `v0=` HMAC-SHA256 of `v0:{timestamp}:{raw body}`, and a
/// timestamp within five minutes of `now` (seconds since the epoch), checked first.
pub fn verify_slack(
    signature: Option<&str>,
    timestamp: Option<&str>,
    body: &[u8],
    signing_secret: &SecretString,
    now: i64,
) -> Result<(), SignatureError> {
    let ts_text = timestamp.ok_or(SignatureError::MissingHeader(TIMESTAMP))?;
    let ts: i64 = ts_text
        .trim()
        .parse()
        .map_err(|_| SignatureError::Malformed(TIMESTAMP))?;
    let skew = now.saturating_sub(ts);
    if skew.abs() > SLACK_MAX_SKEW_SECONDS {
        return Err(SignatureError::Stale(skew));
    }
    let signature = signature.ok_or(SignatureError::MissingHeader(SIGNATURE))?;
    let tag = signature
        .trim()
        .strip_prefix("v0=")
        .and_then(|h| hex::decode(h).ok())
        .filter(|t| t.len() == 32)
        .ok_or(SignatureError::Malformed(SIGNATURE))?;
    let parts: [&[u8]; 4] = [b"v0:", ts_text.trim().as_bytes(), b":", body];
    if hmac_sha256_matches(signing_secret.expose().as_bytes(), &parts, &tag) {
        Ok(())
    } else {
        Err(SignatureError::Mismatch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Slack's documented example ("Verifying requests from Slack").
    const SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";
    const TS: &str = "1531420618";
    const BODY: &str = "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
    const SIG: &str = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503";

    fn verify_at(now: i64) -> Result<(), SignatureError> {
        verify_slack(
            Some(SIG),
            Some(TS),
            BODY.as_bytes(),
            &SecretString::new(SECRET),
            now,
        )
    }

    #[test]
    fn accepts_slacks_documented_example() {
        assert_eq!(verify_at(1531420618), Ok(()));
    }

    #[test]
    fn replay_window_edges() {
        assert_eq!(verify_at(1531420618 + 300), Ok(()));
        assert_eq!(verify_at(1531420618 - 300), Ok(()));
        assert_eq!(verify_at(1531420618 + 301), Err(SignatureError::Stale(301)));
        assert_eq!(
            verify_at(1531420618 - 301),
            Err(SignatureError::Stale(-301))
        );
    }

    #[test]
    fn stale_is_refused_before_the_signature_is_looked_at() {
        let r = verify_slack(
            Some("garbage"),
            Some(TS),
            b"",
            &SecretString::new(SECRET),
            1531420618 + 10_000,
        );
        assert_eq!(r, Err(SignatureError::Stale(10_000)));
    }

    #[test]
    fn rejects_a_tampered_body_or_timestamp() {
        let secret = SecretString::new(SECRET);
        let tampered = BODY.replace("roadrunner", "coyote");
        assert_eq!(
            verify_slack(
                Some(SIG),
                Some(TS),
                tampered.as_bytes(),
                &secret,
                1531420618
            ),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify_slack(
                Some(SIG),
                Some("1531420619"),
                BODY.as_bytes(),
                &secret,
                1531420618
            ),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn rejects_missing_or_malformed_headers() {
        let secret = SecretString::new(SECRET);
        assert_eq!(
            verify_slack(Some(SIG), None, b"", &secret, 0),
            Err(SignatureError::MissingHeader(TIMESTAMP))
        );
        assert_eq!(
            verify_slack(Some(SIG), Some("soon"), b"", &secret, 0),
            Err(SignatureError::Malformed(TIMESTAMP))
        );
        assert_eq!(
            verify_slack(None, Some(TS), b"", &secret, 1531420618),
            Err(SignatureError::MissingHeader(SIGNATURE))
        );
        assert_eq!(
            verify_slack(Some("v1=abc"), Some(TS), b"", &secret, 1531420618),
            Err(SignatureError::Malformed(SIGNATURE))
        );
    }
}
