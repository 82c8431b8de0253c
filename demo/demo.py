"""Gantry's local demo: the whole delivery story against the AWS emulator and the Slack stand-in,
with Gantry's real function binaries running under a local Lambda Runtime API.

    .venv/bin/python demo/demo.py [--bin-dir target/debug] [--chapters push,canary] [--no-logs]
                                  [--report demo/report.html]
    .venv/bin/python demo/demo.py --world-only      # provision, print each function's env, wait

`scripts/demo.sh` (`make demo`) builds the binaries and runs this. Exit status: 0 when the story
went as told (chapters whose function is not built yet are skipped), 1 when it did not, 130 when
interrupted. The report is written whenever a chapter was told. Nothing it starts outlives it.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import signal
import sys
import time
from typing import Any, Optional

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from chapters import STORY, Chapter, NotWrittenYet, with_earlier  # noqa: E402
from transcript import Transcript  # noqa: E402
from world import CHANNEL, FUNCTIONS, ROOT, StoryError, World, provision  # noqa: E402

import report  # noqa: E402


class Interrupted(BaseException):
    """SIGINT/SIGTERM/SIGHUP: stop the story, clean up, exit 130."""


def on_signal(signum: int, _frame: Any) -> None:
    raise Interrupted(signal.Signals(signum).name)


def default_bin_dir() -> str:
    target = os.environ.get("CARGO_TARGET_DIR") or os.path.join(ROOT, "target")
    return os.path.join(target, "debug")


def parse_args(argv: Optional[list[str]]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Gantry's local demo.")
    parser.add_argument("--bin-dir", default=default_bin_dir(),
                        help="where the function binaries are (default: $CARGO_TARGET_DIR/debug)")
    parser.add_argument("--chapters", help="comma-separated chapter names to tell, with the ones they continue "
                        "(default: all): " + ", ".join(c.name for c in STORY))
    parser.add_argument("--out", default=os.path.join(HERE, "out"), help="servers' logs (default: demo/out)")
    parser.add_argument("--no-logs", action="store_true", help="hide the functions' log lines")
    parser.add_argument("--report", default=os.path.join(HERE, "report.html"),
                        help="where to write the HTML report (default: demo/report.html)")
    color = parser.add_mutually_exclusive_group()
    color.add_argument("--color", dest="color", action="store_true", default=None)
    color.add_argument("--no-color", dest="color", action="store_false")
    parser.add_argument("--world-only", action="store_true",
                        help="provision the world, print each function's environment, wait for Ctrl-C")
    parser.add_argument("--pids-file", help=argparse.SUPPRESS)  # tests: every pid the demo spawns
    parser.add_argument("--aws-calls", help=argparse.SUPPRESS)  # tests: the AWS operations each function called
    args = parser.parse_args(argv)
    names = {c.name for c in STORY}
    wanted = [n.strip() for n in (args.chapters or "").split(",") if n.strip()]
    unknown = [n for n in wanted if n not in names]
    if unknown:
        parser.error(f"unknown chapter(s) {', '.join(unknown)}; known: {', '.join(c.name for c in STORY)}")
    told = with_earlier(set(wanted))
    args.story = [c for c in STORY if not wanted or c.name in told]
    return args


def tell(world: World, number: int, chapter: Chapter, outcomes: dict[str, str]) -> str:
    """Tells one chapter; returns `told` or `skipped`. A `StoryError` goes up."""
    t = world.transcript
    t.chapter(number, chapter.title)
    missing = [n for n in chapter.needs if world.binary(n) is None]
    if missing:
        t.skip(f"skipped: {', '.join(missing)} not built yet (no {os.path.join(world.bin_dir, missing[0])})")
        return "skipped"
    untold = [name for name in chapter.follows if outcomes.get(name) != "told"]
    if untold:
        t.skip(f"skipped: it continues the story of `{untold[0]}`, which was not told")
        return "skipped"
    started = time.monotonic()
    try:
        chapter.tell(world)
    except NotWrittenYet as e:
        t.skip(f"skipped: {', '.join(chapter.needs)} built, but this chapter is not written yet ({e})")
        return "skipped"
    t.note(f"chapter {number} took {time.monotonic() - started:.1f} s")
    return "told"


def serve_world(world: World, out_dir: str) -> None:
    """Keeps the provisioned world up for `cargo lambda watch` / `cargo lambda invoke` by hand."""
    t = world.transcript
    t.emit("")
    for name in FUNCTIONS:
        path = os.path.join(out_dir, f"{name}.env")
        with open(path, "w") as f:
            # Dummy credentials too: whatever runs the function by hand must never reach a real account.
            env = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SESSION_TOKEN": "testing",
                   **world.env_for(name)}
            for key, value in env.items():
                f.write(f"{key}={shlex.quote(value)}\n")
        t.info(name, f"environment in {os.path.relpath(path)}")
    t.emit("")
    t.say("in another shell:")
    t.request("cargo lambda watch -p webhook --env-file demo/out/webhook.env")
    t.request("cargo lambda invoke webhook --data-file events/webhook-github-push.json")
    t.say("or, with a built binary under the local Runtime API:")
    t.request("python3 tests/lambda_rie/runtime_api.py target/debug/webhook --env-file demo/out/webhook.env "
              "--event events/webhook-github-push.json")
    t.note("Ctrl-C stops the emulator and the Slack stand-in.")
    while True:
        time.sleep(3600)


def write_report(world: World, path: str, outcomes: dict[str, str], failed: Optional[str] = None) -> Optional[str]:
    """The HTML report of what the story showed (also after a failure: it shows how far it got).
    Returns its path, or None when there was nothing to report or it could not be written."""
    told = [n for n, o in outcomes.items() if o == "told"]
    if not told:
        return None
    summary = f"chapters told: {', '.join(told)}" + (f"; stopped: {failed}" if failed else "")
    try:
        return report.write(world, path, CHANNEL, summary)
    except Exception as e:  # noqa: BLE001 - the story's outcome stands; the report is a by-product
        world.transcript.fail(f"could not write the report: {e}")
        return None


def shown_path(path: str) -> str:
    """Relative to the working directory when inside it, else absolute."""
    relative = os.path.relpath(path)
    return path if relative.startswith("..") else relative


def main(argv: Optional[list[str]] = None) -> int:
    args = parse_args(argv)
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, on_signal)
    t = Transcript(color=args.color)
    t.show_logs = not args.no_logs
    t.title("Gantry: local demo")
    world = World(transcript=t, bin_dir=os.path.abspath(args.bin_dir), out_dir=args.out, pids_file=args.pids_file)
    outcomes: dict[str, str] = {}
    written: Optional[str] = None
    status = 0
    return_quietly = False
    try:
        with world:
            t.info("aws", f"{world.aws_url}  (moto + Gantry's plugin; logs in {os.path.relpath(args.out)})")
            t.info("slack", f"{world.slack_url}  (Slack stand-in)")
            t.info("functions", f"{world.bin_dir}  (run under tests/lambda_rie, the Lambda Runtime API)")
            provision(world, t.info)
            if args.world_only:
                serve_world(world, args.out)
            for number, chapter in enumerate(STORY, start=1):
                if chapter in args.story:
                    outcomes[chapter.name] = tell(world, number, chapter, outcomes)
            written = write_report(world, args.report, outcomes)
            if args.aws_calls:
                with open(args.aws_calls, "w") as f:
                    json.dump(world.aws_calls(), f, indent=2)
    except StoryError as e:
        t.fail(str(e))
        t.note(f"servers' logs: {os.path.relpath(args.out)}/")
        status = 1
        written = write_report(world, args.report, outcomes, failed=str(e))
    except Interrupted as e:
        t.emit("")
        if args.world_only:
            t.note(f"{e}: stopping the world")
            return_quietly = True
        else:
            t.fail(f"interrupted ({e}); stopping everything")
            status = 130
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, signal.SIG_IGN)  # a second Ctrl-C must not cut the clean-up short
        world.close()
    if return_quietly:
        return 0
    told = [n for n, o in outcomes.items() if o == "told"]
    skipped = [n for n, o in outcomes.items() if o == "skipped"]
    t.emit("")
    summary = f"{len(told)} chapter(s) told" + (f", skipped: {', '.join(skipped)}" if skipped else "")
    if status == 0:
        t.ok(f"the story went as told in {t.elapsed():.1f} s: {summary}")
    else:
        t.fail(f"the story stopped after {t.elapsed():.1f} s ({summary})")
    t.note("stopped: the functions, the AWS emulator, the Slack stand-in")
    if written:
        t.ok(f"report: {shown_path(written)}  (the Slack threads as rendered from the functions' Block Kit "
             "JSON, and the traffic weights over time)")
    return status


if __name__ == "__main__":
    sys.exit(main())
