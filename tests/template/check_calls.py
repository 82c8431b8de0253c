"""Least privilege that works: every AWS operation a function made against the emulator is
allowed by that function's role in template.yaml (an operation the role lacks would be
AccessDenied in AWS).

The emulator logs each operation under the caller's access key (`GET /_gantry/calls`); the
end-to-end tests and the demo run each function as an IAM user holding its role's policies, whose
key starts `GANTRY<NAME>` (GANTRYWEBHOOK000012, GANTRYTRAFFICSHIFTER000013, …), so the log says
what each function really called. (With the emulator enforcing IAM, a call the role does not allow
was already refused; this check still shows each function ran under its own key.)

    .venv/bin/python tests/template/check_calls.py EMULATOR_URL   # after `cargo test` in make test

Exit status 1 when a function called what its role does not allow, or made no call at all (then
the tests did not run it with its own key, and the check would prove nothing).
"""

from __future__ import annotations

import json
import os
import sys
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

FUNCTIONS = ("webhook", "notifier", "approval", "traffic-shifter")


def access_key(function: str) -> str:
    """How the access keys of a function's users begin (iam_enforce.create_function_user); no
    function's prefix is the start of another's."""
    return "GANTRY" + function.upper().replace("-", "")


def calls_by_function(by_key: dict[str, list[str]]) -> dict[str, list[str]]:
    return {f: sorted({op for key, ops in by_key.items() if key.startswith(access_key(f)) for op in ops})
            for f in FUNCTIONS}


def missing_grants(calls: dict[str, list[str]]) -> dict[str, list[str]]:
    """For each function, the operations it made that its role does not allow."""
    import resolve  # here, not at the top: the demo imports this module and needs no SAM CLI

    granted = resolve.Resolved().function_actions()
    return {f: sorted(set(ops) - granted[f]) for f, ops in calls.items()}


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    with urllib.request.urlopen(argv[1].rstrip("/") + "/_gantry/calls") as response:
        calls = calls_by_function(json.loads(response.read()))
    missing = missing_grants(calls)
    failed = False
    for function, operations in calls.items():
        if not operations:
            print(f"{function}: made no AWS call under its own key", file=sys.stderr)
            failed = True
        elif missing[function]:
            print(f"{function}: its role does not allow {', '.join(missing[function])}", file=sys.stderr)
            failed = True
        else:
            print(f"{function}: {len(operations)} operations, all allowed by its role: {', '.join(operations)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
