"""The demo's world: the AWS emulator and the Slack stand-in, the resources Gantry expects in an
account (as the SAM template and a user's pipeline would create them), and Gantry's functions
running under a local Lambda Runtime API.

Everything the world starts, it stops: `World` is a context manager, and the servers also watch
their stdin (they exit when the demo dies, even on SIGKILL), as the function processes watch for
their parent's death (see tests/lambda_rie/runtime_api.py).
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

import boto3

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "lambda_rie"))
sys.path.insert(0, os.path.join(ROOT, "tests", "template"))
sys.path.insert(0, os.path.join(ROOT, "tests", "emulator"))

from lambda_events import (  # noqa: E402
    ACCOUNT,
    DEMO_GITHUB_SECRET,
    DEMO_GITLAB_TOKEN,
    DEMO_SLACK_BOT_TOKEN,
    DEMO_SLACK_SIGNING_SECRET,
    REGION,
    http_response,
)
from check_calls import FUNCTIONS, calls_by_function  # noqa: E402
from harness import STATE_TABLE_KEYS  # noqa: E402
from runtime_api import InitError, LambdaProcess  # noqa: E402
from slack_view import learn_names  # noqa: E402
from transcript import Transcript  # noqa: E402

PIPELINE = "shop"
STAGES = ["Source", "Build", "DeployDev", "ApproveProd", "DeployProd"]
SLACK_NAMESPACE = "demo"
CHANNEL = "C0DEPLOYS"
# Who is who in the demo's Slack workspace.
RELEASE_LEAD = {"id": "U0LEAD", "name": "lee", "real_name": "Lee Release", "email": "lee@example.com"}
DEVELOPER = {"id": "U0MONA", "name": "mona", "real_name": "Mona Codertocat", "email": "mona@example.com"}
RELEASE_GROUP = "S0RELEASE"
# Who may approve production: the release lead and the release group, but never the change's own
# author (four eyes). The pushes are by GitHub user Codertocat, who is mona in Slack.
APPROVERS = {PIPELINE: {"ApproveProd": {"users": [RELEASE_LEAD["id"]], "groups": [RELEASE_GROUP], "four_eyes": True,
                                        "authors": {"Codertocat": DEVELOPER["id"]}},
                        # DeployProd's rule names its operators (`/gantry rollback`, `restart`):
                        # a second operator confirms what one asks for.
                        "DeployProd": {"users": [RELEASE_LEAD["id"]], "groups": [RELEASE_GROUP],
                                       "four_eyes": True}}}
# The approval function's name as Lambda gives it in the stack: its role may invoke only
# `<stack>-ApprovalFunction-*`, itself (the slash command's work after the answer).
APPROVAL_FUNCTION = "gantry-shop-ApprovalFunction-DEMO0000"


# The demo's Slack clicks and EventBridge events come from the tests' Rust builders, through this
# example of gantry-core (scripts/demo.sh builds it beside the functions).
EVENTS_TOOL = "gantry-events"
EVENTS_BUILD = "cargo build -p gantry-core --features testing --example gantry-events"


class StoryError(Exception):
    """The story did not go as told: the demo fails with this message."""


def expect(condition: Any, message: str) -> None:
    """Stops the story when what a user would see is not what the demo promises."""
    if not condition:
        raise StoryError(message)


# -- servers ------------------------------------------------------------------------------------


class Server:
    """A local server script that prints `READY <url>` and exits at stdin EOF."""

    def __init__(self, name: str, script: str, log_path: str, args: tuple[str, ...] = ()) -> None:
        self.name = name
        self.log_path = log_path
        self.log = open(log_path, "wb")
        self.proc = subprocess.Popen(
            [sys.executable, script, "--port", "0", *args],
            stdin=subprocess.PIPE,  # kept open: EOF (our death) ends the server
            stdout=subprocess.PIPE,
            stderr=self.log,
            start_new_session=True,  # Ctrl-C reaches the demo, which then stops us in order
        )
        self.url = ""

    def wait_ready(self, timeout: float = 60) -> None:
        """Reads the READY line; the URL is then in `url`."""
        lines: "queue.Queue[bytes]" = queue.Queue()
        assert self.proc.stdout is not None
        threading.Thread(target=lambda: lines.put(self.proc.stdout.readline()), daemon=True).start()
        try:
            line = lines.get(timeout=timeout).decode().strip()
        except queue.Empty:
            line = ""
        if not line.startswith("READY "):
            self.stop()
            raise StoryError(f"the {self.name} did not start (see {self.log_path})")
        self.url = line.split(" ", 1)[1]

    def stop(self) -> None:
        if self.proc.poll() is None:
            try:
                assert self.proc.stdin is not None
                self.proc.stdin.close()  # the polite way: EOF
                self.proc.terminate()
                self.proc.wait(timeout=5)
            except (subprocess.TimeoutExpired, OSError):
                self.proc.kill()
                self.proc.wait(timeout=5)
        for stream in (self.proc.stdout, self.proc.stdin):
            if stream and not stream.closed:
                try:
                    stream.close()
                except OSError:
                    pass
        self.log.close()


def http_json(method: str, url: str, body: Any = None) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read() or b"null")
    except urllib.error.HTTPError as e:
        raise StoryError(f"{method} {url}: HTTP {e.code} {e.read()[:300]!r}") from None


# -- the world ----------------------------------------------------------------------------------


@dataclass
class World:
    """What every chapter works with. `facts` carries what one chapter learned to the next."""

    transcript: Transcript
    bin_dir: str
    out_dir: str
    pids_file: Optional[str] = None
    emulator: Optional[Server] = None
    slack_sink: Optional[Server] = None
    functions: dict[str, LambdaProcess] = field(default_factory=dict)
    function_keys: dict[str, dict[str, str]] = field(default_factory=dict)
    facts: dict[str, Any] = field(default_factory=dict)
    # When each function last handled an event (time.monotonic()): its registry copy is no newer.
    last_event: dict[str, float] = field(default_factory=dict)
    # Filled by provision():
    table: str = "gantry-demo"
    secret_arn: str = ""
    topic_arn: str = ""
    queue_url: str = ""
    cluster: str = "shop"
    listener_arn: str = ""
    # The test listener (:8080) the smoke test goes through, and the shop behind it.
    test_listener_arn: str = ""
    shop: Optional["ShopStandIn"] = None
    target_groups: dict[str, str] = field(default_factory=dict)  # blue/green -> ARN
    alarms: list[str] = field(default_factory=lambda: ["shop-5xx", "shop-p99"])

    # -- lifecycle ------------------------------------------------------------------------------

    def __enter__(self) -> "World":
        os.makedirs(self.out_dir, exist_ok=True)
        # Both start at once: moto takes a few seconds to import.
        # IAM enforced: each function may do only what its role in template.yaml allows.
        self.emulator = self._serve("AWS emulator", "tests/emulator/server.py", "emulator.log", ("--enforce-iam",))
        self.slack_sink = self._serve("Slack stand-in", "tests/slack_sink/server.py", "slack.log")
        self.emulator.wait_ready()
        self.slack_sink.wait_ready()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        """Stops every function, then the servers. Safe to call twice."""
        for process in self.functions.values():
            process.stop()
        self.functions.clear()
        if self.shop is not None:
            self.shop.stop()
            self.shop = None
        for server in (self.slack_sink, self.emulator):
            if server is not None:
                server.stop()

    def _serve(self, name: str, script: str, log: str, args: tuple[str, ...] = ()) -> Server:
        server = Server(name, os.path.join(ROOT, script), os.path.join(self.out_dir, log), args)
        self._record_pid(server.proc.pid)
        return server

    def _record_pid(self, pid: Optional[int]) -> None:
        if self.pids_file and pid:
            with open(self.pids_file, "a") as f:
                f.write(f"{pid}\n")

    # -- AWS ------------------------------------------------------------------------------------

    @property
    def aws_url(self) -> str:
        assert self.emulator is not None
        return self.emulator.url

    @property
    def slack_url(self) -> str:
        """The Slack Web API base URL the functions use (`SLACK_API_URL`)."""
        assert self.slack_sink is not None
        return f"{self.slack_sink.url}/ns/{SLACK_NAMESPACE}/api"

    def client(self, service: str) -> Any:
        return boto3.client(service, endpoint_url=self.aws_url, region_name=REGION,
                            aws_access_key_id="testing", aws_secret_access_key="testing")

    def control(self, method: str, path: str, body: Any = None) -> Any:
        """The emulator's control API (`/_gantry/...`): approvals, jobs, execution status, health."""
        return http_json(method, f"{self.aws_url}/_gantry/{path.lstrip('/')}", body)

    def slack(self, method: str, path: str, body: Any = None) -> Any:
        """The Slack stand-in's control API in the demo's namespace (`calls`, `messages`, `config`)."""
        assert self.slack_sink is not None
        return http_json(method, f"{self.slack_sink.url}/ns/{SLACK_NAMESPACE}/_sink/{path.lstrip('/')}", body)

    def response_url(self, name: str) -> str:
        """A Slack `response_url` the stand-in records."""
        assert self.slack_sink is not None
        return f"{self.slack_sink.url}/ns/{SLACK_NAMESPACE}/response/{name}"

    # -- Gantry's functions ---------------------------------------------------------------------

    def binary(self, name: str) -> Optional[str]:
        path = os.path.join(self.bin_dir, name)
        return path if os.access(path, os.X_OK) else None

    def env_for(self, name: str) -> dict[str, str]:
        """A function's environment: only what INTERFACES.md lists for it, plus the standard ones."""
        common = {"GANTRY_SECRETS_ARN": self.secret_arn, "GANTRY_TABLE": self.table}
        notify = json.dumps({"default_channel": CHANNEL,
                             "pipelines": {PIPELINE: {"channel": CHANNEL, "verbosity": "stages"}}})
        approvers = json.dumps(APPROVERS)
        own = {
            "webhook": {"GANTRY_ROUTES": json.dumps(ROUTES)},
            "notifier": {"GANTRY_TOPIC_ARN": self.topic_arn, "GANTRY_NOTIFY": notify,
                         "SLACK_API_URL": self.slack_url},
            "approval": {"GANTRY_NOTIFY": notify, "AWS_LAMBDA_FUNCTION_NAME": APPROVAL_FUNCTION,
                         "GANTRY_APPROVERS": approvers, "SLACK_API_URL": self.slack_url},
            # The demo publishes each minute's load balancer metrics up front (chapters/judge.py).
            "traffic-shifter": {"GANTRY_NOTIFY": notify, "GANTRY_ANALYSIS_SETTLE_SECONDS": "-3600",
                                "SLACK_API_URL": self.slack_url},
        }[name]
        return {**common, **own, "AWS_ENDPOINT_URL": self.aws_url, "AWS_REGION": REGION,
                # Lambda hands each function its own role's credentials: here an IAM user's key
                # holding the role's policies from template.yaml, resolved for the demo's names.
                # The emulator enforces them and says which function called what (`aws_calls`).
                "AWS_ACCESS_KEY_ID": self.function_key(name)["access_key_id"],
                "AWS_SECRET_ACCESS_KEY": self.function_key(name)["secret_access_key"],
                "RUST_LOG": os.environ.get("RUST_LOG", "info")}

    def function_key(self, name: str) -> dict[str, str]:
        """The access key of the IAM user that stands for `name`'s role (made once)."""
        if name not in self.function_keys:
            parameters = {
                "ServiceName": PIPELINE,
                "DevCluster": self.cluster,
                "DevListenerArn": self.listener_arn,
                "DevBlueService": "shop-blue",
                "DevBlueTargetGroupArn": self.target_groups.get("blue", ""),
                "DevGreenService": "shop-green",
                "DevGreenTargetGroupArn": self.target_groups.get("green", ""),
                "DevAlarmNames": self.alarms,
                "DevTestListenerArn": self.test_listener_arn,
                "HookFunctionArns": [SMOKE_HOOK],
            }
            names = {"StateTable": self.table, "GantrySecret": self.secret_arn, "Topic": self.topic_arn}
            self.function_keys[name] = self.control(
                "POST", "iam/functions", {"function": name, "parameters": parameters, "names": names})
        return self.function_keys[name]

    def aws_calls(self) -> dict[str, list[str]]:
        """The AWS operations (`iam-prefix:Operation`) each function has called so far."""
        return calls_by_function(self.control("GET", "calls"))

    def function(self, name: str) -> LambdaProcess:
        """The function running under its own Runtime API; started (cold) on first use, then warm."""
        if name in self.functions and self.functions[name].running:
            return self.functions[name]
        path = self.binary(name)
        expect(path, f"{name} is not built ({os.path.join(self.bin_dir, name)})")
        t = self.transcript
        process = LambdaProcess(path, self.env_for(name), name=name, region=REGION, on_spawn=self._record_pid,
                                on_log=lambda line: self._on_log(name, line))
        self.functions[name] = process
        try:
            process.start(timeout=30)
        except InitError as e:
            raise StoryError(str(e)) from None
        t.note(f"{name} started under the Lambda Runtime API: init {process.init_duration_ms:.0f} ms "
               f"(spawn → first /next)")
        return process

    def _on_log(self, name: str, line: Any) -> None:
        """A function's log line: into the transcript; an EMF figure (delivery metrics, written by
        the notifier) is also kept in `facts["figures"]`, as CloudWatch would extract it."""
        self.transcript.log(name, line.stream, line.text, line.record)
        if line.record is not None and "_aws" in line.record:
            self.facts.setdefault("figures", []).append(line.record)

    def invoke(self, name: str, event: dict[str, Any], timeout: float = 30) -> Any:
        """Invokes a function; its error fails the story."""
        process = self.function(name)
        ok, payload = process.invoke(event, timeout=timeout)
        self.last_event[name] = time.monotonic()
        process.settle_logs()  # its log lines belong before its answer in the transcript
        expect(ok, f"{name} failed: {payload}")
        return payload

    def call_http(self, name: str, event: dict[str, Any]) -> tuple[int, Any]:
        """Sends an HTTP event (Function URL) to a function; returns the status and JSON body."""
        return http_response(self.invoke(name, event))

    def event(self, kind: str, **request: Any) -> dict[str, Any]:
        """An event as Slack or EventBridge sends it, built by the Rust builders the tests use
        (`gantry-events`, shared/core/examples/gantry_events.rs): `kind` is `codepipeline` or
        `slack-click`, `request` what it reads."""
        path = os.path.join(self.bin_dir, "examples", EVENTS_TOOL)
        expect(os.access(path, os.X_OK), f"{EVENTS_TOOL} is not built ({path}): {EVENTS_BUILD}")
        done = subprocess.run([path, kind], input=json.dumps(request), capture_output=True, text=True, timeout=30)
        expect(done.returncode == 0, f"{EVENTS_TOOL} {kind} failed: {done.stderr.strip()}")
        return json.loads(done.stdout)


# -- provisioning -------------------------------------------------------------------------------

ROUTES = [
    {"provider": "github", "repository": "Codertocat/Hello-World", "branches": ["master", "release/*"],
     "tags": ["v*"], "ignore_paths": ["docs/**", "**/*.md"], "pipeline": PIPELINE, "source_action": "Source"},
    {"provider": "gitlab", "repository": "mike/diaspora", "branches": ["master"],
     "pipeline": PIPELINE, "source_action": "Source"},
]
# The variables Gantry's webhook passes to StartPipelineExecution (a V2 pipeline declares them).
PIPELINE_VARIABLES = ["COMMIT_ID", "BRANCH", "TAG", "REPOSITORY", "AUTHOR", "COMMIT_MESSAGE", "PUSHER", "COMMIT_AUTHORS"]
IMAGE = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/shop"


def provision(world: World, on_step: Callable[[str, str], None]) -> None:
    """Creates what Gantry expects in an account; `on_step(label, what)` reports each part."""
    _state_table(world)
    _secret(world)
    on_step("state", f"DynamoDB table {world.table} (pk/sk, TTL expires_at); secret {world.secret_arn}")
    _topic(world)
    on_step("topic", f"SNS {world.topic_arn} → SQS (to read what was published)")
    _slack_workspace(world)
    on_step("workspace", f"Slack workspace: {RELEASE_LEAD['name']} (release lead, {RELEASE_LEAD['id']}) and "
                         f"{DEVELOPER['name']} (developer, GitHub Codertocat, {DEVELOPER['id']}), both in the "
                         f"release group {RELEASE_GROUP}; channel {CHANNEL}")
    on_step("approvers", f"ApproveProd: {RELEASE_LEAD['name']} and group {RELEASE_GROUP}, four eyes "
                         "(nobody approves their own change); DeployProd's operators (/gantry rollback, restart): "
                         "the same, a second one confirms")
    _service(world)
    _smoke_test(world)
    on_step("ecs", f"cluster {world.cluster}, services shop-blue (live, 2 tasks) and shop-green (idle)")
    on_step("alb", "listener :80 forwarding to shop-blue 100 / shop-green 0; alarms " + ", ".join(world.alarms))
    on_step("smoke", "test listener :8080 (same target groups); lifecycle hook smoke-test (an ECS hook function) "
                     "GETs /health through it at POST_TEST_TRAFFIC_SHIFT")
    _pipeline(world)
    # The emulator records the approval function's invocations of itself; the demo delivers them.
    world.control("POST", "lambda/functions", {"function": APPROVAL_FUNCTION, "command": ["true"]})
    on_step("pipeline", f"CodePipeline {PIPELINE}: " + " → ".join(STAGES))


def _state_table(world: World) -> None:
    ddb = world.client("dynamodb")
    ddb.create_table(TableName=world.table, BillingMode="PAY_PER_REQUEST", **STATE_TABLE_KEYS)
    ddb.update_time_to_live(TableName=world.table,
                            TimeToLiveSpecification={"Enabled": True, "AttributeName": "expires_at"})


def _secret(world: World) -> None:
    value = {"github_webhook_secrets": [DEMO_GITHUB_SECRET], "gitlab_webhook_tokens": [DEMO_GITLAB_TOKEN],
             "slack_signing_secret": DEMO_SLACK_SIGNING_SECRET, "slack_bot_token": DEMO_SLACK_BOT_TOKEN}
    world.secret_arn = world.client("secretsmanager").create_secret(
        Name="gantry/demo", SecretString=json.dumps(value))["ARN"]


def _topic(world: World) -> None:
    sns, sqs = world.client("sns"), world.client("sqs")
    world.topic_arn = sns.create_topic(Name="gantry-demo")["TopicArn"]
    world.queue_url = sqs.create_queue(QueueName="gantry-demo-subscriber")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=world.queue_url,
                                         AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=world.topic_arn, Protocol="sqs", Endpoint=queue_arn,
                  Attributes={"RawMessageDelivery": "true"})


def _slack_workspace(world: World) -> None:
    world.slack("POST", "config", {"valid_token": DEMO_SLACK_BOT_TOKEN, "users": [RELEASE_LEAD, DEVELOPER],
                                   "usergroups": {RELEASE_GROUP: [RELEASE_LEAD["id"], DEVELOPER["id"]]}})
    learn_names({RELEASE_LEAD["id"]: RELEASE_LEAD["name"], DEVELOPER["id"]: DEVELOPER["name"],
                 RELEASE_GROUP: "release"})


def _service(world: World) -> None:
    """The shop on ECS behind an ALB: blue live at 100, green idle at 0, and its alarms."""
    ec2, elb, ecs, cw = (world.client(s) for s in ("ec2", "elbv2", "ecs", "cloudwatch"))
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnets = [ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{i}.0/24", AvailabilityZone=f"{REGION}{az}")
               ["Subnet"]["SubnetId"] for i, az in ((1, "a"), (2, "b"))]
    lb = elb.create_load_balancer(Name="shop", Subnets=subnets)["LoadBalancers"][0]["LoadBalancerArn"]
    for side, last_octet in (("blue", 10), ("green", 20)):
        arn = elb.create_target_group(Name=f"shop-{side}", Protocol="HTTP", Port=8080, VpcId=vpc, TargetType="ip",
                                      HealthCheckPath="/health")["TargetGroups"][0]["TargetGroupArn"]
        elb.register_targets(TargetGroupArn=arn, Targets=[{"Id": f"10.0.{i}.{last_octet}", "Port": 8080}
                                                          for i in (1, 2)])
        world.target_groups[side] = arn
    world.listener_arn = _listener_to_blue(world, lb, 80)

    ecs.create_cluster(clusterName=world.cluster)
    task = ecs.register_task_definition(family="shop", containerDefinitions=[
        {"name": "web", "image": f"{IMAGE}:1.0.0", "memory": 512,
         "portMappings": [{"containerPort": 8080}]}])["taskDefinition"]["taskDefinitionArn"]
    for side, count in (("blue", 2), ("green", 0)):
        ecs.create_service(cluster=world.cluster, serviceName=f"shop-{side}", taskDefinition=task,
                           desiredCount=count, loadBalancers=[{"targetGroupArn": world.target_groups[side],
                                                               "containerName": "web", "containerPort": 8080}],
                           tags=[{"key": HUB_TAG["Key"], "value": HUB_TAG["Value"]}])

    # On the whole load balancer: blue and green swap roles at every deployment.
    lb_dimension = [{"Name": "LoadBalancer", "Value": lb.split(":loadbalancer/", 1)[-1]}]
    cw.put_metric_alarm(AlarmName="shop-5xx", Namespace="AWS/ApplicationELB", MetricName="HTTPCode_Target_5XX_Count",
                        Dimensions=lb_dimension, Statistic="Sum",
                        Period=60, EvaluationPeriods=1, Threshold=5, ComparisonOperator="GreaterThanThreshold")
    cw.put_metric_alarm(AlarmName="shop-p99", Namespace="AWS/ApplicationELB", MetricName="TargetResponseTime",
                        Dimensions=lb_dimension, ExtendedStatistic="p99",
                        Period=60, EvaluationPeriods=3, Threshold=0.5, ComparisonOperator="GreaterThanThreshold")
    for alarm in world.alarms:
        cw.set_alarm_state(AlarmName=alarm, StateValue="OK", StateReason="demo: healthy at start")


SMOKE_HOOK = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:smoke-test"
# The hub's roles act only on resources tagged gantry:hub=<HubName> (template.yaml's default): the
# service's stack tags its pipeline, the application's stack its services, listeners and hooks.
HUB_TAG = {"Key": "gantry:hub", "Value": "gantry"}


class ShopStandIn:
    """The shop as its test listener serves it: `GET /health` reaches the side the test listener
    forwards to, and answers 500 when that side runs an image tagged in `bad_tags` (a build that
    cannot start properly), else 200. What the smoke test hook requests."""

    def __init__(self, world: World) -> None:
        import http.server

        self.bad_tags: set[str] = set()
        stand_in = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                status = 200 if stand_in.healthy(world) else 500
                self.send_response(status)
                self.end_headers()
                self.wfile.write(b"ok" if status == 200 else b"boom")

            def log_message(self, *_args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def healthy(self, world: World) -> bool:
        # Its own session: the request threads must not share boto3's default one.
        session = boto3.session.Session()

        def client(service: str) -> Any:
            return session.client(service, endpoint_url=world.aws_url, region_name=REGION,
                                  aws_access_key_id="testing", aws_secret_access_key="testing")

        listener = client("elbv2").describe_listeners(ListenerArns=[world.test_listener_arn])["Listeners"][0]
        groups = next(a["ForwardConfig"]["TargetGroups"] for a in listener["DefaultActions"] if a["Type"] == "forward")
        target = max(groups, key=lambda g: g.get("Weight", 0))["TargetGroupArn"]
        side = next(s for s, arn in world.target_groups.items() if arn == target)
        ecs = client("ecs")
        service = ecs.describe_services(cluster=world.cluster, services=[f"shop-{side}"])["services"][0]
        task = ecs.describe_task_definition(taskDefinition=service["taskDefinition"])["taskDefinition"]
        image = next(c["image"] for c in task["containerDefinitions"] if c["name"] == "web")
        return image.rsplit(":", 1)[-1] not in self.bad_tags

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _listener_to_blue(world: World, load_balancer: str, port: int) -> str:
    """A listener on `port` forwarding to both target groups, all traffic to blue (live)."""
    return world.client("elbv2").create_listener(
        LoadBalancerArn=load_balancer, Protocol="HTTP", Port=port,
        DefaultActions=[{"Type": "forward", "ForwardConfig": {"TargetGroups": [
            {"TargetGroupArn": world.target_groups["blue"], "Weight": 100},
            {"TargetGroupArn": world.target_groups["green"], "Weight": 0}]}}],
        Tags=[HUB_TAG],
    )["Listeners"][0]["ListenerArn"]


def _smoke_test(world: World) -> None:
    """The test listener, the shop behind it, and the smoke test hook (tests/hooks/ecs_smoke_hook.py,
    a hook function written for ECS) registered as a Lambda function in the emulator."""
    elb = world.client("elbv2")
    lb = elb.describe_listeners(ListenerArns=[world.listener_arn])["Listeners"][0]["LoadBalancerArn"]
    world.test_listener_arn = _listener_to_blue(world, lb, 8080)
    world.shop = ShopStandIn(world)
    world.control("POST", "lambda/functions", {
        "function": SMOKE_HOOK, "tags": {HUB_TAG["Key"]: HUB_TAG["Value"]}, "command": [sys.executable, os.path.join(ROOT, "tests", "hooks", "ecs_smoke_hook.py")]})


def traffic_parameters(world: World) -> dict[str, Any]:
    """The traffic shifter's UserParameters for DeployProd (the contract's shape), with demo timings."""
    return {
        # The shifter checks the job against the execution CodePipeline ran it for.
        "execution_id": "#{codepipeline.PipelineExecutionId}",
        "cluster": world.cluster,
        "listener_arn": world.listener_arn,
        "blue": {"service": "shop-blue", "target_group_arn": world.target_groups["blue"]},
        "green": {"service": "shop-green", "target_group_arn": world.target_groups["green"]},
        "image": f"{IMAGE}:#{{BuildVariables.IMAGE_TAG}}",
        "container": "web",
        "strategy": {"type": "canary", "percent": 10, "bake_seconds": 4},
        "alarms": world.alarms,
        "check_interval_seconds": 1,
        "scale_down_after_seconds": 0,
        "test_listener_arn": world.test_listener_arn,
        "lifecycle_hooks": [{"hook_target_arn": SMOKE_HOOK, "lifecycle_stages": ["POST_TEST_TRAFFIC_SHIFT"],
                             "hook_details": {"smoke_url": world.shop.url + "/health" if world.shop else ""}}],
    }


def _pipeline(world: World) -> None:
    iam = world.client("iam")
    role = iam.create_role(RoleName="gantry-demo-pipeline", AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                "Principal": {"Service": "codepipeline.amazonaws.com"}}]}))["Role"]["Arn"]

    def action(name: str, category: str, provider: str, configuration: dict[str, str],
               inputs: tuple[str, ...] = (), outputs: tuple[str, ...] = ()) -> dict[str, Any]:
        return {"name": name, "runOrder": 1, "configuration": configuration,
                "actionTypeId": {"category": category, "owner": "AWS", "provider": provider, "version": "1"},
                "inputArtifacts": [{"name": a} for a in inputs], "outputArtifacts": [{"name": a} for a in outputs]}

    stages = [
        ("Source", action("Source", "Source", "CodeStarSourceConnection", {
            "ConnectionArn": f"arn:aws:codestar-connections:{REGION}:{ACCOUNT}:connection/demo",
            "FullRepositoryId": "Codertocat/Hello-World", "BranchName": "master",
            "OutputArtifactFormat": "CODE_ZIP", "DetectChanges": "false"}, outputs=("SourceOutput",))),
        ("Build", action("Build", "Build", "CodeBuild", {"ProjectName": "shop-build"},
                         inputs=("SourceOutput",), outputs=("BuildOutput",))),
        ("DeployDev", action("Deploy", "Deploy", "ECS", {"ClusterName": "shop-dev", "ServiceName": "shop",
                                                        "FileName": "imagedefinitions.json"}, inputs=("BuildOutput",))),
        ("ApproveProd", action("Approve", "Approval", "Manual", {
            "CustomData": "Canary to production: 10% for a few seconds, then all.",
            "ExternalEntityLink": "https://grafana.example.com/d/shop-dev"})),
        ("DeployProd", action("Deploy", "Invoke", "Lambda", {
            "FunctionName": "traffic-shifter",
            "UserParameters": json.dumps(traffic_parameters(world))}, inputs=("BuildOutput",))),
    ]
    world.client("codepipeline").create_pipeline(pipeline={
        "name": PIPELINE, "roleArn": role, "pipelineType": "V2", "executionMode": "SUPERSEDED",
        "artifactStore": {"type": "S3", "location": "gantry-demo-artifacts"},
        "variables": [{"name": v, "defaultValue": "-"} for v in PIPELINE_VARIABLES],
        "stages": [{"name": name, "actions": [a]} for name, a in stages],
    }, tags=[{"key": HUB_TAG["Key"], "value": HUB_TAG["Value"]}])
