use super::{hmac_sha256_matches, SignatureError};
use crate::secrets::SecretString;

const HEADER: &str = "X-Hub-Signature-256";

/// Verifies GitHub's `X-Hub-Signature-256: sha256=<hex>` over the raw body against any of
/// `secrets`. The raw body is what GitHub signed: verify before parsing anything.
pub fn verify_github(
    header: Option<&str>,
    body: &[u8],
    secrets: &[SecretString],
) -> Result<(), SignatureError> {
    if secrets.is_empty() {
        return Err(SignatureError::NoSecretConfigured);
    }
    let header = header.ok_or(SignatureError::MissingHeader(HEADER))?;
    let tag = header
        .trim()
        .strip_prefix("sha256=")
        .and_then(|h| hex::decode(h).ok())
        .filter(|t| t.len() == 32)
        .ok_or(SignatureError::Malformed(HEADER))?;
    if secrets
        .iter()
        .any(|s| hmac_sha256_matches(s.expose().as_bytes(), &[body], &tag))
    {
        Ok(())
    } else {
        Err(SignatureError::Mismatch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // GitHub's documented example ("Validating webhook deliveries").
    const DOC_SECRET: &str = "It's a Secret to Everybody";
    const DOC_BODY: &[u8] = b"Hello, World!";
    const DOC_HEADER: &str =
        "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";

    fn secrets(values: &[&str]) -> Vec<SecretString> {
        values.iter().map(|v| SecretString::new(*v)).collect()
    }

    #[test]
    fn accepts_githubs_documented_example() {
        assert_eq!(
            verify_github(Some(DOC_HEADER), DOC_BODY, &secrets(&[DOC_SECRET])),
            Ok(())
        );
    }

    #[test]
    fn accepts_any_of_several_secrets_during_rotation() {
        let keys = secrets(&["old-secret", DOC_SECRET]);
        assert_eq!(verify_github(Some(DOC_HEADER), DOC_BODY, &keys), Ok(()));
    }

    #[test]
    fn rejects_a_changed_body() {
        assert_eq!(
            verify_github(Some(DOC_HEADER), b"Hello, World?", &secrets(&[DOC_SECRET])),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn rejects_the_wrong_secret() {
        assert_eq!(
            verify_github(Some(DOC_HEADER), DOC_BODY, &secrets(&["nope"])),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn rejects_missing_and_malformed_headers() {
        let keys = secrets(&[DOC_SECRET]);
        assert_eq!(
            verify_github(None, DOC_BODY, &keys),
            Err(SignatureError::MissingHeader(HEADER))
        );
        for bad in [
            "757107ea",
            "sha1=757107ea",
            "sha256=zz",
            "sha256=",
            "sha256=7571",
        ] {
            assert_eq!(
                verify_github(Some(bad), DOC_BODY, &keys),
                Err(SignatureError::Malformed(HEADER)),
                "{bad}"
            );
        }
    }

    #[test]
    fn no_configured_secret_rejects_everything() {
        assert_eq!(
            verify_github(Some(DOC_HEADER), DOC_BODY, &[]),
            Err(SignatureError::NoSecretConfigured)
        );
    }
}
