//! In-memory fakes of every `ShifterPorts` port, and the faults they can be told to inject.
//!
//! One `World` holds what AWS would: a listener (and a test listener) with a forward action,
//! two ECS services whose deployments take time and can fail, target health that follows the
//! running tasks, alarms, the judge's CloudWatch metrics, CodePipeline's job registry (jobs
//! issued, one result each, continuation jobs, abandoned jobs), the deployment records with
//! the state table's conditional writes, Lambda hook functions and auto scaling. Every port is
//! the same handle, `FakeAws`, onto that world; Slack is `approval::testing::FakeSlack`.
//!
//! Faults: each port call gets a number (`World::calls`), and a `Faults` schedule says which
//! numbers fail and how (`Fault`); `Happening`s change the world at a call (a hand edit of the
//! listener, an alarm going off, the execution stopped). The world also records what the
//! invariants need (`Violation`s seen at the moment of a call, unverified weight writes).

use super::checks::confirm::{InvokeDeclaration, IssuedJob};
use super::phases::record::{DeploymentRecord, DeploymentStatus, HandOver};
use super::phases::scaling::SuspendedState;
use super::setup::hooks::Invocation;
use super::setup::images::ImageUpdate;
use super::setup::job::{ArtifactCredentials, InputArtifact, JobFailure, PipelineContext};
use super::*;
use crate::analysis::MetricQuery;
use crate::slack::PostedMessage;
use crate::store::StoreError;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

pub use crate::approval::testing::FakeSlack;

pub const CLUSTER: &str = "shop";
pub const LISTENER: &str =
    "arn:aws:elasticloadbalancing:us-east-1:123456789012:listener/app/shop/50dc6c495c0c9188/f2f7dc8efc522ab2";
pub const TEST_LISTENER: &str =
    "arn:aws:elasticloadbalancing:us-east-1:123456789012:listener/app/shop/50dc6c495c0c9188/0000000000000001";
pub const HOOK: &str = "arn:aws:lambda:us-east-1:123456789012:function:smoke";
pub const PIPELINE: &str = "shop";
pub const EXECUTION: &str = "e-1";
pub const FIRST_JOB: &str = "job-1";

/// The target group ARN of `side`'s service.
pub fn target_group(side: Side) -> String {
    format!("arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/shop-{side}/6d0ecf831eec9f09")
}

/// The ECS service of `side`.
pub fn service_name(side: Side) -> String {
    format!("shop-{side}")
}

/// How one port call fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Refused before it did anything (a throttle, after the SDK's own retries).
    Throttle,
    /// An internal error of the service: nothing done.
    ServerError,
    /// The call took effect but its answer never came (for `PutJobSuccessResult`: a lost
    /// result that CodePipeline did take).
    Timeout,
    /// The call took effect, then the invocation died (Lambda's process ended) before the
    /// next call: a later invocation resumes.
    Crash,
}

/// Something that happens to the world, not to a call: at the call numbered by the schedule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Happening {
    /// A person sets the production listener's weights by hand (blue, green).
    HandEdit { blue: u32, green: u32 },
    /// A watched alarm goes off (and stays off).
    AlarmFires,
    /// Someone stops the pipeline execution: CodePipeline abandons its job.
    StopExecution,
    /// An operator command arrives from Slack.
    Click(Command),
}

/// Which calls fail, and what happens in the world, by call number.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Faults {
    pub calls: BTreeMap<u64, Fault>,
    pub happenings: BTreeMap<u64, Happening>,
    /// Faults by (invocation, from 1; operation; its nth call in that invocation, from 1): a
    /// schedule written by hand that keeps its meaning when the shifter makes other calls.
    pub named: BTreeMap<(u32, &'static str, u32), Fault>,
    /// Happenings at such a call (just before it).
    pub named_happenings: BTreeMap<(u32, &'static str, u32), Happening>,
}

impl Faults {
    pub fn len(&self) -> usize {
        self.calls.len() + self.happenings.len() + self.named.len() + self.named_happenings.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// An invariant broken at the moment of a call (the end-of-run invariants are checked by the
/// simulation).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Violation {
    /// A service was scaled to zero while its target group took traffic.
    ScaledToZeroUnderTraffic { service: String, percent: u32 },
    /// Traffic was sent to a service with no task wanted.
    TrafficToEmptySide { service: String, percent: u32 },
    /// The job got its result while a weight write was never read back.
    UnverifiedWeights { listener: String },
    /// The sweep took a deployment from an invocation still running (its holder).
    SweptWhileDriven { holder: u32 },
}

/// An ECS service: what it runs, and the deployment (rollout) that is replacing its tasks.
#[derive(Debug, Clone)]
pub struct FakeService {
    pub task_definition: String,
    pub desired: i32,
    /// Running tasks of the settled state.
    pub running: i32,
    /// The rollout under way: when it settles, and whether it fails.
    pub rollout: Option<(i64, bool)>,
    /// Whether rollouts of this service fail (the new version crashes at start).
    pub broken: bool,
    /// How long a rollout takes, in milliseconds.
    pub rollout_ms: i64,
    pub suspended: Option<SuspendedState>,
}

/// One CodePipeline job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeJob {
    pub id: String,
    pub continuation: Option<String>,
    pub state: JobState,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobState {
    InProgress,
    /// Succeeded with a continuation token: a new job carries on.
    Continued,
    Succeeded(String),
    Failed(String),
    /// The execution was stopped (or the job timed out): results are refused.
    Abandoned,
}

/// A deployment's item in the state table, as the DynamoDB adapter
/// (`gantry_adapters::dynamodb::deployments`) writes and reads it: the holder's number and
/// lease are `record.watch`, and the item is a deployment only once `open` wrote its `state`.
#[derive(Debug, Clone)]
pub struct StoredDeployment {
    pub record: DeploymentRecord,
    /// `open` wrote the deployment (the item has `state`). `false`: the item holds only a lease
    /// a first invocation took before its first write; `read` does not see it.
    pub recorded: bool,
    /// The item has a `status` attribute (`open` or `set_status` wrote one).
    pub has_status: bool,
    pub audit: Vec<String>,
}

impl StoredDeployment {
    /// What an update creates on a key nothing was written to yet: the key alone.
    fn key_only(id: &str) -> Self {
        StoredDeployment {
            record: DeploymentRecord {
                id: id.to_string(),
                context: None,
                state: String::new(),
                status: DeploymentStatus::InProgress,
                summary: None,
                command: None,
                command_at: None,
                controls: 0,
                message: None,
                watch: Default::default(),
                handed_over: None,
            },
            recorded: false,
            has_status: false,
            audit: Vec::new(),
        }
    }
}

/// How the hook function answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HookBehaviour {
    Succeeds,
    /// IN_PROGRESS this many times, then SUCCEEDED.
    InProgress(u8),
    Fails,
}

/// What the judge's metrics show of the new side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NewSideHealth {
    AsGoodAsLive,
    /// Ten times the live side's error rate.
    Erroring,
}

/// Everything outside the shifter.
pub struct World {
    pub forward: BTreeMap<String, Vec<ForwardTarget>>,
    pub services: BTreeMap<String, FakeService>,
    /// Task definition ARN → containers (name, image).
    pub task_definitions: BTreeMap<String, Vec<(String, String)>>,
    pub alarms: BTreeMap<String, AlarmState>,
    pub new_side_health: NewSideHealth,
    pub jobs: Vec<FakeJob>,
    pub user_parameters: String,
    pub execution_status: String,
    /// Jobs CodePipeline issued and has not yet invoked the function for.
    pub to_invoke: Vec<String>,
    pub deployments: BTreeMap<String, StoredDeployment>,
    /// The sweep's index of deployments that may still be open: id → when listed (seconds).
    pub open_index: BTreeMap<String, i64>,
    /// The invocation (by number) that last took each deployment, and the invocations running
    /// now: the sweep must never take a deployment from one still running.
    pub holders: BTreeMap<String, u32>,
    pub running: std::collections::BTreeSet<u32>,
    pub hook: HookBehaviour,
    pub hook_calls: u32,
    pub threads: BTreeMap<String, PostedMessage>,
    /// Calls made so far; the next call's number.
    pub calls: u64,
    /// The running invocation (from 1), and its calls so far by operation.
    pub invocation: u32,
    pub calls_in_invocation: BTreeMap<String, u32>,
    pub faults: Faults,
    /// Set when a `Fault::Crash` fired: the running invocation is dead.
    pub crashed: bool,
    /// Invocations run side by side: every call first gives the driver a turn (`yielded`
    /// says the last poll ended at such a turn, not at a wait).
    pub interleave: bool,
    pub yielded: bool,
    /// Listener ARNs whose last weight write was not read back yet.
    pub unverified: Vec<String>,
    pub violations: Vec<Violation>,
    /// What happened, one line a call, for a failing schedule's report.
    pub log: Vec<String>,
    pub keep_log: bool,
}

impl World {
    /// Blue live (2 tasks, all traffic), green idle (no tasks), both on revision 1.
    pub fn new(user_parameters: &str) -> World {
        let revision = "arn:aws:ecs:us-east-1:123456789012:task-definition/shop:1".to_string();
        let service = |desired| FakeService {
            task_definition: revision.clone(),
            desired,
            running: desired,
            rollout: None,
            broken: false,
            rollout_ms: 60_000,
            suspended: None,
        };
        let forward = |blue, green| {
            vec![
                ForwardTarget {
                    target_group_arn: target_group(Side::Blue),
                    weight: Some(blue),
                },
                ForwardTarget {
                    target_group_arn: target_group(Side::Green),
                    weight: Some(green),
                },
            ]
        };
        World {
            forward: BTreeMap::from([
                (LISTENER.to_string(), forward(1, 0)),
                (TEST_LISTENER.to_string(), forward(1, 0)),
            ]),
            services: BTreeMap::from([
                (service_name(Side::Blue), service(2)),
                (service_name(Side::Green), service(0)),
            ]),
            task_definitions: BTreeMap::from([(
                revision.clone(),
                vec![("web".to_string(), "shop:old".to_string())],
            )]),
            alarms: BTreeMap::from([("shop-5xx".to_string(), AlarmState::Ok)]),
            new_side_health: NewSideHealth::AsGoodAsLive,
            jobs: vec![FakeJob {
                id: FIRST_JOB.into(),
                continuation: None,
                state: JobState::InProgress,
            }],
            user_parameters: user_parameters.to_string(),
            execution_status: "InProgress".into(),
            to_invoke: vec![FIRST_JOB.into()],
            deployments: BTreeMap::new(),
            open_index: BTreeMap::new(),
            holders: BTreeMap::new(),
            running: Default::default(),
            hook: HookBehaviour::Succeeds,
            hook_calls: 0,
            threads: BTreeMap::from([(
                EXECUTION.to_string(),
                PostedMessage {
                    channel: "C0DEPLOYS".into(),
                    ts: "1.0".into(),
                },
            )]),
            calls: 0,
            invocation: 0,
            calls_in_invocation: BTreeMap::new(),
            faults: Faults::default(),
            crashed: false,
            interleave: false,
            yielded: false,
            unverified: Vec::new(),
            violations: Vec::new(),
            log: Vec::new(),
            keep_log: false,
        }
    }

    /// The listener's (blue, green) shares in percent; `None` when it does not forward to both
    /// target groups with weights.
    pub fn percent(&self, listener: &str) -> Option<(u32, u32)> {
        let f = self.forward.get(listener)?;
        let weight = |side| {
            f.iter()
                .find(|t| t.target_group_arn == target_group(side))
                .and_then(|t| t.weight)
                .map(|w| w.max(0) as u32)
        };
        let (blue, green) = (weight(Side::Blue)?, weight(Side::Green)?);
        let total = blue + green;
        (total > 0).then(|| (blue * 100 / total, green * 100 / total))
    }

    pub fn job(&self, id: &str) -> Option<&FakeJob> {
        self.jobs.iter().find(|j| j.id == id)
    }

    /// The service as ECS describes it now: a rollout that is due has settled.
    fn settle(&mut self, name: &str) {
        let now = crate::clock::now_epoch_millis();
        if let Some(s) = self.services.get_mut(name) {
            if let Some((due, fails)) = s.rollout {
                if now >= due && !fails {
                    s.running = s.desired;
                    s.rollout = None;
                }
            }
        }
    }

    fn status(&self, name: &str) -> Option<ServiceStatus> {
        let s = self.services.get(name)?;
        let now = crate::clock::now_epoch_millis();
        let rollout = match s.rollout {
            None => Rollout::Completed,
            Some((due, true)) if now >= due => Rollout::Failed {
                reason: "tasks failed to start".into(),
            },
            Some(_) => Rollout::InProgress,
        };
        Some(ServiceStatus {
            task_definition: s.task_definition.clone(),
            desired: s.desired,
            running: if s.rollout.is_some() { 0 } else { s.running },
            deployments: if s.rollout.is_some() { 2 } else { 1 },
            rollout,
        })
    }

    /// Counts the call, applies what the schedule says happens at it, and answers the fault
    /// the call meets, if any.
    fn enter(&mut self, operation: &'static str) -> Option<Fault> {
        let n = self.calls;
        self.calls += 1;
        let nth = self
            .calls_in_invocation
            .entry(operation.to_string())
            .or_default();
        *nth += 1;
        let named = (self.invocation, operation, *nth);
        if let Some(h) = self.faults.named_happenings.remove(&named) {
            self.faults.happenings.insert(n, h);
        }
        if let Some(h) = self.faults.happenings.remove(&n) {
            // A person edits the listener or clicks during the deployment: before it is
            // recorded, or once it is rolling back or over, the edit or click waits.
            let under_way = self
                .deployments
                .get(FIRST_JOB)
                .is_some_and(|d| d.recorded && d.record.status == DeploymentStatus::InProgress);
            // A hand edit lands just before the shifter reads the listener: one made after its
            // last look, while it reports, is nothing it could see.
            let waits = match h {
                Happening::HandEdit { .. } => !under_way || operation != "elbv2.DescribeRules",
                Happening::Click(_) => !under_way,
                _ => false,
            };
            if waits {
                self.faults.happenings.entry(n + 1).or_insert(h);
            } else {
                if self.keep_log {
                    self.log.push(format!("#{n} happens: {h:?}"));
                }
                self.happen(&h);
            }
        }
        let fault = self
            .faults
            .calls
            .get(&n)
            .or_else(|| self.faults.named.get(&named))
            .copied();
        if self.keep_log {
            let what = fault.map(|f| format!(": {f:?}")).unwrap_or_default();
            let by = self.invocation;
            self.log
                .push(format!("#{n} (invocation {by}) {operation}{what}"));
        }
        fault
    }

    fn happen(&mut self, h: &Happening) {
        match h {
            Happening::HandEdit { blue, green } => {
                if let Some(f) = self.forward.get_mut(LISTENER) {
                    for t in f.iter_mut() {
                        t.weight = Some(if t.target_group_arn == target_group(Side::Blue) {
                            *blue as i32
                        } else {
                            *green as i32
                        });
                    }
                }
            }
            Happening::AlarmFires => {
                for state in self.alarms.values_mut() {
                    *state = AlarmState::Alarm;
                }
            }
            Happening::StopExecution => {
                self.execution_status = "Stopped".into();
                for j in self.jobs.iter_mut() {
                    if j.state == JobState::InProgress {
                        j.state = JobState::Abandoned;
                    }
                }
            }
            Happening::Click(command) => {
                if let Some(d) = self.deployments.get_mut(FIRST_JOB).filter(|d| d.recorded) {
                    if d.record.command.is_none() {
                        d.record.command = Some(command.clone());
                        d.record.command_at = Some(self.calls.to_string());
                    }
                }
            }
        }
    }

    /// A new invocation starts (Lambda runs the function): nothing of the last one is running.
    pub fn invoked(&mut self) {
        self.invocation += 1;
        self.calls_in_invocation.clear();
        self.crashed = false;
    }

    /// The deployment, once recorded (what `read` sees).
    pub fn recorded(&self, id: &str) -> Option<&DeploymentRecord> {
        self.deployments
            .get(id)
            .filter(|d| d.recorded)
            .map(|d| &d.record)
    }

    /// The job got its result: every weight write must have been read back by then.
    fn check_verified(&mut self) {
        for listener in std::mem::take(&mut self.unverified) {
            self.violations
                .push(Violation::UnverifiedWeights { listener });
        }
    }
}

/// Pending once: the driver's turn to run another invocation before this call.
struct DriversTurn(bool);

impl std::future::Future for DriversTurn {
    type Output = ();
    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<()> {
        if self.0 {
            return std::task::Poll::Ready(());
        }
        self.0 = true;
        std::task::Poll::Pending
    }
}

/// Every AWS port, onto one shared `World`.
#[derive(Clone)]
pub struct FakeAws(pub Arc<Mutex<World>>);

/// What a call does after its fault: the error to answer, or a hang (the invocation died).
enum After {
    Answer,
    Fail(String),
    Die,
}

impl FakeAws {
    pub fn new(world: World) -> Self {
        FakeAws(Arc::new(Mutex::new(world)))
    }

    pub fn world(&self) -> MutexGuard<'_, World> {
        // A test that panicked while holding the world has failed already.
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs a call: counts it, meets its fault, and applies `effect` unless the fault refuses
    /// the call first. Reads pass `effect` that only reads.
    async fn call<T>(
        &self,
        operation: &'static str,
        effect: impl FnOnce(&mut World) -> T,
    ) -> Result<T, String> {
        let interleave = {
            let mut w = self.world();
            w.yielded = w.interleave;
            w.interleave
        };
        if interleave {
            DriversTurn(false).await;
        }
        let (value, after) = {
            let mut w = self.world();
            match w.enter(operation) {
                Some(Fault::Throttle) => return Err(format!("{operation}: ThrottlingException")),
                Some(Fault::ServerError) => {
                    return Err(format!("{operation}: InternalFailure (500)"))
                }
                Some(Fault::Timeout) => (
                    effect(&mut w),
                    After::Fail(format!("{operation}: timed out")),
                ),
                Some(Fault::Crash) => {
                    w.crashed = true;
                    (effect(&mut w), After::Die)
                }
                None => (effect(&mut w), After::Answer),
            }
        };
        match after {
            After::Answer => Ok(value),
            After::Fail(e) => Err(e),
            After::Die => std::future::pending().await,
        }
    }

    async fn aws<T>(
        &self,
        operation: &'static str,
        effect: impl FnOnce(&mut World) -> T,
    ) -> Result<T, ShiftError> {
        self.call(operation, effect)
            .await
            .map_err(|reason| ShiftError::Aws {
                operation: operation.to_string(),
                reason,
            })
    }

    async fn table<T>(
        &self,
        operation: &'static str,
        effect: impl FnOnce(&mut World) -> T,
    ) -> Result<T, StoreError> {
        self.call(operation, effect).await.map_err(StoreError::new)
    }
}

impl Cluster for FakeAws {
    async fn service(&self, _c: &str, name: &str) -> Result<Option<ServiceStatus>, ShiftError> {
        self.aws("ecs.DescribeServices", |w| {
            w.settle(name);
            w.status(name)
        })
        .await
    }

    async fn task_definition(&self, arn: &str) -> Result<TaskDefinitionInfo, ShiftError> {
        let containers = self
            .aws("ecs.DescribeTaskDefinition", |w| {
                w.task_definitions.get(arn).cloned()
            })
            .await?;
        containers
            .map(|containers| TaskDefinitionInfo {
                arn: arn.to_string(),
                containers,
            })
            .ok_or_else(|| ShiftError::Setup(format!("no task definition {arn}")))
    }

    async fn register_with_images(
        &self,
        arn: &str,
        updates: &[ImageUpdate],
    ) -> Result<String, ShiftError> {
        self.aws("ecs.RegisterTaskDefinition", |w| {
            let mut containers = w.task_definitions.get(arn).cloned().unwrap_or_default();
            for u in updates {
                for (name, image) in containers.iter_mut() {
                    if *name == u.container {
                        *image = u.image.clone();
                    }
                }
            }
            let revision = format!(
                "arn:aws:ecs:us-east-1:123456789012:task-definition/shop:{}",
                w.task_definitions.len() + 1
            );
            w.task_definitions.insert(revision.clone(), containers);
            revision
        })
        .await
    }

    async fn update_service(
        &self,
        _c: &str,
        name: &str,
        task_definition: Option<&str>,
        desired: i32,
    ) -> Result<(), ShiftError> {
        self.aws("ecs.UpdateService", |w| {
            let side = [Side::Blue, Side::Green]
                .into_iter()
                .find(|s| service_name(*s) == name);
            if let (Some(side), Some((blue, green))) = (side, w.percent(LISTENER)) {
                let percent = if side == Side::Blue { blue } else { green };
                if desired == 0 && percent > 0 {
                    w.violations.push(Violation::ScaledToZeroUnderTraffic {
                        service: name.to_string(),
                        percent,
                    });
                }
            }
            w.settle(name);
            let now = crate::clock::now_epoch_millis();
            if let Some(s) = w.services.get_mut(name) {
                let changed = task_definition.is_some_and(|t| t != s.task_definition);
                if let Some(t) = task_definition {
                    s.task_definition = t.to_string();
                }
                s.desired = desired;
                if changed || s.running != desired {
                    // A new revision fails to start on a broken service; the old one ran.
                    let fails = changed && s.broken;
                    s.rollout = Some((now + s.rollout_ms, fails));
                    if desired < s.running && !changed {
                        // Scaling in is quick.
                        s.running = desired;
                        s.rollout = None;
                    }
                }
            }
        })
        .await
    }
}

impl LoadBalancer for FakeAws {
    async fn forward(&self, control: &TrafficControl) -> Result<Vec<ForwardTarget>, ShiftError> {
        self.aws("elbv2.DescribeRules", |w| {
            w.unverified.retain(|l| l != control.arn());
            w.forward.get(control.arn()).cloned()
        })
        .await?
        .ok_or_else(|| ShiftError::Setup(format!("no {}", control.describe())))
    }

    async fn set_weights(
        &self,
        control: &TrafficControl,
        weights: &[(String, u32)],
    ) -> Result<(), ShiftError> {
        self.aws("elbv2.ModifyListener", |w| {
            let total: u32 = weights.iter().map(|(_, w)| w).sum();
            for (arn, weight) in weights {
                let side = [Side::Blue, Side::Green]
                    .into_iter()
                    .find(|s| target_group(*s) == *arn);
                let wanted = side
                    .and_then(|s| w.services.get(&service_name(s)))
                    .map_or(1, |s| s.desired);
                if control.arn() == LISTENER && *weight > 0 && wanted == 0 {
                    w.violations.push(Violation::TrafficToEmptySide {
                        service: arn.clone(),
                        percent: weight * 100 / total.max(1),
                    });
                }
            }
            if let Some(f) = w.forward.get_mut(control.arn()) {
                for t in f.iter_mut() {
                    if let Some((_, weight)) =
                        weights.iter().find(|(a, _)| *a == t.target_group_arn)
                    {
                        t.weight = Some(*weight as i32);
                    }
                }
                let arn = control.arn().to_string();
                if !w.unverified.contains(&arn) {
                    w.unverified.push(arn);
                }
            }
        })
        .await
    }

    async fn target_health(&self, arn: &str) -> Result<TargetHealth, ShiftError> {
        self.aws("elbv2.DescribeTargetHealth", |w| {
            let side = [Side::Blue, Side::Green]
                .into_iter()
                .find(|s| target_group(*s) == arn);
            let name = side.map(service_name).unwrap_or_default();
            w.settle(&name);
            let running = w.status(&name).map_or(0, |s| s.running);
            TargetHealth {
                target_group: name,
                healthy: running.max(0) as u32,
                ..TargetHealth::default()
            }
        })
        .await
    }
}

impl AlarmWatch for FakeAws {
    async fn states(&self, names: &[String]) -> Result<Vec<AlarmReading>, ShiftError> {
        self.aws("cloudwatch.DescribeAlarms", |w| {
            names
                .iter()
                .map(|name| AlarmReading {
                    name: name.clone(),
                    state: w.alarms.get(name).copied().unwrap_or(AlarmState::Missing),
                })
                .collect()
        })
        .await
    }
}

impl TargetMetrics for FakeAws {
    /// A minute's 1,000 requests on each side, 0.1% errors on the live side (1% on an erroring
    /// new side), p99 at 120 ms.
    async fn series(
        &self,
        queries: &[MetricQuery],
        start: i64,
        end: i64,
    ) -> Result<Vec<MetricSeries>, ShiftError> {
        self.aws("cloudwatch.GetMetricData", |w| {
            queries
                .iter()
                .map(|q| {
                    let period = i64::from(q.period_seconds.max(1));
                    let value = match q.id {
                        "n_req" | "l_req" => 1_000.0,
                        "n_5xx" if w.new_side_health == NewSideHealth::Erroring => 100.0,
                        "n_5xx" | "l_5xx" => 1.0,
                        _ => 0.12,
                    };
                    let first = start.div_euclid(period) * period;
                    MetricSeries {
                        id: q.id.to_string(),
                        points: (first..end)
                            .step_by(period as usize)
                            .filter(|t| *t >= start)
                            .map(|t| (t, value))
                            .collect(),
                    }
                })
                .collect()
        })
        .await
    }
}

impl Jobs for FakeAws {
    async fn succeed(
        &self,
        job_id: &str,
        continuation: Option<&str>,
        progress: &JobProgress,
    ) -> Result<Ack, ShiftError> {
        self.aws("codepipeline.PutJobSuccessResult", |w| {
            let accepted = w
                .jobs
                .iter()
                .any(|j| j.id == job_id && j.state == JobState::InProgress);
            if !accepted {
                return Ack::AlreadyFinished;
            }
            w.check_verified();
            let state = match continuation {
                Some(token) => {
                    let id = format!("job-{}", w.jobs.len() + 1);
                    w.jobs.push(FakeJob {
                        id: id.clone(),
                        continuation: Some(token.to_string()),
                        state: JobState::InProgress,
                    });
                    w.to_invoke.push(id);
                    JobState::Continued
                }
                None => JobState::Succeeded(progress.summary.clone()),
            };
            if let Some(j) = w.jobs.iter_mut().find(|j| j.id == job_id) {
                j.state = state;
            }
            Ack::Accepted
        })
        .await
    }

    async fn fail(&self, job_id: &str, failure: &JobFailure) -> Result<Ack, ShiftError> {
        self.aws("codepipeline.PutJobFailureResult", |w| {
            match w
                .jobs
                .iter_mut()
                .find(|j| j.id == job_id && j.state == JobState::InProgress)
            {
                Some(j) => {
                    j.state = JobState::Failed(failure.message.clone());
                    // The action failed, so its stage and the execution did.
                    w.execution_status = "Failed".into();
                    w.check_verified();
                    Ack::Accepted
                }
                None => Ack::AlreadyFinished,
            }
        })
        .await
    }

    async fn execution_status(
        &self,
        _pipeline: &str,
        _execution_id: &str,
    ) -> Result<Option<String>, ShiftError> {
        self.aws("codepipeline.GetPipelineExecution", |w| {
            Some(w.execution_status.clone())
        })
        .await
    }

    async fn issued(&self, job_id: &str) -> Result<Option<IssuedJob>, ShiftError> {
        self.aws("codepipeline.GetJobDetails", |w| {
            w.job(job_id).map(|j| IssuedJob {
                context: Some(context()),
                provider: Some("Lambda".into()),
                user_parameters: Some(w.user_parameters.clone()),
                continuation_token: j.continuation.clone(),
            })
        })
        .await
    }

    async fn declared_action(
        &self,
        _context: &PipelineContext,
    ) -> Result<Option<InvokeDeclaration>, ShiftError> {
        self.aws("codepipeline.GetPipeline", |w| {
            Some(InvokeDeclaration {
                provider: "Lambda".into(),
                function_name: None,
                user_parameters: Some(w.user_parameters.clone()),
            })
        })
        .await
    }
}

/// The job's place: `shop`/`Deploy`/`Shift`, execution `e-1`.
pub fn context() -> PipelineContext {
    PipelineContext {
        pipeline: PIPELINE.into(),
        stage: "Deploy".into(),
        action: "Shift".into(),
        execution_id: EXECUTION.into(),
    }
}

impl ArtifactStore for FakeAws {
    /// The simulated pipelines name their image in the parameters: no artifact is read.
    async fn fetch(
        &self,
        artifact: &InputArtifact,
        _credentials: Option<&ArtifactCredentials>,
    ) -> Result<Vec<u8>, ShiftError> {
        Err(ShiftError::Setup(format!("no artifact {}", artifact.name)))
    }
}

/// The table as the DynamoDB adapter uses it (`gantry_adapters::dynamodb::deployments` and
/// `open_deployments`): the same conditions, the same calls (a conditional write that fails
/// and is followed by a read is two calls), so a fault lands where it would in AWS.
impl DeploymentStore for FakeAws {
    async fn open(
        &self,
        id: &str,
        context: Option<&PipelineContext>,
        state: &str,
        now: i64,
    ) -> Result<DeploymentRecord, StoreError> {
        // Listed first: a record the sweep's index does not know could be orphaned unseen.
        self.table("dynamodb.PutItem(index)", |w| {
            w.open_index.insert(id.to_string(), now);
        })
        .await?;
        // An update on `attribute_not_exists(state)`: the lease taken before stays.
        let created = self
            .table("dynamodb.UpdateItem(open)", |w| {
                let d = w
                    .deployments
                    .entry(id.to_string())
                    .or_insert_with(|| StoredDeployment::key_only(id));
                if d.recorded {
                    return None;
                }
                d.recorded = true;
                d.has_status = true;
                d.record.state = state.to_string();
                d.record.status = DeploymentStatus::InProgress;
                d.record.watch.created_ms = now * 1000;
                if let Some(c) = context {
                    d.record.context = Some(c.clone());
                }
                Some(d.record.clone())
            })
            .await?;
        if let Some(record) = created {
            return Ok(record);
        }
        // A repeated first invocation: what the first one decided stands.
        self.table("dynamodb.GetItem(open)", |w| w.recorded(id).cloned())
            .await?
            .ok_or_else(|| StoreError::new(format!("deployment {id} was recorded and is gone")))
    }

    async fn read(&self, id: &str) -> Result<Option<DeploymentRecord>, StoreError> {
        // A lease taken before the deployment was recorded is not a deployment yet.
        self.table("dynamodb.GetItem", |w| w.recorded(id).cloned())
            .await
    }

    async fn claim(&self, id: &str, seq: u32) -> Result<bool, StoreError> {
        self.table("dynamodb.UpdateItem(claim)", |w| {
            let d = w
                .deployments
                .entry(id.to_string())
                .or_insert_with(|| StoredDeployment::key_only(id));
            let taken = d.record.watch.seq.is_none_or(|held| held <= seq);
            if taken {
                d.record.watch.seq = Some(seq);
            }
            taken
        })
        .await
    }

    async fn take(
        &self,
        id: &str,
        seq: u32,
        now_ms: i64,
        until_ms: i64,
    ) -> Result<Turn, StoreError> {
        let taken = self
            .table("dynamodb.UpdateItem(take)", |w| {
                let by = w.invocation;
                let d = w
                    .deployments
                    .entry(id.to_string())
                    .or_insert_with(|| StoredDeployment::key_only(id));
                let lease = d.record.watch.lease_until_ms;
                let free = match d.record.watch.seq {
                    None => true,
                    Some(held) => held < seq || (held == seq && lease > 0 && lease < now_ms),
                };
                if free {
                    d.record.watch.seq = Some(seq);
                    d.record.watch.lease_until_ms = until_ms;
                    w.holders.insert(id.to_string(), by);
                }
                free
            })
            .await?;
        if taken {
            return Ok(Turn::Taken);
        }
        self.table("dynamodb.GetItem(turn)", |w| {
            match w.deployments.get(id).map(|d| &d.record.watch) {
                Some(watch) if watch.seq == Some(seq) && watch.lease_until_ms > 0 => Turn::Held {
                    until_ms: watch.lease_until_ms,
                },
                _ => Turn::Overtaken,
            }
        })
        .await
    }

    async fn record_hand_over(
        &self,
        id: &str,
        held: u32,
        next: &HandOver,
    ) -> Result<bool, StoreError> {
        self.table("dynamodb.UpdateItem(hand over)", |w| {
            match w.deployments.get_mut(id) {
                Some(d) if d.record.watch.seq == Some(held) => {
                    d.record.handed_over = Some(next.clone());
                    true
                }
                _ => false,
            }
        })
        .await
    }

    async fn release(&self, id: &str, seq: u32) -> Result<(), StoreError> {
        self.table("dynamodb.UpdateItem(release)", |w| {
            if let Some(d) = w
                .deployments
                .get_mut(id)
                .filter(|d| d.record.watch.seq == Some(seq))
            {
                d.record.watch.lease_until_ms = 0;
                d.record.watch.released_ms = crate::clock::now_epoch_millis();
            }
        })
        .await
    }

    async fn let_go(&self, id: &str, seq: u32) -> Result<(), StoreError> {
        self.table("dynamodb.UpdateItem(let go)", |w| {
            let now = crate::clock::now_epoch_millis();
            if let Some(d) = w.deployments.get_mut(id).filter(|d| {
                d.record.watch.seq == Some(seq)
                    && d.record.watch.lease_until_ms > 0
                    && d.record.watch.lease_until_ms > now
            }) {
                d.record.watch.lease_until_ms = now.max(1);
            }
        })
        .await
    }

    async fn clear_command(&self, id: &str, command_at: Option<&str>) -> Result<(), StoreError> {
        self.table("dynamodb.UpdateItem(clear command)", |w| {
            if let Some(d) = w.deployments.get_mut(id) {
                if d.record.command_at.as_deref() == command_at {
                    d.record.command = None;
                    d.record.command_at = None;
                }
            }
        })
        .await
    }

    async fn set_controls(&self, id: &str, version: u32) -> Result<(), StoreError> {
        self.table("dynamodb.UpdateItem(controls)", |w| {
            if let Some(d) = w.deployments.get_mut(id) {
                d.record.controls = version;
            }
        })
        .await
    }

    async fn audit(&self, id: &str, entry: &str) -> Result<(), StoreError> {
        self.table("dynamodb.UpdateItem(audit)", |w| {
            if let Some(d) = w.deployments.get_mut(id) {
                d.audit.push(entry.to_string());
            }
        })
        .await
    }

    async fn save_message(&self, id: &str, message: &PostedMessage) -> Result<(), StoreError> {
        self.table("dynamodb.UpdateItem(message)", |w| {
            let d = w
                .deployments
                .entry(id.to_string())
                .or_insert_with(|| StoredDeployment::key_only(id));
            d.record.message = Some(message.clone());
        })
        .await
    }

    async fn set_status(
        &self,
        id: &str,
        status: DeploymentStatus,
        summary: &str,
        _now: i64,
    ) -> Result<(), StoreError> {
        self.table("dynamodb.UpdateItem(status)", |w| {
            let d = w
                .deployments
                .entry(id.to_string())
                .or_insert_with(|| StoredDeployment::key_only(id));
            d.has_status = true;
            d.record.status = status;
            d.record.summary = Some(summary.to_string());
        })
        .await
        // The entry stays on the index: the sweep takes it off.
    }

    async fn note_job(&self, id: &str, job_id: &str, token: &HandOver) -> Result<bool, StoreError> {
        self.table("dynamodb.UpdateItem(note job)", |w| {
            match w.deployments.get_mut(id) {
                Some(d) if d.record.handed_over.as_ref() == Some(token) => {
                    d.record.watch.job_id = Some(job_id.to_string());
                    true
                }
                _ => false,
            }
        })
        .await
    }

    async fn keep_job(
        &self,
        id: &str,
        seq: u32,
        job_id: &str,
        user_parameters: &str,
    ) -> Result<(), StoreError> {
        self.table("dynamodb.UpdateItem(keep job)", |w| {
            if let Some(d) = w
                .deployments
                .get_mut(id)
                .filter(|d| d.record.watch.seq == Some(seq))
            {
                d.record.watch.job_id = Some(job_id.to_string());
                d.record.watch.user_parameters = Some(user_parameters.to_string());
            }
        })
        .await
    }

    async fn open_deployments(&self) -> Result<Vec<super::phases::sweep::Listed>, StoreError> {
        let entries: Vec<(String, i64)> = self
            .table("dynamodb.Query(index)", |w| {
                w.open_index
                    .iter()
                    .map(|(id, at)| (id.clone(), *at))
                    .collect()
            })
            .await?;
        let mut out = Vec::with_capacity(entries.len());
        for (id, listed_at) in entries {
            // Only a recorded deployment: a lease alone is none, as in `read`.
            let record = self
                .table("dynamodb.GetItem(listed)", |w| w.recorded(&id).cloned())
                .await?;
            out.push(super::phases::sweep::Listed {
                id,
                listed_ms: listed_at * 1000,
                record,
            });
        }
        Ok(out)
    }

    async fn forget(&self, id: &str) -> Result<(), StoreError> {
        self.table("dynamodb.DeleteItem(index)", |w| {
            w.open_index.remove(id);
        })
        .await
    }

    async fn take_orphan(
        &self,
        id: &str,
        seen: &super::phases::record::Watch,
        seq: u32,
        until_ms: i64,
    ) -> Result<bool, StoreError> {
        self.table("dynamodb.UpdateItem(take orphan)", |w| {
            let by = w.invocation;
            let Some(d) = w.deployments.get_mut(id) else {
                return false;
            };
            let open = d.has_status
                && matches!(
                    d.record.status,
                    DeploymentStatus::InProgress | DeploymentStatus::RollingBack
                );
            let taken = open
                && d.record.watch.seq == seen.seq
                && d.record.watch.lease_until_ms == seen.lease_until_ms;
            if !taken {
                return false;
            }
            d.record.watch.seq = Some(seq);
            d.record.watch.lease_until_ms = until_ms;
            if let Some(holder) = w.holders.insert(id.to_string(), by) {
                if w.running.contains(&holder) {
                    w.violations.push(Violation::SweptWhileDriven { holder });
                }
            }
            true
        })
        .await
    }

    async fn execution_thread(
        &self,
        _pipeline: &str,
        execution_id: &str,
    ) -> Result<Option<PostedMessage>, StoreError> {
        self.table("dynamodb.GetItem(thread)", |w| {
            w.threads.get(execution_id).cloned()
        })
        .await
    }
}

impl HookFunctions for FakeAws {
    async fn invoke(&self, _function_arn: &str, _payload: &str) -> Result<Invocation, ShiftError> {
        self.aws("lambda.Invoke", |w| {
            w.hook_calls += 1;
            let status = match w.hook {
                HookBehaviour::Succeeds => "SUCCEEDED",
                HookBehaviour::InProgress(n) if w.hook_calls <= u32::from(n) => "IN_PROGRESS",
                HookBehaviour::InProgress(_) => "SUCCEEDED",
                HookBehaviour::Fails => "FAILED",
            };
            Invocation::Returned(format!(
                r#"{{"hookStatus": "{status}", "callBackDelay": 30}}"#
            ))
        })
        .await
    }
}

impl ServiceScaling for FakeAws {
    async fn suspended(
        &self,
        _cluster: &str,
        service: &str,
    ) -> Result<Option<SuspendedState>, ShiftError> {
        self.aws("application-autoscaling.DescribeScalableTargets", |w| {
            w.services.get(service).and_then(|s| s.suspended)
        })
        .await
    }

    async fn set_suspended(
        &self,
        _cluster: &str,
        service: &str,
        state: SuspendedState,
    ) -> Result<(), ShiftError> {
        self.aws("application-autoscaling.RegisterScalableTarget", |w| {
            if let Some(s) = w.services.get_mut(service) {
                s.suspended = Some(state);
            }
        })
        .await
    }
}

/// The shifter over the fakes.
pub struct ShifterFakes;

impl ShifterPorts for ShifterFakes {
    type Cluster = FakeAws;
    type Balancer = FakeAws;
    type Alarms = FakeAws;
    type Jobs = FakeAws;
    type Artifacts = FakeAws;
    type Store = FakeAws;
    type Chat = FakeSlack;
    type Hooks = FakeAws;
    type Scaling = FakeAws;
    type Accounts = super::account::OneAccount;
}

/// A shifter whose every port is `aws`, posting progress to a `FakeSlack`; the judge takes a
/// window as complete as soon as it ends.
pub fn shifter(aws: &FakeAws) -> Shifter<ShifterFakes> {
    Shifter {
        cluster: aws.clone(),
        balancer: aws.clone(),
        alarms: aws.clone(),
        jobs: aws.clone(),
        artifacts: aws.clone(),
        store: aws.clone(),
        slack: Some(SlackProgress {
            client: FakeSlack::default(),
            failures_only: Vec::new(),
        }),
        slice: DEFAULT_SLICE,
        analysis_settle_seconds: -1,
        hooks: aws.clone(),
        scaling: aws.clone(),
        accounts: super::account::OneAccount,
        function_name: None,
        orphan_after: std::time::Duration::from_secs(u64::from(
            crate::traffic::phases::sweep::DEFAULT_ORPHAN_AFTER_SECONDS,
        )),
    }
}
