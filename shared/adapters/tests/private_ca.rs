//! A private CA named by `SSL_CERT_FILE` still works for the AWS clients and for Slack's (issue
//! 16): both verify with Mozilla's compiled-in roots by default, which do not hold a company's own
//! CA (a TLS-inspecting proxy, a private endpoint), so naming a store must switch both to its
//! roots.
//!
//! Its own test binary (one process): it sets `SSL_CERT_FILE` and the AWS variables, which are
//! process-wide. The certificates are in tests/fixtures/tls (`private_*`, made for this test with
//! openssl: a CA, and a server certificate it signed for `localhost` and 127.0.0.1, valid to 2126).

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures/tls");

/// An HTTPS server under the private CA's certificate that answers every request with a secret
/// (which Slack's client also takes for a successful answer: it carries `"ok":true`).
async fn secrets_manager_under_a_private_ca() -> std::net::SocketAddr {
    let cert = CertificateDer::from_pem_file(format!("{FIXTURES}/private_server.crt"))
        .expect("server certificate");
    let key =
        PrivateKeyDer::from_pem_file(format!("{FIXTURES}/private_server.key")).expect("server key");
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("versions")
    .with_no_client_auth()
    .with_single_cert(vec![cert], key)
    .expect("server configuration");
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address = listener.local_addr().expect("address");
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                // A client that does not trust the CA ends the handshake: nothing to answer.
                let Ok(mut tls) = acceptor.accept(socket).await else {
                    return;
                };
                let mut request = Vec::new();
                let mut buffer = [0u8; 4096];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    match tls.read(&mut buffer).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => request.extend_from_slice(&buffer[..n]),
                    }
                }
                let body = r#"{"ok":true,"ARN":"arn:aws:secretsmanager:us-east-1:123456789012:secret:s","Name":"s","SecretString":"from the private endpoint"}"#;
                let answer = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/x-amz-json-1.1\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = tls.write_all(answer.as_bytes()).await;
                let _ = tls.shutdown().await;
            });
        }
    });
    address
}

async fn read_secret() -> Result<Option<String>, String> {
    let sdk = gantry_adapters::sdk::load().await;
    aws_sdk_secretsmanager::Client::new(&sdk)
        .get_secret_value()
        .secret_id("s")
        .send()
        .await
        .map(|out| out.secret_string().map(str::to_string))
        .map_err(|e| format!("{e:?}"))
}

/// A Slack read through a client built now (as a function builds it at start-up).
async fn read_slack(address: std::net::SocketAddr) -> Result<(), String> {
    let slack = gantry_adapters::slack::SlackClient::with_policy(
        &format!("https://localhost:{}", address.port()),
        gantry_core::secrets::SecretString::new("xoxb-test"),
        gantry_adapters::slack::RetryPolicy::for_clicks(),
    );
    slack
        .read("auth.test", &[])
        .await
        .map(|_| ())
        .map_err(|e| e.to_string())
}

#[tokio::test]
async fn a_private_ca_named_by_ssl_cert_file_is_trusted_and_only_then() {
    let address = secrets_manager_under_a_private_ca().await;
    // As inside Lambda: the role's credentials and the region in the environment, no profile files.
    for (name, value) in [
        ("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE"),
        ("AWS_SECRET_ACCESS_KEY", "secret"),
        ("AWS_REGION", "us-east-1"),
        ("AWS_LAMBDA_RUNTIME_API", "127.0.0.1:9"),
        ("AWS_MAX_ATTEMPTS", "1"),
    ] {
        std::env::set_var(name, value);
    }
    std::env::set_var(
        "AWS_ENDPOINT_URL",
        format!("https://localhost:{}", address.port()),
    );
    std::env::remove_var("SSL_CERT_FILE");
    std::env::remove_var("SSL_CERT_DIR");

    // Mozilla's roots (the default) do not hold the private CA: the connection is refused.
    let refused = read_secret().await;
    let why = refused.expect_err("trusted without the CA");
    assert!(why.contains("UnknownIssuer"), "{why}");
    let why = read_slack(address)
        .await
        .expect_err("Slack trusted without the CA");
    // The handshake fails, so the client reports it could not connect (it never names the cause).
    assert!(why.contains("could not connect"), "{why}");

    // Named by SSL_CERT_FILE, the private CA is trusted and the secret is read.
    std::env::set_var("SSL_CERT_FILE", format!("{FIXTURES}/private_ca.crt"));
    assert_eq!(
        read_secret().await,
        Ok(Some("from the private endpoint".to_string()))
    );
    assert_eq!(read_slack(address).await, Ok(()));
}
