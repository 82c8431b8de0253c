#!/usr/bin/env bash
# The local demo (`make demo`): builds Gantry's functions for this machine, then tells the story
# against the AWS emulator and the Slack stand-in (demo/demo.py). Arguments go to demo.py, e.g.
# `scripts/demo.sh --chapters push`. Exits non-zero when the story does not go as told. Nothing it
# starts outlives it, Ctrl-C included.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh

# Every function crate that exists so far; the demo skips the chapters of the others.
packages=()
for name in webhook notifier approval traffic-shifter; do
  [ -f "functions/$name/Cargo.toml" ] && packages+=(-p "$name")
done
# The dev profile: `make test` builds the same artifacts, so one build serves both commands.
printf "== building %s(the first build takes several minutes)\n" \
  "$(printf '%s ' "${packages[@]}" | sed 's/-p //g')" >&2
cargo build "${packages[@]}"
# The clicks and EventBridge events the demo sends, built by the tests' Rust builders
# (shared/core/examples/gantry_events.rs). Apart: built with the functions, gantry-core's
# `testing` feature would reach them too.
cargo build -q -p gantry-core --features testing --example gantry-events

target=$(cargo metadata --format-version 1 --no-deps | .venv/bin/python -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
# exec: the demo gets Ctrl-C directly and stops everything it started before exiting.
exec .venv/bin/python demo/demo.py --bin-dir "$target/debug" "$@"
