"""CodePipeline's part of the story, played by the demo.

The emulator keeps pipelines, executions, approvals and jobs, but runs nothing: an execution
stays `InProgress` until told otherwise. So the demo does what CodePipeline would do as an
execution moves through its stages: it emits the EventBridge events (`CodePipeline … State
Change`) and delivers each to the functions whose EventBridge rule matches it (the rules of
template.yaml), records the action executions CodePipeline would list, makes the approval wait
with its token, creates the traffic shifter's job (and follows its continuations), and marks the
execution's final status. Every line it prints starts with `◆ CodePipeline (demo)`, so the
transcript keeps what the demo plays apart from what Gantry's functions do.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Callable, Optional

from lambda_events import ACTION_EXECUTION, PIPELINE_EXECUTION, STAGE_EXECUTION, codepipeline_request
from slack_view import SlackView
from transcript import short
from world import CHANNEL, PIPELINE, StoryError, World, expect

# template.yaml's EventBridge rules: which function gets which CodePipeline event.
RULES: dict[str, Callable[[dict[str, Any]], bool]] = {
    "notifier": lambda event: True,  # all three detail types of the pipeline
    "approval": lambda event: (event["detail-type"] == ACTION_EXECUTION
                               and event["detail"].get("type", {}).get("category") == "Approval"),
}


@dataclass(frozen=True)
class DeclaredAction:
    """A stage's action as the pipeline declares it (the demo's pipeline has one per stage)."""

    stage: str
    name: str
    category: str
    provider: str
    configuration: dict[str, str]

    @property
    def type(self) -> dict[str, str]:
        return {"owner": "AWS", "category": self.category, "provider": self.provider}


def declared_actions(world: World) -> dict[str, DeclaredAction]:
    """Stage name → its action, read back with GetPipeline (CodePipeline works from the declaration)."""
    pipeline = world.client("codepipeline").get_pipeline(name=PIPELINE)["pipeline"]
    actions = {}
    for stage in pipeline["stages"]:
        a = stage["actions"][0]
        kind = a["actionTypeId"]
        actions[stage["name"]] = DeclaredAction(stage["name"], a["name"], kind["category"], kind["provider"],
                                                a.get("configuration", {}))
    return actions


def resolve_variables(text: str, variables: dict[str, str]) -> str:
    """`#{Namespace.NAME}` references resolved, as CodePipeline does before it runs an action."""
    return re.sub(r"#\{([A-Za-z0-9_]+\.[A-Za-z0-9_@\-.]+)\}", lambda m: variables.get(m.group(1), m.group(0)), text)


class PlayedExecution:
    """One pipeline execution, moved along by the demo as CodePipeline would move it.

    After each delivery it prints what changed in Slack (`SlackView`). `quiet` keeps the
    transcript short (the second push): a stage is one line, and a Slack edit is shown only when
    the message's headline changes.
    """

    def __init__(self, world: World, execution_id: str, commit: str, view: SlackView, quiet: bool = False) -> None:
        self.world = world
        self.id = execution_id
        self.commit = commit
        self.view = view
        self.quiet = quiet
        self.actions = declared_actions(world)
        # Output variables of the actions that ran (namespace.NAME), for later actions' configuration,
        # and CodePipeline's own (the execution's id).
        self.variables: dict[str, str] = {"codepipeline.PipelineExecutionId": execution_id}

    # -- events -------------------------------------------------------------------------------

    def emit(self, what: str, *events: dict[str, Any]) -> None:
        """Delivers events as EventBridge would (to every function whose rule matches), prints
        one line for them, then what changed in Slack."""
        targets = sorted({name for event in events for name, rule in RULES.items() if rule(event)})
        self.world.transcript.played(f"{what}  → {', '.join(targets)}")
        for event in events:
            for name, rule in RULES.items():
                if rule(event):
                    self.world.invoke(name, event)
        self.show_slack()

    def show_slack(self) -> None:
        """Prints what changed in the channel since last time."""
        t = self.world.transcript
        messages = self.world.slack("GET", f"messages?channel={CHANNEL}")["messages"]
        for change, message, lines in self.view.news(messages):
            if self.quiet and change == "edited" and self.view.lines[message["ts"]][0] not in lines:
                continue  # briefly: an edit counts when the headline changes (running → failed)
            where = "in the thread" if message.get("thread_ts") else f"#{message['channel']}"
            heading = {"posted": f"new message in {where}", "reply": "reply in the thread",
                       "edited": f"message edited ({message.get('versions', 1)} versions)"}[change]
            t.slack(heading)
            for line in lines:
                t.quote(line)

    def event(self, detail_type: str, state: str, stage: Optional[str] = None, action: bool = False,
              result: Optional[dict[str, str]] = None) -> dict[str, Any]:
        declared = self.actions[stage] if stage else None
        return self.world.event("codepipeline", **codepipeline_request(
            detail_type, pipeline=PIPELINE, execution_id=self.id, state=state, stage=stage,
            action=declared.name if action and declared else None,
            action_type=declared.type if action and declared else None, execution_result=result))

    def record_action(self, stage: str, status: str, **details: Any) -> None:
        """What ListActionExecutions / GetPipelineState will show for the stage's action."""
        declared = self.actions[stage]
        self.world.control("POST", "codepipeline/action-executions", {
            "pipeline": PIPELINE, "execution_id": self.id, "stage": stage, "action": declared.name,
            "status": status, **{k: v for k, v in details.items() if v is not None}})

    # -- the execution's life -----------------------------------------------------------------

    def start(self) -> None:
        self.emit("execution STARTED", self.event(PIPELINE_EXECUTION, "STARTED"))

    def stage_started(self, stage: str, note: str = "") -> None:
        self.record_action(stage, "InProgress")
        self.emit(f"stage {stage} STARTED{note}", self.event(STAGE_EXECUTION, "STARTED", stage),
                  self.event(ACTION_EXECUTION, "STARTED", stage, action=True))

    def stage_succeeded(self, stage: str, summary: Optional[str] = None, url: Optional[str] = None,
                        note: str = "") -> None:
        self.record_action(stage, "Succeeded", summary=summary, external_execution_url=url)
        self.emit(f"stage {stage} SUCCEEDED{note}",
                  self.event(ACTION_EXECUTION, "SUCCEEDED", stage, action=True,
                             result={"external-execution-summary": summary} if summary else None),
                  self.event(STAGE_EXECUTION, "SUCCEEDED", stage))

    def stage_failed(self, stage: str, summary: str) -> None:
        self.record_action(stage, "Failed", summary=summary)
        self.emit(f"stage {stage} FAILED: {summary}",
                  self.event(ACTION_EXECUTION, "FAILED", stage, action=True,
                             result={"external-execution-summary": summary, "error-code": "JobFailed"}),
                  self.event(STAGE_EXECUTION, "FAILED", stage))

    def run_stage(self, stage: str) -> None:
        """A stage that simply works (Source, Build, DeployDev), with what it would report."""
        if self.quiet:
            self.record_action(stage, "Succeeded")
            self.emit(f"stage {stage} STARTED, then SUCCEEDED", self.event(STAGE_EXECUTION, "STARTED", stage),
                      self.event(ACTION_EXECUTION, "STARTED", stage, action=True),
                      self.event(ACTION_EXECUTION, "SUCCEEDED", stage, action=True),
                      self.event(STAGE_EXECUTION, "SUCCEEDED", stage))
            if self.actions[stage].category == "Build":
                self.variables["BuildVariables.IMAGE_TAG"] = self.commit[:7]
            return
        declared = self.actions[stage]
        if declared.category == "Source":
            self.stage_started(stage, f" (revision {short(self.commit, 8)} pinned by the webhook)")
            repository = declared.configuration.get("FullRepositoryId", "")
            self.stage_succeeded(stage, summary=f"Revision {self.commit}",
                                 url=f"https://github.com/{repository}/commit/{self.commit}")
        elif declared.category == "Build":
            self.stage_started(stage, f" (CodeBuild {declared.configuration.get('ProjectName', '')})")
            tag = self.commit[:7]
            self.variables["BuildVariables.IMAGE_TAG"] = tag
            self.stage_succeeded(stage, summary=f"Built image shop:{tag}",
                                 url="https://console.aws.amazon.com/codesuite/codebuild/projects/shop-build",
                                 note=f" (output variable BuildVariables.IMAGE_TAG = {tag})")
        else:
            self.stage_started(stage)
            self.stage_succeeded(stage)

    def status(self) -> str:
        """The execution's status as CodePipeline's API reports it (GetPipelineExecution)."""
        return self.world.client("codepipeline").get_pipeline_execution(
            pipelineName=PIPELINE, pipelineExecutionId=self.id)["pipelineExecution"]["status"]

    def finish(self, status: str) -> None:
        """The execution ends: its status in CodePipeline, then the event."""
        self.world.control("POST", f"codepipeline/executions/{PIPELINE}/{self.id}", {"status": status})
        state = {"Succeeded": "SUCCEEDED", "Failed": "FAILED"}[status]
        self.emit(f"execution {state}", self.event(PIPELINE_EXECUTION, state))

    # -- the manual approval ------------------------------------------------------------------

    def approval_waits(self, stage: str) -> dict[str, Any]:
        """The approval action starts: CodePipeline issues its token, then emits the events."""
        declared = self.actions[stage]
        record = self.world.control("POST", "codepipeline/approvals", {
            "pipeline": PIPELINE, "stage": stage, "action": declared.name, "execution_id": self.id,
            "custom_data": declared.configuration.get("CustomData"), "expires_in_seconds": 7 * 24 * 3600})
        self.emit(f"stage {stage} STARTED: approval {declared.name} waits (token {short(record['token'], 8)})",
                  self.event(STAGE_EXECUTION, "STARTED", stage),
                  self.event(ACTION_EXECUTION, "STARTED", stage, action=True))
        return record

    def approval(self, stage: str) -> dict[str, Any]:
        """The approval's record in CodePipeline (status, summary)."""
        declared = self.actions[stage]
        records = self.world.control("GET", f"codepipeline/approvals?pipeline={PIPELINE}")
        records = records.get("approvals", records) if isinstance(records, dict) else records
        mine = [r for r in records if r["execution_id"] == self.id and r["stage"] == stage
                and r["action"] == declared.name]
        expect(mine, f"CodePipeline has no approval for {stage} in {self.id}")
        return mine[-1]

    # -- the traffic shifter's job ------------------------------------------------------------

    def create_job(self, stage: str) -> dict[str, Any]:
        """The Lambda invoke action's job, with its UserParameters resolved as CodePipeline would."""
        declared = self.actions[stage]
        parameters = resolve_variables(declared.configuration["UserParameters"], self.variables)
        return self.world.control("POST", "codepipeline/jobs", {
            "pipeline": PIPELINE, "stage": stage, "action": declared.name, "execution_id": self.id,
            "function_name": declared.configuration.get("FunctionName"), "user_parameters": parameters})


def run_job(world: World, first: dict[str, Any], on_invoke: Callable[[int], None] = lambda n: None,
            timeout: float = 300) -> dict[str, Any]:
    """Invokes the traffic shifter with the job's event and every continuation CodePipeline makes
    of it, as CodePipeline does, until the job ends. Returns the last job's view."""
    event, job_id = first["event"], first["job_id"]
    for invocation in range(1, 100):
        on_invoke(invocation)
        world.invoke("traffic-shifter", event, timeout=timeout)
        view = world.control("GET", f"codepipeline/jobs/{job_id}")
        if view["status"] == "Continued" and view.get("next_job"):
            world.transcript.played("job continued (continuation token): invoking traffic-shifter again")
            event, job_id = view["next_job"]["event"], view["next_job"]["job_id"]
            continue
        expect(view["status"] != "InProgress", f"traffic-shifter left job {job_id} without a result")
        return view
    raise StoryError("the deployment did not end in 100 invocations")


def job_message(view: dict[str, Any]) -> str:
    """The job's result as CodePipeline shows it: the failure message or the success summary."""
    accepted = [r for r in view.get("results", []) if r.get("error") is None]
    body = accepted[-1]["body"] if accepted else {}
    return (body.get("failureDetails", {}).get("message")
            or body.get("executionDetails", {}).get("summary") or "")


def resolved_parameters(job: dict[str, Any]) -> dict[str, Any]:
    """The UserParameters the job carries."""
    data = job["event"]["CodePipeline.job"]["data"]
    return json.loads(data["actionConfiguration"]["configuration"]["UserParameters"])
