#!/usr/bin/env python3
"""A lifecycle hook written for ECS blue/green deployments, run as a Lambda function.

The handler is ECS's contract (see INTERFACES.md): the event carries `lifecycleStage`,
`hookDetails`, `executionId`, `resourceArn` and `executionDetails` {`serviceArn`,
`targetServiceRevisionArn`, `testTrafficWeights`, `productionTrafficWeights`}; the answer is
`{"hookStatus": "SUCCEEDED" | "FAILED" | "IN_PROGRESS", "callBackDelay": s, "hookDetails": {...}}`.
`handler(event, context)` works unchanged as a Python Lambda handler; run as a program (the
emulator's local Lambda) it reads the event on stdin and writes the answer on stdout.

Behaviour, from `hookDetails` first, else the environment:

| hookDetails       | env                       | meaning |
| ---               | ---                       | --- |
| `mode`            | `HOOK_MODE`               | `succeed` (default), `fail`, `throw`, `in_progress` |
| `only_at`         | `HOOK_ONLY_AT`            | lifecycle stages (list, or comma-separated) where `mode` applies; elsewhere it succeeds |
| `in_progress_times` | `HOOK_IN_PROGRESS_TIMES` | `in_progress`: answer IN_PROGRESS this many times (default 2), then SUCCEEDED |
| `callback_delay`  | `HOOK_CALLBACK_DELAY`     | the `callBackDelay` to ask for (default 1 second) |
| `smoke_url`       | `HOOK_SMOKE_URL`          | a URL that must answer 2xx (the test listener's), else FAILED |

`in_progress` counts its calls in the `hookDetails` it answers (`calls`), which ECS passes back on
the next invocation: the hook keeps no state of its own.
"""

from __future__ import annotations

import json
import os
import sys
import urllib.error
import urllib.request
from typing import Any

STAGES = {
    "RECONCILE_SERVICE", "PRE_SCALE_UP", "POST_SCALE_UP", "TEST_TRAFFIC_SHIFT",
    "POST_TEST_TRAFFIC_SHIFT", "PRODUCTION_TRAFFIC_SHIFT", "POST_PRODUCTION_TRAFFIC_SHIFT",
}
MODES = {"succeed", "fail", "throw", "in_progress"}


class HookError(Exception):
    """Thrown by `throw` mode and on an event that is not ECS's: the invocation fails."""


def setting(details: dict[str, Any], key: str, env: str, default: Any) -> Any:
    if key in details:
        return details[key]
    return os.environ.get(env, default)


def check_event(event: Any) -> None:
    if not isinstance(event, dict):
        raise HookError("the event is not a JSON object")
    if event.get("lifecycleStage") not in STAGES:
        raise HookError(f"unknown lifecycleStage {event.get('lifecycleStage')!r}")
    details = event.get("executionDetails")
    if not isinstance(details, dict) or not isinstance(details.get("serviceArn"), str):
        raise HookError("executionDetails.serviceArn is missing")
    for key in ("testTrafficWeights", "productionTrafficWeights"):
        if key in details and not isinstance(details[key], dict):
            raise HookError(f"executionDetails.{key} is not a map of service ARN to percent")
    if not isinstance(event.get("hookDetails", {}), dict):
        raise HookError("hookDetails is not an object")


def smoke(url: str) -> str | None:
    """None when `url` answers 2xx, else why not."""
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return None if 200 <= response.status < 300 else f"{url} answered {response.status}"
    except urllib.error.HTTPError as exc:
        return f"{url} answered {exc.code}"
    except (urllib.error.URLError, OSError) as exc:
        return f"{url} unreachable: {exc}"


def handler(event: Any, _context: Any = None) -> dict[str, Any]:
    check_event(event)
    stage = event["lifecycleStage"]
    details = dict(event.get("hookDetails") or {})
    mode = str(setting(details, "mode", "HOOK_MODE", "succeed"))
    if mode not in MODES:
        raise HookError(f"unknown mode {mode!r}")
    only_at = setting(details, "only_at", "HOOK_ONLY_AT", "")
    if isinstance(only_at, str):
        only_at = [s.strip() for s in only_at.split(",") if s.strip()]
    if only_at and stage not in only_at:
        mode = "succeed"
    delay = int(setting(details, "callback_delay", "HOOK_CALLBACK_DELAY", 1))
    calls = int(details.get("calls", 0)) + 1
    answer = {"callBackDelay": delay, "hookDetails": {**details, "calls": calls, "stage": stage}}

    if mode == "throw":
        raise HookError(f"smoke hook failed hard at {stage}")
    if mode == "fail":
        return {**answer, "hookStatus": "FAILED"}
    if mode == "in_progress":
        times = int(setting(details, "in_progress_times", "HOOK_IN_PROGRESS_TIMES", 2))
        if calls <= times:
            return {**answer, "hookStatus": "IN_PROGRESS"}
    url = setting(details, "smoke_url", "HOOK_SMOKE_URL", "")
    problem = smoke(url) if url else None
    if problem:
        return {**answer, "hookStatus": "FAILED", "hookDetails": {**answer["hookDetails"], "reason": problem}}
    return {**answer, "hookStatus": "SUCCEEDED"}


def main() -> int:
    event = json.loads(sys.stdin.read() or "{}")
    json.dump(handler(event), sys.stdout)  # an exception exits non-zero with a traceback: Unhandled
    return 0


if __name__ == "__main__":
    sys.exit(main())
