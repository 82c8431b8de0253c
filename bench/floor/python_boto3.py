"""The comparison users care about: Python + boto3 doing the floor's work. At init it builds one
boto3 client and reads one Secrets Manager secret (`GANTRY_SECRETS_ARN`); then it answers every
event with `{"hello": "world"}` through the Lambda Runtime API, as a custom runtime does (Lambda's
managed Python runtime runs the same loop in its bootstrap).

`bench/run.py` runs it with the project venv's Python (where boto3 is).
"""

from __future__ import annotations

import json
import os
import urllib.request

import boto3

API = f"http://{os.environ['AWS_LAMBDA_RUNTIME_API']}/2018-06-01/runtime"

secret = boto3.client("secretsmanager").get_secret_value(SecretId=os.environ["GANTRY_SECRETS_ARN"])
length = len(secret.get("SecretString", ""))

while True:
    with urllib.request.urlopen(f"{API}/invocation/next") as event:
        request_id = event.headers["Lambda-Runtime-Aws-Request-Id"]
        event.read()
    answer = json.dumps({"hello": "world", "secret_length": length}).encode()
    urllib.request.urlopen(urllib.request.Request(f"{API}/invocation/{request_id}/response", data=answer,
                                                  method="POST")).read()
