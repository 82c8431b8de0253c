"""Chapter 6: a third push goes the same way (told briefly) up to DeployProd; this build cannot
serve (its /health answers 500). Once it is ready, the test listener sends it all the *test*
traffic while customers stay on the live side; the smoke test hook (a function written for ECS's
lifecycle hooks) requests /health through the test listener, answers FAILED, and the deployment
rolls back before any customer traffic reached the bad build."""

from __future__ import annotations

from world import World, expect

from . import chapter
from .again import push_up_to_prod
from .canary import deploy, listener_weights, services, shares

THIRD_COMMIT = "9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a2f1e0d"


def test_listener_shares(world: World) -> list[int]:
    """Green's share at each change of the test listener, as the emulator recorded them."""
    changes = world.control("GET", f"elbv2/weight-changes?arn={world.test_listener_arn}")["changes"]
    out = []
    for c in changes:
        blue, green = (c["weights"].get(world.target_groups[s], 0) for s in ("blue", "green"))
        out.append(round(100 * green / (blue + green)) if blue + green else 0)
    return out


@chapter("A smoke test over the test listener catches a bad build before any customer traffic",
         needs=["webhook", "notifier", "approval", "traffic-shifter"])
def chapter_smoke(world: World) -> None:
    t = world.transcript
    played, _ = push_up_to_prod(world, THIRD_COMMIT, "Read prices from the new catalogue", ["src/catalogue.rs"])

    # The last chapter's incident is over: its alarm is back to OK.
    for alarm in world.alarms:
        world.client("cloudwatch").set_alarm_state(AlarmName=alarm, StateValue="OK",
                                                   StateReason="demo: the 5xx incident is over")
    assert world.shop is not None
    world.shop.bad_tags.add(THIRD_COMMIT[:7])
    before = listener_weights(world)
    services_before = services(world)
    tested_before = len(test_listener_shares(world))
    live = "green" if before[1] > before[0] else "blue"
    new = "blue" if live == "green" else "green"
    t.say(f"this build's /health answers 500; it goes to {new}, tested through the test listener :8080 first")
    run = deploy(world, played, "Third push: the smoke test fails on the test listener")
    expect(run.status == "Failed", f"the deployment was expected to roll back, it ended {run.status}: {run.message}")
    expect("POST_TEST_TRAFFIC_SHIFT" in run.message and "FAILED" in run.message,
           f"the job's failure does not name the smoke test's stage and answer: {run.message!r}")
    expect(shares(run) == [] and listener_weights(world) == before,
           f"customer traffic moved: the production listener went {shares(run)}")
    t.ok(f"customers never reached the bad build: the production listener stayed at {before}")
    tested = test_listener_shares(world)[tested_before:]
    on_new = 100 if new == "green" else 0
    expect(tested == [on_new, 100 - on_new],
           f"the test listener was expected to go to {new} and back, it went {tested}")
    t.ok(f"the test listener sent the smoke test to {new}, then went back to {live}")
    played.stage_failed("DeployProd", run.message)
    played.finish("Failed")
    expect(played.status() == "Failed", f"CodePipeline shows the execution {played.status()}, expected Failed")
    expect(listener_weights(world) == before, f"the production listener ended at {listener_weights(world)}")
    after = services(world)
    expect(after == services_before,
           f"the services were left changed: {after}, they were {services_before}")
    t.ok("the pipeline failed at DeployProd with the smoke test's verdict; both services run what "
         "they ran before")
