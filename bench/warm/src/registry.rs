//! The service registry at scale (docs/deploy.md#the-service-registry), network-free: its goals beside each figure.
//!
//! - Routing a push to one of 1,000 registered services: the registry's documents merged into
//!   the webhook's route table, then one push routed. Goal: p99 < 1 ms of the webhook's own work.
//! - Config AWS calls per event: a function's cached view of the index (`LiveRegistry`, the
//!   default 20 s age) under a steady 10 events a second for ten simulated minutes, the index
//!   counting its reads. Goal: O(1), at most one call per event (it is one `Query` per 20 s).
//! - What holding the registry costs: heap of the merged route table with 1,000 services and with
//!   1 (the figure behind the memory goal; the process-level cold start and peak memory at
//!   1,000 services need the emulator's world: `bench/run.py --sections registry`).

use crate::measure::Samples;
use gantry_core::ingest::push::{Commit, GitRef, Provider, Push, RefKind};
use gantry_core::ingest::routing::{route, RouteDecision, RouteTable};
use gantry_core::registry::{
    routes, IndexedService, LiveRegistry, Registry, Service, ServiceIndex, DEFAULT_MAX_AGE_SECONDS,
};
use gantry_core::store::StoreError;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicUsize, Ordering};

/// The contract's document for service `i`: its own repository's `main`, channel, approvers.
fn document(i: usize) -> String {
    json!({"routes": [{"provider": "github", "repository": format!("acme/svc{i}"), "branches": ["main"],
                       "tags": [], "paths": [], "ignore_paths": [], "source_action": "Source"}],
           "notify": {"channel": format!("C0SVC{i}"), "verbosity": "stages"},
           "approvers": {"Prod": {"users": [format!("U0LEAD{i}")], "groups": ["S0RELEASE"], "four_eyes": true}},
           "operators": {"Prod": {"users": [format!("U0ONCALL{i}")], "groups": []}}})
    .to_string()
}

fn registry(services: usize) -> Result<Registry, String> {
    let parsed = (0..services)
        .map(|i| Service::parse(&format!("/gantry/services/svc{i}"), &document(i)))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| e.to_string())?;
    Ok(Registry::new(parsed))
}

fn push_to(repository: &str) -> Push {
    let commit = Commit {
        id: format!("{:040x}", 7),
        message: "change".into(),
        author_name: "Ada".into(),
        author_email: "ada@example.com".into(),
        author_username: Some("ada".into()),
        url: None,
        paths: vec!["src/lib.rs".into()],
    };
    Push {
        provider: Provider::GitHub,
        repository: repository.into(),
        repository_url: None,
        git_ref: GitRef {
            kind: RefKind::Branch,
            name: "main".into(),
        },
        before: "a".repeat(40),
        commit_id: commit.id.clone(),
        head: Some(commit.clone()),
        commits: vec![commit],
        created: false,
        deleted: false,
        forced: false,
        commits_complete: true,
        pusher: None,
        sender: Some("ada".into()),
        pushed_at: Some(1_768_467_600),
    }
}

/// The merged table of `services` services, and the heap it holds (bytes).
fn table_of(services: usize) -> Result<(RouteTable, usize), String> {
    let before = crate::heap::live();
    let table = routes(&[], &registry(services)?)?;
    Ok((table, crate::heap::live().saturating_sub(before)))
}

/// The index of `services` documents, counting its reads.
struct CountingIndex {
    entries: Vec<IndexedService>,
    reads: AtomicUsize,
}

impl ServiceIndex for &CountingIndex {
    async fn services(&self) -> Result<Vec<IndexedService>, StoreError> {
        self.reads.fetch_add(1, Ordering::Relaxed);
        Ok(self.entries.clone())
    }
}

/// AWS calls for configuration per event, at 10 events a second over ten simulated minutes.
fn calls_per_event(services: usize) -> Result<(f64, usize), String> {
    let index = CountingIndex {
        entries: (0..services)
            .map(|i| IndexedService {
                pipeline: format!("svc{i}"),
                document: document(i),
                version: 1,
                modified_ms: 1,
                written_ms: 1,
            })
            .collect(),
        reads: AtomicUsize::new(0),
    };
    let live = LiveRegistry::new(&index, "/gantry/services/", DEFAULT_MAX_AGE_SECONDS);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .map_err(|e| e.to_string())?;
    let events = 6_000;
    for n in 0..events {
        runtime
            .block_on(live.current(1_768_467_600 + n / 10))
            .map_err(|e| e.to_string())?;
    }
    let reads = index.reads.load(Ordering::Relaxed);
    Ok((reads as f64 / events as f64, reads))
}

/// The registry's rows for the benchmark's table.
pub fn rows() -> Result<Value, String> {
    let (one, one_bytes) = table_of(1)?;
    drop(one);
    let (table, bytes) = table_of(1000)?;
    let push = push_to("acme/svc737");
    let samples = Samples::take(1_000, 10_000, &mut || {
        let decisions = route(std::hint::black_box(&push), &table);
        match decisions.as_slice() {
            [RouteDecision::Start { pipeline, .. }] if pipeline == "svc737" => Ok(()),
            other => Err(format!("routed {other:?}")),
        }
    })?;
    let mut routing = samples.summary();
    routing["goal_p99_us"] = json!(1000.0);
    routing["holds"] = json!(routing["p99_us"].as_f64().is_some_and(|p99| p99 < 1000.0));
    let (per_event, reads) = calls_per_event(1000)?;
    eprintln!(
        "registry: routing among 1,000 p99 {:.1} µs; {per_event:.4} config calls per event; table {bytes} B (1 service: {one_bytes} B)",
        routing["p99_us"]
    );
    Ok(json!({
        "routing_1000": routing,
        "config_calls_per_event": per_event,
        "config_calls": reads,
        "config_events": 6000,
        "table_bytes_1000": bytes,
        "table_bytes_1": one_bytes,
    }))
}
