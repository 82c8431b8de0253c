"""The emulator as its self-checks run it: server.py in a child process whose stdin pipe stays
open for as long as the test lives, boto3 clients pointed at it, and its control API
(`/_gantry/...`). Also the state table's keys, as template.yaml declares them (`StateTable`), for
whoever creates that table in the emulator (the IAM self-check, the demo, the template's defaults
check).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from typing import Any

import boto3

HERE = os.path.dirname(os.path.abspath(__file__))
REGION = "us-east-1"

STATE_TABLE_KEYS: dict[str, Any] = {
    "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"},
                             {"AttributeName": "sk", "AttributeType": "S"}],
    "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
}


class Emulator:
    """Runs server.py with `server_args` (`--enforce-iam`…)."""

    def __init__(self, *server_args: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, os.path.join(HERE, "server.py"), "--port", "0", *server_args],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )
        line = self.proc.stdout.readline().strip()
        if not line.startswith("READY "):
            self.proc.kill()
            raise RuntimeError(f"emulator did not start: {line!r}")
        self.url = line.split(" ", 1)[1]

    def client(self, service: str, key: str = "testing", secret: str = "testing", token: str | None = None) -> Any:
        return boto3.client(service, endpoint_url=self.url, region_name=REGION, aws_access_key_id=key,
                            aws_secret_access_key=secret, aws_session_token=token)

    def control(self, method: str, path: str, body: Any = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.url + path, data=data, method=method,
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request) as response:
            return json.loads(response.read())

    def control_error(self, method: str, path: str, body: Any = None) -> tuple[int, dict[str, Any]]:
        try:
            self.control(method, path, body)
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read())
        raise AssertionError(f"{method} {path} succeeded")

    def stop(self) -> None:
        self.proc.stdin.close()  # EOF on stdin is the emulator's cue to exit
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            # A loaded machine (CI's two cores under a parallel build) can miss the cue's
            # deadline; the checks are done by now, so stop it the hard way.
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
