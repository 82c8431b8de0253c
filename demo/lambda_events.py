"""The events Gantry's functions receive, built the way AWS, GitHub and GitLab build them.

Pure functions over plain data: no I/O, no clock unless one is passed in. `events/generate.py`
uses them for the committed sample events; the demo's chapters use them to drive the functions.
Slack's clicks and CodePipeline's EventBridge events are not built here: the tests' Rust builders
build them (`World.event`, through shared/core/examples/gantry_events.rs); `codepipeline_request`
says what to build.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from typing import Any, Optional

ACCOUNT = "123456789012"
REGION = "us-east-1"

# What the demo's secret holds; events/README.md documents them too.
DEMO_GITHUB_SECRET = "demo-github-secret"
DEMO_GITLAB_TOKEN = "demo-gitlab-token"
DEMO_SLACK_SIGNING_SECRET = "demo-slack-signing-secret"
DEMO_SLACK_BOT_TOKEN = "xoxb-demo-bot-token"


# -- HTTP requests as a Lambda Function URL delivers them ---------------------------------------


def function_url_event(
    headers: dict[str, str],
    body: bytes,
    *,
    method: str = "POST",
    path: str = "/",
    url_id: str = "gantrydemowebhook0000000000000",
    request_id: Optional[str] = None,
    epoch_ms: Optional[int] = None,
    source_ip: str = "140.82.115.1",
) -> dict[str, Any]:
    """A Lambda Function URL request (payload format 2.0) with a base64 body, as AWS sends it.

    Header names are lower-cased, as Function URLs deliver them.
    """
    epoch_ms = int(time.time() * 1000) if epoch_ms is None else epoch_ms
    request_id = request_id or str(uuid.uuid4())
    lowered = {k.lower(): v for k, v in headers.items()}
    lowered.setdefault("content-length", str(len(body)))
    lowered.setdefault("host", f"{url_id}.lambda-url.{REGION}.on.aws")
    lowered.setdefault("x-forwarded-proto", "https")
    lowered.setdefault("x-forwarded-port", "443")
    lowered.setdefault("x-forwarded-for", source_ip)
    trace = hashlib.sha256(request_id.encode()).hexdigest()[:24]
    lowered.setdefault("x-amzn-trace-id", f"Root=1-{epoch_ms // 1000:08x}-{trace}")
    user_agent = lowered.get("user-agent", "")
    return {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": "",
        "headers": lowered,
        "requestContext": {
            "accountId": "anonymous",
            "apiId": url_id,
            "domainName": f"{url_id}.lambda-url.{REGION}.on.aws",
            "domainPrefix": url_id,
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": source_ip,
                "userAgent": user_agent,
            },
            "requestId": request_id,
            "routeKey": "$default",
            "stage": "$default",
            "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(epoch_ms / 1000)),
            "timeEpoch": epoch_ms,
        },
        "body": base64.b64encode(body).decode(),
        "isBase64Encoded": True,
    }


def http_response(answer: Any) -> tuple[int, Any]:
    """Status and JSON body of a function's HTTP answer (Function URL / HTTP API response)."""
    if not isinstance(answer, dict) or "statusCode" not in answer:
        return 200, answer  # Lambda treats a bare JSON value as a 200 with that body
    body = answer.get("body") or ""
    if answer.get("isBase64Encoded"):
        body = base64.b64decode(body).decode("utf-8", "replace")
    try:
        parsed: Any = json.loads(body) if body else None
    except ValueError:
        parsed = body
    return int(answer["statusCode"]), parsed


# -- Git providers -------------------------------------------------------------------------------


def github_signature(secret: str, body: bytes) -> str:
    """`X-Hub-Signature-256`: HMAC-SHA256 of the raw body."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def github_push_event(payload: dict[str, Any], secret: str, delivery_id: str, **request: Any) -> dict[str, Any]:
    """A GitHub `push` webhook delivery as a Function URL event, signed with `secret`."""
    body = json.dumps(payload, indent=2).encode()  # GitHub sends pretty-printed JSON
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "GitHub-Hookshot/6f2a1b7",
        "X-GitHub-Event": "push",
        "X-GitHub-Delivery": delivery_id,
        "X-GitHub-Hook-ID": "481516234",
        "X-GitHub-Hook-Installation-Target-ID": "186853002",
        "X-GitHub-Hook-Installation-Target-Type": "repository",
        "X-Hub-Signature-256": github_signature(secret, body),
    }
    return function_url_event(headers, body, **request)


def gitlab_push_event(payload: dict[str, Any], token: str, event_uuid: str, **request: Any) -> dict[str, Any]:
    """A GitLab `Push Hook` delivery as a Function URL event, carrying the secret `token`."""
    body = json.dumps(payload).encode()
    event = "Tag Push Hook" if payload.get("object_kind") == "tag_push" else "Push Hook"
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "GitLab/17.5.0",
        "X-Gitlab-Event": event,
        "X-Gitlab-Event-UUID": event_uuid,
        "X-Gitlab-Instance": "https://gitlab.com",
        "X-Gitlab-Webhook-UUID": "9f1c4b0e-5a5d-4c8e-9a57-2f4d5e6a7b8c",
        "X-Gitlab-Token": token,
    }
    return function_url_event(headers, body, **request)


def as_ordinary_push(payload: dict[str, Any], *, before: str, message: str, modified: list[str]) -> dict[str, Any]:
    """A GitHub push payload made into an ordinary push to an existing branch (one new commit)."""
    push = json.loads(json.dumps(payload))
    push["before"] = before
    push["created"] = False
    push["compare"] = f"{push['repository']['html_url']}/compare/{before[:12]}...{push['after'][:12]}"
    push["head_commit"].update({"message": message, "added": [], "removed": [], "modified": modified})
    push["commits"] = [push["head_commit"]]
    return push


# -- CodePipeline ------------------------------------------------------------------------------

PIPELINE_EXECUTION = "CodePipeline Pipeline Execution State Change"
STAGE_EXECUTION = "CodePipeline Stage Execution State Change"
ACTION_EXECUTION = "CodePipeline Action Execution State Change"


def codepipeline_request(
    detail_type: str,
    *,
    pipeline: str,
    execution_id: str,
    state: str,
    stage: Optional[str] = None,
    action: Optional[str] = None,
    action_type: Optional[dict[str, str]] = None,
    execution_result: Optional[dict[str, str]] = None,
    at: Optional[float] = None,
) -> dict[str, Any]:
    """What `gantry-events codepipeline` reads to build an EventBridge `aws.codepipeline` event.

    `state` is the CodePipeline state (STARTED, SUCCEEDED, FAILED, CANCELED, RESUMED,
    SUPERSEDED; actions also ABANDONED). `action_type` is `{owner, category, provider}`;
    `execution_result` has CodePipeline's keys (`external-execution-summary`, `error-code`, …).
    """
    at = time.time() if at is None else at
    request: dict[str, Any] = {
        "detail_type": detail_type,
        "pipeline": pipeline,
        "execution_id": execution_id,
        "state": state,
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(at)),
        "region": REGION,
        "account": ACCOUNT,
    }
    if stage is not None:
        request["stage"] = stage
    if action is not None:
        kind = {"category": "Build", "provider": "CodeBuild", **(action_type or {})}
        request.update(action=action, category=kind["category"], provider=kind["provider"])
    if execution_result is not None:
        request["result"] = {"summary": execution_result.get("external-execution-summary"),
                             "url": execution_result.get("external-execution-url"),
                             "error_code": execution_result.get("error-code")}
    return request
