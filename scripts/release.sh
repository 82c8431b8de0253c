#!/usr/bin/env bash
# `make release`: builds the four functions for Lambda (provided.al2023, arm64, release profile)
# and writes dist/ (scripts/release.py says what it holds). Reproducible: the same source and
# SOURCE_DATE_EPOCH (by default the last commit's time) give the same SHA256SUMS, wherever the
# clone, the cargo home and the toolchain are (docs/release.md: how it is checked).
#
# The release profile is fat LTO: on two cores the first build takes a long while; set
# CARGO_TARGET_DIR to a persistent folder to keep it between runs.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
export PATH="$PWD/.venv/bin:$PATH"

if [ -z "${SOURCE_DATE_EPOCH:-}" ]; then
  SOURCE_DATE_EPOCH=$(git log -1 --format=%ct 2>/dev/null || echo 315532800)
fi
export SOURCE_DATE_EPOCH

# Where the build happens must not end up in the binaries: panic locations and the C code's
# __FILE__ name source files by path. Each prefix is remapped to a fixed name: this checkout, the
# cargo home (the crates' sources) and the toolchain's sysroot. (The standard library that rustup
# ships is already built with its paths remapped.)
cargo_home=${CARGO_HOME:-$HOME/.cargo}
sysroot=$(rustc --print sysroot)
remap=(--remap-path-prefix="$PWD=/gantry" --remap-path-prefix="$cargo_home=/cargo"
       --remap-path-prefix="$sysroot=/rustc")
export RUSTFLAGS="${RUSTFLAGS:+$RUSTFLAGS }${remap[*]}"
cmap="-ffile-prefix-map=$PWD=/gantry -ffile-prefix-map=$cargo_home=/cargo"
export CFLAGS_aarch64_unknown_linux_gnu="${CFLAGS_aarch64_unknown_linux_gnu:+$CFLAGS_aarch64_unknown_linux_gnu }$cmap"

target=$(cargo metadata --format-version 1 --no-deps | .venv/bin/python -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
# The target directory's own path reaches build scripts' outputs (OUT_DIR): remap it too when it
# is outside this checkout.
case "$target" in
  "$PWD"/*) ;;
  *) export RUSTFLAGS="$RUSTFLAGS --remap-path-prefix=$target=/target"
     export CFLAGS_aarch64_unknown_linux_gnu="$CFLAGS_aarch64_unknown_linux_gnu -ffile-prefix-map=$target=/target" ;;
esac

echo "== building the functions for Lambda (release, arm64; SOURCE_DATE_EPOCH=$SOURCE_DATE_EPOCH)" >&2
# cargo-lambda cross-compiles with zig (both from the venv); the standard library for arm64
# comes from rustup.
rustup target add aarch64-unknown-linux-gnu >/dev/null
cargo lambda build --release --arm64 --locked -p webhook -p notifier -p approval -p traffic-shifter

echo "== packaging dist/" >&2
.venv/bin/python scripts/release.py --lambda-dir "$target/lambda" --out dist
(cd dist && sha256sum --check --quiet SHA256SUMS)
cat dist/SHA256SUMS
