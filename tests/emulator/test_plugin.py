"""Self-check of the Gantry emulator through boto3 (a real SDK, so the wire
protocol is what SDKs expect). Plain unittest, no pytest:

    .venv/bin/python tests/emulator/test_plugin.py      # exit status != 0 on failure
"""

from __future__ import annotations

import datetime
import json
import os
import sys
import time
import threading
import unittest
import urllib.error
import urllib.request
import uuid
from typing import Any

import boto3
import botocore.session
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError
from botocore.parsers import create_parser
from botocore.serialize import create_serializer

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import alb_metrics  # noqa: E402  (sibling helper)
from harness import Emulator  # noqa: E402
REGION = "us-east-1"
ACCOUNT = "123456789012"  # moto's default account for any unknown access key


EMU: Emulator


def setUpModule() -> None:
    global EMU
    EMU = Emulator()


def tearDownModule() -> None:
    EMU.stop()


def raw_json(client: Any, operation: str) -> dict[str, Any]:
    """Capture the next raw response body of `operation`, to check the wire format."""
    captured: dict[str, Any] = {}

    def grab(http_response: Any, **_: Any) -> None:
        captured["body"] = json.loads(http_response.content)

    client.meta.events.register(f"after-call.{client.meta.service_model.service_name}.{operation}", grab)
    return captured


def make_pipeline(emu: Emulator, mode: str | None = None) -> str:
    iam, cp = emu.client("iam"), emu.client("codepipeline")
    suffix = uuid.uuid4().hex[:8]
    role = iam.create_role(
        RoleName=f"pipeline-{suffix}",
        AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"Service": "codepipeline.amazonaws.com"},
            "Action": "sts:AssumeRole"}]}),
    )["Role"]["Arn"]
    name = f"gantry-{suffix}"

    def action(name: str, category: str, provider: str, **extra: Any) -> dict[str, Any]:
        return {"name": name, "actionTypeId": {"category": category, "owner": "AWS",
                                               "provider": provider, "version": "1"}, **extra}

    extra = {"executionMode": mode} if mode else {}
    cp.create_pipeline(pipeline={
        "name": name, "roleArn": role, "pipelineType": "V2", **extra,
        "variables": [{"name": "IMAGE_TAG", "defaultValue": "latest"}, {"name": "BRANCH", "defaultValue": "-"}],
        "artifactStore": {"type": "S3", "location": "gantry-artifacts"},
        "stages": [
            {"name": "Source", "actions": [action(
                "Image", "Source", "ECR", configuration={"RepositoryName": "app"},
                outputArtifacts=[{"name": "ImageOut"}])]},
            {"name": "Deploy", "actions": [action(
                "Shift", "Invoke", "Lambda",
                configuration={"FunctionName": "gantry-shift", "UserParameters": '{"step":10}'},
                inputArtifacts=[{"name": "ImageOut"}])]},
            {"name": "Approve", "actions": [action(
                "Gate", "Approval", "Manual",
                configuration={"CustomData": "Promote #{variables.IMAGE_TAG} (#{Build.Other})?"})]},
        ],
    })
    return name


def error_code(exc: ClientError) -> str:
    return exc.response["Error"]["Code"]


def until(check: Any, timeout: float = 10.0) -> Any:
    """`check()`'s first truthy answer, asked every 50 ms (the emulator takes its time as AWS
    does: a continuation is delivered later, a deployment rolls out)."""
    deadline = time.time() + timeout
    while True:
        answer = check()
        if answer or time.time() > deadline:
            return answer
        time.sleep(0.05)


class CodePipelineTest(unittest.TestCase):
    def setUp(self) -> None:
        self.cp = EMU.client("codepipeline")
        self.pipeline = make_pipeline(EMU)

    def start(self, token: str = "deploy-1") -> str:
        return self.cp.start_pipeline_execution(
            name=self.pipeline, clientRequestToken=token,
            sourceRevisions=[{"actionName": "Image", "revisionType": "IMAGE_DIGEST",
                              "revisionValue": "sha256:abc"}],
            variables=[{"name": "IMAGE_TAG", "value": "v42"}],
        )["pipelineExecutionId"]

    def assertAwsError(self, code: str, call: Any, **kwargs: Any) -> None:
        with self.assertRaises(ClientError) as ctx:
            call(**kwargs)
        self.assertEqual(error_code(ctx.exception), code)

    def test_start_is_idempotent_and_recorded(self) -> None:
        first, again = self.start(), self.start()
        self.assertEqual(first, again)
        self.assertNotEqual(self.start("deploy-2"), first)

        starts = EMU.control("GET", f"/_gantry/codepipeline/starts?pipeline={self.pipeline}")
        self.assertEqual([s["duplicate"] for s in starts], [False, True, False])
        self.assertEqual(starts[0]["clientRequestToken"], "deploy-1")
        self.assertEqual(starts[0]["sourceRevisions"][0]["revisionValue"], "sha256:abc")
        self.assertEqual(starts[0]["variables"], [{"name": "IMAGE_TAG", "value": "v42"}])
        summaries = self.cp.list_pipeline_executions(pipelineName=self.pipeline)["pipelineExecutionSummaries"]
        self.assertEqual(len(summaries), 2)  # the duplicate started nothing
        self.assertEqual(summaries[-1]["sourceRevisions"], [{"actionName": "Image", "revisionId": "sha256:abc"}])

        self.assertAwsError("PipelineNotFoundException", self.cp.start_pipeline_execution, name="nope")
        self.assertAwsError("ValidationException", self.cp.start_pipeline_execution,
                            name=self.pipeline, clientRequestToken="bad token!")

    def test_get_pipeline_execution(self) -> None:
        execution_id = self.start()
        execution = self.cp.get_pipeline_execution(
            pipelineName=self.pipeline, pipelineExecutionId=execution_id)["pipelineExecution"]
        self.assertEqual(execution["status"], "InProgress")
        # Every declared variable, given or defaulted, as CodePipeline resolves them.
        self.assertEqual(execution["variables"], [{"name": "IMAGE_TAG", "resolvedValue": "v42"},
                                                  {"name": "BRANCH", "resolvedValue": "-"}])
        self.assertEqual(execution["artifactRevisions"], [{"name": "Image", "revisionId": "sha256:abc"}])
        self.assertEqual(execution["trigger"]["triggerType"], "StartPipelineExecution")
        self.assertEqual(execution["executionMode"], "SUPERSEDED")

        EMU.control("POST", f"/_gantry/codepipeline/executions/{self.pipeline}/{execution_id}",
                    {"status": "Failed", "summary": "canary alarm"})
        execution = self.cp.get_pipeline_execution(
            pipelineName=self.pipeline, pipelineExecutionId=execution_id)["pipelineExecution"]
        self.assertEqual((execution["status"], execution["statusSummary"]), ("Failed", "canary alarm"))

    def test_timestamps_are_epoch_seconds_on_the_wire(self) -> None:
        # The Rust SDK rejects ISO strings where awsJson1_1 expects epoch numbers.
        execution_id = self.start()
        EMU.control("POST", "/_gantry/codepipeline/approvals",
                    {"pipeline": self.pipeline, "stage": "Approve", "action": "Gate"})
        listed = raw_json(self.cp, "ListPipelineExecutions")
        self.cp.list_pipeline_executions(pipelineName=self.pipeline)
        self.assertIsInstance(listed["body"]["pipelineExecutionSummaries"][0]["startTime"], float)
        got = raw_json(self.cp, "GetPipeline")
        self.cp.get_pipeline(name=self.pipeline)
        self.assertIsInstance(got["body"]["metadata"]["created"], float)
        state = raw_json(self.cp, "GetPipelineState")
        self.cp.get_pipeline_state(name=self.pipeline)
        gate = state["body"]["stageStates"][2]["actionStates"][0]["latestExecution"]
        self.assertIsInstance(gate["lastStatusChange"], float)
        self.assertTrue(execution_id)

    def test_approval_flow(self) -> None:
        execution_id = self.start()
        seeded = EMU.control("POST", "/_gantry/codepipeline/approvals", {
            "pipeline": self.pipeline, "stage": "Approve", "action": "Gate",
            "custom_data": "promote v42?"})
        token = seeded["token"]
        self.assertEqual(seeded["execution_id"], execution_id)

        stage = self.cp.get_pipeline_state(name=self.pipeline)["stageStates"][2]
        self.assertEqual(stage["latestExecution"], {"pipelineExecutionId": execution_id, "status": "InProgress"})
        gate = stage["actionStates"][0]["latestExecution"]
        self.assertEqual((gate["status"], gate["token"]), ("InProgress", token))

        def put(token: str = token, stage: str = "Approve", action: str = "Gate",
                pipeline: str = self.pipeline, status: str = "Approved") -> Any:
            return self.cp.put_approval_result(
                pipelineName=pipeline, stageName=stage, actionName=action, token=token,
                result={"summary": "looks good", "status": status})

        self.assertAwsError("InvalidApprovalTokenException", put, token=str(uuid.uuid4()))
        self.assertAwsError("ValidationException", put, token="not-a-uuid")
        self.assertAwsError("StageNotFoundException", put, stage="Nope")
        self.assertAwsError("ActionNotFoundException", put, action="Nope")
        self.assertAwsError("PipelineNotFoundException", put, pipeline="nope")

        before = time.time()
        approved_at = put()["approvedAt"]
        self.assertGreaterEqual(approved_at.timestamp(), before - 1)
        self.assertAwsError("ApprovalAlreadyCompletedException", put, status="Rejected")

        [record] = EMU.control("GET", f"/_gantry/codepipeline/approvals?pipeline={self.pipeline}")
        self.assertEqual((record["status"], record["summary"], record["put_calls"]), ("Approved", "looks good", 1))
        self.assertEqual(record["put_attempts"], 2)  # the refused second decision counts too
        self.assertEqual(record["custom_data"], "promote v42?")
        gate = self.cp.get_pipeline_state(name=self.pipeline)["stageStates"][2]["actionStates"][0]
        self.assertEqual(gate["latestExecution"]["status"], "Succeeded")
        self.assertNotIn("token", gate["latestExecution"])

        expired = EMU.control("POST", "/_gantry/codepipeline/approvals", {
            "pipeline": self.pipeline, "stage": "Approve", "action": "Gate", "expires_in_seconds": 0})
        self.assertAwsError("InvalidApprovalTokenException", put, token=expired["token"])
        self.assertAwsError("InvalidApprovalTokenException", put, token=token)  # superseded

        status, error = EMU.control_error("POST", "/_gantry/codepipeline/approvals",
                                          {"pipeline": self.pipeline, "stage": "Deploy", "action": "Shift"})
        self.assertEqual((status, error["error"]), (400, "ValidationException"))

    def test_jobs(self) -> None:
        created = EMU.control("POST", "/_gantry/codepipeline/jobs", {
            "pipeline": self.pipeline, "stage": "Deploy", "action": "Shift",
            "input_artifacts": [{"name": "ImageOut", "bucket": "gantry-artifacts", "key": "p/ImageOut/x.zip"}]})
        job_id, event = created["job_id"], created["event"]["CodePipeline.job"]
        self.assertEqual(event["id"], job_id)
        self.assertEqual(event["accountId"], ACCOUNT)
        self.assertEqual(event["data"]["actionConfiguration"]["configuration"],
                         {"FunctionName": "gantry-shift", "UserParameters": '{"step":10}'})
        self.assertEqual(event["data"]["inputArtifacts"][0]["location"]["s3Location"],
                         {"bucketName": "gantry-artifacts", "objectKey": "p/ImageOut/x.zip"})
        self.assertNotIn("continuationToken", event["data"])
        details = self.cp.get_job_details(jobId=job_id)["jobDetails"]
        context = details["data"]["pipelineContext"]
        self.assertEqual((context["pipelineName"], context["stage"]["name"], context["action"]["name"]),
                         (self.pipeline, "Deploy", "Shift"))
        self.assertTrue(context["pipelineExecutionId"])
        self.assertEqual(details["data"]["actionConfiguration"]["configuration"]["UserParameters"], '{"step":10}')
        self.assertEqual(set(event["data"]["artifactCredentials"]), {"accessKeyId", "secretAccessKey", "sessionToken"})

        self.assertAwsError("JobNotFoundException", self.cp.put_job_success_result, jobId=str(uuid.uuid4()))
        self.assertAwsError("ValidationException", self.cp.put_job_success_result,
                            jobId=job_id, continuationToken="x" * 2049)
        self.cp.put_job_success_result(jobId=job_id, continuationToken='{"step":20}',
                                       executionDetails={"summary": "10% shifted", "percentComplete": 10})
        self.assertAwsError("InvalidJobStateException", self.cp.put_job_failure_result, jobId=job_id,
                            failureDetails={"type": "JobFailed", "message": "late"})

        job = EMU.control("GET", f"/_gantry/codepipeline/jobs/{job_id}")
        self.assertEqual(job["status"], "Continued")
        self.assertEqual([(r["operation"], r["error"]) for r in job["results"]], [
            ("PutJobSuccessResult", "ValidationException"),
            ("PutJobSuccessResult", None),
            ("PutJobFailureResult", "InvalidJobStateException")])
        self.assertEqual(job["results"][1]["body"]["continuationToken"], '{"step":20}')
        next_job = job["next_job"]
        next_data = next_job["event"]["CodePipeline.job"]["data"]
        self.assertEqual(  # a continuation job belongs to the same action execution
            self.cp.get_job_details(jobId=next_job["job_id"])["jobDetails"]["data"]["pipelineContext"],
            context)
        self.assertEqual(next_data["continuationToken"], '{"step":20}')
        self.assertEqual(next_data["actionConfiguration"]["configuration"]["UserParameters"], '{"step":10}')

        self.cp.put_job_failure_result(jobId=next_job["job_id"], failureDetails={
            "type": "JobFailed", "message": "alarm fired", "externalExecutionId": "x-1"})
        finished = EMU.control("GET", f"/_gantry/codepipeline/jobs/{next_job['job_id']}")
        self.assertEqual(finished["status"], "Failed")
        self.assertEqual(finished["results"][0]["body"]["failureDetails"]["message"], "alarm fired")

        bare = EMU.control("POST", "/_gantry/codepipeline/jobs", {"user_parameters": "plain"})
        self.cp.put_job_success_result(jobId=bare["job_id"], outputVariables={"k": "v"})
        self.assertEqual(EMU.control("GET", f"/_gantry/codepipeline/jobs/{bare['job_id']}")["status"], "Succeeded")
        self.assertEqual(EMU.control_error("GET", f"/_gantry/codepipeline/jobs/{uuid.uuid4()}")[0], 404)
        self.assertNotIn("pipelineContext", self.cp.get_job_details(jobId=bare["job_id"])["jobDetails"]["data"])
        self.assertAwsError("JobNotFoundException", self.cp.get_job_details, jobId=str(uuid.uuid4()))

        # On demand, the job's context comes without its optional pipelineExecutionId, for it
        # and for its continuations.
        unnamed = EMU.control("POST", "/_gantry/codepipeline/jobs", {
            "pipeline": self.pipeline, "stage": "Deploy", "action": "Shift", "omit_execution_id": True})
        context = self.cp.get_job_details(jobId=unnamed["job_id"])["jobDetails"]["data"]["pipelineContext"]
        self.assertEqual(context["pipelineName"], self.pipeline)
        self.assertNotIn("pipelineExecutionId", context)
        self.cp.put_job_success_result(jobId=unnamed["job_id"], continuationToken="t")
        next_id = EMU.control("GET", f"/_gantry/codepipeline/jobs/{unnamed['job_id']}")["next_job"]["job_id"]
        self.assertNotIn("pipelineExecutionId",
                         self.cp.get_job_details(jobId=next_id)["jobDetails"]["data"]["pipelineContext"])

        # Jobs live in one account/region, like in AWS; the control API takes `region`.
        elsewhere = EMU.control("POST", "/_gantry/codepipeline/jobs", {"region": "eu-west-1"})
        self.assertAwsError("JobNotFoundException", self.cp.put_job_success_result, jobId=elsewhere["job_id"])
        eu = boto3.client("codepipeline", endpoint_url=EMU.url, region_name="eu-west-1",
                          aws_access_key_id="testing", aws_secret_access_key="testing")
        eu.put_job_success_result(jobId=elsewhere["job_id"])

    def test_an_approval_is_listed_with_its_configuration_resolved(self) -> None:
        execution_id = self.start()
        EMU.control("POST", "/_gantry/codepipeline/approvals",
                    {"pipeline": self.pipeline, "stage": "Approve", "action": "Gate"})
        [gate] = self.cp.list_action_executions(
            pipelineName=self.pipeline, filter={"pipelineExecutionId": execution_id})["actionExecutionDetails"]
        self.assertEqual((gate["stageName"], gate["actionName"], gate["status"]), ("Approve", "Gate", "InProgress"))
        self.assertEqual(gate["input"]["actionTypeId"]["category"], "Approval")
        self.assertEqual(gate["input"]["configuration"]["CustomData"], "Promote #{variables.IMAGE_TAG} (#{Build.Other})?")
        # Pipeline-level variables are the execution's; other namespaces stay as written here.
        self.assertEqual(gate["input"]["resolvedConfiguration"]["CustomData"], "Promote v42 (#{Build.Other})?")

        token = self.cp.get_pipeline_state(name=self.pipeline)["stageStates"][2]["actionStates"][0][
            "latestExecution"]["token"]
        self.cp.put_approval_result(pipelineName=self.pipeline, stageName="Approve", actionName="Gate",
                                    token=token, result={"summary": "ok by jane", "status": "Approved"})
        [gate] = self.cp.list_action_executions(pipelineName=self.pipeline)["actionExecutionDetails"]
        self.assertEqual(gate["status"], "Succeeded")
        self.assertEqual(gate["output"]["executionResult"], {"externalExecutionSummary": "ok by jane"})

    def test_executions_filtered_by_the_stage_they_succeeded_in(self) -> None:
        deployed, failed, approved = self.start("a"), self.start("b"), self.start("c")
        seed = {"pipeline": self.pipeline, "stage": "Deploy", "action": "Shift"}
        EMU.control("POST", "/_gantry/codepipeline/action-executions",
                    {**seed, "execution_id": deployed, "status": "Succeeded"})
        EMU.control("POST", "/_gantry/codepipeline/action-executions",
                    {**seed, "execution_id": failed, "status": "Failed"})
        gate = EMU.control("POST", "/_gantry/codepipeline/approvals", {
            "pipeline": self.pipeline, "stage": "Approve", "action": "Gate", "execution_id": approved})
        self.cp.put_approval_result(pipelineName=self.pipeline, stageName="Approve", actionName="Gate",
                                    result={"summary": "ok", "status": "Approved"}, token=gate["token"])

        def succeeded_in(stage: str, **extra: Any) -> list[str]:
            out = self.cp.list_pipeline_executions(
                pipelineName=self.pipeline, filter={"succeededInStage": {"stageName": stage}}, **extra)
            return [e["pipelineExecutionId"] for e in out["pipelineExecutionSummaries"]]

        self.assertEqual(succeeded_in("Deploy"), [deployed])
        self.assertEqual(succeeded_in("Approve"), [approved])
        self.assertEqual(succeeded_in("Source"), [])
        # An execution that succeeded as a whole ran every stage; newest first.
        EMU.control("POST", f"/_gantry/codepipeline/executions/{self.pipeline}/{failed}",
                    {"status": "Succeeded"})
        self.assertEqual(succeeded_in("Deploy"), [failed, deployed])
        page = self.cp.list_pipeline_executions(pipelineName=self.pipeline, maxResults=2)
        self.assertEqual([e["pipelineExecutionId"] for e in page["pipelineExecutionSummaries"]],
                         [approved, failed])
        self.assertIn("nextToken", page)

    def test_rollback_stage_starts_a_rollback_to_an_execution_that_succeeded_there(self) -> None:
        good, bad = self.start("r-1"), self.start("r-2")
        seed = {"pipeline": self.pipeline, "stage": "Deploy", "action": "Shift"}
        EMU.control("POST", "/_gantry/codepipeline/action-executions",
                    {**seed, "execution_id": good, "status": "Succeeded"})
        EMU.control("POST", "/_gantry/codepipeline/action-executions",
                    {**seed, "execution_id": bad, "status": "Failed"})
        rollback = lambda target, stage="Deploy": self.cp.rollback_stage(  # noqa: E731
            pipelineName=self.pipeline, stageName=stage, targetPipelineExecutionId=target)

        # Refused as CodePipeline refuses.
        for code, target, stage in [("UnableToRollbackStageException", bad, "Deploy"),
                                    ("UnableToRollbackStageException", good, "Source"),
                                    ("StageNotFoundException", good, "Nope"),
                                    ("PipelineExecutionNotFoundException", str(uuid.uuid4()), "Deploy"),
                                    ("ValidationException", "not-an-id", "Deploy")]:
            with self.subTest(code=code, stage=stage):
                self.assertAwsError(code, rollback, target=target, stage=stage)
        # A stage busy with another execution: ConflictException.
        EMU.control("POST", "/_gantry/codepipeline/action-executions",
                    {**seed, "execution_id": bad, "status": "InProgress"})
        self.assertAwsError("ConflictException", rollback, target=good)
        EMU.control("POST", "/_gantry/codepipeline/action-executions",
                    {**seed, "execution_id": bad, "status": "Failed"})

        new = rollback(good)["pipelineExecutionId"]
        execution = self.cp.get_pipeline_execution(pipelineName=self.pipeline, pipelineExecutionId=new)
        e = execution["pipelineExecution"]
        self.assertEqual(e["executionType"], "ROLLBACK")
        self.assertEqual(e["rollbackMetadata"]["rollbackTargetPipelineExecutionId"], good)
        self.assertEqual(e["artifactRevisions"], [{"name": "Image", "revisionId": "sha256:abc"}])
        # A rollback is never a rollback's target.
        EMU.control("POST", f"/_gantry/codepipeline/executions/{self.pipeline}/{new}", {"status": "Succeeded"})
        self.assertAwsError("UnableToRollbackStageException", rollback, target=new)

    def test_rollback_stage_is_refused_in_parallel_mode(self) -> None:
        self.pipeline = make_pipeline(EMU, mode="PARALLEL")
        good = self.start("pr-1")
        EMU.control("POST", f"/_gantry/codepipeline/executions/{self.pipeline}/{good}", {"status": "Succeeded"})
        self.assertAwsError("UnableToRollbackStageException", self.cp.rollback_stage, pipelineName=self.pipeline,
                            stageName="Deploy", targetPipelineExecutionId=good)

    def test_action_executions_and_state(self) -> None:
        first, second = self.start("a"), self.start("b")
        seed = {"pipeline": self.pipeline, "stage": "Deploy", "action": "Shift", "status": "InProgress",
                "external_execution_id": "req-1", "summary": "shifting"}
        EMU.control("POST", "/_gantry/codepipeline/action-executions", {**seed, "execution_id": first})
        time.sleep(0.01)
        created = EMU.control("POST", "/_gantry/codepipeline/action-executions", {**seed, "execution_id": second})
        replaced = EMU.control("POST", "/_gantry/codepipeline/action-executions", {
            **seed, "execution_id": second, "status": "Succeeded", "summary": "done",
            "external_execution_url": "https://example.com/run/1"})
        self.assertEqual(replaced["actionExecutionId"], created["actionExecutionId"])

        details = self.cp.list_action_executions(pipelineName=self.pipeline)["actionExecutionDetails"]
        self.assertEqual([d["pipelineExecutionId"] for d in details], [second, first])  # newest first
        latest = details[0]
        self.assertEqual(latest["status"], "Succeeded")
        self.assertEqual(latest["input"]["actionTypeId"],
                         {"category": "Invoke", "owner": "AWS", "provider": "Lambda", "version": "1"})
        self.assertEqual(latest["input"]["configuration"]["FunctionName"], "gantry-shift")
        self.assertEqual(latest["output"]["executionResult"], {
            "externalExecutionId": "req-1", "externalExecutionSummary": "done",
            "externalExecutionUrl": "https://example.com/run/1"})
        self.assertGreater(latest["lastUpdateTime"], latest["startTime"])

        only_first = self.cp.list_action_executions(
            pipelineName=self.pipeline, filter={"pipelineExecutionId": first})["actionExecutionDetails"]
        self.assertEqual([d["status"] for d in only_first], ["InProgress"])
        page = self.cp.list_action_executions(pipelineName=self.pipeline, maxResults=1)
        rest = self.cp.list_action_executions(pipelineName=self.pipeline, maxResults=1, nextToken=page["nextToken"])
        self.assertEqual(rest["actionExecutionDetails"][0]["pipelineExecutionId"], first)
        self.assertNotIn("nextToken", rest)
        self.assertAwsError("PipelineExecutionNotFoundException", self.cp.list_action_executions,
                            pipelineName=self.pipeline, filter={"pipelineExecutionId": str(uuid.uuid4())})
        self.assertAwsError("PipelineNotFoundException", self.cp.list_action_executions, pipelineName="nope")

        state = self.cp.get_pipeline_state(name=self.pipeline)
        self.assertEqual(state["pipelineName"], self.pipeline)
        self.assertEqual(state["pipelineVersion"], 1)
        self.assertEqual([s["stageName"] for s in state["stageStates"]], ["Source", "Deploy", "Approve"])
        deploy = state["stageStates"][1]
        self.assertEqual(deploy["latestExecution"], {"pipelineExecutionId": second, "status": "Succeeded"})
        shift = deploy["actionStates"][0]["latestExecution"]
        self.assertEqual((shift["status"], shift["summary"], shift["externalExecutionId"]),
                         ("Succeeded", "done", "req-1"))
        self.assertNotIn("latestExecution", state["stageStates"][0])
        self.assertAwsError("PipelineNotFoundException", self.cp.get_pipeline_state, name="nope")

    def test_start_refuses_what_codepipeline_refuses(self) -> None:
        def start(**kwargs: Any) -> Any:
            return self.cp.start_pipeline_execution(name=self.pipeline, **kwargs)

        def message(**kwargs: Any) -> str:
            with self.assertRaises(ClientError) as ctx:
                start(**kwargs)
            self.assertEqual(error_code(ctx.exception), "ValidationException")
            return ctx.exception.response["Error"]["Message"]

        self.assertIn("'PUSHER' is not declared", message(variables=[{"name": "PUSHER", "value": "mona"}]))
        self.assertIn("Member must satisfy enum value set: [COMMIT_ID, IMAGE_DIGEST, S3_OBJECT_VERSION_ID, "
                      "S3_OBJECT_KEY]", message(sourceRevisions=[
                          {"actionName": "Image", "revisionType": "BRANCH", "revisionValue": "main"}]))
        self.assertIn("no source action named 'Shift'", message(sourceRevisions=[
            {"actionName": "Shift", "revisionType": "COMMIT_ID", "revisionValue": "abc"}]))
        self.assertIn("more than once", message(variables=[{"name": "BRANCH", "value": "a"},
                                                           {"name": "BRANCH", "value": "b"}]))
        self.assertEqual(EMU.control("GET", f"/_gantry/codepipeline/starts?pipeline={self.pipeline}"), [])
        self.assertEqual(self.cp.list_pipeline_executions(pipelineName=self.pipeline)
                         ["pipelineExecutionSummaries"], [])  # nothing refused started anything

        # A started execution carries every declared variable, defaults included.
        execution_id = start()["pipelineExecutionId"]
        execution = self.cp.get_pipeline_execution(
            pipelineName=self.pipeline, pipelineExecutionId=execution_id)["pipelineExecution"]
        self.assertEqual(execution["variables"], [{"name": "IMAGE_TAG", "resolvedValue": "latest"},
                                                  {"name": "BRANCH", "resolvedValue": "-"}])

    def test_create_pipeline_checks_mode_and_variables(self) -> None:
        iam = EMU.client("iam")
        role = iam.get_role(RoleName=iam.list_roles()["Roles"][-1]["RoleName"])["Role"]["Arn"]
        base = {"roleArn": role, "artifactStore": {"type": "S3", "location": "bucket"}, "stages": [
            {"name": n, "actions": [{"name": n, "actionTypeId": {
                "category": "Approval", "owner": "AWS", "provider": "Manual", "version": "1"}}]}
            for n in ("A", "B")]}
        for bad in ({"executionMode": "PARALLEL"}, {"variables": [{"name": "X"}]},
                    {"pipelineType": "V2", "executionMode": "LIFO"},
                    {"pipelineType": "V2", "variables": [{"name": "X"}, {"name": "X"}]}):
            self.assertAwsError("ValidationException", self.cp.create_pipeline,
                                pipeline={"name": f"bad-{uuid.uuid4().hex[:6]}", **base, **bad})

    def approval(self, execution_id: str) -> dict[str, Any]:
        return EMU.control("POST", "/_gantry/codepipeline/approvals", {
            "pipeline": self.pipeline, "stage": "Approve", "action": "Gate", "execution_id": execution_id})

    def status(self, execution_id: str) -> str:
        return self.cp.get_pipeline_execution(
            pipelineName=self.pipeline, pipelineExecutionId=execution_id)["pipelineExecution"]["status"]

    def test_superseded_mode_overtakes_an_execution_waiting_between_stages(self) -> None:
        first = self.start("s-1")
        self.approval(first)  # first is inside the Approve stage: a newer execution cannot overtake it
        second = self.start("s-2")  # second now waits between stages
        self.assertEqual((self.status(first), self.status(second)), ("InProgress", "InProgress"))
        status, error = EMU.control_error("POST", "/_gantry/codepipeline/approvals", {
            "pipeline": self.pipeline, "stage": "Approve", "action": "Gate", "execution_id": second})
        self.assertEqual((status, error["error"]), (400, "StageOccupied"))  # one execution per stage
        third = self.start("s-3")
        self.assertEqual([self.status(e) for e in (first, second, third)], ["InProgress", "Superseded", "InProgress"])
        execution = self.cp.get_pipeline_execution(pipelineName=self.pipeline, pipelineExecutionId=second)
        self.assertEqual(execution["pipelineExecution"]["executionMode"], "SUPERSEDED")
        starts = EMU.control("GET", f"/_gantry/codepipeline/starts?pipeline={self.pipeline}")
        self.assertEqual([s["superseded"] for s in starts], [[], [], [second]])

    def test_queued_mode_supersedes_nothing_and_runs_one_execution_per_stage(self) -> None:
        self.pipeline = make_pipeline(EMU, mode="QUEUED")
        first, second, third = self.start("q-1"), self.start("q-2"), self.start("q-3")
        self.assertEqual([self.status(e) for e in (first, second, third)], ["InProgress"] * 3)
        gate = self.approval(first)
        self.assertEqual(EMU.control_error("POST", "/_gantry/codepipeline/approvals", {
            "pipeline": self.pipeline, "stage": "Approve", "action": "Gate", "execution_id": second})[0], 400)
        self.cp.put_approval_result(pipelineName=self.pipeline, stageName="Approve", actionName="Gate",
                                    token=gate["token"], result={"summary": "ok", "status": "Approved"})
        self.approval(second)  # the stage is free: the next in line enters it
        summaries = self.cp.list_pipeline_executions(pipelineName=self.pipeline)["pipelineExecutionSummaries"]
        self.assertEqual({s["executionMode"] for s in summaries}, {"QUEUED"})

    def test_parallel_mode_approvals_each_wait_with_their_own_token(self) -> None:
        self.pipeline = make_pipeline(EMU, mode="PARALLEL")
        first, second, third = self.start("p-1"), self.start("p-2"), self.start("p-3")
        self.assertEqual([self.status(e) for e in (first, second, third)], ["InProgress"] * 3)
        seeded = {e: self.approval(e)["token"] for e in (first, second)}

        details = self.cp.list_action_executions(pipelineName=self.pipeline)["actionExecutionDetails"]
        waiting = {d["pipelineExecutionId"]: d["output"]["executionResult"]["externalExecutionId"]
                   for d in details if d["status"] == "InProgress"}
        self.assertEqual(waiting, seeded)  # each waiting approval, its token as externalExecutionId
        gate = self.cp.get_pipeline_state(name=self.pipeline)["stageStates"][2]["actionStates"][0]
        self.assertNotIn("token", gate["latestExecution"])  # "not available" in PARALLEL mode

        def put(token: str, status: str = "Approved") -> Any:
            return self.cp.put_approval_result(pipelineName=self.pipeline, stageName="Approve", actionName="Gate",
                                               token=token, result={"summary": "ok", "status": status})

        put(seeded[first])  # the older one, while the newer still waits: both are live
        put(seeded[second], "Rejected")
        self.assertAwsError("InvalidApprovalTokenException", put, token=seeded[first])  # answered
        expired = EMU.control("POST", "/_gantry/codepipeline/approvals", {
            "pipeline": self.pipeline, "stage": "Approve", "action": "Gate", "execution_id": third,
            "expires_in_seconds": 0})
        self.assertAwsError("InvalidApprovalTokenException", put, token=expired["token"])
        self.assertAwsError("InvalidApprovalTokenException", put, token=str(uuid.uuid4()))
        records = EMU.control("GET", f"/_gantry/codepipeline/approvals?pipeline={self.pipeline}")
        self.assertEqual([(r["execution_id"], r["status"]) for r in records],
                         [(first, "Approved"), (second, "Rejected"), (third, "InProgress")])


def cbor_call(operation: str, params: dict[str, Any], key: str = "testing") -> tuple[int, Any, dict[str, Any]]:
    """A CloudWatch call as the Rust SDK sends it (RPC v2 CBOR), signed with access key `key`."""
    model = botocore.session.get_session().get_service_model("cloudwatch").operation_model(operation)
    request = create_serializer("smithy-rpc-v2-cbor").serialize_to_request(params, model)
    aws_request = AWSRequest(method="POST", url=EMU.url + request["url_path"],
                             data=request["body"], headers=request["headers"])
    SigV4Auth(Credentials(key, "testing"), "monitoring", REGION).add_auth(aws_request)
    prepared = aws_request.prepare()
    http = urllib.request.Request(prepared.url, data=prepared.body, headers=dict(prepared.headers))
    try:
        with urllib.request.urlopen(http) as response:
            status, headers, body = response.status, response.headers, response.read()
    except urllib.error.HTTPError as exc:
        status, headers, body = exc.code, exc.headers, exc.read()
    parsed = create_parser("smithy-rpc-v2-cbor").parse(
        {"body": body, "headers": dict(headers), "status_code": status}, model.output_shape)
    return status, headers, parsed


HOOK = os.path.join(os.path.dirname(HERE), "hooks", "ecs_smoke_hook.py")


def hook_event(stage: str, hook_details: dict[str, Any] | None = None) -> dict[str, Any]:
    """ECS's lifecycle hook payload (INTERFACES.md)."""
    blue = f"arn:aws:ecs:{REGION}:{ACCOUNT}:service/c/blue"
    green = f"arn:aws:ecs:{REGION}:{ACCOUNT}:service/c/green"
    return {"executionId": str(uuid.uuid4()), "lifecycleStage": stage, "resourceArn": green,
            "hookDetails": hook_details or {},
            "executionDetails": {"serviceArn": green,
                                 "targetServiceRevisionArn": f"arn:aws:ecs:{REGION}:{ACCOUNT}:task-definition/app:2",
                                 "testTrafficWeights": {green: 100, blue: 0},
                                 "productionTrafficWeights": {green: 0, blue: 100}}}


class LambdaHookTest(unittest.TestCase):
    """Invoke over Lambda's real wire protocol runs a registered local program (no Docker)."""

    def setUp(self) -> None:
        self.name = f"smoke-{uuid.uuid4().hex[:8]}"
        self.arn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{self.name}"
        self.lam = EMU.client("lambda")

    def register(self, env: dict[str, str] | None = None, function: str | None = None) -> None:
        EMU.control("POST", "/_gantry/lambda/functions",
                    {"function": function or self.arn, "command": [sys.executable, HOOK], "env": env or {}})

    def invoke(self, event: dict[str, Any], function: str | None = None) -> tuple[dict[str, Any], str | None]:
        out = self.lam.invoke(FunctionName=function or self.arn, InvocationType="RequestResponse",
                              Payload=json.dumps(event).encode())
        self.assertEqual(out["StatusCode"], 200)
        return json.loads(out["Payload"].read()), out.get("FunctionError")

    def test_a_hook_answers_in_progress_twice_then_succeeded_counting_in_hook_details(self) -> None:
        self.register({"HOOK_MODE": "in_progress", "HOOK_IN_PROGRESS_TIMES": "2", "HOOK_CALLBACK_DELAY": "5"})
        details: dict[str, Any] = {}
        statuses = []
        for _ in range(3):
            answer, error = self.invoke(hook_event("POST_TEST_TRAFFIC_SHIFT", details), function=self.name)
            self.assertIsNone(error)
            statuses.append(answer["hookStatus"])
            details = answer["hookDetails"]  # ECS hands the answer's hookDetails back
        self.assertEqual(statuses, ["IN_PROGRESS", "IN_PROGRESS", "SUCCEEDED"])
        self.assertEqual((details["calls"], answer["callBackDelay"]), (3, 5))

        invocations = EMU.control("GET", f"/_gantry/lambda/invocations?function={self.name}")
        self.assertEqual([i["payload"]["hookDetails"].get("calls") for i in invocations], [None, 1, 2])
        self.assertEqual([i["response"]["hookStatus"] for i in invocations], statuses)
        self.assertEqual(sorted(i["at"] for i in invocations), [i["at"] for i in invocations])  # in order
        self.assertIn("lambda:InvokeFunction", EMU.control("GET", "/_gantry/calls")["testing"])

    def test_a_failing_hook_answers_failed_and_only_where_told(self) -> None:
        self.register({"HOOK_MODE": "fail", "HOOK_ONLY_AT": "POST_TEST_TRAFFIC_SHIFT"})
        self.assertEqual(self.invoke(hook_event("PRE_SCALE_UP"))[0]["hookStatus"], "SUCCEEDED")
        self.assertEqual(self.invoke(hook_event("POST_TEST_TRAFFIC_SHIFT")), (
            {"hookStatus": "FAILED", "callBackDelay": 1,
             "hookDetails": {"calls": 1, "stage": "POST_TEST_TRAFFIC_SHIFT"}}, None))
        # hookDetails overrides the environment, as an ECS hook's configured details would.
        answer, _ = self.invoke(hook_event("POST_TEST_TRAFFIC_SHIFT", {"mode": "succeed"}))
        self.assertEqual(answer["hookStatus"], "SUCCEEDED")

    def test_a_throwing_hook_is_a_function_error(self) -> None:
        self.register({"HOOK_MODE": "throw"})
        answer, error = self.invoke(hook_event("TEST_TRAFFIC_SHIFT"))
        self.assertEqual(error, "Unhandled")
        self.assertEqual((answer["errorType"], answer["errorMessage"]),
                         ("HookError", "smoke hook failed hard at TEST_TRAFFIC_SHIFT"))
        answer, error = self.invoke({"not": "an ECS event"})  # a bad event throws too
        self.assertEqual((error, answer["errorType"]), ("Unhandled", "HookError"))
        [*_, last] = EMU.control("GET", f"/_gantry/lambda/invocations?function={self.arn}")
        self.assertEqual(last["function_error"], "Unhandled")

    def test_only_a_function_that_exists_can_be_invoked(self) -> None:
        with self.assertRaises(ClientError) as ctx:
            self.invoke(hook_event("PRE_SCALE_UP"))
        self.assertEqual(error_code(ctx.exception), "ResourceNotFoundException")
        self.assertEqual(ctx.exception.response["ResponseMetadata"]["HTTPStatusCode"], 404)
        # A function moto knows, registered by name, is invoked by ARN (and ARN:qualifier).
        role = EMU.client("iam").create_role(RoleName=f"fn-{self.name}", AssumeRolePolicyDocument=json.dumps(
            {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                     "Principal": {"Service": "lambda.amazonaws.com"}}]}))
        import io
        import zipfile
        code = io.BytesIO()
        with zipfile.ZipFile(code, "w") as z:
            z.writestr("hook.py", "def handler(event, context):\n    return {}\n")
        created = self.lam.create_function(FunctionName=self.name, Runtime="python3.12", Role=role["Role"]["Arn"],
                                           Handler="hook.handler", Code={"ZipFile": code.getvalue()})
        self.assertEqual(created["FunctionArn"], self.arn)
        self.register(function=self.name)
        self.assertEqual(self.invoke(hook_event("PRE_SCALE_UP"), function=f"{self.arn}:$LATEST")[0]["hookStatus"],
                         "SUCCEEDED")
        self.assertEqual(self.lam.invoke(FunctionName=self.name, InvocationType="DryRun")["StatusCode"], 204)


class CallLogTest(unittest.TestCase):
    def test_each_callers_operations_are_named_as_iam_names_them(self) -> None:
        def client(service: str, key: str) -> Any:
            return boto3.client(service, endpoint_url=EMU.url, region_name=REGION,
                                aws_access_key_id=key, aws_secret_access_key="testing")

        pipeline = make_pipeline(EMU)
        client("codepipeline", "log-json").get_pipeline(name=pipeline)  # JSON: X-Amz-Target
        topic = client("sns", "log-query").create_topic(Name="call-log")["TopicArn"]  # query: Action=
        client("sns", "log-query").publish(TopicArn=topic, Message="hi")
        cbor_call("DescribeAlarms", {}, key="log-cbor")  # RPC v2 CBOR: the path
        calls = EMU.control("GET", "/_gantry/calls")
        self.assertEqual(calls["log-json"], ["codepipeline:GetPipeline"])
        self.assertEqual(calls["log-query"], ["sns:CreateTopic", "sns:Publish"])
        self.assertEqual(calls["log-cbor"], ["cloudwatch:DescribeAlarms"])  # signed "monitoring"
        # The query body was read for its Action and put back: moto still got the Name.
        self.assertEqual(client("sns", "x").list_topics()["Topics"], [{"TopicArn": topic}])


class ResetTest(unittest.TestCase):
    def test_reset_wipes_moto_and_plugin_state(self) -> None:
        pipeline = make_pipeline(EMU)
        EMU.control("POST", "/_gantry/codepipeline/approvals",
                    {"pipeline": pipeline, "stage": "Approve", "action": "Gate"})
        self.assertEqual(EMU.control("POST", "/_gantry/reset"), {"reset": True})
        self.assertEqual(EMU.control("GET", f"/_gantry/codepipeline/approvals?pipeline={pipeline}"), [])
        self.assertEqual(EMU.client("codepipeline").list_pipelines()["pipelines"], [])
        self.assertEqual(EMU.control("GET", "/_gantry/calls"), {"testing": ["codepipeline:ListPipelines"]})


class StrictAsAwsTest(unittest.TestCase):
    """Where a laxer emulator would hide bugs, it is as strict as CodePipeline and ECS: a
    continuation comes later, a job times out, a stopped execution abandons its job, and an ECS
    deployment takes time and can fail."""

    def setUp(self) -> None:
        self.cp = EMU.client("codepipeline")
        self.pipeline = make_pipeline(EMU)
        self.execution = self.cp.start_pipeline_execution(name=self.pipeline)["pipelineExecutionId"]

    def job(self, **extra: Any) -> str:
        return EMU.control("POST", "/_gantry/codepipeline/jobs", {
            "pipeline": self.pipeline, "stage": "Deploy", "action": "Shift",
            "execution_id": self.execution, **extra})["job_id"]

    def view(self, job_id: str, wait: bool = False) -> dict[str, Any]:
        return EMU.control("GET", f"/_gantry/codepipeline/jobs/{job_id}?wait={int(wait)}")

    def status(self) -> str:
        return self.cp.get_pipeline_execution(
            pipelineName=self.pipeline, pipelineExecutionId=self.execution)["pipelineExecution"]["status"]

    def refused(self, job_id: str) -> str:
        with self.assertRaises(ClientError) as ctx:
            self.cp.put_job_success_result(jobId=job_id)
        return error_code(ctx.exception)

    def test_a_continuation_is_delivered_after_a_delay_not_at_once(self) -> None:
        self.assertGreater(EMU.control("GET", "/_gantry/settings")["continuation_delay_seconds"], 0)
        job_id = self.job(continuation_delay_seconds=0.6)
        handed_over = time.time()
        self.cp.put_job_success_result(jobId=job_id, continuationToken="t")
        now = self.view(job_id)
        self.assertEqual(now["status"], "Continued")
        self.assertNotIn("next_job", now)
        self.assertGreater(now["next_job_due"], handed_over + 0.5)
        # Waiting for it (the harness's default) hands it over no sooner than it is due.
        later = self.view(job_id, wait=True)
        self.assertGreaterEqual(time.time(), handed_over + 0.6)
        self.assertEqual(later["next_job"]["event"]["CodePipeline.job"]["data"]["continuationToken"], "t")

    def test_a_job_times_out_when_its_actions_limit_passes_continuations_included(self) -> None:
        job_id = self.job(action_timeout_seconds=0.8, continuation_delay_seconds=0)
        self.cp.put_job_success_result(jobId=job_id, continuationToken="t")
        next_id = self.view(job_id, wait=True)["next_job"]["job_id"]
        time.sleep(0.9)  # the action's limit counts from its first job
        self.assertEqual(self.view(next_id)["status"], "TimedOut")
        self.assertEqual(self.refused(next_id), "InvalidJobStateException")
        self.assertEqual(self.status(), "Failed")

    def test_stopping_with_abandon_abandons_the_job_and_refuses_its_later_result(self) -> None:
        job_id = self.job()
        self.cp.stop_pipeline_execution(pipelineName=self.pipeline, pipelineExecutionId=self.execution,
                                        abandon=True, reason="stopped by a person")
        self.assertEqual(self.status(), "Stopped")
        self.assertEqual(self.view(job_id)["status"], "Abandoned")
        self.assertEqual(self.refused(job_id), "InvalidJobStateException")
        with self.assertRaises(ClientError) as ctx:
            self.cp.stop_pipeline_execution(pipelineName=self.pipeline, pipelineExecutionId=self.execution)
        self.assertEqual(error_code(ctx.exception), "DuplicatedStopRequestException")

    def test_a_continuation_abandoned_before_its_delivery_is_never_delivered(self) -> None:
        job_id = self.job(continuation_delay_seconds=0.5)
        self.cp.put_job_success_result(jobId=job_id, continuationToken="t")
        self.cp.stop_pipeline_execution(pipelineName=self.pipeline, pipelineExecutionId=self.execution,
                                        abandon=True)
        view = self.view(job_id, wait=True)
        self.assertEqual(view["status"], "Continued")
        self.assertNotIn("next_job", view)
        self.assertNotIn("next_job_due", view)

    def test_stopping_without_abandon_lets_the_job_finish_then_the_execution_is_stopped(self) -> None:
        job_id = self.job(continuation_delay_seconds=0)
        self.cp.stop_pipeline_execution(pipelineName=self.pipeline, pipelineExecutionId=self.execution)
        self.assertEqual(self.status(), "Stopping")
        self.cp.put_job_success_result(jobId=job_id, continuationToken="t")  # it may still hand over
        next_id = self.view(job_id, wait=True)["next_job"]["job_id"]
        self.assertEqual(self.status(), "Stopping")
        self.cp.put_job_success_result(jobId=next_id)
        self.assertEqual(self.status(), "Stopped")

    def service(self, image: str) -> tuple[Any, str, str]:
        """A service running app:1 with two tasks, and a task definition running `image`."""
        ecs = EMU.client("ecs")
        cluster = f"c-{uuid.uuid4().hex[:8]}"
        ecs.create_cluster(clusterName=cluster)

        def register(image: str) -> str:
            return ecs.register_task_definition(family=cluster, containerDefinitions=[
                {"name": "app", "image": image, "memory": 512}])["taskDefinition"]["taskDefinitionArn"]

        first = register("app:1")
        ecs.create_service(cluster=cluster, serviceName="s", taskDefinition=first, desiredCount=2)
        return ecs, cluster, register(image)

    def test_an_ecs_deployment_is_in_progress_while_its_tasks_start_then_completes(self) -> None:
        ecs, cluster, second = self.service("app:2")
        ecs.update_service(cluster=cluster, service="s", taskDefinition=second, desiredCount=2)
        service = ecs.describe_services(cluster=cluster, services=["s"])["services"][0]
        self.assertEqual([(d["status"], d.get("rolloutState"), d["runningCount"]) for d in service["deployments"]],
                         [("PRIMARY", "IN_PROGRESS", 0), ("ACTIVE", "COMPLETED", 2)])
        self.assertEqual(service["runningCount"], 2)  # the old tasks serve meanwhile
        done = until(lambda: (lambda s: s if len(s["deployments"]) == 1 else None)(
            ecs.describe_services(cluster=cluster, services=["s"])["services"][0]))
        [deployment] = done["deployments"]
        self.assertEqual((deployment["rolloutState"], deployment["taskDefinition"], deployment["runningCount"]),
                         ("COMPLETED", second, 2))

    def test_an_ecs_deployment_whose_tasks_fail_to_start_fails(self) -> None:
        bad = f"app:broken-{uuid.uuid4().hex[:6]}"
        EMU.control("POST", "/_gantry/ecs/failing-images", {"image": bad})
        ecs, cluster, second = self.service(bad)
        ecs.update_service(cluster=cluster, service="s", taskDefinition=second)
        failed = until(lambda: (lambda s: s if s["deployments"][0]["rolloutState"] != "IN_PROGRESS" else None)(
            ecs.describe_services(cluster=cluster, services=["s"])["services"][0]))
        primary = failed["deployments"][0]
        self.assertEqual((primary["rolloutState"], primary["runningCount"], primary["failedTasks"]), ("FAILED", 0, 2))
        self.assertIn("tasks failed to start", primary["rolloutStateReason"])
        self.assertEqual(failed["runningCount"], 2)  # the old deployment's tasks
        EMU.control("POST", "/_gantry/ecs/failing-images", {"image": bad, "failing": False})


class NativeServicesTest(unittest.TestCase):
    """What moto does natively for the other services Gantry uses (see tests/emulator/README.md),
    plus the two plugin fixes: settled ECS deployments and drivable target health."""

    def test_ecs_deployment_settles(self) -> None:
        ecs = EMU.client("ecs")
        ecs.create_cluster(clusterName="c")

        def register(image: str) -> str:
            return ecs.register_task_definition(family="app", containerDefinitions=[
                {"name": "app", "image": image, "memory": 512}])["taskDefinition"]["taskDefinitionArn"]

        v1, v2 = register("app:1"), register("app:2")
        self.assertTrue(v2.endswith(":2"))
        self.assertEqual(ecs.describe_task_definition(taskDefinition="app")["taskDefinition"]["revision"], 2)
        ecs.create_service(cluster="c", serviceName="s", taskDefinition=v1, desiredCount=2)
        ecs.update_service(cluster="c", service="s", taskDefinition=v2, desiredCount=3)
        service = until(lambda: (lambda s: s if len(s["deployments"]) == 1 else None)(
            ecs.describe_services(cluster="c", services=["s"])["services"][0]))
        self.assertEqual(service["taskDefinition"], v2)
        [deployment] = service["deployments"]
        self.assertEqual((deployment["status"], deployment["rolloutState"], deployment["taskDefinition"]),
                         ("PRIMARY", "COMPLETED", v2))
        self.assertEqual((deployment["runningCount"], deployment["desiredCount"], service["runningCount"]), (3, 3, 3))

    def test_auto_scaling_suspended_state_of_an_ecs_service(self) -> None:
        ecs, aas = EMU.client("ecs"), EMU.client("application-autoscaling")
        ecs.create_cluster(clusterName="scaled")
        definition = ecs.register_task_definition(family="scaled", containerDefinitions=[
            {"name": "app", "image": "app:1", "memory": 512}])["taskDefinition"]["taskDefinitionArn"]
        ecs.create_service(cluster="scaled", serviceName="blue", taskDefinition=definition, desiredCount=2)
        target = dict(ServiceNamespace="ecs", ResourceId="service/scaled/blue",
                      ScalableDimension="ecs:service:DesiredCount")

        def described() -> dict[str, Any]:
            [t] = aas.describe_scalable_targets(ServiceNamespace="ecs", ResourceIds=["service/scaled/blue"],
                                                ScalableDimension="ecs:service:DesiredCount")["ScalableTargets"]
            return t

        with self.assertRaises(ClientError) as ctx:  # a new target needs its capacity range
            aas.register_scalable_target(**target)
        self.assertEqual(error_code(ctx.exception), "ValidationException")
        with self.assertRaises(ClientError) as ctx:  # only an existing service can be a target
            aas.register_scalable_target(**{**target, "ResourceId": "service/scaled/nope"}, MinCapacity=1, MaxCapacity=4)
        self.assertEqual(error_code(ctx.exception), "ValidationException")

        aas.register_scalable_target(**target, MinCapacity=2, MaxCapacity=10)
        t = described()
        self.assertEqual((t["MinCapacity"], t["MaxCapacity"]), (2, 10))
        self.assertEqual(t["SuspendedState"], {k: False for k in (
            "DynamicScalingInSuspended", "DynamicScalingOutSuspended", "ScheduledScalingSuspended")})
        self.assertIn(":role/aws-service-role/ecs.application-autoscaling.amazonaws.com/", t["RoleARN"])

        # What a deployment does: suspend scale-in, leaving the rest (and the range) as it was.
        aas.register_scalable_target(**target, SuspendedState={"ScheduledScalingSuspended": True})
        aas.register_scalable_target(**target, SuspendedState={"DynamicScalingInSuspended": True})
        t = described()
        self.assertEqual(t["SuspendedState"], {"DynamicScalingInSuspended": True, "DynamicScalingOutSuspended": False,
                                               "ScheduledScalingSuspended": True})
        self.assertEqual((t["MinCapacity"], t["MaxCapacity"]), (2, 10))
        with self.assertRaises(ClientError) as ctx:
            aas.register_scalable_target(**target, MinCapacity=11)
        self.assertEqual(error_code(ctx.exception), "ValidationException")

    def test_elbv2_weights_rules_and_target_health(self) -> None:
        ec2, elb = EMU.client("ec2"), EMU.client("elbv2")
        vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
        subnets = [ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{i}.0/24", AvailabilityZone=f"{REGION}{z}")
                   ["Subnet"]["SubnetId"] for i, z in ((1, "a"), (2, "b"))]
        lb = elb.create_load_balancer(Name="lb", Subnets=subnets)["LoadBalancers"][0]["LoadBalancerArn"]
        blue, green = (elb.create_target_group(Name=n, Protocol="HTTP", Port=80, VpcId=vpc, TargetType="ip")
                       ["TargetGroups"][0]["TargetGroupArn"] for n in ("blue", "green"))

        def forward(blue_weight: int) -> list[dict[str, Any]]:
            return [{"Type": "forward", "ForwardConfig": {"TargetGroups": [
                {"TargetGroupArn": blue, "Weight": blue_weight},
                {"TargetGroupArn": green, "Weight": 100 - blue_weight}]}}]

        listener = elb.create_listener(LoadBalancerArn=lb, Protocol="HTTP", Port=80,
                                       DefaultActions=forward(100))["Listeners"][0]["ListenerArn"]
        elb.modify_listener(ListenerArn=listener, DefaultActions=forward(90))
        action = elb.describe_listeners(ListenerArns=[listener])["Listeners"][0]["DefaultActions"][0]
        self.assertEqual({g["TargetGroupArn"]: g["Weight"] for g in action["ForwardConfig"]["TargetGroups"]},
                         {blue: 90, green: 10})

        rule = elb.create_rule(ListenerArn=listener, Priority=10, Actions=forward(100), Conditions=[
            {"Field": "path-pattern", "PathPatternConfig": {"Values": ["/api/*"]}}])["Rules"][0]["RuleArn"]
        elb.modify_rule(RuleArn=rule, Actions=forward(50))
        rules = elb.describe_rules(RuleArns=[rule])["Rules"]
        self.assertEqual([g["Weight"] for g in rules[0]["Actions"][0]["ForwardConfig"]["TargetGroups"]], [50, 50])

        changes = EMU.control("GET", f"/_gantry/elbv2/weight-changes?arn={listener}")["changes"]
        self.assertEqual([c["weights"] for c in changes], [{blue: 90, green: 10}])
        rule_changes = EMU.control("GET", f"/_gantry/elbv2/weight-changes?arn={rule}")["changes"]
        self.assertEqual([c["weights"] for c in rule_changes], [{blue: 50, green: 50}])

        elb.register_targets(TargetGroupArn=green, Targets=[{"Id": "10.0.1.10", "Port": 8080}])

        def health() -> list[str]:
            return [d["TargetHealth"]["State"] for d in
                    elb.describe_target_health(TargetGroupArn=green)["TargetHealthDescriptions"]]

        self.assertEqual(health(), ["healthy"])
        EMU.control("POST", "/_gantry/elbv2/target-health", {"target_group_arn": green, "state": "unhealthy"})
        described = elb.describe_target_health(TargetGroupArn=green)["TargetHealthDescriptions"][0]
        self.assertEqual(described["TargetHealth"]["State"], "unhealthy")
        self.assertEqual(described["TargetHealth"]["Reason"], "Target.FailedHealthChecks")
        EMU.control("POST", "/_gantry/elbv2/target-health", {"target_group_arn": green, "state": "healthy"})
        self.assertEqual(health(), ["healthy"])

    def test_cloudwatch_alarms(self) -> None:
        cw = EMU.client("cloudwatch")
        cw.put_metric_alarm(AlarmName="canary-5xx", MetricName="HTTPCode_Target_5XX_Count",
                            Namespace="AWS/ApplicationELB", Statistic="Sum", Period=60, EvaluationPeriods=1,
                            Threshold=1, ComparisonOperator="GreaterThanOrEqualToThreshold")
        cw.set_alarm_state(AlarmName="canary-5xx", StateValue="ALARM", StateReason="test")
        [alarm] = cw.describe_alarms(AlarmNames=["canary-5xx"])["MetricAlarms"]
        self.assertEqual(alarm["StateValue"], "ALARM")
        self.assertEqual([a["AlarmName"] for a in cw.describe_alarms(StateValue="ALARM")["MetricAlarms"]],
                         ["canary-5xx"])

    def test_cloudwatch_over_rpcv2_cbor(self) -> None:
        """The Rust SDK's wire format for CloudWatch, built with botocore's CBOR codec."""
        def call(operation: str, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
            status, headers, parsed = cbor_call(operation, params)
            self.assertEqual((headers["Content-Type"], headers["smithy-protocol"]), ("application/cbor", "rpc-v2-cbor"))
            return status, parsed

        status, _ = call("PutMetricAlarm", {
            "AlarmName": "cbor-alarm", "MetricName": "Errors", "Namespace": "AWS/Lambda", "Statistic": "Sum",
            "Period": 60, "EvaluationPeriods": 1, "Threshold": 1.5, "ComparisonOperator": "GreaterThanThreshold"})
        self.assertEqual(status, 200)
        call("SetAlarmState", {"AlarmName": "cbor-alarm", "StateValue": "ALARM", "StateReason": "r"})
        status, out = call("DescribeAlarms", {"AlarmNames": ["cbor-alarm"]})
        [alarm] = out["MetricAlarms"]
        self.assertEqual((alarm["StateValue"], alarm["Threshold"]), ("ALARM", 1.5))
        self.assertIsInstance(alarm["StateUpdatedTimestamp"], datetime.datetime)  # a CBOR tag-1 timestamp
        status, out = call("SetAlarmState", {"AlarmName": "missing", "StateValue": "OK", "StateReason": "r"})
        self.assertEqual((status, out["Error"]["Code"]), (404, "ResourceNotFound"))

    def test_alb_metrics_read_back_as_sums_and_percentiles(self) -> None:
        """What an ALB publishes per target group, read back with GetMetricData as the shifter
        will: sums per 60-second period, a missing 5xx point when there were none, and p99."""
        lb = f"arn:aws:elasticloadbalancing:{REGION}:{ACCOUNT}:loadbalancer/app/shop/50dc6c495c0c9188"
        blue = f"arn:aws:elasticloadbalancing:{REGION}:{ACCOUNT}:targetgroup/blue/73e2d6bc24d8a067"
        green = f"arn:aws:elasticloadbalancing:{REGION}:{ACCOUNT}:targetgroup/green/943f017f100becff"
        t0 = (int(time.time()) // 60 - 10) * 60
        blue_times = [0.001 * (i + 1) for i in range(1000)]  # 1..1000 ms: p99 = 990 ms, p99.9 = 999 ms
        green_times = alb_metrics.lognormal_times(200, median=0.05, sigma=0.5, seed=3)
        for minute in range(3):
            alb_metrics.publish_period(EMU.url, lb, blue, t0 + 60 * minute + 5, 1000, 2 * minute, blue_times)
            alb_metrics.publish_period(EMU.url, lb, green, t0 + 60 * minute + 5, 200, 0, green_times)

        def query(qid: str, tg: str, metric: str, stat: str) -> dict[str, Any]:
            dims = [{"Name": "LoadBalancer", "Value": "app/shop/50dc6c495c0c9188"},
                    {"Name": "TargetGroup", "Value": tg.split(":")[-1]}]
            return {"Id": qid, "MetricStat": {"Metric": {"Namespace": "AWS/ApplicationELB", "MetricName": metric,
                                                         "Dimensions": dims}, "Period": 60, "Stat": stat}}

        cw = EMU.client("cloudwatch")
        out = cw.get_metric_data(
            MetricDataQueries=[query("br", blue, "RequestCount", "Sum"), query("be", blue, "HTTPCode_Target_5XX_Count", "Sum"),
                               query("bp", blue, "TargetResponseTime", "p99"), query("bq", blue, "TargetResponseTime", "p99.9"),
                               query("bn", blue, "TargetResponseTime", "SampleCount"),
                               query("ba", blue, "TargetResponseTime", "Average"),
                               query("gr", green, "RequestCount", "Sum"), query("ge", green, "HTTPCode_Target_5XX_Count", "Sum"),
                               query("gp", green, "TargetResponseTime", "p99")],
            StartTime=datetime.datetime.fromtimestamp(t0 - 120, datetime.timezone.utc),
            EndTime=datetime.datetime.fromtimestamp(t0 + 300, datetime.timezone.utc), ScanBy="TimestampAscending")
        series = {r["Id"]: r for r in out["MetricDataResults"]}
        minutes = [datetime.datetime.fromtimestamp(t0 + 60 * m, datetime.timezone.utc) for m in range(3)]
        self.assertEqual(series["br"]["Timestamps"], minutes)  # periods start on the minute
        self.assertEqual(series["br"]["Values"], [1000.0] * 3)
        self.assertEqual(series["be"]["Values"], [2.0, 4.0])  # minute 0 had none: no point, as ALB
        self.assertEqual(series["be"]["Timestamps"], minutes[1:])
        self.assertEqual([round(v, 6) for v in series["bp"]["Values"]], [0.99] * 3)
        self.assertEqual([round(v, 6) for v in series["bq"]["Values"]], [0.999] * 3)
        self.assertEqual(series["bn"]["Values"], [1000.0] * 3)
        self.assertAlmostEqual(series["ba"]["Values"][0], 0.5005)
        self.assertEqual(series["gr"]["Values"], [200.0] * 3)
        self.assertEqual(series["ge"]["Values"], [])
        self.assertEqual(series["gp"]["Values"][0], sorted(green_times)[197])  # nearest rank: ceil(0.99 x 200)

        with self.assertRaises(ClientError) as refused:  # only AWS publishes into AWS/ namespaces
            cw.put_metric_data(Namespace="AWS/ApplicationELB", MetricData=[{"MetricName": "RequestCount", "Value": 1}])
        self.assertEqual(refused.exception.response["Error"]["Code"], "InvalidParameterValue")
        with self.assertRaises(ClientError) as bad:
            cw.get_metric_data(MetricDataQueries=[query("x", blue, "RequestCount", "median")],
                               StartTime=datetime.datetime.fromtimestamp(t0, datetime.timezone.utc),
                               EndTime=datetime.datetime.fromtimestamp(t0 + 60, datetime.timezone.utc))
        self.assertEqual(bad.exception.response["Error"]["Code"], "InvalidParameterValue")

        # The Rust SDK's protocol: the same figures through the CBOR bridge.
        status, _, parsed = cbor_call("GetMetricData", {
            "MetricDataQueries": [query("gp", green, "TargetResponseTime", "p99"), query("br", blue, "RequestCount", "Sum")],
            "StartTime": datetime.datetime.fromtimestamp(t0, datetime.timezone.utc),
            "EndTime": datetime.datetime.fromtimestamp(t0 + 180, datetime.timezone.utc)})
        self.assertEqual(status, 200, parsed)
        cbor = {r["Id"]: r for r in parsed["MetricDataResults"]}
        self.assertEqual(cbor["br"]["Values"], [1000.0] * 3)
        self.assertEqual(cbor["gp"]["Values"][0], sorted(green_times)[197])

        # Your own metrics, published with PutMetricData, get percentiles too (Values + Counts).
        cw.put_metric_data(Namespace="Shop", MetricData=[{
            "MetricName": "Latency", "Timestamp": datetime.datetime.fromtimestamp(t0 + 1, datetime.timezone.utc),
            "Values": [1.0, 2.0, 100.0], "Counts": [50, 49, 1]}])
        own = cw.get_metric_data(
            MetricDataQueries=[{"Id": "p", "MetricStat": {"Metric": {"Namespace": "Shop", "MetricName": "Latency"},
                                                          "Period": 60, "Stat": "p99"}},
                               {"Id": "m", "MetricStat": {"Metric": {"Namespace": "Shop", "MetricName": "Latency"},
                                                          "Period": 60, "Stat": "Maximum"}}],
            StartTime=datetime.datetime.fromtimestamp(t0, datetime.timezone.utc),
            EndTime=datetime.datetime.fromtimestamp(t0 + 60, datetime.timezone.utc))
        self.assertEqual({r["Id"]: r["Values"] for r in own["MetricDataResults"]}, {"p": [2.0], "m": [100.0]})

    def test_dynamodb_conditional_put_and_ttl(self) -> None:
        ddb = EMU.client("dynamodb")
        ddb.create_table(TableName="locks", BillingMode="PAY_PER_REQUEST",
                         KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                         AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}])
        ddb.update_time_to_live(TableName="locks", TimeToLiveSpecification={"Enabled": True, "AttributeName": "ttl"})
        self.assertEqual(ddb.describe_time_to_live(TableName="locks")["TimeToLiveDescription"]
                         ["TimeToLiveStatus"], "ENABLED")
        put = dict(TableName="locks", Item={"pk": {"S": "p"}, "ttl": {"N": "1"}},
                   ConditionExpression="attribute_not_exists(pk)")
        ddb.put_item(**put)
        with self.assertRaises(ClientError) as ctx:
            ddb.put_item(**put)
        self.assertEqual(error_code(ctx.exception), "ConditionalCheckFailedException")
        # moto never expires items: a ttl in the past is still there.
        self.assertIn("Item", ddb.get_item(TableName="locks", Key={"pk": {"S": "p"}}))

    def test_dynamodb_conditional_writes_are_atomic(self) -> None:
        """Optimistic concurrency: every successful `version = :v` write is one increment."""
        ddb = EMU.client("dynamodb")
        ddb.create_table(TableName="counters", BillingMode="PAY_PER_REQUEST",
                         KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                         AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}])
        # A record of some size, like Gantry's: moto copies the item between reading it and
        # checking the condition, which is where unserialized writers overtake each other.
        notes = {"L": [{"M": {"id": {"S": f"n{i}"}, "at": {"N": str(i)}}} for i in range(300)]}
        ddb.put_item(TableName="counters", Item={"pk": {"S": "c"}, "version": {"N": "0"}, "notes": notes})
        wins = []

        def bump() -> None:
            client = EMU.client("dynamodb")
            for _ in range(8):
                v = client.get_item(TableName="counters", Key={"pk": {"S": "c"}},
                                    ConsistentRead=True)["Item"]["version"]["N"]
                try:
                    client.update_item(TableName="counters", Key={"pk": {"S": "c"}},
                                       UpdateExpression="SET version = :next",
                                       ConditionExpression="version = :seen",
                                       ExpressionAttributeValues={":seen": {"N": v},
                                                                  ":next": {"N": str(int(v) + 1)}})
                    wins.append(v)
                except ClientError as e:
                    self.assertEqual(error_code(e), "ConditionalCheckFailedException")

        threads = [threading.Thread(target=bump) for _ in range(10)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        final = int(ddb.get_item(TableName="counters", Key={"pk": {"S": "c"}})["Item"]["version"]["N"])
        self.assertEqual(final, len(wins), "two writers passed the same condition")
        self.assertEqual(len(set(wins)), len(wins))

    def test_dynamodb_conditional_updates_are_atomic(self) -> None:
        import concurrent.futures
        ddb = EMU.client("dynamodb")
        ddb.create_table(TableName="claims", BillingMode="PAY_PER_REQUEST",
                         KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                         AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}])
        for round_ in range(5):
            key = {"pk": {"S": f"claim-{round_}"}}
            ddb.put_item(TableName="claims", Item={**key, "status": {"S": "waiting"}})

            def claim(who: str) -> bool:
                client = EMU.client("dynamodb")
                try:
                    client.update_item(TableName="claims", Key=key, UpdateExpression="SET #s = :d, who = :w",
                                       ConditionExpression="#s = :waiting", ExpressionAttributeNames={"#s": "status"},
                                       ExpressionAttributeValues={":d": {"S": "deciding"}, ":w": {"S": who},
                                                                  ":waiting": {"S": "waiting"}})
                    return True
                except ClientError as e:
                    self.assertEqual(error_code(e), "ConditionalCheckFailedException")
                    return False

            with concurrent.futures.ThreadPoolExecutor(8) as pool:
                won = list(pool.map(claim, [f"u{i}" for i in range(8)]))
            self.assertEqual(won.count(True), 1, won)

    def test_sns_to_sqs_and_secrets(self) -> None:
        sns, sqs, sm = EMU.client("sns"), EMU.client("sqs"), EMU.client("secretsmanager")
        topic = sns.create_topic(Name="events")["TopicArn"]
        queue = sqs.create_queue(QueueName="events-q")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn,
                      Attributes={"RawMessageDelivery": "true"})
        sns.publish(TopicArn=topic, Message='{"deploy":"ok"}', Subject="s")
        messages = sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=1)["Messages"]
        self.assertEqual(messages[0]["Body"], '{"deploy":"ok"}')

        sm.create_secret(Name="slack", SecretString='{"webhook":"https://hooks.example/x"}')
        self.assertIn("webhook", sm.get_secret_value(SecretId="slack")["SecretString"])


if __name__ == "__main__":
    unittest.main(verbosity=2)
