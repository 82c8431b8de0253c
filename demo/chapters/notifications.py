"""Chapter 2: CodePipeline's events reach `notifier`; one Slack thread per execution appears and
updates as the stages move.

To write (once `notifier` exists), for the execution in `world.facts["execution"]`:
  1. For each stage in order (Source, Build, DeployDev), send the EventBridge events CodePipeline
     would emit: `codepipeline_event(PIPELINE_EXECUTION, ..., state="STARTED")`, then
     `STAGE_EXECUTION` STARTED/SUCCEEDED (and `ACTION_EXECUTION` ones), with
     `world.invoke("notifier", event)`; keep the emulator in step where the notifier reads state
     back (`world.control("POST", f"codepipeline/executions/{PIPELINE}/{id}", {...})`).
  2. After each event, read the thread from the Slack stand-in (`world.slack("GET", "messages")`)
     and print the parent's text and its newest version; `expect` one parent message in
     `CHANNEL` whose text/blocks name the commit, and replies in its thread.
  3. Show what reached SNS (`world.client("sqs").receive_message(QueueUrl=world.queue_url)`).
  4. Leave the parent's `channel`/`ts` in `world.facts["thread"]` for the approval chapter.
"""

from __future__ import annotations

from world import World

from . import NotWrittenYet, chapter


@chapter("The Slack thread follows the pipeline", needs=["notifier"])
def chapter_notifications(world: World) -> None:
    raise NotWrittenYet("demo/chapters/notifications.py")
