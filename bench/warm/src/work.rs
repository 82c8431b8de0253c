//! How the per-event work grows with the size of the work
//! (docs/performance.md#how-the-cost-grows-with-the-work): one table per function of
//! work size → p50/p99 (warm, in-process, no network), each row beside its goal.
//!
//! - webhook: a push of C commits × 100 changed files against R routes with path globs (a
//!   monorepo: one route per service, `services/svcN/**`, ignoring `**/*.md`; the push touches a
//!   tenth of the services, 50 files each, so most routes must look at every file and skip).
//!   Goal at 2,048 × 100 × 1,000: routed in < 5 ms p99, < 32 MiB peak; time linear or better in
//!   commits × routes.
//! - notifier: a pipeline of S stages × A actions, every action reported → the Slack message,
//!   at the most detailed verbosity. Goal at 50 × 10: < 1 ms p99, within Block Kit's limits.
//! - traffic-shifter: one check's decision with N alarms read and both target groups' metrics
//!   judged (one `GetMetricData` answer). Goal at 100: < 1 ms; one `DescribeAlarms` page per 100
//!   alarms (the adapter's paging, counted by tests/tests/traffic_shifter.rs).
//! - approval: a click decided with U approvers across G groups. Goal at 1,000 / 50: < 1 ms.

use crate::measure::Samples;
use gantry_core::analysis::{
    decide_step, judge, series_from_results, windows_from_series, AnalysisConfig, BakeTally,
    BakeTime, JudgeState,
};
use gantry_core::approval::{authorize, Act, ChangeOwners, Clicker, StageApprovers, Verdict};
use gantry_core::config::Verbosity;
use gantry_core::ingest::push::{Commit, GitRef, Provider, Push};
use gantry_core::ingest::routing::{route, RouteDecision, RouteTable};
use gantry_core::notify::render::{self, MAX_BLOCKS, MAX_HEADER_TEXT, MAX_SECTION_TEXT};
use gantry_core::notify::{DeclaredAction, DeclaredStage, Execution, PipelineEvent};
use gantry_core::traffic::{next_step, sample, AlarmReading, AlarmState, Observed};
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::time::Instant;

/// One row: what was measured, its size, the timing and whether the goal holds.
fn row(
    function: &str,
    size: String,
    samples: &Samples,
    goal_p99_us: Option<f64>,
    extra: Value,
) -> Value {
    let mut r = samples.summary();
    r["function"] = json!(function);
    r["size"] = json!(size);
    if let Some(goal) = goal_p99_us {
        r["goal_p99_us"] = json!(goal);
        r["holds"] = json!(r["p99_us"].as_f64().is_some_and(|p99| p99 < goal));
    }
    r["extra"] = extra;
    eprintln!(
        "work {function:<16} {:<40} p50 {:>9.1} µs  p99 {:>9.1} µs",
        r["size"].as_str().unwrap_or_default(),
        r["p50_us"],
        r["p99_us"]
    );
    r
}

/// Iterations for a row whose single run takes about `run_us`: enough for a p99, within a few
/// seconds.
fn iterations(run_us: f64) -> usize {
    ((3_000_000.0 / run_us.max(1.0)) as usize).clamp(200, 5_000)
}

/// Runs `once` a few times to size the row, then measures it.
fn measure(mut once: impl FnMut() -> Result<(), String>) -> Result<Samples, String> {
    let started = Instant::now();
    once()?;
    let first_us = started.elapsed().as_secs_f64() * 1e6;
    let n = iterations(first_us);
    Samples::take((n / 10).max(5), n, &mut once)
}

/// Peak resident memory of this process so far (VmHWM), in KiB.
pub fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

// -- webhook --------------------------------------------------------------------------------

fn monorepo_routes(routes: usize) -> Result<RouteTable, String> {
    let specs: Vec<Value> = (0..routes)
        .map(|i| {
            json!({"provider": "github", "repository": "acme/monorepo", "branches": ["main"],
                   "paths": [format!("services/svc{i}/**")], "ignore_paths": ["**/*.md"],
                   "pipeline": format!("svc{i}"), "source_action": "Source"})
        })
        .collect();
    RouteTable::parse(&Value::from(specs).to_string())
}

/// C commits × F files, touching every tenth service of `routes` (50 files each).
fn big_push(commits: usize, files: usize, routes: usize) -> Push {
    let touched: Vec<usize> = (0..routes).step_by(10).collect();
    let commit = |c: usize| Commit {
        id: format!("{c:040x}"),
        message: format!("change {c}"),
        author_name: "Ada".into(),
        author_email: "ada@example.com".into(),
        author_username: Some("ada".into()),
        url: None,
        paths: (0..files)
            .map(|f| {
                let service = touched[(c * files + f) % touched.len()];
                format!("services/svc{service}/src/module_{}.rs", (c + f) % 50)
            })
            .collect(),
    };
    let commits: Vec<Commit> = (0..commits).map(commit).collect();
    Push {
        provider: Provider::GitHub,
        repository: "acme/monorepo".into(),
        repository_url: None,
        git_ref: GitRef {
            kind: gantry_core::ingest::push::RefKind::Branch,
            name: "main".into(),
        },
        before: "a".repeat(40),
        commit_id: commits.last().map(|c| c.id.clone()).unwrap_or_default(),
        head: commits.last().cloned(),
        commits,
        created: false,
        deleted: false,
        forced: false,
        commits_complete: true,
        pusher: None,
        sender: Some("ada".into()),
        pushed_at: Some(1_768_467_600),
    }
}

fn webhook_row(commits: usize, files: usize, routes: usize) -> Result<Value, String> {
    // Heap held at most: the route table and the push (as the webhook holds them once parsed),
    // then what routing adds on top.
    let before = crate::heap::live();
    crate::heap::reset_peak();
    let table = monorepo_routes(routes)?;
    let push = big_push(commits, files, routes);
    let held = crate::heap::live();
    drop(std::hint::black_box(route(&push, &table)));
    let peak_bytes = crate::heap::peak() - before;
    let routing_bytes = crate::heap::peak() - held;
    let expected = routes.div_ceil(10);
    let distinct: BTreeSet<&str> = push
        .commits
        .iter()
        .flat_map(|c| c.paths.iter().map(String::as_str))
        .collect();
    let samples = measure(|| {
        let decisions = route(&push, &table);
        let started = decisions
            .iter()
            .filter(|d| matches!(d, RouteDecision::Start { .. }))
            .count();
        if decisions.len() != routes || started != expected {
            return Err(format!(
                "{started} of {} started, expected {expected}",
                decisions.len()
            ));
        }
        Ok(())
    })?;
    let goal = (commits, files, routes) == (2048, 100, 1000);
    Ok(row(
        "webhook",
        format!("{commits} commits × {files} files, {routes} routes"),
        &samples,
        goal.then_some(5_000.0),
        json!({"commits": commits, "files_per_commit": files, "routes": routes,
               "distinct_files": distinct.len(), "pipelines_started": expected,
               "work": commits * routes, "heap_peak_bytes": peak_bytes,
               "routing_heap_bytes": routing_bytes}),
    ))
}

// -- notifier -------------------------------------------------------------------------------

fn big_execution(stages: usize, actions: usize) -> Result<Execution, String> {
    let event = |detail: Value, kind: &str| -> Result<PipelineEvent, String> {
        // EventBridge's ids are UUIDs: one derived from the content, as short as theirs.
        let id = {
            use std::hash::{Hash, Hasher};
            let mut h = std::collections::hash_map::DefaultHasher::new();
            detail.to_string().hash(&mut h);
            format!("{:016x}-{}", h.finish(), kind.len())
        };
        PipelineEvent::parse(&json!({
            "version": "0", "id": id, "detail-type": kind,
            "source": "aws.codepipeline", "account": "123456789012",
            "time": "2026-01-15T09:00:00Z", "region": "us-east-1",
            "resources": ["arn:aws:codepipeline:us-east-1:123456789012:shop"],
            "detail": detail,
        }))
        .map_err(|e| e.to_string())
    };
    let execution_id = "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0";
    let started = event(
        json!({"pipeline": "shop", "execution-id": execution_id, "state": "STARTED", "version": 1}),
        "CodePipeline Pipeline Execution State Change",
    )?;
    let mut e = Execution::new(&started);
    e.apply(&started);
    let layout = (0..stages)
        .map(|s| DeclaredStage {
            name: format!("Stage{s:02}"),
            actions: (0..actions)
                .map(|a| DeclaredAction {
                    name: format!("Stage{s:02}Action{a:02}"),
                    category: Some("Deploy".into()),
                })
                .collect(),
            account: None,
        })
        .collect();
    e.set_layout(layout);
    for s in 0..stages {
        for a in 0..actions {
            let state = if s + 1 == stages {
                "STARTED"
            } else {
                "SUCCEEDED"
            };
            let action = event(
                json!({"pipeline": "shop", "execution-id": execution_id, "stage": format!("Stage{s:02}"),
                       "action": format!("Stage{s:02}Action{a:02}"), "state": state, "version": 1,
                       "type": {"owner": "AWS", "provider": "ECS", "category": "Deploy", "version": "1"}}),
                "CodePipeline Action Execution State Change",
            )?;
            e.apply(&action);
        }
    }
    Ok(e)
}

/// Block Kit's limits on one message: at most 50 blocks, 3,000 characters a section text, 150 a
/// header (Slack counts characters).
fn within_block_kit(message: &Value) -> Result<(), String> {
    let blocks = message["blocks"].as_array().ok_or("no blocks")?;
    if blocks.len() > MAX_BLOCKS {
        return Err(format!("{} blocks", blocks.len()));
    }
    for b in blocks {
        let text = b["text"]["text"]
            .as_str()
            .unwrap_or_default()
            .chars()
            .count();
        let limit = match b["type"].as_str() {
            Some("header") => MAX_HEADER_TEXT,
            _ => MAX_SECTION_TEXT,
        };
        if text > limit {
            return Err(format!("a {} block of {text} characters", b["type"]));
        }
    }
    Ok(())
}

fn notifier_row(stages: usize, actions: usize) -> Result<Value, String> {
    let e = big_execution(stages, actions)?;
    let message = render::execution_message(&e, Verbosity::Actions);
    within_block_kit(&message)?;
    let blocks = message["blocks"].as_array().map_or(0, Vec::len);
    let longest = message["blocks"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|b| {
            b["text"]["text"]
                .as_str()
                .unwrap_or_default()
                .chars()
                .count()
        })
        .max()
        .unwrap_or(0);
    let samples = measure(|| {
        let message = render::execution_message(&e, Verbosity::Actions);
        within_block_kit(&message)?;
        drop(message.to_string());
        Ok(())
    })?;
    Ok(row(
        "notifier",
        format!("{stages} stages × {actions} actions"),
        &samples,
        ((stages, actions) == (50, 10)).then_some(1_000.0),
        json!({"blocks": blocks, "max_blocks": MAX_BLOCKS, "longest_text": longest,
               "max_section_text": MAX_SECTION_TEXT, "within_block_kit": true}),
    ))
}

// -- traffic-shifter ------------------------------------------------------------------------

fn shifter_row(alarms: usize) -> Result<Value, String> {
    let d = sample::canary(30);
    let observed = Observed {
        alarms: (0..alarms)
            .map(|i| AlarmReading {
                name: format!("shop-alarm-{i:03}"),
                state: AlarmState::Ok,
            })
            .collect(),
        ..sample::healthy(&d, 1_000)
    };
    // Both target groups' metrics as one GetMetricData answers them: requests, 5xx and p99
    // per side, the last ten one-minute periods (newest first, as CloudWatch sends them).
    let minutes: Vec<i64> = (0..10).map(|m| 1_768_467_600 - 60 * m).collect();
    let points = |value: f64| -> Vec<(i64, f64)> { minutes.iter().map(|&t| (t, value)).collect() };
    let answer = [
        ("n_req", points(400.0)),
        ("n_5xx", points(1.0)),
        ("n_p99", points(0.120)),
        ("l_req", points(3_600.0)),
        ("l_5xx", points(9.0)),
        ("l_p99", points(0.115)),
    ];
    let config = AnalysisConfig::default();
    let samples = measure(|| {
        let (new, live) = series_from_results(answer.iter().map(|(id, p)| (*id, p.clone())));
        let windows = windows_from_series(&new, &live);
        let (_, verdicts) = judge(&config, &JudgeState::default(), &windows);
        let step = decide_step(&config, &BakeTally::default(), &verdicts, BakeTime::Running);
        std::hint::black_box((next_step(&d, &observed), step));
        Ok(())
    })?;
    Ok(row(
        "traffic-shifter",
        format!("one check, {alarms} alarms + both groups' metrics"),
        &samples,
        (alarms == 100).then_some(1_000.0),
        json!({"alarms": alarms, "describe_alarms_calls": alarms.div_ceil(100).max(1),
               "get_metric_data_calls": 1}),
    ))
}

// -- approval -------------------------------------------------------------------------------

fn approval_row(users: usize, groups: usize) -> Result<Value, String> {
    let rule = StageApprovers {
        users: (0..users).map(|i| format!("U{i:08}")).collect(),
        groups: (0..groups).map(|i| format!("S{i:08}")).collect(),
        four_eyes: true,
        authors: (0..users)
            .map(|i| (format!("dev{i}@example.com"), Some(format!("U{i:08}"))))
            .collect(),
    };
    // The worst case: not listed by id (every id compared), in the last group.
    let clicker = Clicker {
        id: "UOUTSIDER".into(),
        groups: BTreeSet::from([format!("S{:08}", groups - 1)]),
    };
    let author = ChangeOwners::Slack([format!("U{:08}", users / 2)].into_iter().collect());
    let samples = measure(
        || match authorize(&clicker, Act::Approve, Some(&rule), &author) {
            Verdict::Allowed => Ok(()),
            other => Err(format!("{other:?}")),
        },
    )?;
    Ok(row(
        "approval",
        format!("{users} approvers, {groups} groups"),
        &samples,
        ((users, groups) == (1000, 50)).then_some(1_000.0),
        json!({"approvers": users, "groups": groups}),
    ))
}

/// Every table, the webhook's first (its peak memory is read right after it).
pub fn tables() -> Result<Value, String> {
    let mut webhook = Vec::new();
    for (c, f, r) in [
        (16, 100, 1000),
        (128, 100, 1000),
        (512, 100, 1000),
        (2048, 100, 10),
        (2048, 100, 100),
        (2048, 100, 1000),
    ] {
        webhook.push(webhook_row(c, f, r)?);
    }
    let webhook_peak_kib = peak_rss_kib();
    let notifier = [(5, 1), (10, 5), (50, 10)]
        .into_iter()
        .map(|(s, a)| notifier_row(s, a))
        .collect::<Result<Vec<_>, _>>()?;
    let shifter = [1, 10, 100]
        .into_iter()
        .map(shifter_row)
        .collect::<Result<Vec<_>, _>>()?;
    let approval = [(10, 1), (100, 5), (1000, 50)]
        .into_iter()
        .map(|(u, g)| approval_row(u, g))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(json!({
        "webhook": webhook, "webhook_peak_rss_kib": webhook_peak_kib, "webhook_peak_goal_mib": 32,
        "notifier": notifier, "traffic-shifter": shifter, "approval": approval,
    }))
}
