"""Several warm instances of one function, fed concurrently from one queue, as Lambda runs an
asynchronous event source: an invocation that fails is retried (twice, as Lambda retries
asynchronous invocations), and a timing is kept for every attempt.
"""

from __future__ import annotations

import queue
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

from runtime_api import LambdaProcess

LAMBDA_ASYNC_RETRIES = 2


@dataclass
class Outcome:
    """What became of one event: its last answer, how many attempts it took, and their times."""

    index: int
    ok: bool = False
    answer: Any = None
    attempts: int = 0
    durations_ms: list[float] = field(default_factory=list)


@dataclass
class Run:
    outcomes: list[Outcome]
    wall_seconds: float
    peak_kb: list[int]

    @property
    def retried(self) -> int:
        return sum(1 for o in self.outcomes if o.attempts > 1)

    @property
    def failed(self) -> list[Outcome]:
        return [o for o in self.outcomes if not o.ok]


class Fleet:
    """`size` warm instances of `binary` with `env`; a context manager that stops them all."""

    def __init__(self, binary: str, env: dict[str, str], size: int, name: Optional[str] = None) -> None:
        self.processes = [LambdaProcess(binary, env, name=name, timeout_seconds=60) for _ in range(size)]

    def __enter__(self) -> "Fleet":
        for p in self.processes:
            p.start(timeout=30)
        return self

    def __exit__(self, *exc: Any) -> None:
        for p in self.processes:
            p.stop()

    def run(self, events: list[Any], accept: Callable[[bool, Any], bool] = lambda ok, _: ok) -> Run:
        """Sends every event to whichever instance is free; `accept(ok, answer)` says whether an
        answer is a success (anything else is retried)."""
        work: "queue.Queue[tuple[int, int]]" = queue.Queue()
        outcomes = [Outcome(i) for i in range(len(events))]
        for i in range(len(events)):
            work.put((i, 0))
        pending = [len(events)]
        lock = threading.Condition()

        def serve(process: LambdaProcess) -> None:
            while True:
                with lock:
                    if pending[0] == 0:
                        return
                try:
                    index, attempt = work.get(timeout=0.05)
                except queue.Empty:
                    continue
                started = time.perf_counter()
                ok, answer = process.invoke(events[index])
                outcome = outcomes[index]
                outcome.durations_ms.append((time.perf_counter() - started) * 1000)
                outcome.attempts = attempt + 1
                outcome.ok, outcome.answer = accept(ok, answer), answer
                if not outcome.ok and attempt < LAMBDA_ASYNC_RETRIES:
                    work.put((index, attempt + 1))
                    continue
                with lock:
                    pending[0] -= 1
                    lock.notify_all()

        started = time.perf_counter()
        threads = [threading.Thread(target=serve, args=(p,), daemon=True) for p in self.processes]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.perf_counter() - started
        return Run(outcomes, wall, [p.vm_hwm_kb() or 0 for p in self.processes])
