"""Chapter 5: a second push; its canary trips an alarm and Gantry rolls back on its own.

To write (once every function exists): push a second commit through `webhook` (see
`chapters/push.py`: `demo_push`, `github_push_event`), move it to DeployProd as chapters 2-4 do,
and during the bake set an alarm (`world.client("cloudwatch").set_alarm_state(AlarmName="shop-5xx",
StateValue="ALARM", StateReason="demo: 5xx on green")`). `expect` the job `Failed` with a message
naming the alarm, the weights back on the previous live side, and the Slack thread saying so.
"""

from __future__ import annotations

from world import World

from . import NotWrittenYet, chapter


@chapter("A bad canary trips an alarm and rolls back", needs=["webhook", "notifier", "approval", "traffic-shifter"])
def chapter_rollback(world: World) -> None:
    raise NotWrittenYet("demo/chapters/rollback.py")
