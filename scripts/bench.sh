#!/usr/bin/env bash
# The benchmark (`make bench`, docs/performance.md): builds the four functions as they are deployed (release;
# for this machine, to time them, and for Lambda's arm64, to weigh them), the floors, the canary judge's simulation (pure) and the
# network-free latency bench, then runs bench/run.py: cold starts, warm latency, peak memory,
# package sizes and bursts against the AWS emulator and the Slack stand-in. Prints the table,
# writes bench/results.json. Arguments go to bench/run.py (e.g. `--sections cold,warm`); a run of some
# sections keeps the others, each marked with the run and commit that measured it.
#
# The release profile is fat LTO: the first build takes a long while on two cores; set
# CARGO_TARGET_DIR to a persistent folder to keep it. GANTRY_BENCH_SKIP_BUILD=1 uses what is built.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
export PATH="$PWD/.venv/bin:$PATH"

target=$(cargo metadata --format-version 1 --no-deps | .venv/bin/python -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
functions=(-p webhook -p notifier -p approval -p traffic-shifter)
if [ -z "${GANTRY_BENCH_SKIP_BUILD:-}" ]; then
  echo "== building for this machine (release): the functions, then the floors and warm-paths" >&2
  # Two builds, not one: cargo unifies features across the packages of one build, and the naive
  # floor turns on the SDK's default HTTPS client, which the functions leave out (Cargo.toml).
  # Built alone, the functions are what `cargo lambda build` deploys.
  cargo build --release "${functions[@]}"
  cargo build --release -p gantry-bench-floor -p gantry-bench-warm -p gantry-bench-judge
  echo "== building for Lambda (release, arm64): the functions' bootstraps" >&2
  # cargo-lambda cross-compiles with zig (both from the venv); the standard library for arm64
  # comes from rustup.
  rustup target add aarch64-unknown-linux-gnu >/dev/null
  cargo lambda build --release --arm64 "${functions[@]}"
fi
# exec: the benchmark gets Ctrl-C directly and stops everything it started.
exec .venv/bin/python bench/run.py --bin-dir "$target/release" --lambda-dir "$target/lambda" "$@"
