//! One `aws-config` load per cold start, shared by every client a function builds.

use aws_config::{BehaviorVersion, SdkConfig};

/// Loads the standard AWS configuration chain once.
///
/// This deliberately adds nothing of its own: region, credentials and, above all,
/// `AWS_ENDPOINT_URL` (and the per-service `AWS_ENDPOINT_URL_<SERVICE>`) are honoured exactly as
/// the SDK documents, which is how the tests and the local demo reach the emulator.
pub async fn load() -> SdkConfig {
    aws_config::load_defaults(BehaviorVersion::latest()).await
}
