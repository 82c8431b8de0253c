"""Every record in the state table expires: after the end-to-end tests, each item of every
DynamoDB table in the emulator carries a numeric `expires_at` (the table's TTL attribute), so no
record kind can grow the table forever.

    .venv/bin/python tests/emulator/check_expires_at.py EMULATOR_URL   # after `cargo test` in make test

The tests give each world a table of its own and never delete it, so after the suite the
emulator holds what every function wrote. Exit status 1 when a record lacks `expires_at`, or when
the scan found no record of a kind the functions write (then it scanned the wrong emulator, or
the tests did not run, and passing would prove nothing).
"""

from __future__ import annotations

import collections
import sys

import boto3
from botocore.config import Config

# Every record kind the functions write, by the first part of its `pk`
# (shared/adapters/src/dynamodb/: each kind's `Key::…`).
KINDS = ("DELIVERY", "NEWEST_PUSH", "EXECUTION", "APPROVAL", "APPROVAL_ACTION", "DEPLOYMENT")


def kind(item: dict) -> str:
    return item.get("pk", {}).get("S", "?").split("#", 1)[0]


def problems(items_by_table: dict[str, list[dict]]) -> tuple[list[str], collections.Counter]:
    """(what is wrong, records seen per kind) for the items of each table."""
    seen: collections.Counter = collections.Counter()
    wrong = []
    for table, items in sorted(items_by_table.items()):
        for item in items:
            seen[kind(item)] += 1
            expires = item.get("expires_at", {})
            if "N" not in expires:
                pk, sk = item.get("pk", {}).get("S"), item.get("sk", {}).get("S")
                wrong.append(f"{table}: {pk} / {sk} has no numeric expires_at")
    missing = [k for k in KINDS if seen[k] == 0]
    if missing:
        wrong.append(f"no record of {', '.join(missing)} was found: the scan proves nothing")
    return wrong, seen


def scan_all(url: str) -> dict[str, list[dict]]:
    client = boto3.client(
        "dynamodb",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(retries={"max_attempts": 2}),
    )
    tables = [t for page in client.get_paginator("list_tables").paginate() for t in page["TableNames"]]
    out = {}
    for table in tables:
        out[table] = [i for page in client.get_paginator("scan").paginate(TableName=table) for i in page["Items"]]
    return out


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    wrong, seen = problems(scan_all(argv[1].rstrip("/")))
    for line in wrong:
        print(line, file=sys.stderr)
    if wrong:
        return 1
    counts = ", ".join(f"{k} {n}" for k, n in sorted(seen.items()))
    print(f"every record carries expires_at: {counts}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
