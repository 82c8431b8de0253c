"""Chapter: prod in its own AWS account, as AWS recommends. The shop's production (ECS services,
load balancer listener, alarms) moves to a second account, B; the pipeline, the state table,
Slack and Gantry's functions stay in the hub. service/target-account.yaml's role is made in B
(resolved from the template by tests/emulator/target_account.py), DeployProd's UserParameters
gain its `role_arn` and `external_id`, and a push's canary shifts B's listener: the traffic
shifter assumes the role (STS AssumeRole with the external id) for every call there. Every
weight shown is read from account B; Slack names the account."""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields
from typing import Any

import boto3

from lambda_events import ACCOUNT, REGION
from slack_view import thread_of
from world import CHANNEL, HUB_TAG, IMAGE, PIPELINE, World, expect, traffic_parameters

from . import chapter
from .again import push_up_to_prod
from .canary import STAGE, deploy, listener_weights, shares, show_services

PROD_ACCOUNT = "222222222222"
EXTERNAL_ID = "shop-prod-7f3a"  # a value only this pipeline declares (not a secret)
COMMIT = "9b8a7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b"


@dataclass
class AccountView(World):
    """The world as account B's administrator sees it: the same servers, clients signed with
    credentials of account B (moto keeps each account's resources apart)."""

    credentials: dict[str, str] = field(default_factory=dict)

    def client(self, service: str) -> Any:
        return boto3.client(service, endpoint_url=self.aws_url, region_name=REGION,
                            aws_access_key_id=self.credentials["AccessKeyId"],
                            aws_secret_access_key=self.credentials["SecretAccessKey"],
                            aws_session_token=self.credentials["SessionToken"])


def account_b(world: World) -> AccountView:
    """Account B's administrator (the role AWS Organizations creates in a member account)."""
    credentials = world.client("sts").assume_role(
        RoleArn=f"arn:aws:iam::{PROD_ACCOUNT}:role/OrganizationAccountAccessRole",
        RoleSessionName="gantry-demo")["Credentials"]
    # Its own listener, services and alarms; the rest (transcript, facts, functions) shared.
    shared = {f.name: getattr(world, f.name) for f in fields(World)}
    view = AccountView(**{**shared, "target_groups": {}, "listener_arn": "", "test_listener_arn": ""},
                       credentials=credentials)
    caller = view.client("sts").get_caller_identity()["Account"]
    expect(caller == PROD_ACCOUNT, f"the administrator's credentials act in {caller}, not {PROD_ACCOUNT}")
    return view


def provision_prod(b: AccountView) -> None:
    """The shop's production in B: blue live (2 tasks) and green idle behind a listener, and its
    alarms; what the application's own stack would create there."""
    ec2, elb, ecs, cw = (b.client(s) for s in ("ec2", "elbv2", "ecs", "cloudwatch"))
    vpc = ec2.create_vpc(CidrBlock="10.1.0.0/16")["Vpc"]["VpcId"]
    subnets = [ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.1.{i}.0/24", AvailabilityZone=f"{REGION}{az}")
               ["Subnet"]["SubnetId"] for i, az in ((1, "a"), (2, "b"))]
    lb = elb.create_load_balancer(Name="shop-prod", Subnets=subnets)["LoadBalancers"][0]["LoadBalancerArn"]
    for side, last_octet in (("blue", 10), ("green", 20)):
        b.target_groups[side] = elb.create_target_group(
            Name=f"shop-prod-{side}", Protocol="HTTP", Port=8080, VpcId=vpc, TargetType="ip",
            HealthCheckPath="/health")["TargetGroups"][0]["TargetGroupArn"]
        elb.register_targets(TargetGroupArn=b.target_groups[side],
                             Targets=[{"Id": f"10.1.{i}.{last_octet}", "Port": 8080} for i in (1, 2)])
    b.listener_arn = elb.create_listener(
        LoadBalancerArn=lb, Protocol="HTTP", Port=80,
        DefaultActions=[{"Type": "forward", "ForwardConfig": {"TargetGroups": [
            {"TargetGroupArn": b.target_groups["blue"], "Weight": 100},
            {"TargetGroupArn": b.target_groups["green"], "Weight": 0}]}}],
        Tags=[HUB_TAG])["Listeners"][0]["ListenerArn"]
    ecs.create_cluster(clusterName=b.cluster)
    task = ecs.register_task_definition(family="shop", containerDefinitions=[
        {"name": "web", "image": f"{IMAGE}:1.0.0", "memory": 512,
         "portMappings": [{"containerPort": 8080}]}])["taskDefinition"]["taskDefinitionArn"]
    for side, count in (("blue", 2), ("green", 0)):
        ecs.create_service(cluster=b.cluster, serviceName=f"shop-{side}", taskDefinition=task, desiredCount=count,
                           loadBalancers=[{"targetGroupArn": b.target_groups[side], "containerName": "web",
                                           "containerPort": 8080}],
                           tags=[{"key": HUB_TAG["Key"], "value": HUB_TAG["Value"]}])
    dimension = [{"Name": "LoadBalancer", "Value": lb.split(":loadbalancer/", 1)[-1]}]
    cw.put_metric_alarm(AlarmName="shop-5xx", Namespace="AWS/ApplicationELB", MetricName="HTTPCode_Target_5XX_Count",
                        Dimensions=dimension, Statistic="Sum", Period=60, EvaluationPeriods=1, Threshold=5,
                        ComparisonOperator="GreaterThanThreshold")
    cw.put_metric_alarm(AlarmName="shop-p99", Namespace="AWS/ApplicationELB", MetricName="TargetResponseTime",
                        Dimensions=dimension, ExtendedStatistic="p99", Period=60, EvaluationPeriods=3,
                        Threshold=0.5, ComparisonOperator="GreaterThanThreshold")
    for alarm in b.alarms:
        cw.set_alarm_state(AlarmName=alarm, StateValue="OK", StateReason="demo: healthy at start")


def make_target_role(world: World, b: AccountView) -> str:
    """service/target-account.yaml's role, made in B with the shop's names; it trusts the hub's
    traffic shifter (here the IAM user standing for its role) with the external id. Returns its ARN."""
    shifter = world.function_key("traffic-shifter")["arn"]
    made = world.control("POST", "iam/target-roles", {"account": PROD_ACCOUNT, "trusted": shifter, "parameters": {
        "HubAccountId": ACCOUNT, "HubTrafficShifterRoleName": "gantry-TrafficShifterRole-1A2B3C",
        "ExternalId": EXTERNAL_ID, "ServiceName": PIPELINE, "Cluster": b.cluster,
        "BlueService": "shop-blue", "GreenService": "shop-green", "ListenerArn": b.listener_arn,
        "TaskRoleArns": f"arn:aws:iam::{PROD_ACCOUNT}:role/shop-task", "HookFunctionArns": ""}})
    # What account B's IAM holds, read back: the role, whom it trusts, on what condition.
    role = b.client("iam").get_role(RoleName=f"gantry-target-{PIPELINE}")["Role"]
    trust = role["AssumeRolePolicyDocument"]
    trust = json.loads(trust) if isinstance(trust, str) else trust
    statements = trust["Statement"]
    expect(role["Arn"] == made["arn"] and f":{PROD_ACCOUNT}:" in role["Arn"],
           f"account B's IAM has no target role {made['arn']}")
    expect(len(statements) == 1 and statements[0]["Principal"] == {"AWS": shifter}
           and statements[0]["Condition"] == {"StringEquals": {"sts:ExternalId": EXTERNAL_ID}},
           f"the target role does not trust only the hub's shifter with the external id: {statements}")
    world.transcript.ok(f"account {PROD_ACCOUNT}'s IAM has role {role['RoleName']}: it trusts only the hub's "
                        "traffic shifter, with the external id")
    return role["Arn"]


def point_prod_at(world: World, b: AccountView, role_arn: str) -> dict[str, Any]:
    """DeployProd's UserParameters name B's cluster, listener, services and alarms, and the role.
    (No smoke-test hook or canary judge here: their listener and metrics are the hub's.)"""
    params = {k: v for k, v in traffic_parameters(world).items()
              if k not in ("test_listener_arn", "lifecycle_hooks")}
    params.update({"cluster": b.cluster, "listener_arn": b.listener_arn, "alarms": b.alarms,
                   "blue": {"service": "shop-blue", "target_group_arn": b.target_groups["blue"]},
                   "green": {"service": "shop-green", "target_group_arn": b.target_groups["green"]},
                   "role_arn": role_arn, "external_id": EXTERNAL_ID})
    client = world.client("codepipeline")
    pipeline = client.get_pipeline(name=PIPELINE)["pipeline"]
    for stage in pipeline["stages"]:
        if stage["name"] == STAGE:
            for action in stage["actions"]:
                action["configuration"]["UserParameters"] = json.dumps(params)
    client.update_pipeline(pipeline=pipeline)
    return params


@chapter("Prod in its own AWS account: the canary shifts account B's listener",
         needs=["webhook", "notifier", "approval", "traffic-shifter"])
def chapter_prod_account(world: World) -> None:
    t = world.transcript
    world.function("traffic-shifter")  # the hub's, with its own role's credentials
    b = account_b(world)
    provision_prod(b)
    t.say(f"production moves to account {PROD_ACCOUNT}; the pipeline, the table, Slack and Gantry stay in "
          f"the hub, {ACCOUNT}")
    t.detail("listener", b.listener_arn)
    t.detail("services", f"cluster {b.cluster}: shop-blue (live, 2 tasks), shop-green (idle)")
    role_arn = make_target_role(world, b)
    hub_before = listener_weights(world)
    point_prod_at(world, b, role_arn)
    t.say(f"DeployProd's UserParameters now name account {PROD_ACCOUNT}'s resources and role_arn {role_arn}, "
          "external_id; the hub's traffic shifter assumes that role for every call on the environment")

    played, thread = push_up_to_prod(world, COMMIT, "Show delivery dates at checkout", ["src/checkout.rs"])
    t.say(f"account {PROD_ACCOUNT} before:")
    show_services(b)
    # The weights are read from account B (its listener's ModifyListener record and DescribeListeners).
    run = deploy(b, played, f"Prod in account {PROD_ACCOUNT}: a canary through the target role")
    expect(run.status == "Succeeded", f"the deployment did not succeed: {run.message}")
    expect(shares(run) == [10, 100], f"expected green at 10% then 100% in B, its listener went {shares(run)}")
    expect(listener_weights(b) == (0, 100), f"account B's listener ends at {listener_weights(b)}, expected 0/100")
    expect(listener_weights(world) == hub_before,
           f"the hub's own listener moved: {hub_before} → {listener_weights(world)}")
    t.ok(f"account {PROD_ACCOUNT}'s listener: green took 10%, then all the traffic; the hub's listener did not move")
    after = show_services(b)
    green = b.client("ecs").describe_services(cluster=b.cluster, services=["shop-green"])["services"][0]
    expect(after["shop-green"]["image"] == run.image and f":{PROD_ACCOUNT}:" in green["taskDefinition"],
           f"green in B does not run the new image from a revision registered in B: {green['taskDefinition']}")
    expect(after["shop-blue"]["desired"] == 0, "blue in B, the old version, was not scaled down")
    t.ok(f"green in account {PROD_ACCOUNT} runs the new image (its revision registered there); blue is scaled to zero")

    played.stage_succeeded(STAGE, summary=run.message)
    played.finish("Succeeded")
    messages = thread_of(world.slack("GET", f"messages?channel={CHANNEL}")["messages"], thread)
    parent, replies = json.dumps(messages[0]), json.dumps(messages[1:])
    expect(f"{STAGE}* (account {PROD_ACCOUNT})" in parent or f"{STAGE} (account {PROD_ACCOUNT})" in parent,
           f"the execution's Slack message does not name account {PROD_ACCOUNT} for {STAGE}")
    expect(f"account {PROD_ACCOUNT}" in replies, f"the deployment's Slack message does not name account {PROD_ACCOUNT}")
    expect(played.status() == "Succeeded", f"CodePipeline shows the execution {played.status()}, expected Succeeded")
    t.ok(f"Slack names account {PROD_ACCOUNT} on {STAGE}'s line and in the deployment's message")
