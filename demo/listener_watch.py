"""Watches the shop's ALB listener while the traffic shifter works, and prints each weight change
as it happens (with what changed in Slack meanwhile).

The weights come from the emulator's record of every `ModifyListener` (`GET /_gantry/elbv2/
weight-changes`), so no step is missed however short it lasts, and each has the time it was set:
the report's chart is drawn from them. A watch can also break the canary on purpose: with
`alarm`, it sets that CloudWatch alarm to ALARM as soon as traffic first moves.
"""

from __future__ import annotations

import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

from world import World

POLL_SECONDS = 0.1


@dataclass(frozen=True)
class WeightChange:
    at: float  # epoch seconds
    blue: int
    green: int

    @property
    def green_share(self) -> float:
        total = self.blue + self.green
        return 100.0 * self.green / total if total else 0.0


@dataclass
class ListenerWatch:
    world: World
    on_poll: Callable[[], None] = lambda: None  # e.g. print what changed in Slack
    alarm: Optional[str] = None
    started: float = field(default_factory=time.time)
    changes: list[WeightChange] = field(default_factory=list)
    alarm_at: Optional[float] = None
    _seen: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: Optional[threading.Thread] = None
    _cloudwatch: Any = None
    error: Optional[BaseException] = None

    def __enter__(self) -> "ListenerWatch":
        # boto3's default session is not for sharing between threads: the client is made here.
        self._cloudwatch = self.world.client("cloudwatch")
        self._seen = len(self._read())  # earlier deployments' changes are not this one's
        self.started = time.time()
        self._thread = threading.Thread(target=self._run, name="listener-watch", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=10)
        if exc[0] is None and self.error is None:
            self._poll()  # the last change, should it have landed after the last poll

    def _read(self) -> list[dict[str, Any]]:
        arn = urllib.parse.quote(self.world.listener_arn, safe="")
        return self.world.control("GET", f"elbv2/weight-changes?arn={arn}")["changes"]

    def _run(self) -> None:
        try:
            while not self._stop.wait(POLL_SECONDS):
                self._poll()
        except BaseException as e:  # noqa: BLE001 - reported by the chapter after the job
            self.error = e

    def _poll(self) -> None:
        changes = self._read()
        blue, green = self.world.target_groups["blue"], self.world.target_groups["green"]
        for raw in changes[self._seen:]:
            change = WeightChange(raw["at"], int(raw["weights"].get(blue, 0)), int(raw["weights"].get(green, 0)))
            self.changes.append(change)
            self.world.transcript.weights(change.at - self.started, change.blue, change.green)
        self._seen = len(changes)
        if self.alarm and self.changes and self.alarm_at is None:
            self._trip_alarm()
        self.on_poll()

    def _trip_alarm(self) -> None:
        """The new version goes bad the moment it takes traffic."""
        assert self.alarm is not None
        self._cloudwatch.set_alarm_state(
            AlarmName=self.alarm, StateValue="ALARM",
            StateReason="Threshold Crossed: 12 datapoints were greater than the threshold (5.0)")
        self.alarm_at = time.time()
        self.world.transcript.send("CloudWatch", f"alarm {self.alarm} goes to ALARM: the new version answers "
                                                 "5xx (the demo breaks it on purpose)")
