//! The CodePipeline job an invocation works on, as plain data.

use aws_lambda_events::event::codepipeline_job::CodePipelineJobEvent;

/// Where a job sits: CodePipeline's `pipelineContext` (`GetJobDetails`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PipelineContext {
    pub pipeline: String,
    pub stage: String,
    pub action: String,
    pub execution_id: String,
}

/// An input artifact's location in the artifact store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputArtifact {
    pub name: String,
    pub bucket: String,
    pub key: String,
}

/// The temporary credentials CodePipeline hands the job for its artifacts.
#[derive(Clone, PartialEq, Eq)]
pub struct ArtifactCredentials {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: String,
}

impl std::fmt::Debug for ArtifactCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ArtifactCredentials")
            .field("access_key_id", &self.access_key_id)
            .finish_non_exhaustive()
    }
}

/// One invocation's job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    pub id: String,
    pub user_parameters: String,
    pub continuation_token: Option<String>,
    pub input_artifacts: Vec<InputArtifact>,
    pub credentials: Option<ArtifactCredentials>,
}

impl Job {
    /// The job of a `CodePipeline.job` event; `None` when the event has no job id (nothing
    /// can be reported for it).
    pub fn from_event(event: &CodePipelineJobEvent) -> Option<Job> {
        let job = &event.code_pipeline_job;
        let data = &job.data;
        let id = job.id.clone().filter(|id| !id.is_empty())?;
        let input_artifacts = data
            .input_artifacts
            .iter()
            .map(|a| InputArtifact {
                name: a.name.clone().unwrap_or_default(),
                bucket: a
                    .location
                    .s3_location
                    .bucket_name
                    .clone()
                    .unwrap_or_default(),
                key: a
                    .location
                    .s3_location
                    .object_key
                    .clone()
                    .unwrap_or_default(),
            })
            .collect();
        let c = &data.artifact_credentials;
        let credentials = match (&c.access_key_id, &c.secret_access_key, &c.session_token) {
            (Some(a), Some(s), Some(t)) => Some(ArtifactCredentials {
                access_key_id: a.clone(),
                secret_access_key: s.clone(),
                session_token: t.clone(),
            }),
            _ => None,
        };
        Some(Job {
            id,
            user_parameters: data
                .action_configuration
                .configuration
                .user_parameters
                .clone()
                .unwrap_or_default(),
            continuation_token: data.continuation_token.clone().filter(|t| !t.is_empty()),
            input_artifacts,
            credentials,
        })
    }
}

/// A failure result: CodePipeline's failure type and the message the console shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobFailure {
    /// `ConfigurationError` when the user must fix something, else `JobFailed`.
    pub configuration: bool,
    pub message: String,
    pub external_id: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_documented_job_event_reads() {
        let text =
            include_str!("../../../../../tests/fixtures/aws/example-codepipeline_job-event.json");
        let event: CodePipelineJobEvent = serde_json::from_str(text).unwrap();
        let job = Job::from_event(&event).unwrap();
        assert_eq!(job.id, "11111111-abcd-1111-abcd-111111abcdef");
        assert_eq!(job.user_parameters, "some-input-such-as-a-URL");
        assert_eq!(
            job.continuation_token.as_deref(),
            Some("A continuation token if continuing job")
        );
        assert_eq!(job.input_artifacts[0].name, "ArtifactName");
        let creds = job.credentials.unwrap();
        assert!(
            !format!("{creds:?}").contains("wJalr"),
            "the secret key is not printed"
        );
    }
}
