"""Lambda Invoke without Docker: a function runs as a local program.

moto runs a function's code in a Docker container, which the test machines do not have. A test
registers a function (by name or ARN) with a command line through the control API; an Invoke of
that function over Lambda's real wire protocol (`POST /2015-03-31/functions/{name}/invocations`)
then runs the command with the payload on stdin and answers with its stdout:

* exit status 0: HTTP 200, the payload is stdout;
* any other exit status, or no answer within `timeout_seconds`: HTTP 200 with
  `X-Amz-Function-Error: Unhandled` and Lambda's error payload (`errorMessage`, `errorType`); a
  Python traceback's last line gives both, as the Python runtime reports an uncaught exception;
* no registration and no function of that name in moto: 404 `ResourceNotFoundException`.

`InvocationType: Event` answers 202 and runs the program in the background; `DryRun` answers
204. Every invocation is recorded (payload, times, answer) for `GET /_gantry/lambda/invocations`.
A function moto knows but nobody registered is left to moto. Standard library only.
"""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import threading
import time
import urllib.parse
import uuid
from typing import Any

DEFAULT_ACCOUNT = "123456789012"
DEFAULT_REGION = "us-east-1"
INVOKE_PATH_RE = re.compile(r"^/2015-03-31/functions/(?P<name>[^/]+)/invocations/?$")
CREDENTIAL_RE = re.compile(r"Credential=[^/]+/[^/]+/([^/]+)/lambda/aws4_request")
# arn:aws:lambda:region:account:function:name[:qualifier], account:function:name, name[:qualifier]
ARN_RE = re.compile(r"^arn:[^:]+:lambda:(?P<region>[^:]+):(?P<account>\d{12}):function:(?P<name>[^:]+)(?::[^:]+)?$")
PARTIAL_RE = re.compile(r"^(?P<account>\d{12}):function:(?P<name>[^:]+)(?::[^:]+)?$")
NAME_RE = re.compile(r"^(?P<name>[A-Za-z0-9_-]{1,64})(?::[^:]+)?$")
TRACEBACK_LAST_RE = re.compile(r"^(?P<type>[A-Za-z_][\w.]*)(?::\s?(?P<message>.*))?$")

_lock = threading.Lock()
_functions: dict[str, dict[str, Any]] = {}  # function ARN -> registration
_invocations: list[dict[str, Any]] = []


def function_arn(name_or_arn: str, region: str = DEFAULT_REGION, account: str = DEFAULT_ACCOUNT) -> str:
    """The unqualified ARN a name, partial ARN or ARN refers to (ValueError if none)."""
    name_or_arn = urllib.parse.unquote(name_or_arn)
    for pattern in (ARN_RE, PARTIAL_RE, NAME_RE):
        m = pattern.match(name_or_arn)
        if m:
            parts = m.groupdict()
            return (f"arn:aws:lambda:{parts.get('region') or region}:{parts.get('account') or account}"
                    f":function:{parts['name']}")
    raise ValueError(f"'{name_or_arn}' is not a function name or ARN")


def register(body: dict[str, Any]) -> dict[str, Any]:
    """`POST /_gantry/lambda/functions`: `function` (name or ARN), `command` (argv list),
    `env?` (added to the emulator's environment), `timeout_seconds?` (30, Lambda's 3 s is too
    tight for a cold interpreter), `tags?` (the function's tags, which IAM evaluates as
    `aws:ResourceTag` for lambda:InvokeFunction)."""
    command = body["command"]
    if not isinstance(command, list) or not command or not all(isinstance(c, str) for c in command):
        raise ValueError("command must be a non-empty list of strings")
    env = body.get("env") or {}
    if not isinstance(env, dict) or not all(isinstance(v, str) for v in env.values()):
        raise ValueError("env must map names to strings")
    arn = function_arn(body["function"], body.get("region") or DEFAULT_REGION,
                       body.get("account_id") or DEFAULT_ACCOUNT)
    registration = {"function_arn": arn, "command": command, "env": env,
                    "timeout_seconds": float(body.get("timeout_seconds", 30)),
                    "tags": {str(k): str(v) for k, v in (body.get("tags") or {}).items()}}
    with _lock:
        _functions[arn] = registration
    return registration


def tags(arn: str) -> dict[str, str] | None:
    """A registered function's tags; None when `arn` is not registered here."""
    with _lock:
        registration = _functions.get(arn)
    return None if registration is None else dict(registration.get("tags") or {})


def invocations(function: str | None) -> list[dict[str, Any]]:
    """`GET /_gantry/lambda/invocations?function=X`: every invocation, oldest first."""
    arn = function_arn(function) if function else None
    with _lock:
        return [dict(i) for i in _invocations if arn in (None, i["function_arn"])]


def reset() -> None:
    with _lock:
        _functions.clear()
        _invocations.clear()


def is_invoke(environ: dict[str, Any]) -> bool:
    return environ.get("REQUEST_METHOD") == "POST" and bool(INVOKE_PATH_RE.match(environ.get("PATH_INFO", "")))


def handle(environ: dict[str, Any], moto_knows: Any) -> tuple[int, dict[str, str], bytes] | None:
    """Answers an Invoke of a registered function; None hands the request to moto (a function moto
    has that nobody registered). `moto_knows(arn)` says whether moto has that function."""
    match = INVOKE_PATH_RE.match(environ.get("PATH_INFO", ""))
    region_match = CREDENTIAL_RE.search(environ.get("HTTP_AUTHORIZATION", ""))
    region = region_match.group(1) if region_match else DEFAULT_REGION
    try:
        arn = function_arn(match.group("name"), region) if match else ""
    except ValueError as exc:
        return _error(400, "ValidationException", str(exc))
    with _lock:
        registration = _functions.get(arn)
    if registration is None:
        if moto_knows(arn):
            return None
        return _error(404, "ResourceNotFoundException", f"Function not found: {arn}")

    length = int(environ.get("CONTENT_LENGTH") or 0)
    payload = environ["wsgi.input"].read(length) if length else b""
    try:
        json.loads(payload or b"{}")
    except ValueError:
        return _error(400, "InvalidRequestContentException",
                      "Could not parse request body into json: Unexpected character")
    invocation_type = environ.get("HTTP_X_AMZ_INVOCATION_TYPE") or "RequestResponse"
    if invocation_type not in ("RequestResponse", "Event", "DryRun"):
        return _error(400, "InvalidParameterValueException", f"Unsupported invocation type {invocation_type}")
    request_id = str(uuid.uuid4())
    headers = {"Content-Type": "application/json", "X-Amzn-RequestId": request_id,
               "X-Amz-Executed-Version": "$LATEST"}
    if invocation_type == "DryRun":
        return 204, headers, b""
    record = {"function_arn": arn, "request_id": request_id, "invocation_type": invocation_type,
              "payload": _json_or_text(payload or b"{}"), "at": time.time(), "finished_at": None,
              "function_error": None, "response": None}
    with _lock:
        _invocations.append(record)
    if invocation_type == "Event":
        threading.Thread(target=_run, args=(registration, payload or b"{}", record), daemon=True).start()
        return 202, headers, b""
    body, function_error, log = _run(registration, payload or b"{}", record)
    if function_error:
        headers["X-Amz-Function-Error"] = function_error
    if environ.get("HTTP_X_AMZ_LOG_TYPE") == "Tail":
        headers["X-Amz-Log-Result"] = base64.b64encode(log[-4096:]).decode()
    return 200, headers, body


def _run(registration: dict[str, Any], payload: bytes, record: dict[str, Any]) -> tuple[bytes, str | None, bytes]:
    arn = registration["function_arn"]
    name, region = arn.rsplit(":", 1)[-1], arn.split(":")[3]
    env = {**os.environ, "AWS_LAMBDA_FUNCTION_NAME": name, "AWS_REGION": region,
           "AWS_LAMBDA_REQUEST_ID": record["request_id"], **registration["env"]}
    timeout = registration["timeout_seconds"]
    try:
        done = subprocess.run(registration["command"], input=payload, capture_output=True, env=env,
                              timeout=timeout, check=False)
        stdout, stderr, status = done.stdout, done.stderr, done.returncode
    except subprocess.TimeoutExpired as exc:
        stdout, stderr, status = b"", exc.stderr or b"", None
    except OSError as exc:  # the command itself cannot run: the function cannot start
        stdout, stderr, status = b"", str(exc).encode(), -1
    function_error = None
    if status is None:
        function_error = "Unhandled"
        stdout = json.dumps({"errorMessage": f"{record['request_id']} Task timed out after {timeout:.2f} seconds",
                             "errorType": "Sandbox.Timedout"}).encode()
    elif status != 0:
        function_error = "Unhandled"
        stdout = json.dumps(_error_payload(stdout, stderr, status)).encode()
    with _lock:
        record.update(finished_at=time.time(), function_error=function_error, response=_json_or_text(stdout),
                      exit_status=status)
    return stdout, function_error, stderr


def _error_payload(stdout: bytes, stderr: bytes, status: int) -> dict[str, Any]:
    """What Lambda answers for a failed invocation: the program's own error object if it printed
    one, else an uncaught Python exception's type and message, else the exit status."""
    try:
        printed = json.loads(stdout)
        if isinstance(printed, dict) and "errorMessage" in printed:
            return printed
    except ValueError:
        pass
    lines = [line for line in stderr.decode("utf-8", "replace").splitlines() if line.strip()]
    if lines and any(line.startswith("Traceback (most recent call last)") for line in lines):
        m = TRACEBACK_LAST_RE.match(lines[-1])
        if m:
            return {"errorMessage": m.group("message") or "", "errorType": m.group("type").rsplit(".", 1)[-1],
                    "stackTrace": lines[1:-1]}
    return {"errorMessage": f"RequestId: Error: Runtime exited with error: exit status {status}",
            "errorType": "Runtime.ExitError"}


def _json_or_text(data: bytes) -> Any:
    try:
        return json.loads(data)
    except ValueError:
        return data.decode("utf-8", "replace")


def _error(status: int, code: str, message: str) -> tuple[int, dict[str, str], bytes]:
    # Lambda is REST-JSON: the code travels in x-amzn-ErrorType (and the body's Type is User).
    headers = {"Content-Type": "application/json", "x-amzn-ErrorType": code,
               "X-Amzn-RequestId": str(uuid.uuid4())}
    return status, headers, json.dumps({"Type": "User", "message": message, "__type": code}).encode()
