//! `LoadBalancer` on Elastic Load Balancing v2 (an Application Load Balancer's listener or
//! listener rule with a weighted forward action).

use aws_sdk_elasticloadbalancingv2::types::{
    Action, ActionTypeEnum, ForwardActionConfig, TargetGroupTuple,
};
use gantry_core::traffic::steps::report::target_group_name;
use gantry_core::traffic::{ForwardTarget, TargetHealth, TrafficControl};
use gantry_core::traffic::{LoadBalancer, ShiftError};

/// An ALB through the AWS SDK.
#[derive(Debug, Clone)]
pub struct AlbListener {
    pub client: aws_sdk_elasticloadbalancingv2::Client,
}

impl AlbListener {
    /// The client for the account the current deployment acts in (`crate::sts`).
    fn client(&self) -> aws_sdk_elasticloadbalancingv2::Client {
        crate::sts::in_target(|e| e.elb.clone()).unwrap_or_else(|| self.client.clone())
    }
}

impl AlbListener {
    async fn actions(&self, control: &TrafficControl) -> Result<Vec<Action>, ShiftError> {
        match control {
            TrafficControl::Listener(arn) => {
                let out = self
                    .client()
                    .describe_listeners()
                    .listener_arns(arn)
                    .send()
                    .await
                    .map_err(|e| match e.as_service_error() {
                        Some(s) if s.is_listener_not_found_exception() => {
                            ShiftError::Setup(format!("listener {arn} does not exist"))
                        }
                        _ => crate::aws_error::shift_error("ELB DescribeListeners", e),
                    })?;
                Ok(out
                    .listeners
                    .unwrap_or_default()
                    .into_iter()
                    .next()
                    .and_then(|l| l.default_actions)
                    .unwrap_or_default())
            }
            TrafficControl::Rule(arn) => {
                let out = self
                    .client()
                    .describe_rules()
                    .rule_arns(arn)
                    .send()
                    .await
                    .map_err(|e| match e.as_service_error() {
                        Some(s) if s.is_rule_not_found_exception() => {
                            ShiftError::Setup(format!("listener rule {arn} does not exist"))
                        }
                        _ => crate::aws_error::shift_error("ELB DescribeRules", e),
                    })?;
                Ok(out
                    .rules
                    .unwrap_or_default()
                    .into_iter()
                    .next()
                    .and_then(|r| r.actions)
                    .unwrap_or_default())
            }
        }
    }
}

fn is_forward(a: &Action) -> bool {
    a.r#type == Some(ActionTypeEnum::Forward)
}

impl LoadBalancer for AlbListener {
    async fn forward(&self, control: &TrafficControl) -> Result<Vec<ForwardTarget>, ShiftError> {
        let actions = self.actions(control).await?;
        let Some(forward) = actions.iter().find(|a| is_forward(a)) else {
            return Ok(Vec::new());
        };
        let weighted = forward
            .forward_config
            .as_ref()
            .and_then(|f| f.target_groups.as_ref())
            .filter(|g| !g.is_empty());
        Ok(match weighted {
            Some(groups) => groups
                .iter()
                .map(|g| ForwardTarget {
                    target_group_arn: g.target_group_arn.clone().unwrap_or_default(),
                    weight: g.weight,
                })
                .collect(),
            None => forward
                .target_group_arn
                .iter()
                .map(|arn| ForwardTarget {
                    target_group_arn: arn.clone(),
                    weight: None,
                })
                .collect(),
        })
    }

    async fn sticky(&self, control: &TrafficControl) -> Result<bool, ShiftError> {
        let actions = self.actions(control).await?;
        Ok(actions.iter().filter(|a| is_forward(a)).any(|a| {
            a.forward_config
                .as_ref()
                .and_then(|f| f.target_group_stickiness_config.as_ref())
                .and_then(|c| c.enabled)
                .unwrap_or(false)
        }))
    }

    async fn set_weights(
        &self,
        control: &TrafficControl,
        weights: &[(String, u32)],
    ) -> Result<(), ShiftError> {
        let groups: Vec<TargetGroupTuple> = weights
            .iter()
            .map(|(arn, w)| {
                TargetGroupTuple::builder()
                    .target_group_arn(arn)
                    .weight(*w as i32)
                    .build()
            })
            .collect();
        let actions: Vec<Action> = self
            .actions(control)
            .await?
            .into_iter()
            .map(|mut a| {
                if is_forward(&a) {
                    let stickiness = a
                        .forward_config
                        .take()
                        .and_then(|f| f.target_group_stickiness_config);
                    a.forward_config = Some(
                        ForwardActionConfig::builder()
                            .set_target_groups(Some(groups.clone()))
                            .set_target_group_stickiness_config(stickiness)
                            .build(),
                    );
                    // A forward to several groups is described by ForwardConfig alone.
                    a.target_group_arn = None;
                }
                if let Some(oidc) = a.authenticate_oidc_config.as_mut() {
                    // Describe never returns the client secret: keep the stored one.
                    oidc.use_existing_client_secret = Some(true);
                }
                a
            })
            .collect();
        match control {
            TrafficControl::Listener(arn) => self
                .client()
                .modify_listener()
                .listener_arn(arn)
                .set_default_actions(Some(actions))
                .send()
                .await
                .map(|_| ())
                .map_err(|e| crate::aws_error::shift_error("ELB ModifyListener", e)),
            TrafficControl::Rule(arn) => self
                .client()
                .modify_rule()
                .rule_arn(arn)
                .set_actions(Some(actions))
                .send()
                .await
                .map(|_| ())
                .map_err(|e| crate::aws_error::shift_error("ELB ModifyRule", e)),
        }
    }

    async fn target_health(&self, target_group_arn: &str) -> Result<TargetHealth, ShiftError> {
        let out = self
            .client()
            .describe_target_health()
            .target_group_arn(target_group_arn)
            .send()
            .await
            .map_err(|e| match e.as_service_error() {
                Some(s) if s.is_target_group_not_found_exception() => {
                    ShiftError::Setup(format!("target group {target_group_arn} does not exist"))
                }
                _ => crate::aws_error::shift_error("ELB DescribeTargetHealth", e),
            })?;
        Ok(gantry_core::traffic::checks::health::count(
            target_group_name(target_group_arn),
            out.target_health_descriptions().iter().map(|d| {
                let h = d.target_health();
                (
                    h.and_then(|h| h.state()).map_or("", |s| s.as_str()),
                    h.and_then(|h| h.reason()).map(|r| r.as_str()),
                )
            }),
        ))
    }
}
