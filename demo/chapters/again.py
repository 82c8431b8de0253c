"""What the later chapters share: another push, told briefly, from the webhook up to the
production approval, approved in Slack by the release lead."""

from __future__ import annotations

from codepipeline import PlayedExecution
from slack_view import SlackView
from world import World, expect

from .approval import approve_in_slack
from .notifications import execution_record
from .push import demo_push, next_push, push_starts_execution


def push_up_to_prod(world: World, commit: str, message: str, files: list[str]) -> tuple[PlayedExecution, str]:
    """A push of `commit` after the story's last one, run through Source, Build and DeployDev
    and approved for production; returns the execution and its Slack thread's ts."""
    t = world.transcript
    pushes = world.facts.get("executions", [])
    previous = pushes[-1]["push"] if pushes and "push" in pushes[-1] else \
        demo_push("Make the cart total include tax", [])
    world.function("webhook")
    execution = push_starts_execution(world, next_push(previous, commit, message, files))
    world.facts.setdefault("executions", []).append(execution)
    view = world.facts.setdefault("slack_view", SlackView())
    played = PlayedExecution(world, execution["execution_id"], execution["commit"], view, quiet=True)
    t.say("CodePipeline runs it as before (Slack lines: new messages and changes of state only)")
    played.start()
    for stage in ("Source", "Build", "DeployDev"):
        played.run_stage(stage)
    thread = execution_record(world, played.id).get("ts")
    expect(thread and thread not in world.facts.get("threads", {}).values(),
           "the execution did not get a Slack message of its own")
    world.facts.setdefault("threads", {})[played.id] = thread
    approve_in_slack(world, played, quiet=True)
    return played, thread
