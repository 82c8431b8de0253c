"""Self-check of the emulator's IAM enforcement (iam_enforce.py) through boto3: a function's user
holds exactly its role's policies from template.yaml, and what those policies do not allow is
refused as AWS refuses it. Plain unittest:

    .venv/bin/python tests/emulator/test_iam.py      # exit status != 0 on failure
"""

from __future__ import annotations

import copy
import json
import os
import sys
import unittest
import uuid
from typing import Any

import boto3
from botocore.exceptions import ClientError

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from harness import STATE_TABLE_KEYS, Emulator  # noqa: E402

REGION = "us-east-1"
ACCOUNT = "123456789012"


EMU: Emulator


def setUpModule() -> None:
    global EMU
    EMU = Emulator("--enforce-iam")


def tearDownModule() -> None:
    EMU.stop()


class World:
    """A table, a secret and a topic made by the harness (the root key), and a function's user
    holding its role's policies resolved with these names."""

    def __init__(self) -> None:
        self.table = "gantry-" + uuid.uuid4().hex[:8]
        ddb = EMU.client("dynamodb")
        ddb.create_table(TableName=self.table, BillingMode="PAY_PER_REQUEST", **STATE_TABLE_KEYS)
        self.secret = EMU.client("secretsmanager").create_secret(
            Name="gantry-" + uuid.uuid4().hex[:8], SecretString="{}")["ARN"]
        self.topic = EMU.client("sns").create_topic(Name="gantry-" + uuid.uuid4().hex[:8])["TopicArn"]
        self.names = {"StateTable": self.table, "GantrySecret": self.secret, "Topic": self.topic}

    def user(self, function: str, edit: Any = None) -> dict[str, Any]:
        """The function's user; `edit` may change the resolved policies first (a user then holds
        the edited policies, made through moto's IAM API with the root key)."""
        made = EMU.control("POST", "/_gantry/iam/functions",
                           {"function": function, "parameters": {"ServiceName": "shop"}, "names": self.names})
        if edit is None:
            return made
        policies = copy.deepcopy(made["policies"])
        edit(policies)
        iam = EMU.client("iam")
        name = f"edited-{function}-{uuid.uuid4().hex[:6]}"
        iam.create_user(UserName=name)
        for p in policies:
            iam.put_user_policy(UserName=name, PolicyName=p["PolicyName"], PolicyDocument=json.dumps(p["PolicyDocument"]))
        key = iam.create_access_key(UserName=name)["AccessKey"]
        return {"access_key_id": key["AccessKeyId"], "secret_access_key": key["SecretAccessKey"], "policies": policies}

    def client(self, service: str, user: dict[str, Any]) -> Any:
        return EMU.client(service, user["access_key_id"], user["secret_access_key"])


def statement(policies: list[dict[str, Any]], sid: str) -> dict[str, Any]:
    return next(s for p in policies for s in p["PolicyDocument"]["Statement"] if s.get("Sid") == sid)


def key(pk: str) -> dict[str, Any]:
    return {"pk": {"S": pk}, "sk": {"S": "X"}}


class Enforcement(unittest.TestCase):
    def assertDenied(self, call: Any, code: str = "AccessDeniedException") -> str:
        with self.assertRaises(ClientError) as caught:
            call()
        self.assertEqual(caught.exception.response["Error"]["Code"], code, caught.exception.response)
        return caught.exception.response["Error"]["Message"]

    def test_the_webhook_writes_its_delivery_records_and_no_other_kind(self) -> None:
        w = World()
        ddb = w.client("dynamodb", w.user("webhook"))
        ddb.put_item(TableName=w.table, Item={**key("DELIVERY#github#1"), "status": {"S": "pending"}})
        self.assertIn("Item", ddb.get_item(TableName=w.table, Key=key("DELIVERY#github#1")))
        message = self.assertDenied(lambda: ddb.get_item(TableName=w.table, Key=key("DEPLOYMENT#d-1")))
        self.assertIn("dynamodb:GetItem", message)
        self.assertDenied(lambda: ddb.put_item(TableName=w.table, Item=key("APPROVAL#a")))

    def test_the_table_of_another_stack_is_refused(self) -> None:
        w, other = World(), World()
        ddb = w.client("dynamodb", w.user("webhook"))
        self.assertDenied(lambda: ddb.get_item(TableName=other.table, Key=key("DELIVERY#github#1")))

    def test_the_traffic_shifter_reads_execution_threads_but_cannot_write_them(self) -> None:
        w = World()
        ddb = w.client("dynamodb", w.user("traffic-shifter"))
        ddb.get_item(TableName=w.table, Key=key("EXECUTION#shop#e-1"))
        ddb.put_item(TableName=w.table, Item=key("DEPLOYMENT#d-1"))
        self.assertDenied(lambda: ddb.put_item(TableName=w.table, Item=key("EXECUTION#shop#e-1")))
        self.assertDenied(lambda: ddb.update_item(TableName=w.table, Key=key("EXECUTION#shop#e-1"),
                                                  UpdateExpression="SET a = :a",
                                                  ExpressionAttributeValues={":a": {"S": "x"}}))

    def test_the_traffic_shifter_queries_only_the_index_of_open_deployments(self) -> None:
        w = World()
        ddb = w.client("dynamodb", w.user("traffic-shifter"))

        def query(pk: str) -> Any:
            return ddb.query(TableName=w.table, KeyConditionExpression="#k = :pk",
                             ExpressionAttributeNames={"#k": "pk"},
                             ExpressionAttributeValues={":pk": {"S": pk}})

        query("OPEN_DEPLOYMENTS")
        ddb.delete_item(TableName=w.table, Key={"pk": {"S": "OPEN_DEPLOYMENTS"}, "sk": {"S": "DEPLOYMENT#d-1"}})
        self.assertDenied(lambda: query("APPROVAL#a-1"))
        self.assertDenied(lambda: ddb.delete_item(TableName=w.table, Key=key("DEPLOYMENT#d-1")))

    def test_the_approval_function_queries_the_refs_pushes_and_writes_none(self) -> None:
        w = World()
        webhook = w.client("dynamodb", w.user("webhook"))
        webhook.put_item(TableName=w.table, Item={**key("PUSHES#shop#refs/heads/main"), "pusher": {"S": "mona"}})
        webhook.put_item(TableName=w.table, Item=key("STARTED#shop#e-1"))
        ddb = w.client("dynamodb", w.user("approval"))

        def query(pk: str) -> Any:
            return ddb.query(TableName=w.table, KeyConditionExpression="pk = :pk",
                             ExpressionAttributeValues={":pk": {"S": pk}})

        self.assertEqual(query("PUSHES#shop#refs/heads/main")["Count"], 1)
        ddb.get_item(TableName=w.table, Key=key("STARTED#shop#e-1"))
        # A Query is held to its partition key as a GetItem is: another kind is refused.
        self.assertDenied(lambda: query("DELIVERY#github#1"))
        self.assertDenied(lambda: ddb.put_item(TableName=w.table, Item=key("STARTED#shop#e-2")))

    def test_only_the_notifier_reads_the_service_documents_and_nothing_else_in_parameter_store(self) -> None:
        w = World()
        name = "/gantry/services/shop-" + uuid.uuid4().hex[:6]
        EMU.client("ssm").put_parameter(Name=name, Value="{}", Type="String", Overwrite=True)
        EMU.client("ssm").put_parameter(Name="/other/secret-" + uuid.uuid4().hex[:6], Value="x", Type="String")
        ssm = w.client("ssm", w.user("notifier"))
        self.assertEqual(ssm.get_parameter(Name=name)["Parameter"]["Value"], "{}")
        ssm.get_parameters_by_path(Path="/gantry/services/", Recursive=False)
        self.assertDenied(lambda: ssm.get_parameter(Name="/other/secret"), "AccessDeniedException")
        self.assertDenied(lambda: ssm.get_parameters_by_path(Path="/other/"), "AccessDeniedException")
        webhook = w.client("ssm", w.user("webhook"))
        self.assertDenied(lambda: webhook.get_parameter(Name=name), "AccessDeniedException")

    def test_the_registry_index_is_written_by_the_notifier_and_only_queried_by_the_others(self) -> None:
        w = World()
        notifier = w.client("dynamodb", w.user("notifier"))
        notifier.put_item(TableName=w.table, Item={"pk": {"S": "REGISTRY"}, "sk": {"S": "shop"}})

        def query(ddb: Any) -> Any:
            return ddb.query(TableName=w.table, KeyConditionExpression="pk = :pk",
                             ExpressionAttributeValues={":pk": {"S": "REGISTRY"}})

        for function in ("webhook", "approval"):
            ddb = w.client("dynamodb", w.user(function))
            self.assertEqual(len(query(ddb)["Items"]), 1)
            self.assertDenied(lambda: ddb.put_item(TableName=w.table, Item={"pk": {"S": "REGISTRY"}, "sk": {"S": "x"}}))

    def test_a_narrowed_leading_keys_condition_refuses_what_the_template_allows(self) -> None:
        w = World()

        def narrow(policies: list[dict[str, Any]]) -> None:
            statement(policies, "ApprovalRecords")["Condition"]["ForAllValues:StringLike"]["dynamodb:LeadingKeys"] = ["APPROVAL#*"]

        full, narrowed = w.client("dynamodb", w.user("approval")), w.client("dynamodb", w.user("approval", narrow))
        action_key = key("APPROVAL_ACTION#shop#e-1#Prod#Approve")
        full.put_item(TableName=w.table, Item=action_key)
        self.assertDenied(lambda: narrowed.put_item(TableName=w.table, Item=action_key))
        narrowed.put_item(TableName=w.table, Item=key("APPROVAL#a-1"))

    def test_a_removed_permission_is_refused(self) -> None:
        w = World()

        def without_publish(policies: list[dict[str, Any]]) -> None:
            for p in policies:
                p["PolicyDocument"]["Statement"] = [s for s in p["PolicyDocument"]["Statement"]
                                                   if s.get("Sid") != "PublishToTheTopic"]

        w.client("sns", w.user("notifier")).publish(TopicArn=w.topic, Message="hi")
        sns = w.client("sns", w.user("notifier", without_publish))
        self.assertDenied(lambda: sns.publish(TopicArn=w.topic, Message="hi"), "AuthorizationError")

    def test_a_wrong_arn_is_refused(self) -> None:
        w = World()

        def other_secret(policies: list[dict[str, Any]]) -> None:
            statement(policies, "ReadTheSecret")["Resource"] = w.secret + "-other"

        w.client("secretsmanager", w.user("webhook")).get_secret_value(SecretId=w.secret)
        sm = w.client("secretsmanager", w.user("webhook", other_secret))
        self.assertDenied(lambda: sm.get_secret_value(SecretId=w.secret))

    def test_pipeline_calls_are_held_to_the_stacks_pipeline(self) -> None:
        w = World()
        cp = w.client("codepipeline", w.user("approval"))
        message = self.assertDenied(lambda: cp.get_pipeline_state(name="orders"))
        self.assertIn(f"arn:aws:codepipeline:{REGION}:{ACCOUNT}:orders", message)
        # An action the role lacks, through one of the plugin's own operations.
        self.assertDenied(lambda: w.client("codepipeline", w.user("notifier")).put_approval_result(
            pipelineName="shop", stageName="Prod", actionName="Approve",
            result={"summary": "x", "status": "Approved"}, token=str(uuid.uuid4())))

    def test_cloudwatch_through_the_cbor_bridge_is_enforced(self) -> None:
        w = World()
        EMU.client("cloudwatch").describe_alarms()
        self.assertDenied(lambda: w.client("cloudwatch", w.user("webhook")).describe_alarms(),
                          "AccessDenied")
        w.client("cloudwatch", w.user("traffic-shifter")).describe_alarms()

    def test_the_shifter_invokes_only_the_listed_hook_functions(self) -> None:
        w = World()
        listed = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:smoke-{uuid.uuid4().hex[:6]}"
        other = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:other-{uuid.uuid4().hex[:6]}"
        for arn in (listed, other):
            EMU.control("POST", "/_gantry/lambda/functions",
                        {"function": arn, "command": ["python3", "-c", "print('{\"hookStatus\": \"SUCCEEDED\"}')"]})
        shifter = EMU.control("POST", "/_gantry/iam/functions",
                              {"function": "traffic-shifter", "names": w.names,
                               "parameters": {"ServiceName": "shop", "HookFunctionArns": [listed]}})
        lam = w.client("lambda", shifter)
        answer = lam.invoke(FunctionName=listed, Payload=b"{}")
        self.assertEqual(json.loads(answer["Payload"].read()), {"hookStatus": "SUCCEEDED"})
        message = self.assertDenied(lambda: lam.invoke(FunctionName=other, Payload=b"{}"))
        self.assertIn(f"lambda:InvokeFunction on resource: {other}", message)
        # By name too: the same function, the same question.
        self.assertDenied(lambda: lam.invoke(FunctionName=other.rsplit(":", 1)[-1], Payload=b"{}"))
        # Without HookFunctionArns the role invokes nothing.
        none = w.client("lambda", w.user("traffic-shifter"))
        self.assertDenied(lambda: none.invoke(FunctionName=listed, Payload=b"{}"))

    def test_the_shifter_sets_only_scalable_targets_tagged_for_its_pipeline_in_its_account(self) -> None:
        w = World()
        ecs = EMU.client("ecs")
        cluster = "aas-" + uuid.uuid4().hex[:6]
        ecs.create_cluster(clusterName=cluster)
        task = ecs.register_task_definition(family=cluster, containerDefinitions=[
            {"name": "web", "image": "shop:1", "memory": 256}])["taskDefinition"]["taskDefinitionArn"]
        ecs.create_service(cluster=cluster, serviceName="shop-blue", taskDefinition=task, desiredCount=1)
        ecs.create_service(cluster=cluster, serviceName="other", taskDefinition=task, desiredCount=1)
        target = {"ServiceNamespace": "ecs", "ResourceId": f"service/{cluster}/shop-blue",
                  "ScalableDimension": "ecs:service:DesiredCount"}
        # Tagged for this stack's pipeline (ServiceName "shop"), as the setup asks.
        EMU.client("application-autoscaling").register_scalable_target(
            **target, MinCapacity=1, MaxCapacity=4, Tags={"gantry:pipeline": "shop"})
        # Another team's service: no tag, or another pipeline's.
        others = [{**target, "ResourceId": f"service/{cluster}/other"}]
        EMU.client("application-autoscaling").register_scalable_target(**others[0], MinCapacity=1, MaxCapacity=4)

        def other_account(policies: list[dict[str, Any]]) -> None:
            statement(policies, "SuspendScaleInDuringADeployment")["Resource"] = \
                f"arn:aws:application-autoscaling:{REGION}:210987654321:scalable-target/*"

        aas = w.client("application-autoscaling", w.user("traffic-shifter"))
        arn = aas.describe_scalable_targets(ServiceNamespace="ecs", ResourceIds=[target["ResourceId"]])[
            "ScalableTargets"][0]["ScalableTargetARN"]
        aas.register_scalable_target(**target, SuspendedState={"DynamicScalingInSuspended": True})
        message = self.assertDenied(lambda: aas.register_scalable_target(
            **others[0], SuspendedState={"DynamicScalingInSuspended": True}))
        self.assertIn("application-autoscaling:RegisterScalableTarget", message)
        narrowed = w.client("application-autoscaling", w.user("traffic-shifter", other_account))
        message = self.assertDenied(lambda: narrowed.register_scalable_target(
            **target, SuspendedState={"DynamicScalingInSuspended": False}))
        self.assertIn(f"application-autoscaling:RegisterScalableTarget on resource: {arn}", message)

    def test_the_shifter_passes_only_the_task_roles_and_tags_only_while_registering(self) -> None:
        w = World()
        shifter = w.user("traffic-shifter")
        ecs = w.client("ecs", shifter)
        container = [{"name": "web", "image": "shop:2", "memory": 256}]
        # TaskRoleArns' sample answers (tests/template/resolve.py) are the roles it may pass.
        ecs.register_task_definition(family="shop", containerDefinitions=container,
                                     taskRoleArn=f"arn:aws:iam::{ACCOUNT}:role/shop-task",
                                     tags=[{"key": "gantry:deployment", "value": "d-1"}])
        message = self.assertDenied(lambda: ecs.register_task_definition(
            family="shop", containerDefinitions=container, taskRoleArn=f"arn:aws:iam::{ACCOUNT}:role/admin"))
        self.assertIn("iam:PassRole", message)
        arn = EMU.client("ecs").list_task_definitions()["taskDefinitionArns"][0]
        self.assertDenied(lambda: ecs.tag_resource(resourceArn=arn, tags=[{"key": "k", "value": "v"}]))

    def test_unknown_keys_and_bad_signatures_are_refused(self) -> None:
        w = World()
        user = w.user("webhook")
        self.assertDenied(lambda: EMU.client("secretsmanager", "AKIANOBODY", "x").get_secret_value(SecretId=w.secret),
                          "InvalidClientTokenId")
        self.assertDenied(lambda: EMU.client("secretsmanager", user["access_key_id"], "wrong").get_secret_value(
            SecretId=w.secret), "SignatureDoesNotMatch")

    def test_job_artifact_credentials_read_the_jobs_artifacts_only(self) -> None:
        s3 = EMU.client("s3")
        bucket, other = "artifacts-" + uuid.uuid4().hex[:8], "other-" + uuid.uuid4().hex[:8]
        for b in (bucket, other):
            s3.create_bucket(Bucket=b)
            s3.put_object(Bucket=b, Key="a/b", Body=b"zip")
        job = EMU.control("POST", "/_gantry/codepipeline/jobs",
                          {"input_artifacts": [{"name": "BuildOutput", "bucket": bucket, "key": "a/b"}]})
        c = job["event"]["CodePipeline.job"]["data"]["artifactCredentials"]
        scoped = EMU.client("s3", c["accessKeyId"], c["secretAccessKey"], c["sessionToken"])
        self.assertEqual(scoped.get_object(Bucket=bucket, Key="a/b")["Body"].read(), b"zip")
        self.assertDenied(lambda: scoped.get_object(Bucket=other, Key="a/b"), "AccessDenied")


if __name__ == "__main__":
    unittest.main(verbosity=2)
