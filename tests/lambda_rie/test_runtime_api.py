"""Self-check of the local Lambda Runtime API: a fake function (fake_function.py, a plain runtime
client) run through LambdaProcess.

    python tests/lambda_rie/test_runtime_api.py
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from runtime_api import InitError, LambdaProcess, gone  # noqa: E402

TMP = tempfile.TemporaryDirectory(prefix="gantry-rie-")


def fake_binary(name: str = "fake-fn") -> str:
    """An executable that runs fake_function.py, as a function binary would be run."""
    path = os.path.join(TMP.name, name)
    with open(path, "w") as f:
        f.write(f"#!/bin/sh\nexec {sys.executable} {os.path.join(HERE, 'fake_function.py')}\n")
    os.chmod(path, 0o755)
    return path


def wait_gone(pid: int, seconds: float = 5.0) -> bool:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if gone(pid):
            return True
        time.sleep(0.05)
    return gone(pid)


def wait_for_record(fn: LambdaProcess, message: str, seconds: float = 5.0) -> dict:
    """The first JSON log record of `fn` with this message, once its log reader has read it."""
    end = time.monotonic() + seconds
    while True:
        for line in list(fn.logs):
            if line.record and line.record.get("message") == message:
                return line.record
        if time.monotonic() > end:
            raise AssertionError(f"no log record {message!r} within {seconds} s: {[l.text for l in fn.logs]}")
        time.sleep(0.02)


class InvocationTest(unittest.TestCase):
    def setUp(self) -> None:
        self.fn = LambdaProcess(fake_binary(), {"GANTRY_TABLE": "demo"}, name="orders-webhook",
                                region="eu-west-1", memory_mb=256)
        self.addCleanup(self.fn.stop)

    def test_an_event_comes_back_answered_with_the_lambda_headers(self) -> None:
        ok, answer = self.fn.invoke({"echo": "hello"}, timeout=10)
        self.assertTrue(ok, answer)
        self.assertEqual(answer["echo"], "hello")
        headers = answer["headers"]
        self.assertEqual(headers["Lambda-Runtime-Invoked-Function-Arn"],
                         "arn:aws:lambda:eu-west-1:123456789012:function:orders-webhook")
        deadline = int(headers["Lambda-Runtime-Deadline-Ms"]) / 1000
        self.assertTrue(time.time() < deadline <= time.time() + 10, deadline)
        self.assertRegex(headers["Lambda-Runtime-Trace-Id"], r"^Root=1-[0-9a-f]{8}-[0-9a-f]{24};Parent=[0-9a-f]{16};Sampled=0$")
        self.assertRegex(headers["Lambda-Runtime-Aws-Request-Id"], r"^[0-9a-f-]{36}$")

    def test_each_invocation_has_its_own_request_id_and_the_process_stays_warm(self) -> None:
        ids = set()
        for n in range(3):
            ok, answer = self.fn.invoke({"echo": n}, timeout=10)
            self.assertTrue(ok, answer)
            ids.add(answer["headers"]["Lambda-Runtime-Aws-Request-Id"])
        self.assertEqual(len(ids), 3)
        self.assertEqual(self.fn.cold_starts, 1)

    def test_the_function_gets_the_lambda_environment_and_nothing_of_the_callers(self) -> None:
        os.environ["GANTRY_LEAK_CHECK"] = "leaked"
        self.addCleanup(os.environ.pop, "GANTRY_LEAK_CHECK")
        ok, answer = self.fn.invoke({"echo": 1}, timeout=10)
        self.assertTrue(ok, answer)
        env = answer["env"]
        self.assertEqual(env["AWS_LAMBDA_FUNCTION_NAME"], "orders-webhook")
        self.assertEqual(env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"], "256")
        self.assertEqual(env["AWS_LAMBDA_FUNCTION_VERSION"], "$LATEST")
        self.assertEqual(env["AWS_REGION"], "eu-west-1")
        self.assertEqual(env["AWS_LAMBDA_LOG_GROUP_NAME"], "/aws/lambda/orders-webhook")
        self.assertRegex(env["AWS_LAMBDA_RUNTIME_API"], r"^127\.0\.0\.1:\d+$")
        self.assertEqual(env["GANTRY_TABLE"], "demo")
        self.assertNotIn("GANTRY_LEAK_CHECK", env)

    def test_a_function_error_is_returned_as_a_failure(self) -> None:
        ok, error = self.fn.invoke({"fail": "no route for this push"}, timeout=10)
        self.assertFalse(ok)
        self.assertEqual(error, {"errorMessage": "no route for this push", "errorType": "Handler.Failed"})
        ok, _ = self.fn.invoke({"echo": "still alive"}, timeout=10)
        self.assertTrue(ok)

    def test_a_crash_mid_invocation_is_an_exit_error_and_the_next_invoke_cold_starts(self) -> None:
        ok, error = self.fn.invoke({"exit": 3}, timeout=10)
        self.assertFalse(ok)
        self.assertEqual(error["errorType"], "Runtime.ExitError")
        self.assertIn("exit status 3", error["errorMessage"])
        ok, _ = self.fn.invoke({"echo": "again"}, timeout=10)
        self.assertTrue(ok)
        self.assertEqual(self.fn.cold_starts, 2)

    def test_a_timeout_stops_the_process(self) -> None:
        self.fn.start()
        pid = self.fn.pid
        ok, error = self.fn.invoke({"sleep": 5}, timeout=0.5)
        self.assertFalse(ok)
        self.assertEqual(error["errorType"], "Sandbox.Timedout")
        self.assertTrue(wait_gone(pid))

    def test_an_oversized_response_is_refused(self) -> None:
        ok, error = self.fn.invoke({"big": 6 * 1024 * 1024 + 10}, timeout=20)
        self.assertFalse(ok)
        self.assertEqual(error["errorType"], "Function.ResponseSizeTooLarge")

    def test_log_lines_are_captured_and_json_ones_parsed(self) -> None:
        seen = []
        self.fn.on_log = seen.append
        self.fn.invoke({"echo": 1}, timeout=10)
        self.fn.stop()
        messages = [line.record["message"] for line in self.fn.logs if line.record]
        self.assertEqual(messages[:2], ["ready", "invoked"])
        self.assertIn("a line that is not JSON", [line.text for line in self.fn.logs if line.stream == "stderr"])
        self.assertEqual(len(seen), len(self.fn.logs))

    def test_timings_and_memory_are_recorded(self) -> None:
        self.fn.start()
        init = self.fn.init_duration_ms
        self.assertIsNotNone(init)
        self.assertGreater(init, 0)
        self.assertIsNone(self.fn.first_answer_ms)
        self.fn.invoke({"echo": 1}, timeout=10)
        self.assertGreaterEqual(self.fn.first_answer_ms, init)
        if sys.platform.startswith("linux"):
            self.assertGreater(self.fn.vm_hwm_kb(), 1000)


class ProtocolTest(unittest.TestCase):
    def test_answers_for_unknown_request_ids_are_rejected(self) -> None:
        with LambdaProcess(fake_binary()) as fn:
            conn = http.client.HTTPConnection(fn.api.address, timeout=5)
            conn.request("POST", "/2018-06-01/runtime/invocation/not-a-request/response", body=b"{}")
            response = conn.getresponse()
            self.assertEqual(response.status, 400)
            self.assertEqual(json.loads(response.read())["errorType"], "InvalidRequestID")
            conn.close()

    def test_an_init_error_is_reported_with_its_message(self) -> None:
        fn = LambdaProcess(fake_binary(), {"FAKE_INIT_ERROR": "GANTRY_ROUTES is not set"})
        self.addCleanup(fn.stop)
        with self.assertRaises(InitError) as ctx:
            fn.start(timeout=10)
        self.assertEqual(ctx.exception.failure["errorType"], "Runtime.InitError")
        self.assertEqual(ctx.exception.failure["errorMessage"], "GANTRY_ROUTES is not set")
        ok, error = fn.invoke({"echo": 1}, timeout=10)
        self.assertFalse(ok)
        self.assertEqual(error["errorMessage"], "GANTRY_ROUTES is not set")

    def test_a_missing_binary_is_named(self) -> None:
        fn = LambdaProcess(os.path.join(TMP.name, "not-built"))
        with self.assertRaises(FileNotFoundError):
            fn.start()
        ok, error = fn.invoke({}, timeout=1)
        self.assertFalse(ok)
        self.assertIn("not-built", error["errorMessage"])


class NothingLeftBehindTest(unittest.TestCase):
    def test_stop_ends_the_function_and_everything_it_spawned(self) -> None:
        fn = LambdaProcess(fake_binary(), {"FAKE_CHILD": "1"}).start(timeout=10)
        self.addCleanup(fn.stop)
        # The line was written before the first /next, but the thread that reads the pipe may not
        # have read it yet when start() returns (seen on a loaded CI machine): wait for it.
        child = wait_for_record(fn, "child started")["pid"]
        pid = fn.pid
        fn.stop()
        self.assertTrue(wait_gone(pid))
        self.assertTrue(wait_gone(child))

    def test_the_function_dies_with_a_parent_that_is_killed(self) -> None:
        if not sys.platform.startswith("linux"):
            self.skipTest("parent-death signal is Linux only")
        script = textwrap.dedent(f"""
            import sys, time
            sys.path.insert(0, {HERE!r})
            from runtime_api import LambdaProcess
            fn = LambdaProcess({fake_binary()!r}).start(timeout=10)
            print(fn.pid, flush=True)
            time.sleep(60)
        """)
        parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
        pid = int(parent.stdout.readline())
        self.assertFalse(gone(pid))
        parent.send_signal(signal.SIGKILL)  # no atexit, no finally: only the kernel can clean up
        parent.wait()
        parent.stdout.close()
        self.assertTrue(wait_gone(pid), f"function {pid} outlived its parent")

    def test_interpreter_exit_stops_a_running_function(self) -> None:
        script = textwrap.dedent(f"""
            import sys
            sys.path.insert(0, {HERE!r})
            from runtime_api import LambdaProcess
            fn = LambdaProcess({fake_binary()!r}).start(timeout=10)
            print(fn.pid, flush=True)
        """)
        out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=30)
        self.assertTrue(wait_gone(int(out.stdout)), "function outlived the interpreter")


if __name__ == "__main__":
    unittest.main(verbosity=2)
