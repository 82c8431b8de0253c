"""template.yaml (the hub) and service/template.yaml (a service) as CloudFormation sees them, offline: SAM's own translator turns the SAM template
into plain CloudFormation, and SAM CLI's intrinsic resolver evaluates `!Sub`, `!If`, `!Join`… with
chosen parameter values. Nothing reaches AWS.

Used by test_template.py, and by the Rust template test through its command line:

    .venv/bin/python tests/template/resolve.py env   # {"webhook": {"GANTRY_ROUTES": "…"}, …}
"""

from __future__ import annotations

import copy
import json
import os
import sys
from typing import Any

from samcli.lib.intrinsic_resolver.intrinsic_property_resolver import IntrinsicResolver
from samcli.lib.intrinsic_resolver.intrinsics_symbol_table import IntrinsicsSymbolTable
from samcli.yamlhelper import yaml_parse
from samtranslator.translator.transform import transform

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
TEMPLATE = os.path.join(ROOT, "template.yaml")
SERVICE_TEMPLATE = os.path.join(ROOT, "service", "template.yaml")

REGION = "us-east-1"
ACCOUNT = "123456789012"
STACK = "gantry-shop"
ELB = f"arn:aws:elasticloadbalancing:{REGION}:{ACCOUNT}"
# The translator takes the region from a boto3 session; no credentials are needed or used.
os.environ.setdefault("AWS_DEFAULT_REGION", REGION)


def environment(env: str) -> dict[str, Any]:
    """One environment's parameters, with names as long as AWS allows for ALBs and target groups
    (32 characters), so the UserParameters length check is a worst case."""
    name = f"shop-{env}-" + "x" * (32 - len(f"shop-{env}-"))
    prefix = env.capitalize()
    return {
        f"{prefix}Cluster": f"shop-{env}",
        f"{prefix}ListenerArn": f"{ELB}:listener/app/{name}/50dc6c495c0c9188/f2f7dc8efc522ab2",
        f"{prefix}BlueService": f"shop-{env}-blue",
        f"{prefix}BlueTargetGroupArn": f"{ELB}:targetgroup/{name[:-5]}-blue/73e2d6bc24d8a067",
        f"{prefix}GreenService": f"shop-{env}-green",
        f"{prefix}GreenTargetGroupArn": f"{ELB}:targetgroup/{name[:-5]}green/0f1e2d3c4b5a6978",
        f"{prefix}AlarmNames": [f"shop-{env}-5xx-rate-above-one-percent", f"shop-{env}-p99-latency-above-800ms"],
    }


# What a user answers to the service template's `sam deploy --guided` (defaults for everything
# else). The hub needs no answer: every parameter of template.yaml has a default.
SAMPLE: dict[str, Any] = {
    "ServiceName": "shop",
    "ConnectionArn": f"arn:aws:codeconnections:{REGION}:{ACCOUNT}:connection/2a0c8f6e-1b7d-4c3e-9f5a-6d8b7c9e0f1a",
    "RepositoryId": "octo-org/shop",
    "SlackChannel": "C0DEPLOYS",
    "ApproverUsers": "U0ALICE,U0BOB",
    "ApproverGroups": "S0RELEASE",
    **environment("dev"),
    **environment("qa"),
    **environment("prod"),
}


def sam_template(path: str = TEMPLATE) -> dict[str, Any]:
    with open(path, encoding="utf-8") as f:
        return yaml_parse(f.read())


class _NoManagedPolicies:
    """The translator asks for AWS managed policy ARNs only for `Policies:` shortcuts, which the
    template does not use (each function has its own role)."""

    def load(self) -> dict[str, str]:
        return {}


def parameters(overrides: dict[str, Any] | None = None, path: str = TEMPLATE) -> dict[str, Any]:
    """Every parameter's value: the template's defaults, the sample answers, then `overrides`.
    CommaDelimitedList values are lists, as CloudFormation hands them to intrinsics. Answers and
    overrides the template does not declare are left out (a test's stack may name a service's
    parameters when it resolves the hub)."""
    declared = sam_template(path)["Parameters"]
    values: dict[str, Any] = {}
    for name, spec in declared.items():
        if "Default" in spec:
            default = spec["Default"]
            if spec["Type"] == "CommaDelimitedList":
                # As CloudFormation does: "" is a list of one empty string, not an empty list.
                default = default.split(",")
            values[name] = default if isinstance(default, list) else str(default)
    values.update({k: v for k, v in SAMPLE.items() if k in declared})
    values.update({k: v for k, v in (overrides or {}).items() if k in declared})
    missing = [n for n in declared if n not in values]
    if missing:
        raise KeyError(f"no sample value for parameters without a default: {missing}")
    return values


def cloudformation(overrides: dict[str, Any] | None = None, path: str = TEMPLATE) -> dict[str, Any]:
    """The template after SAM's transform: plain CloudFormation, intrinsics still unresolved."""
    values = parameters(overrides, path)
    # The translator resolves a few SAM-level intrinsics itself and wants strings there.
    flat = {k: ",".join(v) if isinstance(v, list) else v for k, v in values.items()}
    sam = sam_template(path)
    if "Transform" not in sam:  # the service template is plain CloudFormation already
        return sam
    # What `sam package` does after uploading the build: the local CodeUri becomes an S3 URI.
    sam["Globals"]["Function"]["CodeUri"] = "s3://gantry-packages/functions.zip"
    return transform(sam, flat, _NoManagedPolicies())


class Resolved:
    """The transformed template, with a resolver for any of its values."""

    def __init__(self, overrides: dict[str, Any] | None = None,
                 names: dict[str, Any] | None = None, transformed: dict[str, Any] | None = None,
                 path: str = TEMPLATE) -> None:
        """`names`: what CloudFormation answers for resources (logical id -> `Ref` value, or
        {"Ref": ..., "Arn": ...}), replacing the stand-ins below: the emulator's own names when a
        test's functions run with the roles resolved here."""
        self.path = path
        self.parameters = parameters(overrides, path)
        # `transformed`: an earlier transform to reuse (the roles do not depend on its parameters).
        self.template = copy.deepcopy(transformed) if transformed else cloudformation(overrides, path)
        self.resources: dict[str, Any] = self.template["Resources"]
        translator: dict[str, Any] = {
            "AWS::Region": REGION,
            "AWS::AccountId": ACCOUNT,
            "AWS::StackName": STACK,
            "AWS::Partition": "aws",
            # What CloudFormation would answer for the resources the functions are given.
            "Pipeline": self.parameters.get("ServiceName", SAMPLE["ServiceName"]),
            "StateTable": f"{STACK}-StateTable-1A2B3C4D5E6F",
            "GantrySecret": f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:gantry/{STACK}-AbCdEf",
            "Topic": f"arn:aws:sns:{REGION}:{ACCOUNT}:{STACK}-Topic-1A2B3C4D5E6F",
            "WebhookRetryQueue": {
                "Ref": f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/{STACK}-WebhookRetryQueue-1A2B3C4D5E6F",
                "Arn": f"arn:aws:sqs:{REGION}:{ACCOUNT}:{STACK}-WebhookRetryQueue-1A2B3C4D5E6F"},
        }
        for name, value in self.parameters.items():
            translator[name] = value
        translator.update(names or {})
        # The functions' log groups (LogGroupName: /gantry/<stack>/<binary>).
        for logical, binary in (("Webhook", "webhook"), ("Notifier", "notifier"), ("Approval", "approval"),
                                ("TrafficShifter", "traffic-shifter")):
            group = f"/gantry/{STACK}/{binary}"
            translator.setdefault(f"{logical}LogGroup", {
                "Ref": group, "Arn": f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{group}:*"})
        table = translator["StateTable"]
        if isinstance(table, str):
            translator["StateTable"] = {"Ref": table, "Arn": f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{table}"}
        self._resolver = IntrinsicResolver(
            template=self.template,
            symbol_resolver=IntrinsicsSymbolTable(template=self.template, logical_id_translator=translator),
        )

    def resolve(self, value: Any) -> Any:
        return self._resolver.intrinsic_property_resolver(copy.deepcopy(value), ignore_errors=False)

    def of_type(self, kind: str) -> dict[str, Any]:
        return {k: r for k, r in self.resources.items() if r["Type"] == kind}

    def function_environment(self) -> dict[str, dict[str, str]]:
        """Each function's environment (by binary name), as Lambda would receive it."""
        sam = sam_template()["Resources"]
        out: dict[str, dict[str, str]] = {}
        for logical_id, resource in self.of_type("AWS::Lambda::Function").items():
            binary = sam[logical_id]["Metadata"]["BuildProperties"]["Binary"]
            variables = resource["Properties"].get("Environment", {}).get("Variables", {})
            # A variable set with `!If [cond, value, !Ref AWS::NoValue]` is absent when `cond` is false.
            decided = self._decide({"Variables": variables}).get("Variables", {})
            out[binary] = {k: v for k, v in decided.items()}
        return out


    def function_actions(self) -> dict[str, set[str]]:
        """The IAM actions each function's role allows (by binary name), whatever the
        conditions: both branches of an `!If` count."""
        sam = sam_template()["Resources"]
        out: dict[str, set[str]] = {}
        for logical_id, resource in self.of_type("AWS::Lambda::Function").items():
            binary = sam[logical_id]["Metadata"]["BuildProperties"]["Binary"]
            role = resource["Properties"]["Role"]["Fn::GetAtt"]
            role_id = role[0] if isinstance(role, list) else role.split(".")[0]
            actions: set[str] = set()
            for policy in self.resources[role_id]["Properties"].get("Policies", []):
                for statement in _statements(policy["PolicyDocument"]["Statement"]):
                    if statement.get("Effect") == "Allow":
                        action = statement["Action"]
                        actions.update([action] if isinstance(action, str) else action)
            out[binary] = actions
        return out


    def function_policies(self, binary: str) -> list[dict[str, Any]]:
        """The inline policies of a function's role (by binary name), resolved as CloudFormation
        would create them: [{"PolicyName": ..., "PolicyDocument": {...}}], each `!If` decided by
        the parameters and `AWS::NoValue` dropped."""
        sam = sam_template()["Resources"]
        for logical_id, resource in self.of_type("AWS::Lambda::Function").items():
            if sam[logical_id]["Metadata"]["BuildProperties"]["Binary"] != binary:
                continue
            role = resource["Properties"]["Role"]["Fn::GetAtt"]
            role_id = role[0] if isinstance(role, list) else role.split(".")[0]
            return [{"PolicyName": self.resolve(p["PolicyName"]),
                     "PolicyDocument": self._decide(p["PolicyDocument"])}
                    for p in self.resources[role_id]["Properties"].get("Policies", [])]
        raise KeyError(f"no function with binary {binary!r}")

    def _decide(self, value: Any) -> Any:
        """`value` with each `Fn::If` replaced by its chosen branch (dropped when that branch is
        `AWS::NoValue`), then resolved."""
        def walk(v: Any) -> Any:
            if isinstance(v, dict) and set(v) == {"Fn::If"}:
                condition, yes, no = v["Fn::If"]
                chosen = yes if self.resolve({"Fn::If": [condition, "yes", "no"]}) == "yes" else no
                return _NO_VALUE if chosen == {"Ref": "AWS::NoValue"} else walk(chosen)
            if isinstance(v, dict):
                return {k: w for k, w in ((k, walk(x)) for k, x in v.items()) if w is not _NO_VALUE}
            if isinstance(v, list):
                return [w for w in (walk(x) for x in v) if w is not _NO_VALUE]
            return v
        return self.resolve(walk(value))


_NO_VALUE = object()


def _statements(items: list[Any]) -> list[dict[str, Any]]:
    """Policy statements, with `Fn::If` unfolded into both of its branches."""
    out: list[dict[str, Any]] = []
    for item in items:
        if isinstance(item, dict) and "Fn::If" in item:
            out.extend(_statements([branch for branch in item["Fn::If"][1:]
                                    if isinstance(branch, dict) and "Ref" not in branch]))
        elif isinstance(item, dict):
            out.append(item)
    return out


def main(argv: list[str]) -> int:
    if argv[1:] == ["env"]:
        json.dump(Resolved().function_environment(), sys.stdout, indent=2, sort_keys=True)
        print()
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
