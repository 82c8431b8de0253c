"""The events the benchmark sends, built from the committed sample events: each call gives a fresh
one (its own delivery id, execution, approval). Signed pushes come from the demo's builder
(`demo/lambda_events.py`); CodePipeline events and Slack requests from the Rust builders the tests
use (`gantry-events`, shared/core/examples/gantry_events.rs), as the demo's do.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import functools
import json
import os
import subprocess
from typing import Any

from lambda_events import (
    ACTION_EXECUTION,
    DEMO_GITHUB_SECRET,
    DEMO_SLACK_SIGNING_SECRET,
    PIPELINE_EXECUTION,
    STAGE_EXECUTION,
    codepipeline_request,
    github_push_event,
)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EVENTS_BUILD = ["cargo", "build", "-q", "-p", "gantry-core", "--features", "testing", "--example", "gantry-events"]


@functools.cache
def _tool() -> str:
    """`gantry-events`, built (debug: it only builds events) apart from the functions, so the
    `testing` feature never reaches their binaries."""
    subprocess.run(EVENTS_BUILD, cwd=ROOT, check=True)
    meta = subprocess.run(["cargo", "metadata", "--format-version", "1", "--no-deps"], cwd=ROOT, check=True,
                          capture_output=True, text=True)
    return os.path.join(json.loads(meta.stdout)["target_directory"], "debug", "examples", "gantry-events")


def built(kind: str, request: dict[str, Any]) -> dict[str, Any]:
    """The event `gantry-events <kind>` builds from `request`."""
    done = subprocess.run([_tool(), kind], input=json.dumps(request), capture_output=True, text=True, timeout=30)
    if done.returncode != 0:
        raise RuntimeError(f"gantry-events {kind}: {done.stderr.strip()}")
    return json.loads(done.stdout)


def codepipeline_event(detail_type: str, **request: Any) -> dict[str, Any]:
    return built("codepipeline", codepipeline_request(detail_type, **request))


def slack_form_event(body: str, secret: str = DEMO_SLACK_SIGNING_SECRET) -> dict[str, Any]:
    """A form Slack posts (a slash command), signed now with `secret`."""
    return built("slack-form", {"body": body, "secret": secret})
# 2026-01-15T09:00:00Z: every execution's events are this plus the same offsets, so executions
# render the same message (except their ids).
T0 = 1_768_467_600


def sample(name: str) -> dict[str, Any]:
    with open(os.path.join(ROOT, "events", name)) as f:
        return json.load(f)


SAMPLE_PUSH: dict[str, Any] = json.loads(base64.b64decode(sample("webhook-github-push.json")["body"]))


def commit_of(delivery_id: str) -> str:
    """A commit id of its own for each delivery, so each start can be traced to its delivery."""
    return hashlib.sha1(delivery_id.encode()).hexdigest()


def push(delivery_id: str) -> dict[str, Any]:
    """The sample push (Codertocat/Hello-World, master), as a new commit, delivered as `delivery_id`."""
    payload = copy.deepcopy(SAMPLE_PUSH)
    commit = commit_of(delivery_id)
    payload["after"] = commit
    payload["head_commit"]["id"] = commit
    payload["commits"] = [payload["head_commit"]]
    return github_push_event(payload, DEMO_GITHUB_SECRET, delivery_id)


def badly_signed_push(delivery_id: str) -> dict[str, Any]:
    """The same push, with a signature made with another secret."""
    event = push(delivery_id)
    event["headers"]["x-hub-signature-256"] = "sha256=" + "0" * 64
    return event


def _step(pipeline: str, execution_id: str, kind: str, state: str, at: int, stage: str | None = None,
          category: str | None = None, result: dict[str, str] | None = None) -> dict[str, Any]:
    detail_type = {"pipeline": PIPELINE_EXECUTION, "stage": STAGE_EXECUTION, "action": ACTION_EXECUTION}[kind]
    action_type = None
    if category is not None:
        action_type = {"category": category, "provider": "CodeBuild" if category == "Build" else category}
    return codepipeline_event(detail_type, pipeline=pipeline, execution_id=execution_id, state=state,
                              stage=stage, action=stage if kind == "action" else None,
                              action_type=action_type, execution_result=result, at=T0 + at)


def successful_run(pipeline: str, execution_id: str) -> list[dict[str, Any]]:
    """Ten events of an execution that succeeds: Source, Build, DeployDev, in order."""
    s = lambda *a, **k: _step(pipeline, execution_id, *a, **k)  # noqa: E731
    return [
        s("pipeline", "STARTED", 0),
        s("stage", "STARTED", 0, "Source"),
        s("stage", "SUCCEEDED", 10, "Source"),
        s("stage", "STARTED", 11, "Build"),
        s("action", "STARTED", 11, "Build", "Build"),
        s("action", "SUCCEEDED", 190, "Build", "Build"),
        s("stage", "SUCCEEDED", 190, "Build"),
        s("stage", "STARTED", 191, "DeployDev"),
        s("stage", "SUCCEEDED", 252, "DeployDev"),
        s("pipeline", "SUCCEEDED", 252),
    ]


def failed_run(pipeline: str, execution_id: str) -> list[dict[str, Any]]:
    """Ten events of an execution whose build fails (the failure is replied in the thread)."""
    s = lambda *a, **k: _step(pipeline, execution_id, *a, **k)  # noqa: E731
    failure = {"external-execution-summary": "Build terminated with state: FAILED",
               "external-execution-url": f"https://console.aws.amazon.com/codebuild/home?region=us-east-1"
                                         f"#/builds/shop-build:{execution_id}/view/new",
               "error-code": "JobFailed"}
    return [
        s("pipeline", "STARTED", 0),
        s("stage", "STARTED", 0, "Source"),
        s("action", "STARTED", 0, "Source", "Source"),
        s("action", "SUCCEEDED", 10, "Source", "Source"),
        s("stage", "SUCCEEDED", 10, "Source"),
        s("stage", "STARTED", 11, "Build"),
        s("action", "STARTED", 11, "Build", "Build"),
        s("action", "FAILED", 95, "Build", "Build", result=failure),
        s("stage", "FAILED", 95, "Build"),
        s("pipeline", "FAILED", 95),
    ]


def approval_started(pipeline: str, execution_id: str, stage: str, action: str) -> dict[str, Any]:
    """CodePipeline's event when a manual approval starts waiting."""
    return codepipeline_event(ACTION_EXECUTION, pipeline=pipeline, execution_id=execution_id, state="STARTED",
                              stage=stage, action=action,
                              action_type={"category": "Approval", "provider": "Manual"})


def approve_click(approval_id: str, user: dict[str, str], channel: str, ts: str, response_url: str) -> dict[str, Any]:
    """`user` clicking Approve on the request, signed with the demo's signing secret."""
    return built("slack-click", {"user_id": user["id"], "username": user["name"],
                                 "action_id": "gantry.approval.approve", "value": approval_id,
                                 "channel": channel, "message_ts": ts, "response_url": response_url,
                                 "secret": DEMO_SLACK_SIGNING_SECRET})
