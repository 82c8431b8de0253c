//! `warm-paths`: warm latency of the per-event work that waits on no network, per function,
//! as JSON on stdout (`scripts/bench.sh` folds it into the benchmark's table).
//!
//! ```sh
//! cargo run --release -p gantry-bench-warm -- [--iterations 10000] [--warmup 1000] [--root .]
//! ```
//!
//! Log lines are formatted as the functions format them (JSON), then dropped: writing them is
//! the runtime's business, formatting them is Gantry's.

mod heap;
mod measure;
mod paths;
mod registry;
mod work;

use measure::Samples;
use serde_json::json;
use std::path::PathBuf;

#[global_allocator]
static HEAP: heap::Counting = heap::Counting;

struct Options {
    iterations: usize,
    warmup: usize,
    root: PathBuf,
}

fn main() -> Result<(), String> {
    let options = options(std::env::args().skip(1))?;
    quiet_logs();
    // First, so that the webhook's peak memory is its own.
    let work = work::tables()?;
    let all = [
        paths::webhook_push,
        paths::webhook_bad_signature,
        paths::approval_click,
        paths::notifier_event,
    ];
    let mut results = Vec::new();
    for build in all {
        let mut path = build(&options.root)?;
        let samples = Samples::take(options.warmup, options.iterations, &mut path.once)
            .map_err(|e| format!("{}: {e}", path.name))?;
        let mut result = samples.summary();
        result["name"] = json!(path.name);
        result["function"] = json!(path.function);
        result["label"] = json!(path.label);
        result["what"] = json!(path.what);
        eprintln!(
            "{:<24} p50 {:>8.1} µs  p99 {:>8.1} µs",
            path.name, result["p50_us"], result["p99_us"]
        );
        results.push(result);
    }
    let registry = registry::rows()?;
    println!(
        "{}",
        json!({ "paths": results, "work": work, "registry": registry })
    );
    Ok(())
}

fn options(mut args: impl Iterator<Item = String>) -> Result<Options, String> {
    let mut options = Options {
        iterations: 10_000,
        warmup: 1_000,
        root: PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.."),
    };
    while let Some(flag) = args.next() {
        let value = args.next().ok_or(format!("{flag} needs a value"))?;
        let count = || value.parse::<usize>().map_err(|e| format!("{flag}: {e}"));
        match flag.as_str() {
            "--iterations" => options.iterations = count()?.max(1),
            "--warmup" => options.warmup = count()?,
            "--root" => options.root = PathBuf::from(&value),
            _ => return Err(format!("unknown option {flag}")),
        }
    }
    Ok(options)
}

/// The functions' JSON log format (`gantry_adapters::lambda::telemetry`), written nowhere.
fn quiet_logs() {
    gantry_adapters::lambda::telemetry::install(
        gantry_adapters::lambda::telemetry::filter(Some("info")),
        std::io::sink,
    );
}
