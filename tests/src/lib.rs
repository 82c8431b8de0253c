//! The end-to-end harness: moto's server (with Gantry's CodePipeline plugin) and the Slack
//! stand-in, each started once per test binary on a free loopback port, and stopped with it.
//!
//! When `GANTRY_EMULATOR_URL` / `GANTRY_SLACK_URL` are set (the test command starts one of each
//! for the whole run), those are used instead.

pub mod accounts;
pub mod alb_metrics;
pub mod approval;
pub mod aws;
pub mod fuzz;
pub mod http;
pub mod iam;
pub mod rig;
pub mod shifter;
pub mod slack;
pub mod topic;
pub mod traffic;

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

/// The workspace root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A fixture file under `tests/fixtures/`.
pub fn fixture(path: &str) -> Vec<u8> {
    let full = root().join("tests/fixtures").join(path);
    std::fs::read(&full).unwrap_or_else(|e| panic!("fixture {}: {e}", full.display()))
}

/// A fixture parsed as JSON.
pub fn fixture_json(path: &str) -> serde_json::Value {
    serde_json::from_slice(&fixture(path)).expect("fixture is JSON")
}

/// The string at `key` of each item of the JSON array `items`; panics if `items` is not an
/// array or an item has no such string (the test reads what it expects to be there).
pub fn strings_at<'a>(items: &'a serde_json::Value, key: &str) -> Vec<&'a str> {
    items
        .as_array()
        .expect("an array")
        .iter()
        .map(|item| item[key].as_str().expect("a string"))
        .collect()
}

/// A name no other test in this run uses.
pub fn unique(prefix: &str) -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    format!("{prefix}-{}-{n}", std::process::id())
}

/// The Python interpreter of the project's venv (made by `scripts/bootstrap.sh`).
fn python() -> PathBuf {
    std::env::var_os("GANTRY_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join(".venv/bin/python"))
}

/// The emulator enforces IAM: each function runs with its role's policies (see `iam`).
fn extra_args(script: &str) -> &'static [&'static str] {
    if script.ends_with("emulator/server.py") {
        &["--enforce-iam"]
    } else {
        &[]
    }
}

/// A helper server started by the harness; it exits when our end of its stdin closes.
struct Server {
    url: String,
    _child: Option<Child>,
}

fn start_server(script: &str, url_var: &str) -> Server {
    if let Ok(url) = std::env::var(url_var) {
        return Server { url, _child: None };
    }
    let mut child = Command::new(python())
        .arg(root().join(script))
        .args(["--port", "0"])
        .args(extra_args(script))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {script} (run scripts/bootstrap.sh first?): {e}"));
    let stdout = child.stdout.take().expect("piped stdout");
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("server prints READY");
    let url = line
        .trim()
        .strip_prefix("READY ")
        .unwrap_or_else(|| panic!("{script} did not print READY: {line:?}"))
        .to_string();
    Server {
        url,
        _child: Some(child),
    }
}

/// The base URL of the shared AWS emulator.
pub fn emulator_url() -> &'static str {
    static S: OnceLock<Server> = OnceLock::new();
    &S.get_or_init(|| start_server("tests/emulator/server.py", "GANTRY_EMULATOR_URL"))
        .url
}

/// The base URL of the shared Slack stand-in.
pub fn slack_url() -> &'static str {
    static S: OnceLock<Server> = OnceLock::new();
    &S.get_or_init(|| start_server("tests/slack_sink/server.py", "GANTRY_SLACK_URL"))
        .url
}
