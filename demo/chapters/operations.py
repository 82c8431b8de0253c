"""Day-2 operations from Slack (docs/operations.md): `/gantry status`, then a confirmed rollback of
production to the release before, then a restart of production's live side, each as Slack sends
and shows it. The slash commands go through the Slack stand-in (`/_sink/slash`: a signed form
body, the 3-second answer checked) to the approval function behind a local stand-in for its
Function URL; the slower work runs where Lambda would run it, in the function's asynchronous
invocations of itself, which the emulator records and the demo hands back to the function."""

from __future__ import annotations

import http.server
import json
import threading
import time
from typing import Any, Optional

from codepipeline import PlayedExecution
from lambda_events import DEMO_SLACK_SIGNING_SECRET, function_url_event
from render_slack import plain
from slack_view import SlackView, find_button, thread_of
from world import APPROVAL_FUNCTION, CHANNEL, DEVELOPER, PIPELINE, RELEASE_LEAD, World, expect

from . import chapter
from .again import push_up_to_prod
from .approval import click
from .canary import STAGE, deploy, listener_weights, show_services
from .notifications import execution_record

CONFIRM = "gantry.operate.confirm"
RELEASE_COMMIT = "c0ffee5a1b2c3d4e5f60718293a4b5c6d7e8f901"


class FunctionUrl:
    """The approval function's Function URL, locally: an HTTP request in, a Function URL event
    to the function, its HTTP answer out (what Slack's servers talk to)."""

    def __init__(self, world: World) -> None:
        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                event = function_url_event(dict(self.headers.items()), body, url_id="gantrydemoapproval000000000000")
                status, answer = 502, b""
                try:
                    payload = world.invoke("approval", event)
                    status = int(payload.get("statusCode", 200))
                    answer = (payload.get("body") or "").encode()
                finally:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(answer)))
                    self.end_headers()
                    self.wfile.write(answer)

            def log_message(self, *_args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def __enter__(self) -> "FunctionUrl":
        return self

    def __exit__(self, *_exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()


def slash(world: World, url: FunctionUrl, user: dict[str, str], text: str) -> str:
    """`user` types `/gantry text`: Slack signs it and POSTs it to the function; returns the
    private answer, which Slack must have received within its 3 seconds."""
    t = world.transcript
    t.send("Slack", f"{user['name']} types `/gantry {text}`: a signed form POSTed to the approval function's URL")
    result = world.slack("POST", "slash", {"url": url.url, "signing_secret": DEMO_SLACK_SIGNING_SECRET,
                                           "user_id": user["id"], "user_name": user["name"],
                                           "channel_id": CHANNEL, "text": text})
    expect(result["ok"], f"Slack would show {user['name']} an error for `/gantry {text}`: {result['problems']}")
    answer = result["answer"] if isinstance(result["answer"], dict) else {}
    expect(answer.get("response_type") == "ephemeral", f"the answer to `/gantry {text}` is not private: {answer}")
    told = answer.get("text", "")
    t.ok(f"answered in {result['elapsed_ms']} ms (Slack's limit: 3000), privately:")
    for line in plain(told).splitlines():
        t.quote(line)
    # For the report: what only the user sees (an ephemeral answer is in no channel's history).
    world.facts.setdefault("operations", []).append(
        (f"/gantry {text}: the answer only {user['name']} sees", [{"ts": f"{time.time():.6f}", "channel": CHANNEL,
                                                                   "text": told}]))
    return told


def run_deferred(world: World) -> int:
    """Lambda delivers the function's asynchronous invocations of itself that it has not yet
    delivered (recorded by the emulator); returns how many ran."""
    listed = world.control("GET", f"lambda/invocations?function={APPROVAL_FUNCTION}")
    invocations = listed if isinstance(listed, list) else listed.get("invocations", [])
    done = world.facts.setdefault("deferred", 0)
    for invocation in invocations[done:]:
        expect(invocation["invocation_type"] == "Event", f"a self-invocation was not asynchronous: {invocation}")
        world.transcript.send("Lambda", "delivers the approval function's asynchronous invocation of itself")
        world.invoke("approval", invocation["payload"])
    world.facts["deferred"] = len(invocations)
    return len(invocations) - done


def channel(world: World) -> list[dict[str, Any]]:
    return world.slack("GET", f"messages?channel={CHANNEL}")["messages"]


def text_of(message: dict[str, Any]) -> str:
    return message.get("text", "") + json.dumps(message.get("blocks") or [])


def proposal(world: World, since: set[str], title: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The proposal just posted on a message of its own, and its Confirm button (kept, under
    `title`, for the report)."""
    fresh = [m for m in channel(world) if m["ts"] not in since and not m.get("thread_ts")]
    found = find_button(fresh, CONFIRM)
    expect(found, "no proposal with a Confirm button was posted in the channel")
    message, button = found  # type: ignore[misc]
    world.transcript.slack(f"new message in #{CHANNEL}:")
    for line in plain(message.get("text", "")).splitlines():
        world.transcript.quote(line)
    world.facts.setdefault("operations", []).append((title, message["ts"]))
    return message, button


def reply(world: World, parent: dict[str, Any], containing: str) -> Optional[dict[str, Any]]:
    """The newest reply on `parent`'s thread whose text contains `containing`."""
    replies = [m for m in thread_of(channel(world), parent["ts"]) if m["ts"] != parent["ts"]]
    return next((m for m in reversed(replies) if containing in text_of(m)), None)


def succeeded_in_prod(world: World) -> list[str]:
    """The executions that succeeded in DeployProd, newest first, as CodePipeline lists them."""
    summaries = world.client("codepipeline").list_pipeline_executions(
        pipelineName=PIPELINE, filter={"succeededInStage": {"stageName": STAGE}})["pipelineExecutionSummaries"]
    return [s["pipelineExecutionId"] for s in summaries]


def confirm(world: World, who: dict[str, str], message: dict[str, Any], button: dict[str, Any]) -> Optional[str]:
    status, told = click(world, who, message, button, quiet=True)
    expect(status == 200, f"{who['name']}'s Confirm got {status}")
    return told


@chapter("Day-2 operations from Slack: /gantry status, rollback, restart",
         needs=["webhook", "notifier", "approval", "traffic-shifter"], follows=("canary",))
def chapter_operations(world: World) -> None:
    t = world.transcript
    world.function("approval")
    # Prod needs a release before the live one to roll back to: a good push goes out first.
    before = succeeded_in_prod(world)
    expect(before, "no execution ever succeeded in DeployProd: nothing to roll back to")
    t.say("a good release goes out first, so that production has one before it (told briefly)")
    played, _thread = push_up_to_prod(world, RELEASE_COMMIT, "Show the delivery date in the cart", ["src/cart.rs"])
    run = deploy(world, played, "A good release before the rollback")
    expect(run.status == "Succeeded", f"the release did not succeed: {run.message}")
    played.stage_succeeded(STAGE, summary=run.message)
    played.finish("Succeeded")
    releases = succeeded_in_prod(world)
    expect(releases[:2] == [played.id, before[0]],
           f"CodePipeline's releases in {STAGE} are not the new one then the one before: {releases}")
    live, target = releases[0], releases[1]
    t.ok(f"{STAGE} runs {RELEASE_COMMIT[:7]} (execution {live[:8]}); the release before is execution {target[:8]}")

    with FunctionUrl(world) as url:
        # status: read from what the notifier recorded, never from CodePipeline.
        told = slash(world, url, DEVELOPER, f"status {PIPELINE}")
        expect(f"{STAGE}: live `{RELEASE_COMMIT[:7]}`" in told,
               f"`/gantry status` does not show {RELEASE_COMMIT[:7]} live in {STAGE}: {told}")
        t.ok(f"status shows {RELEASE_COMMIT[:7]} live in {STAGE}, as CodePipeline has it")

        # rollback: proposed, confirmed by a second operator, RollbackStage.
        seen = {m["ts"] for m in channel(world)}
        told = slash(world, url, DEVELOPER, f"rollback {PIPELINE} {STAGE}")
        expect("Looking up the last good execution" in told, f"the rollback was not taken up: {told}")
        expect(run_deferred(world) == 1, "the rollback's lookup did not run after the answer")
        message, button = proposal(world, seen, f"/gantry rollback {PIPELINE} {STAGE}")
        expect(f"`{target}`" in message.get("text", "") and f"`{RELEASE_COMMIT[:7]}`" in message.get("text", ""),
               f"the proposal does not name the release before ({target}) and the live one: {message.get('text')}")
        t.ok(f"the proposal names execution {target[:8]}, the release before; live now {RELEASE_COMMIT[:7]}")
        t.say(f"{DEVELOPER['name']} asked: under four eyes she cannot confirm her own rollback")
        refused = confirm(world, DEVELOPER, message, button)
        expect(refused and run_deferred(world) == 0, "the requester's own Confirm was not refused")
        t.ok(f"refused, privately: \"{refused}\"")
        t.say(f"{RELEASE_LEAD['name']} confirms")
        confirm(world, RELEASE_LEAD, message, button)
        expect(run_deferred(world) == 1, "the confirmed rollback did not run")
        executions = world.client("codepipeline").list_pipeline_executions(pipelineName=PIPELINE)
        newest = executions["pipelineExecutionSummaries"][0]
        execution = world.client("codepipeline").get_pipeline_execution(
            pipelineName=PIPELINE, pipelineExecutionId=newest["pipelineExecutionId"])["pipelineExecution"]
        expect(execution.get("executionType") == "ROLLBACK"
               and execution.get("rollbackMetadata", {}).get("rollbackTargetPipelineExecutionId") == target,
               f"CodePipeline has no rollback to {target}: {execution}")
        t.ok(f"CodePipeline: execution {execution['pipelineExecutionId'][:8]} of type ROLLBACK, "
             f"target {target[:8]} (RollbackStage)")
        said = reply(world, message, "confirmed")
        expect(said and f"<@{RELEASE_LEAD['id']}> confirmed" in said["text"],
               "the proposal's thread does not say who confirmed the rollback")
        t.slack(f"reply in the proposal's thread: {plain(said['text'])}")  # type: ignore[index]

        # CodePipeline runs the rollback through DeployProd: the traffic shifter deploys the
        # release before again, blue/green, as any deployment.
        view = world.facts.setdefault("slack_view", SlackView())
        rollback = PlayedExecution(world, execution["pipelineExecutionId"], before_commit(world, target), view,
                                   quiet=True)
        rollback.variables["BuildVariables.IMAGE_TAG"] = rollback.commit[:7]
        back = deploy(world, rollback, "The confirmed rollback")
        expect(back.status == "Succeeded", f"the rollback's deployment did not succeed: {back.message}")
        rollback.stage_succeeded(STAGE, summary=back.message)
        rollback.finish("Succeeded")
        ts = execution_record(world, rollback.id).get("ts")
        if ts:
            world.facts["operations"].append((f"The rollback's execution ({rollback.id[:8]})", ts))
        image = show_services(world)
        live_side = "shop-green" if listener_weights(world)[1] > listener_weights(world)[0] else "shop-blue"
        expect(image[live_side]["image"].endswith(f":{rollback.commit[:7]}"),
               f"the live side {live_side} does not run the release before: {image[live_side]['image']}")
        t.ok(f"{live_side} is live on {rollback.commit[:7]} again, the release before")

        # restart: the live side only, confirmed, watched until steady.
        ecs = world.client("ecs")
        idle_side = "shop-blue" if live_side == "shop-green" else "shop-green"

        def deployments(name: str) -> set[str]:
            return {d["id"] for d in ecs.describe_services(cluster=world.cluster, services=[name])["services"][0]
                    ["deployments"]}

        deployments_before, idle_before = deployments(live_side), deployments(idle_side)
        seen = {m["ts"] for m in channel(world)}
        told = slash(world, url, DEVELOPER, f"restart {PIPELINE} {STAGE}")
        expect("Looking up what runs live" in told, f"the restart was not taken up: {told}")
        run_deferred(world)
        message, button = proposal(world, seen, f"/gantry restart {PIPELINE} {STAGE}")
        expect(f"`{live_side}`" in message.get("text", "") and "tasks running" in message.get("text", ""),
               f"the restart does not name {live_side} and its running tasks: {message}")
        t.ok(f"the proposal names {live_side}, the live side, and how many of its tasks run")
        t.say(f"{RELEASE_LEAD['name']} confirms")
        confirm(world, RELEASE_LEAD, message, button)
        run_deferred(world)  # UpdateService, then the watch handed over
        expect(deployments(live_side) - deployments_before, f"ECS has no new deployment of {live_side}")
        expect(deployments(idle_side) == idle_before, f"the idle side {idle_side} was restarted too")
        t.ok(f"ECS: a new deployment of {live_side} (UpdateService, forceNewDeployment); the idle side untouched")
        t.note("the watch looks at ECS every 5 s, in an asynchronous invocation each")
        for _ in range(3):
            run_deferred(world)
            end = reply(world, message, "is done")
            if end:
                break
        expect(end, "the restart's end was not reported on its thread")
        t.slack(f"reply in the proposal's thread: {plain(end['text'])}")  # type: ignore[index]
        t.ok("the restart is reported done, steady, on its proposal's thread")


def before_commit(world: World, execution_id: str) -> str:
    """The commit an execution ran (its source revision, as CodePipeline reports it)."""
    execution = world.client("codepipeline").get_pipeline_execution(
        pipelineName=PIPELINE, pipelineExecutionId=execution_id)["pipelineExecution"]
    revisions = [r.get("revisionId", "") for r in execution.get("artifactRevisions", [])]
    expect(revisions and revisions[0], f"execution {execution_id} has no source revision")
    return revisions[0]
