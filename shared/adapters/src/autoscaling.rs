//! `ServiceScaling` on Application Auto Scaling: an ECS service's scalable target
//! (`service/<cluster>/<service>`, `ecs:service:DesiredCount`) and its `SuspendedState`.

use aws_sdk_applicationautoscaling::types::{
    ScalableDimension, ServiceNamespace, SuspendedState as AwsSuspended,
};
use gantry_core::traffic::phases::scaling::SuspendedState;
use gantry_core::traffic::{ServiceScaling, ShiftError};

/// Application Auto Scaling through the AWS SDK.
#[derive(Debug, Clone)]
pub struct ServiceAutoScaling {
    pub client: aws_sdk_applicationautoscaling::Client,
}

impl ServiceAutoScaling {
    /// The client for the account the current deployment acts in (`crate::sts`).
    fn client(&self) -> aws_sdk_applicationautoscaling::Client {
        crate::sts::in_target(|e| e.autoscaling.clone()).unwrap_or_else(|| self.client.clone())
    }
}

fn resource(cluster: &str, service: &str) -> String {
    format!("service/{cluster}/{service}")
}

impl ServiceScaling for ServiceAutoScaling {
    async fn suspended(
        &self,
        cluster: &str,
        service: &str,
    ) -> Result<Option<SuspendedState>, ShiftError> {
        let out = self
            .client()
            .describe_scalable_targets()
            .service_namespace(ServiceNamespace::Ecs)
            .resource_ids(resource(cluster, service))
            .scalable_dimension(ScalableDimension::EcsServiceDesiredCount)
            .send()
            .await
            .map_err(|e| {
                crate::aws_error::shift_error("Application Auto Scaling DescribeScalableTargets", e)
            })?;
        Ok(out.scalable_targets().first().map(|t| {
            let s = t.suspended_state();
            SuspendedState {
                dynamic_scaling_in: s.and_then(|s| s.dynamic_scaling_in_suspended()) == Some(true),
                dynamic_scaling_out: s.and_then(|s| s.dynamic_scaling_out_suspended())
                    == Some(true),
                scheduled_scaling: s.and_then(|s| s.scheduled_scaling_suspended()) == Some(true),
            }
        }))
    }

    async fn set_suspended(
        &self,
        cluster: &str,
        service: &str,
        state: SuspendedState,
    ) -> Result<(), ShiftError> {
        // Registering an existing target with only `SuspendedState` changes nothing else.
        self.client()
            .register_scalable_target()
            .service_namespace(ServiceNamespace::Ecs)
            .resource_id(resource(cluster, service))
            .scalable_dimension(ScalableDimension::EcsServiceDesiredCount)
            .suspended_state(
                AwsSuspended::builder()
                    .dynamic_scaling_in_suspended(state.dynamic_scaling_in)
                    .dynamic_scaling_out_suspended(state.dynamic_scaling_out)
                    .scheduled_scaling_suspended(state.scheduled_scaling)
                    .build(),
            )
            .send()
            .await
            .map_err(|e| {
                crate::aws_error::shift_error("Application Auto Scaling RegisterScalableTarget", e)
            })?;
        Ok(())
    }
}
