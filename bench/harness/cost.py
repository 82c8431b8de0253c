"""What Gantry costs to run on Lambda (issue 16): a month of 10, 100 and 1,000 deployments a day,
from the benchmark's measured durations and the template's memory sizes, beside Python + boto3.

    .venv/bin/python bench/harness/cost.py [bench/results.json]   # prints the Markdown table

Assumptions (docs/performance.md states them too):
- a deployment is one push (webhook), ten pipeline events (notifier: started, five stages
  started/succeeded… as the benchmark's burst sends) and one approval (approval: the request,
  then the click);
- each function's invocation is billed for its measured warm duration (the full path against the
  emulator, mean), rounded up to the millisecond, plus one cold start per function per deployment
  (init is billed since 2025-08-01);
- Python + boto3 does the same AWS and Slack calls in the same time (generous to it), and pays
  its own measured cold start, at the same memory sizes.
"""

from __future__ import annotations

import json
import math
import os
import sys

# AWS Lambda pricing, US East (N. Virginia), Arm: https://aws.amazon.com/lambda/pricing/
# (first 6 billion GB-seconds a month tier; the free tier is left out).
PRICE_GB_SECOND_ARM = 0.0000133334
PRICE_PER_REQUEST = 0.20 / 1_000_000
DAYS = 30

# Memory sizes from template.yaml (Globals: 256 MB; the traffic shifter 128 MB).
MEMORY_MB = {"webhook": 256, "notifier": 256, "approval": 256}
# Invocations per deployment, and which full path measures them.
EVENTS = {"webhook": [("webhook", "push", 1)],
          "notifier": [("notifier", "execution_event", 10)],
          "approval": [("approval", "request", 1), ("approval", "approve", 1)]}
TEAMS = (10, 100, 1000)


def monthly(results: dict, deployments_a_day: int, python: bool) -> float:
    full, cold = results["full_paths"], results["cold_start"]
    python_init = cold["Python + boto3 (same work)"]["init"]["p50_ms"]
    total = 0.0
    for function, paths in EVENTS.items():
        gb = MEMORY_MB[function] / 1024
        init_ms = python_init if python else cold[function]["init"]["p50_ms"]
        per_deployment_ms = init_ms
        invocations = 0
        for label, path, count in paths:
            per_deployment_ms += count * math.ceil(full[label]["paths"][path]["mean_ms"])
            invocations += count
        n = deployments_a_day * DAYS
        total += n * (per_deployment_ms / 1000 * gb * PRICE_GB_SECOND_ARM + invocations * PRICE_PER_REQUEST)
    return total


def rows(results: dict) -> list[dict]:
    """One row per team size: invocations a month, Gantry's and Python + boto3's monthly cost."""
    per_deployment = sum(c for paths in EVENTS.values() for _, _, c in paths)
    out = []
    for d in TEAMS:
        try:
            gantry, python = monthly(results, d, False), monthly(results, d, True)
        except (KeyError, TypeError):
            return []  # a section missing from this run: no cost to show
        out.append({"deployments_a_day": d, "invocations_a_month": d * DAYS * per_deployment,
                    "gantry_usd": round(gantry, 4), "python_usd": round(python, 4)})
    return out


def table(results: dict) -> str:
    lines = ["| Deployments a day | Invocations a month | Gantry (Rust), per month | Python + boto3, per month |",
             "|---:|---:|---:|---:|"]
    for r in rows(results):
        lines.append(f"| {r['deployments_a_day']:,} | {r['invocations_a_month']:,} | ${r['gantry_usd']:.4f} | "
                     f"${r['python_usd']:.4f} |")
    return "\n".join(lines)


if __name__ == "__main__":
    path = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "results.json")
    with open(path) as f:
        print(table(json.load(f)))
