"""Publishes what an Application Load Balancer would for a target group, through the emulator's
`POST /_gantry/cloudwatch/alb-metrics` (AWS refuses PutMetricData into `AWS/` namespaces, so
tests cannot publish ALB metrics the way an application publishes its own):

    publish_period(url, lb_arn, tg_arn, timestamp, requests=1000, errors_5xx=3,
                   response_times=lognormal_times(1000, median=0.05, sigma=0.5, seed=1))

One call per target group per 60-second period, as ALB publishes them.
"""

from __future__ import annotations

import json
import random
import urllib.request
from typing import Any, Sequence


def publish_period(url: str, load_balancer_arn: str, target_group_arn: str, timestamp: float, requests: int,
                   errors_5xx: int = 0, response_times: Sequence[float] = ()) -> dict[str, Any]:
    body = {"load_balancer_arn": load_balancer_arn, "target_group_arn": target_group_arn, "timestamp": timestamp,
            "requests": requests, "errors_5xx": errors_5xx, "response_times": list(response_times)}
    request = urllib.request.Request(url + "/_gantry/cloudwatch/alb-metrics", data=json.dumps(body).encode(),
                                     method="POST", headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request) as response:
        return json.loads(response.read())


def lognormal_times(n: int, median: float, sigma: float, seed: int) -> list[float]:
    """`n` response times in seconds, lognormal around `median` (a realistic latency shape)."""
    rng = random.Random(seed)
    return [rng.lognormvariate(0.0, sigma) * median for _ in range(n)]
