//! The AWS SDK's HTTP client: the SDK's own stack (hyper 1 + rustls + aws-lc-rs), verifying as
//! the Slack client does: Mozilla's roots compiled in, or a custom store's (`slack/tls.rs`).
//!
//! The SDK's default HTTPS client loads the system's certificate store the first time it builds a
//! connector, which is on the first AWS call of a cold start (the secret read): about a third of
//! the naive floor's start-up on this machine, paid even when the endpoint is plain HTTP (the
//! emulator). The SDK offers no way to hand it a prepared rustls configuration, so this module is a
//! small [`HttpClient`] of its own over the same crates the SDK's uses: one hyper-util pool per
//! timeout setting, rustls with the configuration `slack::tls::client_config` builds (the same
//! roots, provider and ALPN for both of Gantry's outside systems).
//!
//! [`super::load`] always uses it: the functions are built without the SDK's default client
//! (its HTTP/2 and its own connector would be about half a MiB of code in each binary), and
//! with a custom store (`SSL_CERT_FILE`, `SSL_CERT_DIR`) the configuration carries its roots.

use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient,
    SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_runtime_api::http::Response as HttpResponse;
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::retry::ErrorKind;
use hyper_util::client::legacy::connect::HttpConnector as TcpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use std::error::Error as StdError;
use std::sync::{Arc, Mutex};
use std::time::Duration;

type Https = hyper_rustls::HttpsConnector<TcpConnector>;
type BoxError = Box<dyn StdError + Send + Sync>;

/// An SDK HTTP client over `tls` (HTTP/1.1; plain HTTP too, for `AWS_ENDPOINT_URL=http://…`).
///
/// The configuration's ALPN list is cleared: the Slack client's carries `http/1.1`, and
/// hyper-rustls sets ALPN itself and panics on a configuration that already has it.
pub fn client(mut tls: rustls::ClientConfig) -> SharedHttpClient {
    tls.alpn_protocols.clear();
    SharedHttpClient::new(BundledRootsClient {
        tls: Arc::new(tls),
        connectors: Mutex::new(Vec::new()),
    })
}

/// The connect and read timeouts a connector was built for.
type Timeouts = (Option<Duration>, Option<Duration>);

struct BundledRootsClient {
    tls: Arc<rustls::ClientConfig>,
    /// One connector (and so one connection pool) per timeout setting: in practice one.
    connectors: Mutex<Vec<(Timeouts, SharedHttpConnector)>>,
}

impl std::fmt::Debug for BundledRootsClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BundledRootsClient").finish_non_exhaustive()
    }
}

impl HttpClient for BundledRootsClient {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        _components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        let key = (settings.connect_timeout(), settings.read_timeout());
        // A poisoned lock only means another thread panicked mid-push: the list is still sound.
        let mut connectors = self.connectors.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((_, connector)) = connectors.iter().find(|(k, _)| *k == key) {
            return connector.clone();
        }
        let connector = SharedHttpConnector::new(Pool::new(&self.tls, key));
        connectors.push((key, connector.clone()));
        connector
    }
}

/// A hyper-util client (its connection pool) with the SDK's timeouts applied.
struct Pool {
    client: Client<Https, SdkBody>,
    read_timeout: Option<Duration>,
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool")
            .field("read_timeout", &self.read_timeout)
            .finish_non_exhaustive()
    }
}

impl Pool {
    fn new(tls: &Arc<rustls::ClientConfig>, (connect, read): Timeouts) -> Self {
        let mut tcp = TcpConnector::new();
        tcp.enforce_http(false);
        tcp.set_nodelay(true);
        tcp.set_connect_timeout(connect);
        let mut tls = rustls::ClientConfig::clone(tls);
        // Cleared by `client` already; kept here so no path can hand hyper-rustls a preset ALPN.
        tls.alpn_protocols.clear();
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .wrap_connector(tcp);
        Self {
            client: Client::builder(TokioExecutor::new()).build(https),
            read_timeout: read,
        }
    }
}

impl HttpConnector for Pool {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let request = match request.try_into_http1x() {
            Ok(request) => request,
            Err(e) => return HttpConnectorFuture::ready(Err(ConnectorError::user(e.into()))),
        };
        let response = self.client.request(request);
        let read_timeout = self.read_timeout;
        HttpConnectorFuture::new(async move {
            let response = match read_timeout {
                Some(limit) => match tokio::time::timeout(limit, response).await {
                    Ok(response) => response,
                    Err(elapsed) => return Err(ConnectorError::timeout(elapsed.into())),
                },
                None => response.await,
            };
            match response {
                Ok(response) => HttpResponse::try_from(response.map(SdkBody::from_body_1_x))
                    .map_err(|e| ConnectorError::other(e.into(), None)),
                Err(e) => Err(classify(e)),
            }
        })
    }
}

/// Sorts a transport error the way the SDK's own client does, so its retry strategy treats it
/// alike: a connection that failed or broke is an I/O error (retried), a timeout is a timeout.
fn classify(error: hyper_util::client::legacy::Error) -> ConnectorError {
    let io = error.is_connect() || find::<std::io::Error>(&error).is_some();
    let make: fn(BoxError) -> ConnectorError = match find::<hyper::Error>(&error) {
        Some(h) if h.is_timeout() => ConnectorError::timeout,
        Some(h) if h.is_closed() || h.is_canceled() => ConnectorError::io,
        Some(h) if h.is_incomplete_message() => {
            |e| ConnectorError::other(e, Some(ErrorKind::TransientError))
        }
        _ if io => ConnectorError::io,
        _ => |e| ConnectorError::other(e, None),
    };
    make(error.into())
}

fn find<'a, E: StdError + 'static>(error: &'a (dyn StdError + 'static)) -> Option<&'a E> {
    let mut next = Some(error);
    while let Some(error) = next {
        if let Some(found) = error.downcast_ref::<E>() {
            return Some(found);
        }
        next = error.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    fn bundled() -> rustls::ClientConfig {
        crate::slack::tls::client_config().expect("a configuration")
    }

    /// The SDK reaches a plain-HTTP endpoint (as the emulator is reached) through this client,
    /// with the Slack client's TLS configuration (which carries ALPN) handed over as it is.
    #[tokio::test]
    async fn the_sdk_reads_a_secret_through_the_client() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let address = listener.local_addr().expect("address");
        tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.expect("accept");
            let mut request = vec![0u8; 16 * 1024];
            let _ = socket.read(&mut request).await;
            let body = r#"{"ARN":"arn:aws:secretsmanager:us-east-1:1:secret:s","Name":"s","SecretString":"hello"}"#;
            let answer = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/x-amz-json-1.1\r\ncontent-length: {}\r\n\r\n{body}",
                body.len()
            );
            let _ = socket.write_all(answer.as_bytes()).await;
        });
        let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .http_client(client(bundled()))
            .endpoint_url(format!("http://{address}"))
            .region(aws_config::Region::new("us-east-1"))
            .credentials_provider(aws_sdk_secretsmanager::config::Credentials::new(
                "AKID", "secret", None, None, "test",
            ))
            .load()
            .await;
        let secret = aws_sdk_secretsmanager::Client::new(&sdk)
            .get_secret_value()
            .secret_id("s")
            .send()
            .await
            .expect("the secret");
        assert_eq!(secret.secret_string(), Some("hello"));
    }

    /// A refused connection is an I/O error, which the SDK's retry strategy retries.
    #[tokio::test]
    async fn a_refused_connection_is_an_io_error() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let address = listener.local_addr().expect("address");
        drop(listener);
        let pool = Pool::new(&Arc::new(bundled()), (None, None));
        let mut request = HttpRequest::new(SdkBody::empty());
        request.set_uri(format!("http://{address}/")).expect("uri");
        let error = pool.call(request).await.expect_err("refused");
        assert!(error.is_io(), "{error:?}");
    }
}
