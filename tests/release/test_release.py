"""`make release` without the release build: scripts/release.py packages stand-in bootstraps (a
few bytes each instead of four arm64 fat-LTO builds, which would cost CI many minutes), and the
tests check what a user of dist/ relies on: one executable `bootstrap` per zip, a packaged
template that `cfn-lint` and `sam validate --lint` accept with every `CodeUri` a zip in dist/ and
nothing left that would make `sam` build, SAR's metadata, the SBOM, SHA256SUMS, and the same
bytes from the same source and SOURCE_DATE_EPOCH. Also: the template keeps its state across
updates, deny.toml names every AWS SDK crate and refuses a copyleft licence, a git source and a
second SDK version, and docs/release.md's nested-application snippet passes cfn-lint. (The real build's reproducibility is measured by hand: docs/release.md.)

    .venv/bin/python tests/release/test_release.py      # exit status != 0 on failure
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
import unittest
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "scripts"))
os.environ.setdefault("SAM_CLI_TELEMETRY", "0")

import release  # noqa: E402
from samcli.yamlhelper import yaml_parse  # noqa: E402

BIN = os.path.dirname(sys.executable)
EPOCH = "1767225600"  # 2026-01-01T00:00:00Z


def workspace_version() -> str:
    with open(os.path.join(ROOT, "Cargo.toml"), "rb") as f:
        return tomllib.load(f)["workspace"]["package"]["version"]


def locked_version(crate: str) -> str:
    with open(os.path.join(ROOT, "Cargo.lock"), "rb") as f:
        return next(p["version"] for p in tomllib.load(f)["package"] if p["name"] == crate)


def stand_in_bootstraps(directory: str) -> dict[str, bytes]:
    """cargo-lambda's layout (<function>/bootstrap), each file naming its function."""
    out = {}
    for function in release.FUNCTIONS:
        os.makedirs(os.path.join(directory, function))
        path = os.path.join(directory, function, "bootstrap")
        out[function] = f"#!/bin/sh\necho {function}\n".encode()
        with open(path, "wb") as f:
            f.write(out[function])
        os.chmod(path, 0o755)
    return out


class Env:
    """Sets environment variables for a block, restoring them after."""

    def __init__(self, **values: str) -> None:
        self.values, self.saved = values, {}

    def __enter__(self) -> None:
        for k, v in self.values.items():
            self.saved[k] = os.environ.get(k)
            os.environ[k] = v

    def __exit__(self, *_: object) -> None:
        for k, v in self.saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


class Dist(unittest.TestCase):
    """One dist/ packaged from stand-ins, shared by the tests that only read it."""

    @classmethod
    def setUpClass(cls) -> None:
        cls.tmp = tempfile.mkdtemp(prefix="gantry-release-")
        cls.bootstraps = stand_in_bootstraps(os.path.join(cls.tmp, "lambda"))
        cls.dist = os.path.join(cls.tmp, "dist")
        with Env(SOURCE_DATE_EPOCH=EPOCH):
            cls.written = release.package(os.path.join(cls.tmp, "lambda"), cls.dist)
        with open(os.path.join(cls.dist, "template.yaml"), encoding="utf-8") as f:
            cls.template = yaml_parse(f.read())

    @classmethod
    def tearDownClass(cls) -> None:
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def test_dist_holds_what_the_release_contract_lists(self) -> None:
        expected = {f"{f}.zip" for f in release.FUNCTIONS} | {
            "template.yaml", "LICENSE", "README.md", "sbom.cdx.json", "SHA256SUMS"}
        if os.path.isfile(os.path.join(ROOT, "service", "template.yaml")):
            expected.add("service.yaml")
        self.assertEqual(set(self.written), expected)

    def test_each_zip_holds_one_executable_bootstrap(self) -> None:
        for function, content in self.bootstraps.items():
            with self.subTest(function=function), zipfile.ZipFile(os.path.join(self.dist, f"{function}.zip")) as z:
                (entry,) = z.infolist()
                self.assertEqual(entry.filename, "bootstrap")
                self.assertEqual(entry.external_attr >> 16, 0o100755)  # Lambda runs it as is
                self.assertEqual(z.read(entry), content)
                self.assertEqual(entry.date_time, (2026, 1, 1, 0, 0, 0))  # SOURCE_DATE_EPOCH

    def test_sha256sums_covers_every_other_file_and_checks(self) -> None:
        with open(os.path.join(self.dist, "SHA256SUMS"), encoding="utf-8") as f:
            listed = [line.split("  ", 1)[1].strip() for line in f]
        self.assertEqual(sorted(listed), sorted(n for n in self.written if n != "SHA256SUMS"))
        subprocess.run(["sha256sum", "--check", "--quiet", "SHA256SUMS"], cwd=self.dist, check=True)

    def test_every_code_uri_is_a_zip_in_dist_and_nothing_asks_sam_to_build(self) -> None:
        functions = {k: r for k, r in self.template["Resources"].items() if r["Type"] == "AWS::Serverless::Function"}
        # Four binaries; a function resource may reuse one (approval requests run the approval
        # binary with a concurrency of their own), so the resources name exactly those four zips.
        uris = {r["Properties"]["CodeUri"] for r in functions.values()}
        self.assertEqual(uris, {f"{f}.zip" for f in release.FUNCTIONS})
        for uri in uris:
            self.assertTrue(os.path.isfile(os.path.join(self.dist, uri)), uri)
        self.assertNotIn("CodeUri", self.template.get("Globals", {}).get("Function", {}))
        for name, resource in self.template["Resources"].items():
            left = set(resource.get("Metadata", {})) & set(release.BUILD_METADATA)
            self.assertEqual(left, set(), f"{name}: build metadata left")
        self.assertNotIn("sam build", self.template["Description"])

    def test_sar_metadata_names_this_release(self) -> None:
        sar = self.template["Metadata"]["AWS::ServerlessRepo::Application"]
        self.assertEqual(sar["SemanticVersion"], workspace_version())
        self.assertEqual(sar["SpdxLicenseId"], "Apache-2.0")
        self.assertEqual((sar["LicenseUrl"], sar["ReadmeUrl"]), ("LICENSE", "README.md"))
        for name in (sar["LicenseUrl"], sar["ReadmeUrl"]):
            self.assertTrue(os.path.isfile(os.path.join(self.dist, name)), name)
        # SAR's own rules (what `sam publish` would refuse).
        self.assertRegex(sar["Name"], r"^[a-zA-Z0-9\-]{1,140}$")
        self.assertRegex(sar["Author"], r"^[a-z0-9](([a-z0-9]|-(?!-))*[a-z0-9])?$")
        self.assertLessEqual(len(sar["Description"]), 256)
        self.assertRegex(sar["SemanticVersion"], r"^\d+\.\d+\.\d+$")
        self.assertRegex(sar["SourceCodeUrl"], r"^https://")
        self.assertLessEqual(len(sar["Labels"]), 10)
        for label in sar["Labels"]:
            self.assertRegex(label, r"^[a-zA-Z0-9+\-_:/@]{1,127}$")

    def test_the_sbom_lists_the_crates_compiled_into_the_functions_at_their_locked_versions(self) -> None:
        with open(os.path.join(self.dist, "sbom.cdx.json"), encoding="utf-8") as f:
            bom = json.load(f)
        self.assertEqual((bom["bomFormat"], bom["specVersion"]), ("CycloneDX", "1.5"))
        self.assertEqual(bom["metadata"]["component"]["version"], workspace_version())
        with open(os.path.join(ROOT, "Cargo.lock"), "rb") as f:
            locked = {p["name"]: p for p in tomllib.load(f)["package"]}
        components = {c["name"]: c for c in bom["components"]}
        for name in ("aws-sdk-dynamodb", "aws-sdk-codepipeline", "lambda_runtime", "tokio", "rustls",
                     "gantry-core", "webhook", "traffic-shifter"):
            with self.subTest(crate=name):
                self.assertEqual(components[name]["version"], locked[name]["version"])
                if "checksum" in locked[name]:
                    self.assertEqual(components[name]["hashes"][0]["content"], locked[name]["checksum"])
        # Not compiled into a function: tests-only and benchmark crates, build-time tools.
        for name in ("serde_yaml", "gantry-tests", "gantry-bench-floor", "cmake"):
            self.assertNotIn(name, components)

    def test_the_packaged_template_passes_cfn_lint_and_sam_validate(self) -> None:
        path = os.path.join(self.dist, "template.yaml")
        lint = subprocess.run([os.path.join(BIN, "cfn-lint"), path], capture_output=True, text=True)
        self.assertEqual(lint.returncode, 0, lint.stdout + lint.stderr)
        validate = subprocess.run([os.path.join(BIN, "sam"), "validate", "--lint", "--template-file", path,
                                   "--region", "us-east-1"], capture_output=True, text=True, cwd=self.dist)
        self.assertEqual(validate.returncode, 0, validate.stdout + validate.stderr)

    def test_sam_package_needs_nothing_but_dist(self) -> None:
        """What `sam deploy --template-file dist/template.yaml` does first, against the emulator's
        S3: every zip, the licence and the README are uploaded from dist/, no build is tried."""
        emulator = os.environ.get("GANTRY_EMULATOR_URL")
        if not emulator:
            self.skipTest("GANTRY_EMULATOR_URL is not set")
        import boto3

        bucket = "gantry-release-" + hashlib.sha256(self.tmp.encode()).hexdigest()[:8]
        aws = dict(AWS_ENDPOINT_URL=emulator, AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing",
                   AWS_DEFAULT_REGION="us-east-1", AWS_REGION="us-east-1")
        boto3.client("s3", endpoint_url=emulator, region_name="us-east-1", aws_access_key_id="testing",
                     aws_secret_access_key="testing").create_bucket(Bucket=bucket)
        out = os.path.join(self.tmp, "packaged.yaml")
        run = subprocess.run([os.path.join(BIN, "sam"), "package", "--template-file", "template.yaml",
                              "--s3-bucket", bucket, "--output-template-file", out],
                             cwd=self.dist, capture_output=True, text=True, env={**os.environ, **aws})
        self.assertEqual(run.returncode, 0, run.stdout + run.stderr)
        with open(out, encoding="utf-8") as f:
            packaged = yaml_parse(f.read())
        for resource in packaged["Resources"].values():
            if resource["Type"] == "AWS::Serverless::Function":
                self.assertRegex(resource["Properties"]["CodeUri"], rf"^s3://{bucket}/")
        sar = packaged["Metadata"]["AWS::ServerlessRepo::Application"]
        self.assertRegex(sar["LicenseUrl"], rf"^s3://{bucket}/")
        self.assertRegex(sar["ReadmeUrl"], rf"^s3://{bucket}/")


class Packaging(unittest.TestCase):
    def package(self, lambda_dir: str, out: str, epoch: str = EPOCH, root: str = ROOT) -> list[str]:
        with Env(SOURCE_DATE_EPOCH=epoch):
            return release.package(lambda_dir, out, crates=[("tokio", locked_version("tokio"))], root=root)

    def sums(self, dist: str) -> str:
        with open(os.path.join(dist, "SHA256SUMS"), encoding="utf-8") as f:
            return f.read()

    def test_the_same_source_and_epoch_give_the_same_bytes_wherever_they_are_built(self) -> None:
        with tempfile.TemporaryDirectory() as a, tempfile.TemporaryDirectory() as b:
            stand_in_bootstraps(os.path.join(a, "lambda"))
            stand_in_bootstraps(os.path.join(b, "elsewhere", "lambda"))
            os.utime(os.path.join(b, "elsewhere", "lambda", "webhook", "bootstrap"), (0, 0))
            self.package(os.path.join(a, "lambda"), os.path.join(a, "dist"))
            self.package(os.path.join(b, "elsewhere", "lambda"), os.path.join(b, "dist"))
            self.assertEqual(self.sums(os.path.join(a, "dist")), self.sums(os.path.join(b, "dist")))
            # ...and the epoch is what the zips carry: another one gives other zips.
            self.package(os.path.join(a, "lambda"), os.path.join(a, "later"), epoch=str(int(EPOCH) + 86400))
            self.assertNotEqual(self.sums(os.path.join(a, "dist")), self.sums(os.path.join(a, "later")))

    def test_no_source_date_epoch_is_refused(self) -> None:
        saved = os.environ.pop("SOURCE_DATE_EPOCH", None)
        try:
            with self.assertRaisesRegex(release.ReleaseError, "SOURCE_DATE_EPOCH"):
                release.package("/nonexistent", "/nonexistent")
        finally:
            if saved is not None:
                os.environ["SOURCE_DATE_EPOCH"] = saved

    def test_a_function_not_built_is_refused(self) -> None:
        with tempfile.TemporaryDirectory() as tmp:
            stand_in_bootstraps(os.path.join(tmp, "lambda"))
            os.remove(os.path.join(tmp, "lambda", "approval", "bootstrap"))
            with self.assertRaisesRegex(release.ReleaseError, "approval/bootstrap: not built"):
                self.package(os.path.join(tmp, "lambda"), os.path.join(tmp, "dist"))

    def test_a_function_whose_binary_is_unknown_is_refused(self) -> None:
        template = ("Resources:\n  Odd:\n    Type: AWS::Serverless::Function\n"
                    "    Metadata: {BuildMethod: rust-cargolambda, BuildProperties: {Binary: odd}}\n"
                    "    Properties: {Handler: bootstrap}\n")
        meta = {"version": "1.2.3", "license": "Apache-2.0", "repository": "https://example.com/x"}
        with self.assertRaisesRegex(release.ReleaseError, "Odd: Metadata.BuildProperties.Binary"):
            release.package_template(template, name="x", description="x", meta=meta)

    def test_the_service_template_is_packaged_once_it_exists(self) -> None:
        with tempfile.TemporaryDirectory() as tmp:
            root = os.path.join(tmp, "src")
            os.makedirs(os.path.join(root, "service"))
            for name in ("template.yaml", "LICENSE", "README.md"):
                shutil.copyfile(os.path.join(ROOT, name), os.path.join(root, name))
            with open(os.path.join(root, "service", "template.yaml"), "w", encoding="utf-8") as f:
                f.write("AWSTemplateFormatVersion: '2010-09-09'\nResources:\n  Registration:\n"
                        "    Type: AWS::SSM::Parameter\n    Properties: {Type: String, Value: '{}'}\n")
            stand_in_bootstraps(os.path.join(tmp, "lambda"))
            written = self.package(os.path.join(tmp, "lambda"), os.path.join(tmp, "dist"), root=root)
            self.assertIn("service.yaml", written)
            with open(os.path.join(tmp, "dist", "service.yaml"), encoding="utf-8") as f:
                sar = yaml_parse(f.read())["Metadata"]["AWS::ServerlessRepo::Application"]
            self.assertEqual((sar["Name"], sar["SemanticVersion"]), ("gantry-service", workspace_version()))
            self.assertIn("service.yaml", self.sums(os.path.join(tmp, "dist")))


class StackUpdatesKeepState(unittest.TestCase):
    def test_the_state_table_and_the_secret_survive_replacement_and_deletion(self) -> None:
        with open(os.path.join(ROOT, "template.yaml"), encoding="utf-8") as f:
            resources = yaml_parse(f.read())["Resources"]
        kept = {"AWS::DynamoDB::Table", "AWS::SecretsManager::Secret"}
        stateful = {k: r for k, r in resources.items() if r["Type"] in kept}
        self.assertEqual(sorted(stateful), ["GantrySecret", "StateTable"])
        for name, resource in stateful.items():
            with self.subTest(resource=name):
                self.assertEqual(resource.get("DeletionPolicy"), "Retain")
                self.assertEqual(resource.get("UpdateReplacePolicy"), "Retain")


class DependencyPolicy(unittest.TestCase):
    def test_deny_toml_refuses_a_second_version_of_every_aws_sdk_crate(self) -> None:
        with open(os.path.join(ROOT, "deny.toml"), "rb") as f:
            denied = {d["crate"] for d in tomllib.load(f)["bans"]["deny"] if d.get("deny-multiple-versions")}
        with open(os.path.join(ROOT, "Cargo.lock"), "rb") as f:
            sdk = {p["name"] for p in tomllib.load(f)["package"] if re.match(r"^aws[-_]", p["name"])}
        self.assertEqual(sorted(sdk - denied), [], "add these to deny.toml's [bans] deny list")


class DenyRefuses(unittest.TestCase):
    """deny.toml against the workspace's own dependency graph with one thing wrong in it
    (`cargo deny --metadata-path`): each is refused by the check that `make test` runs."""

    @classmethod
    def setUpClass(cls) -> None:
        out = subprocess.run(["cargo", "metadata", "--format-version", "1", "--locked"], cwd=ROOT,
                             check=True, capture_output=True, text=True).stdout
        cls.metadata = json.loads(out)

    def deny(self, metadata: dict, check: str) -> subprocess.CompletedProcess:
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
            json.dump(metadata, f)
        try:
            return subprocess.run([os.path.join(BIN, "cargo-deny"), "--log-level", "error",
                                   "--manifest-path", os.path.join(ROOT, "Cargo.toml"),
                                   "--metadata-path", f.name, "check", check],
                                  cwd=ROOT, capture_output=True, text=True)
        finally:
            os.remove(f.name)

    def changed(self, crate: str, **fields: str) -> dict:
        metadata = json.loads(json.dumps(self.metadata))
        (package,) = [p for p in metadata["packages"] if p["name"] == crate]
        package.update(fields)
        return metadata

    def test_the_workspace_as_it_is_passes(self) -> None:
        for check in ("licenses", "bans", "sources"):
            run = self.deny(self.metadata, check)
            self.assertEqual(run.returncode, 0, run.stderr[-2000:])

    def test_a_copyleft_licence_is_refused(self) -> None:
        run = self.deny(self.changed("itoa", license="GPL-3.0-only"), "licenses")
        self.assertNotEqual(run.returncode, 0)
        self.assertIn("itoa", run.stderr)

    def test_a_git_dependency_is_refused(self) -> None:
        run = self.deny(self.changed("ryu", source="git+https://example.com/ryu?rev=1#1"), "sources")
        self.assertNotEqual(run.returncode, 0)
        self.assertIn("git", run.stderr)

    def test_a_second_version_of_an_aws_sdk_crate_is_refused(self) -> None:
        # http 0.2 renamed aws-smithy-types: the graph then holds aws-smithy-types 0.2 and 1.x.
        (old,) = [p for p in self.metadata["packages"] if p["name"] == "http" and p["version"].startswith("0.")]
        renamed = old["id"].replace("#http@", "#aws-smithy-types@")
        metadata = json.loads(json.dumps(self.metadata).replace(json.dumps(old["id"]), json.dumps(renamed)))
        (package,) = [p for p in metadata["packages"] if p["id"] == renamed]
        package["name"] = "aws-smithy-types"
        run = self.deny(metadata, "bans")
        self.assertNotEqual(run.returncode, 0)
        self.assertIn("aws-smithy-types", run.stderr)


class ReleaseDocs(unittest.TestCase):
    def test_the_nested_application_snippet_passes_cfn_lint(self) -> None:
        with open(os.path.join(ROOT, "docs", "release.md"), encoding="utf-8") as f:
            text = f.read()
        blocks = re.findall(r"```yaml\n(.*?)```", text, re.S)
        snippets = [b for b in blocks if "AWS::Serverless::Application" in b]
        self.assertEqual(len(snippets), 1, "docs/release.md: one yaml block with AWS::Serverless::Application")
        self.assertIn(f"SemanticVersion: {workspace_version()}", snippets[0])
        with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as f:
            f.write(snippets[0])
        try:
            lint = subprocess.run([os.path.join(BIN, "cfn-lint"), f.name], capture_output=True, text=True)
        finally:
            os.remove(f.name)
        self.assertEqual(lint.returncode, 0, lint.stdout + lint.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)
