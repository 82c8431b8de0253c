"""Chapter 3: the pipeline reaches ApproveProd; an approval request with buttons appears in the
execution's Slack thread; the release lead's signed click approves it.

To write (once `approval` exists):
  1. Seed the waiting approval in the emulator:
     `world.control("POST", "codepipeline/approvals", {"pipeline": PIPELINE, "stage": "ApproveProd",
     "action": "Approve", "execution_id": id})` (it returns the token), then send the
     `ACTION_EXECUTION` STARTED event with `action_type={"category": "Approval", "provider":
     "Manual"}` to whichever function posts approval requests (notifier or approval).
  2. Find the posted message's button (`gantry.approval.approve`, value = approval id) in
     `world.slack("GET", "messages")`.
  3. Build the click: `slack_click_payload(action_id=..., value=..., user_id=RELEASE_LEAD["id"],
     user_name=..., channel=..., message_ts=..., response_url=world.response_url("approve"))`,
     sign it with `slack_click_event(payload, DEMO_SLACK_SIGNING_SECRET)`, and
     `world.call_http("approval", event)`.
  4. `expect` the emulator's approval is `Approved` (`world.control("GET",
     "codepipeline/approvals?pipeline=shop")`) and the Slack message now says who approved.
  Optionally first show a click by DEVELOPER (not an approver) being refused.
"""

from __future__ import annotations

from world import World

from . import NotWrittenYet, chapter


@chapter("A signed Slack click approves production", needs=["approval"])
def chapter_approval(world: World) -> None:
    raise NotWrittenYet("demo/chapters/approval.py")
