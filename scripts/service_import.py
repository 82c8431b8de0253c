#!/usr/bin/env python3
"""From a one-service Gantry stack to a service stack, keeping the pipeline's history: writes what
`aws cloudformation create-change-set --change-set-type IMPORT` needs to bring the retained
pipeline, image repository and artifact bucket into a new service stack (docs/deploy.md, "From a
one-service stack").

    scripts/service_import.py SERVICE REPOSITORY_NAME BUCKET_NAME OUTDIR
      -> OUTDIR/import.yaml            service/template.yaml with only the three resources
         OUTDIR/resources-to-import.json

Then `create-change-set --change-set-type IMPORT --template-body file://OUTDIR/import.yaml
--resources-to-import file://OUTDIR/resources-to-import.json` (with the service's parameters,
ExistingImageRepositoryName=REPOSITORY_NAME and ExistingArtifactBucketName=BUCKET_NAME among them), and
a plain `aws cloudformation deploy` of service/template.yaml creates the rest and updates the
imported pipeline to its new build project, role and the hub's traffic shifter. An import only
reads the resources, so the stand-ins below for what does not exist yet are never applied.
"""

from __future__ import annotations

import copy
import json
import os
import sys
from typing import Any

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

from samcli.yamlhelper import yaml_dump, yaml_parse  # noqa: E402

IMPORTED = {  # logical id -> (resource type, identifier property)
    "Pipeline": ("AWS::CodePipeline::Pipeline", "Name"),
    "ImageRepository": ("AWS::ECR::Repository", "RepositoryName"),
    "ArtifactBucket": ("AWS::S3::Bucket", "BucketName"),
}


def _replace_refs(value: Any, stand_ins: dict[str, Any]) -> Any:
    """`value` with each reference to a resource that is not imported replaced by its stand-in."""
    if isinstance(value, dict):
        if set(value) == {"Ref"} and value["Ref"] in stand_ins:
            return stand_ins[value["Ref"]]
        if set(value) == {"Fn::GetAtt"}:
            target = value["Fn::GetAtt"]
            name = target[0] if isinstance(target, list) else target.split(".")[0]
            if name in stand_ins:
                return stand_ins[name]
        return {k: _replace_refs(v, stand_ins) for k, v in value.items()}
    if isinstance(value, list):
        return [_replace_refs(v, stand_ins) for v in value]
    return value


def import_template(service: dict[str, Any]) -> dict[str, Any]:
    """The service template reduced to the resources an IMPORT change set brings in, each named
    as it exists and with its DeletionPolicy (an import requires one)."""
    template = copy.deepcopy(service)
    resources = template["Resources"]
    stand_ins = {
        "PipelineRole": {"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:role/gantry-import-stand-in"},
        "BuildProject": "gantry-import-stand-in",
    }
    kept = {k: resources[k] for k in IMPORTED}
    kept = _replace_refs(kept, stand_ins)
    # The names come in as ExistingImageRepositoryName and ExistingArtifactBucketName, which the
    # later deploys keep: a name dropped from the template would replace the resource.
    template.setdefault("Metadata", {})["cfn-lint"] = {"config": {"ignore_checks": [
        # The full template's parameters and conditions, kept so that the deploy after the
        # import reuses the same answers; the three resources use only some of them.
        "W2001", "W8001"]}}
    for logical_id, resource in kept.items():
        if "DeletionPolicy" not in resource:
            raise SystemExit(f"{logical_id} has no DeletionPolicy: CloudFormation cannot import it")
    template["Resources"] = kept
    template.pop("Outputs", None)
    return template


def resources_to_import(service_name: str, repository: str, bucket: str) -> list[dict[str, Any]]:
    names = {"Pipeline": service_name, "ImageRepository": repository, "ArtifactBucket": bucket}
    return [{"ResourceType": kind, "LogicalResourceId": logical_id, "ResourceIdentifier": {prop: names[logical_id]}}
            for logical_id, (kind, prop) in IMPORTED.items()]


def main(argv: list[str]) -> int:
    if len(argv) != 5:
        print(__doc__, file=sys.stderr)
        return 2
    service_name, repository, bucket, out = argv[1:]
    with open(os.path.join(ROOT, "service", "template.yaml"), encoding="utf-8") as f:
        service = yaml_parse(f.read())
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "import.yaml"), "w", encoding="utf-8") as f:
        f.write(yaml_dump(import_template(service)))
    with open(os.path.join(out, "resources-to-import.json"), "w", encoding="utf-8") as f:
        json.dump(resources_to_import(service_name, repository, bucket), f, indent=2)
        f.write("\n")
    print(f"{out}/import.yaml, {out}/resources-to-import.json")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
