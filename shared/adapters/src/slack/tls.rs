//! The Slack client's TLS configuration.
//!
//! reqwest's default verifier reads the system's certificate store each time a client is built:
//! about 5 ms on this machine, a third of a Slack-using function's cold start (the bench's
//! "cold start" table). Slack's API is served under public CAs that are all in Mozilla's root
//! program, so Gantry verifies it against Mozilla's roots compiled in (`webpki-roots`), which
//! costs nothing to load. An operator whose Slack traffic goes through a TLS-inspecting proxy
//! with a private CA points `SSL_CERT_FILE` or `SSL_CERT_DIR` at a store that has it, as for any
//! program on Lambda; then the system verifier, which reads those, is used instead.

use rustls::ClientConfig;
use std::sync::Arc;

/// The variables that name a custom certificate store (read by the system verifier).
pub const CUSTOM_STORE_VARIABLES: [&str; 2] = ["SSL_CERT_FILE", "SSL_CERT_DIR"];

/// A rustls configuration with Mozilla's roots, or `None` when a custom store is configured (the
/// caller then keeps reqwest's system verifier).
pub fn bundled_roots(custom_store: bool) -> Option<ClientConfig> {
    if custom_store {
        return None;
    }
    let mut config = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .ok()?
        .with_root_certificates(mozilla_roots())
        .with_no_client_auth();
    // What reqwest offers itself when built without HTTP/2 (as Gantry builds it).
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Some(config)
}

/// Mozilla's root program, as compiled into `webpki-roots` (no parsing at start-up).
fn mozilla_roots() -> rustls::RootCertStore {
    rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    }
}

/// The crypto provider reqwest and the AWS SDK use too (one copy in the binary).
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
        let config = bundled_roots(false).expect("a configuration");
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
    fn a_custom_store_keeps_the_system_verifier() {
        assert!(bundled_roots(true).is_none());
    }

    #[test]
    fn reqwest_takes_the_configuration() {
        // reqwest recognises a preconfigured rustls config only when it is its own rustls
        // version's type; otherwise `build()` fails ("unknown TLS backend").
        let config = bundled_roots(false).expect("a configuration");
        let client = reqwest::Client::builder()
            .tls_backend_preconfigured(config)
            .build();
        assert!(client.is_ok(), "{:?}", client.err());
    }
}
