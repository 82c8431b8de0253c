"""Chapter 4: DeployProd invokes `traffic-shifter`: green gets the new image, 10% of the traffic
for the bake time, then all of it; the weights are shown step by step.

To write (once `traffic-shifter` exists):
  1. Create the CodePipeline job the Lambda invoke action would: `world.control("POST",
     "codepipeline/jobs", {"pipeline": PIPELINE, "stage": "DeployProd", "action": "Deploy",
     "user_parameters": json.dumps(traffic_parameters(world))})` → `{job_id, event}`.
  2. Loop: `world.invoke("traffic-shifter", event)`; read the job
     (`world.control("GET", f"codepipeline/jobs/{job_id}")`): `Continued` → take
     `next_job.event` and go on (CodePipeline re-invokes with the continuation token), until
     `Succeeded` (or `Failed`: `expect` fails with the job's message).
  3. After each step, print the listener's weights (`world.client("elbv2").describe_listeners(
     ListenerArns=[world.listener_arn])`) and record them with a timestamp in
     `world.facts["weights"]` for the report; `expect` the last step is blue 0 / green 100.
"""

from __future__ import annotations

from world import World

from . import NotWrittenYet, chapter


@chapter("Canary: traffic moves to green step by step", needs=["traffic-shifter"])
def chapter_canary(world: World) -> None:
    raise NotWrittenYet("demo/chapters/canary.py")
