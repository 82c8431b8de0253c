"""What Gantry costs to run on Lambda: a month of 10, 100 and 1,000 deployments a day, per
function, from the benchmark's measured durations, the traffic shifter's billed time per
deployment (the `billing` section) and the template's memory sizes.

    .venv/bin/python bench/harness/cost.py [bench/results.json]   # prints the Markdown tables

What a deployment is (one run of the template's pipeline; docs/performance.md states it too):
- webhook: one push;
- notifier: every event the pipeline emits, as the template's EventBridge rule sends them all:
  the execution's started and succeeded, and each stage's and each action's (counted from the
  pipeline in the template files: 5 stages and 6 actions make 24);
- approval: the approval action's two events (started: the request is posted; succeeded) and
  the click;
- traffic-shifter: the template's three deployments (dev, qa, prod) at its defaults, each
  invocation billed for the time it waited inside Lambda (the deterministic simulation of the
  real flow, on a simulated clock: `billing` section) plus its own work, taken as the measured
  mean of one deployment invocation against the emulator (`full` section);
- one cold start per function per deployment (init is billed since 2025-08-01).
Plus the orphan sweep, which EventBridge's schedule runs every minute whatever the deployments
(43,200 invocations a month), billed as the shifter's invocations are (an upper bound: a sweep
reads one index). Left out: the free tier, CloudWatch Logs, DynamoDB, SNS, Secrets Manager,
EventBridge, CodePipeline and CodeBuild, which bill on their own.
"""

from __future__ import annotations

import glob
import json
import math
import os
import sys
from typing import Any, Optional

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))

# AWS Lambda pricing, US East (N. Virginia), Arm: https://aws.amazon.com/lambda/pricing/
# (first 7.5 billion GB-seconds a month tier; the free tier is left out).
PRICE_GB_SECOND_ARM = 0.0000133334
PRICE_PER_REQUEST = 0.20 / 1_000_000
DAYS = 30
SWEEPS_A_MONTH = 60 * 24 * DAYS

# Memory sizes from template.yaml (Globals: 256 MB; the traffic shifter 128 MB).
MEMORY_MB = {"webhook": 256, "notifier": 256, "approval": 256, "traffic-shifter": 128}
FUNCTIONS = tuple(MEMORY_MB)
TEAMS = (10, 100, 1000)
# How the shifter waits between checks (UserParameters.wait_between_checks), as the `billing`
# section measured both.
MODES = ("in_lambda", "in_codepipeline")


def template_files() -> list[str]:
    """The SAM templates: the hub and, once there is one, the service template."""
    return [p for p in [os.path.join(ROOT, "template.yaml"), *sorted(glob.glob(os.path.join(ROOT, "service", "*.yaml")))]
            if os.path.isfile(p)]


def pipeline_events() -> int:
    """The EventBridge events one run of the template's pipeline emits: the execution's started
    and succeeded, and the same two for each stage and each action."""
    import yaml

    class Loader(yaml.SafeLoader):
        pass

    # CloudFormation's short forms (!Sub, !Ref…) are kept as plain values.
    Loader.add_multi_constructor("!", lambda loader, suffix, node: None)
    for path in template_files():
        with open(path) as f:
            template = yaml.load(f, Loader=Loader) or {}
        for resource in (template.get("Resources") or {}).values():
            if isinstance(resource, dict) and resource.get("Type") == "AWS::CodePipeline::Pipeline":
                stages = resource["Properties"]["Stages"]
                actions = sum(len(s["Actions"]) for s in stages)
                return 2 * (1 + len(stages) + actions)
    raise SystemExit("cost: no AWS::CodePipeline::Pipeline in " + ", ".join(template_files()))


def per_deployment(results: dict[str, Any], mode: str, python: bool) -> dict[str, dict[str, float]]:
    """Each function's billed milliseconds and invocations in one deployment (one pipeline run)."""
    full, cold, billing = results["full_paths"], results["cold_start"], results["shifter_billing"]
    python_init = cold["Python + boto3 (same work)"]["init"]["p50_ms"]

    def mean(label: str, path: str) -> int:
        # Lambda bills by the millisecond, rounding each invocation up.
        return math.ceil(full[label]["paths"][path]["mean_ms"])

    events = pipeline_events()
    work = {
        "webhook": [(mean("webhook", "push"), 1)],
        "notifier": [(mean("notifier", "execution_event"), events)],
        # The succeeded event is timed as the request (an upper bound: it posts nothing new).
        "approval": [(mean("approval", "request"), 2), (mean("approval", "approve"), 1)],
    }
    shifter_ms = mean("traffic-shifter", "deployment_invocation")
    stages = billing["modes"][mode].values()
    work["traffic-shifter"] = [(round(s["waited_in_lambda_seconds"] * 1000) + s["invocations"] * shifter_ms, 1)
                               for s in stages]
    invocations = {"traffic-shifter": sum(s["invocations"] for s in stages)}
    out = {}
    for function, parts in work.items():
        init = python_init if python else cold[function]["init"]["p50_ms"]
        out[function] = {"ms": init + sum(ms * n for ms, n in parts),
                         "invocations": invocations.get(function, sum(n for _, n in parts))}
    return out


def dollars(ms: float, invocations: float, function: str) -> float:
    return ms / 1000 * MEMORY_MB[function] / 1024 * PRICE_GB_SECOND_ARM + invocations * PRICE_PER_REQUEST


def sweep_monthly(results: dict[str, Any]) -> float:
    ms = math.ceil(results["full_paths"]["traffic-shifter"]["paths"]["deployment_invocation"]["mean_ms"])
    return SWEEPS_A_MONTH * dollars(ms, 1, "traffic-shifter")


def rows(results: dict[str, Any], mode: str = "in_lambda") -> list[dict[str, Any]]:
    """One row per team size: invocations a month, each function's and the total monthly cost,
    and Python + boto3's total for the same work."""
    try:
        gantry, python = per_deployment(results, mode, False), per_deployment(results, mode, True)
        sweep = sweep_monthly(results)
    except (KeyError, TypeError):
        return []  # a section missing from these results: no cost to show
    out = []
    for d in TEAMS:
        n = d * DAYS
        each = {f: n * dollars(gantry[f]["ms"], gantry[f]["invocations"], f) for f in FUNCTIONS}
        each["sweep"] = sweep
        py = sum(n * dollars(python[f]["ms"], python[f]["invocations"], f) for f in FUNCTIONS) + sweep
        out.append({"deployments_a_day": d,
                    "invocations_a_month": n * sum(g["invocations"] for g in gantry.values()) + SWEEPS_A_MONTH,
                    "functions_usd": {f: round(v, 4) for f, v in each.items()},
                    "gantry_usd": round(sum(each.values()), 4), "python_usd": round(py, 4)})
    return out


def billed_seconds(results: dict[str, Any], mode: str) -> Optional[dict[str, float]]:
    """Each function's billed seconds in one deployment."""
    try:
        return {f: round(v["ms"] / 1000, 1) for f, v in per_deployment(results, mode, False).items()}
    except (KeyError, TypeError):
        return None


def table(results: dict[str, Any]) -> str:
    lines = []
    for mode in MODES:
        seconds = billed_seconds(results, mode)
        if seconds is None:
            return "(the results lack a section the cost needs: full, cold or billing)"
        lines += [f"`wait_between_checks: {mode}`; billed seconds a deployment: "
                  + ", ".join(f"{f} {s:,.1f}" for f, s in seconds.items()), "",
                  "| Deployments a day | Invocations a month | webhook | notifier | approval | traffic-shifter "
                  "| sweep | Gantry, per month | Python + boto3, per month |",
                  "|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for r in rows(results, mode):
            f = r["functions_usd"]
            lines.append(f"| {r['deployments_a_day']:,} | {r['invocations_a_month']:,} | "
                         + " | ".join(f"${f[k]:.4f}" for k in (*FUNCTIONS, "sweep"))
                         + f" | **${r['gantry_usd']:.2f}** | ${r['python_usd']:.2f} |")
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    path = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "..", "results.json")
    with open(path) as f:
        print(table(json.load(f)))
