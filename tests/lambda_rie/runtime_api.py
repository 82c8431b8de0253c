"""A local Lambda Runtime API, and a function process to run under it.

    from runtime_api import LambdaProcess
    with LambdaProcess("target/demo/webhook", {"GANTRY_TABLE": "t", ...}) as fn:
        ok, payload = fn.invoke({"version": "2.0", ...}, timeout=10)

The server speaks the protocol a custom runtime (such as Rust's `lambda_runtime`) speaks in AWS
(https://docs.aws.amazon.com/lambda/latest/dg/runtimes-api.html):

    GET  /2018-06-01/runtime/invocation/next            long poll; the event, with the
                                                        Lambda-Runtime-* headers
    POST /2018-06-01/runtime/invocation/{id}/response   the function's answer
    POST /2018-06-01/runtime/invocation/{id}/error      the function's error
    POST /2018-06-01/runtime/init/error                 the function could not start

`LambdaProcess` spawns the binary with `AWS_LAMBDA_RUNTIME_API` and the environment Lambda gives
a function (and nothing of the caller's), in its own process group, and guarantees that no process
outlives it: `stop()`, the context manager, `atexit` and, on Linux, a parent-death signal all end
it. It records what a benchmark needs: spawn time, first `/next` (Lambda's "Init Duration"),
first answer, and the peak resident memory (`VmHWM`).

Run a binary once from the command line:

    python tests/lambda_rie/runtime_api.py BINARY --event FILE [--env-file FILE] [--env NAME=VALUE ...]

Standard library only.
"""

from __future__ import annotations

import argparse
import atexit
import http.server
import json
import os
import queue
import re
import secrets
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
import weakref
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

API_VERSION = "2018-06-01"
ACCOUNT = "123456789012"
# Lambda's limit for a synchronous invocation's response (6 MB).
MAX_RESPONSE_BYTES = 6 * 1024 * 1024


@dataclass
class Invocation:
    """One event handed to the function, and what became of it."""

    request_id: str
    event: bytes
    deadline_ms: int
    trace_id: str
    done: threading.Event = field(default_factory=threading.Event)
    ok: bool = False
    payload: Any = None
    function_error_type: Optional[str] = None


def trace_id() -> str:
    """An X-Ray trace header value, in the shape Lambda sends it."""
    return f"Root=1-{int(time.time()):08x}-{secrets.token_hex(12)};Parent={secrets.token_hex(8)};Sampled=0"


def parse_payload(body: bytes) -> Any:
    """The function's answer as JSON when it is JSON, else as text."""
    try:
        return json.loads(body)
    except ValueError:
        return body.decode("utf-8", "replace")


class _Server(http.server.ThreadingHTTPServer):
    # A function's pending long poll must not keep the server from closing.
    block_on_close = False
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], ConnectionError):
            return  # the function went away mid-request (it was stopped): nothing to report
        super().handle_error(request, client_address)


class RuntimeApi:
    """The Runtime API endpoint of one execution environment (one function instance)."""

    def __init__(self, function_arn: str) -> None:
        self.function_arn = function_arn
        self.pending: "queue.Queue[Invocation]" = queue.Queue()
        self.in_flight: dict[str, Invocation] = {}
        self.lock = threading.Lock()
        self.init_error: Optional[dict[str, Any]] = None
        self.first_next_at: Optional[float] = None  # time.perf_counter()
        self.first_answer_at: Optional[float] = None
        self.next_requests = 0
        self.stopping = threading.Event()
        self.changed = threading.Condition(self.lock)
        self.server = _Server(("127.0.0.1", 0), self._handler())
        # A short poll interval: `stop()` waits for the serving loop to notice, and a benchmark
        # stops hundreds of these (the default, 0.5 s, would dominate its run time).
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05},
                                       name="runtime-api", daemon=True)

    @property
    def address(self) -> str:
        """`host:port`, the value of `AWS_LAMBDA_RUNTIME_API`."""
        host, port = self.server.server_address[:2]
        return f"{host}:{port}"

    def start(self) -> "RuntimeApi":
        self.thread.start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        self.server.shutdown()
        self.server.server_close()

    def submit(self, event: bytes, timeout: float) -> Invocation:
        """Queues an event for the function's next `/next`."""
        invocation = Invocation(
            request_id=str(uuid.uuid4()),
            event=event,
            deadline_ms=int((time.time() + timeout) * 1000),
            trace_id=trace_id(),
        )
        self.pending.put(invocation)
        return invocation

    def wait_for_next(self, timeout: float, alive: Callable[[], bool]) -> bool:
        """Waits until the function first asks for work (or reports an init error, or dies)."""
        end = time.monotonic() + timeout
        with self.changed:
            while self.first_next_at is None and self.init_error is None and alive():
                left = end - time.monotonic()
                if left <= 0:
                    break
                self.changed.wait(min(left, 0.05))
            return self.first_next_at is not None

    # -- protocol ---------------------------------------------------------------------------

    def _next(self) -> Optional[Invocation]:
        with self.changed:
            self.next_requests += 1
            if self.first_next_at is None:
                self.first_next_at = time.perf_counter()
            self.changed.notify_all()
        while not self.stopping.is_set():
            try:
                invocation = self.pending.get(timeout=0.1)
            except queue.Empty:
                continue
            with self.lock:
                self.in_flight[invocation.request_id] = invocation
            return invocation
        return None

    def _finish(self, request_id: str, ok: bool, body: bytes, error_type: Optional[str]) -> bool:
        with self.changed:
            invocation = self.in_flight.pop(request_id, None)
            if invocation is None:
                return False
            if self.first_answer_at is None:
                self.first_answer_at = time.perf_counter()
            invocation.ok = ok
            invocation.payload = parse_payload(body)
            invocation.function_error_type = error_type
            invocation.done.set()
            self.changed.notify_all()
            return True

    def _init_error(self, body: bytes, error_type: Optional[str]) -> None:
        payload = parse_payload(body)
        if not isinstance(payload, dict):
            payload = {"errorMessage": str(payload)}
        payload.setdefault("errorType", error_type or "Runtime.InitError")
        with self.changed:
            self.init_error = payload
            self.changed.notify_all()

    def _handler(self) -> type:
        api = self
        invocation_path = re.compile(rf"^/{API_VERSION}/runtime/invocation/([^/]+)/(response|error)$")

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as the runtime clients expect
            # The headers and the body go out in two writes: with Nagle's algorithm the body
            # waits for the client's delayed ACK of the headers (40 ms on Linux) now and then.
            disable_nagle_algorithm = True

            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                if self.path != f"/{API_VERSION}/runtime/invocation/next":
                    return self.reply(404, {"errorType": "NotFound", "errorMessage": self.path})
                invocation = api._next()
                if invocation is None:  # shutting down: the function is about to be stopped
                    return self.reply(500, {"errorType": "Runtime.Shutdown", "errorMessage": "stopping"})
                self.reply(200, invocation.event, {
                    "Lambda-Runtime-Aws-Request-Id": invocation.request_id,
                    "Lambda-Runtime-Deadline-Ms": str(invocation.deadline_ms),
                    "Lambda-Runtime-Invoked-Function-Arn": api.function_arn,
                    "Lambda-Runtime-Trace-Id": invocation.trace_id,
                })

            def do_POST(self) -> None:
                body = self.read_body()
                error_type = self.headers.get("Lambda-Runtime-Function-Error-Type")
                if self.path == f"/{API_VERSION}/runtime/init/error":
                    api._init_error(body, error_type)
                    return self.reply(202, {"status": "OK"})
                match = invocation_path.match(self.path)
                if not match:
                    return self.reply(404, {"errorType": "NotFound", "errorMessage": self.path})
                request_id, kind = match.groups()
                if kind == "response" and len(body) > MAX_RESPONSE_BYTES:
                    api._finish(request_id, False, json.dumps({
                        "errorType": "Function.ResponseSizeTooLarge",
                        "errorMessage": f"Response payload size ({len(body)} bytes) exceeded maximum allowed "
                                        f"payload size ({MAX_RESPONSE_BYTES} bytes).",
                    }).encode(), "Function.ResponseSizeTooLarge")
                    return self.reply(413, {"errorType": "RequestEntityTooLarge",
                                            "errorMessage": "response payload too large"})
                if not api._finish(request_id, kind == "response", body, error_type):
                    return self.reply(400, {"errorType": "InvalidRequestID",
                                            "errorMessage": f"unknown or already answered request id {request_id}"})
                self.reply(202, {"status": "OK"})

            def read_body(self) -> bytes:
                if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                    chunks = []
                    while True:
                        size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                        if size == 0:
                            while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                                pass  # trailers
                            return b"".join(chunks)
                        chunks.append(self.rfile.read(size))
                        self.rfile.readline()
                return self.rfile.read(int(self.headers.get("Content-Length") or 0))

            def reply(self, status: int, body: Any, headers: Optional[dict[str, str]] = None) -> None:
                data = body if isinstance(body, bytes) else json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

        return Handler


@dataclass
class LogLine:
    """One line the function wrote: `stream` is stdout or stderr; `record` is the parsed JSON, if any."""

    stream: str
    text: str
    record: Optional[dict[str, Any]]
    at: float  # time.time()


_live: "weakref.WeakSet[LambdaProcess]" = weakref.WeakSet()


@atexit.register
def _stop_all() -> None:
    for process in list(_live):
        process.stop()


def _die_with_parent() -> None:
    """In the child, before exec: receive SIGKILL when the parent dies (Linux prctl PR_SET_PDEATHSIG)."""
    import ctypes

    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL, 0, 0, 0)


def _spawn(binary: str) -> tuple[list[str], Optional[Callable[[], None]]]:
    """The command line and pre-exec hook that start `binary` so that it dies with us (Linux).

    util-linux's `setpriv --pdeathsig` sets the parent-death signal and execs the binary (same
    pid), so no Python runs in the child and Python can spawn with vfork. A pre-exec hook forces a
    fork of this whole process instead, which costs milliseconds a cold-start measurement would
    count; it is the fallback where `setpriv` is missing.
    """
    if not sys.platform.startswith("linux"):
        return [binary], None
    if _SETPRIV:
        return [_SETPRIV, "--pdeathsig", "KILL", "--", binary], None
    return [binary], _die_with_parent


_SETPRIV = shutil.which("setpriv")


class LambdaProcess:
    """A function binary running under its own Runtime API, as in one Lambda execution environment.

    `invoke` starts it when it is not running (a cold start), so after a timeout or a crash the
    next invocation gets a fresh process, as Lambda gives a fresh environment.
    """

    def __init__(
        self,
        binary_path: str,
        env: Optional[dict[str, str]] = None,
        *,
        name: Optional[str] = None,
        region: str = "us-east-1",
        memory_mb: int = 128,
        timeout_seconds: float = 30.0,
        on_log: Optional[Callable[[LogLine], None]] = None,
        on_spawn: Optional[Callable[[int], None]] = None,
    ) -> None:
        self.binary_path = os.path.abspath(binary_path)
        self.env = dict(env or {})
        self.name = name or os.path.basename(binary_path)
        self.region = self.env.get("AWS_REGION", region)
        self.memory_mb = memory_mb
        self.timeout_seconds = timeout_seconds
        self.on_log = on_log
        self.on_spawn = on_spawn  # called with each new process's pid (a test can check it is gone later)
        self.function_arn = f"arn:aws:lambda:{self.region}:{ACCOUNT}:function:{self.name}"
        self.logs: list[LogLine] = []
        self.proc: Optional[subprocess.Popen[bytes]] = None
        self.api: Optional[RuntimeApi] = None
        self.spawned_at: Optional[float] = None  # time.perf_counter()
        self.cold_starts = 0
        self.last_log_at = 0.0  # time.monotonic() of the newest line
        self._readers: list[threading.Thread] = []

    # -- lifecycle --------------------------------------------------------------------------

    def lambda_env(self) -> dict[str, str]:
        """The environment Lambda gives a function, overlaid with the caller's `env`."""
        log_stream = time.strftime("%Y/%m/%d/[$LATEST]") + uuid.uuid4().hex
        base = {
            "PATH": "/usr/local/bin:/usr/bin:/bin",
            "LANG": "en_US.UTF-8",
            "TZ": ":UTC",
            "LAMBDA_TASK_ROOT": os.path.dirname(self.binary_path),
            "LAMBDA_RUNTIME_DIR": os.path.dirname(self.binary_path),
            "_HANDLER": "bootstrap",
            "AWS_EXECUTION_ENV": "AWS_Lambda_provided.al2023",
            "AWS_LAMBDA_FUNCTION_NAME": self.name,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(self.memory_mb),
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{self.name}",
            "AWS_LAMBDA_LOG_STREAM_NAME": log_stream,
            "AWS_REGION": self.region,
            "AWS_DEFAULT_REGION": self.region,
            # Lambda hands the execution role's credentials over in the environment.
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_SESSION_TOKEN": "testing",
        }
        base.update(self.env)
        assert self.api is not None
        base["AWS_LAMBDA_RUNTIME_API"] = self.api.address
        return base

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    @property
    def pid(self) -> Optional[int]:
        return self.proc.pid if self.proc else None

    def start(self, wait: bool = True, timeout: float = 30.0) -> "LambdaProcess":
        """Spawns the function. With `wait`, returns once it asked for its first event; raises
        `InitError` if it reported an init error or exited first."""
        if self.running:
            return self
        self.stop()
        if not os.access(self.binary_path, os.X_OK):
            raise FileNotFoundError(f"no executable function binary at {self.binary_path}")
        self.api = RuntimeApi(self.function_arn).start()
        argv, preexec = _spawn(self.binary_path)
        self.spawned_at = time.perf_counter()
        self.proc = subprocess.Popen(
            argv,
            env=self.lambda_env(),
            cwd=os.path.dirname(self.binary_path),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,  # its own process group: stop() takes down anything it spawned
            preexec_fn=preexec,
        )
        self.cold_starts += 1
        _live.add(self)
        if self.on_spawn:
            self.on_spawn(self.proc.pid)
        self._readers = [self._read(self.proc.stdout, "stdout"), self._read(self.proc.stderr, "stderr")]
        if wait:
            self.wait_ready(timeout)
        return self

    def wait_ready(self, timeout: float = 30.0) -> None:
        """Waits for the first `/next`; raises `InitError` if the function cannot start."""
        assert self.api is not None
        if self.api.wait_for_next(timeout, lambda: self.running):
            return
        failure = self._startup_failure() or {
            "errorType": "Runtime.Unknown", "errorMessage": f"no /next request within {timeout:.0f} s"}
        self.stop()
        raise InitError(self.name, failure, self.logs)

    def stop(self) -> None:
        """Ends the function and its process group, then the Runtime API. Safe to call twice."""
        proc, self.proc = self.proc, None
        if proc is not None:
            if proc.poll() is None:
                _signal_group(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(timeout=2)
                except subprocess.TimeoutExpired:
                    pass
            # Whatever the function may have left in its group goes too.
            _signal_group(proc.pid, signal.SIGKILL)
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
            for reader in self._readers:
                reader.join(timeout=2)
            for stream in (proc.stdout, proc.stderr):
                if stream:
                    stream.close()
        if self.api is not None:
            self.api.stop()
            self.api = None
        _live.discard(self)

    def __enter__(self) -> "LambdaProcess":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    # -- invocations ------------------------------------------------------------------------

    def invoke(self, event: Any, timeout: Optional[float] = None) -> tuple[bool, Any]:
        """Invokes the function synchronously with `event` (JSON-serialisable, or bytes).

        Returns `(True, answer)` for a response, `(False, error)` otherwise: the function's own
        error, `Runtime.InitError`, `Runtime.ExitError` (it died), or `Sandbox.Timedout` (in which
        case the process is stopped, as Lambda would; the next invoke starts a fresh one).
        """
        timeout = self.timeout_seconds if timeout is None else timeout
        if not self.running:
            try:
                self.start(wait=False)
            except FileNotFoundError as e:
                return False, {"errorType": "Runtime.InvalidEntrypoint", "errorMessage": str(e)}
        assert self.api is not None
        body = event if isinstance(event, bytes) else json.dumps(event).encode()
        invocation = self.api.submit(body, timeout)
        end = time.monotonic() + timeout
        while not invocation.done.wait(0.02):
            if not self.running or self.api.init_error is not None:
                # Give a just-posted answer or init error a moment to land.
                if invocation.done.wait(0.2):
                    break
                failure = self._startup_failure(invocation.request_id)
                self.stop()
                return False, failure
            if time.monotonic() > end:
                self.stop()
                return False, {"errorType": "Sandbox.Timedout",
                               "errorMessage": f"RequestId: {invocation.request_id} Error: Task timed out "
                                               f"after {timeout:.2f} seconds"}
        return invocation.ok, invocation.payload

    def _startup_failure(self, request_id: str = "") -> Optional[dict[str, Any]]:
        """Why the function is not answering: its init error, or its exit."""
        if self.api is not None and self.api.init_error is not None:
            return dict(self.api.init_error)
        if self.proc is not None and self.proc.poll() is not None:
            prefix = f"RequestId: {request_id} " if request_id else ""
            return {"errorType": "Runtime.ExitError",
                    "errorMessage": f"{prefix}Error: Runtime exited with error: {_exit_text(self.proc.returncode)}"}
        return None

    # -- measurements -----------------------------------------------------------------------

    @property
    def init_duration_ms(self) -> Optional[float]:
        """Spawn → first `/next` of the current process (Lambda's "Init Duration")."""
        if self.api is None or self.api.first_next_at is None or self.spawned_at is None:
            return None
        return (self.api.first_next_at - self.spawned_at) * 1000

    @property
    def first_answer_ms(self) -> Optional[float]:
        """Spawn → first response or error through the Runtime API."""
        if self.api is None or self.api.first_answer_at is None or self.spawned_at is None:
            return None
        return (self.api.first_answer_at - self.spawned_at) * 1000

    def vm_hwm_kb(self) -> Optional[int]:
        """Peak resident set size (VmHWM, kB) of the running process; None where /proc has none."""
        if not self.running or self.proc is None:
            return None
        try:
            with open(f"/proc/{self.proc.pid}/status") as status:
                for line in status:
                    if line.startswith("VmHWM:"):
                        return int(line.split()[1])
        except OSError:
            return None
        return None

    # -- logs -------------------------------------------------------------------------------

    def settle_logs(self, quiet: float = 0.03, limit: float = 0.5) -> None:
        """Waits until no log line has arrived for `quiet` seconds (at most `limit`), so that what
        the function logged while answering is read before the caller goes on."""
        end = time.monotonic() + limit
        time.sleep(quiet)  # a line written just before the answer may still be in the pipe
        while time.monotonic() < end and time.monotonic() - self.last_log_at < quiet:
            time.sleep(quiet / 3)

    def _read(self, stream: Any, name: str) -> threading.Thread:
        def pump() -> None:
            for raw in iter(stream.readline, b""):
                text = raw.decode("utf-8", "replace").rstrip("\n")
                record = None
                if text.startswith("{"):
                    try:
                        parsed = json.loads(text)
                        record = parsed if isinstance(parsed, dict) else None
                    except ValueError:
                        pass
                line = LogLine(name, text, record, time.time())
                self.logs.append(line)
                self.last_log_at = time.monotonic()
                if self.on_log:
                    try:
                        self.on_log(line)
                    except Exception:  # a display problem must not stop the log pump
                        pass

        thread = threading.Thread(target=pump, name=f"{self.name}-{name}", daemon=True)
        thread.start()
        return thread


class InitError(Exception):
    """The function did not reach its first `/next`."""

    def __init__(self, name: str, failure: dict[str, Any], logs: list[LogLine]) -> None:
        super().__init__(f"{name} could not start: {failure.get('errorType')}: {failure.get('errorMessage')}")
        self.failure = failure
        self.logs = list(logs)


def _signal_group(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)  # start_new_session made the pid its group id
    except (ProcessLookupError, PermissionError):
        pass


def _exit_text(code: Optional[int]) -> str:
    if code is None:
        return "still running"
    if code < 0:
        return f"signal: {-code} ({signal.Signals(-code).name})"
    return f"exit status {code}"


def gone(pid: int) -> bool:
    """True once `pid` runs nothing (no such process, or a zombie): what the tests that stop a
    function check of the process it ran in."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[-1].split()[0] == "Z"
    except FileNotFoundError:
        return True
    except OSError:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        return False


def read_env_file(path: str) -> dict[str, str]:
    env = {}
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line and not line.startswith("#") and "=" in line:
                name, raw = line.split("=", 1)
                env[name] = "".join(shlex.split(raw))
    return env


def main() -> int:
    parser = argparse.ArgumentParser(description="Invoke a Lambda function binary once under a local Runtime API.")
    parser.add_argument("binary")
    parser.add_argument("--event", required=True, help="JSON file with the event")
    parser.add_argument("--env", action="append", default=[], metavar="NAME=VALUE")
    parser.add_argument("--env-file", help="NAME=VALUE lines (values may be shell-quoted), as demo.py --world-only writes")
    parser.add_argument("--timeout", type=float, default=30.0)
    args = parser.parse_args()
    env = read_env_file(args.env_file) if args.env_file else {}
    env.update(pair.split("=", 1) for pair in args.env)
    with open(args.event, "rb") as f:
        event = f.read()
    process = LambdaProcess(args.binary, env, timeout_seconds=args.timeout,
                            on_log=lambda line: print(line.text, file=sys.stderr))
    try:
        ok, payload = process.invoke(event)
        print(json.dumps(payload, indent=2))
        print(f"init {process.init_duration_ms or 0:.1f} ms, peak RSS {process.vm_hwm_kb() or '?'} kB",
              file=sys.stderr)
        return 0 if ok else 1
    finally:
        process.stop()


if __name__ == "__main__":
    sys.exit(main())
