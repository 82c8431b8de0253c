use super::SignatureError;
use crate::secrets::SecretString;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

const HEADER: &str = "X-Gitlab-Token";

/// Verifies GitLab's `X-Gitlab-Token` (a shared token, not a signature) against any of `tokens`.
///
/// Both sides are hashed first so the constant-time comparison does not leak the token's length.
pub fn verify_gitlab(header: Option<&str>, tokens: &[SecretString]) -> Result<(), SignatureError> {
    if tokens.is_empty() {
        return Err(SignatureError::NoSecretConfigured);
    }
    let presented = header.ok_or(SignatureError::MissingHeader(HEADER))?;
    // An empty header never authenticates, even if an empty token slipped into the secret.
    if presented.is_empty() {
        return Err(SignatureError::Mismatch);
    }
    let presented = Sha256::digest(presented.as_bytes());
    // Check every token (no early exit) so timing does not reveal which one matched.
    let matched = tokens.iter().fold(subtle::Choice::from(0), |acc, t| {
        acc | Sha256::digest(t.expose().as_bytes()).ct_eq(&presented)
    });
    if bool::from(matched) {
        Ok(())
    } else {
        Err(SignatureError::Mismatch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(values: &[&str]) -> Vec<SecretString> {
        values.iter().map(|v| SecretString::new(*v)).collect()
    }

    #[test]
    fn an_empty_header_is_refused_even_against_an_empty_token() {
        assert_eq!(
            verify_gitlab(Some(""), &tokens(&[""])),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify_gitlab(Some(""), &tokens(&["t"])),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn accepts_any_configured_token() {
        let t = tokens(&["first", "second"]);
        assert_eq!(verify_gitlab(Some("first"), &t), Ok(()));
        assert_eq!(verify_gitlab(Some("second"), &t), Ok(()));
    }

    #[test]
    fn rejects_unknown_prefix_and_missing_tokens() {
        let t = tokens(&["secret-token"]);
        assert_eq!(
            verify_gitlab(Some("secret"), &t),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify_gitlab(Some("secret-token "), &t),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify_gitlab(None, &t),
            Err(SignatureError::MissingHeader(HEADER))
        );
        assert_eq!(
            verify_gitlab(Some("x"), &[]),
            Err(SignatureError::NoSecretConfigured)
        );
    }
}
