"""Chapter 9: a second service joins the running hub from its one file, service/template.yaml.

What its stack would write is taken from the template itself: the template is resolved offline
with the service's parameters (tests/template/resolve.py, SAM CLI's intrinsic resolver), and the
resolved registry entry, pipeline and image repository are created in the emulator as
CloudFormation would create them (the pipeline's role with its trust policy only). CloudFormation
itself is not run, and the build project, the app secrets, the alarms and the roles' policies are
left out: no function of the hub reads them here.
Parameter Store's change event is delivered to the notifier as EventBridge would deliver it. The
hub is not redeployed or restarted: its functions keep running with the environment they started
with, and each re-reads the registry's index when its copy is 20 s old.

Then one push to each service: two pipelines started, two Slack channels, and in each channel an
approval request naming that service's own approvers.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

from lambda_events import ACCOUNT, ACTION_EXECUTION, DEMO_GITHUB_SECRET, PIPELINE_EXECUTION, REGION, STAGE_EXECUTION
from lambda_events import codepipeline_request, github_push_event
from slack_view import SlackView, learn_names
from transcript import short
from world import CHANNEL, HUB_TAG, PIPELINE, RELEASE_GROUP, RELEASE_LEAD, World, expect

from . import chapter
from .push import demo_push

SERVICE = "cart"
REPOSITORY = "Codertocat/cart"
CART_CHANNEL = "C0CART"
CART_LEAD = {"id": "U0KAI", "name": "kai", "real_name": "Kai Cart", "email": "kai@example.com"}
CART_GROUP = "S0CART"
# The registry's documents are re-read at most this often by each function (registry::DEFAULT_MAX_AGE_SECONDS).
REGISTRY_MAX_AGE_SECONDS = 20
HUB_FUNCTIONS = ("webhook", "notifier", "approval")


def stack_parameters() -> dict[str, Any]:
    """What the cart team answers to `sam deploy --guided` of service/template.yaml."""
    # Imported here: it loads SAM's translator (a second), which only this chapter needs.
    import resolve

    def cart(env: str) -> dict[str, Any]:
        return {k: [x.replace("shop", SERVICE) for x in v] if isinstance(v, list) else v.replace("shop", SERVICE)
                for k, v in resolve.environment(env).items()}

    return {"ServiceName": SERVICE, "RepositoryId": REPOSITORY, "SlackChannel": CART_CHANNEL,
            "ApproverUsers": CART_LEAD["id"], "ApproverGroups": CART_GROUP,
            # The hub maps no cart pusher to a Slack user (its GANTRY_PEOPLE), so with four eyes on,
            # nobody could approve the cart's change from Slack; the shop keeps four eyes.
            "FourEyes": "false",
            **cart("dev"), **cart("qa"), **cart("prod")}


def resolved_stack() -> dict[str, dict[str, Any]]:
    """The properties of the resources the hub works with, resolved from service/template.yaml."""
    import resolve

    names = {"PipelineRole": {"Ref": f"{SERVICE}-pipeline", "Arn": f"arn:aws:iam::{ACCOUNT}:role/{SERVICE}-pipeline"},
             "ArtifactBucket": f"{SERVICE}-artifacts", "BuildProject": f"{SERVICE}-build"}
    stack = resolve.Resolved(stack_parameters(), names, path=resolve.SERVICE_TEMPLATE)
    return {logical: stack._decide(stack.resources[logical]["Properties"])
            for logical in ("RegistryEntry", "PipelineRole", "Pipeline", "ImageRepository")}


# Integers in CodePipeline's API that a template may give as strings (a `!Ref` to a parameter).
NUMBERS = {"TimeoutInMinutes", "RunOrder"}


def camel(value: Any) -> Any:
    """CloudFormation's property names as CodePipeline's API spells them (Stages → stages); an
    action's Configuration is the provider's own map and keeps its keys."""
    if isinstance(value, list):
        return [camel(v) for v in value]
    if isinstance(value, dict):
        return {k[:1].lower() + k[1:]: v if k == "Configuration" else int(v) if k in NUMBERS else camel(v)
                for k, v in value.items()}
    return value


def create_stack(world: World, resources: dict[str, dict[str, Any]]) -> None:
    """Creates what the stack would, from the resolved template, in the emulator."""
    entry = resources["RegistryEntry"]
    world.client("ssm").put_parameter(Name=entry["Name"], Value=entry["Value"], Type=entry["Type"],
                                      Description=entry["Description"],
                                      Tags=[{"Key": k, "Value": v} for k, v in entry["Tags"].items()])
    role = resources["PipelineRole"]
    # Its trust policy only: CodePipeline must be able to assume it (the emulator runs no action).
    world.client("iam").create_role(RoleName=f"{SERVICE}-pipeline", Description=role["Description"],
                                    AssumeRolePolicyDocument=json.dumps(role["AssumeRolePolicyDocument"]))
    props = resources["Pipeline"]
    tags = [{"key": t["Key"], "value": t["Value"]} for t in props["Tags"]]
    pipeline = camel({k: v for k, v in props.items() if k != "Tags"})
    world.client("codepipeline").create_pipeline(pipeline=pipeline, tags=tags)
    repo = resources["ImageRepository"]
    world.client("ecr").create_repository(
        repositoryName=SERVICE, imageTagMutability=repo["ImageTagMutability"],
        imageScanningConfiguration={"scanOnPush": repo["ImageScanningConfiguration"]["ScanOnPush"]},
        tags=repo["Tags"])


def announce(world: World, name: str) -> dict[str, Any]:
    """EventBridge delivers Parameter Store's change event (its real shape) to the notifier."""
    event = {"version": "0", "id": str(uuid.uuid4()), "detail-type": "Parameter Store Change", "source": "aws.ssm",
             "account": ACCOUNT, "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "region": REGION,
             "resources": [f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter{name}"],
             "detail": {"operation": "Create", "name": name, "type": "String"}}
    return world.invoke("notifier", event)


def wait_for_fresh_registry(world: World, before: dict[str, float], name: str) -> None:
    """`name` re-reads the registry at its next event only when its copy is 20 s old: a function
    that handled an event before the service was registered may still serve its older copy, so the
    demo waits out the rest of those 20 s (the issue's bound is 60 s)."""
    last = before.get(name)
    if last is None:
        return
    left = last + REGISTRY_MAX_AGE_SECONDS + 1 - time.monotonic()
    if left > 0:
        world.transcript.note(f"{name} handled an event {REGISTRY_MAX_AGE_SECONDS + 1 - left:.0f} s ago, before {SERVICE} "
                              f"was registered; its copy of the registry is re-read once {REGISTRY_MAX_AGE_SECONDS} s "
                              f"old: waiting {left:.0f} s")
        time.sleep(left)


def push_to(world: World, repository: str, branch: str, message: str) -> tuple[str, str]:
    """A signed push of one new commit to `repository`@`branch`; returns the pipeline and the
    execution it started."""
    t = world.transcript
    push = demo_push(message, ["src/lib.rs"])
    commit = uuid.uuid4().hex + uuid.uuid4().hex[:8]
    html = f"https://github.com/{repository}"
    push.update({"ref": f"refs/heads/{branch}", "after": commit, "compare": f"{html}/compare/{commit[:12]}"})
    push["repository"].update({"full_name": repository, "name": repository.split("/", 1)[1], "html_url": html})
    push["head_commit"].update({"id": commit, "tree_id": commit[::-1], "url": f"{html}/commit/{commit}"})
    push["commits"] = [push["head_commit"]]
    t.say(f"{push['pusher']['name']} pushes \"{message}\" to {repository}@{branch} ({short(commit)})")
    status, answer = world.call_http("webhook", github_push_event(push, DEMO_GITHUB_SECRET, str(uuid.uuid4())))
    t.answer("webhook", status, answer)
    started = answer.get("started") or [] if isinstance(answer, dict) else []
    expect(status == 202 and len(started) == 1, f"the push to {repository} started nothing: {answer}")
    return started[0]["pipeline"], started[0]["execution_id"]


def approval_waits(world: World, pipeline: str, execution_id: str, stage: str, action: str) -> None:
    """As CodePipeline would: the execution starts, then its approval waits with a token. Each
    event goes where template.yaml's rules send it (all to the notifier; the approval's to approval)."""
    manual = {"owner": "AWS", "category": "Approval", "provider": "Manual"}
    world.control("POST", "codepipeline/approvals", {
        "pipeline": pipeline, "stage": stage, "action": action, "execution_id": execution_id,
        "custom_data": None, "expires_in_seconds": 7 * 24 * 3600})
    world.transcript.played(f"{pipeline}: execution STARTED, then stage {stage} STARTED: approval {action} waits"
                            "  → notifier, approval")
    def event(detail_type: str, **detail: Any) -> dict[str, Any]:
        return world.event("codepipeline", **codepipeline_request(
            detail_type, pipeline=pipeline, execution_id=execution_id, state="STARTED", **detail))

    world.invoke("notifier", event(PIPELINE_EXECUTION))
    world.invoke("notifier", event(STAGE_EXECUTION, stage=stage))
    action_event = event(ACTION_EXECUTION, stage=stage, action=action, action_type=manual)
    world.invoke("notifier", action_event)
    world.invoke("approval", action_event)


def channel_messages(world: World, channel: str) -> list[dict[str, Any]]:
    return world.slack("GET", f"messages?channel={channel}")["messages"]


def request_in(world: World, channel: str, pipeline: str, earlier: set[str]) -> str:
    """Shows what was posted in `channel` since `earlier` (the ts of the messages before the
    pushes); returns the approval request for `pipeline` among them, as posted (its Block Kit JSON)."""
    t = world.transcript
    view = SlackView()
    new = [m for m in channel_messages(world, channel) if m["ts"] not in earlier]
    for change, message, lines in view.news(new):
        t.slack(f"#{channel}: {'reply in the thread' if message.get('thread_ts') else 'new message'}")
        for line in lines:
            t.quote(line)
    requests = [json.dumps(m.get("blocks")) for m in new
                if "gantry.approval.approve" in json.dumps(m.get("blocks") or []) and pipeline in json.dumps(m)]
    expect(requests, f"no approval request for {pipeline} in #{channel}")
    expect(any(not m.get("thread_ts") and pipeline in json.dumps(m) for m in new),
           f"no message for {pipeline}'s execution in #{channel}")
    return requests[-1]


@chapter("A second service joins the running hub from its one file", needs=["webhook", "notifier", "approval"])
def chapter_onboard(world: World) -> None:
    t = world.transcript
    before = dict(world.last_event)
    # The hub's functions already running (an earlier chapter's), and their processes.
    running = {n: p.pid for n, p in world.functions.items() if p.running and n in HUB_FUNCTIONS}
    t.say(f"the {SERVICE} team deploys service/template.yaml with ServiceName={SERVICE}, "
          f"RepositoryId={REPOSITORY}, SlackChannel={CART_CHANNEL}, ApproverUsers={CART_LEAD['name']}, "
          f"ApproverGroups={CART_GROUP}, FourEyes=false; the hub is not touched")
    t.note("simulated: CloudFormation is not run. The template is resolved offline with these parameters "
           "(tests/template/resolve.py), and its registry entry, pipeline (with its role's trust policy) and image repository "
           "are created in the emulator as the stack would create them; its build project, app secrets, alarms and roles' policies "
           "are left out (no hub function reads them)")
    resources = resolved_stack()
    create_stack(world, resources)
    entry = resources["RegistryEntry"]
    document = json.loads(entry["Value"])
    t.detail("registry", f"{entry['Name']} = {short(entry['Value'], 90)}")
    t.detail("pipeline", f"{SERVICE}: " + " → ".join(s["Name"] for s in resources["Pipeline"]["Stages"]))
    stored = world.client("ssm").get_parameter(Name=entry["Name"])["Parameter"]["Value"]
    expect(json.loads(stored) == document, "the registry entry in Parameter Store is not the template's")
    tags = world.client("codepipeline").list_tags_for_resource(
        resourceArn=f"arn:aws:codepipeline:{REGION}:{ACCOUNT}:{SERVICE}")["tags"]
    expect({"key": HUB_TAG["Key"], "value": HUB_TAG["Value"]} in tags, f"the {SERVICE} pipeline is not tagged gantry:hub")
    t.ok(f"Parameter Store holds {entry['Name']}, and pipeline {SERVICE} carries gantry:hub={HUB_TAG['Value']} "
         "(what lets the hub's roles act on it)")

    # The cart team in the demo's Slack workspace.
    world.slack("POST", "config", {"users": [CART_LEAD], "usergroups": {CART_GROUP: [CART_LEAD["id"]]}})
    learn_names({CART_LEAD["id"]: CART_LEAD["name"], CART_GROUP: "cart-team"})

    t.send("EventBridge", f"delivers Parameter Store's change event (Create {entry['Name']}) to the notifier")
    synced = announce(world, entry["Name"])
    t.answer("notifier", 200, synced)
    written = (synced or {}).get("registry", {}).get("written")
    expect(written, f"the notifier did not index {entry['Name']}: {synced}")
    t.ok(f"the notifier indexed {SERVICE} in the state table")

    for name in HUB_FUNCTIONS:
        wait_for_fresh_registry(world, before, name)
    earlier = {channel: {m["ts"] for m in channel_messages(world, channel)} for channel in (CART_CHANNEL, CHANNEL)}
    starts = {}
    for repository, branch, message in ((REPOSITORY, "main", "Show the cart's item count"),
                                        ("Codertocat/Hello-World", "master", "Round prices to cents")):
        pipeline, execution_id = push_to(world, repository, branch, message)
        starts[pipeline] = execution_id
    expect(set(starts) == {SERVICE, PIPELINE}, f"the two pushes started {sorted(starts)}, expected cart and shop")
    for pipeline, execution_id in starts.items():
        status = world.client("codepipeline").get_pipeline_execution(
            pipelineName=pipeline, pipelineExecutionId=execution_id)["pipelineExecution"]["status"]
        expect(status == "InProgress", f"{pipeline}'s execution is {status}")
    t.ok(f"two pipelines started: {SERVICE} {short(starts[SERVICE], 8)} and {PIPELINE} {short(starts[PIPELINE], 8)}, "
         "each from its own repository's push")

    t.note("the demo moves each execution straight to its approval (earlier chapters play every stage), so "
           "#{BuildVariables.IMAGE_URI}, which CodePipeline resolves once the build ran, shows as written")
    approval_waits(world, SERVICE, starts[SERVICE], "Prod", "Approve")
    approval_waits(world, PIPELINE, starts[PIPELINE], "ApproveProd", "Approve")
    cart_request = request_in(world, CART_CHANNEL, SERVICE, earlier[CART_CHANNEL])
    shop_request = request_in(world, CHANNEL, PIPELINE, earlier[CHANNEL])
    expect(f"<@{CART_LEAD['id']}>" in cart_request and f"<!subteam^{CART_GROUP}>" in cart_request
           and RELEASE_LEAD["id"] not in cart_request,
           f"{SERVICE}'s request does not name only its own approvers: {cart_request}")
    expect(f"<@{RELEASE_LEAD['id']}>" in shop_request and f"<!subteam^{RELEASE_GROUP}>" in shop_request
           and CART_LEAD["id"] not in shop_request,
           f"{PIPELINE}'s request does not name only its own approvers: {shop_request}")
    t.ok(f"two channels: {SERVICE}'s execution and approval request in #{CART_CHANNEL}, {PIPELINE}'s in #{CHANNEL}")
    t.ok(f"two approver sets: #{CART_CHANNEL}'s request names @{CART_LEAD['name']} and the {CART_GROUP} group, "
         f"#{CHANNEL}'s names @{RELEASE_LEAD['name']} and the {RELEASE_GROUP} group")
    kept = sorted(n for n, pid in running.items() if world.functions[n].pid == pid)
    expect(kept == sorted(running), f"a hub function was restarted: {sorted(set(running) - set(kept))}")
    if kept:
        t.ok(f"{', '.join(kept)} ran all of this in the processes they ran in before {SERVICE} joined: "
             "the hub was neither redeployed nor restarted")
