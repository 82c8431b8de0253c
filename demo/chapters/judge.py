"""Chapter 7: the team turns on the canary judge (one line in DeployProd's UserParameters:
`"analysis": {}`). A third push's new version fails 2% of its requests where the live side fails
well under 0.1%: too few for the load balancer's alarm (more than 5 5xx a minute across the
whole load balancer) to ever fire, but the judge compares the two sides in the same minutes and
rolls back after two minutes of traffic, with the evidence in the job's failure and in Slack.

The emulator cannot make a real ALB's metrics, so the chapter publishes what the load balancer
would (per target group, one-minute periods: requests, 5xx, response times) for the minutes the
canary runs, through the emulator's `/_gantry/cloudwatch/alb-metrics`, before the deployment
starts; the shifter reads them with one `GetMetricData` per check. (The demo's shifter takes a
published minute as complete at once: `GANTRY_ANALYSIS_SETTLE_SECONDS`; in AWS it waits two
minutes for the load balancer's late datapoints.)"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass

from slack_view import thread_of
from world import CHANNEL, PIPELINE, World, expect

from . import chapter
from .again import push_up_to_prod
from .canary import STAGE, deploy, listener_weights, shares

THIRD_COMMIT = "7e1a9c3b5d2f4e6a8c0b1d3f5a7c9e2b4d6f8a0c"
LB_ALARM_THRESHOLD = 5  # shop-5xx: more than 5 5xx a minute across the load balancer


@dataclass(frozen=True)
class Minute:
    """One side's traffic in one minute, as the load balancer counts it."""

    requests: int
    errors: int


# The new side: 150 requests a minute at 10%, 3 of them 5xx (2%). The live side: 1,350 with one
# 5xx (0.07%). Across the load balancer: 4 a minute, under the alarm's 5.
NEW = Minute(150, 3)
LIVE = Minute(1350, 1)
MINUTES = 3


def turn_on_the_judge(world: World) -> None:
    """DeployProd's UserParameters gain `"analysis": {}` (every setting at its default)."""
    client = world.client("codepipeline")
    pipeline = client.get_pipeline(name=PIPELINE)["pipeline"]
    for stage in pipeline["stages"]:
        for action in stage["actions"]:
            if stage["name"] == STAGE:
                params = json.loads(action["configuration"]["UserParameters"])
                params["analysis"] = {}
                action["configuration"]["UserParameters"] = json.dumps(params)
    client.update_pipeline(pipeline=pipeline)


def load_balancer_arn(world: World) -> str:
    lb, _ = world.listener_arn.rsplit("/", 1)
    return lb.replace(":listener/", ":loadbalancer/")


def publish_minutes(world: World, new_side: str, live_side: str) -> list[tuple[int, Minute, Minute]]:
    """What the load balancer would publish for the next `MINUTES` minutes; returns them."""
    first = (int(time.time()) // 60 + 1) * 60
    published = []
    for i in range(MINUTES):
        minute = first + 60 * i
        for side, m in ((new_side, NEW), (live_side, LIVE)):
            world.control("POST", "cloudwatch/alb-metrics", {
                "load_balancer_arn": load_balancer_arn(world),
                "target_group_arn": world.target_groups[side],
                "timestamp": minute + 5, "requests": m.requests, "errors_5xx": m.errors,
                "response_times": [0.05] * m.requests})
        published.append((minute, NEW, LIVE))
    return published


@chapter("The canary judged against live: rolled back before any alarm fires",
         needs=["webhook", "notifier", "approval", "traffic-shifter"], follows=("rollback",))
def chapter_judge(world: World) -> None:
    t = world.transcript
    for alarm in world.alarms:  # the last incident is over
        world.client("cloudwatch").set_alarm_state(AlarmName=alarm, StateValue="OK",
                                                   StateReason="demo: the last incident is over")
    t.say("the team turns on the canary judge: one line in DeployProd's UserParameters, \"analysis\": {}")
    turn_on_the_judge(world)
    played, thread = push_up_to_prod(world, THIRD_COMMIT, "Retry payments on timeout", ["src/payments.rs"])

    before = listener_weights(world)
    live = "green" if before[1] > before[0] else "blue"
    new = "blue" if live == "green" else "green"
    published = publish_minutes(world, new, live)
    t.say(f"the new version on {new} fails {NEW.errors} of its {NEW.requests} requests a minute (2%); {live}, "
          f"live, {LIVE.errors} of {LIVE.requests} (0.07%): across the load balancer {NEW.errors + LIVE.errors} "
          f"5xx a minute, under the shop-5xx alarm's {LB_ALARM_THRESHOLD}")
    run = deploy(world, played, "Third push: the judge rolls back a 2% error rate")
    run.windows = [(minute, n.errors / n.requests, lv.errors / lv.requests) for minute, n, lv in published]
    expect(run.status == "Failed", f"the judge was expected to roll back, the deployment ended {run.status}")
    expect(run.message.startswith(f"rolled back at 10% {new}: analysis: fail"),
           f"the job's failure does not carry the judge's evidence: {run.message!r}")
    expect(listener_weights(world) == before, f"the listener is at {listener_weights(world)}, not back at {before}")
    expect(shares(run)[-1:] == [round(100 * before[1] / sum(before))],
           f"traffic did not go back to {live}: the listener went {shares(run)}")
    alarms = world.client("cloudwatch").describe_alarms(AlarmNames=["shop-5xx"])["MetricAlarms"]
    expect(alarms and alarms[0]["StateValue"] == "OK", "the shop-5xx alarm is not OK: the judge was not first")
    t.ok(f"the judge rolled back; shop-5xx never fired. Evidence: {run.message.split(': ', 1)[1]}")

    played.stage_failed(STAGE, run.message)
    played.finish("Failed")
    messages = thread_of(world.slack("GET", f"messages?channel={CHANNEL}")["messages"], thread)
    text = json.dumps(messages)
    expect("analysis: fail" in text, "the Slack thread does not carry the judge's evidence")
    expect("Canary vs live" in text, "the deployment's Slack message does not show the judge's windows")
    t.ok("the deployment's Slack message shows each minute's verdict, and the thread the evidence")
