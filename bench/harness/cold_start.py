"""Cold starts: each binary spawned again and again under its own Runtime API, one process at a
time (round-robin over the binaries, so a slow moment of the machine hits all of them alike).

Init is spawn → first `/next` (Lambda's "Init Duration"); the first answer is spawn → the answer
to one event through the Runtime API.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import Any

from runtime_api import InitError, LambdaProcess

import stats
from workloads import Workload


@dataclass
class Subject:
    """One binary to spawn, with its environment and the workload its first event comes from."""

    name: str
    binary: str
    env: dict[str, str]
    workload: Workload
    first_event: str = ""
    init_ms: list[float] = field(default_factory=list)
    first_answer_ms: list[float] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    def result(self) -> dict[str, Any]:
        out: dict[str, Any] = {"spawns": len(self.init_ms), "first_event": self.first_event,
                               "failures": self.failures[:5], "failure_count": len(self.failures)}
        if self.init_ms:
            out["init"] = stats.summary(self.init_ms)
        if self.first_answer_ms:
            out["first_answer"] = stats.summary(self.first_answer_ms)
        return out


def spawn_once(subject: Subject) -> None:
    process = LambdaProcess(subject.binary, subject.env, name=subject.name, timeout_seconds=60)
    try:
        process.start(timeout=60)
        subject.init_ms.append(process.init_duration_ms or 0.0)
        kind, event = subject.workload.next()
        ok, answer = process.invoke(event)
        subject.workload.observe(answer)
        if subject.workload.check(kind, ok, answer) and process.first_answer_ms is not None:
            subject.first_answer_ms.append(process.first_answer_ms)
        else:
            subject.failures.append(f"unexpected answer: {str(answer)[:300]}")
    except InitError as e:
        subject.failures.append(str(e))
    finally:
        process.stop()


def measure(subjects: list[Subject], spawns: int) -> dict[str, Any]:
    for round_ in range(spawns):
        for subject in subjects:
            spawn_once(subject)
        if (round_ + 1) % 10 == 0:
            print(f"  cold starts: {round_ + 1}/{spawns} rounds", file=sys.stderr)
    return {s.name: s.result() for s in subjects}
