//! The recorded history (`tests/fixtures/delivery/history.json`: three weeks, two services,
//! duplicates, late events, a squash and a merge, a superseded execution, automatic and Slack
//! rollbacks, a failed stage, a re-run of the same commit) replayed through the notifier's part.

use super::*;
use crate::delivery::testing::MemoryFacts;
use crate::notify::Trigger;
use serde_json::{json, Value};
use std::collections::BTreeMap;

fn fixture_path(name: &str) -> String {
    format!(
        "{}/../../tests/fixtures/delivery/{name}",
        env!("CARGO_MANIFEST_DIR")
    )
}

fn history() -> Value {
    let text = std::fs::read_to_string(fixture_path("history.json")).expect("history fixture");
    serde_json::from_str(&text).expect("history is JSON")
}

fn pushes(h: &Value) -> Vec<StartedPush> {
    serde_json::from_value(h["pushes"].clone()).expect("pushes")
}

/// What the notifier's record knows of an execution when a stage ends: its events so far and
/// CodePipeline's trigger.
fn execution_of(h: &Value, event: &PipelineEvent) -> Execution {
    let mut execution = Execution::new(event);
    execution.apply(event);
    let facts = &h["executions"][format!("{}/{}", event.pipeline, event.execution_id)];
    if facts.is_object() {
        let text = |k: &str| facts[k].as_str().map(str::to_string);
        execution.set_trigger(Trigger {
            commit_id: text("commit_id"),
            branch: text("branch"),
            kind: text("trigger_type"),
            ..Trigger::default()
        });
    }
    execution
}

/// Replays `events` in the given order; returns the EMF lines written.
async fn replay(h: &Value, facts: &MemoryFacts, events: &[Value]) -> Vec<String> {
    let now = h["now_ms"].as_i64().expect("now_ms");
    let mut lines = Vec::new();
    for raw in events {
        let Ok(event) = PipelineEvent::parse(raw) else {
            continue;
        };
        let execution = execution_of(h, &event);
        let started = facts
            .started(&event.pipeline, &event.execution_id)
            .await
            .expect("started");
        if let Some(run) = stage_run(&event, &execution, started.as_ref(), None) {
            lines.extend(observe(facts, &run, now).await.expect("observe"));
        }
    }
    lines
}

fn events(h: &Value) -> Vec<Value> {
    h["events"].as_array().cloned().expect("events")
}

/// A fixed shuffle (xorshift), so a failing order replays exactly.
fn shuffled(mut items: Vec<Value>, mut seed: u64) -> Vec<Value> {
    for i in (1..items.len()).rev() {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        items.swap(i, (seed % (i as u64 + 1)) as usize);
    }
    items
}

async fn figures_of(h: &Value, facts: &MemoryFacts) -> Value {
    let now = h["now_ms"].as_i64().expect("now_ms");
    let mut out = serde_json::Map::new();
    for pipeline in ["search", "shop"] {
        let week = service_figures(facts, pipeline, now, 7)
            .await
            .expect("week");
        let month = service_figures(facts, pipeline, now, 30)
            .await
            .expect("month");
        out.insert(
            pipeline.to_string(),
            json!({
                "last_7_days": week.current,
                "7_days_before": week.previous,
                "last_30_days": month.current,
            }),
        );
    }
    Value::Object(out)
}

/// Per pipeline, stage and metric: how many lines, and the sum of their values.
fn emf_totals(lines: &[String]) -> Value {
    let mut totals: BTreeMap<String, (u64, f64)> = BTreeMap::new();
    for line in lines {
        let v: Value = serde_json::from_str(line).expect("EMF line is JSON");
        let metric = v["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]["Name"]
            .as_str()
            .expect("metric name")
            .to_string();
        let key = format!(
            "{}/{}/{}",
            v["Pipeline"].as_str().unwrap_or_default(),
            v["Stage"].as_str().unwrap_or_default(),
            metric
        );
        let t = totals.entry(key).or_default();
        t.0 += 1;
        t.1 += v[&metric].as_f64().expect("value");
    }
    totals
        .into_iter()
        .map(|(k, (n, sum))| (k, json!({"lines": n, "sum": sum})))
        .collect::<serde_json::Map<_, _>>()
        .into()
}

#[tokio::test]
async fn the_recorded_history_gives_the_golden_figures() {
    let h = history();
    let facts = MemoryFacts::with_pushes(pushes(&h));
    let lines = replay(&h, &facts, &events(&h)).await;
    let got = json!({
        "figures": figures_of(&h, &facts).await,
        "emf": emf_totals(&lines),
    });
    let golden_path = fixture_path("figures.golden.json");
    if std::env::var_os("GANTRY_UPDATE_GOLDEN").is_some() {
        let text = serde_json::to_string_pretty(&got).expect("json") + "\n";
        std::fs::write(&golden_path, text).expect("write golden");
    }
    let golden: Value = serde_json::from_str(
        &std::fs::read_to_string(&golden_path)
            .expect("golden file (GANTRY_UPDATE_GOLDEN=1 writes it)"),
    )
    .expect("golden is JSON");
    assert_eq!(got, golden);
}

#[tokio::test]
async fn replaying_the_history_again_emits_nothing_and_changes_no_figure() {
    let h = history();
    let facts = MemoryFacts::with_pushes(pushes(&h));
    replay(&h, &facts, &events(&h)).await;
    let once = figures_of(&h, &facts).await;
    let again = replay(&h, &facts, &events(&h)).await;
    assert_eq!(again, Vec::<String>::new());
    assert_eq!(figures_of(&h, &facts).await, once);
}

#[tokio::test]
async fn any_order_of_the_events_gives_the_same_figures() {
    let h = history();
    let reference = {
        let facts = MemoryFacts::with_pushes(pushes(&h));
        replay(&h, &facts, &events(&h)).await;
        figures_of(&h, &facts).await
    };
    for seed in [1_u64, 7, 42, 2026, 0x9e37_79b9] {
        let facts = MemoryFacts::with_pushes(pushes(&h));
        let lines = replay(&h, &facts, &shuffled(events(&h), seed)).await;
        assert_eq!(figures_of(&h, &facts).await, reference, "seed {seed}");
        // Whatever the order, no figure is emitted twice.
        let mut subjects: Vec<(String, String, String, String)> = lines
            .iter()
            .map(|l| {
                let v: Value = serde_json::from_str(l).expect("json");
                let name = v["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]["Name"].to_string();
                (
                    v["Pipeline"].to_string(),
                    v["Stage"].to_string(),
                    name,
                    v["subject"].to_string(),
                )
            })
            .collect();
        let n = subjects.len();
        subjects.sort();
        subjects.dedup();
        assert_eq!(subjects.len(), n, "seed {seed}");
    }
}

#[tokio::test]
async fn in_order_the_emitted_figures_add_up_to_the_stored_ones() {
    let h = history();
    let facts = MemoryFacts::with_pushes(pushes(&h));
    let lines = replay(&h, &facts, &events(&h)).await;
    let totals = emf_totals(&lines);
    let month = figures_of(&h, &facts).await;
    for pipeline in ["search", "shop"] {
        for stage in month[pipeline]["last_30_days"]["stages"]
            .as_array()
            .expect("stages")
        {
            let name = stage["stage"].as_str().expect("stage");
            let lines = |metric: &str| {
                totals[format!("{pipeline}/{name}/{metric}")]["lines"]
                    .as_u64()
                    .unwrap_or(0)
            };
            assert_eq!(
                lines("Deployments"),
                stage["deployments"].as_u64().expect("n"),
                "{pipeline} {name}"
            );
            assert_eq!(
                lines("FailedDeployments"),
                stage["failed"].as_u64().expect("n"),
                "{pipeline} {name}"
            );
        }
    }
}

#[tokio::test]
async fn a_rollback_event_emits_the_blamed_deployment_failure_once() {
    let facts = MemoryFacts::default();
    let run = |exec: &str, kind, outcome, at_ms, commit: &str| StageRun {
        pipeline: "shop".into(),
        stage: "Prod".into(),
        execution_id: exec.into(),
        kind,
        outcome,
        at_ms,
        commit: Some(commit.into()),
        git_ref: None,
        thread: None,
    };
    let deployed = run(
        "e1",
        RunKind::Change,
        RunOutcome::Succeeded,
        1_000_000,
        "aaa",
    );
    let first = observe(&facts, &deployed, 2_000_000)
        .await
        .expect("observe");
    assert_eq!(first.len(), 1, "{first:?}");
    assert!(first[0].contains("\"Deployments\":1"));
    let rollback = run(
        "r1",
        RunKind::ManualRollback,
        RunOutcome::Succeeded,
        1_600_000,
        "zzz",
    );
    let lines = observe(&facts, &rollback, 2_000_000)
        .await
        .expect("observe");
    let names: Vec<bool> = ["FailedDeployments", "TimeToRestoreSeconds\":600"]
        .iter()
        .map(|n| lines.iter().any(|l| l.contains(n)))
        .collect();
    assert_eq!(names, vec![true, true], "{lines:?}");
    assert_eq!(lines.len(), 2);
    // EventBridge delivers the rollback's end again.
    assert!(observe(&facts, &rollback, 2_000_000)
        .await
        .expect("observe")
        .is_empty());
}

#[test]
fn only_a_stage_end_is_a_run_and_a_rollback_trigger_makes_a_rollback() {
    let h = history();
    let stage_end = events(&h)
        .into_iter()
        .filter_map(|raw| PipelineEvent::parse(&raw).ok())
        .find(|e| {
            e.execution_id == "r-s1"
                && matches!(
                    e.change,
                    Change::Stage {
                        status: Status::Succeeded,
                        ..
                    }
                )
        })
        .expect("rollback's stage end");
    let run = stage_run(&stage_end, &execution_of(&h, &stage_end), None, None).expect("a run");
    assert_eq!(run.kind, RunKind::ManualRollback);
    assert_eq!(run.commit.as_deref(), Some("e1"));
    assert_eq!(run.git_ref.as_deref(), Some("refs/heads/main"));
    let pipeline_start = events(&h)
        .into_iter()
        .filter_map(|raw| PipelineEvent::parse(&raw).ok())
        .find(|e| matches!(e.change, Change::Pipeline { .. }))
        .expect("a pipeline event");
    assert_eq!(
        stage_run(
            &pipeline_start,
            &execution_of(&h, &pipeline_start),
            None,
            None
        ),
        None
    );
}

#[test]
fn a_stage_that_deploys_nothing_has_no_runs() {
    use crate::notify::{DeclaredAction, DeclaredStage};
    let h = history();
    let end = events(&h)
        .into_iter()
        .filter_map(|raw| PipelineEvent::parse(&raw).ok())
        .find(|e| matches!(&e.change, Change::Stage { stage, status: Status::Succeeded } if stage == "Staging"))
        .expect("a Staging end");
    let mut execution = execution_of(&h, &end);
    let declared = |category: &str| {
        Some(vec![DeclaredStage {
            name: "Staging".into(),
            actions: vec![DeclaredAction {
                name: "Act".into(),
                category: Some(category.into()),
            }],
            account: None,
        }])
    };
    execution.layout = declared("Build");
    assert_eq!(stage_run(&end, &execution, None, None), None);
    execution.layout = declared("Invoke");
    assert!(stage_run(&end, &execution, None, None).is_some());
    execution.layout = None;
    assert!(
        stage_run(&end, &execution, None, None).is_some(),
        "unknown actions count"
    );
}
