//! `ArtifactStore` on S3, with the temporary credentials CodePipeline hands the job.

use gantry_core::traffic::{ArtifactCredentials, ArtifactStore, InputArtifact, ShiftError};

/// Larger than any artifact that holds an `imagedefinitions.json` worth reading.
const MAX_ARTIFACT_BYTES: i64 = 64 * 1024 * 1024;

/// The pipeline's artifact store.
#[derive(Debug, Clone)]
pub struct S3Artifacts {
    pub sdk: aws_config::SdkConfig,
}

impl ArtifactStore for S3Artifacts {
    async fn fetch(
        &self,
        artifact: &InputArtifact,
        credentials: Option<&ArtifactCredentials>,
    ) -> Result<Vec<u8>, ShiftError> {
        let mut config = aws_sdk_s3::config::Builder::from(&self.sdk);
        if let Some(c) = credentials {
            config = config.credentials_provider(aws_sdk_s3::config::Credentials::new(
                &c.access_key_id,
                &c.secret_access_key,
                Some(c.session_token.clone()),
                None,
                "codepipeline-artifact-credentials",
            ));
        }
        if self.sdk.endpoint_url().is_some() {
            // A custom endpoint (an emulator, S3-compatible storage) has no per-bucket hosts.
            config = config.force_path_style(true);
        }
        let client = aws_sdk_s3::Client::from_conf(config.build());
        let operation = format!("S3 GetObject s3://{}/{}", artifact.bucket, artifact.key);
        let object = client
            .get_object()
            .bucket(&artifact.bucket)
            .key(&artifact.key)
            .send()
            .await
            .map_err(|e| crate::aws_error::shift_error(&operation, e))?;
        if object.content_length().unwrap_or(0) > MAX_ARTIFACT_BYTES {
            return Err(ShiftError::Setup(format!(
                "input artifact {} is over {} MiB: put imagedefinitions.json in a small artifact of its own",
                artifact.name,
                MAX_ARTIFACT_BYTES / 1024 / 1024
            )));
        }
        let bytes = object
            .body
            .collect()
            .await
            .map_err(|e| crate::aws_error::local_error(&operation, e))?;
        Ok(bytes.into_bytes().to_vec())
    }
}
