"""Packages a release into dist/ from the functions' bootstraps (`make release` builds them first:
scripts/release.sh). What dist/ holds is the contract in docs/release.md:

  webhook.zip notifier.zip approval.zip traffic-shifter.zip   each holds one file, `bootstrap`
  template.yaml (and service.yaml once service/template.yaml exists), packaged for SAR
  LICENSE README.md sbom.cdx.json SHA256SUMS

Everything written depends only on the source, the bootstraps and SOURCE_DATE_EPOCH: zip entries
carry that time and fixed permissions, JSON and YAML are written in a fixed order, so two runs
from the same source give the same SHA256SUMS.

    .venv/bin/python scripts/release.py --lambda-dir TARGET/lambda --out dist

The sam CLI's own YAML reader and writer (the ones `sam package` uses) read the templates: they
keep the short-form intrinsics (!Ref, !Sub...) as CloudFormation reads them.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
import tomllib
import uuid
import zipfile
from typing import Any

from samcli.yamlhelper import yaml_dump, yaml_parse

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FUNCTIONS = ["webhook", "notifier", "approval", "traffic-shifter"]
LAMBDA_TARGET = "aarch64-unknown-linux-gnu"
# The templates packaged, with the name each has in SAR and in dist/. The service template is
# packaged as soon as it exists.
TEMPLATES = [
    ("template.yaml", "template.yaml", "gantry",
     "Chat-driven delivery on CodePipeline: push webhooks, one live Slack thread per execution, "
     "Slack approvals and ECS blue/green traffic shifting with automatic rollback."),
    (os.path.join("service", "template.yaml"), "service.yaml", "gantry-service",
     "One service delivered by a Gantry hub: its pipeline, image repository, build, per-stage app "
     "secret placeholders and registry entry (routes, Slack channel, approvers)."),
]
SAR_AUTHOR = "gantry"
# Metadata that asks `sam build` to build a function: none of it may be left in dist/.
BUILD_METADATA = ("BuildMethod", "BuildProperties", "Dockerfile", "DockerContext", "DockerTag")


class ReleaseError(Exception):
    """Something a release cannot be made without; the message says what to fix."""


def workspace() -> dict[str, Any]:
    with open(os.path.join(ROOT, "Cargo.toml"), "rb") as f:
        return tomllib.load(f)["workspace"]["package"]


def source_date_epoch() -> int:
    value = os.environ.get("SOURCE_DATE_EPOCH", "")
    if not value.isdigit():
        raise ReleaseError("SOURCE_DATE_EPOCH must be set to a number of seconds (scripts/release.sh "
                           "sets it to the last commit's time)")
    return int(value)


# ---------------------------------------------------------------------------------- the zips

def zip_time(epoch: int) -> tuple[int, int, int, int, int, int]:
    # A zip stores local time from 1980 on, in 2-second steps: UTC, clamped, so every run agrees.
    t = time.gmtime(max(epoch, 315532800))
    return (t.tm_year, t.tm_mon, t.tm_mday, t.tm_hour, t.tm_min, t.tm_sec - t.tm_sec % 2)


def write_zip(bootstrap: str, out: str, epoch: int) -> None:
    """A Lambda deployment package: one executable entry, `bootstrap`, with nothing in it that
    depends on when or where it was made (no extra fields, a fixed time, fixed permissions)."""
    info = zipfile.ZipInfo("bootstrap", date_time=zip_time(epoch))
    info.compress_type = zipfile.ZIP_DEFLATED
    info.create_system = 3  # Unix, so that Lambda reads the permission bits below
    info.external_attr = (0o100755 << 16)  # a regular file, executable
    with open(bootstrap, "rb") as f:
        data = f.read()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr(info, data, compress_type=zipfile.ZIP_DEFLATED, compresslevel=9)


# ----------------------------------------------------------------------------- the templates

def package_template(text: str, *, name: str, description: str, meta: dict[str, Any]) -> str:
    """The template as dist/ ships it: each function's `CodeUri` is its zip (named after the
    binary its build metadata names), no build metadata is left, and SAR's metadata is added."""
    template = yaml_parse(text)
    # The source template's description tells a source checkout to build first; dist/ needs no build.
    if isinstance(template.get("Description"), str):
        template["Description"] = template["Description"].replace("sam build && ", "")
    function_globals = template.get("Globals", {}).get("Function", {})
    # Each function names its own zip; a global CodeUri (the workspace root) means nothing here.
    function_globals.pop("CodeUri", None)
    for logical_id, resource in template.get("Resources", {}).items():
        if resource.get("Type") != "AWS::Serverless::Function":
            continue
        metadata = resource.get("Metadata", {})
        binary = metadata.get("BuildProperties", {}).get("Binary")
        if binary not in FUNCTIONS:
            raise ReleaseError(f"{logical_id}: Metadata.BuildProperties.Binary must name one of "
                               f"{', '.join(FUNCTIONS)} (found {binary!r})")
        for key in BUILD_METADATA:
            metadata.pop(key, None)
        if not metadata:
            resource.pop("Metadata", None)
        resource.setdefault("Properties", {})["CodeUri"] = f"{binary}.zip"
    template.setdefault("Metadata", {})["AWS::ServerlessRepo::Application"] = {
        "Name": name,
        "Description": description,
        "Author": SAR_AUTHOR,
        "SpdxLicenseId": meta["license"],
        "LicenseUrl": "LICENSE",
        "ReadmeUrl": "README.md",
        "Labels": ["codepipeline", "slack", "ecs", "blue-green", "canary", "rust"],
        "HomePageUrl": meta["repository"],
        "SemanticVersion": meta["version"],
        "SourceCodeUrl": meta["repository"],
    }
    return yaml_dump(template)


# ----------------------------------------------------------------------------------- the SBOM

def cargo(*args: str) -> str:
    return subprocess.run(["cargo", *args], cwd=ROOT, check=True, capture_output=True, text=True).stdout


def compiled_crates() -> list[tuple[str, str]]:
    """Every crate compiled into the four functions for Lambda (normal dependencies, the
    features the release build turns on), as (name, version), sorted."""
    packages = [a for f in FUNCTIONS for a in ("-p", f)]
    out = cargo("tree", "--locked", "--edges", "normal", "--target", LAMBDA_TARGET, "--prefix", "none",
                "--format", "{p}", *packages)
    crates = set()
    for line in out.splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[1].startswith("v"):
            crates.add((parts[0], parts[1][1:]))
    return sorted(crates)


def sbom(crates: list[tuple[str, str]], meta: dict[str, Any], epoch: int) -> dict[str, Any]:
    """CycloneDX 1.5: the application, and every crate compiled into it with the name, version,
    licence and checksum Cargo.lock and the crates' manifests give. The serial number is derived
    from the content, so the same source gives the same document."""
    with open(os.path.join(ROOT, "Cargo.lock"), "rb") as f:
        lock = {(p["name"], p["version"]): p for p in tomllib.load(f)["package"]}
    licences = {(p["name"], p["version"]): p.get("license")
                for p in json.loads(cargo("metadata", "--locked", "--format-version", "1"))["packages"]}
    components = []
    for name, version in crates:
        locked = lock.get((name, version))
        if locked is None:
            raise ReleaseError(f"{name} {version} is not in Cargo.lock: run `cargo build` once and commit Cargo.lock")
        component: dict[str, Any] = {"type": "library", "bom-ref": f"pkg:cargo/{name}@{version}",
                                     "name": name, "version": version, "purl": f"pkg:cargo/{name}@{version}"}
        if licences.get((name, version)):
            component["licenses"] = [{"expression": licences[(name, version)]}]
        if "checksum" in locked:  # the workspace's own crates have none: they come from no registry
            component["hashes"] = [{"alg": "SHA-256", "content": locked["checksum"]}]
        components.append(component)
    body = json.dumps(components, sort_keys=True).encode()
    serial = uuid.uuid5(uuid.NAMESPACE_URL, f"gantry/{meta['version']}/{hashlib.sha256(body).hexdigest()}")
    return {
        "bomFormat": "CycloneDX",
        "specVersion": "1.5",
        "serialNumber": f"urn:uuid:{serial}",
        "version": 1,
        "metadata": {
            "timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch)),
            "component": {"type": "application", "bom-ref": "gantry", "name": "gantry",
                          "version": meta["version"], "licenses": [{"expression": meta["license"]}]},
        },
        "components": components,
    }


# ---------------------------------------------------------------------------------- dist/

def sha256sums(out: str) -> str:
    lines = []
    for name in sorted(os.listdir(out)):
        if name == "SHA256SUMS":
            continue
        with open(os.path.join(out, name), "rb") as f:
            lines.append(f"{hashlib.sha256(f.read()).hexdigest()}  {name}\n")
    return "".join(lines)


# SourceCodeUrl and HomePageUrl when neither GANTRY_SOURCE_CODE_URL nor Cargo.toml's
# `repository` names one.
SOURCE_CODE_URL_UNSET = "https://example.invalid/set-GANTRY_SOURCE_CODE_URL"


def write(path: str, text: str) -> None:
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        f.write(text)


def package(lambda_dir: str, out: str, *, crates: list[tuple[str, str]] | None = None,
            root: str = ROOT) -> list[str]:
    """Writes dist/ (emptied first) and returns the names of what it wrote. `crates` is the
    SBOM's list (by default what `cargo tree` says the four functions compile)."""
    epoch = source_date_epoch()
    package_meta = workspace()
    source = os.environ.get("GANTRY_SOURCE_CODE_URL") or package_meta.get("repository")
    if not source:
        # The project has no public address of its own yet: the one who publishes names theirs.
        # The stand-in is a reserved name (RFC 2606) that resolves nowhere, so it is never
        # mistaken for a real home; SAR's console shows it as the source link until it is set.
        source = SOURCE_CODE_URL_UNSET
        print(f"release: GANTRY_SOURCE_CODE_URL is not set: SourceCodeUrl is {source}; "
              "set it to your repository before `sam publish` (docs/release.md)", file=sys.stderr)
    meta = {"version": package_meta["version"], "license": package_meta["license"],
            "repository": source}
    shutil.rmtree(out, ignore_errors=True)
    os.makedirs(out)
    for function in FUNCTIONS:
        bootstrap = os.path.join(lambda_dir, function, "bootstrap")
        if not os.path.isfile(bootstrap):
            raise ReleaseError(f"{bootstrap}: not built (scripts/release.sh builds it)")
        write_zip(bootstrap, os.path.join(out, f"{function}.zip"), epoch)
    for source, target, name, description in TEMPLATES:
        path = os.path.join(root, source)
        if os.path.isfile(path):
            with open(path, encoding="utf-8") as f:
                write(os.path.join(out, target),
                      package_template(f.read(), name=name, description=description, meta=meta))
    for name in ("LICENSE", "README.md"):
        shutil.copyfile(os.path.join(root, name), os.path.join(out, name))
    document = sbom(compiled_crates() if crates is None else crates, meta, epoch)
    write(os.path.join(out, "sbom.cdx.json"), json.dumps(document, indent=2, sort_keys=True) + "\n")
    write(os.path.join(out, "SHA256SUMS"), sha256sums(out))
    return sorted(os.listdir(out))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lambda-dir", required=True, help="where cargo-lambda left <function>/bootstrap")
    parser.add_argument("--out", default=os.path.join(ROOT, "dist"))
    args = parser.parse_args()
    try:
        written = package(args.lambda_dir, args.out)
    except (ReleaseError, subprocess.CalledProcessError) as e:
        detail = getattr(e, "stderr", "") or ""
        print(f"release: {e}\n{detail}", file=sys.stderr)
        return 1
    print(f"release: {args.out}: {', '.join(written)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
