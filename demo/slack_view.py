"""What the demo's Slack channel shows, read from the Slack stand-in as a user would read it.

`SlackView` remembers which messages (and which version of each) the transcript has shown, so
after each event the demo prints only what changed: a new message, an edit (the lines that
changed), a thread reply. The Block Kit JSON is turned into text by `scripts/render_slack.py`,
the same renderer the report uses.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from typing import Any, Optional

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "scripts"))

from render_slack import NAMES, text_lines  # noqa: E402

Message = dict[str, Any]


def learn_names(names: dict[str, str]) -> None:
    """Slack user and group ids → the names mentions show (`<@U0LEAD>` reads `@lee`)."""
    NAMES.update(names)


@dataclass
class SlackView:
    """The channel as last shown: `ts` → the version of each message printed."""

    shown: dict[str, int] = field(default_factory=dict)
    lines: dict[str, list[str]] = field(default_factory=dict)

    def news(self, messages: list[Message]) -> list[tuple[str, Message, list[str]]]:
        """What changed since the last call, oldest first: (`posted` | `reply` | `edited`, the
        message, the lines to show: all of a new message, the changed ones of an edit)."""
        out = []
        for m in messages:
            ts, versions, lines = m["ts"], m.get("versions", 1), text_lines(m)
            if ts not in self.shown:
                out.append(("reply" if m.get("thread_ts") else "posted", m, lines))
            elif versions > self.shown[ts]:
                before = self.lines.get(ts, [])
                out.append(("edited", m, [line for line in lines if line not in before] or lines[:1]))
            self.shown[ts], self.lines[ts] = versions, lines
        return out


def find_button(messages: list[Message], action_id: str) -> Optional[tuple[Message, dict[str, Any]]]:
    """The newest message carrying a button with `action_id`, and that button."""
    for m in reversed(messages):
        for block in m.get("blocks") or []:
            for element in block.get("elements", []) if block.get("type") == "actions" else []:
                if element.get("action_id") == action_id:
                    return m, element
    return None


def thread_of(messages: list[Message], parent_ts: str) -> list[Message]:
    """A parent message and its replies, in post order."""
    return [m for m in messages if m["ts"] == parent_ts or m.get("thread_ts") == parent_ts]
