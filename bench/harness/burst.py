"""Bursts: many events at once to several warm instances, as Lambda scales out, checked for the
outcomes a user would notice.

- Notifier: executions told by shuffled, partly duplicated events (EventBridge delivers at least
  once, in any order). Each execution must have exactly one parent Slack message, which must end
  as the same message an in-order telling of the same run ends with (no state regression), and
  a failed run exactly one failure reply in its thread.
- Webhook: deliveries and GitHub redeliveries of them (same delivery id, same body), interleaved.
  No delivery may start a pipeline execution twice, and every delivery must start one.
"""

from __future__ import annotations

import json
import random
import uuid
from collections import Counter, defaultdict
from typing import Any

from lambda_events import http_response
from world import PIPELINE, World, http_json

import events
import stats
from fleet import Fleet
from workloads import start_execution

SLACK_NAMESPACE = "bench-burst"


def _slack_messages(world: World) -> list[dict[str, Any]]:
    assert world.slack_sink is not None
    return http_json("GET", f"{world.slack_sink.url}/ns/{SLACK_NAMESPACE}/_sink/messages")["messages"]


def _normalised(message: dict[str, Any], execution_id: str) -> str:
    """The message as the user sees it, with the execution's own ids taken out."""
    text = json.dumps({"text": message["text"], "blocks": message["blocks"]}, sort_keys=True)
    return text.replace(execution_id, "EXECUTION").replace(execution_id[:8], "EXEC")


def _timings(run: Any) -> dict[str, Any]:
    durations = [d for o in run.outcomes for d in o.durations_ms]
    return stats.summary(durations) if durations else {}


def notifier(world: World, binary: str, env: dict[str, str], executions: int, duplicated: float,
             instances: int, seed: int) -> dict[str, Any]:
    env = {**env, "SLACK_API_URL": f"{world.slack_sink.url}/ns/{SLACK_NAMESPACE}/api"}  # type: ignore[union-attr]
    http_json("POST", f"{world.slack_sink.url}/ns/{SLACK_NAMESPACE}/_sink/reset")  # type: ignore[union-attr]
    rng = random.Random(seed)
    runs = {"succeeded": events.successful_run, "failed": events.failed_run}

    # What an in-order telling ends with, one execution of each outcome, told by one instance.
    references = {outcome: start_execution(world) for outcome in runs}
    with Fleet(binary, env, 1, name="notifier") as one:
        for outcome, execution_id in references.items():
            one.run(runs[outcome](PIPELINE, execution_id))

    outcome_of = {start_execution(world): ("failed" if i % 10 == 9 else "succeeded") for i in range(executions)}
    told = [e for execution_id, outcome in outcome_of.items() for e in runs[outcome](PIPELINE, execution_id)]
    sent = told + rng.sample(told, round(len(told) * duplicated))
    rng.shuffle(sent)
    with Fleet(binary, env, instances, name="notifier") as fleet:
        run = fleet.run(sent)

    messages = _slack_messages(world)
    parents: dict[str, list[dict[str, Any]]] = defaultdict(list)
    replies: Counter[str] = Counter()
    for message in messages:
        if message.get("thread_ts"):
            replies[message["thread_ts"]] += 1
            continue
        for execution_id in list(outcome_of) + list(references.values()):
            if execution_id in json.dumps(message["blocks"]):
                parents[execution_id].append(message)
    expected = {outcome: _normalised(parents[eid][0], eid) for outcome, eid in references.items()
                if len(parents[eid]) == 1}
    one_parent = sum(1 for eid in outcome_of if len(parents[eid]) == 1)
    regressions = [eid for eid, outcome in outcome_of.items()
                   if len(parents[eid]) == 1 and _normalised(parents[eid][0], eid) != expected.get(outcome)]
    wrong_replies = [eid for eid, outcome in outcome_of.items() if len(parents[eid]) == 1
                     and replies[parents[eid][0]["ts"]] != (1 if outcome == "failed" else 0)]
    return {
        "executions": executions,
        "events": len(told),
        "duplicates": len(sent) - len(told),
        "instances": instances,
        "wall_seconds": round(run.wall_seconds, 2),
        "invocations": sum(o.attempts for o in run.outcomes),
        "executions_with_one_parent": one_parent,
        "state_regressions": len(regressions),
        "wrong_thread_replies": len(wrong_replies),
        "events_failed_after_retries": len(run.failed),
        "events_retried": run.retried,
        "references_rendered": sorted(expected),
        "holds": (one_parent == executions and not regressions and not wrong_replies and not run.failed
                  and len(expected) == len(references)),
        "vm_hwm_kb_max": max(run.peak_kb),
        "timings": _timings(run),
    }


def webhook(world: World, binary: str, env: dict[str, str], deliveries: int, redelivered: float,
            instances: int, seed: int) -> dict[str, Any]:
    rng = random.Random(seed)
    ids = [str(uuid.uuid4()) for _ in range(deliveries)]
    order: list[str] = list(ids)
    rng.shuffle(order)
    # A redelivery comes after its original was sent (GitHub redelivers a delivery it has sent).
    for delivery_id in rng.sample(ids, round(deliveries * redelivered)):
        after = order.index(delivery_id)
        order.insert(rng.randint(after + 1, len(order)), delivery_id)
    sent = [events.push(delivery_id) for delivery_id in order]
    with Fleet(binary, env, instances, name="webhook") as fleet:
        run = fleet.run(sent)

    answers: Counter[str] = Counter()
    for outcome in run.outcomes:
        status, body = http_response(outcome.answer) if outcome.ok else (0, None)
        answers[{202: "started", 409: "in_flight"}.get(status, "duplicate" if status == 200 else f"http_{status}")] += 1
    commits = {events.commit_of(d): d for d in ids}
    executions: dict[str, set[str]] = defaultdict(set)
    starts = world.control("GET", f"codepipeline/starts?pipeline={PIPELINE}")
    for start in starts.get("starts", starts) if isinstance(starts, dict) else starts:
        variables = {v["name"]: v["value"] for v in start.get("variables") or []}
        if variables.get("COMMIT_ID") in commits:
            executions[variables["COMMIT_ID"]].add(start["execution_id"])
    twice = sum(1 for c in commits if len(executions[c]) > 1)
    never = sum(1 for c in commits if not executions[c])
    return {
        "deliveries": deliveries,
        "redeliveries": len(sent) - deliveries,
        "instances": instances,
        "wall_seconds": round(run.wall_seconds, 2),
        "answers": dict(answers),
        "started_twice": twice,
        "never_started": never,
        "holds": twice == 0 and never == 0 and answers["started"] == deliveries,
        "vm_hwm_kb_max": max(run.peak_kb),
        "timings": _timings(run),
    }
