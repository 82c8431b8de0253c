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
# The hub the functions' roles are resolved for (template.yaml's default HubName): they act only on
# resources tagged gantry:hub with it, as a service's stack tags what it owns.
HUB = "gantry"
HUB_TAGS = [{"Key": "gantry:hub", "Value": HUB}]


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

    def test_the_approval_function_queries_the_refs_pushes_and_writes_only_a_slash_deploys_record(self) -> None:
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
        # `/gantry deploy` records the execution it starts (its pusher is the Slack user), as the
        # webhook does; a delivery claim stays the webhook's alone.
        ddb.put_item(TableName=w.table, Item=key("STARTED#shop#e-2"))
        self.assertDenied(lambda: ddb.put_item(TableName=w.table, Item=key("DELIVERY#github#2")))

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

        # The views: written by the notifier, read by the functions that have one.
        view = {"pk": {"S": "REGISTRY_VIEW"}, "sk": {"S": "routes"}}
        notifier.put_item(TableName=w.table, Item=view)

        def get_view(ddb: Any) -> Any:
            return ddb.get_item(TableName=w.table, Key=view)

        for function in ("webhook", "traffic-shifter", "notifier"):
            ddb = w.client("dynamodb", w.user(function))
            self.assertIn("Item", get_view(ddb), function)
        for function in ("webhook", "traffic-shifter"):
            ddb = w.client("dynamodb", w.user(function))
            self.assertDenied(lambda: ddb.put_item(TableName=w.table, Item=view))
            # A view is read by its key; the index's entries are not read one by one.
            self.assertDenied(lambda: ddb.get_item(TableName=w.table, Key={"pk": {"S": "REGISTRY"}, "sk": {"S": "shop"}}))
        self.assertDenied(lambda: get_view(w.client("dynamodb", w.user("approval"))))

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

    def test_pipeline_calls_are_held_to_the_hubs_pipelines(self) -> None:
        w = World()
        cp = w.client("codepipeline", w.user("approval"))
        # "orders" does not exist, so it carries no gantry:hub tag.
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

    def test_the_shifter_invokes_only_hook_functions_tagged_for_its_hub(self) -> None:
        w = World()
        tagged = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:smoke-{uuid.uuid4().hex[:6]}"
        other = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:other-{uuid.uuid4().hex[:6]}"
        another_hub = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:theirs-{uuid.uuid4().hex[:6]}"
        for arn, tags in ((tagged, {"gantry:hub": HUB}), (other, {}), (another_hub, {"gantry:hub": "other-hub"})):
            EMU.control("POST", "/_gantry/lambda/functions",
                        {"function": arn, "tags": tags,
                         "command": ["python3", "-c", "print('{\"hookStatus\": \"SUCCEEDED\"}')"]})
        lam = w.client("lambda", w.user("traffic-shifter"))
        answer = lam.invoke(FunctionName=tagged, Payload=b"{}")
        self.assertEqual(json.loads(answer["Payload"].read()), {"hookStatus": "SUCCEEDED"})
        message = self.assertDenied(lambda: lam.invoke(FunctionName=other, Payload=b"{}"))
        self.assertIn(f"lambda:InvokeFunction on resource: {other}", message)
        # By name too: the same function, the same question.
        self.assertDenied(lambda: lam.invoke(FunctionName=other.rsplit(":", 1)[-1], Payload=b"{}"))
        self.assertDenied(lambda: lam.invoke(FunctionName=another_hub, Payload=b"{}"))

    def test_the_shifter_sets_only_scalable_targets_tagged_for_its_hub_in_its_account(self) -> None:
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
        # Tagged for this hub, as the setup asks.
        EMU.client("application-autoscaling").register_scalable_target(
            **target, MinCapacity=1, MaxCapacity=4, Tags={"gantry:hub": HUB})
        # Another team's service: no tag.
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
        # Roles tagged gantry:hub are the ones it may pass; an untagged one (admin) it may not.
        iam = EMU.client("iam")
        trust = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                                     "Principal": {"Service": "ecs-tasks.amazonaws.com"}}]})
        for role, tags in (("shop-task", HUB_TAGS), ("admin", [])):
            try:
                iam.create_role(RoleName=role, AssumeRolePolicyDocument=trust, Tags=tags)
            except ClientError:
                pass  # made by an earlier test of this run
        ecs.register_task_definition(family="shop", containerDefinitions=container,
                                     taskRoleArn=f"arn:aws:iam::{ACCOUNT}:role/shop-task",
                                     tags=[{"key": "gantry:deployment", "value": "d-1"}])
        message = self.assertDenied(lambda: ecs.register_task_definition(
            family="shop", containerDefinitions=container, taskRoleArn=f"arn:aws:iam::{ACCOUNT}:role/admin"))
        self.assertIn("iam:PassRole", message)
        arn = EMU.client("ecs").list_task_definitions()["taskDefinitionArns"][0]
        self.assertDenied(lambda: ecs.tag_resource(resourceArn=arn, tags=[{"key": "k", "value": "v"}]))

    def test_a_target_accounts_role_is_assumed_only_as_its_trust_policy_says_and_expires(self) -> None:
        w = World()
        shifter = w.user("traffic-shifter")
        target = "222222222222"
        role = EMU.control("POST", "/_gantry/iam/target-roles", {
            "account": target, "trusted": shifter["arn"], "parameters": {
                "HubAccountId": ACCOUNT, "HubTrafficShifterRoleName": "shifter", "ExternalId": "ext-1",
                "ServiceName": "shop", "Cluster": "shop", "BlueService": "shop-blue",
                "GreenService": "shop-green", "TaskRoleArns": f"arn:aws:iam::{target}:role/task",
                "ListenerArn": f"arn:aws:elasticloadbalancing:{REGION}:{target}:listener/app/shop/1/2"}})
        self.assertEqual(role["arn"], f"arn:aws:iam::{target}:role/gantry-target-shop")
        sts = w.client("sts", shifter)
        # The trust policy's external id, and nothing else, lets the shifter in.
        self.assertDenied(lambda: sts.assume_role(RoleArn=role["arn"], RoleSessionName="gantry-test", ExternalId="other"),
                          "AccessDenied")
        self.assertDenied(lambda: sts.assume_role(RoleArn=role["arn"], RoleSessionName="gantry-test"), "AccessDenied")
        # The hub role's policy names gantry-target-<ServiceName> only.
        self.assertDenied(lambda: sts.assume_role(RoleArn=f"arn:aws:iam::{target}:role/admin",
                                                  RoleSessionName="gantry-test", ExternalId="ext-1"), "AccessDenied")
        EMU.control("POST", "/_gantry/sts/lifetime", {"role_arn": role["arn"], "seconds": 1})
        c = sts.assume_role(RoleArn=role["arn"], RoleSessionName="gantry-test", ExternalId="ext-1")["Credentials"]
        ecs = EMU.client("ecs", c["AccessKeyId"], c["SecretAccessKey"], c["SessionToken"])
        # In the target account, as the role: its services, not another's.
        try:
            ecs.describe_services(cluster="shop", services=["shop-blue"])
        except ClientError as exc:  # allowed: moto answers (B has no such cluster)
            self.assertNotIn(exc.response["Error"]["Code"], ("AccessDeniedException", "ExpiredToken"))
        message = self.assertDenied(lambda: ecs.describe_services(cluster="shop", services=["other"]))
        self.assertIn(f"arn:aws:ecs:{REGION}:{target}:service/shop/other", message)
        import time
        time.sleep(1.5)
        self.assertDenied(lambda: ecs.describe_services(cluster="shop", services=["shop-blue"]), "ExpiredToken")

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


class Services(unittest.TestCase):
    """The hub's roles act on every service's resources by their gantry:hub tag: two services side
    by side, refused on an untagged one, and 100 services with the same policies as none."""

    def assertDenied(self, call: Any, code: str = "AccessDeniedException") -> str:
        with self.assertRaises(ClientError) as caught:
            call()
        self.assertEqual(caught.exception.response["Error"]["Code"], code)
        return caught.exception.response["Error"]["Message"]

    @classmethod
    def setUpClass(cls) -> None:
        iam = EMU.client("iam")
        trust = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                                     "Principal": {"Service": "codepipeline.amazonaws.com"}}]})
        cls.pipeline_role = iam.create_role(RoleName="pipeline-" + uuid.uuid4().hex[:8],
                                            AssumeRolePolicyDocument=trust)["Role"]["Arn"]
        cls.cluster = "services-" + uuid.uuid4().hex[:6]
        ecs = EMU.client("ecs")
        ecs.create_cluster(clusterName=cls.cluster)
        cls.task = ecs.register_task_definition(family=cls.cluster, containerDefinitions=[
            {"name": "web", "image": "shop:1", "memory": 256}])["taskDefinition"]["taskDefinitionArn"]

    def service(self, name: str, tagged: bool = True) -> dict[str, str]:
        """What a service's stack and its application's stack make (the root key): the pipeline,
        its registry entry, and its ECS service; tagged gantry:hub unless `tagged` is False."""
        tags = HUB_TAGS if tagged else []
        source = {"name": "Source", "actionTypeId": {"category": "Source", "owner": "AWS", "version": "1",
                                                     "provider": "CodeStarSourceConnection"},
                  "outputArtifacts": [{"name": "Source"}], "configuration": {}}
        build = {"name": "Build", "actionTypeId": {"category": "Build", "owner": "AWS", "version": "1",
                                                   "provider": "CodeBuild"},
                 "inputArtifacts": [{"name": "Source"}], "configuration": {}}
        EMU.client("codepipeline").create_pipeline(pipeline={
            "name": name, "roleArn": self.pipeline_role, "pipelineType": "V2",
            "artifactStore": {"type": "S3", "location": "gantry-artifacts"},
            "stages": [{"name": "Source", "actions": [source]}, {"name": "Build", "actions": [build]}]},
            tags=[{"key": t["Key"], "value": t["Value"]} for t in tags])
        if tagged:
            EMU.client("ssm").put_parameter(Name=f"/gantry/services/{name}", Type="String",
                                            Value=json.dumps({"routes": []}), Tags=HUB_TAGS)
        EMU.client("ecs").create_service(cluster=self.cluster, serviceName=name, taskDefinition=self.task,
                                         desiredCount=1, tags=[{"key": t["Key"], "value": t["Value"]} for t in tags])
        return {"pipeline": name, "ecs_service": name}

    def acts_on(self, w: World, users: dict[str, Any], service: dict[str, str]) -> None:
        """Each hub function's calls on `service`'s resources, as it makes them for a delivery."""
        name = service["pipeline"]
        w.client("codepipeline", users["webhook"]).start_pipeline_execution(name=name)
        w.client("codepipeline", users["notifier"]).get_pipeline(name=name)
        w.client("codepipeline", users["approval"]).get_pipeline_state(name=name)
        w.client("codepipeline", users["traffic-shifter"]).get_pipeline(name=name)
        ecs = w.client("ecs", users["traffic-shifter"])
        ecs.describe_services(cluster=self.cluster, services=[service["ecs_service"]])
        ecs.update_service(cluster=self.cluster, service=service["ecs_service"], desiredCount=1)

    def users(self, w: World) -> dict[str, Any]:
        return {f: w.user(f) for f in ("webhook", "notifier", "approval", "traffic-shifter")}

    def test_two_services_side_by_side_and_an_untagged_one_refused(self) -> None:
        w = World()
        users = self.users(w)
        for service in (self.service("shop-" + uuid.uuid4().hex[:6]), self.service("orders-" + uuid.uuid4().hex[:6])):
            self.acts_on(w, users, service)
        stranger = self.service("stranger-" + uuid.uuid4().hex[:6], tagged=False)
        name = stranger["pipeline"]
        self.assertDenied(lambda: w.client("codepipeline", users["webhook"]).start_pipeline_execution(name=name))
        self.assertDenied(lambda: w.client("codepipeline", users["notifier"]).get_pipeline(name=name))
        self.assertDenied(lambda: w.client("codepipeline", users["approval"]).get_pipeline_state(name=name))
        self.assertDenied(lambda: w.client("codepipeline", users["approval"]).put_approval_result(
            pipelineName=name, stageName="Build", actionName="Build",
            result={"summary": "x", "status": "Approved"}, token=str(uuid.uuid4())))
        ecs = w.client("ecs", users["traffic-shifter"])
        message = self.assertDenied(lambda: ecs.update_service(cluster=self.cluster, service=name, desiredCount=0))
        self.assertIn(f"service/{self.cluster}/{name}", message)

    def test_a_removed_service_loses_the_access(self) -> None:
        # Deleting a service's stack deletes its tagged pipeline: nothing of it is left to act on,
        # and a pipeline re-created by hand without the tag is refused.
        w = World()
        users = self.users(w)
        name = "gone-" + uuid.uuid4().hex[:6]
        self.service(name)
        w.client("codepipeline", users["notifier"]).get_pipeline(name=name)
        EMU.client("codepipeline").untag_resource(
            resourceArn=f"arn:aws:codepipeline:{REGION}:{ACCOUNT}:{name}", tagKeys=["gantry:hub"])
        self.assertDenied(lambda: w.client("codepipeline", users["notifier"]).get_pipeline(name=name))

    def test_only_the_notifier_reads_the_registry_and_nothing_else_in_parameter_store(self) -> None:
        w = World()
        name = "reg-" + uuid.uuid4().hex[:6]
        self.service(name)
        EMU.client("ssm").put_parameter(Name=f"/{name}/prod/db-password", Type="String", Value="x")
        # The notifier keeps the registry's index from the documents; the other functions read
        # the index, never Parameter Store.
        for function, user in self.users(w).items():
            with self.subTest(function=function):
                ssm = w.client("ssm", user)
                if function == "notifier":
                    ssm.get_parameter(Name=f"/gantry/services/{name}")
                    ssm.get_parameters_by_path(Path="/gantry/services/")
                else:
                    self.assertDenied(lambda: ssm.get_parameter(Name=f"/gantry/services/{name}"))
                self.assertDenied(lambda: ssm.get_parameter(Name=f"/{name}/prod/db-password"))
                self.assertDenied(lambda: ssm.get_parameters_by_path(Path="/"))

    def test_a_hundred_services_need_no_statement_and_every_call_is_allowed(self) -> None:
        w = World()
        before = {f: json.dumps(u["policies"], sort_keys=True) for f, u in self.users(w).items()}
        services = [self.service(f"svc{n:03d}-" + uuid.uuid4().hex[:4]) for n in range(100)]
        users = self.users(w)
        for function, user in users.items():
            with self.subTest(function=function):
                text = json.dumps(user["policies"], sort_keys=True)
                # The same policies with 100 services registered as with none: no statement,
                # resource or condition names a service.
                self.assertEqual(text, before[function])
                for service in services:
                    self.assertNotIn(service["pipeline"], text)
                # IAM's limit on a role's inline policies (10,240 characters), far from reach.
                size = sum(len(json.dumps(p["PolicyDocument"], separators=(",", ":"))) for p in user["policies"])
                self.assertLess(size, 10240, f"{function}: {size} characters")
        for service in services:
            self.acts_on(w, users, service)
        self.assertEqual(len(services), 100)


if __name__ == "__main__":
    unittest.main(verbosity=2)
