"""Gantry's benchmark (docs/performance.md): cold start, warm latency, peak memory, package size and bursts of
the four functions as they are deployed, with each figure's goal and whether it holds.

    .venv/bin/python bench/run.py --bin-dir target/release --lambda-dir target/lambda

`scripts/bench.sh` (`make bench`) builds what it needs and runs this. The table goes to stdout,
progress to stderr, every figure to `bench/results.json`. The functions run under the local
Lambda Runtime API (tests/lambda_rie) against the demo's world (demo/world.py: the AWS emulator,
the Slack stand-in, the resources Gantry expects). Exit status 0 when every goal holds, 1 when
one does not, 2 when the benchmark itself could not run.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from typing import Any, Callable

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path[:0] = [os.path.join(HERE, "harness"), os.path.join(ROOT, "demo"), os.path.join(ROOT, "tests", "lambda_rie")]

from lambda_events import REGION  # noqa: E402
from transcript import Transcript  # noqa: E402
from world import World, provision  # noqa: E402

import burst  # noqa: E402
import cold_start  # noqa: E402
import full_paths  # noqa: E402
import package  # noqa: E402
import registry_scale  # noqa: E402
import report  # noqa: E402
import workloads  # noqa: E402

SECTIONS = ("warm", "cold", "full", "burst", "package", "judge", "billing", "registry")
# Sections that need no emulator (pure code, or files already built): they run without starting
# the world.
PURE = ("judge", "package", "billing")
# Each section's key in the results.
KEYS = {"warm": "warm_network_free", "cold": "cold_start", "full": "full_paths", "burst": "burst",
        "package": "package", "judge": "canary_judge", "billing": "shifter_billing",
        "registry": "registry_scale"}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    target = os.environ.get("CARGO_TARGET_DIR") or os.path.join(ROOT, "target")
    p = argparse.ArgumentParser(description="Gantry's benchmark (docs/performance.md).")
    p.add_argument("--bin-dir", default=os.path.join(target, "release"),
                   help="host release binaries: the four functions, bench-floor, bench-hello, warm-paths")
    p.add_argument("--lambda-dir", default=os.path.join(target, "lambda"),
                   help="cargo lambda's arm64 output (<dir>/<function>/bootstrap)")
    p.add_argument("--baseline-bin-dir", default="",
                   help="the four functions built from another commit: their cold starts are measured in "
                        "the same run, as '<name> (baseline)', for a before/after")
    p.add_argument("--out", default=os.path.join(HERE, "results.json"))
    p.add_argument("--sections", default=",".join(SECTIONS), help="comma-separated: " + ", ".join(SECTIONS))
    p.add_argument("--spawns", type=int, default=30, help="cold starts per binary")
    p.add_argument("--warm-iterations", type=int, default=10_000, help="network-free events per path")
    p.add_argument("--events", type=int, default=1000, help="events per full path against the emulator")
    p.add_argument("--deployments", type=int, default=50,
                   help="traffic-shifter deployments in its warm run (two invocations each)")
    p.add_argument("--instances", type=int, default=8, help="warm instances in a burst")
    p.add_argument("--executions", type=int, default=100, help="notifier burst: executions (ten events each)")
    p.add_argument("--deliveries", type=int, default=500, help="webhook burst: deliveries")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--judge-runs", type=int, default=10_000, help="simulated deployments per judge scenario")
    args = p.parse_args(argv)
    args.sections = [s.strip() for s in args.sections.split(",") if s.strip()]
    unknown = set(args.sections) - set(SECTIONS)
    if unknown:
        p.error(f"unknown sections {sorted(unknown)}")
    return args


def progress(text: str) -> None:
    print(f"== {text}", file=sys.stderr, flush=True)


def machine() -> dict[str, Any]:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), cpu)
    except OSError:
        pass
    def output(*command: str) -> str:
        try:
            return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=30).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return ""

    dirty = " (with uncommitted changes)" if output("git", "status", "--porcelain", "--untracked-files=no") else ""
    return {"cpu": cpu, "cores": os.cpu_count(), "arch": platform.machine(), "kernel": platform.release(),
            "python": platform.python_version(), "rustc": output("rustc", "--version"),
            "commit": output("git", "rev-parse", "--short", "HEAD") + dirty}


class Bench:
    """The world, the binaries and each function's environment."""

    def __init__(self, world: World, args: argparse.Namespace, tmp: str) -> None:
        self.world, self.args = world, args
        self.python_floor = os.path.join(tmp, "python-boto3")
        with open(self.python_floor, "w") as f:
            # As Lambda's managed runtime does: a bootstrap that execs the interpreter.
            f.write(f"#!/bin/sh\nexec {sys.executable} {os.path.join(HERE, 'floor', 'python_boto3.py')}\n")
        os.chmod(self.python_floor, 0o755)

    def binary(self, name: str) -> str:
        path = os.path.join(self.args.bin_dir, name)
        if not os.access(path, os.X_OK):
            raise SystemExit(f"bench: {path} is not built (scripts/bench.sh builds it)")
        return path

    def floor_env(self, checked: bool = True) -> dict[str, str]:
        """The floors' environment. `checked`: their read goes through the emulator's IAM check
        (signature and policy) as each function's does, under a key allowed exactly that read; AWS
        checks every call alike. Unchecked, the harness's root key skips the check (a reference
        row shows what that is worth)."""
        w = self.world
        env = {"GANTRY_SECRETS_ARN": w.secret_arn, "AWS_ENDPOINT_URL": w.aws_url, "AWS_REGION": REGION}
        if checked:
            env.update(self.floor_key())
        return env

    def floor_key(self) -> dict[str, str]:
        """An IAM user (made once) whose only policy reads the secret: the floor's role."""
        if not hasattr(self, "_floor_key"):
            import boto3  # the Python floor's own dependency

            iam = boto3.client("iam", endpoint_url=self.world.aws_url, region_name=REGION,
                               aws_access_key_id="testing", aws_secret_access_key="testing")
            iam.create_user(UserName="bench-floor")
            iam.put_user_policy(UserName="bench-floor", PolicyName="read-the-secret", PolicyDocument=json.dumps(
                {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "secretsmanager:GetSecretValue",
                                                         "Resource": self.world.secret_arn}]}))
            key = iam.create_access_key(UserName="bench-floor")["AccessKey"]
            self._floor_key = {"AWS_ACCESS_KEY_ID": key["AccessKeyId"], "AWS_SECRET_ACCESS_KEY": key["SecretAccessKey"]}
        return self._floor_key

    def subjects(self) -> list[cold_start.Subject]:
        w = self.world
        floors = [
            (report.HELLO, self.binary("bench-hello"), {}, workloads.Hello(), "any event"),
            (report.FLOOR, self.binary("bench-floor"), self.floor_env(), workloads.Hello(), "any event"),
            (report.FLOOR_GANTRY, self.binary("bench-floor-gantry"), self.floor_env(), workloads.Hello(),
             "any event"),
            (report.FLOOR_UNCHECKED, self.binary("bench-floor"), self.floor_env(checked=False), workloads.Hello(),
             "any event"),
        ]
        functions = [
            ("webhook", workloads.Pushes(), "a signed push: the pipeline starts"),
            ("notifier", workloads.Executions(w), "an execution's next event: Slack and SNS"),
            ("approval", workloads.ApprovalRequests(w), "an approval starts: the request is posted"),
            ("traffic-shifter", workloads.RefusedJobs(w), "a job the pipeline does not declare: refused"),
        ]
        subjects = [cold_start.Subject(n, b, e, wl, first_event=what) for n, b, e, wl, what in floors]
        subjects += [cold_start.Subject(n, self.binary(n), w.env_for(n), wl, first_event=what)
                     for n, wl, what in functions]
        # Before/after in one run, without a second build: the same binaries with a custom store
        # named (SSL_CERT_FILE: the system's bundle), which puts back the certificate-store read
        # Gantry removed from the default path (the SDK's default client reads the file).
        # (Not the approval function: its first event holds the pipeline's approval stage, which
        # one workload at a time can use.)
        bundle = "/etc/ssl/certs/ca-certificates.crt"
        if os.path.isfile(bundle):
            custom = [
                ("webhook", workloads.Pushes(), "a signed push: the pipeline starts"),
                ("notifier", workloads.Executions(w), "an execution's next event: Slack and SNS"),
                ("traffic-shifter", workloads.RefusedJobs(w), "a job the pipeline does not declare: refused"),
            ]
            subjects += [cold_start.Subject(f"{n}, {report.CUSTOM_STORE}", self.binary(n),
                                            {**w.env_for(n), "SSL_CERT_FILE": bundle}, wl, first_event=what)
                         for n, wl, what in custom]
        # The Python floor last in each round: its 0.7 s of CPU-bound start-up (boto3's imports)
        # slowed whichever binary was spawned right after it (the webhook, by about 10 ms here).
        subjects.append(cold_start.Subject(report.PYTHON, self.python_floor, self.floor_env(), workloads.Hello(),
                                           first_event="any event"))
        if self.args.baseline_bin_dir:
            baseline = [
                ("webhook", workloads.Pushes(), "a signed push: the pipeline starts"),
                ("notifier", workloads.Executions(w), "an execution's next event: Slack and SNS"),
                ("approval", workloads.ApprovalRequests(w), "an approval starts: the request is posted"),
                ("traffic-shifter", workloads.RefusedJobs(w), "a job the pipeline does not declare: refused"),
            ]
            subjects += [cold_start.Subject(f"{n} (baseline)", os.path.join(self.args.baseline_bin_dir, n),
                                            w.env_for(n), wl, first_event=what) for n, wl, what in baseline]
        return subjects

    # -- sections -------------------------------------------------------------------------------

    def warm(self) -> dict[str, Any]:
        out = subprocess.run([self.binary("warm-paths"), "--iterations", str(self.args.warm_iterations),
                              "--root", ROOT], check=True, stdout=subprocess.PIPE, text=True)
        return json.loads(out.stdout)

    def cold(self) -> dict[str, Any]:
        return cold_start.measure(self.subjects(), self.args.spawns)

    def full(self) -> dict[str, Any]:
        w, n = self.world, self.args.events
        runs: list[tuple[str, str, dict[str, str], workloads.Workload, int]] = [
            (report.HELLO, "bench-hello", {}, workloads.Hello(), n),
            (report.FLOOR, "bench-floor", self.floor_env(), workloads.Hello(), n),
            ("webhook, bad signature", "webhook", w.env_for("webhook"), workloads.BadSignatures(), n),
            ("webhook", "webhook", w.env_for("webhook"), workloads.Pushes(), n),
            ("notifier", "notifier", w.env_for("notifier"), workloads.Executions(w), n),
            ("approval", "approval", w.env_for("approval"), workloads.Approvals(w), n),
            ("traffic-shifter", "traffic-shifter", w.env_for("traffic-shifter"), workloads.Deployments(w),
             self.args.deployments * 2),
        ]
        out = {}
        for label, binary, env, workload, events in runs:
            progress(f"full path: {label} ({events} events)")
            out[label] = full_paths.measure(self.binary(binary), env, label, workload, events, warmup=10)
        return out

    def burst(self) -> dict[str, Any]:
        w, a = self.world, self.args
        progress(f"burst: notifier, {a.executions} executions")
        notifier = burst.notifier(w, self.binary("notifier"), w.env_for("notifier"), a.executions, 0.10,
                                  a.instances, a.seed)
        progress(f"burst: webhook, {a.deliveries} deliveries")
        webhook = burst.webhook(w, self.binary("webhook"), w.env_for("webhook"), a.deliveries, 0.20,
                                a.instances, a.seed)
        return {"notifier": notifier, "webhook": webhook}

    def judge(self) -> dict[str, Any]:
        return run_judge(self.args)

    def registry(self) -> dict[str, Any]:
        """Issue 25's cold start and memory at 1,000 services against 1, and issue 27's
        `/gantry status` answered from a cold start (bench/harness/registry_scale.py)."""
        return registry_scale.measure(self.world, self.binary, self.args.spawns)

    def package(self) -> dict[str, Any]:
        return package.sizes(self.args.lambda_dir, report.FUNCTIONS, self.args.bin_dir)


def run_judge(args: argparse.Namespace) -> dict[str, Any]:
    """The canary judge's simulation (docs/analysis.md): pure code, no emulator."""
    binary = os.path.join(args.bin_dir, "judge-sim")
    if not os.access(binary, os.X_OK):
        raise SystemExit(f"bench: {binary} is not built (scripts/bench.sh builds it)")
    out = subprocess.run([binary, "--runs", str(args.judge_runs), "--seed", str(args.seed)], check=True,
                         stdout=subprocess.PIPE, text=True)
    return json.loads(out.stdout)


def run_billing() -> dict[str, Any]:
    """What Lambda bills the traffic shifter for each of the template's deployments, waiting in
    Lambda or handing its waits to CodePipeline: the deterministic simulation of the real flow
    on a simulated clock (`gantry-core`'s `billed_time_of_the_templates_deployments`, a debug
    test build, no emulator)."""
    with tempfile.TemporaryDirectory(prefix="gantry-billing-") as tmp:
        out = os.path.join(tmp, "billing.json")
        subprocess.run(["cargo", "test", "-q", "-p", "gantry-core", "--lib", "--",
                        "traffic::simulation::billed_time_of_the_templates_deployments", "--exact"],
                       cwd=ROOT, env={**os.environ, "GANTRY_BILLING_OUT": out}, check=True,
                       stdout=subprocess.DEVNULL)
        with open(out) as f:
            return json.load(f)


def carried_over(args: argparse.Namespace, results: dict[str, Any]) -> dict[str, Any]:
    """A run of some sections keeps the others from the results it replaces, each marked with
    the run (time and commit) that measured it, so that one file never passes two runs off as
    one (`provenance`, which `report` prints)."""
    try:
        with open(args.out) as f:
            old = json.load(f)
    except (OSError, ValueError):
        return results
    marks = old.get("provenance", {})
    for name, key in KEYS.items():
        if name in args.sections or key not in old:
            continue
        results[key] = old[key]
        # Results from before sections were marked: the run that wrote the file.
        machine_was = old.get("machine", {})
        results["provenance"][key] = marks.get(key) or {
            "generated_at": old.get("generated_at"), "commit": machine_was.get("commit"),
            "cpu": machine_was.get("cpu")}
    return results


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.monotonic()
    results: dict[str, Any] = {
        "generated_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": machine(),
        "settings": {k: v for k, v in vars(args).items() if k not in ("out",)},
        "provenance": {},
    }
    this_run = {"generated_at": results["generated_at"], "commit": results["machine"]["commit"],
                "cpu": results["machine"]["cpu"]}
    for name in args.sections:
        results["provenance"][KEYS[name]] = this_run
    results = carried_over(args, results)
    if all(name in PURE for name in args.sections):
        for name in args.sections:
            progress(KEYS[name])
            results[KEYS[name]] = run_judge(args) if name == "judge" else run_billing() if name == "billing" \
                else package.sizes(args.lambda_dir, report.FUNCTIONS, args.bin_dir)
        return finish(args, results, started)
    with tempfile.TemporaryDirectory(prefix="gantry-bench-") as tmp:
        world = World(transcript=Transcript(out=open(os.devnull, "w"), color=False), bin_dir=args.bin_dir,
                      out_dir=os.path.join(tmp, "servers"))
        with world:
            progress("provisioning the emulator (table, secret, topic, shop, pipeline)")
            provision(world, lambda label, what: None)
            bench = Bench(world, args, tmp)
            sections: dict[str, Callable[[], dict[str, Any]]] = {
                "warm": bench.warm, "cold": bench.cold, "full": bench.full, "burst": bench.burst,
                "package": bench.package, "judge": bench.judge, "billing": run_billing,
                "registry": bench.registry}
            for name in SECTIONS:
                if name in args.sections:
                    progress(f"{KEYS[name]}")
                    section_started = time.monotonic()
                    results[KEYS[name]] = sections[name]()
                    progress(f"{KEYS[name]}: {time.monotonic() - section_started:.0f} s")
    return finish(args, results, started)


def finish(args: argparse.Namespace, results: dict[str, Any], started: float) -> int:
    """Prints the table, writes the JSON; 0 when every goal holds."""
    results["total_seconds"] = round(time.monotonic() - started, 1)
    lines, goals = report.table(results)
    results["goals"] = goals
    print(f"Gantry benchmark, {results['generated_at']}: {results['machine']['cpu']}, "
          f"{results['machine']['cores']} cores; {results['total_seconds']:.0f} s")
    for line in report.older_sections(results):
        print(line)
    print("\n".join(lines))
    with open(args.out, "w") as f:
        json.dump(results, f, indent=2)
        f.write("\n")
    print(f"\n(written to {os.path.relpath(args.out, ROOT)})")
    return 0 if all(g["holds"] is True for g in goals) else 1


if __name__ == "__main__":
    sys.exit(main())
