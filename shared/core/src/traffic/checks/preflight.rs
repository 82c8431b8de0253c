//! The shifter's pre-flight checks, as one pure decision: what was read before anything moves
//! (the listener, both services, the alarms) in, where the deployment starts (or why it is
//! refused) out. `Shifter::begin` fetches, calls [`decide`], then applies.

use crate::traffic::phases::phase::{AlarmReading, AlarmState, ServiceStatus};
use crate::traffic::setup::images::ImageUpdate;
use crate::traffic::setup::params::UserParameters;
use crate::traffic::setup::plan::duration_text;
use crate::traffic::setup::weights::{live_side, read_weights, ForwardTarget, Side, WeightsError};
use crate::traffic::TrafficPlan;

/// A task definition's containers (name, image).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskDefinitionInfo {
    pub arn: String,
    pub containers: Vec<(String, String)>,
}

/// What the first invocation read before deciding anything.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Facts {
    /// The forward action's target groups.
    pub forward: Vec<ForwardTarget>,
    /// Whether the forward action has target group stickiness on.
    pub sticky: bool,
    /// Each side's service (`None`: not an active service of the cluster).
    pub blue: Option<ServiceStatus>,
    pub green: Option<ServiceStatus>,
    /// The watched alarms, in order.
    pub alarms: Vec<AlarmReading>,
}

/// Where the deployment starts: every pre-flight check passed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Start {
    pub live: Side,
    /// The live service (its desired count is the new version's).
    pub live_service: ServiceStatus,
    /// The idle service as it was before the deployment touched it.
    pub idle_service: ServiceStatus,
}

impl Start {
    pub fn idle(&self) -> Side {
        self.live.other()
    }
}

/// Why a deployment is refused before anything moved. Each is a configuration error: a person
/// must fix the pipeline or the AWS setup.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error(transparent)]
    Weights(#[from] WeightsError),
    #[error("{side}.service {service} is not an active service of cluster {cluster}")]
    NoService {
        side: Side,
        service: String,
        cluster: String,
    },
    #[error("{side}.service {service} is live but runs no tasks (desired count 0)")]
    LiveEmpty { side: Side, service: String },
    #[error("alarms: CloudWatch has no alarm named {name}")]
    AlarmMissing { name: String },
    #[error("alarms: {name} is in ALARM already, so the deployment would roll back at once")]
    AlarmFiring { name: String },
    #[error("{place} has target group stickiness on: clients would stay on the old version whatever the weights say, and get errors once it is scaled down. Turn stickiness off on the forward action (TargetGroupStickinessConfig) for blue/green shifting")]
    Sticky { place: String },
    #[error("the deployment can take up to {} (ready timeout {} + steps, bakes and pause hooks {} + scale-down wait {}), over the {} CodePipeline gives a Lambda invoke action ({LIMIT_SOURCE}): shorten the strategy, a pause hook's timeout_minutes, ready_timeout_seconds or scale_down_after_seconds", duration_text(*.total_seconds), duration_text(*.ready_seconds), duration_text(*.steps_seconds), duration_text(*.scale_down_seconds), duration_text(MAX_ACTION_SECONDS))]
    OverLimit {
        total_seconds: u64,
        ready_seconds: u64,
        steps_seconds: u64,
        scale_down_seconds: u64,
    },
}

/// How long CodePipeline lets one Lambda invoke action run, continuation tokens included.
pub const MAX_ACTION_SECONDS: u64 = 24 * 60 * 60;
/// Where [`MAX_ACTION_SECONDS`] comes from.
pub const LIMIT_SOURCE: &str = "AWS CodePipeline User Guide, \"Quotas in AWS CodePipeline\": an AWS Lambda invoke action that has not succeeded after 24 hours is set to failed, however often it replied in progress";

/// The longest the plan of `p` can keep the action open: the ready timeout, every step's
/// hold and the scale-down wait, each at its longest, plus one check interval per wait (a
/// decision is only taken at a check).
pub fn worst_case_seconds(p: &UserParameters) -> (u64, u64, u64) {
    let check = u64::from(p.check_interval_seconds);
    let ready = u64::from(p.ready_timeout_seconds) + check;
    let plan = TrafficPlan::new(p.strategy);
    let steps: u64 = plan
        .steps()
        .iter()
        .map(|s| u64::from(s.hold_seconds) + if s.hold_seconds > 0 { check } else { 0 })
        .sum::<u64>()
        + pause_hooks_seconds(p, plan.steps().len() as u64);
    let scale_down = u64::from(p.scale_down_after_seconds)
        + if p.scale_down_after_seconds > 0 {
            check
        } else {
            0
        };
    (ready, steps, scale_down)
}

/// The longest pause hooks can hold the deployment: each waits up to its timeout at each of its
/// stages (after every production step for `PRODUCTION_TRAFFIC_SHIFT`).
fn pause_hooks_seconds(p: &UserParameters, production_steps: u64) -> u64 {
    use crate::traffic::setup::hooks::{LifecycleHook, LifecycleStage};
    p.lifecycle_hooks
        .iter()
        .map(|hook| match hook {
            LifecycleHook::Pause {
                stages,
                timeout_minutes,
                ..
            } => {
                let waits: u64 = stages
                    .iter()
                    .map(|s| match s {
                        LifecycleStage::ProductionTrafficShift => production_steps,
                        _ => 1,
                    })
                    .sum();
                waits * u64::from(*timeout_minutes) * 60
            }
            LifecycleHook::Function { .. } => 0,
        })
        .sum()
}

/// Refuses a plan that can outlast the action's limit: CodePipeline would fail the action
/// part-way, with traffic split.
pub fn within_limit(p: &UserParameters) -> Result<(), Refusal> {
    let (ready, steps, scale_down) = worst_case_seconds(p);
    let total = ready + steps + scale_down;
    if total > MAX_ACTION_SECONDS {
        return Err(Refusal::OverLimit {
            total_seconds: total,
            ready_seconds: ready,
            steps_seconds: steps,
            scale_down_seconds: scale_down,
        });
    }
    Ok(())
}

/// The pre-flight decision: the live side is the one taking all traffic, both services exist,
/// the live one runs tasks, no watched alarm is missing or firing, no stickiness, and the plan
/// fits CodePipeline's limit.
pub fn decide(p: &UserParameters, f: &Facts) -> Result<Start, Refusal> {
    within_limit(p)?;
    let place = p.traffic.describe();
    let weights = read_weights(
        &f.forward,
        &p.blue.target_group_arn,
        &p.green.target_group_arn,
        &place,
    )?;
    let live = live_side(weights, &place)?;
    if f.sticky {
        return Err(Refusal::Sticky { place });
    }
    let service = |side: Side| {
        match side {
            Side::Blue => f.blue.clone(),
            Side::Green => f.green.clone(),
        }
        .ok_or_else(|| Refusal::NoService {
            side,
            service: p.side(side).service.clone(),
            cluster: p.cluster.clone(),
        })
    };
    let live_service = service(live)?;
    let idle_service = service(live.other())?;
    if live_service.desired < 1 {
        return Err(Refusal::LiveEmpty {
            side: live,
            service: p.side(live).service.clone(),
        });
    }
    if let Some(missing) = f.alarms.iter().find(|r| r.state == AlarmState::Missing) {
        return Err(Refusal::AlarmMissing {
            name: missing.name.clone(),
        });
    }
    if let Some(firing) = f.alarms.iter().find(|r| r.state == AlarmState::Alarm) {
        // It would roll the deployment back at the first check: say so before anything
        // moves. (A hotfix for what the alarm reports can leave it out of `alarms`.)
        return Err(Refusal::AlarmFiring {
            name: firing.name.clone(),
        });
    }
    Ok(Start {
        live,
        live_service,
        idle_service,
    })
}

/// Whether the idle side's current task definition already runs the wanted images (a repeat
/// of the same image): then it is reused rather than registered again.
pub fn already_runs(current: &TaskDefinitionInfo, updates: &[ImageUpdate]) -> bool {
    updates.iter().all(|u| {
        current
            .containers
            .iter()
            .any(|(n, i)| *n == u.container && *i == u.image)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::traffic::phases::phase::Rollout;
    use crate::traffic::setup::params::parse;

    const BLUE: &str = "arn:aws:elasticloadbalancing:us-east-1:1:targetgroup/shop-blue/1";
    const GREEN: &str = "arn:aws:elasticloadbalancing:us-east-1:1:targetgroup/shop-green/2";

    fn params(extra: &str) -> UserParameters {
        let strategy = if extra.contains("strategy") {
            String::new()
        } else {
            r#","strategy":"CodeDeployDefault.ECSAllAtOnce""#.to_string()
        };
        parse(&format!(
            r#"{{"cluster":"shop","listener_arn":"arn:aws:elasticloadbalancing:us-east-1:1:listener/app/shop/1/2",
               "blue":{{"service":"shop-blue","target_group_arn":"{BLUE}"}},
               "green":{{"service":"shop-green","target_group_arn":"{GREEN}"}},
               "image":"shop:2","alarms":["shop-5xx"]{strategy}{extra}}}"#
        ))
        .expect("valid parameters")
    }

    fn service(desired: i32) -> ServiceStatus {
        ServiceStatus {
            task_definition: "arn:aws:ecs:us-east-1:1:task-definition/shop:1".into(),
            desired,
            running: desired,
            deployments: 1,
            rollout: Rollout::Completed,
        }
    }

    fn facts() -> Facts {
        Facts {
            forward: vec![
                ForwardTarget {
                    target_group_arn: BLUE.into(),
                    weight: Some(100),
                },
                ForwardTarget {
                    target_group_arn: GREEN.into(),
                    weight: Some(0),
                },
            ],
            sticky: false,
            blue: Some(service(2)),
            green: Some(service(0)),
            alarms: vec![AlarmReading {
                name: "shop-5xx".into(),
                state: AlarmState::Ok,
            }],
        }
    }

    #[test]
    fn the_side_taking_all_traffic_is_live_and_the_other_gets_the_new_version() {
        let start = decide(&params(""), &facts()).unwrap();
        assert_eq!(start.live, Side::Blue);
        assert_eq!(start.idle(), Side::Green);
        assert_eq!(start.live_service.desired, 2);
        assert_eq!(start.idle_service.desired, 0);
    }

    #[test]
    fn a_listener_part_way_through_a_shift_is_refused() {
        let mut f = facts();
        f.forward[0].weight = Some(50);
        f.forward[1].weight = Some(50);
        assert!(matches!(
            decide(&params(""), &f),
            Err(Refusal::Weights(WeightsError::MidShift { .. }))
        ));
    }

    #[test]
    fn a_missing_service_is_named() {
        let mut f = facts();
        f.green = None;
        let e = decide(&params(""), &f).unwrap_err();
        assert_eq!(
            e.to_string(),
            "green.service shop-green is not an active service of cluster shop"
        );
    }

    #[test]
    fn a_live_side_without_tasks_is_refused() {
        let mut f = facts();
        f.blue = Some(service(0));
        assert!(matches!(
            decide(&params(""), &f),
            Err(Refusal::LiveEmpty {
                side: Side::Blue,
                ..
            })
        ));
    }

    #[test]
    fn a_missing_or_firing_alarm_is_refused_before_anything_moves() {
        let mut f = facts();
        f.alarms[0].state = AlarmState::Missing;
        assert!(matches!(
            decide(&params(""), &f),
            Err(Refusal::AlarmMissing { .. })
        ));
        f.alarms[0].state = AlarmState::Alarm;
        let e = decide(&params(""), &f).unwrap_err();
        assert!(
            e.to_string().contains("shop-5xx is in ALARM already"),
            "{e}"
        );
    }

    #[test]
    fn stickiness_on_the_forward_action_is_refused_with_the_reason() {
        let mut f = facts();
        f.sticky = true;
        let e = decide(&params(""), &f).unwrap_err();
        assert!(matches!(e, Refusal::Sticky { .. }));
        assert!(e.to_string().contains("stickiness"), "{e}");
    }

    #[test]
    fn a_plan_that_fits_the_day_is_accepted() {
        // Defaults: ready 15 min, canary 10% for 5 min, scale-down after 5 min.
        let p = params(r#","strategy":"CodeDeployDefault.ECSCanary10Percent5Minutes""#);
        assert!(within_limit(&p).is_ok());
    }

    #[test]
    fn pause_hooks_count_toward_the_limit_once_per_production_step() {
        // Ten linear steps, a pause after each: 10 x 3 h is over the day; 10 x 2 h fits.
        let hooks = |minutes: u32| {
            format!(
                r#","strategy":"CodeDeployDefault.ECSLinear10PercentEvery1Minutes","lifecycle_hooks":[{{"type":"pause","lifecycle_stages":["PRODUCTION_TRAFFIC_SHIFT"],"timeout_minutes":{minutes}}}]"#
            )
        };
        let e = within_limit(&params(&hooks(180))).unwrap_err();
        assert!(e.to_string().contains("pause hooks"), "{e}");
        assert!(within_limit(&params(&hooks(120))).is_ok());
    }

    #[test]
    fn a_plan_that_can_outlast_codepipelines_limit_is_refused_naming_it() {
        let p = params(
            r#","strategy":"CodeDeployDefault.ECSLinear10PercentEvery3Minutes","scale_down_after_seconds":86400"#,
        );
        let e = decide(&p, &facts()).unwrap_err();
        assert!(matches!(e, Refusal::OverLimit { .. }));
        let text = e.to_string();
        assert!(text.contains("over the 24 h"), "{text}");
        assert!(text.contains("Quotas in AWS CodePipeline"), "{text}");
    }

    #[test]
    fn the_same_images_reuse_the_task_definition() {
        let current = TaskDefinitionInfo {
            arn: "td:1".into(),
            containers: vec![("web".into(), "shop:2".into())],
        };
        let same = [ImageUpdate {
            container: "web".into(),
            image: "shop:2".into(),
        }];
        let other = [ImageUpdate {
            container: "web".into(),
            image: "shop:3".into(),
        }];
        assert!(already_runs(&current, &same));
        assert!(!already_runs(&current, &other));
    }
}
