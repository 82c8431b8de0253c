"""Gantry's AWS emulator: moto's server plus gantry_moto_plugin.

    python tests/emulator/server.py [--port 0] [--host 127.0.0.1] [--no-stdin-watch] [--enforce-iam]

Prints exactly one line, `READY http://HOST:PORT`, on stdout once it accepts
connections, then serves until SIGTERM/SIGINT or until stdin reaches EOF. The
stdin watch ties the emulator's life to its parent: spawn it with a piped stdin
and keep the pipe open; when the parent dies the pipe closes and so does the
emulator. With stdin at /dev/null it would stop at once: use --no-stdin-watch.
--enforce-iam: every AWS request is authorized against the caller's IAM policies
(iam_enforce.py), as AWS would.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import gantry_moto_plugin  # noqa: E402
from moto.moto_server.werkzeug_app import (  # noqa: E402
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import make_server  # noqa: E402


class QuietHandler(MotoRequestHandler):
    """No per-request access log; errors still reach stderr through log_error."""

    # Headers and body are separate writes: with Nagle's algorithm the body can wait for the
    # client's delayed ACK (40 ms on Linux), a stall no AWS endpoint has.
    disable_nagle_algorithm = True

    def log_request(self, *args: object, **kwargs: object) -> None:
        pass


def watch_stdin(stop: threading.Event) -> None:
    """Set `stop` at stdin EOF: the parent has exited or closed our pipe."""
    try:
        sys.stdin.buffer.read()  # returns only at EOF
    except (AttributeError, OSError, ValueError):
        pass  # no usable stdin at all: the same as EOF
    stop.set()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--no-stdin-watch", action="store_true", help="do not exit on stdin EOF")
    parser.add_argument("--enforce-iam", action="store_true",
                        help="authorize every AWS request against the caller's IAM policies (iam_enforce.py)")
    args = parser.parse_args()

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    gantry_moto_plugin.install()
    if args.enforce_iam or os.environ.get("GANTRY_ENFORCE_IAM") == "1":
        import iam_enforce

        iam_enforce.enable()
    app = gantry_moto_plugin.GantryApp(DomainDispatcherApplication(create_backend_app))
    server = make_server(args.host, args.port, app, threaded=True, request_handler=QuietHandler)
    port = server.server_port
    # moto builds self-referencing URLs (e.g. SQS queue URLs) from MOTO_PORT.
    os.environ["MOTO_PORT"] = str(port)

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    if not args.no_stdin_watch:
        threading.Thread(target=watch_stdin, args=(stop,), daemon=True).start()
    threading.Thread(target=server.serve_forever, daemon=True).start()

    stdout = sys.stdout
    stdout.write(f"READY http://{args.host}:{port}\n")
    stdout.flush()
    # moto print()s diagnostics ("Unable to find appropriate backend ..."): keep
    # stdout to the one READY line a parent may be parsing.
    sys.stdout = sys.stderr

    # Event.wait() with a timeout stays interruptible, so signals are handled promptly.
    while not stop.wait(0.5):
        pass
    server.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
