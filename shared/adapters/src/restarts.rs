//! `Restarts` (the slash command's `restart`): the stage's definition (CodePipeline
//! `GetPipeline`), the listener's weights (ELB, through the traffic shifter's `AlbListener`),
//! the service (ECS `DescribeServices`, `UpdateService` with `forceNewDeployment`) and the
//! traffic shifter's open deployments (the state table's `OPEN_DEPLOYMENTS` index).

use crate::dynamodb::DynamoDeployments;
use crate::elb::AlbListener;
use gantry_core::operate::restart::{EcsDeployment, EcsService, RestartError, Restarts};
use gantry_core::traffic::phases::record::DeploymentStatus;
use gantry_core::traffic::ports::{DeploymentStore, LoadBalancer};
use gantry_core::traffic::setup::weights::ForwardTarget;
use gantry_core::traffic::{ShiftError, TrafficControl};

/// `Restarts` on AWS.
#[derive(Debug, Clone)]
pub struct AwsRestarts {
    pub codepipeline: aws_sdk_codepipeline::Client,
    pub ecs: aws_sdk_ecs::Client,
    pub listener: AlbListener,
    pub deployments: DynamoDeployments,
}

fn from_shift(e: ShiftError) -> RestartError {
    if e.is_transient() {
        RestartError::Unavailable(e.to_string())
    } else {
        RestartError::Refused(e.to_string())
    }
}

fn sdk_error<E, R>(call: &str, e: aws_sdk_ecs::error::SdkError<E, R>) -> RestartError
where
    E: std::error::Error + 'static,
    R: std::fmt::Debug,
{
    let text = format!("{call}: {}", aws_sdk_ecs::error::DisplayErrorContext(&e));
    match e {
        aws_sdk_ecs::error::SdkError::ServiceError(_) => RestartError::Refused(text),
        _ => RestartError::Unavailable(text),
    }
}

fn service_of(s: &aws_sdk_ecs::types::Service) -> EcsService {
    EcsService {
        desired: s.desired_count(),
        running: s.running_count(),
        deployments: s
            .deployments()
            .iter()
            .map(|d| EcsDeployment {
                id: d.id().unwrap_or_default().to_string(),
                status: d.status().unwrap_or_default().to_string(),
                rollout: d
                    .rollout_state()
                    .map(|r| r.as_str().to_string())
                    .unwrap_or_default(),
                reason: d.rollout_state_reason().map(str::to_string),
                running: d.running_count(),
                desired: d.desired_count(),
                failed_tasks: d.failed_tasks(),
            })
            .collect(),
    }
}

impl Restarts for AwsRestarts {
    async fn invoke_parameters(
        &self,
        pipeline: &str,
        stage: &str,
    ) -> Result<Vec<String>, RestartError> {
        let out = self
            .codepipeline
            .get_pipeline()
            .name(pipeline)
            .send()
            .await
            .map_err(|e| {
                let text = format!(
                    "GetPipeline: {}",
                    aws_sdk_codepipeline::error::DisplayErrorContext(&e)
                );
                match e {
                    aws_sdk_codepipeline::error::SdkError::ServiceError(_) => {
                        RestartError::Refused(text)
                    }
                    _ => RestartError::Unavailable(text),
                }
            })?;
        Ok(out
            .pipeline
            .map(|p| p.stages)
            .unwrap_or_default()
            .into_iter()
            .filter(|s| s.name == stage)
            .flat_map(|s| s.actions)
            .filter(|a| {
                a.action_type_id
                    .as_ref()
                    .is_some_and(|t| t.category.as_str() == "Invoke" && t.provider == "Lambda")
            })
            .filter_map(|a| a.configuration?.get("UserParameters").cloned())
            .collect())
    }

    async fn forward(&self, control: &TrafficControl) -> Result<Vec<ForwardTarget>, RestartError> {
        self.listener.forward(control).await.map_err(from_shift)
    }

    async fn service(&self, cluster: &str, name: &str) -> Result<Option<EcsService>, RestartError> {
        let out = self
            .ecs
            .describe_services()
            .cluster(cluster)
            .services(name)
            .send()
            .await
            .map_err(|e| sdk_error("ECS DescribeServices", e))?;
        Ok(out
            .services()
            .iter()
            .find(|s| s.status() == Some("ACTIVE"))
            .map(service_of))
    }

    async fn force_new_deployment(
        &self,
        cluster: &str,
        name: &str,
    ) -> Result<String, RestartError> {
        let out = self
            .ecs
            .update_service()
            .cluster(cluster)
            .service(name)
            .force_new_deployment(true)
            .send()
            .await
            .map_err(|e| sdk_error("ECS UpdateService", e))?;
        out.service()
            .and_then(|s| {
                s.deployments()
                    .iter()
                    .find(|d| d.status() == Some("PRIMARY"))
                    .and_then(|d| d.id())
            })
            .map(str::to_string)
            .ok_or_else(|| RestartError::Refused("ECS UpdateService: no PRIMARY deployment".into()))
    }

    async fn open_shift(
        &self,
        pipeline: &str,
        stage: &str,
    ) -> Result<Option<String>, RestartError> {
        let listed = self
            .deployments
            .open_deployments()
            .await
            .map_err(|e| RestartError::Unavailable(e.to_string()))?;
        Ok(listed.into_iter().find_map(|l| {
            let r = l.record?;
            let open = matches!(
                r.status,
                DeploymentStatus::InProgress | DeploymentStatus::RollingBack
            );
            let here = r
                .context
                .as_ref()
                .is_some_and(|c| c.pipeline == pipeline && c.stage == stage);
            (open && here).then_some(r.id)
        }))
    }
}
