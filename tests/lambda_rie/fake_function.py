"""A stand-in Lambda function for the Runtime API self-check: a plain runtime client.

The event says what to do: {"echo": x} answers x with the invocation's headers and environment;
{"fail": message} posts an invocation error; {"exit": code} dies mid-invocation; {"sleep": s}
answers after s seconds; {"big": n} answers n bytes. FAKE_INIT_ERROR in the environment makes it
post an init error and exit; FAKE_CHILD makes it spawn a long-lived child first (to check that
the whole process group goes).
"""

import http.client
import json
import os
import subprocess
import sys
import time

API = os.environ["AWS_LAMBDA_RUNTIME_API"]
BASE = "/2018-06-01/runtime"


def log(message, **fields):
    print(json.dumps({"level": "INFO", "message": message, **fields}), flush=True)


def call(method, path, body=None, headers=None):
    conn = http.client.HTTPConnection(API, timeout=600)
    conn.request(method, BASE + path, body=body, headers=headers or {})
    response = conn.getresponse()
    return response.status, dict(response.getheaders()), response.read()


if os.environ.get("FAKE_INIT_ERROR"):
    log("init failed")
    call("POST", "/init/error", json.dumps({"errorMessage": os.environ["FAKE_INIT_ERROR"],
                                              "errorType": "Runtime.InitError"}),
         {"Lambda-Runtime-Function-Error-Type": "Runtime.InitError"})
    sys.exit(1)
if os.environ.get("FAKE_CHILD"):
    child = subprocess.Popen(["sleep", "300"])
    log("child started", pid=child.pid)

log("ready")
print("a line that is not JSON", file=sys.stderr, flush=True)
while True:
    status, headers, body = call("GET", "/invocation/next")
    request_id = headers["Lambda-Runtime-Aws-Request-Id"]
    event = json.loads(body)
    log("invoked", request_id=request_id)
    if "fail" in event:
        call("POST", f"/invocation/{request_id}/error",
             json.dumps({"errorMessage": event["fail"], "errorType": "Handler.Failed"}),
             {"Lambda-Runtime-Function-Error-Type": "Handler.Failed"})
        continue
    if "exit" in event:
        sys.exit(event["exit"])
    if "sleep" in event:
        time.sleep(event["sleep"])
    if "big" in event:
        answer = "x" * event["big"]
    else:
        answer = {"echo": event.get("echo"), "headers": headers,
                  "env": {k: v for k, v in os.environ.items() if k.startswith(("AWS_", "_", "LAMBDA_", "GANTRY_"))}}
    status, _, _ = call("POST", f"/invocation/{request_id}/response", json.dumps(answer))
    log("answered", status=status)
