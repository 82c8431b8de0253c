#!/usr/bin/env bash
# Is the release reproducible? Clones the current commit twice, into two directories of different
# names and depths, runs `make release` in both (each with its own target directory, inside its
# clone, side by side with one job each: the CPU of one two-job build), and compares SHA256SUMS.
# Exits non-zero when they differ. docs/release.md gives the last result.
#
#   scripts/check-reproducible.sh [WORKDIR]      # default: a new folder under /tmp
#
# GANTRY_REPRO_VENV=PATH links that venv into both clones instead of installing one in each
# (same requirements-dev.txt; saves the Python install, which is not what is being checked).
set -euo pipefail
cd "$(dirname "$0")/.."
commit=$(git rev-parse HEAD)
work=${1:-$(mktemp -d /tmp/gantry-repro.XXXXXX)}
a="$work/a"
b="$work/second/clone-b"
mkdir -p "$work/second"
for d in "$a" "$b"; do
  git clone -q "$PWD" "$d"
  git -C "$d" checkout -q "$commit"
  if [ -n "${GANTRY_REPRO_VENV:-}" ]; then ln -s "$GANTRY_REPRO_VENV" "$d/.venv"; fi
done
# The same SOURCE_DATE_EPOCH for both, as `make release` would take it from the commit.
export SOURCE_DATE_EPOCH
SOURCE_DATE_EPOCH=$(git log -1 --format=%ct "$commit")
build() {
  local start=$SECONDS rc=0
  (cd "$1" && env -u CARGO_TARGET_DIR CARGO_BUILD_JOBS=1 make release) > "$1.log" 2>&1 || rc=$?
  echo "$1: make release exited $rc after $((SECONDS - start)) s (log: $1.log)"
}
echo "commit $commit, SOURCE_DATE_EPOCH=$SOURCE_DATE_EPOCH, in $work"
build "$a" & build "$b" & wait
ls -l "$a/dist"/*.zip
if cmp -s "$a/dist/SHA256SUMS" "$b/dist/SHA256SUMS"; then
  echo "reproducible: both clones give the same SHA256SUMS"
  cat "$a/dist/SHA256SUMS"
else
  echo "NOT reproducible:" >&2
  diff "$a/dist/SHA256SUMS" "$b/dist/SHA256SUMS" >&2 || true
  exit 1
fi
