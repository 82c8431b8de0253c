"""Chapter 1: a developer pushes; GitHub's signed webhook reaches `webhook`, which starts the
pipeline pinned to the commit. A redelivery starts nothing; a forged push is refused."""

from __future__ import annotations

import json
import os
import uuid
from typing import Any

from lambda_events import DEMO_GITHUB_SECRET, as_ordinary_push, github_push_event
from transcript import short
from world import PIPELINE, ROOT, World, expect

from . import chapter

FIXTURE = os.path.join(ROOT, "tests", "fixtures", "github", "push-with-new-branch.json")
PARENT_COMMIT = "a10867b14bb761a232cd80139fbd4c0d33264240"


def demo_push(message: str, modified: list[str]) -> dict[str, Any]:
    """GitHub's real push payload (Codertocat/Hello-World, master), as an ordinary one-commit push."""
    with open(FIXTURE) as f:
        return as_ordinary_push(json.load(f), before=PARENT_COMMIT, message=message, modified=modified)


def next_push(previous: dict[str, Any], commit: str, message: str, modified: list[str]) -> dict[str, Any]:
    """The push after `previous`: one more commit on the same branch."""
    push = json.loads(json.dumps(previous))
    before = previous["after"]
    push.update({"before": before, "after": commit,
                 "compare": f"{push['repository']['html_url']}/compare/{before[:12]}...{commit[:12]}"})
    push["head_commit"].update({"id": commit, "tree_id": commit[::-1], "message": message, "modified": modified,
                                "url": f"{push['repository']['html_url']}/commit/{commit}"})
    push["commits"] = [push["head_commit"]]
    return push


def push_starts_execution(world: World, push: dict[str, Any]) -> dict[str, Any]:
    """GitHub delivers `push` to the webhook, which starts the pipeline; returns the execution."""
    t = world.transcript
    t.say(f"{push['pusher']['name']} pushes \"{push['head_commit']['message']}\" "
          f"({short(push['after'])}, {', '.join(push['head_commit']['modified'])})")
    t.send("GitHub", "POSTs the push webhook, signed")
    status, answer = world.call_http("webhook", github_push_event(push, DEMO_GITHUB_SECRET, str(uuid.uuid4())))
    t.answer("webhook", status, answer)
    expect(status == 202 and len(answer.get("started") or []) == 1, f"the push started nothing: {answer}")
    execution_id = answer["started"][0]["execution_id"]
    return {"pipeline": PIPELINE, "execution_id": execution_id, "commit": push["after"],
            "message": push["head_commit"]["message"], "author": push["pusher"]["name"], "push": push}


def executions(world: World) -> list[dict[str, Any]]:
    return world.client("codepipeline").list_pipeline_executions(pipelineName=PIPELINE)["pipelineExecutionSummaries"]


def show_execution(world: World, execution_id: str) -> dict[str, Any]:
    """Reads the execution back through CodePipeline's API and prints what a user would look at."""
    t = world.transcript
    execution = world.client("codepipeline").get_pipeline_execution(
        pipelineName=PIPELINE, pipelineExecutionId=execution_id)["pipelineExecution"]
    t.note(f"CodePipeline: {PIPELINE} execution {execution_id} is {execution['status']}")
    for revision in execution.get("artifactRevisions", []):
        t.detail("source revision", f"{revision['name']} @ {revision['revisionId']}")
    variables = {v["name"]: v["resolvedValue"] for v in execution.get("variables", [])}
    if variables:
        t.note("pipeline variables (#{variables.NAME} in the pipeline's actions):")
    for name, value in variables.items():
        t.detail(name, value)
    trigger = execution.get("trigger", {})
    if trigger:
        t.detail("trigger", f"{trigger.get('triggerType')} {trigger.get('triggerDetail', '')}".strip())
    return {"status": execution["status"], "variables": variables,
            "revisions": {r["name"]: r["revisionId"] for r in execution.get("artifactRevisions", [])}}


@chapter("A push starts the pipeline", needs=["webhook"])
def chapter_push(world: World) -> None:
    t = world.transcript
    world.function("webhook")

    push = demo_push("Make the cart total include tax", ["src/cart.rs", "src/cart_test.rs"])
    commit, branch = push["after"], push["ref"].removeprefix("refs/heads/")
    delivery = str(uuid.uuid4())
    event = github_push_event(push, DEMO_GITHUB_SECRET, delivery)
    headers = event["headers"]
    t.say(f"{push['pusher']['name']} pushes \"{push['head_commit']['message']}\" "
          f"to {push['repository']['full_name']}@{branch} ({short(commit)})")
    t.send("GitHub", "POSTs the push webhook to the webhook's Function URL")
    t.request(f"x-github-event: push   x-github-delivery: {delivery}")
    t.request(f"x-hub-signature-256: {short(headers['x-hub-signature-256'], 24)}  "
              f"(HMAC-SHA256 of the body, demo secret)")
    t.request(f"body: {headers['content-length']} bytes of JSON, base64 in the Function URL event "
              "(events/webhook-github-push.json is the same request)")

    status, answer = world.call_http("webhook", event)
    t.answer("webhook", status, answer)
    expect(status == 202, f"the webhook answered {status}, expected 202 (started)")
    started = answer.get("started") or []
    expect(len(started) == 1 and started[0].get("pipeline") == PIPELINE,
           f"expected one execution of {PIPELINE}, got {answer}")
    execution_id = started[0]["execution_id"]

    execution = show_execution(world, execution_id)
    expect(execution["status"] == "InProgress", f"the execution is {execution['status']}, expected InProgress")
    expect(execution["revisions"].get("Source") == commit, f"the execution is not pinned to {commit}")
    expect(execution["variables"].get("COMMIT_ID") == commit, "COMMIT_ID is not the pushed commit")
    t.ok(f"the execution is in progress, pinned to {short(commit)}, with the push's variables")
    world.facts["execution"] = {"pipeline": PIPELINE, "execution_id": execution_id, "commit": commit,
                                "message": push["head_commit"]["message"], "author": push["pusher"]["name"],
                                "push": push}
    world.facts.setdefault("executions", []).append(world.facts["execution"])

    t.send("GitHub", "redelivers the same push (same X-GitHub-Delivery), as it does after a timeout")
    status, answer = world.call_http("webhook", event)
    t.answer("webhook", status, answer)
    expect(answer.get("duplicate") is True, f"the redelivery was not recognised: {answer}")
    count = len(executions(world))
    expect(count == 1, f"the redelivery started something: {count} executions")
    t.ok(f"duplicate: true, and {PIPELINE} still has one execution: nothing started twice")

    forged = github_push_event(push, "a-guessed-secret", str(uuid.uuid4()))
    t.send("Someone", "POSTs the same push signed with a guessed secret")
    status, answer = world.call_http("webhook", forged)
    t.answer("webhook", status, answer)
    expect(status == 401, f"a forged push got {status}, expected 401")
    expect(len(executions(world)) == 1, "a forged push started an execution")
    t.ok("refused: nothing started")
