//! The TLS configuration of Gantry's outside systems: Slack's client and the AWS SDK's.
//!
//! reqwest's default verifier reads the system's certificate store each time a client is built,
//! a large share of a Slack-using function's cold start
//! (docs/performance.md#start-up-below-the-naive-floor). Slack's API and AWS's endpoints are served under public CAs that are all
//! in Mozilla's root program, so Gantry verifies them against Mozilla's roots compiled in
//! (`webpki-roots`), which costs nothing to load. An operator whose traffic goes through a
//! TLS-inspecting proxy with a private CA (or who reaches a private endpoint) points
//! `SSL_CERT_FILE` or `SSL_CERT_DIR` at a store that has it, as for any program on Lambda; then
//! the roots are read from that store, as the system verifiers of reqwest and the SDK read them
//! (rustls-native-certs, checked with rustls's WebPKI verifier): one configuration for both, so
//! neither client needs a verifier of its own (the SDK's default client would bring HTTP/2 and a
//! second connector into every binary: about half a MiB of code, resident in every warm process).

use rustls::ClientConfig;
use std::sync::Arc;

/// The variables that name a custom certificate store (read by rustls-native-certs).
pub const CUSTOM_STORE_VARIABLES: [&str; 2] = ["SSL_CERT_FILE", "SSL_CERT_DIR"];

/// The configuration both clients use: Mozilla's roots, or the custom store's when one is
/// configured (read again for each client, as the system verifiers read it: the environment of
/// the moment decides, which the private-CA test relies on).
pub fn client_config() -> Result<ClientConfig, rustls::Error> {
    with_roots(roots(custom_store_configured()))
}

/// A configuration that verifies against `roots`, speaking HTTP/1.1. Fails only for a provider
/// without cipher suites for TLS 1.2 or 1.3; aws-lc-rs's default has both (this crate enables
/// rustls's `tls12`), as every test that builds it checks. Should it fail, the SDK is left with no
/// HTTP client (its calls fail, saying so) and Slack's client with reqwest's own verifier.
fn with_roots(roots: rustls::RootCertStore) -> Result<ClientConfig, rustls::Error> {
    let mut config = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    // What reqwest offers itself when built without HTTP/2 (as Gantry builds it).
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// Mozilla's roots, or the custom store's when `custom_store`.
fn roots(custom_store: bool) -> rustls::RootCertStore {
    if custom_store {
        custom_store_roots()
    } else {
        mozilla_roots()
    }
}

/// Mozilla's root program, as compiled into `webpki-roots` (no parsing at start-up).
fn mozilla_roots() -> rustls::RootCertStore {
    rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    }
}

/// The roots in the store `SSL_CERT_FILE`/`SSL_CERT_DIR` name, read as reqwest's and the SDK's
/// system verifiers read them on Linux: certificates that do not parse are skipped and logged. An
/// empty store is not an error here: every connection is then refused as of an unknown issuer,
/// which says what is wrong where it matters.
fn custom_store_roots() -> rustls::RootCertStore {
    let found = rustls_native_certs::load_native_certs();
    for error in &found.errors {
        tracing::warn!(%error, "reading the custom certificate store");
    }
    let mut roots = rustls::RootCertStore::empty();
    let (_, ignored) = roots.add_parsable_certificates(found.certs);
    if ignored > 0 {
        tracing::warn!(ignored, "certificates in the custom store do not parse");
    }
    if roots.is_empty() {
        tracing::warn!("the custom certificate store holds no certificate");
    }
    roots
}

/// The crypto provider the SDK's HTTP client uses too (one copy in the binary).
fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// True when the environment names a custom certificate store.
pub fn custom_store_configured() -> bool {
    CUSTOM_STORE_VARIABLES
        .iter()
        .any(|name| std::env::var_os(name).is_some_and(|v| !v.is_empty()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_configuration_speaks_http1_with_sni() {
        let config = with_roots(mozilla_roots()).expect("a configuration");
        assert_eq!(config.alpn_protocols, vec![b"http/1.1".to_vec()]);
        assert!(config.enable_sni);
    }

    /// A real public chain (aws.amazon.com's, as served on 2025-08-13; tests/fixtures/tls), checked
    /// at a fixed time inside its validity: the compiled-in roots verify it for its own name and
    /// refuse it for another.
    #[test]
    fn the_compiled_in_roots_verify_a_real_public_chain() {
        use rustls::client::danger::ServerCertVerifier;
        use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
        let chain: Vec<CertificateDer<'static>> = [
            &include_bytes!("../../../../tests/fixtures/tls/aws_amazon_com_valid_1.crt")[..],
            &include_bytes!("../../../../tests/fixtures/tls/aws_amazon_com_valid_2.crt")[..],
            &include_bytes!("../../../../tests/fixtures/tls/aws_amazon_com_valid_3.crt")[..],
            &include_bytes!("../../../../tests/fixtures/tls/aws_amazon_com_valid_4.crt")[..],
        ]
        .into_iter()
        .map(|der| CertificateDer::from(der.to_vec()))
        .collect();
        let verifier = rustls::client::WebPkiServerVerifier::builder_with_provider(
            Arc::new(mozilla_roots()),
            provider(),
        )
        .build()
        .expect("verifier");
        let at = UnixTime::since_unix_epoch(std::time::Duration::from_secs(1_786_530_173));
        let verify = |name: &'static str| {
            verifier.verify_server_cert(
                &chain[0],
                &chain[1..],
                &ServerName::try_from(name).expect("name"),
                &[],
                at,
            )
        };
        assert!(
            verify("aws.amazon.com").is_ok(),
            "{:?}",
            verify("aws.amazon.com")
        );
        assert!(verify("slack.com").is_err());
    }

    #[test]
    fn reqwest_takes_the_configuration() {
        // reqwest recognises a preconfigured rustls config only when it is its own rustls
        // version's type; otherwise `build()` fails ("unknown TLS backend").
        let config = with_roots(mozilla_roots()).expect("a configuration");
        let client = reqwest::Client::builder()
            .tls_backend_preconfigured(config)
            .build();
        assert!(client.is_ok(), "{:?}", client.err());
    }
}
