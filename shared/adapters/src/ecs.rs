//! `Cluster` on ECS.

use aws_sdk_ecs::types::{DeploymentRolloutState, TaskDefinitionField};
use gantry_core::traffic::setup::images::ImageUpdate;
use gantry_core::traffic::{Cluster, ShiftError, TaskDefinitionInfo};
use gantry_core::traffic::{Rollout, ServiceStatus};

/// ECS through the AWS SDK.
#[derive(Debug, Clone)]
pub struct EcsCluster {
    pub client: aws_sdk_ecs::Client,
}

impl EcsCluster {
    /// The client for the account the current deployment acts in (`crate::sts`).
    fn client(&self) -> aws_sdk_ecs::Client {
        crate::sts::in_target(|e| e.ecs.clone()).unwrap_or_else(|| self.client.clone())
    }
}

fn none_if_empty<T>(v: Vec<T>) -> Option<Vec<T>> {
    (!v.is_empty()).then_some(v)
}

impl Cluster for EcsCluster {
    async fn service(
        &self,
        cluster: &str,
        name: &str,
    ) -> Result<Option<ServiceStatus>, ShiftError> {
        let out = self
            .client()
            .describe_services()
            .cluster(cluster)
            .services(name)
            .send()
            .await
            .map_err(|e| crate::aws_error::shift_error("ECS DescribeServices", e))?;
        let Some(service) = out
            .services()
            .iter()
            .find(|s| s.status() == Some("ACTIVE") || s.status() == Some("DRAINING"))
        else {
            return Ok(None);
        };
        let primary = service
            .deployments()
            .iter()
            .find(|d| d.status() == Some("PRIMARY"));
        let rollout = match primary.and_then(|d| d.rollout_state()) {
            Some(DeploymentRolloutState::Completed) => Rollout::Completed,
            Some(DeploymentRolloutState::InProgress) => Rollout::InProgress,
            Some(DeploymentRolloutState::Failed) => Rollout::Failed {
                reason: primary
                    .and_then(|d| d.rollout_state_reason())
                    .unwrap_or("the deployment circuit breaker stopped the rollout")
                    .to_string(),
            },
            _ => Rollout::Unknown,
        };
        Ok(Some(ServiceStatus {
            task_definition: service.task_definition().unwrap_or_default().to_string(),
            desired: service.desired_count(),
            running: service.running_count(),
            deployments: service.deployments().len(),
            rollout,
        }))
    }

    async fn task_definition(&self, arn: &str) -> Result<TaskDefinitionInfo, ShiftError> {
        let out = self
            .client()
            .describe_task_definition()
            .task_definition(arn)
            .send()
            .await
            .map_err(|e| crate::aws_error::shift_error("ECS DescribeTaskDefinition", e))?;
        let td = out.task_definition().ok_or_else(|| ShiftError::Aws {
            operation: "ECS DescribeTaskDefinition".into(),
            reason: format!("no task definition {arn}"),
        })?;
        Ok(TaskDefinitionInfo {
            arn: td.task_definition_arn().unwrap_or(arn).to_string(),
            containers: td
                .container_definitions()
                .iter()
                .map(|c| {
                    (
                        c.name().unwrap_or_default().to_string(),
                        c.image().unwrap_or_default().to_string(),
                    )
                })
                .collect(),
        })
    }

    async fn register_with_images(
        &self,
        arn: &str,
        updates: &[ImageUpdate],
    ) -> Result<String, ShiftError> {
        let out = self
            .client()
            .describe_task_definition()
            .task_definition(arn)
            .include(TaskDefinitionField::Tags)
            .send()
            .await
            .map_err(|e| crate::aws_error::shift_error("ECS DescribeTaskDefinition", e))?;
        let tags = out.tags().to_vec();
        let td = out.task_definition.ok_or_else(|| ShiftError::Aws {
            operation: "ECS DescribeTaskDefinition".into(),
            reason: format!("no task definition {arn}"),
        })?;
        let containers = td
            .container_definitions
            .unwrap_or_default()
            .into_iter()
            .map(|mut c| {
                if let Some(u) = updates
                    .iter()
                    .find(|u| Some(&u.container) == c.name.as_ref())
                {
                    c.image = Some(u.image.clone());
                }
                c
            })
            .collect();
        // Everything a revision carries is copied; what only describes the old revision
        // (ARN, revision, status, registration) is not.
        let registered = self
            .client()
            .register_task_definition()
            .set_family(td.family)
            .set_task_role_arn(td.task_role_arn)
            .set_execution_role_arn(td.execution_role_arn)
            .set_network_mode(td.network_mode)
            .set_container_definitions(Some(containers))
            .set_volumes(td.volumes.and_then(none_if_empty))
            .set_placement_constraints(td.placement_constraints.and_then(none_if_empty))
            .set_requires_compatibilities(td.requires_compatibilities.and_then(none_if_empty))
            .set_cpu(td.cpu)
            .set_memory(td.memory)
            .set_tags(none_if_empty(tags))
            .set_pid_mode(td.pid_mode)
            .set_ipc_mode(td.ipc_mode)
            .set_proxy_configuration(td.proxy_configuration)
            .set_ephemeral_storage(td.ephemeral_storage)
            .set_runtime_platform(td.runtime_platform)
            .set_enable_fault_injection(td.enable_fault_injection)
            .send()
            .await
            .map_err(|e| crate::aws_error::shift_error("ECS RegisterTaskDefinition", e))?;
        registered
            .task_definition()
            .and_then(|t| t.task_definition_arn())
            .map(str::to_string)
            .ok_or_else(|| ShiftError::Aws {
                operation: "ECS RegisterTaskDefinition".into(),
                reason: "the answer has no task definition ARN".into(),
            })
    }

    async fn update_service(
        &self,
        cluster: &str,
        name: &str,
        task_definition: Option<&str>,
        desired: i32,
    ) -> Result<(), ShiftError> {
        self.client()
            .update_service()
            .cluster(cluster)
            .service(name)
            .set_task_definition(task_definition.map(str::to_string))
            .desired_count(desired)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| crate::aws_error::shift_error("ECS UpdateService", e))
    }
}
