"""Chapter 3: the execution reaches ApproveProd. `approval` posts the request, with Approve and
Reject buttons, in the execution's Slack thread. The author of the change clicks Approve and is
refused (four eyes); the release lead's signed click approves it in CodePipeline."""

from __future__ import annotations

import json
import uuid
from typing import Any, Optional

from codepipeline import PlayedExecution
from lambda_events import DEMO_SLACK_SIGNING_SECRET
from slack_view import find_button
from transcript import short
from world import CHANNEL, DEVELOPER, RELEASE_LEAD, World, expect

from . import chapter
from .notifications import played_execution

STAGE = "ApproveProd"
APPROVE = "gantry.approval.approve"


def click(world: World, user: dict[str, str], message: dict[str, Any], button: dict[str, Any],
          quiet: bool = False) -> tuple[int, Optional[str]]:
    """`user` clicks `button` of `message`: Slack's signed interactivity request, sent to the
    approval function's Function URL. Returns the answer's status and what the clicker was told
    privately (in the answer, or through the click's `response_url`), if anything."""
    t = world.transcript
    response_path = f"{user['name']}-{uuid.uuid4().hex[:8]}"
    event = world.event(
        "slack-click", action_id=button["action_id"], value=button["value"], user_id=user["id"],
        username=user["name"], channel=message["channel"], message_ts=message["ts"], message=message,
        response_url=world.response_url(response_path), secret=DEMO_SLACK_SIGNING_SECRET)
    t.send("Slack", f"POSTs {user['name']}'s click on [{button['text']['text']}] to the approval function's URL")
    if not quiet:
        headers = event["headers"]
        t.request(f"action_id {button['action_id']}, value {button['value']} (the approval record's id, "
                  "never CodePipeline's token)")
        t.request(f"x-slack-request-timestamp: {headers['x-slack-request-timestamp']}   x-slack-signature: "
                  f"{short(headers['x-slack-signature'], 20)}  (HMAC-SHA256 of v0:timestamp:body, signing secret)")
    status, answer = world.call_http("approval", event)
    t.answer("approval", status, answer if answer is not None else "(empty body)")
    told = answer.get("text") if isinstance(answer, dict) and answer.get("response_type") == "ephemeral" else None
    for call in world.slack("GET", "calls?method=response_url")["calls"]:
        if call.get("path") == response_path and isinstance(call.get("body"), dict):
            told = call["body"].get("text") or told
    return status, told


def request_in_slack(world: World, played: PlayedExecution) -> tuple[dict[str, Any], dict[str, Any]]:
    """The approval request the function posted, and its Approve button."""
    messages = world.slack("GET", f"messages?channel={CHANNEL}")["messages"]
    found = find_button(messages, APPROVE)
    expect(found, "no approval request with an Approve button appeared in Slack")
    return found  # type: ignore[return-value]


def approve_in_slack(world: World, played: PlayedExecution, quiet: bool = False) -> dict[str, Any]:
    """ApproveProd waits; the request appears in Slack; the release lead approves it (after the
    author is refused, unless `quiet`). Returns CodePipeline's approval record."""
    t = world.transcript
    world.function("approval")
    played.approval_waits(STAGE)
    message, approve = request_in_slack(world, played)
    thread = world.facts.get("threads", {}).get(played.id)
    expect(thread is None or message.get("thread_ts") == thread,
           "the approval request is not in the execution's thread")
    if not quiet:
        t.ok("the request is a reply in the execution's thread, broadcast to the channel")

    if not quiet:
        t.say(f"{DEVELOPER['name']} wrote the change and is in the release group: she tries to approve it herself")
        status, told = click(world, DEVELOPER, message, approve, quiet=True)
        expect(status == 200, f"a refused click got {status}: Slack would show an error")
        expect(played.approval(STAGE)["status"] == "InProgress", "the author's own click decided the approval")
        expect(told, "the author was not told why her click changed nothing")
        t.ok(f"refused; only she sees why (ephemeral, through the click's response_url): \"{told}\"")
        t.ok("CodePipeline's approval still waits")

    t.say(f"{RELEASE_LEAD['name']}, the release lead, clicks Approve")
    status, _ = click(world, RELEASE_LEAD, message, approve, quiet=quiet)
    expect(status == 200, f"the approval click got {status}")
    record = played.approval(STAGE)
    expect(record["status"] == "Approved", f"CodePipeline's approval is {record['status']}, expected Approved")
    expect(record.get("put_calls") == 1, f"PutApprovalResult was called {record.get('put_calls')} times")
    t.ok(f"CodePipeline: {STAGE} approved, summary \"{record.get('summary')}\" (one PutApprovalResult call)")
    played.show_slack()
    updated = next(m for m in world.slack("GET", f"messages?channel={CHANNEL}")["messages"] if m["ts"] == message["ts"])
    expect(find_button([updated], APPROVE) is None, "the request still has its buttons after the decision")
    expect(f"<@{RELEASE_LEAD['id']}>" in json.dumps(updated["blocks"]), "the request does not say who approved")
    if not quiet:
        t.ok("the request now shows the decision, who made it and when; the buttons are gone")
    played.stage_succeeded(STAGE, summary=record.get("summary"))
    return record


@chapter("A signed Slack click approves production", needs=["notifier", "approval"],
         follows=("notifications",))
def chapter_approval(world: World) -> None:
    played = played_execution(world)
    expect(world.facts.get("threads", {}).get(played.id),
           "this chapter follows the Slack thread of chapter 2: tell `notifications` first")
    approve_in_slack(world, played)
