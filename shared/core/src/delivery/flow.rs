//! The two uses of the facts: the notifier records each stage's end and emits the figures it
//! makes due, each once; `/gantry stats` reads a service's figures over a window.

use super::emf;
use super::history::{derive, figures};
use super::model::{Figures, Period, RunKind, RunOutcome, StageRun};
use super::ports::{DeliveryHistory, FigureClaims};
use crate::ingest::StartedPush;
use crate::notify::{Change, Execution, ExecutionRef, ExecutionStore, PipelineEvent, Status};
use crate::slack::PostedMessage;
use crate::store::StoreError;
use std::collections::BTreeSet;

const DAY_MS: i64 = 24 * 3600 * 1000;

/// How far back the notifier reads a stage's runs when one ends: long enough for a rollback's
/// window and for a stage's trouble to end; a stage in trouble for longer gets no time to
/// restore from the notifier (the stats still count it).
pub const RUNS_LOOKBACK_MS: i64 = 14 * DAY_MS;

/// How far before the oldest run read the pushes of a change are looked for.
pub const PUSHES_LOOKBACK_MS: i64 = 30 * DAY_MS;

/// The stage run an event reports, if it is a stage's end. `execution` is the notifier's merged
/// record (its trigger says whether it is a rollback, and which commit it runs), `started` the
/// webhook's record of it, `thread` its Slack message.
pub fn stage_run(
    event: &PipelineEvent,
    execution: &Execution,
    started: Option<&StartedPush>,
    thread: Option<&PostedMessage>,
) -> Option<StageRun> {
    let Change::Stage { stage, status } = &event.change else {
        return None;
    };
    if !changes_what_runs(execution, stage) {
        return None;
    }
    let outcome = match status {
        Status::Succeeded => RunOutcome::Succeeded,
        Status::Failed => RunOutcome::Failed,
        Status::Stopped => RunOutcome::Stopped,
        _ => return None,
    };
    let trigger = execution.trigger.as_ref();
    let git_ref = started.map(|s| s.git_ref.clone()).or_else(|| {
        let t = trigger?;
        t.branch
            .as_ref()
            .map(|b| format!("refs/heads/{b}"))
            .or_else(|| t.tag.as_ref().map(|g| format!("refs/tags/{g}")))
    });
    Some(StageRun {
        pipeline: event.pipeline.clone(),
        stage: stage.clone(),
        execution_id: event.execution_id.clone(),
        kind: RunKind::of_trigger(trigger.and_then(|t| t.kind.as_deref())),
        outcome,
        at_ms: event.at.saturating_mul(1000),
        commit: started
            .map(|s| s.commit_id.clone())
            .or_else(|| trigger.and_then(|t| t.commit_id.clone())),
        git_ref,
        thread: thread.map(|m| format!("{}/{}", m.channel, m.ts)),
    })
}

/// The action categories that change what a stage runs: `Deploy` (ECS, CodeDeploy, S3, …) and
/// `Invoke` (Lambda: Gantry's traffic shifter is one).
pub const DEPLOYING_CATEGORIES: [&str; 2] = ["Deploy", "Invoke"];

/// True when `stage` deploys something: one of its actions (declared, or seen in events) is of
/// a deploying category. A stage whose actions are not known at all counts (no figure is lost
/// for want of `GetPipeline`); a Source, Build, Test or Approval stage does not.
pub fn changes_what_runs(execution: &Execution, stage: &str) -> bool {
    let declared = execution
        .layout
        .iter()
        .flatten()
        .filter(|s| s.name == stage)
        .flat_map(|s| s.actions.iter().map(|a| a.category.as_deref()));
    let seen = execution
        .stage(stage)
        .into_iter()
        .flat_map(|s| s.actions.iter().map(|a| a.category.as_deref()));
    let categories: Vec<&str> = declared.chain(seen).flatten().collect();
    categories.is_empty() || categories.iter().any(|c| DEPLOYING_CATEGORIES.contains(c))
}

/// Reads `pipeline`'s runs since `since_ms` and the pushes their refs received before.
pub(crate) async fn history<P: DeliveryHistory>(
    port: &P,
    pipeline: &str,
    since_ms: i64,
) -> Result<(Vec<StageRun>, Vec<StartedPush>), StoreError> {
    let runs = port.runs(pipeline, since_ms).await?;
    let refs: BTreeSet<&str> = runs.iter().filter_map(|r| r.git_ref.as_deref()).collect();
    let mut pushes = Vec::new();
    for git_ref in refs {
        pushes.extend(
            port.pushes(pipeline, git_ref, since_ms - PUSHES_LOOKBACK_MS)
                .await?,
        );
    }
    Ok((runs, pushes))
}

/// Records `run` and returns the EMF lines of the figures it makes due that no invocation has
/// emitted yet (each claimed first, so a redelivered or concurrent event emits nothing twice).
/// The caller writes them to stdout.
pub async fn observe<P>(port: &P, run: &StageRun, now_ms: i64) -> Result<Vec<String>, StoreError>
where
    P: DeliveryHistory + FigureClaims + Sync,
{
    port.record_run(run).await?;
    let since = run.at_ms.min(now_ms) - RUNS_LOOKBACK_MS;
    let (mut runs, pushes) = history(port, &run.pipeline, since).await?;
    // The run just recorded counts even if the store's read lags its write.
    runs.push(run.clone());
    let derived = derive(&runs, &pushes);
    let mut lines = Vec::new();
    for due in derived.due() {
        if due.stage != run.stage || !due.executions.contains(&run.execution_id) {
            continue;
        }
        if port
            .claim(&due.pipeline, &due.stage, due.metric, &due.subject)
            .await?
        {
            lines.push(emf::line(&due, now_ms));
        }
    }
    Ok(lines)
}

/// The notifier's part, after it has merged and delivered `raw`: if the event is a stage's end,
/// records the run (with what the notifier's record knows of the execution, and the webhook's
/// record of its push) and returns the EMF lines of the figures it makes due, each once.
pub async fn measure<S, P>(
    store: &S,
    port: &P,
    raw: &serde_json::Value,
    now_ms: i64,
) -> Result<Vec<String>, StoreError>
where
    S: ExecutionStore + Sync,
    P: DeliveryHistory + FigureClaims + Sync,
{
    let Ok(event) = PipelineEvent::parse(raw) else {
        return Ok(Vec::new());
    };
    if !matches!(
        event.change,
        Change::Stage {
            status: Status::Succeeded | Status::Failed | Status::Stopped,
            ..
        }
    ) {
        return Ok(Vec::new());
    }
    let record = store
        .load(&ExecutionRef::new(&event.pipeline, &event.execution_id))
        .await?;
    let (execution, thread) = match &record {
        Some(r) => (r.execution.clone(), r.slack.message.as_ref()),
        None => {
            let mut e = Execution::new(&event);
            e.apply(&event);
            (e, None)
        }
    };
    let started = port.started(&event.pipeline, &event.execution_id).await?;
    match stage_run(&event, &execution, started.as_ref(), thread) {
        Some(run) => observe(port, &run, now_ms).await,
        None => Ok(Vec::new()),
    }
}

/// A service's four keys over the last `days` days and the `days` before, per stage.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceFigures {
    pub current: Figures,
    pub previous: Figures,
}

/// What `/gantry stats <service>` shows: the figures of the `days` days ending at `now_ms`,
/// against the `days` before, from the stored facts alone.
pub async fn service_figures<P: DeliveryHistory>(
    port: &P,
    pipeline: &str,
    now_ms: i64,
    days: i64,
) -> Result<ServiceFigures, StoreError> {
    let current = Period::days_before(now_ms, days);
    let previous = Period::days_before(current.from_ms, days);
    let (runs, pushes) = history(port, pipeline, previous.from_ms - RUNS_LOOKBACK_MS).await?;
    let derived = derive(&runs, &pushes);
    Ok(ServiceFigures {
        current: figures(&derived, pipeline, current),
        previous: figures(&derived, pipeline, previous),
    })
}

#[cfg(test)]
mod tests;
