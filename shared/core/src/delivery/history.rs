//! The pure derivation: stage runs and pushes, in any order and any number of times, give the
//! same deployments, restorations and figures. Every input is first reduced to a set (a run is
//! identified by its stage, execution, outcome and time; a push by its execution), then read in
//! one fixed order (time, then ids), so the result depends on the set of facts alone.

use super::model::{
    Figures, Metric, Period, RunKind, RunOutcome, StageFigures, StageRun, ROLLBACK_WINDOW_MS,
};
use crate::ingest::StartedPush;
use std::collections::{BTreeMap, BTreeSet};

/// Why a deployment counts as failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FailureCause {
    /// The stage failed (the traffic shifter rolled back, a build or a test failed, …).
    Failed,
    /// Someone stopped the execution while the stage ran.
    Stopped,
    /// A rollback of the stage ended within `ROLLBACK_WINDOW_MS` of its success.
    RolledBack(RunKind),
}

/// When and why a deployment failed, and which execution showed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub at_ms: i64,
    pub cause: FailureCause,
    pub execution_id: String,
}

/// One attempt to change what a stage runs: every run of the same commit in that stage (a
/// re-run of the same commit is the same deployment).
#[derive(Debug, Clone, PartialEq)]
pub struct CountedDeployment {
    pub pipeline: String,
    pub stage: String,
    /// The commit, or `execution:<id>` when the commit is unknown.
    pub key: String,
    pub commit: Option<String>,
    /// The executions that ran it in this stage.
    pub executions: BTreeSet<String>,
    /// When its first run ended: the time it counts in `Deployments`.
    pub first_end_ms: i64,
    /// Its first success, and the execution that reached it.
    pub succeeded: Option<(i64, String)>,
    pub failure: Option<Failure>,
    /// From the first push of its change to its first success; `None` when it never succeeded
    /// or no push of it was recorded.
    pub lead_time_ms: Option<i64>,
    /// The Slack thread of its first run, if known.
    pub thread: Option<String>,
}

/// A stage in trouble (a failed run, or a rollback begun) until its next success.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Restoration {
    pub pipeline: String,
    pub stage: String,
    pub trouble_since_ms: i64,
    /// The execution whose failure or rollback began the trouble.
    pub troubled_by: String,
    pub restored_ms: i64,
    /// The execution whose success restored the stage (a deployment or a rollback).
    pub restored_by: String,
}

impl Restoration {
    pub fn time_to_restore_ms(&self) -> i64 {
        self.restored_ms - self.trouble_since_ms
    }
}

/// Everything derived from the facts.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Derived {
    pub deployments: Vec<CountedDeployment>,
    pub restorations: Vec<Restoration>,
}

/// One figure that the facts make due, with the claim that keeps it to one emission.
#[derive(Debug, Clone, PartialEq)]
pub struct Due {
    pub pipeline: String,
    pub stage: String,
    pub metric: Metric,
    /// 1 for the counts; seconds for the durations.
    pub value: f64,
    /// When it happened (the EMF timestamp).
    pub at_ms: i64,
    /// What it is about, unique per pipeline, stage and metric: a deployment's key, or the
    /// restoring execution.
    pub subject: String,
    /// The executions whose events can make it due: only an event of one of these emits it.
    pub executions: BTreeSet<String>,
}

/// Derives deployments and restorations from `runs` and `pushes` (any order, duplicates
/// allowed; pushes of any pipeline and ref).
pub fn derive(runs: &[StageRun], pushes: &[StartedPush]) -> Derived {
    // One run per identity; of two records of the same run, the greatest (a fixed choice).
    let mut unique: BTreeMap<(&str, &str, &str, RunOutcome, i64), &StageRun> = BTreeMap::new();
    for run in runs {
        let id = (
            run.pipeline.as_str(),
            run.stage.as_str(),
            run.execution_id.as_str(),
            run.outcome,
            run.at_ms,
        );
        let entry = unique.entry(id).or_insert(run);
        if run > *entry {
            *entry = run;
        }
    }
    let mut by_stage: BTreeMap<(&str, &str), Vec<&StageRun>> = BTreeMap::new();
    for run in unique.into_values() {
        by_stage
            .entry((run.pipeline.as_str(), run.stage.as_str()))
            .or_default()
            .push(run);
    }
    let history = PushHistory::new(pushes);
    let mut derived = Derived::default();
    for ((pipeline, stage), mut runs) in by_stage {
        runs.sort_by(|a, b| {
            (a.at_ms, &a.execution_id, a.outcome).cmp(&(b.at_ms, &b.execution_id, b.outcome))
        });
        let mut deployments = stage_deployments(pipeline, stage, &runs);
        mark_rollbacks(&mut deployments, &runs);
        for d in &mut deployments {
            d.lead_time_ms = lead_time(d, &runs, &history);
        }
        derived
            .restorations
            .extend(restorations(pipeline, stage, &runs, &deployments));
        derived.deployments.extend(deployments);
    }
    derived
}

/// The stage's deployments, in the order their first runs ended.
fn stage_deployments(pipeline: &str, stage: &str, runs: &[&StageRun]) -> Vec<CountedDeployment> {
    let mut deployments: Vec<CountedDeployment> = Vec::new();
    for run in runs.iter().filter(|r| r.kind == RunKind::Change) {
        let key = match &run.commit {
            Some(c) => c.clone(),
            None => format!("execution:{}", run.execution_id),
        };
        let index = match deployments.iter().position(|d| d.key == key) {
            Some(i) => i,
            None => {
                deployments.push(CountedDeployment {
                    pipeline: pipeline.to_string(),
                    stage: stage.to_string(),
                    key,
                    commit: run.commit.clone(),
                    executions: BTreeSet::new(),
                    first_end_ms: run.at_ms,
                    succeeded: None,
                    failure: None,
                    lead_time_ms: None,
                    thread: run.thread.clone(),
                });
                deployments.len() - 1
            }
        };
        let d = &mut deployments[index];
        d.executions.insert(run.execution_id.clone());
        if d.thread.is_none() {
            d.thread = run.thread.clone();
        }
        match run.outcome {
            RunOutcome::Succeeded => {
                if d.succeeded.is_none() {
                    d.succeeded = Some((run.at_ms, run.execution_id.clone()));
                }
            }
            RunOutcome::Failed | RunOutcome::Stopped => {
                if d.failure.is_none() {
                    d.failure = Some(Failure {
                        at_ms: run.at_ms,
                        cause: if run.outcome == RunOutcome::Failed {
                            FailureCause::Failed
                        } else {
                            FailureCause::Stopped
                        },
                        execution_id: run.execution_id.clone(),
                    });
                }
            }
        }
    }
    deployments
}

/// Each rollback execution once, at the time its first run in the stage ended (runs are in
/// time order, so the first one seen).
fn rollbacks<'a>(runs: &[&'a StageRun]) -> Vec<(i64, &'a StageRun)> {
    let mut begun: BTreeMap<&str, (i64, &StageRun)> = BTreeMap::new();
    for run in runs.iter().filter(|r| r.kind.is_rollback()) {
        begun
            .entry(run.execution_id.as_str())
            .or_insert((run.at_ms, run));
    }
    let mut out: Vec<(i64, &StageRun)> = begun.into_values().collect();
    out.sort_by(|a, b| (a.0, &a.1.execution_id).cmp(&(b.0, &b.1.execution_id)));
    out
}

/// A rollback blames the stage's latest deployment before it, if that one succeeded within the
/// window and had not failed already (a rollback after a failure restores; it blames nothing
/// more).
fn mark_rollbacks(deployments: &mut [CountedDeployment], runs: &[&StageRun]) {
    for (began, rollback) in rollbacks(runs) {
        // The deployment whose latest run before the rollback ended last.
        let latest = deployments
            .iter_mut()
            .filter_map(|d| {
                let last = runs
                    .iter()
                    .filter(|r| r.kind == RunKind::Change && d.executions.contains(&r.execution_id))
                    .filter(|r| deployment_key(r) == d.key && r.at_ms <= began)
                    .map(|r| r.at_ms)
                    .max()?;
                Some((last, d))
            })
            .max_by(|a, b| (a.0, &a.1.key).cmp(&(b.0, &b.1.key)));
        let Some((_, d)) = latest else { continue };
        let blamed = d.failure.is_none()
            && d.succeeded
                .as_ref()
                .is_some_and(|(at, _)| *at <= began && began - at <= ROLLBACK_WINDOW_MS);
        if blamed {
            d.failure = Some(Failure {
                at_ms: began,
                cause: FailureCause::RolledBack(rollback.kind),
                execution_id: rollback.execution_id.clone(),
            });
        }
    }
}

fn deployment_key(run: &StageRun) -> String {
    match &run.commit {
        Some(c) => c.clone(),
        None => format!("execution:{}", run.execution_id),
    }
}

/// Trouble begins at a failed or stopped run of a change, or, for a deployment a rollback
/// blamed, at that deployment's success (from then on the stage ran what had to be rolled
/// back); it ends at the stage's next success, whatever ran. Later failures while in trouble do
/// not move its start. Only terminal runs are used, so no start event can arrive late.
fn restorations(
    pipeline: &str,
    stage: &str,
    runs: &[&StageRun],
    deployments: &[CountedDeployment],
) -> Vec<Restoration> {
    // (time, 0 = a failure / 1 = a success / 2 = trouble right after a success, execution):
    // a blamed deployment's own success must not restore the trouble it began.
    let mut signals: Vec<(i64, u8, &str)> = Vec::new();
    for run in runs {
        match (run.kind, run.outcome) {
            (_, RunOutcome::Succeeded) => signals.push((run.at_ms, 1, &run.execution_id)),
            (RunKind::Change, _) => signals.push((run.at_ms, 0, &run.execution_id)),
            _ => {}
        }
    }
    for d in deployments {
        if let (Some((at, by)), Some(f)) = (&d.succeeded, &d.failure) {
            if matches!(f.cause, FailureCause::RolledBack(_)) {
                signals.push((*at, 2, by));
            }
        }
    }
    signals.sort();
    let mut out = Vec::new();
    let mut trouble: Option<(i64, &str)> = None;
    for (at, kind, execution) in signals {
        match (kind, trouble) {
            (0 | 2, None) => trouble = Some((at, execution)),
            (1, Some((since, by))) => {
                out.push(Restoration {
                    pipeline: pipeline.to_string(),
                    stage: stage.to_string(),
                    trouble_since_ms: since,
                    troubled_by: by.to_string(),
                    restored_ms: at,
                    restored_by: execution.to_string(),
                });
                trouble = None;
            }
            _ => {}
        }
    }
    out
}

/// Each ref's pushes, once each, in the order Gantry received them.
struct PushHistory<'a> {
    refs: BTreeMap<(&'a str, &'a str), Vec<&'a StartedPush>>,
}

fn received_ms(push: &StartedPush) -> i64 {
    if push.facts.received_ms > 0 {
        push.facts.received_ms
    } else {
        push.facts.received_at.saturating_mul(1000)
    }
}

impl<'a> PushHistory<'a> {
    fn new(pushes: &'a [StartedPush]) -> Self {
        let mut unique: BTreeMap<(&str, &str, &str), &StartedPush> = BTreeMap::new();
        for p in pushes {
            unique
                .entry((&p.pipeline, &p.git_ref, &p.execution_id))
                .or_insert(p);
        }
        let mut refs: BTreeMap<(&str, &str), Vec<&StartedPush>> = BTreeMap::new();
        for ((pipeline, git_ref, _), p) in unique {
            refs.entry((pipeline, git_ref)).or_default().push(p);
        }
        for list in refs.values_mut() {
            list.sort_by(|a, b| {
                (received_ms(a), &a.execution_id).cmp(&(received_ms(b), &b.execution_id))
            });
        }
        PushHistory { refs }
    }
}

/// From the first push of the deployment's change to its first success. The change is every
/// push to its ref after the last push whose commit the stage had already run successfully, up
/// to the first push that carried the deployed commit. Without such an earlier push in the
/// history, the change is that first push alone.
fn lead_time(d: &CountedDeployment, runs: &[&StageRun], history: &PushHistory) -> Option<i64> {
    let (succeeded_at, _) = d.succeeded.as_ref()?;
    let commit = d.commit.as_deref()?;
    let git_ref = runs
        .iter()
        .filter(|r| d.executions.contains(&r.execution_id))
        .find_map(|r| r.git_ref.as_deref())?;
    let pushes = history.refs.get(&(d.pipeline.as_str(), git_ref))?;
    let own = pushes
        .iter()
        .position(|p| p.commit_id == commit || p.facts.commits.iter().any(|c| c == commit))?;
    let ran: BTreeSet<&str> = runs
        .iter()
        .filter(|r| r.outcome.succeeded() && r.at_ms < *succeeded_at)
        .filter_map(|r| r.commit.as_deref())
        .filter(|c| *c != commit)
        .collect();
    let start = pushes[..own]
        .iter()
        .rposition(|p| ran.contains(p.commit_id.as_str()))
        .map_or(own, |last_ran| last_ran + 1);
    Some((succeeded_at - received_ms(pushes[start])).max(0))
}

/// The nearest-rank percentile (`p` in 1..=100) of `values`: a value that occurred, never an
/// interpolation.
pub fn percentile(values: &[i64], p: usize) -> Option<i64> {
    if values.is_empty() {
        return None;
    }
    let mut sorted = values.to_vec();
    sorted.sort_unstable();
    let rank = (p * sorted.len()).div_ceil(100).max(1);
    sorted.get(rank - 1).copied()
}

fn seconds(ms: i64) -> f64 {
    ms as f64 / 1000.0
}

/// The four keys of `pipeline`'s stages over `window`.
pub fn figures(derived: &Derived, pipeline: &str, window: Period) -> Figures {
    let mut stages: BTreeMap<&str, (Vec<&CountedDeployment>, Vec<&Restoration>)> = BTreeMap::new();
    for d in derived
        .deployments
        .iter()
        .filter(|d| d.pipeline == pipeline)
    {
        stages.entry(&d.stage).or_default().0.push(d);
    }
    for r in derived
        .restorations
        .iter()
        .filter(|r| r.pipeline == pipeline)
    {
        stages.entry(&r.stage).or_default().1.push(r);
    }
    let stages = stages
        .into_iter()
        .map(|(stage, (deployments, restorations))| {
            let counted: Vec<&&CountedDeployment> = deployments
                .iter()
                .filter(|d| window.contains(d.first_end_ms))
                .collect();
            let failed = counted.iter().filter(|d| d.failure.is_some()).count() as u64;
            let leads: Vec<i64> = deployments
                .iter()
                .filter(|d| {
                    d.succeeded
                        .as_ref()
                        .is_some_and(|(at, _)| window.contains(*at))
                })
                .filter_map(|d| d.lead_time_ms)
                .collect();
            let restores: Vec<i64> = restorations
                .iter()
                .filter(|r| window.contains(r.restored_ms))
                .map(|r| r.time_to_restore_ms())
                .collect();
            StageFigures {
                stage: stage.to_string(),
                deployments: counted.len() as u64,
                failed,
                change_failure_rate: (!counted.is_empty())
                    .then(|| failed as f64 / counted.len() as f64),
                lead_time_p50: percentile(&leads, 50).map(seconds),
                lead_time_p90: percentile(&leads, 90).map(seconds),
                time_to_restore_p50: percentile(&restores, 50).map(seconds),
                time_to_restore_p90: percentile(&restores, 90).map(seconds),
            }
        })
        .collect();
    Figures {
        pipeline: pipeline.to_string(),
        window: Some(window),
        stages,
    }
}

impl Derived {
    /// Every figure the facts make due, each with its claim subject.
    pub fn due(&self) -> Vec<Due> {
        let mut out = Vec::new();
        for d in &self.deployments {
            let due =
                |metric, value, at_ms, mut executions: BTreeSet<String>, extra: Option<&str>| {
                    if let Some(e) = extra {
                        executions.insert(e.to_string());
                    }
                    Due {
                        pipeline: d.pipeline.clone(),
                        stage: d.stage.clone(),
                        metric,
                        value,
                        at_ms,
                        subject: d.key.clone(),
                        executions,
                    }
                };
            out.push(due(
                Metric::Deployments,
                1.0,
                d.first_end_ms,
                d.executions.clone(),
                None,
            ));
            if let (Some((at, _)), Some(lead)) = (&d.succeeded, d.lead_time_ms) {
                out.push(due(
                    Metric::LeadTimeSeconds,
                    seconds(lead),
                    *at,
                    d.executions.clone(),
                    None,
                ));
            }
            if let Some(f) = &d.failure {
                out.push(due(
                    Metric::FailedDeployments,
                    1.0,
                    f.at_ms,
                    d.executions.clone(),
                    Some(&f.execution_id),
                ));
            }
        }
        for r in &self.restorations {
            out.push(Due {
                pipeline: r.pipeline.clone(),
                stage: r.stage.clone(),
                metric: Metric::TimeToRestoreSeconds,
                value: seconds(r.time_to_restore_ms()),
                at_ms: r.restored_ms,
                subject: format!("restored-by:{}", r.restored_by),
                executions: [r.restored_by.clone(), r.troubled_by.clone()].into(),
            });
        }
        out
    }
}

#[cfg(test)]
mod tests;
