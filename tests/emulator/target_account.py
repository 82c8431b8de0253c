"""The role service/target-account.yaml creates, made in the emulator's target account: the
template resolved offline (SAM CLI's intrinsic resolver, as tests/template/resolve.py does for
template.yaml) with a test's parameters, then created in moto's IAM of that account, so the IAM
enforcement (iam_enforce.py) answers the shifter's calls there with the template's own policy.

One substitution: the trust policy's principal. The template trusts the hub's traffic-shifter
role; in the tests the shifter runs as an IAM user holding that role's policies
(iam_enforce.create_function_user), so that user's ARN stands in for the role. The statement's
action and its `sts:ExternalId` condition are the template's.
"""

from __future__ import annotations

import json
import os
from typing import Any

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
TEMPLATE = os.path.join(ROOT, "service", "target-account.yaml")
REGION = "us-east-1"


def resolved_role(account: str, parameters: dict[str, Any]) -> dict[str, Any]:
    """The template's TargetRole properties, every intrinsic resolved and every `!If` decided."""
    from samcli.lib.intrinsic_resolver.intrinsic_property_resolver import IntrinsicResolver
    from samcli.lib.intrinsic_resolver.intrinsics_symbol_table import IntrinsicsSymbolTable
    from samcli.yamlhelper import yaml_parse

    with open(TEMPLATE, encoding="utf-8") as f:
        template = yaml_parse(f.read())
    values = {name: spec.get("Default") for name, spec in template["Parameters"].items()}
    values.update(parameters)
    translator: dict[str, Any] = {"AWS::Region": REGION, "AWS::AccountId": account, "AWS::Partition": "aws",
                                  "AWS::StackName": "gantry-target"}
    for name, value in values.items():
        kind = template["Parameters"][name]["Type"]
        translator[name] = value.split(",") if kind == "CommaDelimitedList" and isinstance(value, str) else value
    resolver = IntrinsicResolver(
        template=template,
        symbol_resolver=IntrinsicsSymbolTable(template=template, logical_id_translator=translator))
    no_value = object()

    def resolve(value: Any) -> Any:
        return resolver.intrinsic_property_resolver(value, ignore_errors=False)

    def walk(v: Any) -> Any:
        if isinstance(v, dict) and set(v) == {"Fn::If"}:
            condition, yes, no = v["Fn::If"]
            chosen = yes if resolve({"Fn::If": [condition, "yes", "no"]}) == "yes" else no
            return no_value if chosen == {"Ref": "AWS::NoValue"} else walk(chosen)
        if isinstance(v, dict):
            return {k: w for k, w in ((k, walk(x)) for k, x in v.items()) if w is not no_value}
        if isinstance(v, list):
            return [w for w in (walk(x) for x in v) if w is not no_value]
        return v

    return resolve(walk(template["Resources"]["TargetRole"]["Properties"]))


def create_target_role(account: str, parameters: dict[str, Any], trusted: str) -> dict[str, Any]:
    """Creates (or replaces) the target role in `account`'s IAM, trusting `trusted` in place of
    the hub's traffic-shifter role. Returns its ARN and policies."""
    from moto.iam.models import iam_backends

    role = resolved_role(account, parameters)
    trust = role["AssumeRolePolicyDocument"]
    for statement in trust["Statement"]:
        statement["Principal"] = {"AWS": trusted}
    backend = iam_backends[account]["aws"]
    name = role["RoleName"]
    try:
        existing = backend.get_role(name)
    except Exception:  # moto's NoSuchEntity
        existing = None
    if existing is not None:
        for policy in list(existing.policies):
            backend.delete_role_policy(name, policy)
        backend.delete_role(name)
    backend.create_role(name, json.dumps(trust), "/", None, role.get("Description", ""), [],
                        str(role.get("MaxSessionDuration", 3600)))
    for policy in role.get("Policies", []):
        backend.put_role_policy(name, policy["PolicyName"], json.dumps(policy["PolicyDocument"]))
    return {"arn": f"arn:aws:iam::{account}:role/{name}", "policies": role.get("Policies", []),
            "trust": trust}
