"""Chapter 2: the execution moves through Source, Build and DeployDev. CodePipeline's EventBridge
events (played by the demo) reach `notifier`, which posts one Slack message for the execution and
edits it in place as the stages move, and publishes every transition to SNS."""

from __future__ import annotations

import json
from typing import Any

from codepipeline import PlayedExecution
from slack_view import SlackView
from world import CHANNEL, PIPELINE, World, expect

from . import chapter


def execution_record(world: World, execution_id: str) -> dict[str, str]:
    """The notifier's record of the execution in the state table (where the thread is)."""
    item = world.client("dynamodb").get_item(
        TableName=world.table, Key={"pk": {"S": f"EXECUTION#{PIPELINE}#{execution_id}"}, "sk": {"S": "EXECUTION"}},
    ).get("Item", {})
    return {k: v["S"] for k, v in item.items() if "S" in v}


def published(world: World) -> list[dict[str, Any]]:
    """Everything published to the Gantry topic since the last read (its SQS subscriber's queue)."""
    sqs, out = world.client("sqs"), []
    while True:
        batch = sqs.receive_message(QueueUrl=world.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0)
        messages = batch.get("Messages", [])
        if not messages:
            return out
        for m in messages:
            out.append(json.loads(m["Body"]))
            sqs.delete_message(QueueUrl=world.queue_url, ReceiptHandle=m["ReceiptHandle"])


def headline(notification: dict[str, Any]) -> str:
    scope = notification.get("scope", "")
    what = {"pipeline": "execution", "stage": f"stage {notification.get('stage')}",
            "action": f"action {notification.get('stage')}/{notification.get('action')}"}.get(scope, scope)
    return f"{what} {str(notification.get('state', '')).lower()}"


def played_execution(world: World) -> PlayedExecution:
    """The first push's execution as the demo plays it (chapters 2 to 4 move it along)."""
    if "played" not in world.facts:
        execution = world.facts.get("execution")
        expect(execution, "this chapter continues the push chapter's execution: tell `push` first")
        view = world.facts.setdefault("slack_view", SlackView())
        world.facts["played"] = PlayedExecution(world, execution["execution_id"], execution["commit"], view)
    return world.facts["played"]


@chapter("The Slack thread follows the pipeline", needs=["notifier"],
         follows=("push",))
def chapter_notifications(world: World) -> None:
    t = world.transcript
    played = played_execution(world)
    world.function("notifier")
    t.say("CodePipeline now runs the execution. The emulator does not run pipelines, so the demo plays")
    t.say("CodePipeline's part (◆): it sends the EventBridge events to the functions whose rules match.")

    played.start()
    for stage in ("Source", "Build", "DeployDev"):
        played.run_stage(stage)

    record = execution_record(world, played.id)
    expect(record.get("channel") == CHANNEL and record.get("ts"),
           f"the notifier recorded no Slack message for the execution: {record}")
    messages = world.slack("GET", f"messages?channel={CHANNEL}")["messages"]
    parents = [m for m in messages if not m.get("thread_ts")]
    expect(len(parents) == 1 and parents[0]["ts"] == record["ts"],
           f"expected one Slack message for the execution, found {len(parents)}")
    parent = parents[0]
    text = json.dumps(parent["blocks"])
    expect(played.commit[:8] in text and "Make the cart total include tax" in text,
           "the Slack message does not name the commit")
    expect(parent["versions"] > 1, "the Slack message was never updated")
    t.ok(f"one Slack message for the execution (ts {record['ts']}), edited {parent['versions'] - 1} times, "
         "not one message per event")
    t.detail("state table", f"EXECUTION#{PIPELINE}#{played.id[:8]}…: channel {record['channel']}, ts {record['ts']}")

    notifications = published(world)
    expect(notifications, "nothing was published to SNS")
    t.ok(f"SNS: {len(notifications)} notifications on the Gantry topic, for email, on-call and other accounts:")
    t.request(", ".join(headline(n) for n in notifications))
    world.facts.setdefault("threads", {})[played.id] = record["ts"]
