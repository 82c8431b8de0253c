"""Warm runs through the Runtime API against the emulator: one warm instance of a function, sent
its workload's events one after another. Each event is timed from the Runtime API handing it
over to the answer coming back; the peak resident memory (VmHWM) is read at the end.

These timings are mostly the emulator's (moto is Python, and every AWS call is a local HTTP
round trip to it): they say the functions keep up, not how fast AWS is.
"""

from __future__ import annotations

import time
from typing import Any

from runtime_api import LambdaProcess

import stats
from workloads import Workload


def measure(binary: str, env: dict[str, str], name: str, workload: Workload, events: int,
            warmup: int) -> dict[str, Any]:
    """Sends `warmup` then `events` events; returns timings per kind, failures and VmHWM."""
    samples: dict[str, list[float]] = {kind: [] for kind in workload.kinds}
    failures: list[str] = []
    process = LambdaProcess(binary, env, name=name, timeout_seconds=60)
    started = time.perf_counter()
    try:
        process.start(timeout=60)
        for i in range(warmup + events):
            kind, event = workload.next()
            sent = time.perf_counter()
            ok, answer = process.invoke(event)
            took = (time.perf_counter() - sent) * 1000
            workload.observe(answer)
            if not workload.check(kind, ok, answer):
                failures.append(f"{kind}: {str(answer)[:300]}")
            elif i >= warmup:
                samples[kind].append(took)
        peak_kb = process.vm_hwm_kb()
    finally:
        process.stop()
    return {
        "paths": {kind: stats.summary(s) for kind, s in samples.items() if s},
        "events": events,
        "failures": failures[:5],
        "failure_count": len(failures),
        "vm_hwm_kb": peak_kb,
        "seconds": round(time.perf_counter() - started, 1),
    }
