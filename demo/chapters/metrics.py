"""The last chapter: the delivery figures (DORA's four keys) the story's own executions left, as
CloudWatch would extract them from the notifier's EMF log lines (docs/metrics.md). Each figure
must have been written once, whatever the story's events repeated."""

from __future__ import annotations

from collections import Counter
from typing import Any

from world import World, expect

from . import chapter

METRICS = ("Deployments", "LeadTimeSeconds", "FailedDeployments", "TimeToRestoreSeconds")


def metric_of(figure: dict[str, Any]) -> str:
    return figure["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]["Name"]


def four_keys(figures: list[dict[str, Any]]) -> dict[str, dict[str, list[float]]]:
    """Stage → metric → the values written, in the order they were."""
    out: dict[str, dict[str, list[float]]] = {}
    for f in figures:
        name = metric_of(f)
        out.setdefault(f["Stage"], {m: [] for m in METRICS})[name].append(float(f[name]))
    return out


@chapter("The delivery figures of the story: DORA's four keys", needs=["notifier"])
def chapter_metrics(world: World) -> None:
    t = world.transcript
    figures = world.facts.get("figures", [])
    if not figures:
        t.note("no stage that deploys ended in this telling of the story: no delivery figure yet")
        return
    seen = Counter((f["Pipeline"], f["Stage"], metric_of(f), f.get("subject")) for f in figures)
    twice = [k for k, n in seen.items() if n > 1]
    expect(not twice, f"a delivery figure was written more than once: {twice}")
    for stage, keys in sorted(four_keys(figures).items()):
        deployments, failed = len(keys["Deployments"]), len(keys["FailedDeployments"])
        lead = ", ".join(f"{v:.0f} s" for v in keys["LeadTimeSeconds"]) or "none"
        restore = ", ".join(f"{v:.0f} s" for v in keys["TimeToRestoreSeconds"]) or "none"
        t.say(f"{stage}: {deployments} deployment(s), {failed} failed; lead time {lead}; "
              f"time to restore {restore}")
    t.ok(f"{len(figures)} figures, each written once by the notifier as an EMF line "
         "(namespace Gantry, dimensions Pipeline and Stage)")
