"""What the demo prints: a readable transcript, in ANSI colours on a terminal, plain otherwise.

Every line goes through one `Transcript`, which also keeps the lines (without colour) so a report
can be written from them later. Functions' log lines arrive from reader threads: printing is locked.
"""

from __future__ import annotations

import json
import os
import re
import sys
import threading
import time
from typing import Any, Optional, TextIO

COLORS = {
    "bold": "1", "dim": "2", "red": "31", "green": "32", "yellow": "33",
    "blue": "34", "magenta": "35", "cyan": "36", "gray": "90",
}
# Fields of a function's JSON log line that the transcript leaves out (they are on every line).
LOG_NOISE = {"timestamp", "level", "message", "target", "span", "spans", "threadName", "threadId", "event_id"}
UUID = re.compile(r"\b([0-9a-f]{8})-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b")


def wants_color(stream: TextIO) -> bool:
    """Colour on a terminal, unless NO_COLOR is set (https://no-color.org); FORCE_COLOR forces it."""
    if os.environ.get("FORCE_COLOR"):
        return True
    return stream.isatty() and not os.environ.get("NO_COLOR")


def short(value: str, keep: int = 12) -> str:
    """A long id or hash shortened for reading: `6113728f27ae…`."""
    return value if len(value) <= keep + 1 else value[:keep] + "…"


def compact(value: Any, limit: int = 220) -> str:
    """JSON on one line, cut at `limit` characters."""
    text = value if isinstance(value, str) else json.dumps(value, separators=(", ", ": "))
    return text if len(text) <= limit else text[: limit - 1] + "…"


class Transcript:
    def __init__(self, out: TextIO = sys.stdout, color: Optional[bool] = None) -> None:
        self.out = out
        self.color = wants_color(out) if color is None else color
        self.lock = threading.Lock()
        self.lines: list[str] = []
        self.started = time.monotonic()
        self.show_logs = True

    # -- building blocks --------------------------------------------------------------------

    def paint(self, text: str, *styles: str) -> str:
        if not self.color or not styles:
            return text
        codes = ";".join(COLORS[s] for s in styles)
        return f"\033[{codes}m{text}\033[0m"

    def emit(self, plain: str, painted: Optional[str] = None) -> None:
        with self.lock:
            self.lines.append(plain)
            self.out.write((painted if self.color and painted is not None else plain) + "\n")
            self.out.flush()

    def line(self, indent: int, mark: str, text: str, *styles: str, mark_styles: tuple[str, ...] = ()) -> None:
        pad = " " * indent
        self.emit(f"{pad}{mark} {text}".rstrip(),
                  f"{pad}{self.paint(mark, *(mark_styles or styles))} {self.paint(text, *styles)}".rstrip())

    # -- the vocabulary chapters use ---------------------------------------------------------

    def title(self, text: str) -> None:
        bar = "━" * max(0, 72 - len(text) - 4)
        self.emit(f"━━ {text} {bar}", self.paint(f"━━ {text} {bar}", "bold"))

    def chapter(self, number: int, title: str) -> None:
        self.emit("")
        self.line(0, "▶", f"Chapter {number}: {title}", "bold", mark_styles=("bold", "cyan"))

    def info(self, label: str, value: str) -> None:
        label = f"{label:<11}" if len(label) < 11 else label + "  "
        self.emit(f"  {label}{value}", f"  {self.paint(label, 'gray')}{value}")

    def say(self, text: str) -> None:
        """Narration: what happens next, in the user's words."""
        self.line(2, "·", text, mark_styles=("gray",))

    def send(self, who: str, text: str) -> None:
        """Something arrives from outside (GitHub, Slack, CodePipeline)."""
        self.line(2, "→", f"{who} {text}", mark_styles=("bold", "blue"))

    def request(self, text: str) -> None:
        """The wire detail of what was sent."""
        self.line(6, " ", text, "gray")

    def answer(self, who: str, status: int, body: Any) -> None:
        good = 200 <= status < 300
        text = f"{who} answers {status} {compact(body)}"
        self.line(2, "←", text, mark_styles=("bold", "green" if good else "yellow"))

    def ok(self, text: str) -> None:
        self.line(2, "✓", text, mark_styles=("bold", "green"))

    def detail(self, label: str, value: str) -> None:
        self.emit(f"      {label:<18}{value}", f"      {self.paint(f'{label:<18}', 'gray')}{value}")

    def note(self, text: str) -> None:
        self.line(2, "·", text, "dim")

    def played(self, text: str) -> None:
        """CodePipeline's part, played by the demo (the emulator does not run pipelines)."""
        self.line(2, "◆", f"CodePipeline (demo) {text}", mark_styles=("bold", "magenta"))

    def slack(self, text: str) -> None:
        """What a user now sees in Slack."""
        self.line(2, "✉", f"Slack {text}", mark_styles=("bold", "cyan"))

    def quote(self, text: str) -> None:
        """A line of a message, as shown to its reader."""
        self.line(6, "│", text, mark_styles=("cyan",))

    def weights(self, seconds: float, blue: int, green: int, width: int = 20) -> None:
        """The listener's weights at a moment of a deployment, with green's share as a bar."""
        total = blue + green
        filled = round(width * green / total) if total else 0
        head = f"ALB listener  {f't+{seconds:.1f} s':<9} blue {blue:>3} │ green {green:>3}  "
        self.emit(f"  ⇄ {head}[{'#' * filled}{'.' * (width - filled)}]",
                  f"  {self.paint('⇄', 'bold', 'yellow')} {head}{self.paint('█' * filled, 'green')}"
                  f"{self.paint('█' * (width - filled), 'blue')}")

    def skip(self, text: str) -> None:
        self.line(2, "⤼", text, "yellow")

    def fail(self, text: str) -> None:
        self.line(2, "✗", text, "red", mark_styles=("bold", "red"))

    def log(self, function: str, stream: str, text: str, record: Optional[dict[str, Any]]) -> None:
        """One log line of a function, as CloudWatch Logs would show it, shortened."""
        if not self.show_logs:
            return
        if record is None:
            body = text
            level = "ERR" if stream == "stderr" else ""
        else:
            level = str(record.get("level", ""))
            fields = " ".join(f"{k}={compact(v, 80)}" for k, v in record.items() if k not in LOG_NOISE)
            body = f"{record.get('message', '')}  {fields}".strip()
        body = UUID.sub(r"\1…", body)  # ids are told apart by their start, and lines stay short
        head = f"{function:<16}{level:<6}"
        style = "red" if level in ("ERROR", "ERR") else "yellow" if level == "WARN" else "gray"
        body = compact(body, 160)
        self.emit(f"      ┆ {head}{body}",
                  f"      {self.paint('┆', 'gray')} {self.paint(head, style)}{self.paint(body, 'gray')}")

    def elapsed(self) -> float:
        return time.monotonic() - self.started
