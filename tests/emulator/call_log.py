"""Which AWS operations each caller made: `iam-prefix:Operation` per access key id.

The demo runs each function with an access key of its own, so after the story this log says what
every function really called; the demo's smoke test holds that to the function's role in
template.yaml (an operation the role does not grant would be AccessDenied in AWS).

The operation comes from what the SDKs send: `X-Amz-Target` (JSON protocols), the path of an
RPC v2 CBOR request, or the `Action` parameter (query protocols: SNS, ELBv2). S3's REST calls are
named by method. Standard library only.
"""

from __future__ import annotations

import io
import re
import threading
import urllib.parse
from typing import Any

# SigV4 signing names that are not the IAM action prefix.
IAM_PREFIX = {"monitoring": "cloudwatch"}
CREDENTIAL_RE = re.compile(r"Credential=([^/]+)/[^/]+/[^/]+/([^/]+)/aws4_request")
CBOR_PATH_RE = re.compile(r"^/service/[^/]+/operation/([A-Za-z0-9]+)$")
LAMBDA_INVOKE_RE = re.compile(r"^/2015-03-31/functions/[^/]+/invocations/?$")
S3_BY_METHOD = {"GET": "GetObject", "HEAD": "GetObject", "PUT": "PutObject", "DELETE": "DeleteObject"}

_lock = threading.Lock()
_calls: dict[str, set[str]] = {}


def record(environ: dict[str, Any]) -> None:
    """Notes the request's caller and operation (reads a query body, and puts it back)."""
    match = CREDENTIAL_RE.search(environ.get("HTTP_AUTHORIZATION", ""))
    if not match:
        return
    key, service = match.groups()
    operation = _operation(environ, service)
    if operation:
        with _lock:
            _calls.setdefault(key, set()).add(f"{IAM_PREFIX.get(service, service)}:{operation}")


def calls() -> dict[str, list[str]]:
    with _lock:
        return {key: sorted(ops) for key, ops in _calls.items()}


def reset() -> None:
    with _lock:
        _calls.clear()


def _operation(environ: dict[str, Any], service: str) -> str | None:
    target = environ.get("HTTP_X_AMZ_TARGET")
    if target:
        return target.rsplit(".", 1)[-1]
    cbor = CBOR_PATH_RE.match(environ.get("PATH_INFO", ""))
    if cbor:
        return cbor.group(1)
    if service == "s3":
        return S3_BY_METHOD.get(environ.get("REQUEST_METHOD", ""))
    if service == "lambda" and LAMBDA_INVOKE_RE.match(environ.get("PATH_INFO", "")):
        return "InvokeFunction"  # the IAM action of Lambda's REST Invoke
    query = urllib.parse.parse_qs(environ.get("QUERY_STRING", ""))
    if "Action" in query:
        return query["Action"][0]
    if environ.get("CONTENT_TYPE", "").startswith("application/x-www-form-urlencoded"):
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        environ["wsgi.input"] = io.BytesIO(body)
        form = urllib.parse.parse_qs(body.decode("utf-8", "replace"))
        if "Action" in form:
            return form["Action"][0]
    return None
