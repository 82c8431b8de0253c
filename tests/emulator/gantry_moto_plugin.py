"""Gantry's additions to moto's server (moto 5.2.x).

* CodePipeline operations moto lacks (GetPipelineState, PutApprovalResult,
  PutJobSuccessResult, PutJobFailureResult, ListActionExecutions) and a richer
  StartPipelineExecution / GetPipelineExecution / ListPipelineExecutions.
* Wire fixes: moto's CodePipeline module writes ISO-8601 strings for timestamps,
  which the Rust SDK rejects (awsJson1_1 timestamps are epoch seconds).
* As strict as CodePipeline where a laxer emulator would hide bugs: a continuation job is
  delivered a moment after the hand-over, not at once; a job times out when its action's limit
  passes (counted from the action's first job); StopPipelineExecution with `abandon` abandons
  the execution's jobs, whose later results are refused (`InvalidJobStateException`).
* ECS deployments that take time (IN_PROGRESS, then COMPLETED) and can fail (FAILED, tasks that
  do not start, for a service the tests mark), and ELBv2 target health that tests can drive.
* CloudWatch GetMetricData over MetricStat queries computed as CloudWatch does (Sum,
  SampleCount, Average, Minimum, Maximum and percentiles such as p99 or p99.9, per period,
  namespace and exact dimensions), whichever protocol asks (query, JSON 1.0, or CBOR through
  the bridge); PutMetricData refuses the reserved `AWS/` namespaces as AWS does, and
  `/_gantry/cloudwatch/alb-metrics` publishes what a load balancer would (for the canary judge).
* `GantryApp`: a WSGI wrapper serving the `/_gantry/` control API before moto,
  and bridging the Rust CloudWatch SDK's CBOR protocol (see cbor_bridge.py).

Call `install()` once, before the server handles requests.
"""

from __future__ import annotations

import calendar
import datetime
import inspect
import json
import math
import os
import re
import threading
import time
import uuid
from typing import Any

from werkzeug.exceptions import HTTPException
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from moto.codepipeline import models as cp_models
from moto.codepipeline.responses import CodePipelineResponse
from moto.core import DEFAULT_ACCOUNT_ID
from moto.core.exceptions import JsonRESTError
from moto.core.utils import utcnow
from moto.cloudwatch.exceptions import InvalidParameterValue, ValidationError
from moto.cloudwatch.metric_data_expression_parser import parse_expression
from moto.cloudwatch.models import CloudWatchBackend, MetricAggregatedDatum, MetricDatum, cloudwatch_backends
from moto.dynamodb.models import DynamoDBBackend
from moto.ecs.models import EC2ContainerServiceBackend
from moto.elbv2.models import ELBv2Backend, FakeHealthStatus, FakeTargetGroup, elbv2_backends

import cbor_bridge  # sibling module: server.py puts this directory on sys.path
import call_log  # sibling module, as cbor_bridge
import faults  # sibling module, as cbor_bridge
import iam_enforce  # sibling module, as cbor_bridge
import lambda_hooks  # sibling module, as cbor_bridge

DEFAULT_REGION = "us-east-1"
APPROVAL_TTL_SECONDS = 7 * 24 * 3600  # AWS expires manual approvals after 7 days
UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
CLIENT_TOKEN_RE = re.compile(r"^[a-zA-Z0-9-]{1,128}$")
ACTION_STATUSES = {"InProgress", "Abandoned", "Succeeded", "Failed"}
EXECUTION_STATUSES = {
    "Cancelled", "InProgress", "Stopped", "Stopping", "Succeeded", "Superseded", "Failed",
}
FAILURE_TYPES = {
    "JobFailed", "ConfigurationError", "PermissionError",
    "RevisionOutOfSync", "RevisionUnavailable", "SystemUnavailable",
}

# One lock for all plugin state: moto's server is threaded, and a read-check-write
# such as "is this approval still undecided? then decide it" must be atomic.
LOCK = threading.RLock()


def _seconds_from_env(name: str, default: float) -> float:
    return float(os.environ.get(name) or default)


# How strict the emulator is about time, for every test at once (the server's environment sets
# them; a test needing its own passes them when it creates a job, or marks its own service).
DEFAULT_SETTINGS: dict[str, float] = {
    # CodePipeline delivers the job continuing a hand-over some time after PutJobSuccessResult
    # (seconds in AWS); small here so that tests stay fast, but never at once.
    "continuation_delay_seconds": _seconds_from_env("GANTRY_CONTINUATION_DELAY_SECONDS", 0.2),
    # How long an action may run, its continuations included, before CodePipeline times its job
    # out (the product's plan is checked against AWS's limit; see docs/traffic-shifting.md).
    "action_timeout_seconds": _seconds_from_env("GANTRY_ACTION_TIMEOUT_SECONDS", 24 * 3600),
    # How long a new ECS deployment takes to bring its tasks up (IN_PROGRESS meanwhile).
    "ecs_rollout_seconds": _seconds_from_env("GANTRY_ECS_ROLLOUT_SECONDS", 0.5),
}
SETTINGS: dict[str, float] = dict(DEFAULT_SETTINGS)

# DynamoDB applies each write to an item atomically, condition included; moto checks a
# ConditionExpression and then writes, so two threads can both pass `version = :v`. Writes are
# serialized (reads too, so none sees an item half-updated).
DYNAMODB_LOCK = threading.RLock()  # also serializes IAM: moto keeps both in plain dicts
DYNAMODB_ATOMIC = ("put_item", "update_item", "delete_item", "get_item", "transact_write_items")


class AwsError(JsonRESTError):
    """An AWS JSON 1.1 error: HTTP 400 with {"__type": code, "message": ...}."""

    code = 400


def _epoch(dt: Any) -> float:
    # moto keeps naive datetimes in UTC; timegm() treats them as UTC.
    return calendar.timegm(dt.utctimetuple()) + dt.microsecond / 1e6


def _new_id() -> str:
    return str(uuid.uuid4())


# --------------------------------------------------------------------------
# State. It hangs off moto's per-account/region CodePipelineBackend, so moto's
# own reset (/moto-api/reset) wipes it together with the pipelines.
# --------------------------------------------------------------------------


class _State:
    def __init__(self) -> None:
        self.starts: list[dict[str, Any]] = []
        self.tokens: dict[tuple[str, str], str] = {}  # (pipeline, clientRequestToken) -> execution id
        self.approvals: list[dict[str, Any]] = []
        self.jobs: dict[str, dict[str, Any]] = {}
        self.action_executions: list[dict[str, Any]] = []
        # pipeline -> [error code, HTTP status, how many more StartPipelineExecution calls fail]
        self.start_faults: dict[str, list[Any]] = {}
        self.rollbacks: list[dict[str, Any]] = []  # RollbackStage calls that started an execution


def _state(backend: Any) -> _State:
    with LOCK:  # two first requests racing must not each create a _State
        state = backend.__dict__.get("_gantry")
        if state is None:
            state = backend._gantry = _State()
        return state


def _backend(account_id: str | None, region: str | None) -> Any:
    return cp_models.codepipeline_backends[account_id or DEFAULT_ACCOUNT_ID][region or DEFAULT_REGION]


def _pipeline(backend: Any, name: str) -> Any:
    pipeline = backend.pipelines.get(name)
    if pipeline is None:
        raise AwsError(
            "PipelineNotFoundException",
            f"Account '{backend.account_id}' does not have a pipeline with name '{name}'",
        )
    return pipeline


def _find_stage(pipeline: Any, stage_name: str) -> dict[str, Any] | None:
    return next((s for s in pipeline.pipeline["stages"] if s["name"] == stage_name), None)


def _find_action(pipeline: Any, stage_name: str, action_name: str) -> dict[str, Any] | None:
    stage = _find_stage(pipeline, stage_name) or {"actions": []}
    return next((a for a in stage["actions"] if a["name"] == action_name), None)


def _declared_action(backend: Any, pipeline_name: str, stage: str, action: str) -> dict[str, Any]:
    """The action's declaration, or AWS's Stage/ActionNotFoundException."""
    pipeline = _pipeline(backend, pipeline_name)
    if _find_stage(pipeline, stage) is None:
        raise AwsError("StageNotFoundException", f"Stage '{stage}' not found in pipeline '{pipeline_name}'")
    declared = _find_action(pipeline, stage, action)
    if declared is None:
        raise AwsError("ActionNotFoundException", f"Action '{action}' not found in stage '{stage}'")
    return declared


def _validation(message: str) -> AwsError:
    return AwsError("ValidationException", message)


# --------------------------------------------------------------------------
# CodePipeline: pipelines and executions
# --------------------------------------------------------------------------


REVISION_TYPES = ("COMMIT_ID", "IMAGE_DIGEST", "S3_OBJECT_VERSION_ID", "S3_OBJECT_KEY")
VARIABLE_NAME_RE = re.compile(r"^[A-Za-z0-9@\-_]{1,128}$")
EXECUTION_MODES = ("SUPERSEDED", "QUEUED", "PARALLEL")


def _constraint(value: Any, where: str, constraint: str) -> AwsError:
    # AWS's request validation speaks this one format (Coral), for every JSON-protocol service.
    return _validation(f"1 validation error detected: Value '{value}' at '{where}' failed to satisfy "
                       f"constraint: {constraint}")


def execution_mode(pipeline: Any) -> str:
    """The pipeline's declared mode; CodePipeline's default is SUPERSEDED."""
    return pipeline.pipeline.get("executionMode") or "SUPERSEDED"


def _check_source_revisions(pipeline: Any, revisions: Any) -> None:
    if not isinstance(revisions, list) or len(revisions) > 50:
        raise _validation("sourceRevisions must be a list of at most 50 SourceRevisionOverride")
    sources = {a["name"] for s in pipeline.pipeline["stages"] for a in s["actions"]
               if (a.get("actionTypeId") or {}).get("category") == "Source"}
    for i, rev in enumerate(revisions, 1):
        if not isinstance(rev, dict) or not {"actionName", "revisionType", "revisionValue"} <= rev.keys():
            raise _validation("sourceRevisions entries need actionName, revisionType and revisionValue")
        if rev["revisionType"] not in REVISION_TYPES:
            raise _constraint(rev["revisionType"], f"sourceRevisions.{i}.member.revisionType",
                              f"Member must satisfy enum value set: [{', '.join(REVISION_TYPES)}]")
        if not 1 <= len(str(rev["revisionValue"])) <= 1500:
            raise _constraint(rev["revisionValue"], f"sourceRevisions.{i}.member.revisionValue",
                              "Member must have length between 1 and 1500")
        if rev["actionName"] not in sources:
            raise _validation(f"Source revision override is not valid: pipeline '{pipeline.pipeline['name']}' "
                              f"has no source action named '{rev['actionName']}'")


def _resolve_variables(pipeline: Any, given: Any) -> list[dict[str, str]]:
    """The execution's pipeline-level variables: each declared one, given or defaulted. A variable
    the pipeline does not declare, an empty value, or a declared variable without default that is
    not given is a ValidationException, as in CodePipeline."""
    if not isinstance(given, list) or len(given) > 50:
        raise _validation("variables must be a list of at most 50 PipelineVariable")
    declared = {d["name"]: d for d in pipeline.pipeline.get("variables") or []}
    values: dict[str, str] = {}
    for i, var in enumerate(given, 1):
        name, value = (var or {}).get("name"), (var or {}).get("value")
        if not isinstance(name, str) or not VARIABLE_NAME_RE.match(name):
            raise _constraint(name, f"variables.{i}.member.name",
                              "Member must satisfy regular expression pattern: [A-Za-z0-9@\\-_]+")
        if not isinstance(value, str) or not 1 <= len(value) <= 1000:
            raise _constraint(value, f"variables.{i}.member.value", "Member must have length between 1 and 1000")
        if name not in declared:
            raise _validation(f"Variable '{name}' is not declared in pipeline '{pipeline.pipeline['name']}'")
        if name in values:
            raise _validation(f"Variable '{name}' is given more than once")
        values[name] = value
    resolved = []
    for name, declaration in declared.items():
        if name in values:
            resolved.append({"name": name, "value": values[name]})
        elif declaration.get("defaultValue") is not None:
            resolved.append({"name": name, "value": declaration["defaultValue"]})
        else:
            raise _validation(f"Variable '{name}' has no default value in pipeline "
                              f"'{pipeline.pipeline['name']}' and must be given")
    return resolved


def _holds_a_stage(state: _State, pipeline_name: str, execution_id: str) -> bool:
    """Whether the execution is inside a stage (an action of it is running or waiting for
    approval), rather than between stages."""
    if any(a["pipeline"] == pipeline_name and a["execution_id"] == execution_id and a["status"] == "InProgress"
           and time.time() < a["expires_at"] for a in state.approvals):
        return True
    return any(e["pipeline"] == pipeline_name and e["detail"]["pipelineExecutionId"] == execution_id
               and e["detail"]["status"] == "InProgress" for e in state.action_executions)


def _supersede_waiting(backend: Any, pipeline: Any, newer: str) -> list[str]:
    """SUPERSEDED mode: an older execution waiting between stages is overtaken by the newer one
    (CodePipeline marks it Superseded); one inside a stage runs on."""
    state, superseded = _state(backend), []
    for execution_id, execution in pipeline.executions.items():
        if execution_id == newer or execution.status != "InProgress":
            continue
        if not _holds_a_stage(state, pipeline.pipeline["name"], execution_id):
            execution.status = "Superseded"
            execution.status_summary = f"Superseded by execution {newer}"
            execution.last_update_time = utcnow()
            superseded.append(execution_id)
    return superseded


def check_declaration(pipeline: dict[str, Any]) -> None:
    """CreatePipeline/UpdatePipeline: the execution mode and pipeline-level variables are checked
    as CodePipeline checks them (QUEUED, PARALLEL and variables need a V2 pipeline)."""
    mode = pipeline.get("executionMode")
    if mode is not None and mode not in EXECUTION_MODES:
        raise _constraint(mode, "pipeline.executionMode",
                          f"Member must satisfy enum value set: [{', '.join(EXECUTION_MODES)}]")
    v2 = pipeline.get("pipelineType") == "V2"
    if mode in ("QUEUED", "PARALLEL") and not v2:
        raise _validation(f"Execution mode {mode} is only supported for pipelines of type V2")
    names = [v.get("name") for v in pipeline.get("variables") or []]
    if names and not v2:
        raise _validation("Pipeline-level variables are only supported for pipelines of type V2")
    for i, name in enumerate(names, 1):
        if not isinstance(name, str) or not VARIABLE_NAME_RE.match(name):
            raise _constraint(name, f"pipeline.variables.{i}.member.name",
                              "Member must satisfy regular expression pattern: [A-Za-z0-9@\\-_]+")
    if len(set(names)) != len(names):
        raise _validation("Pipeline-level variable names must be unique")


def start_pipeline_execution(backend: Any, body: dict[str, Any]) -> dict[str, Any]:
    name = body.get("name")
    token = body.get("clientRequestToken")
    if token is not None and not CLIENT_TOKEN_RE.match(token):
        raise _validation("clientRequestToken must match ^[a-zA-Z0-9-]+$ (1-128 chars)")
    source_revisions = body.get("sourceRevisions") or []
    given_variables = body.get("variables") or []
    with LOCK:
        fault = _state(backend).start_faults.get(name)
        if fault and fault[2] > 0:  # injected by POST /_gantry/codepipeline/start-faults
            fault[2] -= 1
            error = AwsError(fault[0], "Rate exceeded" if fault[0] == "ThrottlingException"
                             else "Service is unavailable, please retry")
            error.code = fault[1]
            raise error
        pipeline = _pipeline(backend, name)
        _check_source_revisions(pipeline, source_revisions)
        variables = _resolve_variables(pipeline, given_variables)
        state = _state(backend)
        existing = state.tokens.get((name, token)) if token else None
        superseded: list[str] = []
        if existing:  # AWS idempotency: same token, same execution, nothing new starts
            execution_id = existing
        else:
            execution_id = backend.start_pipeline_execution(name, variables)
            execution = pipeline.executions[execution_id]
            # moto marks executions Succeeded at once; tests drive status via /_gantry/.
            execution.status = "InProgress"
            execution.gantry_source_revisions = source_revisions
            execution.gantry_account = backend.account_id
            execution.gantry_mode = execution_mode(pipeline)
            execution.gantry_pipeline_version = pipeline.pipeline.get("version", 1)
            if token:
                state.tokens[(name, token)] = execution_id
            if execution.gantry_mode == "SUPERSEDED":
                superseded = _supersede_waiting(backend, pipeline, execution_id)
        state.starts.append({
            "pipeline": name,
            "clientRequestToken": token,
            "sourceRevisions": source_revisions,
            "variables": given_variables,
            "execution_id": execution_id,
            "duplicate": bool(existing),
            "superseded": superseded,
            "at": time.time(),
        })
    return {"pipelineExecutionId": execution_id}


def _trigger(execution: Any) -> dict[str, str]:
    # AWS puts the caller's ARN in triggerDetail; moto has no caller identity, so the account root.
    account = getattr(execution, "gantry_account", DEFAULT_ACCOUNT_ID)
    return {"triggerType": "StartPipelineExecution", "triggerDetail": f"arn:aws:iam::{account}:root"}


_orig_to_dict = cp_models.PipelineExecution.to_dict
_orig_to_summary_dict = cp_models.PipelineExecution.to_summary_dict


def _source_revisions(execution: Any, name_key: str) -> list[dict[str, str]]:
    return [
        {name_key: r["actionName"], "revisionId": r["revisionValue"]}
        for r in getattr(execution, "gantry_source_revisions", [])
    ]


def _started_how(execution: Any) -> dict[str, Any]:
    """What AWS says of an execution's start and moto does not: in GetPipelineExecution and in
    ListPipelineExecutions alike."""
    return {
        "trigger": _trigger(execution),
        "executionMode": getattr(execution, "gantry_mode", "SUPERSEDED"),
        **({"executionType": "ROLLBACK",
            "rollbackMetadata": {"rollbackTargetPipelineExecutionId": execution.gantry_rollback_of}}
           if getattr(execution, "gantry_rollback_of", None) else {"executionType": "STANDARD"}),
    }


def _execution_to_dict(self: Any) -> dict[str, Any]:
    out = _orig_to_dict(self)
    # Real AWS names the source action's output artifact here; Gantry's
    # tests agreed on the action name, which is what sourceRevisions carry.
    out["artifactRevisions"] = _source_revisions(self, "name")
    out.update(_started_how(self))
    return out


def _execution_to_summary_dict(self: Any) -> dict[str, Any]:
    out = _orig_to_summary_dict(self)
    out["startTime"] = _epoch(self.start_time)
    out["lastUpdateTime"] = _epoch(self.last_update_time)
    out["sourceRevisions"] = _source_revisions(self, "actionName")
    out.update(_started_how(self))
    return out


def _pipeline_metadata(self: Any) -> dict[str, Any]:
    # GetPipeline/ListPipelines: epoch seconds, not moto's ISO strings.
    return {"pipelineArn": self._arn, "created": _epoch(self._created), "updated": _epoch(self._updated)}


def set_execution_status(backend: Any, pipeline_name: str, execution_id: str, status: str,
                         summary: str | None) -> dict[str, Any]:
    if status not in EXECUTION_STATUSES:
        raise _validation(f"status must be one of {sorted(EXECUTION_STATUSES)}")
    with LOCK:
        execution = backend.get_pipeline_execution(pipeline_name, execution_id)
        execution.status = status
        execution.status_summary = summary
        execution.last_update_time = utcnow()
        return execution.to_dict()


def _action_statuses(backend: Any, pipeline_name: str, execution_id: str, stage: str) -> dict[str, str]:
    """Each action's latest status in one execution's run of a stage: approvals (Approved is
    Succeeded, Rejected or expired Failed) and seeded action executions."""
    state, latest = _state(backend), {}
    runs = [(a["created_at"], a["action"], _approval_as_action_execution(a)[2]["status"])
            for a in state.approvals
            if (a["pipeline"], a["execution_id"], a["stage"]) == (pipeline_name, execution_id, stage)]
    runs += [(d["startTime"], d["actionName"], d["status"])
             for d in (e["detail"] for e in state.action_executions if e["pipeline"] == pipeline_name)
             if (d["pipelineExecutionId"], d["stageName"]) == (execution_id, stage)]
    for _, action, status in sorted(runs, key=lambda r: r[0]):
        latest[action] = status
    return latest


def _succeeded_in_stage(backend: Any, pipeline: Any, execution_id: str, execution: Any, stage: str) -> bool:
    """As CodePipeline's `succeededInStage` filter: the execution's run of the stage succeeded,
    that is every action the stage declares succeeded in it (an execution that succeeded as a
    whole ran every stage)."""
    if execution.status == "Succeeded":
        return True
    declared = _find_stage(pipeline, stage)
    if declared is None:
        return False
    statuses = _action_statuses(backend, pipeline.pipeline["name"], execution_id, stage)
    return all(statuses.get(a["name"]) == "Succeeded" for a in declared["actions"])


def list_pipeline_executions(backend: Any, body: dict[str, Any]) -> dict[str, Any]:
    """ListPipelineExecutions, newest first, with `filter.succeededInStage.stageName` and
    `nextToken` paging as CodePipeline documents them."""
    name = body.get("pipelineName")
    stage = ((body.get("filter") or {}).get("succeededInStage") or {}).get("stageName")
    max_results = body.get("maxResults", 100)
    if not isinstance(max_results, int) or not 1 <= max_results <= 100:
        raise _validation("maxResults must be between 1 and 100")
    with LOCK:
        pipeline = _pipeline(backend, name)
        executions = list(reversed(pipeline.executions.items()))
        if stage is not None:
            executions = [(i, e) for i, e in executions
                          if _succeeded_in_stage(backend, pipeline, i, e, stage)]
        start = 0
        if body.get("nextToken"):
            if not str(body["nextToken"]).isdigit():
                raise AwsError("InvalidNextTokenException", "The next token is not valid")
            start = int(body["nextToken"])
        page = executions[start:start + max_results]
        out: dict[str, Any] = {"pipelineExecutionSummaries": [e.to_summary_dict() for _, e in page]}
        if start + max_results < len(executions):
            out["nextToken"] = str(start + max_results)
        return out


def rollback_stage(backend: Any, body: dict[str, Any]) -> dict[str, Any]:
    """RollbackStage as CodePipeline documents it: a new execution of type ROLLBACK, whose
    source revisions and variables are the target's, for a target that succeeded in the stage.
    Refused with UnableToRollbackStageException for a source stage, a target that did not
    succeed in the stage, a target that is itself a rollback, a target started under another
    pipeline structure version, or a PARALLEL pipeline; with ConflictException while an
    execution is running in the stage."""
    name, stage = body.get("pipelineName"), body.get("stageName")
    target = body.get("targetPipelineExecutionId")
    for field, value in (("pipelineName", name), ("stageName", stage)):
        if not isinstance(value, str) or not re.fullmatch(r"[A-Za-z0-9.@\-_]{1,100}", value):
            raise _validation(f"{field} must match [A-Za-z0-9.@\\-_]+ (1-100 chars)")
    if not isinstance(target, str) or not UUID_RE.match(target):
        raise _validation("targetPipelineExecutionId must be a pipeline execution id")
    with LOCK:
        pipeline = _pipeline(backend, name)
        stages = pipeline.pipeline.get("stages") or []
        declared = _find_stage(pipeline, stage)
        if declared is None:
            raise AwsError("StageNotFoundException", f"Stage {stage} not found in pipeline {name}")
        unable = lambda why: AwsError("UnableToRollbackStageException", why)  # noqa: E731
        if stages and stages[0]["name"] == stage:
            raise unable(f"Stage {stage} is a source stage and cannot be rolled back")
        if execution_mode(pipeline) == "PARALLEL":
            raise unable(f"Pipeline {name} runs in PARALLEL mode, where stages cannot be rolled back")
        execution = pipeline.executions.get(target)
        if execution is None:
            raise AwsError("PipelineExecutionNotFoundException",
                           f"Pipeline execution {target} not found in pipeline {name}")
        if getattr(execution, "gantry_rollback_of", None):
            raise unable(f"Execution {target} is a rollback: a rollback cannot be its target")
        if getattr(execution, "gantry_pipeline_version", 1) != pipeline.pipeline.get("version", 1):
            raise unable(f"Execution {target} ran an earlier version of pipeline {name}'s structure")
        if not _succeeded_in_stage(backend, pipeline, target, execution, stage):
            raise unable(f"Execution {target} did not succeed in stage {stage}")
        state = _state(backend)
        running = [i for i, e in pipeline.executions.items() if e.status == "InProgress"
                   and stage in _stages_running(backend, name, i)]
        if running:
            raise AwsError("ConflictException",
                           f"Stage {stage} is running execution {running[0]}; try again when it finishes")
        variables = [{"name": v["name"], "value": v.get("resolvedValue", v.get("value", ""))}
                     for v in (execution.to_dict().get("variables") or [])]
        execution_id = backend.start_pipeline_execution(name, variables)
        new = pipeline.executions[execution_id]
        new.status = "InProgress"
        new.gantry_source_revisions = list(getattr(execution, "gantry_source_revisions", []))
        new.gantry_account = backend.account_id
        new.gantry_mode = execution_mode(pipeline)
        new.gantry_pipeline_version = pipeline.pipeline.get("version", 1)
        new.gantry_rollback_of = target
        state.rollbacks.append({"pipeline": name, "stage": stage, "target": target,
                                "execution_id": execution_id, "at": time.time()})
    return {"pipelineExecutionId": execution_id}


def _stages_running(backend: Any, pipeline_name: str, execution_id: str) -> set[str]:
    """The stages an execution is inside: an approval waiting there, or an action running."""
    state = _state(backend)
    stages = {a["stage"] for a in state.approvals
              if a["pipeline"] == pipeline_name and a["execution_id"] == execution_id
              and a["status"] == "InProgress" and time.time() < a["expires_at"]}
    stages |= {e["detail"]["stageName"] for e in state.action_executions
               if e["pipeline"] == pipeline_name and e["detail"]["pipelineExecutionId"] == execution_id
               and e["detail"]["status"] == "InProgress"}
    return stages


# --------------------------------------------------------------------------
# CodePipeline: manual approvals
# --------------------------------------------------------------------------


def seed_approval(backend: Any, body: dict[str, Any]) -> dict[str, Any]:
    pipeline_name, stage, action = body["pipeline"], body["stage"], body["action"]
    token = body.get("token") or _new_id()
    if not UUID_RE.match(token):  # AWS tokens are UUIDs; PutApprovalResult rejects anything else
        raise _validation("token must be a lowercase UUID")
    with LOCK:
        declared = _declared_action(backend, pipeline_name, stage, action)
        category = declared.get("actionTypeId", {}).get("category")
        if category != "Approval":
            raise _validation(f"action '{action}' is a {category} action, not an Approval")
        pipeline = _pipeline(backend, pipeline_name)
        executions = list(pipeline.executions)
        execution_id = body.get("execution_id") or (executions[-1] if executions else None)
        now = time.time()
        if execution_mode(pipeline) != "PARALLEL":
            # SUPERSEDED and QUEUED: a stage holds one execution at a time, so no other
            # execution can be waiting at this approval.
            holder = next((a for a in _state(backend).approvals
                           if (a["pipeline"], a["stage"], a["action"]) == (pipeline_name, stage, action)
                           and a["execution_id"] != execution_id and a["status"] == "InProgress"
                           and now < a["expires_at"]), None)
            if holder:
                raise AwsError("StageOccupied",
                               f"stage '{stage}' holds execution {holder['execution_id']} "
                               f"({execution_mode(pipeline)} mode runs one execution per stage)")
        record = {
            "pipeline": pipeline_name,
            "stage": stage,
            "action": action,
            "execution_id": execution_id,
            "mode": execution_mode(pipeline),
            "action_execution_id": _new_id(),
            "token": token,
            "created_at": now,
            "expires_at": now + float(body.get("expires_in_seconds", APPROVAL_TTL_SECONDS)),
            "custom_data": body.get("custom_data"),
            "external_entity_link": body.get("external_entity_link"),
            "status": "InProgress",
            "summary": None,
            "decided_at": None,
            "put_calls": 0,
            "put_attempts": 0,
        }
        _state(backend).approvals.append(record)
        return _approval_view(record)


def _approval_view(record: dict[str, Any]) -> dict[str, Any]:
    view = dict(record)
    view["expired"] = record["status"] == "InProgress" and time.time() >= record["expires_at"]
    return view


def list_approvals(backend: Any, pipeline_name: str | None) -> list[dict[str, Any]]:
    with LOCK:
        return [_approval_view(a) for a in _state(backend).approvals
                if pipeline_name in (None, a["pipeline"])]


def put_approval_result(backend: Any, body: dict[str, Any]) -> dict[str, Any]:
    pipeline_name, stage, action = body.get("pipelineName"), body.get("stageName"), body.get("actionName")
    token, result = body.get("token") or "", body.get("result") or {}
    if result.get("status") not in ("Approved", "Rejected"):
        raise _validation("result.status must be Approved or Rejected")
    if "summary" not in result or len(result["summary"]) > 512:
        raise _validation("result.summary is required and at most 512 characters")
    if not UUID_RE.match(token):
        raise _validation("token must be a UUID")
    with LOCK:
        _declared_action(backend, pipeline_name, stage, action)
        waiting = [a for a in _state(backend).approvals
                   if (a["pipeline"], a["stage"], a["action"]) == (pipeline_name, stage, action)]
        # Every call naming an approval's token counts, refused or not: "decided once" is
        # checked by attempts, not only by successes.
        for a in waiting:
            if a["token"] == token:
                a["put_attempts"] += 1
        if execution_mode(_pipeline(backend, pipeline_name)) == "PARALLEL":
            # Each execution waits with its own token (ListActionExecutions' externalExecutionId);
            # one already answered or expired is no longer a valid token.
            current = next((a for a in waiting if a["token"] == token), None)
            if current is None or current["status"] != "InProgress" or time.time() >= current["expires_at"]:
                raise AwsError("InvalidApprovalTokenException",
                               f"The approval token for action '{action}' is not valid: "
                               "it was already answered, has expired, or never existed")
        else:
            # Only the action's latest approval is live; older tokens are superseded.
            current = waiting[-1] if waiting else None
            if current is None or current["token"] != token:
                raise AwsError("InvalidApprovalTokenException",
                               f"The approval token for action '{action}' is not valid")
            if current["status"] != "InProgress":
                raise AwsError("ApprovalAlreadyCompletedException",
                               f"The approval for action '{action}' has already been {current['status'].lower()}")
            if time.time() >= current["expires_at"]:
                raise AwsError("InvalidApprovalTokenException",
                               f"The approval token for action '{action}' has expired")
        now = time.time()
        current.update(status=result["status"], summary=result["summary"], decided_at=now,
                       put_calls=current["put_calls"] + 1)
    return {"approvedAt": now}


def _approval_as_action_execution(record: dict[str, Any]) -> tuple[float, str | None, dict[str, Any]]:
    expired = record["status"] == "InProgress" and time.time() >= record["expires_at"]
    status = {"InProgress": "InProgress", "Approved": "Succeeded", "Rejected": "Failed"}[record["status"]]
    changed = record["decided_at"] or record["created_at"]
    execution: dict[str, Any] = {"actionExecutionId": record["action_execution_id"]}
    if expired:
        status, changed = "Failed", record["expires_at"]
        execution["summary"] = "Approval timed out"
    elif status == "InProgress" and record.get("mode") != "PARALLEL":
        # What a real approver needs to answer; in PARALLEL mode GetPipelineState has no token
        # (PutApprovalResult's documentation: use ListActionExecutions' externalExecutionId).
        execution["token"] = record["token"]
    elif record["summary"]:  # ExecutionSummary must not be empty
        execution["summary"] = record["summary"]
    execution.update(status=status, lastStatusChange=changed)
    if record["external_entity_link"]:
        execution["externalExecutionUrl"] = record["external_entity_link"]
    return changed, record["execution_id"], execution


# --------------------------------------------------------------------------
# CodePipeline: action executions and pipeline state
# --------------------------------------------------------------------------


def seed_action_execution(backend: Any, body: dict[str, Any]) -> dict[str, Any]:
    status = body["status"]
    if status not in ACTION_STATUSES:
        raise _validation(f"status must be one of {sorted(ACTION_STATUSES)}")
    with LOCK:
        name, stage, action = body["pipeline"], body["stage"], body["action"]
        pipeline = _pipeline(backend, name)
        declared = _declared_action(backend, name, stage, action)  # GetPipelineState shows declared actions only
        type_id = dict(declared.get("actionTypeId") or
                       {"category": "Invoke", "owner": "AWS", "provider": "Lambda", "version": "1"})
        for key in ("category", "provider", "owner", "version"):
            if body.get(key):
                type_id[key] = body[key]
        configuration = body.get("configuration", declared.get("configuration", {}))
        entries = _state(backend).action_executions
        previous = next((e for e in entries if e["pipeline"] == name and
                         _action_key(e["detail"]) == (body["execution_id"], stage, action)), None)
        now = time.time()
        result = {k: v for k, v in {
            "externalExecutionId": body.get("external_execution_id"),
            "externalExecutionSummary": body.get("summary"),
            "externalExecutionUrl": body.get("external_execution_url"),
        }.items() if v is not None}
        detail = {
            "pipelineExecutionId": body["execution_id"],
            # A replacement is the same action execution moving on: keep its id and start.
            "actionExecutionId": previous["detail"]["actionExecutionId"] if previous else _new_id(),
            "pipelineVersion": pipeline.pipeline["version"],
            "stageName": stage,
            "actionName": action,
            "startTime": previous["detail"]["startTime"] if previous else now,
            "lastUpdateTime": now,
            "status": status,
            "input": {
                "actionTypeId": type_id,
                "configuration": configuration,
                "resolvedConfiguration": configuration,
                "region": backend.region_name,
                "inputArtifacts": [],
            },
            "output": {"outputArtifacts": [], "executionResult": result},
        }
        if previous:
            previous["detail"] = detail
        else:
            entries.append({"pipeline": name, "detail": detail})
        return detail


def _action_key(detail: dict[str, Any]) -> tuple[str, str, str]:
    return detail["pipelineExecutionId"], detail["stageName"], detail["actionName"]


VARIABLE_RE = re.compile(r"#\{variables\.([A-Za-z0-9@\-_]+)\}")


def _resolve(configuration: dict[str, str], execution: Any) -> dict[str, str]:
    """The configuration as CodePipeline resolves it for one execution: `#{variables.NAME}` is
    the execution's pipeline-level variable (other namespaces are left as written here)."""
    values = {v["name"]: v["value"] for v in getattr(execution, "variables", None) or []}
    return {key: VARIABLE_RE.sub(lambda m: values.get(m.group(1), m.group(0)), value)
            for key, value in configuration.items()}


def _approval_detail(backend: Any, pipeline: Any, record: dict[str, Any]) -> dict[str, Any]:
    """A seeded approval as ListActionExecutions shows it."""
    declared = _declared_action(backend, record["pipeline"], record["stage"], record["action"])
    configuration = dict(declared.get("configuration") or {})
    execution = pipeline.executions.get(record["execution_id"])
    _, _, state = _approval_as_action_execution(record)
    result = {"externalExecutionSummary": state["summary"]} if state.get("summary") else {}
    if record.get("mode") == "PARALLEL":
        result["externalExecutionId"] = record["token"]  # PARALLEL mode's approval token
    return {
        "pipelineExecutionId": record["execution_id"],
        "actionExecutionId": record["action_execution_id"],
        "pipelineVersion": pipeline.pipeline["version"],
        "stageName": record["stage"],
        "actionName": record["action"],
        "startTime": record["created_at"],
        "lastUpdateTime": state["lastStatusChange"],
        "status": state["status"],
        "input": {
            "actionTypeId": dict(declared.get("actionTypeId") or {}),
            "configuration": configuration,
            "resolvedConfiguration": _resolve(configuration, execution) if execution else configuration,
            "region": backend.region_name,
            "inputArtifacts": [],
        },
        "output": {"outputArtifacts": [], "executionResult": result},
    }


def list_action_executions(backend: Any, body: dict[str, Any]) -> dict[str, Any]:
    name = body.get("pipelineName")
    execution_id = (body.get("filter") or {}).get("pipelineExecutionId")
    max_results = body.get("maxResults", 100)
    if not isinstance(max_results, int) or not 1 <= max_results <= 100:
        raise _validation("maxResults must be between 1 and 100")
    with LOCK:
        pipeline = _pipeline(backend, name)
        details = [e["detail"] for e in _state(backend).action_executions if e["pipeline"] == name
                   and execution_id in (None, e["detail"]["pipelineExecutionId"])]
        # An approval is an action execution too (AWS lists it, waiting or decided), unless a
        # test seeded that action execution itself.
        seeded = {_action_key(d) for d in details}
        for record in _state(backend).approvals:
            if record["pipeline"] == name and execution_id in (None, record["execution_id"]):
                detail = _approval_detail(backend, pipeline, record)
                if _action_key(detail) not in seeded:
                    details.append(detail)
        # Seeded entries may name executions moto never started; only an id known
        # to neither is "not found".
        if execution_id and not details and execution_id not in pipeline.executions:
            raise AwsError("PipelineExecutionNotFoundException",
                           f"Pipeline execution '{execution_id}' not found in pipeline '{name}'")
        details.sort(key=lambda d: d["startTime"], reverse=True)  # AWS lists newest first
        start = 0
        if body.get("nextToken"):
            if not body["nextToken"].isdigit():
                raise AwsError("InvalidNextTokenException", "The next token is not valid")
            start = int(body["nextToken"])
        out: dict[str, Any] = {"actionExecutionDetails": details[start:start + max_results]}
        if start + max_results < len(details):
            out["nextToken"] = str(start + max_results)
        return out


def get_pipeline_state(backend: Any, name: str) -> dict[str, Any]:
    with LOCK:
        pipeline = _pipeline(backend, name)
        state = _state(backend)
        stage_states = []
        for stage in pipeline.pipeline["stages"]:
            action_states, latest = [], []
            for action in stage["actions"]:
                candidates = [_approval_as_action_execution(a) for a in state.approvals
                              if (a["pipeline"], a["stage"], a["action"]) == (name, stage["name"], action["name"])]
                candidates += [
                    (d["lastUpdateTime"], d["pipelineExecutionId"], _action_execution_summary(d))
                    for d in (e["detail"] for e in state.action_executions if e["pipeline"] == name)
                    if (d["stageName"], d["actionName"]) == (stage["name"], action["name"])
                ]
                action_state: dict[str, Any] = {"actionName": action["name"]}
                if candidates:
                    changed, execution_id, execution = max(candidates, key=lambda c: c[0])
                    action_state["latestExecution"] = execution
                    latest.append((changed, execution_id, execution["status"]))
                action_states.append(action_state)
            stage_state: dict[str, Any] = {
                "stageName": stage["name"],
                "inboundTransitionState": {"enabled": True},
                "actionStates": action_states,
            }
            stage_execution = _stage_execution(latest)
            if stage_execution:
                stage_state["latestExecution"] = stage_execution
            stage_states.append(stage_state)
        return {
            "pipelineName": name,
            "pipelineVersion": pipeline.pipeline["version"],
            "stageStates": stage_states,
            "created": _epoch(pipeline._created),
            "updated": _epoch(pipeline._updated),
        }


def _action_execution_summary(entry: dict[str, Any]) -> dict[str, Any]:
    result = entry["output"]["executionResult"]
    out = {"actionExecutionId": entry["actionExecutionId"], "status": entry["status"],
           "lastStatusChange": entry["lastUpdateTime"]}
    for src, dst in (("externalExecutionSummary", "summary"), ("externalExecutionId", "externalExecutionId"),
                     ("externalExecutionUrl", "externalExecutionUrl")):
        if src in result:
            out[dst] = result[src]
    return out


def _stage_execution(latest: list[tuple[float, str | None, str]]) -> dict[str, Any] | None:
    """A stage's status is that of its actions in the stage's most recent execution."""
    if not latest:
        return None
    execution_id = max(latest, key=lambda c: c[0])[1]
    if execution_id is None:
        return None  # StageExecution.pipelineExecutionId is required
    statuses = {s for _, e, s in latest if e == execution_id}
    for action_status, stage_status in (("InProgress", "InProgress"), ("Failed", "Failed"),
                                        ("Abandoned", "Stopped")):
        if action_status in statuses:
            return {"pipelineExecutionId": execution_id, "status": stage_status}
    return {"pipelineExecutionId": execution_id, "status": "Succeeded"}


# --------------------------------------------------------------------------
# CodePipeline: jobs of Lambda invoke actions
# --------------------------------------------------------------------------


def create_job(backend: Any, body: dict[str, Any], continuation_token: str | None = None,
               continues: dict[str, Any] | None = None) -> dict[str, Any]:
    """A job of the action `body` names; with `continues` (the job that handed over), the
    continuation CodePipeline delivers a moment later, in the same action run (its time limit
    counts from the action's first job). `body` may set the action's limit
    (`action_timeout_seconds`) and the delay before a continuation (`continuation_delay_seconds`);
    the server's SETTINGS give both otherwise."""
    with LOCK:
        declared: dict[str, Any] = {}
        if body.get("pipeline"):
            declared = _declared_action(backend, body["pipeline"], body.get("stage", ""), body.get("action", ""))
            if not body.get("execution_id"):  # the running execution, fixed for continuation jobs too
                executions = list(_pipeline(backend, body["pipeline"]).executions)
                body = {**body, "execution_id": executions[-1] if executions else _new_id()}
            body.setdefault("action_execution_id", _new_id())
        configuration = declared.get("configuration", {})
        job_id = _new_id()
        data: dict[str, Any] = {
            "actionConfiguration": {"configuration": {
                "FunctionName": body.get("function_name") or configuration.get("FunctionName") or "gantry-function",
            }},
            "inputArtifacts": [_artifact(a) for a in body.get("input_artifacts") or []],
            "outputArtifacts": [_artifact(a) for a in body.get("output_artifacts") or []],
            "artifactCredentials": _artifact_credentials(backend, job_id, body),
        }
        user_parameters = body.get("user_parameters", configuration.get("UserParameters"))
        if user_parameters is not None:
            data["actionConfiguration"]["configuration"]["UserParameters"] = user_parameters
        token = continuation_token or body.get("continuation_token")
        if token:  # AWS only sends the key when the job continues an earlier one
            data["continuationToken"] = token
        job = {
            "job_id": job_id,
            "status": "InProgress",
            "request": dict(body),
            "action_type_id": declared.get("actionTypeId") or
            {"category": "Invoke", "owner": "AWS", "provider": "Lambda", "version": "1"},
            "event": {"CodePipeline.job": {"id": job_id, "accountId": backend.account_id, "data": data}},
            "results": [],
            "next_job_id": None,
            "created_at": time.time(),
        }
        now = job["created_at"]
        delay = float(body.get("continuation_delay_seconds", SETTINGS["continuation_delay_seconds"]))
        job["action_started_at"] = continues["action_started_at"] if continues else now
        job["timeout_at"] = job["action_started_at"] + float(
            body.get("action_timeout_seconds", SETTINGS["action_timeout_seconds"]))
        job["delivered_at"] = now + delay if continues else now
        _state(backend).jobs[job_id] = job
        return {"job_id": job_id, "event": job["event"]}


def _artifact_credentials(backend: Any, job_id: str, body: dict[str, Any]) -> dict[str, str]:
    """Temporary credentials for this job's artifacts, as AWS hands the function: they may read
    the input artifacts' buckets and write the output artifacts' (and nothing else, when the
    emulator enforces IAM)."""
    key = "ASIA" + uuid.uuid4().hex[:16].upper()
    credentials = {"accessKeyId": key, "secretAccessKey": uuid.uuid4().hex + uuid.uuid4().hex[:8],
                   "sessionToken": "gantry-emulator-session-" + uuid.uuid4().hex}
    statements = [{"Effect": "Allow", "Action": ["s3:GetObject", "s3:GetObjectVersion"],
                   "Resource": f"arn:aws:s3:::{a['bucket']}/*"} for a in body.get("input_artifacts") or []]
    statements += [{"Effect": "Allow", "Action": "s3:PutObject",
                    "Resource": f"arn:aws:s3:::{a['bucket']}/*"} for a in body.get("output_artifacts") or []]
    iam_enforce.register_session(
        key, credentials["secretAccessKey"], credentials["sessionToken"],
        f"arn:aws:sts::{backend.account_id}:assumed-role/codepipeline-artifacts/{job_id}",
        [{"Version": "2012-10-17", "Statement": statements}])
    return credentials


def _job_id(body: dict[str, Any]) -> str:
    job_id = body.get("jobId") or ""
    if not UUID_RE.match(job_id):
        raise _validation("jobId must be a UUID")
    return job_id


def _known_job(backend: Any, job_id: str) -> dict[str, Any]:
    """The job, or AWS's error for a job it never issued. Call it holding LOCK."""
    job = _state(backend).jobs.get(job_id)
    if job is None:
        raise AwsError("JobNotFoundException", f"Job '{job_id}' not found")
    _time_out(backend, job)
    return job


def _time_out(backend: Any, job: dict[str, Any]) -> None:
    """A job still in progress when its action's limit passes has timed out (JobStatus
    `TimedOut`): CodePipeline takes no result for it any more, and the action, so the
    execution, fails. Checked whenever the job is looked at. Call it holding LOCK."""
    if job["status"] != "InProgress" or time.time() < job["timeout_at"]:
        return
    job["status"], job["ended_at"] = "TimedOut", job["timeout_at"]
    request = job["request"]
    if not request.get("pipeline"):
        return
    try:
        execution = backend.get_pipeline_execution(request["pipeline"], request["execution_id"])
    except JsonRESTError:
        return
    if execution.status == "InProgress":
        execution.status = "Failed"
        execution.status_summary = f"Action {request.get('action', '')} timed out"
        execution.last_update_time = utcnow()


def _jobs_of_execution(backend: Any, pipeline: str, execution_id: str) -> list[dict[str, Any]]:
    return [j for j in _state(backend).jobs.values()
            if (j["request"].get("pipeline"), j["request"].get("execution_id")) == (pipeline, execution_id)]


def stop_pipeline_execution(backend: Any, body: dict[str, Any]) -> dict[str, Any]:
    """StopPipelineExecution. With `abandon`, the execution's jobs in progress are abandoned at
    once (a later PutJob*Result is refused) and the execution is Stopped; without it, it is
    Stopping until its jobs in progress finish (a job may still hand over and continue)."""
    name, execution_id = body.get("pipelineName") or "", body.get("pipelineExecutionId") or ""
    if not UUID_RE.match(execution_id):
        raise _validation("pipelineExecutionId must be a UUID")
    with LOCK:
        execution = backend.get_pipeline_execution(name, execution_id)
        if execution.status in ("Stopping", "Stopped"):
            raise AwsError("DuplicatedStopRequestException",
                           f"Execution '{execution_id}' is already being stopped")
        if execution.status != "InProgress":
            raise AwsError("PipelineExecutionNotStoppableException",
                           f"Execution '{execution_id}' is {execution.status} and cannot be stopped")
        running = [j for j in _jobs_of_execution(backend, name, execution_id)
                   if (_time_out(backend, j), j["status"])[1] == "InProgress"]
        if body.get("abandon"):
            for job in running:
                job["status"], job["ended_at"] = "Abandoned", time.time()
        execution.status = "Stopping" if running and not body.get("abandon") else "Stopped"
        execution.status_summary = body.get("reason")
        execution.last_update_time = utcnow()
    return {"pipelineExecutionId": execution_id}


def _finish_stopping(backend: Any, job: dict[str, Any]) -> None:
    """An execution stopped without abandoning is Stopped once its last job in progress ends."""
    request = job["request"]
    if not request.get("pipeline"):
        return
    try:
        execution = backend.get_pipeline_execution(request["pipeline"], request["execution_id"])
    except JsonRESTError:
        return
    jobs = _jobs_of_execution(backend, request["pipeline"], request["execution_id"])
    if execution.status == "Stopping" and all(j["status"] != "InProgress" for j in jobs):
        execution.status = "Stopped"
        execution.last_update_time = utcnow()


def get_job_details(backend: Any, body: dict[str, Any]) -> dict[str, Any]:
    """The job as a job worker sees it; `pipelineContext` when the job was made for a pipeline
    action (AWS documents GetJobDetails for custom actions, and Lambda jobs answer it too)."""
    job_id = _job_id(body)
    with LOCK:
        job = _known_job(backend, job_id)
        data = dict(job["event"]["CodePipeline.job"]["data"])
        data["actionTypeId"] = job["action_type_id"]
        request = job["request"]
        if request.get("pipeline"):
            name = request["pipeline"]
            data["pipelineContext"] = {
                "pipelineName": name,
                "stage": {"name": request.get("stage", "")},
                "action": {"name": request.get("action", ""),
                           "actionExecutionId": request["action_execution_id"]},
                "pipelineArn": f"arn:aws:codepipeline:{backend.region_name}:{backend.account_id}:{name}",
            }
            # The API reference lists pipelineExecutionId as optional (GetJobDetails is
            # documented for custom actions): a test may ask for an answer without it.
            if not request.get("omit_execution_id"):
                data["pipelineContext"]["pipelineExecutionId"] = request["execution_id"]
        return {"jobDetails": {"id": job_id, "accountId": backend.account_id, "data": data}}


def _artifact(spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": spec["name"],
        "revision": spec.get("revision"),
        "location": {"type": "S3", "s3Location": {"bucketName": spec["bucket"], "objectKey": spec["key"]}},
    }


def job_view(backend: Any, job_id: str) -> dict[str, Any] | None:
    """The job as the harness sees it; `next_job` (the continuation) only once CodePipeline
    has delivered it (`next_job_due` says when it will)."""
    with LOCK:
        job = _state(backend).jobs.get(job_id)
        if job is None:
            return None
        _time_out(backend, job)
        view = {"job_id": job_id, "status": job["status"], "results": list(job["results"]),
                "event": job["event"], "created_at": job["created_at"]}
        if job["next_job_id"]:
            next_job = _state(backend).jobs[job["next_job_id"]]
            _time_out(backend, next_job)
            # A continuation abandoned or timed out before its delivery is never delivered.
            delivered_by = min(time.time(), next_job.get("ended_at", math.inf))
            if next_job["delivered_at"] <= delivered_by:
                view["next_job"] = {"job_id": job["next_job_id"], "event": next_job["event"]}
            elif "ended_at" not in next_job:
                view["next_job_due"] = next_job["delivered_at"]
        return view


def find_job_backend(job_id: str) -> Any | None:
    """Control API reads jobs by id alone, so look through every account/region."""
    for _, _, backend in cp_models.codepipeline_backends.iter_backends():
        if job_id in _state(backend).jobs:
            return backend
    return None


def put_job_result(backend: Any, operation: str, body: dict[str, Any]) -> dict[str, Any]:
    job_id = _job_id(body)
    with LOCK:
        job = _known_job(backend, job_id)
        call = {"operation": operation, "body": body, "at": time.time(), "error": None}
        job["results"].append(call)  # every call, rejected ones too: tests look for double reporting
        try:
            _check_job_result(job, operation, body)
        except AwsError as exc:
            call["error"] = exc.error_type
            raise
        token = body.get("continuationToken")
        if operation == "PutJobFailureResult":
            job["status"] = "Failed"
        elif token:
            # AWS starts a new job carrying the token, and delivers it a moment later.
            job["status"] = "Continued"
            job["next_job_id"] = create_job(backend, job["request"], continuation_token=token,
                                            continues=job)["job_id"]
        else:
            job["status"] = "Succeeded"
        _finish_stopping(backend, job)
    return {}


def _check_job_result(job: dict[str, Any], operation: str, body: dict[str, Any]) -> None:
    if job["status"] != "InProgress":
        raise AwsError("InvalidJobStateException", f"Job '{job['job_id']}' is in state {job['status']}")
    if operation == "PutJobFailureResult":
        details = body.get("failureDetails") or {}
        if details.get("type") not in FAILURE_TYPES:
            raise _validation(f"failureDetails.type must be one of {sorted(FAILURE_TYPES)}")
        if not 1 <= len(details.get("message") or "") <= 5000:
            raise _validation("failureDetails.message must be 1-5000 characters")
        return
    token = body.get("continuationToken")
    if token is not None and not 1 <= len(token) <= 2048:
        raise _validation("continuationToken must be 1-2048 characters")
    if token and body.get("outputVariables"):
        raise _validation("outputVariables can be included only when there is no continuation token")
    details = body.get("executionDetails") or {}
    if len(details.get("summary") or "") > 2048:
        raise _validation("executionDetails.summary must be at most 2048 characters")
    if not 0 <= details.get("percentComplete", 0) <= 100:
        raise _validation("executionDetails.percentComplete must be 0-100")


# --------------------------------------------------------------------------
# moto patches
# --------------------------------------------------------------------------


def _json_body(response: CodePipelineResponse) -> dict[str, Any]:
    return json.loads(response.body or "{}")


def _response_method(fn: Any) -> Any:
    # moto dispatches X-Amz-Target "CodePipeline_20150709.GetPipelineState" to
    # getattr(response, camelcase_to_underscores("GetPipelineState")) if the class has it.
    def method(self: CodePipelineResponse) -> str:
        result = fn(self.codepipeline_backend, _json_body(self))
        self.response_headers["Content-Type"] = "application/x-amz-json-1.1"
        return json.dumps(result)
    return method


def _settle_ecs_service(service: Any) -> Any:
    """A real deployment finishes: one PRIMARY deployment of the current task
    definition, COMPLETED, with every desired task running. moto leaves it
    IN_PROGRESS with runningCount 0 and the old task definition."""
    if not service.deployments:  # CODE_DEPLOY / EXTERNAL controllers have none
        return service
    deployment = service.deployments[0]
    now = utcnow()
    if deployment["taskDefinition"] != service.task_definition:
        deployment["id"] = f"ecs-svc/{uuid.uuid4().int % 10**19}"
        deployment["createdAt"] = now
    service.running_count, service.pending_count = service.desired_count, 0
    deployment.update(
        taskDefinition=service.task_definition, desiredCount=service.desired_count,
        runningCount=service.desired_count, pendingCount=0, status="PRIMARY",
        rolloutState="COMPLETED", rolloutStateReason=f"ECS deployment {deployment['id']} completed.",
        updatedAt=now,
    )
    service.deployments = [deployment]
    return service


# Container images whose tasks fail to start (a bad image): a deployment of a task definition
# running one fails once its rollout time passes, as ECS's deployment circuit breaker fails it.
FAILING_IMAGES: set[str] = set()
CIRCUIT_BREAKER_REASON = "ECS deployment circuit breaker: tasks failed to start."


def _images(backend: Any, task_definition: str) -> set[str]:
    try:
        definition = backend.describe_task_definition(task_definition)
    except Exception:  # moto's own not-found error; no images to judge
        return set()
    return {c.get("image", "") for c in definition.container_definitions}


def _rollout_ecs_service(backend: Any, orig: Any, *a: Any, **kw: Any) -> Any:
    """UpdateService as ECS does it: a new task definition starts a deployment that takes
    `ecs_rollout_seconds` (PRIMARY IN_PROGRESS beside the ACTIVE old one, whose tasks keep
    running); a change of the desired count alone is a scaling of the current deployment."""
    with LOCK:
        props = a[0] if a else kw.get("service_properties", {})
        name = props.get("service", "").split("/")[-1]
        cluster = props.get("cluster", "default")
        before = backend._get_service(cluster, name)
        before_definition, before_running = before.task_definition, before.running_count
        service = orig(backend, *a, **kw)
        rollout = getattr(service, "gantry_rollout", None)
        if not service.deployments:  # CODE_DEPLOY / EXTERNAL controllers have none
            return service
        if service.task_definition != before_definition and SETTINGS["ecs_rollout_seconds"] > 0 \
                and service.desired_count > 0:
            now = utcnow()
            old = dict(service.deployments[0], status="ACTIVE", taskDefinition=before_definition,
                       desiredCount=before_running, runningCount=before_running, pendingCount=0)
            new = dict(service.deployments[0])
            new.update(id=f"ecs-svc/{uuid.uuid4().int % 10**19}", createdAt=now, updatedAt=now,
                       taskDefinition=service.task_definition, desiredCount=service.desired_count,
                       runningCount=0, pendingCount=service.desired_count, failedTasks=0,
                       status="PRIMARY", rolloutState="IN_PROGRESS")
            new["rolloutStateReason"] = f"ECS deployment {new['id']} in progress."
            service.deployments = [new] + ([old] if before_running else [])
            service.running_count, service.pending_count = before_running, service.desired_count
            service.gantry_rollout = {
                "settle_at": time.time() + SETTINGS["ecs_rollout_seconds"],
                "fail": bool(_images(backend, service.task_definition) & FAILING_IMAGES),
            }
            return service
        if rollout and service.task_definition == before_definition and service.desired_count > 0:
            # Scaled while rolling out: the rollout goes on towards the new count.
            service.deployments[0].update(desiredCount=service.desired_count,
                                          pendingCount=service.desired_count)
            service.running_count, service.pending_count = before_running, service.desired_count
            return service
        service.gantry_rollout = None
        return _settle_ecs_service(service)


def _advance_ecs_service(service: Any) -> Any:
    """A deployment in progress whose time has come: COMPLETED, or FAILED with its tasks not
    started (the ACTIVE old deployment's tasks keep serving). Call it holding LOCK."""
    rollout = getattr(service, "gantry_rollout", None)
    if not rollout or time.time() < rollout["settle_at"]:
        return service
    service.gantry_rollout = None
    if not rollout["fail"]:
        return _settle_ecs_service(service)
    new = service.deployments[0]
    new.update(runningCount=0, pendingCount=0, failedTasks=new["desiredCount"],
               rolloutState="FAILED", rolloutStateReason=CIRCUIT_BREAKER_REASON, updatedAt=utcnow())
    service.running_count = sum(d["runningCount"] for d in service.deployments[1:])
    service.pending_count = 0
    return service


def set_failing_image(body: dict[str, Any]) -> dict[str, Any]:
    image = body.get("image") or ""
    if not image:
        raise _validation("image is required")
    with LOCK:
        (FAILING_IMAGES.add if body.get("failing", True) else FAILING_IMAGES.discard)(image)
        return {"failing_images": sorted(FAILING_IMAGES)}


def update_settings(body: dict[str, Any]) -> dict[str, Any]:
    with LOCK:
        for key, value in body.items():
            if key in ("account_id", "region"):
                continue
            if key not in SETTINGS:
                raise _validation(f"unknown setting {key}; known: {sorted(SETTINGS)}")
            if not isinstance(value, (int, float)) or value < 0:
                raise _validation(f"{key} must be a number of seconds, at least 0")
            SETTINGS[key] = float(value)
        return dict(SETTINGS)


# "cluster/service" -> how the next UpdateService of that service ends ("failed": its new
# tasks never start; "rolled_back": they fail and the circuit breaker rolls back). Armed by
# POST /_gantry/ecs/deployment-faults; seen at the next DescribeServices, as ECS reports a
# failure some time after UpdateService answered with the new deployment IN_PROGRESS.
ECS_DEPLOYMENT_FAULTS: dict[str, str] = {}


def _update_ecs_service(backend: Any, orig: Any, *a: Any, **kw: Any) -> Any:
    """UpdateService: a rollout that takes time (`_rollout_ecs_service`); `forceNewDeployment`
    starts a new deployment (a new id) even with the same task definition, as ECS does; an armed
    fault (`ECS_DEPLOYMENT_FAULTS`) leaves the new deployment IN_PROGRESS until described, then
    failed or rolled back by the circuit breaker."""
    props = a[0] if a else kw.get("service_properties", {})
    force = bool(props.get("force_new_deployment"))
    key = f"{str(props.get('cluster', 'default')).split('/')[-1]}/{str(props.get('service', '')).split('/')[-1]}"
    with LOCK:
        fault = ECS_DEPLOYMENT_FAULTS.pop(key, None)
    if fault is None:
        service = _rollout_ecs_service(backend, orig, *a, **kw)
        if force and service.deployments and not getattr(service, "gantry_rollout", None):
            service.deployments[0]["id"] = f"ecs-svc/{uuid.uuid4().int % 10**19}"
            service.deployments[0]["createdAt"] = utcnow()
        return service
    service = orig(backend, *a, **kw)
    service.gantry_rollout = None
    previous = dict(_settle_ecs_service(service).deployments[0])  # the tasks that ran before
    new = dict(previous, id=f"ecs-svc/{uuid.uuid4().int % 10**19}", runningCount=0,
               pendingCount=service.desired_count, rolloutState="IN_PROGRESS",
               rolloutStateReason="ECS deployment in progress.")
    previous.update(status="ACTIVE")
    service.deployments = [new, previous]
    service._gantry_fault = fault
    return service


def _apply_ecs_faults(services: list[Any]) -> list[Any]:
    """DescribeServices: a deployment armed to fail has failed by now."""
    for service in services:
        fault = getattr(service, "_gantry_fault", None)
        if fault is None or len(service.deployments) < 2:
            continue
        service._gantry_fault = None
        new, previous = service.deployments[0], service.deployments[1]
        new.update(rolloutState="FAILED", runningCount=0, pendingCount=0,
                   failedTasks=service.desired_count,
                   rolloutStateReason="ECS deployment circuit breaker: tasks failed to start.")
        if fault == "rolled_back":
            back = dict(previous, id=f"ecs-svc/{uuid.uuid4().int % 10**19}", status="PRIMARY",
                        rolloutState="COMPLETED", createdAt=utcnow(),
                        rolloutStateReason=f"ECS deployment circuit breaker: rolling back to deploymentId {previous['id']}.")
            new.update(status="ACTIVE", desiredCount=0)
            service.deployments = [back, new]
            service.running_count = service.desired_count
        else:
            service.deployments = [new, previous]
    return services


TARGET_HEALTH_REASONS = {
    "healthy": (None, None),
    "unhealthy": ("Target.FailedHealthChecks", "Health checks failed"),
    "initial": ("Elb.RegistrationInProgress", "Target registration is in progress"),
    "draining": ("Target.DeregistrationInProgress", "Target deregistration is in progress"),
    "unused": ("Target.NotInUse", "Target group is not configured to receive traffic from the load balancer"),
    "unavailable": ("Target.HealthCheckDisabled", "Health checks are disabled"),
}


def set_target_health(body: dict[str, Any]) -> dict[str, Any]:
    arn, state = body["target_group_arn"], body["state"]
    if state not in TARGET_HEALTH_REASONS:
        raise _validation(f"state must be one of {sorted(TARGET_HEALTH_REASONS)}")
    parts = arn.split(":")
    if len(parts) < 6:
        raise _validation(f"'{arn}' is not a target group ARN")
    region, account = parts[3], parts[4]
    target_group = elbv2_backends[account][region].target_groups.get(arn)
    if target_group is None:
        raise AwsError("TargetGroupNotFound", f"Target group '{arn}' not found")
    reason, description = TARGET_HEALTH_REASONS[state]
    with LOCK:
        target_group.gantry_health = (state, body.get("reason", reason), body.get("description", description))
    return {"target_group_arn": arn, "state": state, "targets": sorted(target_group.targets)}


def _forward_weights(actions: list[dict[str, Any]]) -> dict[str, int] | None:
    for action in actions or []:
        if action.get("Type") == "forward":
            groups = (action.get("ForwardConfig") or {}).get("TargetGroups") or []
            if groups:
                return {g["TargetGroupArn"]: int(g.get("Weight", 1)) for g in groups}
            if action.get("TargetGroupArn"):
                return {action["TargetGroupArn"]: 1}
    return None


def _record_weights(backend: Any, arn: str, actions: list[dict[str, Any]]) -> None:
    """Every weight change a listener or rule goes through, in order: tests assert the
    sequence a deployment produced, and that a repeated invocation added nothing."""
    weights = _forward_weights(actions)
    if weights is None:
        return
    with LOCK:
        history = backend.__dict__.setdefault("_gantry_weights", {})
        history.setdefault(arn, []).append({"at": time.time(), "weights": weights})


def weight_changes(arn: str) -> dict[str, Any]:
    parts = arn.split(":")
    if len(parts) < 6:
        raise _validation(f"'{arn}' is not a listener or rule ARN")
    backend = elbv2_backends[parts[4]][parts[3]]
    with LOCK:
        changes = list(backend.__dict__.get("_gantry_weights", {}).get(arn, []))
    return {"arn": arn, "changes": changes}


SUSPENDED_KEYS = ("DynamicScalingInSuspended", "DynamicScalingOutSuspended", "ScheduledScalingSuspended")
# The service-linked role Application Auto Scaling uses when RegisterScalableTarget names none.
SERVICE_LINKED_ROLES = {
    "ecs": "ecs.application-autoscaling.amazonaws.com/AWSServiceRoleForApplicationAutoScaling_ECSService",
}


def _register_scalable_target(orig: Any) -> Any:
    """RegisterScalableTarget as AWS does it, where moto differs: a new target needs MinCapacity
    and MaxCapacity (min <= max); an update changes only what it names, SuspendedState field by
    field; DescribeScalableTargets always reports all three SuspendedState flags (false by
    default) and a RoleARN (the service-linked role when none was given)."""
    signature = inspect.signature(orig)

    def method(self: Any, *args: Any, **kwargs: Any) -> Any:
        bound = signature.bind(self, *args, **kwargs)
        bound.apply_defaults()
        a = bound.arguments
        with LOCK:
            existing = self.targets.get(a["dimension"], {}).get(a["r_id"])
            low = a["min_capacity"] if a["min_capacity"] is not None else getattr(existing, "min_capacity", None)
            high = a["max_capacity"] if a["max_capacity"] is not None else getattr(existing, "max_capacity", None)
            if existing is None and (a["min_capacity"] is None or a["max_capacity"] is None):
                raise AwsError("ValidationException",
                               "MinCapacity and MaxCapacity are required when registering a new scalable target")
            if low is not None and high is not None and low > high:
                raise AwsError("ValidationException", "Minimum capacity cannot be greater than maximum capacity")
            given = a["suspended_state"]
            if given is not None and (not isinstance(given, dict) or not set(given) <= set(SUSPENDED_KEYS)):
                raise AwsError("ValidationException", f"SuspendedState may only set {', '.join(SUSPENDED_KEYS)}")
            previous = dict(getattr(existing, "suspended_state", None) or {})
            target = orig(*bound.args, **bound.kwargs)
            target.suspended_state = {**{k: False for k in SUSPENDED_KEYS}, **previous, **(given or {})}
            if not target.role_arn:
                role = SERVICE_LINKED_ROLES.get(
                    target.service_namespace,
                    f"{target.service_namespace}.application-autoscaling.amazonaws.com/AWSServiceRoleForApplicationAutoScaling")
                target.role_arn = f"arn:aws:iam::{self.account_id}:role/aws-service-role/{role}"
            return target
    return method


def _register_with_tags(orig: Any) -> Any:
    """RegisterScalableTarget's `Tags`, which moto drops: kept on a new target (AWS tags a target
    when it is created; an existing one keeps its tags), for IAM's `aws:ResourceTag` checks."""
    def handler(self: Any) -> str:
        backend = self.applicationautoscaling_backend
        dimension, resource = self._get_param("ScalableDimension"), self._get_param("ResourceId")
        existed = backend.targets.get(dimension, {}).get(resource) is not None
        answer = orig(self)
        target = backend.targets.get(dimension, {}).get(resource)
        if target is not None and not existed:
            target.tags = dict(self._get_param("Tags") or {})
        return answer
    return handler


_installed = False
_moto_get_metric_data: Any = None  # moto's own, for Metrics Insights queries


def _serialized(method: Any) -> Any:
    def atomic(self: Any, *args: Any, **kwargs: Any) -> Any:
        with DYNAMODB_LOCK:
            return method(self, *args, **kwargs)
    return atomic


def install() -> None:
    global _installed
    if _installed:
        return
    _installed = True

    for name in DYNAMODB_ATOMIC:
        setattr(DynamoDBBackend, name, _serialized(getattr(DynamoDBBackend, name)))
    # moto's UpdateItem handler deep-copies the stored item outside the backend's call, while
    # another request may be changing it ("dictionary changed size during iteration" under
    # load): the whole request is one step, as in DynamoDB.
    from moto.dynamodb.responses import DynamoHandler
    from moto.iam.responses import IamResponse

    # moto's IAM backend iterates its role and user dicts unlocked ("dictionary changed size
    # during iteration" when tests create roles in parallel): one IAM request at a time.
    IamResponse.call_action = _serialized(IamResponse.call_action)

    for name in ("update_item", "put_item", "delete_item", "get_item"):
        setattr(DynamoHandler, name, _serialized(getattr(DynamoHandler, name)))

    from moto.applicationautoscaling.models import ApplicationAutoscalingBackend

    ApplicationAutoscalingBackend.register_scalable_target = _register_scalable_target(
        ApplicationAutoscalingBackend.register_scalable_target)
    from moto.applicationautoscaling.responses import ApplicationAutoScalingResponse

    ApplicationAutoScalingResponse.register_scalable_target = _register_with_tags(
        ApplicationAutoScalingResponse.register_scalable_target)

    cp_models.PipelineExecution.to_dict = _execution_to_dict
    cp_models.PipelineExecution.to_summary_dict = _execution_to_summary_dict
    cp_models.CodePipeline.metadata = property(_pipeline_metadata)
    orig_create_pipeline = cp_models.CodePipelineBackend.create_pipeline
    orig_update_pipeline = cp_models.CodePipelineBackend.update_pipeline

    def create_pipeline(self: Any, pipeline: dict[str, Any], *a: Any, **kw: Any) -> Any:
        check_declaration(pipeline)
        return orig_create_pipeline(self, pipeline, *a, **kw)

    def update_pipeline(self: Any, pipeline: dict[str, Any], *a: Any, **kw: Any) -> Any:
        check_declaration(pipeline)
        return orig_update_pipeline(self, pipeline, *a, **kw)

    cp_models.CodePipelineBackend.create_pipeline = create_pipeline
    cp_models.CodePipelineBackend.update_pipeline = update_pipeline

    operations = {
        "start_pipeline_execution": start_pipeline_execution,
        "get_pipeline_state": lambda b, body: get_pipeline_state(b, body.get("name")),
        "put_approval_result": put_approval_result,
        "put_job_success_result": lambda b, body: put_job_result(b, "PutJobSuccessResult", body),
        "put_job_failure_result": lambda b, body: put_job_result(b, "PutJobFailureResult", body),
        "list_action_executions": list_action_executions,
        "list_pipeline_executions": list_pipeline_executions,
        "rollback_stage": rollback_stage,
        "get_job_details": get_job_details,
        "stop_pipeline_execution": stop_pipeline_execution,
    }
    for name, fn in operations.items():
        setattr(CodePipelineResponse, name, _response_method(fn))

    orig_create, orig_update = EC2ContainerServiceBackend.create_service, EC2ContainerServiceBackend.update_service
    orig_describe = EC2ContainerServiceBackend.describe_services
    EC2ContainerServiceBackend.create_service = lambda self, *a, **kw: _settle_ecs_service(orig_create(self, *a, **kw))
    EC2ContainerServiceBackend.update_service = \
        lambda self, *a, **kw: _update_ecs_service(self, orig_update, *a, **kw)

    def describe_services(self: Any, *a: Any, **kw: Any) -> Any:
        with LOCK:
            services, failures = orig_describe(self, *a, **kw)
            services = [_advance_ecs_service(s) for s in services]
        return _apply_ecs_faults(services), failures

    EC2ContainerServiceBackend.describe_services = describe_services

    def recording(orig: Any, arn_name: str, actions_name: str) -> Any:
        signature = inspect.signature(orig)

        def method(self: Any, *args: Any, **kwargs: Any) -> Any:
            result = orig(self, *args, **kwargs)
            bound = signature.bind(self, *args, **kwargs).arguments
            _record_weights(self, bound[arn_name], bound.get(actions_name) or [])
            return result
        return method

    modify_listener = recording(ELBv2Backend.modify_listener, "arn", "actions")
    modify_rule = recording(ELBv2Backend.modify_rule, "rule_arn", "actions")
    ELBv2Backend.modify_listener, ELBv2Backend.modify_rule = modify_listener, modify_rule

    orig_health_for = FakeTargetGroup.health_for

    def health_for(self: Any, target: dict[str, Any], ec2_backend: Any) -> Any:
        health = orig_health_for(self, target, ec2_backend)
        override = getattr(self, "gantry_health", None)
        if override and target["Id"] in self.targets:  # only registered targets have a health to drive
            health = FakeHealthStatus(health.instance_id, health.port, health.health_check_port, *override)
        return health

    FakeTargetGroup.health_for = health_for

    global _moto_get_metric_data
    _moto_get_metric_data = CloudWatchBackend.get_metric_data
    CloudWatchBackend.get_metric_data = get_metric_data
    CloudWatchBackend.put_metric_data = _refuse_reserved_namespace(CloudWatchBackend.put_metric_data)


# --------------------------------------------------------------------------
# CloudWatch metrics: statistics and percentiles as CloudWatch computes them
# --------------------------------------------------------------------------

BASIC_STATS = {"Sum", "SampleCount", "Average", "Minimum", "Maximum"}
PERCENTILE_RE = re.compile(r"^p(\d{1,2}(\.\d{1,10})?|100)$")
ALB_NAMESPACE = "AWS/ApplicationELB"


def _period_value(data: list[Any], stat: str) -> float | None:
    """One period's statistic over its data points (raw values and statistic sets)."""
    raw = [float(md.value) for md in data if isinstance(md, MetricDatum)]
    sets = [md for md in data if isinstance(md, MetricAggregatedDatum)]
    count = len(raw) + sum(float(s.sample_count) for s in sets)
    if count == 0:
        return None
    total = sum(raw) + sum(float(s.sum) for s in sets)
    if stat == "Sum":
        return total
    if stat == "SampleCount":
        return count
    if stat == "Average":
        return total / count
    if stat == "Minimum":
        return min(raw + [float(s.min) for s in sets])
    if stat == "Maximum":
        return max(raw + [float(s.max) for s in sets])
    # pNN: nearest rank over the raw values (CloudWatch computes no percentile from statistic
    # sets alone: it answers no data point).
    if not raw:
        return None
    rank = math.ceil(round(float(stat[1:]) * len(raw) / 100, 9))  # round: 99.9 x 1000 / 100 is 999.0000000000001
    ordered = sorted(raw)
    return ordered[min(len(ordered), max(1, rank)) - 1]


def _check_stat(stat: str) -> None:
    if stat not in BASIC_STATS and not PERCENTILE_RE.match(stat):
        raise InvalidParameterValue(f"The value {stat} for parameter MetricDataQueries.member.Stat is invalid.")


def _seconds(dt: datetime.datetime) -> float:
    """Epoch seconds of a timestamp moto holds naive (UTC) or aware."""
    return calendar.timegm(dt.utctimetuple()) + dt.microsecond / 1e6


def _floor_to(epoch: float, seconds: int) -> datetime.datetime:
    start = int(epoch) - int(epoch) % seconds
    return datetime.datetime.fromtimestamp(start, tz=datetime.timezone.utc)


def get_metric_data(self: Any, queries: list[dict[str, Any]], start_time: Any, end_time: Any,
                    scan_by: str = "TimestampAscending") -> list[dict[str, Any]]:
    """GetMetricData with CloudWatch's statistics: MetricStat queries match namespace, metric name
    and exactly the given dimensions; periods start at multiples of the period (CloudWatch rounds
    the start time down); every statistic, percentiles included, per period. Math expressions
    run over these results as moto's do; Metrics Insights queries go to moto."""
    start_time, end_time = start_time.replace(microsecond=0), end_time.replace(microsecond=0)
    if start_time >= end_time:
        raise ValidationError("The parameter EndTime must be greater than StartTime."
                              if start_time > end_time else "The parameter StartTime must not equal parameter EndTime.")
    metric_queries = [q for q in queries if "MetricStat" in q]
    math_queries = [q for q in queries if "Expression" in q and not q["Expression"].startswith("SELECT")]
    insights = [q for q in queries if "Expression" in q and q["Expression"].startswith("SELECT")]
    start, end = _seconds(start_time), _seconds(end_time)
    data = [md for md in self.get_all_metrics() if start <= _seconds(md.timestamp) < end]
    results, returned = [], []
    for query in metric_queries:
        stat_spec = query["MetricStat"]
        metric, stat, period = stat_spec["Metric"], stat_spec["Stat"], int(stat_spec["Period"])
        _check_stat(stat)
        wanted = sorted((d["Name"], d["Value"]) for d in metric.get("Dimensions", []))
        unit = stat_spec.get("Unit")
        matching = [md for md in data
                    if md.namespace == metric.get("Namespace") and md.name == metric["MetricName"]
                    and sorted((d.name, d.value) for d in md.dimensions) == wanted
                    and (not unit or md.unit == unit)]
        buckets: dict[datetime.datetime, list[Any]] = {}
        for md in matching:
            buckets.setdefault(_floor_to(_seconds(md.timestamp), period), []).append(md)
        points = sorted((t, v) for t, v in ((t, _period_value(b, stat)) for t, b in buckets.items()) if v is not None)
        if scan_by == "TimestampDescending":
            points.reverse()
        result = {"id": query["Id"], "label": query.get("Label") or f"{metric['MetricName']} {stat}",
                  "values": [v for _, v in points], "timestamps": [t for t, _ in points], "status_code": "Complete"}
        results.append(result)
        if query.get("ReturnData", True):
            returned.append(result)
    for query in math_queries:
        values, timestamps = parse_expression(query["Expression"], results)
        returned.append({"id": query["Id"], "label": query.get("Label") or query["Id"], "values": values,
                         "timestamps": timestamps, "status_code": "Complete"})
    if insights:
        returned += _moto_get_metric_data(self, insights, start_time, end_time, scan_by)
    return returned


def _refuse_reserved_namespace(orig: Any) -> Any:
    def put_metric_data(self: Any, namespace: str, metric_data: list[dict[str, Any]]) -> None:
        if namespace.startswith("AWS/"):  # AWS's own services publish there, nobody else
            raise InvalidParameterValue(f"The value {namespace} for parameter Namespace is invalid.")
        return orig(self, namespace, metric_data)
    return put_metric_data


def alb_dimensions(load_balancer_arn: str, target_group_arn: str) -> list[dict[str, str]]:
    """ALB's dimensions from the ARNs: `app/<name>/<id>` and `targetgroup/<name>/<id>`."""
    lb = load_balancer_arn.split(":loadbalancer/", 1)
    tg = target_group_arn.split(":", 5)
    if len(lb) != 2 or len(tg) != 6 or not tg[5].startswith("targetgroup/"):
        raise ValueError("load_balancer_arn and target_group_arn must be ELBv2 ARNs")
    return [{"Name": "LoadBalancer", "Value": lb[1]}, {"Name": "TargetGroup", "Value": tg[5]}]


def publish_alb_metrics(body: dict[str, Any]) -> dict[str, Any]:
    """What an Application Load Balancer publishes for one target group over one period:
    `RequestCount` (Count), `HTTPCode_Target_5XX_Count` only when non-zero (ALB publishes no
    zero counts), and one `TargetResponseTime` (Seconds) per request."""
    backend = cloudwatch_backends[body.get("account_id") or DEFAULT_ACCOUNT_ID][body.get("region") or DEFAULT_REGION]
    dims = alb_dimensions(body["load_balancer_arn"], body["target_group_arn"])
    # Naive UTC, as moto keeps PutMetricData's timestamps.
    at = datetime.datetime.fromtimestamp(float(body["timestamp"]), tz=datetime.timezone.utc).replace(tzinfo=None)
    requests, errors = int(body.get("requests", 0)), int(body.get("errors_5xx", 0))
    times = [float(t) for t in body.get("response_times", [])]
    if requests < 0 or errors < 0 or errors > requests:
        raise ValueError("requests and errors_5xx must be counts, errors_5xx <= requests")
    data = [MetricDatum(ALB_NAMESPACE, "RequestCount", requests, dims, at, "Count")]
    if errors:
        data.append(MetricDatum(ALB_NAMESPACE, "HTTPCode_Target_5XX_Count", errors, dims, at, "Count"))
    data += [MetricDatum(ALB_NAMESPACE, "TargetResponseTime", t, dims, at, "Seconds") for t in times]
    with LOCK:
        backend.metric_data.extend(data)
    return {"published": len(data), "dimensions": dims}


# --------------------------------------------------------------------------
# Control API: /_gantry/...
# --------------------------------------------------------------------------

ROUTES = Map([
    Rule("/_gantry/codepipeline/approvals", methods=["POST"], endpoint="seed_approval"),
    Rule("/_gantry/codepipeline/approvals", methods=["GET"], endpoint="list_approvals"),
    Rule("/_gantry/codepipeline/jobs", methods=["POST"], endpoint="create_job"),
    Rule("/_gantry/codepipeline/jobs/<job_id>", methods=["GET"], endpoint="get_job"),
    Rule("/_gantry/codepipeline/action-executions", methods=["POST"], endpoint="seed_action_execution"),
    Rule("/_gantry/codepipeline/executions/<pipeline>/<execution_id>", methods=["POST"], endpoint="set_execution"),
    Rule("/_gantry/codepipeline/starts", methods=["GET"], endpoint="list_starts"),
    Rule("/_gantry/codepipeline/start-faults", methods=["POST"], endpoint="set_start_faults"),
    Rule("/_gantry/elbv2/target-health", methods=["POST"], endpoint="set_target_health"),
    Rule("/_gantry/ecs/failing-images", methods=["POST"], endpoint="set_failing_image"),
    Rule("/_gantry/settings", methods=["POST"], endpoint="update_settings"),
    Rule("/_gantry/settings", methods=["GET"], endpoint="get_settings"),
    Rule("/_gantry/ecs/deployment-faults", methods=["POST"], endpoint="set_ecs_deployment_fault"),
    Rule("/_gantry/elbv2/weight-changes", methods=["GET"], endpoint="weight_changes"),
    Rule("/_gantry/cloudwatch/alb-metrics", methods=["POST"], endpoint="alb_metrics"),
    Rule("/_gantry/calls", methods=["GET"], endpoint="list_calls"),
    Rule("/_gantry/iam/functions", methods=["POST"], endpoint="create_function_user"),
    Rule("/_gantry/iam/denied", methods=["GET"], endpoint="list_denied"),
    Rule("/_gantry/iam/target-roles", methods=["POST"], endpoint="create_target_role"),
    Rule("/_gantry/sts/lifetime", methods=["POST"], endpoint="set_assumed_lifetime"),
    Rule("/_gantry/sts/expired", methods=["GET"], endpoint="list_expired"),
    Rule("/_gantry/lambda/functions", methods=["POST"], endpoint="register_function"),
    Rule("/_gantry/lambda/invocations", methods=["GET"], endpoint="list_invocations"),
    Rule("/_gantry/reset", methods=["POST"], endpoint="reset"),
    Rule("/_gantry/faults", methods=["POST"], endpoint="arm_fault"),
    Rule("/_gantry/faults", methods=["GET"], endpoint="list_faults"),
])


_TRANSFORMED: dict[str, Any] | None = None


def function_role_policies(function: str, parameters: Any, names: dict[str, Any]) -> list[dict[str, Any]]:
    """A function's role policies from template.yaml (tests/template/resolve.py), resolved."""
    import os
    import sys

    template_dir = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "template")
    if template_dir not in sys.path:
        sys.path.insert(0, template_dir)
    os.environ.setdefault("SAM_CLI_TELEMETRY", "0")
    import resolve

    global _TRANSFORMED
    with LOCK:
        if _TRANSFORMED is None:  # the SAM transform is the slow part, and the same for every test
            _TRANSFORMED = resolve.cloudformation()
    policies: list[dict[str, Any]] = []
    sets = parameters if isinstance(parameters, list) else [parameters]
    for n, overrides in enumerate(sets):
        for policy in resolve.Resolved(overrides, names, _TRANSFORMED).function_policies(function):
            if len(sets) > 1:
                policy = {**policy, "PolicyName": f"{policy['PolicyName']}-{n}"}
            policies.append(policy)
    return policies


class _NotFound(Exception):
    pass


def _moto_has_function(arn: str) -> bool:
    from moto.awslambda.models import lambda_backends

    _, _, _, region, account, _, _name = arn.split(":")
    try:
        lambda_backends[account][region].get_function(arn)
        return True
    except JsonRESTError:
        return False


class GantryApp:
    """Serves /_gantry/ itself and hands every other request to moto."""

    def __init__(self, moto_app: Any) -> None:
        self.moto_app = moto_app

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        if environ.get("PATH_INFO", "").startswith("/_gantry/"):
            return self._control(Request(environ))(environ, start_response)
        call_log.record(environ)
        with DYNAMODB_LOCK:  # reads moto's IAM users and policies, which requests may be changing
            refusal = iam_enforce.check(environ)  # before moto, the plugin and the CBOR bridge alike
        if refusal is not None:
            return refusal(environ, start_response)
        fault = faults.check(environ)
        if fault is not None:
            return fault(environ, start_response)
        if lambda_hooks.is_invoke(environ):
            answered = lambda_hooks.handle(environ, _moto_has_function)
            if answered is not None:
                status, headers, body = answered
                return Response(body, status, headers)(environ, start_response)
        if cbor_bridge.is_rpcv2_cbor(environ):
            return cbor_bridge.handle(self.moto_app, environ)(environ, start_response)
        return self.moto_app(environ, start_response)

    def _control(self, request: Request) -> Response:
        try:
            endpoint, args = ROUTES.bind_to_environ(request.environ).match()
            # force: `curl -d` sends JSON as application/x-www-form-urlencoded
            body = (request.get_json(force=True, silent=True) or {}) if request.method == "POST" else {}
            params = {**request.args.to_dict(), **body}
            backend = _backend(params.get("account_id"), params.get("region"))
            result = getattr(self, endpoint)(backend, params, **args)
            return Response(json.dumps(result), 200, mimetype="application/json")
        except JsonRESTError as exc:  # ours and moto's; before HTTPException, their base class
            status = 404 if "NotFound" in exc.error_type else 400
            return self._error(status, exc.error_type, exc.message)
        except HTTPException as exc:  # no such route or method
            return self._error(exc.code or 500, "HttpError", exc.description or "")
        except KeyError as exc:
            return self._error(400, "MissingField", f"missing field {exc}")
        except (TypeError, ValueError) as exc:  # a field of the wrong type or shape
            return self._error(400, "BadRequest", str(exc))
        except _NotFound as exc:
            return self._error(404, "NotFound", str(exc))

    @staticmethod
    def _error(status: int, code: str, message: str) -> Response:
        return Response(json.dumps({"error": code, "message": message}), status, mimetype="application/json")

    def seed_approval(self, backend: Any, params: dict[str, Any]) -> Any:
        return seed_approval(backend, params)

    def list_approvals(self, backend: Any, params: dict[str, Any]) -> Any:
        return list_approvals(backend, params.get("pipeline"))

    def create_job(self, backend: Any, params: dict[str, Any]) -> Any:
        return create_job(backend, params)

    def get_job(self, _backend: Any, params: dict[str, Any], job_id: str) -> Any:
        """The job's view. A continuation not delivered yet is waited for (the caller then
        invokes it no sooner than CodePipeline would), unless `wait=0` asks for the view as
        it is now (`next_job_due` instead of `next_job`)."""
        backend = find_job_backend(job_id)
        view = job_view(backend, job_id) if backend else None
        if view is None:
            raise _NotFound(f"job '{job_id}' not found")
        if str(params.get("wait", "1")) != "0" and "next_job_due" in view:
            time.sleep(max(0.0, view["next_job_due"] - time.time()))
            view = job_view(backend, job_id)
        return view

    def seed_action_execution(self, backend: Any, params: dict[str, Any]) -> Any:
        return seed_action_execution(backend, params)

    def set_execution(self, backend: Any, params: dict[str, Any], pipeline: str, execution_id: str) -> Any:
        return set_execution_status(backend, pipeline, execution_id, params["status"], params.get("summary"))

    def list_starts(self, backend: Any, params: dict[str, Any]) -> Any:
        with LOCK:
            return [s for s in _state(backend).starts if params.get("pipeline") in (None, s["pipeline"])]

    def set_start_faults(self, backend: Any, params: dict[str, Any]) -> Any:
        """The next `count` StartPipelineExecution calls for `pipeline` fail as CodePipeline does
        when throttling (`ThrottlingException`, 400) or down (`ServiceUnavailableException`, 503;
        `InternalServerException`, 500). `count` 0 clears the fault."""
        error = params.get("error", "ThrottlingException")
        status = {"ThrottlingException": 400, "InternalServerException": 500}.get(error, 503)
        with LOCK:
            _state(backend).start_faults[params["pipeline"]] = [error, status, int(params.get("count", 1))]
        return {"pipeline": params["pipeline"], "error": error, "count": int(params.get("count", 1))}

    def set_ecs_deployment_fault(self, _backend: Any, params: dict[str, Any]) -> Any:
        """The next UpdateService of `cluster`/`service` fails: `outcome` "failed" (the new
        tasks never start) or "rolled_back" (the circuit breaker rolls back)."""
        outcome = params.get("outcome", "failed")
        if outcome not in ("failed", "rolled_back"):
            raise ValueError(f"outcome must be failed or rolled_back, not {outcome}")
        with LOCK:
            ECS_DEPLOYMENT_FAULTS[f"{params['cluster']}/{params['service']}"] = outcome
        return {"cluster": params["cluster"], "service": params["service"], "outcome": outcome}

    def set_target_health(self, _backend: Any, params: dict[str, Any]) -> Any:
        return set_target_health(params)

    def weight_changes(self, _backend: Any, params: dict[str, Any]) -> Any:
        return weight_changes(params["arn"])

    def set_failing_image(self, _backend: Any, params: dict[str, Any]) -> Any:
        return set_failing_image(params)

    def update_settings(self, _backend: Any, params: dict[str, Any]) -> Any:
        return update_settings(params)

    def get_settings(self, _backend: Any, _params: dict[str, Any]) -> Any:
        return dict(SETTINGS)

    def reset(self, _backend: Any, _params: dict[str, Any]) -> Any:
        from moto.moto_api._internal import moto_api_backend

        moto_api_backend.reset()  # as POST /moto-api/reset/; plugin state lives on the backends, so it goes too
        with LOCK:
            ECS_DEPLOYMENT_FAULTS.clear()
        call_log.reset()
        lambda_hooks.reset()
        faults.reset()
        with LOCK:
            SETTINGS.update(DEFAULT_SETTINGS)
            FAILING_IMAGES.clear()
        return {"reset": True}

    def arm_fault(self, _backend: Any, params: dict[str, Any]) -> Any:
        return faults.arm(params["operation"], params["count"], params.get("match", ""))

    def list_faults(self, _backend: Any, _params: dict[str, Any]) -> Any:
        return faults.served()

    def alb_metrics(self, _backend: Any, params: dict[str, Any]) -> Any:
        return publish_alb_metrics(params)

    def register_function(self, _backend: Any, params: dict[str, Any]) -> Any:
        return lambda_hooks.register(params)

    def list_invocations(self, _backend: Any, params: dict[str, Any]) -> Any:
        return lambda_hooks.invocations(params.get("function"))

    def list_calls(self, _backend: Any, _params: dict[str, Any]) -> Any:
        return call_log.calls()

    def create_function_user(self, _backend: Any, params: dict[str, Any]) -> Any:
        """An IAM user holding exactly a function's role policies from template.yaml, resolved
        with the test's parameters and the emulator's names for the stack's resources:
        {"function": "webhook", "parameters": {"ServiceName": ...}, "names": {"StateTable": ...}}.
        `parameters` may be a list: one policy set per stack (a world that routes to several
        pipelines stands for several stacks). `policies` instead: the user holds exactly those
        (a test's edit of what an earlier call answered)."""
        policies = params.get("policies")  # a test's edit of the role's policies, else the role's
        if policies is None:
            policies = function_role_policies(params["function"], params.get("parameters") or {},
                                              params.get("names") or {})
        user = iam_enforce.create_function_user(params["function"], policies)
        return {**user, "policies": policies, "enforcing": iam_enforce.enabled()}

    def list_denied(self, _backend: Any, _params: dict[str, Any]) -> Any:
        return list(iam_enforce.denied)

    def create_target_role(self, _backend: Any, params: dict[str, Any]) -> Any:
        """service/target-account.yaml's role in another account:
        {"account": "222222222222", "parameters": {...}, "trusted": "<the shifter's ARN>"}."""
        import target_account  # sibling module

        return target_account.create_target_role(params["account"], params["parameters"], params["trusted"])

    def set_assumed_lifetime(self, _backend: Any, params: dict[str, Any]) -> Any:
        """{"role_arn": ..., "seconds": 20}: AssumeRole of that role gives credentials that
        expire after `seconds` (null: as asked)."""
        iam_enforce.set_assumed_lifetime(params["role_arn"], params.get("seconds"))
        return {"role_arn": params["role_arn"], "seconds": params.get("seconds")}

    def list_expired(self, _backend: Any, _params: dict[str, Any]) -> Any:
        return list(iam_enforce.expired)
