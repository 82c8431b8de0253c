"""What each function is sent, one fresh event at a time, and what counts as a good answer.

A workload's `next()` gives `(kind, event)`; `check(kind, ok, answer)` says whether the answer is
the one a user expects (a benchmark must not time failures); `observe(answer)` lets a workload
build its next event from the last answer (an approval click needs the posted request).
"""

from __future__ import annotations

import json
import uuid
from typing import Any, Optional

from lambda_events import http_response
from world import PIPELINE, PIPELINE_VARIABLES, RELEASE_LEAD, World, traffic_parameters

import events


def start_execution(world: World, author: str = "Codertocat") -> str:
    """Starts an execution of the demo pipeline as Gantry's webhook would (variables set), pushed by
    GitHub user Codertocat, whom GANTRY_APPROVERS maps to a Slack user (four eyes can be checked)."""
    values = {"COMMIT_ID": events.SAMPLE_PUSH["after"], "BRANCH": "master", "TAG": "-",
              "REPOSITORY": "Codertocat/Hello-World", "AUTHOR": author,
              "COMMIT_MESSAGE": "Make the cart total include tax", "PUSHER": author,
              "COMMIT_AUTHORS": author}
    assert set(values) == set(PIPELINE_VARIABLES)
    return world.client("codepipeline").start_pipeline_execution(
        name=PIPELINE, variables=[{"name": k, "value": v} for k, v in values.items()])["pipelineExecutionId"]


class Workload:
    kinds: tuple[str, ...] = ("event",)

    def next(self) -> tuple[str, Any]:
        raise NotImplementedError

    def check(self, kind: str, ok: bool, answer: Any) -> bool:
        return ok

    def observe(self, answer: Any) -> None:
        pass


class Hello(Workload):
    """The floors answer anything."""

    def next(self) -> tuple[str, Any]:
        return "event", {"hello": "bench"}


class Pushes(Workload):
    """Signed GitHub pushes, each a new delivery of a new commit: the webhook starts the pipeline."""

    kinds = ("push",)

    def next(self) -> tuple[str, Any]:
        return "push", events.push(str(uuid.uuid4()))

    def check(self, kind: str, ok: bool, answer: Any) -> bool:
        status, body = http_response(answer) if ok else (0, None)
        return status == 202 and len((body or {}).get("started", [])) == 1


class BadSignatures(Workload):
    """Pushes signed with another secret: refused before anything is read or called."""

    kinds = ("bad_signature",)

    def next(self) -> tuple[str, Any]:
        return "bad_signature", events.badly_signed_push(str(uuid.uuid4()))

    def check(self, kind: str, ok: bool, answer: Any) -> bool:
        return ok and http_response(answer)[0] == 401


class Executions(Workload):
    """Executions of the demo pipeline, each started in the emulator and then told event by event
    (ten events, in order): the notifier posts, updates and publishes as it would live."""

    kinds = ("execution_event",)

    def __init__(self, world: World) -> None:
        self.world = world
        self.queued: list[dict[str, Any]] = []

    def next(self) -> tuple[str, Any]:
        if not self.queued:
            self.queued = events.successful_run(PIPELINE, start_execution(self.world))
        return "execution_event", self.queued.pop(0)

    def check(self, kind: str, ok: bool, answer: Any) -> bool:
        return ok and isinstance(answer, dict) and "skipped" not in answer


class Approvals(Workload):
    """Rounds of an approval: it starts waiting (the request is posted in Slack), then the release
    lead clicks Approve (`PutApprovalResult`, the message updated)."""

    kinds = ("request", "approve")

    def __init__(self, world: World) -> None:
        self.world = world
        self.posted: Optional[dict[str, Any]] = None

    def next(self) -> tuple[str, Any]:
        if self.posted is None:
            execution_id = start_execution(self.world)
            self.release()
            self.world.control("POST", "codepipeline/approvals", {
                "pipeline": PIPELINE, "stage": "ApproveProd", "action": "Approve", "execution_id": execution_id})
            return "request", events.approval_started(PIPELINE, execution_id, "ApproveProd", "Approve")
        posted, self.posted = self.posted, None
        return "approve", events.approve_click(posted["approval"], RELEASE_LEAD, posted["channel"], posted["ts"],
                                               self.world.response_url("bench-approve"))

    def check(self, kind: str, ok: bool, answer: Any) -> bool:
        if not ok:
            return False
        if kind == "request":
            return isinstance(answer, dict) and answer.get("posted") is True
        status, body = http_response(answer)
        # A decided click answers 200 with no private message (an ephemeral text means refused).
        return status == 200 and not (isinstance(body, dict) and body.get("text"))

    def observe(self, answer: Any) -> None:
        if isinstance(answer, dict) and answer.get("posted") is True:
            self.posted = answer

    def release(self) -> None:
        """Rejects whatever approval still waits at the stage (a click decides each round's, but
        an earlier workload's may wait): the emulator, like CodePipeline, holds one execution at a
        time in the stage (SUPERSEDED mode)."""
        for a in self.world.control("GET", f"codepipeline/approvals?pipeline={PIPELINE}") or []:
            if a.get("stage") == "ApproveProd" and a.get("status") == "InProgress" and not a.get("expired"):
                self.world.client("codepipeline").put_approval_result(
                    pipelineName=PIPELINE, stageName="ApproveProd", actionName=a["action"],
                    result={"summary": "benchmark: next round", "status": "Rejected"}, token=a["token"])


class ApprovalRequests(Approvals):
    """Approvals that start waiting, their requests posted; nobody clicks (each is rejected when
    the next one starts waiting)."""

    kinds = ("request",)

    def observe(self, answer: Any) -> None:
        pass


class RefusedJobs(Workload):
    """Traffic-shifter jobs whose parameters name no strategy, which the pipeline does not declare:
    refused at once as a job CodePipeline does not vouch for (after `GetJobDetails` and
    `GetPipeline`; nothing is moved or reported). A real deployment waits on purpose between its
    steps, so its invocations time the waits, not the function."""

    kinds = ("refused_job",)

    def __init__(self, world: World) -> None:
        self.world = world

    def next(self) -> tuple[str, Any]:
        params = traffic_parameters(self.world)
        params["image"] = params["image"].replace("#{BuildVariables.IMAGE_TAG}", "2.0")
        del params["strategy"]
        job = self.world.control("POST", "codepipeline/jobs", {
            "pipeline": PIPELINE, "stage": "DeployProd", "action": "Deploy",
            "execution_id": start_execution(self.world), "user_parameters": json.dumps(params)})
        return "refused_job", job["event"]

    def check(self, kind: str, ok: bool, answer: Any) -> bool:
        return ok and answer.get("outcome") == "refused" and "parameters" in answer.get("message", "").lower()


class Deployments(Workload):
    """Blue/green deployments of the demo's shop, all at once, one after another (each swaps the
    live side), every continuation invoked as CodePipeline would: the traffic shifter's real
    work, for its memory. Its invocations wait on purpose (checks every second)."""

    kinds = ("deployment_invocation",)

    def __init__(self, world: World) -> None:
        self.world = world
        self.deployed = 0
        self.job_id: Optional[str] = None
        self.following: Optional[dict[str, Any]] = None
        # The shifter checks each job against the pipeline's declaration of its action: declare
        # the benchmark's parameters (all at once, no scale-down wait) as the pipeline's own.
        self.declared = {**traffic_parameters(world), "strategy": {"type": "all_at_once"},
                         "scale_down_after_seconds": 0}
        pipelines = world.client("codepipeline")
        pipeline = pipelines.get_pipeline(name=PIPELINE)["pipeline"]
        for stage in pipeline["stages"]:
            for action in stage["actions"]:
                if (stage["name"], action["name"]) == ("DeployProd", "Deploy"):
                    action["configuration"]["UserParameters"] = json.dumps(self.declared)
        pipelines.update_pipeline(pipeline=pipeline)

    def next(self) -> tuple[str, Any]:
        if self.following is not None:
            event, self.following = self.following, None
            return "deployment_invocation", event
        self.deployed += 1
        execution = start_execution(self.world)
        # What CodePipeline hands the action: the declaration with its variables resolved.
        resolved = json.dumps(self.declared).replace("#{BuildVariables.IMAGE_TAG}", f"2.{self.deployed}") \
            .replace("#{codepipeline.PipelineExecutionId}", execution)
        job = self.world.control("POST", "codepipeline/jobs", {
            "pipeline": PIPELINE, "stage": "DeployProd", "action": "Deploy",
            "execution_id": execution, "user_parameters": resolved})
        self.job_id = job["job_id"]
        return "deployment_invocation", job["event"]

    def check(self, kind: str, ok: bool, answer: Any) -> bool:
        return ok and answer.get("outcome") in ("continued", "succeeded")

    def observe(self, answer: Any) -> None:
        if isinstance(answer, dict) and answer.get("outcome") == "continued" and self.job_id:
            view = self.world.control("GET", f"codepipeline/jobs/{self.job_id}")
            following = view.get("next_job") or {}
            self.job_id = following.get("job_id")
            self.following = following.get("event")
