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
    return "" if holds is None else ("holds" if holds else "falls short")


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

    judge = results.get("canary_judge")
    if judge:
        judge_rows(judge, row, section)

    failing = [g for g in goals if not g["holds"]]
    section(f"Goals: {len(goals) - len(failing)} of {len(goals)} hold"
            + (": failing " + "; ".join(g["figure"] for g in failing) if failing else ""))
    return lines, goals


JUDGE_FALSE = 0.01
JUDGE_CAUGHT_1PCT = 0.95
JUDGE_CAUGHT_01PCT = 0.90
JUDGE_LATENCY = 0.95
JUDGE_VERDICT_MS = 1.0


def judge_rows(j: dict[str, Any], row: Any, section: Any) -> None:
    """The canary judge's simulation (issue 14): bench/judge, `judge-sim`."""
    runs = j["runs"]
    section(f"Canary judge, simulated ({runs:,} deployments a scenario; {j['deployment']})")
    f = j["false_rollbacks"]
    row("false rollbacks, same version both sides", f"{f['rate']:.2%} ({f['errors']} errors, {f['latency']} p99)",
        f"≤ {JUDGE_FALSE:.0%} per deployment", f["rate"] <= JUDGE_FALSE)
    a = j["errors_10x_at_1pct"]
    row("10× errors at 1% base: caught by 250 requests", f"{a['caught_by_250']:.1%} (median {a['median_new_requests']:.0f})",
        f"≥ {JUDGE_CAUGHT_1PCT:.0%}", a["caught_by_250"] >= JUDGE_CAUGHT_1PCT)
    row("  best single exact test needs (95%)", f"{a['best_single_test_requests_95pct']} requests", "reference")
    b = j["errors_10x_at_0_1pct"]
    median = b["median_new_requests"]
    row("10× errors at 0.1% base: caught by 1,000 requests",
        f"{b['caught_by_1000']:.1%} (median {median:.0f})" if median else f"{b['caught_by_1000']:.1%}",
        f"≥ {JUDGE_CAUGHT_01PCT:.0%}", b["caught_by_1000"] >= JUDGE_CAUGHT_01PCT)
    row("  best single exact test needs (90%)", f"{b['best_single_test_requests_90pct']} requests",
        "known live rate, one look")
    lat = j["latency_2x"]
    row("p99 at 2× live: caught within two windows", f"{lat['caught_within_two_judged_windows']:.1%}",
        f"≥ {JUDGE_LATENCY:.0%}", lat["caught_within_two_judged_windows"] >= JUDGE_LATENCY)
    v = j["verdict_us"]
    row("time per verdict (p50 / p99.9 / max)", f"{v['p50']:.1f} / {v['p999']:.1f} / {v['max']:.0f} µs",
        f"p99.9 < {JUDGE_VERDICT_MS:.0f} ms", v["p999"] / 1000 < JUDGE_VERDICT_MS)
    row("  verdicts over 1 ms (preempted on a shared machine)", f"{v['over_1ms']} of {v['n']:,}")
    h = j["hour_rejudged_us"]
    row("an hour of windows judged from scratch (p50)", f"{h['p50']:.0f} µs")
    section("Canary judge: caught during the deployment (median new-side requests at the catch), by base 5xx rate "
            "and requests per window")
    traffic = [c["traffic_per_window"] for c in j["detection_table"][0]["cells"]]
    row("new side's errors x, base rate", "  ".join(f"{t:>12,.0f}" for t in traffic))
    for r in j["detection_table"]:
        cells = "  ".join(
            f"{c['caught']:>5.0%} ({c['median_new_requests_at_catch']:>5.0f})" if c["median_new_requests_at_catch"]
            else f"{c['caught']:>5.0%} (    -)" for c in r["cells"])
        row(f"{r['error_factor']:.0f}×, {r['base_rate']:.1%}", cells)
