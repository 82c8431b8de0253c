//! The deterministic simulation of the traffic shifter (FoundationDB's simulator, TigerBeetle's
//! VOPR): a seeded generator makes a whole deployment (its strategy, the judge, hooks, pauses,
//! a new version that is fine or not) and a schedule of faults (`testing::Fault`,
//! `testing::Happening`, duplicate invocations); `run` drives the `Shifter` over the in-memory
//! fakes as CodePipeline and Lambda would (the first job, continuation jobs with their token,
//! Lambda's two retries of a failed or dead invocation, a duplicate delivery later or at once,
//! the two then taking turns at every call), on a simulated clock that moves on only when every
//! running invocation waits, and checks the invariants. A failing schedule shrinks to the few
//! faults that break it.
//!
//! `GANTRY_SIM_SEED=<n>` replays one seed with its log of calls; `GANTRY_SIM_SCHEDULES=<n>`
//! sets how many seeds the test runs (default `DEFAULT_SCHEDULES`).

use super::flow::SweepReport;
use super::setup::hooks::LifecycleStage;
use super::testing::*;
use super::*;
use crate::clock::simulated;
use std::cell::Cell;
use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap};
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

/// How many schedules `cargo test` runs.
const DEFAULT_SCHEDULES: u64 = 10_000;

/// Invocations after which a deployment counts as running away (CodePipeline would time the
/// action out long before).
const MAX_INVOCATIONS: u32 = 400;

/// A small seeded generator (xorshift64*, Vigna 2016): the same seed gives the same schedule
/// on every machine.
struct Seeded(u64);

impl Seeded {
    fn new(seed: u64) -> Self {
        // Never zero, and nearby seeds far apart.
        Seeded((seed ^ 0x2545_F491_4F6C_DD1D).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    fn draw(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `lo..=hi`.
    fn pick(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.draw() % (hi - lo + 1)
    }

    /// `true` once in `n`.
    fn one_in(&mut self, n: u64) -> bool {
        self.draw().is_multiple_of(n)
    }
}

/// The hooks a deployment runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Hooks {
    None,
    /// A hook function at the given stage, answering as told.
    Function(LifecycleStage, HookBehaviour),
    /// A pause hook after test traffic reached the new side that nobody clicks: it times out
    /// after a minute and continues (`true`) or rolls back.
    Pause {
        continue_on_timeout: bool,
    },
}

/// The deployment a schedule makes.
#[derive(Debug, Clone, PartialEq)]
struct Scenario {
    strategy: Strategy,
    check_seconds: u32,
    scale_down_after_seconds: u32,
    judge: bool,
    test_listener: bool,
    hooks: Hooks,
    /// The new version's tasks fail to start.
    broken: bool,
    /// The new version answers ten times as many errors (the judge, if on, notices).
    erroring: bool,
    /// Progress goes to Slack (a quarter of the schedules: rendering the message is most of
    /// a run's cost, and what Slack adds is a few more table writes).
    slack: bool,
    /// `wait_between_checks: in_codepipeline`: every wait between two checks ends the
    /// invocation with a continuation token.
    hand_back: bool,
    /// How long after a hand-over CodePipeline invokes the continuation job.
    continuation_ms: i64,
    /// The function's Lambda timeout: each invocation's budget.
    timeout_ms: u64,
}

impl Scenario {
    fn user_parameters(&self) -> String {
        let strategy = match self.strategy {
            Strategy::AllAtOnce => serde_json::json!({"type": "all_at_once"}),
            Strategy::Canary {
                percent,
                bake_seconds,
            } => {
                serde_json::json!({"type": "canary", "percent": percent, "bake_seconds": bake_seconds})
            }
            Strategy::Linear {
                step_percent,
                interval_seconds,
            } => {
                serde_json::json!({"type": "linear", "step_percent": step_percent, "interval_seconds": interval_seconds})
            }
        };
        let mut p = serde_json::json!({
            "cluster": CLUSTER,
            "listener_arn": LISTENER,
            "blue": {"service": service_name(Side::Blue), "target_group_arn": target_group(Side::Blue)},
            "green": {"service": service_name(Side::Green), "target_group_arn": target_group(Side::Green)},
            "image": "shop:new",
            "strategy": strategy,
            "alarms": ["shop-5xx"],
            "check_interval_seconds": self.check_seconds,
            "scale_down_after_seconds": self.scale_down_after_seconds,
            "ready_timeout_seconds": 600,
        });
        if self.judge {
            p["analysis"] = serde_json::json!({"on_inconclusive": "continue"});
        }
        if self.test_listener {
            p["test_listener_arn"] = TEST_LISTENER.into();
        }
        match self.hooks {
            Hooks::None => {}
            Hooks::Function(stage, _) => {
                p["lifecycle_hooks"] = serde_json::json!([{"hook_target_arn": HOOK, "lifecycle_stages": [stage.name()]}]);
            }
            Hooks::Pause {
                continue_on_timeout,
            } => {
                let action = if continue_on_timeout {
                    "CONTINUE"
                } else {
                    "ROLLBACK"
                };
                p["lifecycle_hooks"] = serde_json::json!([{"type": "pause",
                    "lifecycle_stages": ["POST_TEST_TRAFFIC_SHIFT"],
                    "timeout_minutes": 1, "timeout_action": action}]);
            }
        }
        if self.hand_back {
            p["wait_between_checks"] = serde_json::json!("in_codepipeline");
        }
        p.to_string()
    }

    /// Whether, with nothing going wrong outside, the deployment must succeed.
    fn should_succeed(&self) -> bool {
        let fails = self.broken
            || (self.erroring && self.judge)
            || matches!(
                self.hooks,
                Hooks::Function(_, HookBehaviour::Fails)
                    | Hooks::Pause {
                        continue_on_timeout: false
                    }
            );
        !fails
    }
}

/// One simulated run: the deployment, and what goes wrong around it.
#[derive(Debug, Clone, PartialEq)]
struct Schedule {
    seed: u64,
    scenario: Scenario,
    faults: Faults,
    /// Invocation numbers (from 1) whose event Lambda delivers a second time, a little later.
    duplicates: BTreeSet<u32>,
    /// Invocation numbers whose event Lambda delivers twice at once: the two run side by
    /// side, taking turns at every call.
    twins: BTreeSet<u32>,
    /// Moments (seconds after the first job) at which EventBridge's schedule runs the sweep,
    /// whatever invocation is running then: it must leave a deployment still driven alone.
    sweeps: BTreeSet<u32>,
}

/// How many port calls a clean run of a scenario makes, about: faults are scheduled among them.
const HORIZON: u64 = 160;

fn generate(seed: u64) -> Schedule {
    let mut r = Seeded::new(seed);
    let strategy = match r.pick(0, 2) {
        0 => Strategy::AllAtOnce,
        1 => Strategy::Canary {
            percent: r.pick(5, 50) as u8,
            bake_seconds: r.pick(30, 900) as u32,
        },
        _ => Strategy::Linear {
            step_percent: [10, 20, 25, 50][r.pick(0, 3) as usize],
            interval_seconds: r.pick(30, 300) as u32,
        },
    };
    let hooks = match r.pick(0, 5) {
        0..=2 => Hooks::None,
        3..=4 => Hooks::Function(
            LifecycleStage::ALL[r.pick(0, 5) as usize],
            match r.pick(0, 5) {
                0 => HookBehaviour::Fails,
                1..=2 => HookBehaviour::InProgress(r.pick(1, 3) as u8),
                _ => HookBehaviour::Succeeds,
            },
        ),
        _ => Hooks::Pause {
            continue_on_timeout: !r.one_in(3),
        },
    };
    let scenario = Scenario {
        strategy,
        check_seconds: r.pick(5, 60) as u32,
        scale_down_after_seconds: r.pick(0, 600) as u32,
        judge: r.one_in(2),
        test_listener: r.one_in(3),
        hooks,
        broken: r.one_in(8),
        erroring: r.one_in(6),
        // Drawn last (below), so that adding it kept every seed's other draws.
        slack: false,
        hand_back: false,
        continuation_ms: 1_000,
        timeout_ms: 900_000,
    };
    let mut faults = Faults::default();
    for _ in 0..r.pick(0, 4) {
        let fault = match r.pick(0, 9) {
            0..=2 => Fault::Throttle,
            3..=4 => Fault::ServerError,
            5..=7 => Fault::Timeout,
            _ => Fault::Crash,
        };
        faults.calls.insert(r.pick(0, HORIZON), fault);
    }
    if r.one_in(4) {
        let happening = match r.pick(0, 4) {
            0 => {
                let green = r.pick(0, 100) as u32;
                Happening::HandEdit {
                    blue: 100 - green,
                    green,
                }
            }
            1 => Happening::AlarmFires,
            2 => Happening::StopExecution,
            3 => Happening::Click(Command::Promote {
                by: "U0JANE".into(),
            }),
            _ => Happening::Click(Command::RollBack {
                by: "U0JANE".into(),
            }),
        };
        faults.happenings.insert(r.pick(0, HORIZON), happening);
    }
    let mut duplicates = BTreeSet::new();
    if r.one_in(5) {
        duplicates.insert(r.pick(1, 4) as u32);
    }
    // Drawn after the rest, in this order, so that adding each kept every seed's other draws.
    let slack = r.one_in(4);
    let twins = if r.one_in(6) {
        BTreeSet::from([r.pick(1, 4) as u32])
    } else {
        BTreeSet::new()
    };
    let sweeps = (0..r.pick(0, 3))
        .map(|_| r.pick(0, u64::from(SWEEPS_WITHIN)) as u32)
        .collect();
    // A team that hands its waits back to CodePipeline: every check is an invocation of its
    // own, CodePipeline's continuation coming half a minute to a minute and a half later.
    let hand_back = r.one_in(4);
    let continuation_ms = if hand_back {
        r.pick(30_000, 90_000) as i64
    } else {
        1_000
    };
    Schedule {
        seed,
        scenario: Scenario {
            slack,
            hand_back,
            continuation_ms,
            ..scenario
        },
        twins,
        sweeps,
        faults,
        duplicates,
    }
}

/// The window (seconds after the first job) the random sweeps fall in: most drives end
/// within it.
const SWEEPS_WITHIN: u32 = 2_400;

/// Sweeps run every minute once no invocation is left, at most this many: past the longest
/// lease (a slice and its margin), `GANTRY_ORPHAN_AFTER_SECONDS`, and a few failed sweeps.
const LATE_SWEEPS: u32 = 40;

/// The numbers sweeps run under, from here up (the calls' invocation, for faults by name).
const FIRST_SWEEP: u32 = 3 * MAX_INVOCATIONS;

/// How the pipeline saw the deployment end.
#[derive(Debug, Clone, PartialEq, Eq)]
enum PipelineResult {
    Succeeded,
    Failed(String),
    /// The execution was stopped: CodePipeline abandoned the job.
    Stopped,
    /// A job is still in progress and nobody will invoke the function for it again: the
    /// chain of invocations broke, and CodePipeline will time the job out.
    Stranded,
}

impl PipelineResult {
    fn name(&self) -> &'static str {
        match self {
            PipelineResult::Succeeded => "succeeded",
            PipelineResult::Failed(_) => "failed",
            PipelineResult::Stopped => "stopped",
            PipelineResult::Stranded => "stranded",
        }
    }
}

/// The invariants, by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Invariant {
    /// Traffic ends 100% on one side.
    EndsOnOneSide,
    /// The side it ends on matches the job's result: success on the new side, failure on the
    /// old.
    SideMatchesResult,
    /// No weight change is left unverified (read back) when the job gets its result.
    WeightsVerified,
    /// No deployment is left without an owner: a job in progress that nobody will invoke the
    /// function for again, or a record left in progress after the job's result.
    Owned,
    /// The new side is never scaled to zero while it takes traffic (and traffic never goes to
    /// a side with no tasks).
    NoTrafficToNothing,
    /// A healthy new version, with nothing going wrong, is deployed.
    HealthyDeploys,
    /// The deployment ends (CodePipeline would time it out otherwise).
    Ends,
    /// The sweep never takes (rolls back) a deployment from an invocation still driving it.
    SweepLeavesTheDriven,
}

/// What one run found.
#[derive(Debug, Clone)]
struct Report {
    result: PipelineResult,
    broken: Vec<(Invariant, String)>,
    invocations: u32,
    /// The time the job's invocations ran, together (simulated milliseconds): what Lambda
    /// bills beyond each invocation's own work, which the fakes do in no time.
    billed_ms: i64,
    /// From the first job's invocation to the last invocation's end (simulated milliseconds).
    took_ms: i64,
    /// Deployments the sweep rolled back.
    swept: u32,
    /// Deployments a sweep could not deal with (the next one tries again), over all sweeps.
    sweep_failures: u32,
    /// Entries left on the sweep's index at the end.
    index_left: usize,
    calls: u64,
    log: Vec<String>,
}

impl Report {
    fn fails(&self, except: &[Invariant]) -> bool {
        self.broken.iter().any(|(i, _)| !except.contains(i))
    }
}

/// One invocation side by side with others: its number (which the world's faults by name
/// count in), and, for a sweep that waits for its moment, whether that moment came.
struct Running<'a> {
    number: u32,
    task: Task<'a>,
    started: Option<Rc<Cell<bool>>>,
}

/// Runs invocations side by side to their ends, as Lambda would: each runs until it waits (in
/// simulated time), ends, or dies at a `Fault::Crash`; when all wait, the clock moves on to
/// the earliest wait. Gives each one's outcome in order (`None`: it died, or it is a sweep
/// whose moment had not come when every other ended).
fn invoke_all(aws: &FakeAws, mut running: Vec<Running<'_>>) -> Vec<Option<Ran>> {
    let mut outcomes: Vec<Option<Option<Ran>>> = running.iter().map(|_| None).collect();
    let mut cx = Context::from_waker(Waker::noop());
    let mut counts: Vec<BTreeMap<String, u32>> = running.iter().map(|_| BTreeMap::new()).collect();
    {
        let mut w = aws.world();
        w.interleave = running.len() > 1;
        w.running = running.iter().map(|r| r.number).collect();
    }
    let end = |outcomes: Vec<Option<Option<Ran>>>| {
        let mut w = aws.world();
        w.interleave = false;
        w.running.clear();
        // A sweep dropped before its moment waits for nothing any more.
        simulated::take_next();
        outcomes.into_iter().map(Option::flatten).collect()
    };
    loop {
        let (mut left, mut turned) = (false, false);
        for (i, r) in running.iter_mut().enumerate() {
            if outcomes[i].is_some() {
                continue;
            }
            {
                let mut w = aws.world();
                w.invocation = r.number;
                std::mem::swap(&mut w.calls_in_invocation, &mut counts[i]);
            }
            let polled = r.task.as_mut().poll(&mut cx);
            let mut w = aws.world();
            std::mem::swap(&mut w.calls_in_invocation, &mut counts[i]);
            match polled {
                Poll::Ready(outcome) => {
                    w.running.remove(&r.number);
                    outcomes[i] = Some(Some(outcome));
                }
                Poll::Pending if w.crashed => {
                    w.crashed = false;
                    w.running.remove(&r.number);
                    outcomes[i] = Some(None);
                }
                Poll::Pending => {
                    // A sweep still waiting for its moment keeps nobody running.
                    left |= r.started.as_ref().is_none_or(|s| s.get());
                    turned |= std::mem::take(&mut w.yielded);
                }
            }
        }
        if !left {
            return end(outcomes);
        }
        let next = simulated::take_next();
        if turned {
            // One is between two calls: time moves only when all wait.
            continue;
        }
        match next {
            Some(next) => {
                let now = crate::clock::now_epoch_millis();
                simulated::advance(Duration::from_millis((next - now).max(0) as u64));
            }
            // Pending with nothing to wait for: no invocation can move again.
            None => return end(outcomes),
        }
    }
}

type Outcome = Result<ShiftOutcome, ShiftError>;

/// How many deployments the sweeps among `outcomes` rolled back.
fn rolled_back(outcomes: &[Option<Ran>]) -> u32 {
    outcomes
        .iter()
        .map(|o| match o {
            Some(Ran::Swept(Ok(report))) => report.rolled_back.len() as u32,
            _ => 0,
        })
        .sum()
}

/// How many deployments the sweeps among `outcomes` could not deal with.
fn failed_sweeps(outcomes: &[Option<Ran>]) -> u32 {
    outcomes
        .iter()
        .map(|o| match o {
            Some(Ran::Swept(Ok(report))) => report.failed.len() as u32,
            _ => 0,
        })
        .sum()
}

/// Nothing is left for anyone to do: no job in progress, and the deployment (if recorded) has
/// finished.
fn settled(w: &World) -> bool {
    let unfinished = w.recorded(FIRST_JOB).is_some_and(|r| {
        matches!(
            r.status,
            DeploymentStatus::InProgress | DeploymentStatus::RollingBack
        )
    });
    !unfinished && !w.jobs.iter().any(|j| j.state == JobState::InProgress)
}

/// What one invocation of the function did: a job's outcome, or a sweep's.
#[derive(Debug)]
enum Ran {
    Job(Outcome),
    Swept(Result<SweepReport, ShiftError>),
}

/// One invocation of the function, in flight.
type Task<'a> = Pin<Box<dyn Future<Output = Ran> + 'a>>;

/// What Lambda is asked to run next.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Event {
    /// The job's event (which try: 0 is the first delivery).
    Invoke { job: String, attempt: u32 },
    /// EventBridge's `Scheduled Event`: one sweep (`late`: one of those every minute once
    /// Lambda gave up on the job).
    Sweep { late: bool },
}

fn run(schedule: &Schedule, keep_log: bool) -> Report {
    simulated::start(1_767_000_000_000);
    let s = &schedule.scenario;
    let parameters = s.user_parameters();
    let mut world = World::new(&parameters);
    world.faults = schedule.faults.clone();
    world.keep_log = keep_log;
    if let Some(green) = world.services.get_mut(&service_name(Side::Green)) {
        green.broken = s.broken;
    }
    if s.erroring {
        world.new_side_health = NewSideHealth::Erroring;
    }
    if let Hooks::Function(_, behaviour) = s.hooks {
        world.hook = behaviour;
    }
    let aws = FakeAws::new(world);
    let mut shifter = shifter(&aws);
    if !s.slack {
        shifter.slack = None;
    }
    let budget = invocation_budget(s.timeout_ms, 0);
    let started_at = crate::clock::now_epoch_millis();
    // What Lambda runs next: (when, in order of scheduling, what).
    let mut queue: BinaryHeap<Reverse<(i64, u32, Event)>> = BinaryHeap::new();
    let mut scheduled = 0;
    for at in &schedule.sweeps {
        scheduled += 1;
        queue.push(Reverse((
            started_at + i64::from(*at) * 1000,
            scheduled,
            Event::Sweep { late: false },
        )));
    }
    let (mut invocations, mut sweeps, mut late_sweeps, mut swept) = (0, 0, 0, 0);
    let (mut billed_ms, mut last_end) = (0, started_at);
    let mut sweep_failures = 0;
    let mut broken = Vec::new();
    let shifter = &shifter;
    loop {
        let now = crate::clock::now_epoch_millis();
        // CodePipeline invokes a job a second or so after issuing it, a continuation job after
        // the scenario's delay.
        for job in aws.world().to_invoke.drain(..) {
            scheduled += 1;
            let delay = if job == FIRST_JOB {
                1_000
            } else {
                s.continuation_ms
            };
            queue.push(Reverse((
                now + delay,
                scheduled,
                Event::Invoke { job, attempt: 0 },
            )));
        }
        let jobs_left = queue
            .iter()
            .any(|Reverse((_, _, e))| matches!(e, Event::Invoke { .. }));
        let late_pending = queue
            .iter()
            .any(|Reverse((_, _, e))| *e == Event::Sweep { late: true });
        if !jobs_left && !late_pending && late_sweeps < LATE_SWEEPS && !settled(&aws.world()) {
            // Lambda gave up on the job's event (its try and both retries failed): the
            // template's schedule runs the sweep every minute; it is the deployment's owner now.
            late_sweeps += 1;
            scheduled += 1;
            queue.push(Reverse((
                now + 60_000,
                scheduled,
                Event::Sweep { late: true },
            )));
        }
        let Some(Reverse((due, _, event))) = queue.pop() else {
            break;
        };
        simulated::advance(Duration::from_millis((due - now).max(0) as u64));
        let sweep_task = |number: u32, at: i64, started: Option<Rc<Cell<bool>>>| -> Running<'_> {
            let flag = started.clone();
            Running {
                number,
                task: Box::pin(async move {
                    let wait = at - crate::clock::now_epoch_millis();
                    if wait > 0 {
                        crate::clock::sleep(Duration::from_millis(wait as u64)).await;
                    }
                    if let Some(s) = &flag {
                        s.set(true);
                    }
                    Ran::Swept(shifter.sweep(budget).await)
                }),
                started,
            }
        };
        let (job_id, attempt) = match event {
            Event::Invoke { job, attempt } => (job, attempt),
            Event::Sweep { .. } => {
                sweeps += 1;
                aws.world().invoked();
                if keep_log {
                    let w = &mut *aws.world();
                    let at = (due - started_at) / 1000;
                    let lease = w.deployments.get(FIRST_JOB).map(|d| {
                        let watch = &d.record.watch;
                        (watch.seq, (watch.lease_until_ms - started_at) / 1000)
                    });
                    w.log.push(format!(
                        "sweep {sweeps} at {at} s; the deployment's (seq, lease until s): {lease:?}"
                    ));
                }
                let outcomes = invoke_all(&aws, vec![sweep_task(FIRST_SWEEP + sweeps, due, None)]);
                swept += rolled_back(&outcomes);
                sweep_failures += failed_sweeps(&outcomes);
                if keep_log {
                    aws.world().log.push(format!("  swept: {outcomes:?}"));
                }
                continue;
            }
        };
        invocations += 1;
        if invocations > MAX_INVOCATIONS {
            broken.push((
                Invariant::Ends,
                format!("still going after {MAX_INVOCATIONS} invocations"),
            ));
            break;
        }
        let job = {
            let mut w = aws.world();
            w.invoked();
            if w.keep_log {
                w.log.push(format!(
                    "invocation {invocations}: {job_id} (try {})",
                    attempt + 1
                ));
            }
            Job {
                id: job_id.clone(),
                user_parameters: parameters.clone(),
                continuation_token: w.job(&job_id).and_then(|j| j.continuation.clone()),
                input_artifacts: Vec::new(),
                credentials: None,
            }
        };
        let mut running: Vec<Running<'_>> = Vec::new();
        let twin = job.clone();
        running.push(Running {
            number: invocations,
            task: Box::pin(async move { Ran::Job(shifter.run(&job, budget).await) }),
            started: None,
        });
        if schedule.twins.contains(&invocations) {
            // The twin's calls count as invocation `MAX_INVOCATIONS` + n for faults by name.
            running.push(Running {
                number: invocations + MAX_INVOCATIONS,
                task: Box::pin(async move { Ran::Job(shifter.run(&twin, budget).await) }),
                started: None,
            });
        }
        // The sweeps due while these run, each at its moment.
        let mut waiting = Vec::new();
        while let Some(Reverse((at, order, Event::Sweep { late }))) = queue.peek().cloned() {
            queue.pop();
            sweeps += 1;
            let started = Rc::new(Cell::new(false));
            waiting.push((at, order, late, started.clone()));
            running.push(sweep_task(FIRST_SWEEP + sweeps, at, Some(started)));
        }
        let began = crate::clock::now_epoch_millis();
        let outcomes = invoke_all(&aws, running);
        last_end = crate::clock::now_epoch_millis();
        billed_ms += last_end - began;
        swept += rolled_back(&outcomes);
        sweep_failures += failed_sweeps(&outcomes);
        for (at, order, late, started) in waiting {
            if !started.get() {
                queue.push(Reverse((at, order, Event::Sweep { late })));
            }
        }
        if keep_log {
            aws.world().log.push(format!("  ended: {outcomes:?}"));
        }
        let now = crate::clock::now_epoch_millis();
        // Lambda retries a failed (or dead) asynchronous invocation twice, after about one
        // minute, then two (each delivery of the event on its own).
        let jobs = if schedule.twins.contains(&invocations) {
            2
        } else {
            1
        };
        let failed = outcomes[..jobs]
            .iter()
            .filter(|o| !matches!(o, Some(Ran::Job(Ok(_)))))
            .count();
        for _ in 0..failed {
            if attempt < 2 {
                scheduled += 1;
                let wait = 60_000 * i64::from(attempt + 1);
                queue.push(Reverse((
                    now + wait,
                    scheduled,
                    Event::Invoke {
                        job: job_id.clone(),
                        attempt: attempt + 1,
                    },
                )));
            }
        }
        // At-least-once delivery: the same event, a little later.
        if schedule.duplicates.contains(&invocations) {
            scheduled += 1;
            queue.push(Reverse((
                now + 500,
                scheduled,
                Event::Invoke {
                    job: job_id,
                    attempt,
                },
            )));
        }
    }
    let w = aws.world();
    let result = if w.jobs.iter().any(|j| j.state == JobState::InProgress) {
        PipelineResult::Stranded
    } else if w.jobs.iter().any(|j| j.state == JobState::Abandoned) {
        PipelineResult::Stopped
    } else if w
        .jobs
        .iter()
        .any(|j| matches!(j.state, JobState::Succeeded(_)))
    {
        PipelineResult::Succeeded
    } else {
        let message = w.jobs.iter().find_map(|j| match &j.state {
            JobState::Failed(m) => Some(m.clone()),
            _ => None,
        });
        PipelineResult::Failed(message.unwrap_or_default())
    };
    for v in &w.violations {
        let invariant = match v {
            Violation::UnverifiedWeights { .. } => Invariant::WeightsVerified,
            Violation::SweptWhileDriven { .. } => Invariant::SweepLeavesTheDriven,
            _ => Invariant::NoTrafficToNothing,
        };
        broken.push((invariant, format!("{v:?}")));
    }
    let shares = w.percent(LISTENER);
    let record = w.recorded(FIRST_JOB).map(|r| r.status);
    // A job stranded before anything was recorded moved nothing: CodePipeline's timeout
    // fails it, and the listener must still be all on the old side.
    let result = match result {
        PipelineResult::Stranded if record.is_none() => {
            PipelineResult::Failed("timed out before anything was recorded".into())
        }
        other => other,
    };
    let unfinished = matches!(
        record,
        Some(DeploymentStatus::InProgress | DeploymentStatus::RollingBack)
    );
    // A deployment nobody owns any more (`Owned`) ends wherever it was left: where its traffic
    // ends is the orphan sweep's to decide, so these runs are counted under `Owned` alone.
    let orphaned = result == PipelineResult::Stranded || unfinished;
    if !orphaned && !matches!(shares, Some((100, 0)) | Some((0, 100))) {
        broken.push((
            Invariant::EndsOnOneSide,
            format!("the listener ends at {shares:?} (blue, green)"),
        ));
    }
    let expected = match &result {
        PipelineResult::Succeeded => Some((0, 100)),
        // A stop that lands once the deployment has finished (the old side is scaled down,
        // the record says so) leaves the new version live: rolling back then would be worse.
        PipelineResult::Stopped if record == Some(DeploymentStatus::Succeeded) => Some((0, 100)),
        PipelineResult::Failed(_) | PipelineResult::Stopped => Some((100, 0)),
        PipelineResult::Stranded => None,
    };
    if !orphaned && expected.is_some_and(|e| Some(e) != shares) {
        broken.push((
            Invariant::SideMatchesResult,
            format!(
                "the pipeline saw {result:?} but the listener ends at {shares:?} (blue, green)"
            ),
        ));
    }
    if result == PipelineResult::Stranded {
        broken.push((
            Invariant::Owned,
            format!("no invocation is left for the job in progress; the record is {record:?}"),
        ));
    } else if unfinished {
        broken.push((
            Invariant::Owned,
            format!("the pipeline saw {result:?} but the record stays {record:?}"),
        ));
    }
    if let Some((blue, green)) = shares.filter(|_| !orphaned) {
        for (side, percent) in [(Side::Blue, blue), (Side::Green, green)] {
            let desired = w.services.get(&service_name(side)).map_or(0, |s| s.desired);
            if percent > 0 && desired == 0 {
                broken.push((
                    Invariant::NoTrafficToNothing,
                    format!("{side} takes {percent}% with no task wanted"),
                ));
            }
        }
    }
    let clean =
        schedule.faults.is_empty() && schedule.duplicates.is_empty() && schedule.twins.is_empty();
    if clean && s.should_succeed() && result != PipelineResult::Succeeded {
        broken.push((
            Invariant::HealthyDeploys,
            format!("a healthy deployment with no faults ended {result:?}"),
        ));
    }
    let report = Report {
        result,
        broken,
        invocations,
        billed_ms,
        took_ms: last_end - started_at,
        swept,
        sweep_failures,
        index_left: w.open_index.len(),
        calls: w.calls,
        log: w.log.clone(),
    };
    drop(w);
    simulated::stop();
    report
}

/// The schedule with as few faults as still break an invariant outside `except`: drops one
/// fault, happening or duplicate at a time while the run still fails.
fn shrink(schedule: &Schedule, except: &[Invariant]) -> Schedule {
    shrink_while(schedule, |c| run(c, false).fails(except))
}

/// The smallest schedule found, dropping one fault, happening or duplicate at a time, for
/// which `fails` still holds.
fn shrink_while(schedule: &Schedule, fails: impl Fn(&Schedule) -> bool) -> Schedule {
    let mut best = schedule.clone();
    loop {
        let mut candidates = Vec::new();
        drop_each(&best, |s| &mut s.faults.calls, &mut candidates);
        drop_each(&best, |s| &mut s.faults.happenings, &mut candidates);
        drop_each(&best, |s| &mut s.faults.named, &mut candidates);
        drop_each(&best, |s| &mut s.faults.named_happenings, &mut candidates);
        for n in &best.sweeps {
            let mut c = best.clone();
            c.sweeps.remove(n);
            candidates.push(c);
        }
        for n in &best.twins {
            let mut c = best.clone();
            c.twins.remove(n);
            candidates.push(c);
        }
        for n in &best.duplicates {
            let mut c = best.clone();
            c.duplicates.remove(n);
            candidates.push(c);
        }
        match candidates.into_iter().find(|c| fails(c)) {
            Some(smaller) => best = smaller,
            None => return best,
        }
    }
}

/// Adds to `into` every copy of `best` with one entry of the map `pick` names removed.
fn drop_each<K: Ord + Clone, V>(
    best: &Schedule,
    pick: fn(&mut Schedule) -> &mut BTreeMap<K, V>,
    into: &mut Vec<Schedule>,
) {
    let keys: Vec<K> = pick(&mut best.clone()).keys().cloned().collect();
    for key in keys {
        let mut smaller = best.clone();
        pick(&mut smaller).remove(&key);
        into.push(smaller);
    }
}

/// A schedule and its run, as a person reads them.
fn describe(schedule: &Schedule, report: &Report) -> String {
    let mut text = format!(
        "seed {} (replay: GANTRY_SIM_SEED={} cargo test -p gantry-core simulation -- --nocapture)\n  deployment: {:?}\n  faults: {:?} {:?}\n  happenings: {:?}\n  duplicate deliveries of invocations: {:?}, at once: {:?}\n  sweeps at (s): {:?}\n  result: {:?} after {} invocations ({} deployments swept), {} calls\n",
        schedule.seed,
        schedule.seed,
        schedule.scenario,
        schedule.faults.calls,
        schedule.faults.named,
        schedule.faults.happenings,
        schedule.duplicates,
        schedule.twins,
        schedule.sweeps,
        report.result,
        report.invocations,
        report.swept,
        report.calls
    );
    for (invariant, detail) in &report.broken {
        text.push_str(&format!("  BROKEN {invariant:?}: {detail}\n"));
    }
    text
}

fn env_number(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.trim().parse().ok())
}

#[test]
fn replays_one_seed_with_its_calls() {
    let Some(seed) = env_number("GANTRY_SIM_SEED") else {
        return;
    };
    let schedule = generate(seed);
    let report = run(&schedule, true);
    println!("{}", describe(&schedule, &report));
    for line in &report.log {
        println!("  {line}");
    }
    let shrunk = shrink(&schedule, &[]);
    if shrunk != schedule {
        let again = run(&shrunk, true);
        println!("shrunk:\n{}", describe(&shrunk, &again));
        for line in &again.log {
            println!("  {line}");
        }
    }
}

/// Invariants a run may break without failing the test (counted and shown instead). Empty: once
/// Lambda gives up on a job's event (its try and both retries failed), the sweep, run every
/// minute as the template runs it, owns the deployment, so every invariant holds for every
/// schedule.
const UNTIL_THE_SWEEP: &[Invariant] = &[];

/// Runs `DEFAULT_SCHEDULES` seeds; every invariant broken outside `UNTIL_THE_SWEEP` fails the
/// test, with the first few schedules of each, shrunk.
#[test]
fn ten_thousand_schedules_keep_the_invariants() {
    if env_number("GANTRY_SIM_SEED").is_some() {
        return;
    }
    let schedules = env_number("GANTRY_SIM_SCHEDULES").unwrap_or(DEFAULT_SCHEDULES);
    let started = std::time::Instant::now();
    let mut counts: BTreeMap<Invariant, u64> = BTreeMap::new();
    let mut results: BTreeMap<&'static str, u64> = BTreeMap::new();
    let mut shown: BTreeMap<Invariant, u32> = BTreeMap::new();
    let mut seeds: BTreeMap<Invariant, Vec<u64>> = BTreeMap::new();
    let (mut failures, mut orphans) = (Vec::new(), Vec::new());
    let (mut calls, mut invocations) = (0, 0);
    for seed in 0..schedules {
        let schedule = generate(seed);
        let report = run(&schedule, false);
        calls += report.calls;
        invocations += u64::from(report.invocations);
        *results.entry(report.result.name()).or_default() += 1;
        let broken: BTreeSet<Invariant> = report.broken.iter().map(|(i, _)| *i).collect();
        for invariant in broken {
            *counts.entry(invariant).or_default() += 1;
            let listed = seeds.entry(invariant).or_default();
            if listed.len() < 40 {
                listed.push(seed);
            }
            let n = shown.entry(invariant).or_default();
            if *n >= 3 {
                continue;
            }
            *n += 1;
            let expected = UNTIL_THE_SWEEP.contains(&invariant);
            let except: &[Invariant] = if expected { &[] } else { UNTIL_THE_SWEEP };
            let shrunk = shrink(&schedule, except);
            let text = describe(&shrunk, &run(&shrunk, false));
            if expected {
                orphans.push(text);
            } else {
                failures.push(text);
            }
        }
    }
    println!(
        "{schedules} schedules ({invocations} invocations, {calls} port calls) in {:.1} s; pipelines {results:?}; schedules breaking each invariant {counts:?}, the first seeds {seeds:?}",
        started.elapsed().as_secs_f64()
    );
    for o in &orphans {
        println!("left without an owner (expected until the orphan sweep lands):\n{o}");
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// A deployment that nothing breaks, with `faults` by name.
fn plain(
    strategy: Strategy,
    hooks: Hooks,
    named: &[((u32, &'static str, u32), Fault)],
) -> Schedule {
    Schedule {
        seed: 0,
        scenario: Scenario {
            strategy,
            check_seconds: 15,
            scale_down_after_seconds: 60,
            judge: false,
            test_listener: false,
            hooks,
            broken: false,
            erroring: false,
            slack: true,
            hand_back: false,
            continuation_ms: 1_000,
            timeout_ms: 900_000,
        },
        faults: Faults {
            named: named.iter().cloned().collect(),
            ..Faults::default()
        },
        duplicates: BTreeSet::new(),
        twins: BTreeSet::new(),
        sweeps: BTreeSet::new(),
    }
}

/// The invariants `schedule` breaks, as text (empty when it keeps them all).
fn broken(schedule: &Schedule) -> String {
    let report = run(schedule, true);
    if report.broken.is_empty() {
        return String::new();
    }
    format!("{}{}", describe(schedule, &report), report.log.join("\n"))
}

#[test]
fn a_healthy_canary_goes_live_over_the_fakes() {
    let schedule = plain(
        Strategy::Canary {
            percent: 10,
            bake_seconds: 300,
        },
        Hooks::None,
        &[],
    );
    let report = run(&schedule, false);
    assert_eq!(
        report.result,
        PipelineResult::Succeeded,
        "{}",
        broken(&schedule)
    );
    assert!(report.broken.is_empty(), "{}", broken(&schedule));
}

/// The template's three deployments at its defaults (`CheckIntervalSeconds` 15,
/// `ScaleDownAfterSeconds` 600, the function's 300 s timeout; dev all at once, qa linear 50% a
/// minute, prod a 10% canary baking 300 s), waiting in Lambda or in CodePipeline, CodePipeline
/// invoking a continuation `continuation_ms` after the hand-over.
fn templates_deployments(hand_back: bool, continuation_ms: i64) -> Vec<(&'static str, Schedule)> {
    let strategies = [
        ("dev", Strategy::AllAtOnce),
        (
            "qa",
            Strategy::Linear {
                step_percent: 50,
                interval_seconds: 60,
            },
        ),
        (
            "prod",
            Strategy::Canary {
                percent: 10,
                bake_seconds: 300,
            },
        ),
    ];
    strategies
        .into_iter()
        .map(|(stage, strategy)| {
            let mut schedule = plain(strategy, Hooks::None, &[]);
            schedule.scenario.scale_down_after_seconds = 600;
            schedule.scenario.hand_back = hand_back;
            schedule.scenario.continuation_ms = continuation_ms;
            schedule.scenario.timeout_ms = TEMPLATES_TIMEOUT_MS;
            (stage, schedule)
        })
        .collect()
}

/// The traffic shifter's Lambda timeout in template.yaml (`Timeout: 300`).
const TEMPLATES_TIMEOUT_MS: u64 = 300_000;

/// CodePipeline's delay before it invokes a continuation job, as the docs assume it
/// (docs/performance.md#idle-billing-waiting-in-codepipeline: AWS does not document it).
const CONTINUATION_MS: i64 = 60_000;

#[test]
fn a_deployment_that_hands_its_waits_to_codepipeline_still_goes_live_and_bills_only_its_checks() {
    for ((stage, in_lambda), (_, handed)) in templates_deployments(false, CONTINUATION_MS)
        .into_iter()
        .zip(templates_deployments(true, CONTINUATION_MS))
    {
        let slept = run(&in_lambda, false);
        let report = run(&handed, false);
        assert_eq!(
            report.result,
            PipelineResult::Succeeded,
            "{}",
            broken(&handed)
        );
        assert!(report.broken.is_empty(), "{}", broken(&handed));
        // Sleeping, Lambda bills the whole deployment: the new side's start, every bake and
        // the scale-down wait.
        // (Less the time between two invocations: one every slice, at the 300 s timeout.)
        let between = i64::from(slept.invocations) * CONTINUATION_MS;
        assert!(
            slept.billed_ms >= slept.took_ms - between,
            "{stage}: slept {} of {} ms",
            slept.billed_ms,
            slept.took_ms
        );
        // Handed back, the waits are CodePipeline's: what is left is each invocation's work
        // (none, over the fakes) and the waits shorter than `MIN_HANDED_BACK_WAIT`.
        assert!(
            report.billed_ms * 20 < slept.billed_ms,
            "{stage}: handed back, {} ms billed; slept, {} ms",
            report.billed_ms,
            slept.billed_ms
        );
        // What it costs: checks are a continuation apart (a minute here, not 15 s), each an
        // invocation of its own.
        assert!(report.invocations > 2 * slept.invocations, "{stage}");
    }
}

/// The traffic shifter's billed time per deployment, for the benchmark's cost table
/// (`bench/run.py`, section `billing`): with `GANTRY_BILLING_OUT=<file>` set, writes what each
/// of the template's deployments cost in Lambda time, waiting in Lambda or in CodePipeline.
#[test]
fn billed_time_of_the_templates_deployments() {
    let mut out = serde_json::Map::new();
    for (mode, hand_back) in [("in_lambda", false), ("in_codepipeline", true)] {
        let mut stages = serde_json::Map::new();
        for (stage, schedule) in templates_deployments(hand_back, CONTINUATION_MS) {
            let report = run(&schedule, false);
            assert_eq!(
                report.result,
                PipelineResult::Succeeded,
                "{}",
                broken(&schedule)
            );
            stages.insert(
                stage.into(),
                serde_json::json!({
                    "strategy": schedule.scenario.strategy.to_string(),
                    "invocations": report.invocations,
                    "waited_in_lambda_seconds": report.billed_ms as f64 / 1000.0,
                    "deployment_seconds": report.took_ms as f64 / 1000.0,
                }),
            );
        }
        out.insert(mode.into(), stages.into());
    }
    let out = serde_json::json!({
        "check_interval_seconds": 15,
        "scale_down_after_seconds": 600,
        "new_side_ready_after_seconds": 60,
        "lambda_timeout_seconds": TEMPLATES_TIMEOUT_MS / 1000,
        "continuation_delay_seconds": CONTINUATION_MS / 1000,
        "modes": out,
    });
    if let Ok(path) = std::env::var("GANTRY_BILLING_OUT") {
        if let Err(e) = std::fs::write(&path, format!("{out:#}\n")) {
            panic!("could not write {path}: {e}");
        }
    }
    println!("{out:#}");
}

#[test]
fn a_rollback_reads_the_listener_back_before_it_fails_the_job() {
    // The hook fails once production moved: the listener is set back, and the job failed.
    let schedule = plain(
        Strategy::Linear {
            step_percent: 50,
            interval_seconds: 60,
        },
        Hooks::Function(LifecycleStage::ProductionTrafficShift, HookBehaviour::Fails),
        &[],
    );
    let report = run(&schedule, false);
    assert!(matches!(report.result, PipelineResult::Failed(_)));
    assert_eq!(broken(&schedule), "");
}

/// An all-at-once deployment with `faults` still goes live, keeping every invariant.
fn goes_live_despite(faults: &[((u32, &'static str, u32), Fault)]) {
    let schedule = plain(Strategy::AllAtOnce, Hooks::None, faults);
    assert_eq!(broken(&schedule), "");
    assert_eq!(run(&schedule, false).result, PipelineResult::Succeeded);
}

#[test]
fn a_retried_first_invocation_meeting_an_outage_does_not_fail_a_live_deployment() {
    // The first invocation dies right after moving all traffic; its retry cannot read the
    // table at first. Failing the job then would leave the new version live on a failed
    // pipeline: the retry fails instead, and Lambda's next retry carries on.
    goes_live_despite(&[
        ((1, "elbv2.ModifyListener", 1), Fault::Crash),
        ((2, "dynamodb.GetItem", 1), Fault::Timeout),
    ]);
}

#[test]
fn an_outage_while_scaling_the_old_side_down_is_retried_not_reported_as_a_failure() {
    // The second UpdateService scales blue down once green took all traffic.
    goes_live_despite(&[((1, "ecs.UpdateService", 2), Fault::ServerError)]);
}

#[test]
fn a_start_that_fails_once_recorded_is_retried_not_left_half_done() {
    // PutItem recorded the deployment but its answer was lost.
    goes_live_despite(&[((1, "dynamodb.UpdateItem(open)", 1), Fault::Timeout)]);
}

#[test]
fn a_repeated_first_invocation_rolls_back_when_the_execution_stopped_meanwhile() {
    // The first invocation dies once traffic is split; the execution is stopped before its
    // retry. Refusing the retry as not in progress would leave the split with nobody.
    let schedule = Schedule {
        faults: Faults {
            named: BTreeMap::from([((1, "elbv2.ModifyListener", 1), Fault::Crash)]),
            named_happenings: BTreeMap::from([(
                (2, "codepipeline.GetJobDetails", 1),
                Happening::StopExecution,
            )]),
            ..Faults::default()
        },
        ..plain(
            Strategy::Canary {
                percent: 10,
                bake_seconds: 600,
            },
            Hooks::None,
            &[],
        )
    };
    let report = run(&schedule, false);
    assert_eq!(broken(&schedule), "");
    assert_eq!(report.result, PipelineResult::Stopped);
}

#[test]
fn a_failed_status_write_is_tried_again_so_a_finished_deployment_is_not_left_in_progress() {
    goes_live_despite(&[((1, "dynamodb.UpdateItem(status)", 1), Fault::ServerError)]);
}

#[test]
fn a_failing_schedule_shrinks_to_the_faults_that_break_it() {
    let mut schedule = generate(7);
    schedule.faults.calls = BTreeMap::from([
        (3, Fault::Throttle),
        (40, Fault::Crash),
        (41, Fault::Timeout),
        (90, Fault::ServerError),
    ]);
    schedule.duplicates = BTreeSet::from([2]);
    // Stands for "breaks an invariant": only the crash at call 40 and the timeout right
    // after it matter.
    let shrunk = shrink_while(&schedule, |c| {
        c.faults.calls.get(&40) == Some(&Fault::Crash)
            && c.faults.calls.get(&41) == Some(&Fault::Timeout)
    });
    assert_eq!(
        shrunk.faults.calls,
        BTreeMap::from([(40, Fault::Crash), (41, Fault::Timeout)])
    );
    assert!(shrunk.duplicates.is_empty());
}

#[test]
fn one_event_delivered_twice_at_once_drives_once() {
    let schedule = Schedule {
        twins: BTreeSet::from([1]),
        ..plain(
            Strategy::Canary {
                percent: 10,
                bake_seconds: 300,
            },
            Hooks::None,
            &[],
        )
    };
    let report = run(&schedule, true);
    assert_eq!(
        report.result,
        PipelineResult::Succeeded,
        "{}",
        broken(&schedule)
    );
    assert_eq!(broken(&schedule), "");
    // The twins took turns at every call, and only one moved the listener: 10%, then 100%.
    let writes = report
        .log
        .iter()
        .filter(|l| l.ends_with("elbv2.ModifyListener"));
    assert_eq!(writes.count(), 2, "{}", report.log.join("\n"));
    let twin = format!("(invocation {}) ", 1 + MAX_INVOCATIONS);
    let first_twin_call = report.log.iter().position(|l| l.contains(&twin));
    let last_first_call = report
        .log
        .iter()
        .rposition(|l| l.contains("(invocation 1) "));
    assert!(
        first_twin_call < last_first_call,
        "the twins ran one after the other:\n{}",
        report.log.join("\n")
    );
}

/// A canary whose invocations all fail once traffic is split: Lambda gives up on the job.
fn abandoned_at_ten_percent(last: &'static str) -> Schedule {
    let mut schedule = plain(
        Strategy::Canary {
            percent: 10,
            bake_seconds: 300,
        },
        Hooks::None,
        &[
            ((1, last, 1), Fault::Crash),
            ((2, "codepipeline.GetJobDetails", 1), Fault::Throttle),
            ((3, "codepipeline.GetJobDetails", 1), Fault::Throttle),
        ],
    );
    schedule.scenario.slack = false;
    schedule
}

#[test]
fn a_canary_whose_every_try_fails_is_rolled_back_by_the_sweep_and_its_job_failed() {
    // The first invocation dies with 10% on green; both of Lambda's retries are throttled.
    let schedule = abandoned_at_ten_percent("elbv2.ModifyListener");
    let report = run(&schedule, true);
    assert_eq!(broken(&schedule), "");
    assert!(
        matches!(&report.result, PipelineResult::Failed(m) if m.contains("no invocation of the traffic shifter has watched this deployment")),
        "{:?}\n{}",
        report.result,
        report.log.join("\n")
    );
    assert_eq!(report.swept, 1);
}

#[test]
fn a_deployment_whose_holder_died_after_recording_success_gets_its_job_succeeded_by_the_sweep() {
    // The status write took effect ("succeeded": green live, blue scaled down), then the
    // invocation died before PutJobSuccessResult, and both retries were throttled: the sweep
    // gives the job the result the record holds, rather than let CodePipeline time it out
    // while the new version is live.
    let schedule = Schedule {
        faults: Faults {
            named: BTreeMap::from([
                ((1, "dynamodb.UpdateItem(status)", 1), Fault::Crash),
                ((2, "codepipeline.GetJobDetails", 1), Fault::Throttle),
                ((3, "codepipeline.GetJobDetails", 1), Fault::Throttle),
            ]),
            ..Faults::default()
        },
        ..plain(Strategy::AllAtOnce, Hooks::None, &[])
    };
    let report = run(&schedule, true);
    assert_eq!(broken(&schedule), "");
    assert_eq!(
        report.result,
        PipelineResult::Succeeded,
        "{}",
        report.log.join("\n")
    );
}

#[test]
fn sweeps_every_half_minute_leave_a_healthy_drive_alone() {
    // EventBridge's schedule runs while invocations drive, between them, and during retries.
    let schedule = Schedule {
        sweeps: (0..120).map(|n| n * 30).collect(),
        // Longer than a slice: the drive hands over, and its continuation's first try fails.
        ..plain(
            Strategy::Linear {
                step_percent: 10,
                interval_seconds: 120,
            },
            Hooks::None,
            &[((2, "dynamodb.GetItem", 1), Fault::Throttle)],
        )
    };
    let report = run(&schedule, false);
    assert_eq!(broken(&schedule), "");
    assert_eq!(report.result, PipelineResult::Succeeded);
    assert_eq!(report.swept, 0);
}

#[test]
fn a_holder_dying_between_success_and_its_jobs_result_leaves_the_sweep_a_way_to_report_it() {
    // The record says "succeeded" (the new version is live); PutJobSuccessResult is throttled,
    // so the invocation fails, and both of Lambda's retries are throttled too. Had the status write also
    // taken the deployment off the sweep's index, nobody would ever give the job its result
    // and CodePipeline would fail a pipeline whose new version is live.
    let schedule = Schedule {
        faults: Faults {
            named: BTreeMap::from([
                ((1, "codepipeline.PutJobSuccessResult", 1), Fault::Throttle),
                ((1, "codepipeline.PutJobSuccessResult", 2), Fault::Throttle),
                ((1, "codepipeline.PutJobSuccessResult", 3), Fault::Throttle),
                ((2, "codepipeline.GetJobDetails", 1), Fault::Throttle),
                ((3, "codepipeline.GetJobDetails", 1), Fault::Throttle),
            ]),
            ..Faults::default()
        },
        ..plain(Strategy::AllAtOnce, Hooks::None, &[])
    };
    let report = run(&schedule, true);
    assert_eq!(broken(&schedule), "");
    assert_eq!(
        report.result,
        PipelineResult::Succeeded,
        "{}",
        report.log.join("\n")
    );
}

#[test]
fn a_start_refused_before_its_record_leaves_the_sweeps_index_without_a_failing_sweep() {
    // The record's write is throttled: nothing moved, the job is failed. The index entry
    // (written first) and the lease taken before it are all that is left; the sweep must take
    // the entry off, not try every minute to roll back a deployment that never started.
    let schedule = Schedule {
        sweeps: (1..=30).map(|n| n * 60).collect(),
        ..plain(
            Strategy::AllAtOnce,
            Hooks::None,
            &[((1, "dynamodb.UpdateItem(open)", 1), Fault::Throttle)],
        )
    };
    let report = run(&schedule, true);
    assert_eq!(broken(&schedule), "");
    assert!(matches!(report.result, PipelineResult::Failed(_)));
    assert_eq!(
        (report.sweep_failures, report.index_left),
        (0, 0),
        "{}",
        report.log.join("\n")
    );
}
