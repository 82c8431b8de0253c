"""The benchmark's table: every figure with its goal and whether it holds (issue 7's goals)."""

from __future__ import annotations

from typing import Any, Optional

FUNCTIONS = ["webhook", "notifier", "approval", "traffic-shifter"]
FLOOR, HELLO, PYTHON = "floor (aws-config + 1 secret)", "hello-world (no SDK)", "Python + boto3 (same work)"

COLD_RATIO = 1.5  # × the floor's median
COLD_MS = 30.0  # p90
WARM_P99_MS = 1.0
MEMORY_MIB = 32.0
PACKAGE_MIB = 6.0
MIB = 1024 * 1024


def verdict(holds: Optional[bool]) -> str:
    return "" if holds is None else ("holds" if holds else "FAILS")


def cold_goal(result: dict[str, Any], floor_median: Optional[float]) -> tuple[str, Optional[bool]]:
    init = result.get("init")
    if not init or not floor_median:
        return "no data", False
    ratio = init["p50_ms"] / floor_median
    holds = ratio <= COLD_RATIO and init["p90_ms"] < COLD_MS and not result.get("failure_count")
    return f"{ratio:.2f}× floor (≤ {COLD_RATIO}×), p90 < {COLD_MS:.0f} ms", holds


def table(results: dict[str, Any]) -> tuple[list[str], list[dict[str, Any]]]:
    """The printed lines, and the goals as data (`{figure, value, goal, holds}`) for the JSON."""
    lines: list[str] = []
    goals: list[dict[str, Any]] = []

    def row(label: str, value: str, goal: str = "", holds: Optional[bool] = None) -> None:
        lines.append(f"  {label:<46} {value:<30} {goal:<36} {verdict(holds)}".rstrip())
        if holds is not None:
            goals.append({"figure": label.strip(), "value": value, "goal": goal, "holds": holds})

    def section(title: str) -> None:
        lines.extend(["", title])

    cold = results.get("cold_start", {})
    if cold:
        spawns = max((c.get("spawns", 0) for c in cold.values()), default=0)
        section(f"Cold start: spawn → first /next (median / p90 of {spawns} spawns each)")
        floor_median = (cold.get(FLOOR, {}).get("init") or {}).get("p50_ms")
        for name, c in cold.items():
            init = c.get("init")
            value = f"{init['p50_ms']:.1f} / {init['p90_ms']:.1f} ms" if init else "did not start"
            if name in FUNCTIONS:
                row(name, value, *cold_goal(c, floor_median))
            else:
                row(name, value, "reference")
        section("Cold start: spawn → first answer to one event (median / p90; the event's AWS calls go to the emulator)")
        for name, c in cold.items():
            answer = c.get("first_answer")
            row(name, f"{answer['p50_ms']:.1f} / {answer['p90_ms']:.1f} ms" if answer else "no answer",
                c.get("first_event", ""))

    warm = results.get("warm_network_free", {}).get("paths", [])
    if warm:
        n = min(p["iterations"] for p in warm)
        section(f"Warm latency, network-free (p50 / p99 of {n:,} events, in-process, release build)")
        for p in warm:
            p99_ms = p["p99_us"] / 1000
            row(f"{p['function']}: {p['label']}", f"{p['p50_us']:.1f} / {p['p99_us']:.1f} µs",
                f"p99 < {WARM_P99_MS:.0f} ms", p99_ms < WARM_P99_MS)

    full = results.get("full_paths", {})
    if full:
        section("Warm latency, full path through the Runtime API against the emulator (p50 / p99; measures the emulator)")
        for name, f in full.items():
            for kind, s in f.get("paths", {}).items():
                row(f"{name}: {kind}", f"{s['p50_ms']:.1f} / {s['p99_ms']:.1f} ms (n={s['n']})")
            if f.get("failure_count"):
                row(f"{name}: unexpected answers", str(f["failure_count"]), "none", False)

    if full:
        section("Peak memory: VmHWM of the warm process after its run")
        for name, f in full.items():
            kb = f.get("vm_hwm_kb")
            if name in FUNCTIONS:
                row(name, f"{kb / 1024:.1f} MiB" if kb else "unknown", f"< {MEMORY_MIB:.0f} MiB",
                    bool(kb) and kb / 1024 < MEMORY_MIB)
            elif kb:
                row(name, f"{kb / 1024:.1f} MiB", "reference")
        for name in ("notifier", "webhook"):
            b = results.get("burst", {}).get(name)
            if b and b.get("vm_hwm_kb_max"):
                kb = b["vm_hwm_kb_max"]
                row(f"{name} (largest instance of the burst)", f"{kb / 1024:.1f} MiB", f"< {MEMORY_MIB:.0f} MiB",
                    kb / 1024 < MEMORY_MIB)

    package = results.get("package", {})
    if package:
        section("Package size: arm64 bootstrap zipped (deflate 9), as uploaded")
        for name, p in package.items():
            if "missing" in p:
                row(name, "not built", f"< {PACKAGE_MIB:.0f} MiB", False)
                continue
            zipped = p["zip_bytes"] / MIB
            row(name, f"{zipped:.2f} MiB (bootstrap {p['bootstrap_bytes'] / MIB:.2f} MiB)",
                f"< {PACKAGE_MIB:.0f} MiB", zipped < PACKAGE_MIB)

    burst = results.get("burst", {})
    if "notifier" in burst:
        b = burst["notifier"]
        section(f"Burst: notifier, {b['events']:,} events of {b['executions']} executions, shuffled, "
                f"+{b['duplicates']} duplicates, {b['instances']} instances")
        row("executions with exactly one Slack parent", f"{b['executions_with_one_parent']} / {b['executions']}",
            "all", b["executions_with_one_parent"] == b["executions"])
        row("final message differs from in-order telling", str(b["state_regressions"]), "0 (no regression)",
            b["state_regressions"] == 0)
        row("failed runs without exactly one reply", str(b["wrong_thread_replies"]), "0", b["wrong_thread_replies"] == 0)
        row("events failed after Lambda's 2 retries", str(b["events_failed_after_retries"]), "0",
            b["events_failed_after_retries"] == 0)
        row("events retried", str(b["events_retried"]))
        row("wall time", f"{b['wall_seconds']:.1f} s")
    if "webhook" in burst:
        b = burst["webhook"]
        section(f"Burst: webhook, {b['deliveries']} deliveries + {b['redeliveries']} redeliveries, interleaved, "
                f"{b['instances']} instances")
        row("deliveries that started a pipeline twice", str(b["started_twice"]), "0", b["started_twice"] == 0)
        row("deliveries that started nothing", str(b["never_started"]), "0", b["never_started"] == 0)
        row("answers", ", ".join(f"{k} {v}" for k, v in sorted(b["answers"].items())))
        row("wall time", f"{b['wall_seconds']:.1f} s")

    failing = [g for g in goals if not g["holds"]]
    section(f"Goals: {len(goals) - len(failing)} of {len(goals)} hold"
            + (": failing " + "; ".join(g["figure"] for g in failing) if failing else ""))
    return lines, goals
