#!/usr/bin/env python3
"""A lifecycle hook that reads its weights exactly as a hook written for ECS does.

ECS documents `testTrafficWeights` and `productionTrafficWeights` as maps from service revision
ARN to percent, `targetServiceRevisionArn` being the revision the deployment brings, so a hook
finds the new revision's share with `weights[targetServiceRevisionArn]`. This one does that for
both maps, with no fallback: a map that is missing, or keyed otherwise, raises KeyError and the
invocation fails (an ECS deployment would roll back, and so does Gantry's). It answers SUCCEEDED
with the shares it found in `hookDetails` (`production`, `test`), for the test to read back.

Run as a program (the emulator's local Lambda), it reads the event on stdin and writes the
answer on stdout; `handler(event, context)` works unchanged as a Python Lambda handler.
"""

from __future__ import annotations

import json
import sys
from typing import Any


def handler(event: dict[str, Any], _context: Any = None) -> dict[str, Any]:
    details = event["executionDetails"]
    target = details["targetServiceRevisionArn"]
    production = details["productionTrafficWeights"][target]
    test = details["testTrafficWeights"][target]
    return {"hookStatus": "SUCCEEDED", "hookDetails": {"production": production, "test": test}}


def main() -> int:
    event = json.loads(sys.stdin.read() or "{}")
    json.dump(handler(event), sys.stdout)  # an exception exits non-zero with a traceback: Unhandled
    return 0


if __name__ == "__main__":
    sys.exit(main())
