"""Chapter 5: a second push goes the same way (told briefly) up to DeployProd; this time the new
version answers 5xx as soon as it takes traffic, its alarm goes to ALARM, and the traffic shifter
rolls back on its own: all traffic back on the live side, the job failed with the reason, the
pipeline failed, and the Slack thread saying why."""

from __future__ import annotations

import json

from slack_view import thread_of
from world import CHANNEL, World, expect

from . import chapter
from .again import push_up_to_prod
from .canary import STAGE, deploy, listener_weights, shares, show_services

SECOND_COMMIT = "4d2c1b7e9a0f3c6d8e5b2a1f0c9d8e7f6a5b4c3d"
ALARM = "shop-5xx"


@chapter("A bad canary trips an alarm and rolls back",
         needs=["webhook", "notifier", "approval", "traffic-shifter"])
def chapter_rollback(world: World) -> None:
    t = world.transcript
    played, thread = push_up_to_prod(world, SECOND_COMMIT, "Cache cart totals for a minute",
                                     ["src/cart.rs", "src/cache.rs"])

    before = listener_weights(world)
    live = "green" if before[1] > before[0] else "blue"
    new = "blue" if live == "green" else "green"
    t.say(f"{live} is live; the new version goes to {new}, and goes bad as soon as it takes traffic")
    run = deploy(world, played, "Second push: the canary trips an alarm", alarm=ALARM)
    expect(run.status == "Failed", f"the deployment was expected to roll back, it ended {run.status}: {run.message}")
    expect(run.message.startswith(f"rolled back at 10% {new}") and ALARM in run.message,
           f"the job's failure does not say where and why it rolled back: {run.message!r}")
    expect(listener_weights(world) == before, f"the listener is at {listener_weights(world)}, not back at {before}")
    back = [round(100 * before[1] / sum(before))]
    expect(shares(run)[-1:] == back and len(shares(run)) >= 2,
           f"expected the canary step then back to green {back[0]}%, the listener went {shares(run)}")
    t.ok(f"rolled back {run.ended - (run.alarm_at or run.started):.1f} s after the alarm: all traffic on {live} again")
    after = show_services(world)
    expect(after[f"shop-{live}"]["desired"] > 0, f"{live}, the live side, no longer runs")

    played.stage_failed(STAGE, run.message)
    played.finish("Failed")
    messages = thread_of(world.slack("GET", f"messages?channel={CHANNEL}")["messages"], thread)
    text = json.dumps(messages)
    expect("rolled back" in text and ALARM in text, "the Slack thread does not say the deployment rolled back")
    expect("failed" in json.dumps(messages[0]["blocks"]).lower(),
           "the execution's Slack message does not say it failed")
    expect(played.status() == "Failed", f"CodePipeline shows the execution {played.status()}, expected Failed")
    t.ok(f"the pipeline failed at {STAGE}; its Slack thread says what rolled back and why")
