//! One AWS configuration per cold start, shared by every client a function builds.
//!
//! What a deployed function's start-up does not need is left out
//! (docs/performance.md#start-up-below-the-naive-floor), and each cut falls
//! back to the SDK's standard behaviour where a developer's machine may need it:
//! - the system certificate store: the SDK's HTTPS client (the private `http` module) verifies
//!   with Mozilla's compiled-in roots, unless `SSL_CERT_FILE`/`SSL_CERT_DIR` name a custom
//!   store (a private CA, a TLS-inspecting proxy), whose roots it then reads (`slack/tls.rs`);
//!   the SDK's default client is not built into the functions at all (the workspace leaves
//!   out the SDK's `default-https-client` feature);
//! - the credential chain (profiles, SSO, web identity, ECS, IMDS): Lambda hands the role's
//!   credentials over in `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY`/`AWS_SESSION_TOKEN`; when
//!   they are absent the default chain is kept;
//! - the region chain: `AWS_REGION` when set, else the default chain (profile, IMDS);
//! - the shared config files (`~/.aws/config`, `~/.aws/credentials`): not read inside Lambda
//!   (`AWS_LAMBDA_RUNTIME_API` set), where there are none.
//!
//! `AWS_ENDPOINT_URL` (and the per-service `AWS_ENDPOINT_URL_<SERVICE>`) are honoured exactly as
//! the SDK documents, which is how the tests and the local demo reach the emulator.

mod http;

use aws_config::environment::EnvironmentVariableCredentialsProvider;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_runtime::env_config::file::{EnvConfigFileKind, EnvConfigFiles};

/// Loads the AWS configuration once, with the shortcuts above.
pub async fn load() -> SdkConfig {
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let mut loader = aws_config::defaults(BehaviorVersion::latest());
    match crate::slack::tls::client_config() {
        Ok(tls) => loader = loader.http_client(http::client(tls)),
        // No HTTPS client then: every AWS call fails and says why, none goes out unverified.
        Err(error) => tracing::error!(%error, "no TLS configuration for the AWS clients"),
    }
    if env("AWS_ACCESS_KEY_ID").is_some() && env("AWS_SECRET_ACCESS_KEY").is_some() {
        loader = loader.credentials_provider(EnvironmentVariableCredentialsProvider::new());
    }
    if let Some(region) = env("AWS_REGION") {
        loader = loader.region(Region::new(region));
    }
    if env("AWS_LAMBDA_RUNTIME_API").is_some() {
        // An empty profile in place of the files: the loader reads nothing from disk.
        let none = EnvConfigFiles::builder()
            .with_contents(EnvConfigFileKind::Config, "")
            .build();
        loader = loader.profile_files(none);
    }
    loader.load().await
}
