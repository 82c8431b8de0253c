//! `restart <service> <stage>`: what restarts (the live side's ECS service of the stage's
//! blue/green pair), when Gantry refuses (a traffic shift is under way), and how a forced new
//! deployment ends (steady, failed, rolled back by the circuit breaker).
//!
//! Where the pair comes from: the traffic shifter's `UserParameters` in the stage's action of
//! the pipeline definition (one `GetPipeline`). The shifter's deployment records carry them
//! too, but they are keyed by deployment, with no index by pipeline and stage for finished
//! ones (finding the last would be a table scan) and they expire; the definition is one call
//! and is what the next deployment will use.

use crate::traffic::setup::params::SideSpec;
use crate::traffic::setup::weights::{live_side, read_weights, ForwardTarget, Side, WeightsError};
use crate::traffic::TrafficControl;
use std::future::Future;

/// Why a restart's facts could not be read or its deployment not started.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RestartError {
    /// AWS said no (no such pipeline, listener or service; access denied).
    #[error("{0}")]
    Refused(String),
    /// AWS did not answer: worth a retry.
    #[error("AWS did not answer: {0}")]
    Unavailable(String),
}

/// One ECS deployment of a service, as `DescribeServices` shows it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EcsDeployment {
    pub id: String,
    /// `PRIMARY` (the newest) or `ACTIVE` (being replaced).
    pub status: String,
    /// `IN_PROGRESS`, `COMPLETED` or `FAILED`.
    pub rollout: String,
    pub reason: Option<String>,
    pub running: i32,
    pub desired: i32,
    pub failed_tasks: i32,
}

/// An ECS service: its counts and deployments.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EcsService {
    pub desired: i32,
    pub running: i32,
    pub deployments: Vec<EcsDeployment>,
}

/// What `restart` reads and does: the stage's definition, the listener, ECS, and the traffic
/// shifter's open deployments.
pub trait Restarts {
    /// The `UserParameters` of every Lambda invoke action of the stage, in order (`GetPipeline`).
    fn invoke_parameters(
        &self,
        pipeline: &str,
        stage: &str,
    ) -> impl Future<Output = Result<Vec<String>, RestartError>> + Send;
    /// The forward action's target groups and weights.
    fn forward(
        &self,
        control: &TrafficControl,
    ) -> impl Future<Output = Result<Vec<ForwardTarget>, RestartError>> + Send;
    /// The service, or `None` when the cluster has no active service of that name.
    fn service(
        &self,
        cluster: &str,
        name: &str,
    ) -> impl Future<Output = Result<Option<EcsService>, RestartError>> + Send;
    /// `UpdateService` with `forceNewDeployment`: the new deployment's id.
    fn force_new_deployment(
        &self,
        cluster: &str,
        name: &str,
    ) -> impl Future<Output = Result<String, RestartError>> + Send;
    /// The traffic shifter's deployment still open in this stage, if any (its id).
    fn open_shift(
        &self,
        pipeline: &str,
        stage: &str,
    ) -> impl Future<Output = Result<Option<String>, RestartError>> + Send;
}

/// What a restart restarts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestartPlan {
    pub cluster: String,
    pub service: String,
    pub side: Side,
    pub running: i32,
    pub desired: i32,
}

/// Why Gantry will not restart the stage now. `Display` is what people read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NoRestart {
    #[error("a traffic shift is under way in this stage (deployment `{0}`): Gantry never restarts during a shift. Try again once it has finished")]
    Shifting(String),
    #[error("its listener is part-way through a shift ({0}): Gantry never restarts during a shift. Try again once it has finished")]
    MidShift(String),
    #[error("no action of this stage is Gantry's traffic shifter, so Gantry does not know which ECS service is live")]
    NoShifter,
    #[error("{0}")]
    Weights(WeightsError),
    #[error("the live side's ECS service `{service}` is not active in cluster `{cluster}`")]
    NoService { cluster: String, service: String },
    #[error("Gantry could not read what runs there: {0}")]
    Unreadable(RestartError),
}

/// The stage's blue/green pair, as the traffic shifter's `UserParameters` name it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StagePair {
    pub cluster: String,
    pub traffic: TrafficControl,
    pub blue: SideSpec,
    pub green: SideSpec,
}

impl StagePair {
    pub fn side(&self, side: Side) -> &SideSpec {
        match side {
            Side::Blue => &self.blue,
            Side::Green => &self.green,
        }
    }
}

/// The pair from the first of the stage's invoke actions whose `UserParameters` name one.
/// Only these fields are read: in the pipeline's definition the others may still hold
/// CodePipeline variables (`#{BuildVariables.IMAGE_URI}`) that the shifter's full validation
/// would refuse until run time.
pub fn shifter_parameters(candidates: &[String]) -> Option<StagePair> {
    candidates.iter().find_map(|p| pair_of(p))
}

fn pair_of(text: &str) -> Option<StagePair> {
    let v: serde_json::Value = serde_json::from_str(text).ok()?;
    let field = |v: &serde_json::Value, k: &str| {
        v.get(k)
            .and_then(|x| x.as_str())
            .filter(|x| !x.is_empty() && !x.contains("#{"))
            .map(str::to_string)
    };
    let side = |k: &str| {
        let s = v.get(k)?;
        Some(SideSpec {
            service: field(s, "service")?,
            target_group_arn: field(s, "target_group_arn")?,
        })
    };
    let traffic = match (field(&v, "listener_arn"), field(&v, "listener_rule_arn")) {
        (Some(l), _) => TrafficControl::Listener(l),
        (None, Some(r)) => TrafficControl::Rule(r),
        (None, None) => return None,
    };
    Some(StagePair {
        cluster: field(&v, "cluster")?,
        traffic,
        blue: side("blue")?,
        green: side("green")?,
    })
}

/// The live side, by the listener's weights (the one taking all traffic); a listener part-way
/// through a shift is a shift under way.
pub fn live(p: &StagePair, targets: &[ForwardTarget]) -> Result<Side, NoRestart> {
    let place = p.traffic.describe();
    let weights = read_weights(
        targets,
        &p.blue.target_group_arn,
        &p.green.target_group_arn,
        &place,
    )
    .map_err(NoRestart::Weights)?;
    live_side(weights, &place).map_err(|e| match e {
        WeightsError::MidShift { weights, .. } => NoRestart::MidShift(weights.to_string()),
        other => NoRestart::Weights(other),
    })
}

/// How a forced deployment stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Watched {
    /// Still replacing tasks.
    Rolling { running: i32, desired: i32 },
    /// Every new task runs and the old ones are gone.
    Steady { running: i32 },
    /// The new tasks failed and nothing rolled back.
    Failed { reason: String },
    /// The circuit breaker rolled the service back to the tasks it ran before.
    RolledBack { reason: String },
    /// The deployment is gone: another deployment replaced it.
    Replaced,
}

/// Judges the deployment `id` of `s`.
pub fn judge(s: &EcsService, id: &str) -> Watched {
    let Some(d) = s.deployments.iter().find(|d| d.id == id) else {
        return Watched::Replaced;
    };
    let reason = || {
        d.reason
            .as_deref()
            .map(|r| r.trim_end_matches('.').to_string())
            .unwrap_or_else(|| "the new tasks did not start".into())
    };
    match d.rollout.as_str() {
        "FAILED" if d.status != "PRIMARY" => Watched::RolledBack { reason: reason() },
        "FAILED" => Watched::Failed { reason: reason() },
        "COMPLETED" if s.deployments.len() == 1 => Watched::Steady { running: d.running },
        _ => Watched::Rolling {
            running: d.running,
            desired: d.desired,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dep(id: &str, status: &str, rollout: &str) -> EcsDeployment {
        EcsDeployment {
            id: id.into(),
            status: status.into(),
            rollout: rollout.into(),
            running: 2,
            desired: 2,
            ..EcsDeployment::default()
        }
    }

    #[test]
    fn a_forced_deployment_ends_steady_failed_or_rolled_back() {
        let s = |d: Vec<EcsDeployment>| EcsService {
            deployments: d,
            ..EcsService::default()
        };
        assert_eq!(
            judge(&s(vec![dep("n", "PRIMARY", "COMPLETED")]), "n"),
            Watched::Steady { running: 2 }
        );
        // Completed, but the old tasks still drain.
        assert!(matches!(
            judge(
                &s(vec![
                    dep("n", "PRIMARY", "COMPLETED"),
                    dep("o", "ACTIVE", "COMPLETED")
                ]),
                "n"
            ),
            Watched::Rolling { .. }
        ));
        assert!(matches!(
            judge(&s(vec![dep("n", "PRIMARY", "FAILED")]), "n"),
            Watched::Failed { .. }
        ));
        assert!(matches!(
            judge(
                &s(vec![
                    dep("r", "PRIMARY", "IN_PROGRESS"),
                    dep("n", "ACTIVE", "FAILED")
                ]),
                "n"
            ),
            Watched::RolledBack { .. }
        ));
        assert_eq!(
            judge(&s(vec![dep("x", "PRIMARY", "COMPLETED")]), "n"),
            Watched::Replaced
        );
    }

    #[test]
    fn the_live_side_is_the_one_taking_all_traffic_and_a_split_is_a_shift() {
        let p = shifter_parameters(&[r##"{"image": "#{BuildVariables.IMAGE_URI}", "cluster": "c", "strategy": "CodeDeployDefault.ECSAllAtOnce", "listener_arn": "arn:aws:elasticloadbalancing:us-east-1:123456789012:listener/app/shop/50dc6c495c0c9188/f2f7dc8efc522ab2",
            "blue": {"service": "shop-blue", "target_group_arn": "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/shop-blue/6d0ecf831eec9f09"},
            "green": {"service": "shop-green", "target_group_arn": "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/shop-green/6d0ecf831eec9f09"}}"##.into()])
        .unwrap();
        let t = |b: i32, g: i32| {
            vec![
                ForwardTarget {
                    target_group_arn: "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/shop-blue/6d0ecf831eec9f09".into(),
                    weight: Some(b),
                },
                ForwardTarget {
                    target_group_arn: "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/shop-green/6d0ecf831eec9f09".into(),
                    weight: Some(g),
                },
            ]
        };
        assert_eq!(live(&p, &t(0, 100)), Ok(Side::Green));
        assert_eq!(live(&p, &t(100, 0)), Ok(Side::Blue));
        assert!(matches!(
            live(&p, &t(50, 50)),
            Err(NoRestart::MidShift(w)) if w == "blue 50, green 50"
        ));
        assert!(shifter_parameters(&["{}".into(), "not json".into()]).is_none());
    }
}
