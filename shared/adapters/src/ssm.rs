//! Parameter Store, read-only: the service registry's documents (`gantry_core::registry`).

use aws_sdk_ssm::error::{DisplayErrorContext, ProvideErrorMetadata};
use aws_sdk_ssm::types::Parameter as SsmParameter;
use gantry_core::registry::{Parameter, ParameterStore};
use gantry_core::store::StoreError;

/// `ParameterStore` on SSM.
#[derive(Debug, Clone)]
pub struct SsmParameters {
    pub client: aws_sdk_ssm::Client,
}

fn error<E: std::error::Error + 'static>(operation: &str, e: E) -> StoreError {
    let error = StoreError::new(format!(
        "Parameter Store {operation}: {}",
        DisplayErrorContext(e)
    ));
    tracing::warn!(%error, "Parameter Store call failed");
    error
}

fn parameter(p: &SsmParameter) -> Option<Parameter> {
    Some(Parameter {
        name: p.name()?.to_string(),
        value: p.value()?.to_string(),
        version: p.version(),
        modified_ms: p
            .last_modified_date()
            .map(|d| d.to_millis().unwrap_or(0))
            .unwrap_or(0),
    })
}

impl ParameterStore for SsmParameters {
    async fn get(&self, name: &str) -> Result<Option<Parameter>, StoreError> {
        match self.client.get_parameter().name(name).send().await {
            Ok(out) => Ok(out.parameter().and_then(parameter)),
            Err(e) if e.code() == Some("ParameterNotFound") => Ok(None),
            Err(e) => Err(error("GetParameter", e)),
        }
    }

    async fn list(&self, path: &str) -> Result<Vec<Parameter>, StoreError> {
        let mut all = Vec::new();
        let mut token = None;
        loop {
            let out = self
                .client
                .get_parameters_by_path()
                .path(path)
                .recursive(false)
                .max_results(10)
                .set_next_token(token)
                .send()
                .await
                .map_err(|e| error("GetParametersByPath", e))?;
            all.extend(out.parameters().iter().filter_map(parameter));
            token = out.next_token;
            if token.is_none() {
                return Ok(all);
            }
        }
    }
}
