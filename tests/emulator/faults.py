"""Injected faults: the next N calls of an AWS operation fail as AWS fails when a service has
a blip (503 ServiceUnavailable), for tests of what Gantry does then.

POST /_gantry/faults {"operation": "ModifyListener", "count": 3, "match": "<listener arn>"}
arms one (only for requests whose body or query contains `match`, so that tests running at
the same time are not hit); the SDKs' own retries consume faults too, as they would AWS's."""

from __future__ import annotations

import io
import json
import urllib.parse
import threading
import uuid
from typing import Any

import call_log

_lock = threading.Lock()
_armed: dict[str, int] = {}
_match: dict[str, str] = {}
_served: dict[str, int] = {}


def arm(operation: str, count: int, match: str = "") -> dict[str, Any]:
    if not isinstance(count, int) or count < 0:
        raise ValueError("count must be a whole number >= 0")
    with _lock:
        _armed[operation] = count
        _match[operation] = match
        _served[operation] = 0
    return {"operation": operation, "count": count}


def served() -> dict[str, int]:
    with _lock:
        return dict(_served)


def reset() -> None:
    with _lock:
        _armed.clear()
        _served.clear()
        _match.clear()


def check(environ: dict[str, Any]) -> Any:
    """A WSGI app answering with the fault when the request's operation has one armed."""
    if not _armed:
        return None
    match = call_log.CREDENTIAL_RE.search(environ.get("HTTP_AUTHORIZATION", ""))
    if not match:
        return None
    operation = call_log._operation(environ, match.group(2))
    length = int(environ.get("CONTENT_LENGTH") or 0)
    body_bytes = environ["wsgi.input"].read(length) if length else b""
    environ["wsgi.input"] = io.BytesIO(body_bytes)
    seen = urllib.parse.unquote(environ.get("QUERY_STRING", "") + body_bytes.decode("utf-8", "replace"))
    with _lock:
        if not operation or _armed.get(operation, 0) <= 0 or _match.get(operation, "") not in seen:
            return None
        _armed[operation] -= 1
        _served[operation] = _served.get(operation, 0) + 1
    message = "The service is unavailable. Please try again later. (injected by the test)"
    request_id = str(uuid.uuid4())
    if environ.get("HTTP_X_AMZ_TARGET"):
        body = json.dumps({"__type": "ServiceUnavailableException", "message": message})
        content_type = "application/x-amz-json-1.1"
    else:
        body = (
            "<ErrorResponse><Error><Type>Receiver</Type><Code>ServiceUnavailable</Code>"
            f"<Message>{message}</Message></Error><RequestId>{request_id}</RequestId></ErrorResponse>"
        )
        content_type = "text/xml"

    def app(_environ: dict[str, Any], start_response: Any) -> list[bytes]:
        start_response("503 Service Unavailable", [("Content-Type", content_type), ("x-amzn-RequestId", request_id)])
        return [body.encode()]

    return app
