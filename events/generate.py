"""Regenerates the sample webhook events in this folder from the real payloads in tests/fixtures.

    python3 events/generate.py

Each file is a Lambda Function URL request (payload 2.0, base64 body) as AWS delivers it, signed
the way GitHub and GitLab sign, with the demo's values (see events/README.md). Fixed ids and times, so
the output only changes when this script or a fixture does. Standard library only.
"""

from __future__ import annotations

import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "demo"))

from lambda_events import (  # noqa: E402
    DEMO_GITHUB_SECRET,
    DEMO_GITLAB_TOKEN,
    as_ordinary_push,
    github_push_event,
    gitlab_push_event,
)

FIXTURES = os.path.join(ROOT, "tests", "fixtures")
# 2024-06-03T09:30:00Z: a fixed time, so regenerating changes nothing.
EPOCH_MS = 1717407000000


def fixture(path: str) -> dict:
    with open(os.path.join(FIXTURES, path)) as f:
        return json.load(f)


def github_push() -> dict:
    """Codertocat/Hello-World: one commit on master changing the cart (the demo's first push)."""
    push = as_ordinary_push(fixture("github/push-with-new-branch.json"),
                            before="a10867b14bb761a232cd80139fbd4c0d33264240",
                            message="Make the cart total include tax",
                            modified=["src/cart.rs", "src/cart_test.rs"])
    return github_push_event(push, DEMO_GITHUB_SECRET, "3f0c1e2a-7b6d-11ef-8e8a-2b1f4c5d6e7f",
                             request_id="Xq1b2GantryDemoGitHubPush=", epoch_ms=EPOCH_MS)


def gitlab_push() -> dict:
    """mike/diaspora: GitLab's push of two commits to master."""
    return gitlab_push_event(fixture("gitlab/push.json"), DEMO_GITLAB_TOKEN, "2a8e4d7c-5b1f-4e3a-9c6d-0f1e2d3c4b5a",
                             request_id="Xq1b2GantryDemoGitLabPush=", epoch_ms=EPOCH_MS, source_ip="34.74.90.65")


def render() -> dict[str, str]:
    """Each sample file's name and its exact text."""
    events = {"webhook-github-push.json": github_push(), "webhook-gitlab-push.json": gitlab_push()}
    return {name: json.dumps(event, indent=2) + "\n" for name, event in events.items()}


def main() -> None:
    for name, text in render().items():
        with open(os.path.join(HERE, name), "w") as f:
            f.write(text)
        print(f"wrote events/{name}")


if __name__ == "__main__":
    main()
