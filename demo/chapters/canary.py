"""Chapter 4: DeployProd invokes `traffic-shifter` (a CodePipeline Lambda invoke action). It
starts the new image on the idle side (green), gives it 10% of the traffic for the bake time,
then all of it, and scales the old side (blue) down; the weights are shown as they change."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Optional

from codepipeline import PlayedExecution, job_message, resolved_parameters, run_job
from listener_watch import ListenerWatch, WeightChange
from transcript import short
from world import CHANNEL, World, expect

from . import chapter
from .notifications import played_execution

STAGE = "DeployProd"


@dataclass
class DeploymentRun:
    """One deployment as the report shows it: the weights over time and how it ended."""

    title: str
    image: str
    started: float  # epoch seconds
    ended: float
    before: WeightChange
    changes: list[WeightChange]
    status: str  # the job's: Succeeded or Failed
    message: str
    alarm: Optional[str] = None
    alarm_at: Optional[float] = None
    # The canary judge's minutes: (minute's epoch second, new side's 5xx rate, live side's).
    windows: Optional[list[tuple[int, float, float]]] = None


def listener_weights(world: World) -> tuple[int, int]:
    """The listener's (blue, green) weights, as DescribeListeners reports them."""
    listener = world.client("elbv2").describe_listeners(ListenerArns=[world.listener_arn])["Listeners"][0]
    groups = next(a["ForwardConfig"]["TargetGroups"] for a in listener["DefaultActions"] if a["Type"] == "forward")
    weight = {g["TargetGroupArn"]: g.get("Weight", 0) for g in groups}
    return weight.get(world.target_groups["blue"], 0), weight.get(world.target_groups["green"], 0)


def services(world: World) -> dict[str, dict[str, Any]]:
    """shop-blue and shop-green: their image and desired count."""
    ecs = world.client("ecs")
    out = {}
    for s in ecs.describe_services(cluster=world.cluster, services=["shop-blue", "shop-green"])["services"]:
        task = ecs.describe_task_definition(taskDefinition=s["taskDefinition"])["taskDefinition"]
        image = next(c["image"] for c in task["containerDefinitions"] if c["name"] == "web")
        out[s["serviceName"]] = {"image": image, "desired": s["desiredCount"],
                                 "revision": f"{task['family']}:{task['revision']}"}
    return out


def show_services(world: World) -> dict[str, dict[str, Any]]:
    now = services(world)
    for name, s in now.items():
        world.transcript.detail(name, f"{s['revision']}  {s['image'].rsplit('/', 1)[-1]}  desired {s['desired']}")
    return now


def describe_strategy(params: dict[str, Any]) -> str:
    s = params["strategy"]
    if isinstance(s, dict) and s.get("type") == "canary":
        plan = f"canary: {s['percent']}% for {s.get('bake_seconds', s.get('bake_minutes', 0) * 60)} s, then 100%"
    else:
        plan = str(s)
    return f"{plan}; checks every {params.get('check_interval_seconds', 15)} s"


def deploy(world: World, played: PlayedExecution, title: str, alarm: Optional[str] = None) -> DeploymentRun:
    """DeployProd: the job CodePipeline gives the traffic shifter, run to its end while the
    listener's weights are watched (and, with `alarm`, the canary broken once traffic moves)."""
    t = world.transcript
    world.function("traffic-shifter")
    played.stage_started(STAGE, " (Lambda invoke action → traffic-shifter)")
    job = played.create_job(STAGE)
    params = resolved_parameters(job)
    t.played(f"job {short(job['job_id'], 8)} for traffic-shifter; its UserParameters, variables resolved:")
    t.detail("image", params["image"])
    t.detail("strategy", describe_strategy(params))
    t.detail("alarms", ", ".join(params.get("alarms", [])))
    blue, green = listener_weights(world)
    before = WeightChange(time.time(), blue, green)
    t.weights(0.0, blue, green)
    with ListenerWatch(world, on_poll=played.show_slack, alarm=alarm) as watch:
        view = run_job(world, job)
    if watch.error is not None:
        raise watch.error
    message = job_message(view)
    t.played(f"job {view['status']}: {message}")
    run = DeploymentRun(title=title, image=params["image"], started=watch.started, ended=time.time(), before=before,
                        changes=watch.changes, status=view["status"], message=message, alarm=alarm,
                        alarm_at=watch.alarm_at)
    world.facts.setdefault("deployments", []).append(run)
    return run


def shares(run: DeploymentRun) -> list[int]:
    return [round(c.green_share) for c in run.changes]


@chapter("Canary: traffic moves to green step by step", needs=["notifier", "traffic-shifter"],
         follows=("approval",))
def chapter_canary(world: World) -> None:
    t = world.transcript
    played = played_execution(world)
    expect(played.approval("ApproveProd")["status"] == "Approved",
           "production is not approved yet: tell the `approval` chapter first")
    t.say("before: blue is live with the current image, green is idle")
    show_services(world)

    run = deploy(world, played, "First push: a good canary")
    expect(run.status == "Succeeded", f"the deployment did not succeed: {run.message}")
    expect(shares(run) == [10, 100], f"expected green at 10% then 100%, the listener went {shares(run)}")
    expect(listener_weights(world) == (0, 100), f"the listener ends at {listener_weights(world)}, expected 0/100")
    t.ok(f"green took 10%, then all the traffic, in {run.ended - run.started:.1f} s")
    after = show_services(world)
    expect(after["shop-green"]["image"] == run.image, "green does not run the new image")
    expect(after["shop-blue"]["desired"] == 0, "blue, the old version, was not scaled down")
    t.ok("green is live on the new image; blue, the old version, is scaled to zero")

    played.stage_succeeded(STAGE, summary=run.message)
    played.finish("Succeeded")
    parent = next(m for m in world.slack("GET", f"messages?channel={CHANNEL}")["messages"]
                  if m["ts"] == world.facts["threads"][played.id])
    expect("succeeded" in parent["text"].lower() or "succeeded" in str(parent["blocks"]).lower(),
           "the Slack message does not say the execution succeeded")
    t.ok("the execution succeeded; its Slack message says so")
