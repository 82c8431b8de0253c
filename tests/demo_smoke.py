"""The local demo, run as a user runs it, non-interactively: it tells the whole story with the
four real function binaries and writes its report, fails when a function cannot start, stops on
Ctrl-C, and in every case leaves no process behind. Also: the sample events in events/ are current
and start the pipeline, and the demo's pure parts (event builders, Slack text, the report's chart)
do what they say.

    .venv/bin/python tests/demo_smoke.py

Uses the debug builds of the functions and of `gantry-events` (the Rust builders of the clicks and
EventBridge events the demo sends; built here if needed; GANTRY_DEMO_BIN_DIR overrides the
directory), so it runs in well under a minute after `cargo test`.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PYTHON = sys.executable
sys.path.insert(0, os.path.join(ROOT, "tests", "lambda_rie"))
sys.path.insert(0, os.path.join(ROOT, "demo"))

import lambda_events  # noqa: E402
from lambda_events import DEMO_GITHUB_SECRET, github_signature, http_response  # noqa: E402
from runtime_api import LambdaProcess, gone, read_env_file  # noqa: E402
sys.path.insert(0, os.path.join(ROOT, "tests", "template"))
import check_calls  # noqa: E402

BIN_DIR = ""


FUNCTIONS = ["webhook", "notifier", "approval", "traffic-shifter"]


def build_functions() -> None:
    """Finds (or builds) the function binaries the demo tests run."""
    global BIN_DIR
    if BIN_DIR:
        return
    BIN_DIR = os.environ.get("GANTRY_DEMO_BIN_DIR", "")
    if not BIN_DIR:
        packages = [arg for name in FUNCTIONS for arg in ("-p", name)]
        subprocess.run(["cargo", "build", "--quiet", *packages], cwd=ROOT, check=True)
        # Apart: in the functions' build, gantry-core's `testing` feature would reach them too.
        subprocess.run(["cargo", "build", "--quiet", "-p", "gantry-core", "--features", "testing",
                        "--example", "gantry-events"], cwd=ROOT, check=True)
        metadata = subprocess.run(["cargo", "metadata", "--format-version", "1", "--no-deps"], cwd=ROOT,
                                  check=True, capture_output=True, text=True).stdout
        BIN_DIR = os.path.join(json.loads(metadata)["target_directory"], "debug")


def fake_binary(directory: str, name: str, python_source: str) -> None:
    """A stand-in function binary (a Python script) named `name` in `directory`."""
    script = os.path.join(directory, f"{name}.py")
    with open(script, "w") as f:
        f.write(python_source)
    path = os.path.join(directory, name)
    with open(path, "w") as f:
        f.write(f"#!/bin/sh\nexec {PYTHON} {script}\n")
    os.chmod(path, 0o755)


class Demo:
    """demo.py in a subprocess, its output collected line by line, its spawned pids recorded."""

    def __init__(self, test: unittest.TestCase, *args: str, bin_dir: str) -> None:
        self.tmp = tempfile.TemporaryDirectory(prefix="gantry-demo-smoke-")  # cleaned by finish()
        self.pids_file = os.path.join(self.tmp.name, "pids")
        self.lines: list[str] = []
        if "--report" not in args:  # never the user's demo/report.html
            args = (*args, "--report", os.path.join(self.tmp.name, "report.html"))
        self.proc = subprocess.Popen(
            [PYTHON, os.path.join(ROOT, "demo", "demo.py"), "--no-color", "--bin-dir", bin_dir,
             "--out", os.path.join(self.tmp.name, "out"), "--pids-file", self.pids_file, *args],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        self.pids: list[int] = []
        test.addCleanup(self._abandon)

    def _abandon(self) -> None:
        """After a failed assertion: the demo must not outlive the test."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.finish()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    def wait_for(self, text: str, timeout: float = 120) -> None:
        end = time.monotonic() + timeout
        while text not in self.output:
            if time.monotonic() > end or self.proc.poll() is not None:
                raise AssertionError(f"demo never printed {text!r}:\n{self.output}")
            time.sleep(0.05)

    def finish(self, timeout: float = 180) -> int:
        """Waits for the demo's exit; keeps the pids it spawned, drops its temporary folder."""
        try:
            code = self.proc.wait(timeout=timeout)
        finally:
            self.reader.join(timeout=5)
            if self.proc.stdout:
                self.proc.stdout.close()
            with open(self.pids_file) as f:
                self.pids = [int(line) for line in f if line.strip()]
            self.tmp.cleanup()
        return code

    def assert_nothing_left(self, test: unittest.TestCase, at_least: int) -> None:
        pids = self.pids
        test.assertGreaterEqual(len(pids), at_least, pids)
        end = time.monotonic() + 5
        while time.monotonic() < end and not all(gone(p) for p in pids):
            time.sleep(0.05)
        test.assertEqual([p for p in pids if not gone(p)], [], f"left behind:\n{self.output}")


class EventsToolTest(unittest.TestCase):
    """The clicks and EventBridge events the demo sends come from the tests' Rust builders
    (`gantry-events`): signed as Slack signs, shaped as CodePipeline sends, checked here apart
    from the code that built them."""

    @classmethod
    def setUpClass(cls) -> None:
        build_functions()

    def events(self, kind: str, **request: object) -> dict:
        tool = os.path.join(BIN_DIR, "examples", "gantry-events")
        done = subprocess.run([tool, kind], input=json.dumps(request), capture_output=True, text=True, check=True)
        return json.loads(done.stdout)

    def test_a_slash_command_form_is_signed_as_slack_signs_it(self) -> None:
        import base64
        import hashlib
        import hmac

        event = self.events("slack-form", body="command=%2Fgantry&text=status", secret="s3cret",
                            timestamp=1700000000)
        body = base64.b64decode(event["body"])
        self.assertEqual(body, b"command=%2Fgantry&text=status")
        expected = "v0=" + hmac.new(b"s3cret", b"v0:1700000000:" + body, hashlib.sha256).hexdigest()
        self.assertEqual(event["headers"]["x-slack-signature"], expected)

    def test_the_benchmark_builds_its_events_with_the_same_tool(self) -> None:
        # `make bench` is not part of `make test`: this keeps its event builders importable and
        # working, so a builder removed from the demo cannot break the benchmark unnoticed.
        harness = os.path.join(ROOT, "bench", "harness")
        sys.path[:0] = [harness, os.path.join(ROOT, "tests", "lambda_rie")]
        try:
            import events  # noqa: F401  (bench/harness/events.py)
            import registry_scale  # noqa: F401
            run = events.successful_run("shop", "e-1")
            self.assertEqual(len(run), 10)
            self.assertEqual(run[-1]["detail"]["state"], "SUCCEEDED")
            click = events.approve_click("appr-1", {"id": "U0LEAD", "name": "lee"}, "C0DEPLOYS", "1.2",
                                         "http://sink/response/x")
            self.assertTrue(click["headers"]["x-slack-signature"].startswith("v0="))
        finally:
            del sys.path[:2]

    def test_a_click_is_a_signed_form_carrying_the_message_it_was_clicked_in(self) -> None:
        import base64
        import hashlib
        import hmac
        import urllib.parse

        message = {"type": "message", "ts": "1700000000.000200", "thread_ts": "1700000000.000100"}
        event = self.events("slack-click", action_id="gantry.approval.approve", value="appr-1", user_id="U0LEAD",
                            username="lee", channel="C0DEPLOYS", message_ts=message["ts"], message=message,
                            response_url="http://sink/response/x", secret="s3cret", timestamp=1700000000)
        body = base64.b64decode(event["body"])
        expected = "v0=" + hmac.new(b"s3cret", b"v0:1700000000:" + body, hashlib.sha256).hexdigest()
        self.assertEqual(event["headers"]["x-slack-signature"], expected)
        self.assertEqual(event["headers"]["x-slack-request-timestamp"], "1700000000")
        self.assertEqual(event["headers"]["content-type"], "application/x-www-form-urlencoded")
        payload = json.loads(urllib.parse.parse_qs(body.decode())["payload"][0])
        self.assertEqual((payload["actions"][0]["action_id"], payload["actions"][0]["value"]),
                         ("gantry.approval.approve", "appr-1"))
        self.assertEqual(payload["message"], message)
        self.assertEqual(payload["response_url"], "http://sink/response/x")

    def test_a_codepipeline_event_has_the_action_type_and_result_asked_for(self) -> None:
        request = lambda_events.codepipeline_request(
            lambda_events.ACTION_EXECUTION, pipeline="shop", execution_id="e-1", state="FAILED", stage="ApproveProd",
            action="Approve", action_type={"owner": "AWS", "category": "Approval", "provider": "Manual"},
            execution_result={"external-execution-summary": "no", "error-code": "JobFailed"}, at=1700000000)
        event = self.events("codepipeline", **request)
        detail = event["detail"]
        self.assertEqual((event["source"], event["detail-type"], event["time"]),
                         ("aws.codepipeline", "CodePipeline Action Execution State Change", "2023-11-14T22:13:20Z"))
        self.assertEqual((detail["pipeline"], detail["execution-id"], detail["stage"], detail["action"],
                          detail["state"]), ("shop", "e-1", "ApproveProd", "Approve", "FAILED"))
        self.assertEqual((detail["type"]["category"], detail["type"]["provider"]), ("Approval", "Manual"))
        self.assertEqual((detail["execution-result"]["external-execution-summary"],
                          detail["execution-result"]["error-code"]), ("no", "JobFailed"))

    def test_a_request_it_cannot_build_fails_saying_why(self) -> None:
        tool = os.path.join(BIN_DIR, "examples", "gantry-events")
        done = subprocess.run([tool, "codepipeline"], input=json.dumps({"detail_type": "nope"}),
                              capture_output=True, text=True)
        self.assertNotEqual(done.returncode, 0)
        self.assertIn("gantry-events:", done.stderr)


class DemoTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls) -> None:
        build_functions()

    def test_the_whole_story_is_told_and_written_up(self) -> None:
        folder = tempfile.TemporaryDirectory(prefix="gantry-demo-report-")
        self.addCleanup(folder.cleanup)
        report_path = os.path.join(folder.name, "report.html")
        started = time.monotonic()
        calls_path = os.path.join(folder.name, "aws-calls.json")
        demo = Demo(self, "--report", report_path, "--aws-calls", calls_path, bin_dir=BIN_DIR)
        code = demo.finish()
        took = time.monotonic() - started
        self.assertEqual(code, 0, demo.output)
        out = demo.output
        # 1. The push starts the pipeline, pinned to the commit; a redelivery and a forgery start nothing.
        self.assertRegex(out, r"CodePipeline: shop execution [0-9a-f-]{36} is InProgress")
        self.assertIn("source revision   Source @ 6113728f27ae82c7b1a177c8d03f9e96e0adf246", out)
        self.assertIn('"duplicate": true', out)
        self.assertIn("webhook answers 401", out)
        # 2. CodePipeline's part is marked as the demo's; one Slack message follows the stages.
        self.assertIn("◆ CodePipeline (demo) stage Build STARTED", out)
        self.assertIn("✉ Slack new message in #C0DEPLOYS", out)
        self.assertIn("✅ Source  ›  🔵 Build running  ›  ⚪ DeployDev", out)
        self.assertRegex(out, r"one Slack message for the execution \(ts [0-9.]+\), edited \d+ times")
        self.assertIn("SNS: ", out)
        # 3. The request in the thread; the author refused (four eyes); the release lead approves.
        self.assertIn("Approval needed: shop › ApproveProd", out)
        self.assertIn("Four-eyes rule: you pushed this change", out)
        self.assertIn('ApproveProd approved, summary "Approved by @lee via Slack"', out)
        # 4. The canary, step by step.
        self.assertRegex(out, r"ALB listener  t\+[0-9.]+ s\s+blue  90 │ green  10")
        self.assertRegex(out, r"ALB listener  t\+[0-9.]+ s\s+blue   0 │ green 100")
        self.assertIn("job Succeeded: green (shop-green) is live", out)
        self.assertIn("✅ shop succeeded", out)
        # 5. The second push: the alarm, the rollback, the failed pipeline.
        self.assertIn("alarm shop-5xx goes to ALARM", out)
        self.assertRegex(out, r"ALB listener  t\+[0-9.]+ s\s+blue  10 │ green  90")
        self.assertIn("job Failed: rolled back at 10% blue: alarm shop-5xx went to ALARM", out)
        self.assertIn("❌ shop failed", out)
        # Chapter 6: the smoke test over the test listener fails the bad build before customers see it.
        self.assertIn("lifecycle hook smoke-test at POST_TEST_TRAFFIC_SHIFT: it answered FAILED", out)
        self.assertIn("customers never reached the bad build", out)
        # 7. The fourth push: the canary judge rolls back what no alarm would catch.
        self.assertIn("job Failed: rolled back at 10% blue: analysis: fail (new side's 5xx rate is worse than live)",
                      out)
        self.assertIn("the judge rolled back; shop-5xx never fired", out)
        # 9. The story's own delivery figures: DeployProd's deployments, three rolled back by
        # Gantry and one rolled back from Slack afterwards (a change failure too).
        self.assertIn("DeployProd: 5 deployment(s), 4 failed", out)
        self.assertIn("each written once by the notifier as an EMF line", out)
        # 10. Prod in account B: the canary moves that account's listener, and Slack names the account.
        self.assertIn("account 222222222222's IAM has role gantry-target-shop", out)
        self.assertIn("account 222222222222's listener: green took 10%, then all the traffic; "
                      "the hub's listener did not move", out)
        self.assertIn("Slack names account 222222222222", out)
        self.assertIn("the story went as told", out)
        # Chapter 5: /gantry from Slack: status, a confirmed rollback of prod to the release before, a restart.
        self.assertRegex(out, r"answered in \d+ ms \(Slack's limit: 3000\), privately")
        self.assertIn("status shows c0ffee5 live in DeployProd", out)
        self.assertRegex(out, r"CodePipeline: execution [0-9a-f]{8} of type ROLLBACK, target [0-9a-f]{8} \(RollbackStage\)")
        self.assertIn("is live on 6113728 again, the release before", out)
        self.assertIn("the restart is reported done, steady, on its proposal's thread", out)
        self.assertIn("11 chapter(s) told", out)
        # 11. A second service from its one file, the hub running: two pipelines, two channels, two approver sets.
        self.assertIn("the notifier indexed cart in the state table", out)
        self.assertIn("two pipelines started: cart", out)
        self.assertIn("Approval needed: cart › Prod", out)
        self.assertIn("Who may approve @kai, @cart-team", out)
        self.assertIn("#C0CART's request names @kai and the S0CART group, #C0DEPLOYS's names @lee", out)
        self.assertTrue(demo.lines[-1].strip().startswith(f"✓ report: {report_path}"), demo.lines[-1])
        demo.assert_nothing_left(self, at_least=6)  # emulator, Slack stand-in, the four functions

        with open(report_path, encoding="utf-8") as f:
            page = f.read()
        self.assertIn("<svg", page)
        self.assertEqual(page.count("<path d=\"M"), 7,
                         "one line per deployment in the weights chart (the smoke-tested one stays flat)")
        self.assertIn("the canary judge's view, 5xx rate per minute", page)
        self.assertEqual(page.count("<polyline "), 2, "the judge's chart: the new side's and the live side's rates")
        self.assertIn("shop-5xx → ALARM", page)
        self.assertIn("Approved: shop › ApproveProd", page)  # the request, as the approval function left it
        self.assertIn("Blue/green deployment rolled back", page)  # the traffic shifter's message
        self.assertIn("Delivery: the four keys of this story", page)  # chapter 8's chart
        self.assertIn("/gantry status shop: the answer only mona sees", page)  # chapter 5's conversations
        self.assertIn("confirmed: <b>shop › DeployProd</b> is rolling back", page)
        self.assertIn("is done: 2 new tasks running, steady", page)
        self.assertIn("5 deployment(s), 4 failed", page)
        self.assertIn("rolled back at 10% blue: alarm shop-5xx went to ALARM", page)
        self.assertNotRegex(page, r"<(script|link|img|iframe)\b|\bsrc=|@import|url\(",
                            "the report must stand alone: no network, nothing external")
        print(f"\n    the whole story took {took:.1f} s", file=sys.stderr)

        # Least privilege that works: every AWS operation each real function binary made in the
        # story is allowed by that function's role in template.yaml (else AccessDenied in AWS).
        with open(calls_path, encoding="utf-8") as f:
            calls = json.load(f)
        self.assertEqual(sorted(calls), sorted(check_calls.FUNCTIONS))
        for function, operations in calls.items():
            self.assertIn("secretsmanager:GetSecretValue", operations, function)  # each was recorded
        self.assertEqual(check_calls.missing_grants(calls), {f: [] for f in calls},
                         "a function called what its role does not allow")

    def test_a_chapter_asked_for_alone_is_told_after_the_ones_it_continues(self) -> None:
        demo = Demo(self, "--chapters", "notifications", "--no-logs", bin_dir=BIN_DIR)
        code = demo.finish()
        self.assertEqual(code, 0, demo.output)
        self.assertIn("Chapter 1: A push starts the pipeline", demo.output)
        self.assertIn("Chapter 2: The Slack thread follows the pipeline", demo.output)
        self.assertNotIn("Chapter 3", demo.output)
        self.assertIn("2 chapter(s) told", demo.output)
        demo.assert_nothing_left(self, at_least=4)

    def test_a_function_that_cannot_start_fails_the_demo_and_leaves_nothing_behind(self) -> None:
        with tempfile.TemporaryDirectory() as bin_dir:
            fake_binary(bin_dir, "webhook", 'import sys\nprint("GANTRY_ROUTES is invalid", file=sys.stderr)\nsys.exit(1)\n')
            demo = Demo(self, "--chapters", "push", bin_dir=bin_dir)
            code = demo.finish()
        self.assertEqual(code, 1, demo.output)
        self.assertIn("webhook could not start", demo.output)
        self.assertIn("GANTRY_ROUTES is invalid", demo.output)  # its stderr is shown
        demo.assert_nothing_left(self, at_least=3)

    def test_ctrl_c_mid_invocation_stops_everything(self) -> None:
        hang = ("import http.client, os, time\n"
                "c = http.client.HTTPConnection(os.environ['AWS_LAMBDA_RUNTIME_API'])\n"
                "c.request('GET', '/2018-06-01/runtime/invocation/next')\n"
                "c.getresponse().read()\n"
                "time.sleep(600)\n")
        with tempfile.TemporaryDirectory() as bin_dir:
            fake_binary(bin_dir, "webhook", hang)
            demo = Demo(self, "--chapters", "push", bin_dir=bin_dir)
            demo.wait_for("POSTs the push webhook")
            time.sleep(0.3)
            demo.proc.send_signal(signal.SIGINT)
            code = demo.finish(timeout=30)
        self.assertEqual(code, 130, demo.output)
        self.assertIn("interrupted (SIGINT)", demo.output)
        demo.assert_nothing_left(self, at_least=3)

    def test_the_sample_events_start_the_pipeline_in_the_demo_world(self) -> None:
        demo = Demo(self, "--world-only", bin_dir=BIN_DIR)
        try:
            demo.wait_for("Ctrl-C stops")
            env = read_env_file(os.path.join(demo.tmp.name, "out", "webhook.env"))
            with LambdaProcess(os.path.join(BIN_DIR, "webhook"), env) as webhook:
                # Oldest push first: both samples go to `shop` on `master`, and a push older than
                # the newest one started for a pipeline and ref starts nothing. The
                # GitHub sample was pushed in 2019 (its `repository.pushed_at`); a GitLab push is
                # as new as the moment it is received (never its commits' dates).
                for sample, repository in (("github", "Codertocat/Hello-World"), ("gitlab", "mike/diaspora")):
                    with open(os.path.join(ROOT, "events", f"webhook-{sample}-push.json")) as f:
                        event = json.load(f)
                    ok, answer = webhook.invoke(event, timeout=30)
                    self.assertTrue(ok, answer)
                    status, body = http_response(answer)
                    self.assertEqual((status, body["repository"]), (202, repository), body)
                    self.assertEqual([s["pipeline"] for s in body["started"]], ["shop"])
        finally:
            demo.proc.send_signal(signal.SIGINT)
            code = demo.finish(timeout=30)
        self.assertEqual(code, 0, demo.output)
        demo.assert_nothing_left(self, at_least=2)


class LambdaEventsTest(unittest.TestCase):
    """The demo's event builders sign and wrap as the providers and AWS do (known vectors from their docs)."""

    def test_github_signature_matches_githubs_documented_example(self) -> None:
        self.assertEqual(github_signature("It's a Secret to Everybody", b"Hello, World!"),
                         "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17")

    def test_http_answers_are_unwrapped(self) -> None:
        self.assertEqual(http_response({"statusCode": 202, "body": '{"started": []}'}), (202, {"started": []}))
        self.assertEqual(http_response({"statusCode": 200, "isBase64Encoded": True, "body": "eyJhIjoxfQ=="}),
                         (200, {"a": 1}))


class DemoPartsTest(unittest.TestCase):
    """The demo's pure parts: what it plays of CodePipeline, what it shows of Slack, its chart."""

    def test_action_configuration_variables_are_resolved_as_codepipeline_does(self) -> None:
        from codepipeline import resolve_variables

        text = '{"image": "shop:#{BuildVariables.IMAGE_TAG}", "other": "#{Deploy.UNKNOWN}"}'
        self.assertEqual(resolve_variables(text, {"BuildVariables.IMAGE_TAG": "6113728"}),
                         '{"image": "shop:6113728", "other": "#{Deploy.UNKNOWN}"}')

    def test_an_edited_message_shows_only_its_changed_lines(self) -> None:
        from slack_view import SlackView

        def message(versions: int, stage: str) -> dict:
            return {"ts": "1.000100", "channel": "C0DEPLOYS", "versions": versions, "blocks": [
                {"type": "header", "text": {"type": "plain_text", "text": "shop running"}},
                {"type": "section", "text": {"type": "mrkdwn", "text": stage}}]}

        view = SlackView()
        self.assertEqual([(c, lines) for c, _, lines in view.news([message(1, ":white_circle: Build")])],
                         [("posted", ["shop running", "⚪ Build"])])
        self.assertEqual(view.news([message(1, ":white_circle: Build")]), [])
        self.assertEqual([(c, lines) for c, _, lines in view.news([message(2, ":large_blue_circle: Build _running_")])],
                         [("edited", ["🔵 Build running"])])

    def test_slack_markup_reads_as_slack_shows_it(self) -> None:
        import render_slack

        render_slack.NAMES.update({"U0LEAD": "lee", "S0RELEASE": "release"})
        self.assertEqual(render_slack.plain("*Who may approve*\n<@U0LEAD>, <!subteam^S0RELEASE> &amp; "
                                            "<https://x.example|`6113728`>\n&gt;Canary first"),
                         "Who may approve\n@lee, @release & 6113728\nCanary first")
        html = render_slack.block({"type": "actions", "elements": [
            {"type": "button", "style": "primary", "action_id": "a",
             "text": {"type": "plain_text", "text": "Approve"}}]})
        self.assertIn('<span class="button primary">Approve</span>', html)

    def test_the_chart_has_a_step_line_per_deployment_and_marks_the_alarm(self) -> None:
        from report import Series, chart

        good = Series("good", [(0.0, 0.0), (0.2, 10.0), (4.2, 100.0), (4.3, 100.0)], "Succeeded")
        bad = Series("bad", [(0.0, 100.0), (0.1, 90.0), (1.3, 100.0), (1.4, 100.0)], "Failed", alarm=(0.2, "shop-5xx"))
        svg = chart([good, bad], width=576, height=160)  # a 500 x 100 plot: x = 56 + 100 * s, y = 116 - %
        self.assertEqual(svg.count("<path "), 2)
        self.assertIn('d="M56.0,116.0 L76.0,116.0 L76.0,106.0 L476.0,106.0 L476.0,16.0 L486.0,16.0"', svg)
        self.assertIn("shop-5xx → ALARM", svg)
        self.assertIn(">10%</text>", svg)
        self.assertIn(">90%</text>", svg)

    def test_asking_for_a_chapter_tells_the_ones_it_continues(self) -> None:
        from chapters import with_earlier

        self.assertEqual(with_earlier({"canary"}), {"push", "notifications", "approval", "canary"})
        self.assertEqual(with_earlier({"rollback"}), {"rollback"})


class SampleEventsTest(unittest.TestCase):
    def test_the_committed_sample_events_are_what_generate_py_makes(self) -> None:
        spec = importlib.util.spec_from_file_location("generate", os.path.join(ROOT, "events", "generate.py"))
        assert spec and spec.loader
        generate = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(generate)
        for name, text in generate.render().items():
            with open(os.path.join(ROOT, "events", name)) as f:
                self.assertEqual(f.read(), text, f"events/{name} is stale: run python3 events/generate.py")

    def test_the_github_sample_is_signed_with_the_demo_secret(self) -> None:
        import base64

        with open(os.path.join(ROOT, "events", "webhook-github-push.json")) as f:
            event = json.load(f)
        body = base64.b64decode(event["body"])
        self.assertEqual(event["headers"]["x-hub-signature-256"], github_signature(DEMO_GITHUB_SECRET, body))
        self.assertTrue(re.fullmatch(r"\d+", event["headers"]["content-length"]))
        self.assertEqual(int(event["headers"]["content-length"]), len(body))


if __name__ == "__main__":
    unittest.main(verbosity=2)
