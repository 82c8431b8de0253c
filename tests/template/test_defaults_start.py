"""The hub's defaults deploy a working hub with zero services: every function, given the
environment template.yaml resolves for it with every parameter at its default (resolve.py), and
running under its own role's policies against the emulator, starts under the Lambda Runtime API and
asks for its first event (`/next`). It starts the same with a service registered (the registry
entry service/template.yaml writes, in the emulator's Parameter Store). An init error (a variable the defaults leave invalid, such as empty approver
rules) fails the test with the function's own message. Each names its release (`gantry_version`)
in one log line at init.

    python tests/template/test_defaults_start.py   # GANTRY_EMULATOR_URL set, binaries built
"""

from __future__ import annotations

import json
import os
import sys
import tomllib
import unittest
import urllib.request
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "lambda_rie"))
sys.path.insert(0, os.path.join(ROOT, "tests", "emulator"))
os.environ.setdefault("SAM_CLI_TELEMETRY", "0")

import boto3  # noqa: E402
import resolve  # noqa: E402
from harness import STATE_TABLE_KEYS  # noqa: E402
from runtime_api import InitError, LambdaProcess  # noqa: E402

EMULATOR = os.environ.get("GANTRY_EMULATOR_URL", "")
TARGET = os.environ.get("CARGO_TARGET_DIR") or os.path.join(ROOT, "target")
BINARIES = ["webhook", "notifier", "approval", "traffic-shifter"]


def control(path: str, body: dict) -> dict:
    request = urllib.request.Request(EMULATOR + path, data=json.dumps(body).encode(), method="POST",
                                     headers={"content-type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.loads(response.read())


def workspace_version() -> str:
    with open(os.path.join(ROOT, "Cargo.toml"), "rb") as f:
        return tomllib.load(f)["workspace"]["package"]["version"]


def defaults() -> dict:
    """The template's own default for every parameter that declares one."""
    out = {}
    for name, spec in resolve.sam_template()["Parameters"].items():
        if "Default" in spec:
            default = spec["Default"]
            out[name] = str(default).split(",") if spec["Type"] == "CommaDelimitedList" else str(default)
    return out


class DefaultsStart(unittest.TestCase):
    @classmethod
    def setUpClass(cls) -> None:
        if not EMULATOR:
            raise unittest.SkipTest("GANTRY_EMULATOR_URL is not set")
        aws = dict(endpoint_url=EMULATOR, region_name=resolve.REGION,
                   aws_access_key_id="testing", aws_secret_access_key="testing")
        suffix = uuid.uuid4().hex[:8]
        table = f"gantry-defaults-{suffix}"
        boto3.client("dynamodb", **aws).create_table(
            TableName=table, BillingMode="PAY_PER_REQUEST", **STATE_TABLE_KEYS)
        secret = boto3.client("secretsmanager", **aws).create_secret(
            Name=f"gantry/defaults-{suffix}",
            SecretString=json.dumps({"github_webhook_secrets": ["gh"], "gitlab_webhook_tokens": ["gl"],
                                     "slack_signing_secret": "signing", "slack_bot_token": "xoxb-1"}))["ARN"]
        topic = boto3.client("sns", **aws).create_topic(Name=f"gantry-defaults-{suffix}")["TopicArn"]
        sqs = boto3.client("sqs", **aws)
        queue = sqs.create_queue(QueueName=f"gantry-retry-{suffix}")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        cls.names = {"StateTable": table, "GantrySecret": secret, "Topic": topic,
                     "WebhookRetryQueue": {"Ref": queue, "Arn": queue_arn}}
        # Every parameter that has a default at its default (the sample answers only for those
        # `sam deploy` cannot leave out): ApproverUsers and ApproverGroups empty among them.
        cls.environments = resolve.Resolved(defaults(), cls.names).function_environment()

    def start(self, binary: str) -> list[dict]:
        """Starts `binary` as the template configures it, until it asks for its first event, and
        returns the JSON lines it logged meanwhile."""
        key = control("/_gantry/iam/functions", {"function": binary, "parameters": {}, "names": self.names})
        env = {**self.environments[binary], "AWS_ENDPOINT_URL": EMULATOR,
               "AWS_ACCESS_KEY_ID": key["access_key_id"],
               "AWS_SECRET_ACCESS_KEY": key["secret_access_key"], "AWS_SESSION_TOKEN": ""}
        if os.environ.get("GANTRY_SLACK_URL"):
            env["SLACK_API_URL"] = os.environ["GANTRY_SLACK_URL"] + "/api"
        path = os.path.join(TARGET, "debug", binary)
        process = LambdaProcess(path, env, name=binary)
        try:
            process.start(wait=True, timeout=60)  # raises InitError with the function's message
        except InitError as e:
            self.fail(f"{binary} did not start with the template's defaults: {e}")
        finally:
            process.stop()
        return [line.record for line in process.logs if line.record]

    def test_every_function_starts_with_the_templates_defaults_and_names_its_release(self) -> None:
        self.assertEqual(sorted(self.environments), sorted(BINARIES))
        # Zero services: the hub's defaults name none (no route, no approvers, no channel).
        self.assertEqual(json.loads(self.environments["webhook"]["GANTRY_ROUTES"]), [])
        self.assertNotIn("GANTRY_APPROVERS", self.environments["approval"])
        for binary in BINARIES:
            with self.subTest(function=binary):
                records = self.start(binary)
                # The function that runs is the one released: one line at init names the release,
                # the workspace's version (what `make release` puts in SAR's SemanticVersion).
                versions = [r.get("gantry_version") for r in records if "gantry_version" in r]
                self.assertEqual(versions, [workspace_version()], f"{binary} logged: {records}")

    def test_every_function_starts_with_a_service_registered(self) -> None:
        # The registry entry exactly as the service template writes it with the sample answers,
        # with no approvers (what made every cold start of the approval function fail once).
        service = resolve.Resolved({"ApproverUsers": "", "ApproverGroups": ""}, path=resolve.SERVICE_TEMPLATE)
        entry = service.resources["RegistryEntry"]["Properties"]
        aws = dict(endpoint_url=EMULATOR, region_name=resolve.REGION,
                   aws_access_key_id="testing", aws_secret_access_key="testing")
        name = service.resolve(entry["Name"]) + "-" + uuid.uuid4().hex[:8]
        value = service.resolve(entry["Value"])
        self.assertEqual(json.loads(value)["approvers"]["Prod"]["users"], [])
        ssm = boto3.client("ssm", **aws)
        ssm.put_parameter(Name=name, Type="String", Value=value)
        try:
            for binary in BINARIES:
                with self.subTest(function=binary):
                    self.start(binary)
        finally:
            ssm.delete_parameter(Name=name)


if __name__ == "__main__":
    unittest.main(verbosity=2)
