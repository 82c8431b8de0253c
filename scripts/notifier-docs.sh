#!/usr/bin/env bash
# Regenerates docs/notifier-message.html (and .png when chromium is installed) from the Slack
# messages the notifier really sends in its end-to-end tests.
set -euo pipefail
cd "$(dirname "$0")/.."
dump="target/slack-dump"
rm -rf "$dump"
GANTRY_DUMP_SLACK="$PWD/$dump" cargo test -p gantry-tests --test notifier -- \
  a_successful_execution a_failed_build an_approval_stage >/dev/null
python3 scripts/render_slack.py "$dump/successful.json" "$dump/failed.json" "$dump/approval.json" \
  -o docs/notifier-message.html
if command -v chromium >/dev/null; then
  chromium --headless --no-sandbox --disable-gpu --hide-scrollbars --window-size=820,1080 \
    --screenshot="$PWD/docs/notifier-message.png" "file://$PWD/docs/notifier-message.html" 2>/dev/null
fi
echo "docs/notifier-message.html written"
