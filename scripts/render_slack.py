#!/usr/bin/env python3
"""Renders Slack messages (as the Slack stand-in recorded them) to one HTML page.

Input: JSON files, each a list of messages from the stand-in's `/_sink/messages` (a parent
message and its thread replies), as written by the notifier's end-to-end tests with
`GANTRY_DUMP_SLACK=<dir>`. Output: an HTML page that lays the Block Kit blocks out as Slack
does (header, mrkdwn sections, context lines, thread replies), so docs/notifications.md shows what the
function really sends. Standard library only.

    python3 scripts/render_slack.py target/slack-dump/*.json -o docs/notifier-message.html

The page links the stylesheet `scripts/slack.css`. The local demo imports this module too:
`conversation()` and `STYLE` (that stylesheet) for its report's Slack thread, and
`text_lines()` for the plain-text view of a message in its transcript.
"""

import argparse
import html
import json
import os
import re
import sys
import time

EMOJI = {
    "white_check_mark": "\u2705",
    "x": "\u274c",
    "large_blue_circle": "\U0001f535",
    "white_circle": "\u26aa",
    "raised_hand": "\u270b",
    "double_vertical_bar": "\u23f8\ufe0f",
    "black_square_for_stop": "\u23f9\ufe0f",
    "fast_forward": "\u23e9",
    "heavy_multiplication_x": "\u2716\ufe0f",
    "heavy_minus_sign": "\u2796",
    "stopwatch": "\u23f1\ufe0f",
    "rewind": "\u23ea",
    "arrows_counterclockwise": "\U0001f504",
}


# Display names for mentions (`<@U…>`, `<!subteam^S…>`), when the caller knows them.
NAMES: dict[str, str] = {}


def mention(target: str) -> str | None:
    """`@name` for a user or user group mention (`@U0LEAD`, `!subteam^S0RELEASE|@release`), else None."""
    if target.startswith("@"):
        return "@" + NAMES.get(target[1:], target[1:])
    if target.startswith("!subteam^"):
        group, _, handle = target.removeprefix("!subteam^").partition("|")
        return handle or "@" + NAMES.get(group, group)
    return None


def emoji(text: str) -> str:
    return re.sub(r":([a-z0-9_+-]+):", lambda m: EMOJI.get(m.group(1), m.group(0)), text)


def mrkdwn(text: str) -> str:
    """Slack mrkdwn to HTML. The text is already Slack-escaped (&amp; &lt; &gt;), which is valid
    HTML as it stands; quotes are the only other characters HTML cares about here."""
    text = text.replace('"', "&quot;")
    stash: list[str] = []

    def keep(fragment: str) -> str:
        stash.append(fragment)
        return f"\x00{len(stash) - 1}\x00"

    def code(fragment: str) -> str:
        return re.sub(r"`([^`]+)`", lambda m: keep(f"<code>{m.group(1)}</code>"), fragment)

    def link(m: re.Match) -> str:
        if (name := mention(m.group(1))) is not None:
            return keep(f'<span class="mention">{name}</span>')
        url, _, label = m.group(1).partition("|")
        return keep(f'<a href="{url}">{mrkdwn_inline(code(label or url))}</a>')

    text = re.sub(r"```(.*?)```", lambda m: keep(f"<pre>{m.group(1)}</pre>"), text, flags=re.S)
    text = re.sub(r"(?m)^(?:&gt;|>)\s?(.*)$", lambda m: keep('<span class="quote">') + m.group(1) + keep("</span>"),
                  text)
    text = re.sub(r"<([^>\x00]+)>", link, text)
    text = mrkdwn_inline(code(text))
    text = text.replace("\n", "<br>")
    while "\x00" in text:
        text = re.sub(r"\x00(\d+)\x00", lambda m: stash[int(m.group(1))], text)
    return emoji(text)


def mrkdwn_inline(text: str) -> str:
    text = re.sub(r"(?<![\w*])\*([^*\n]+)\*(?![\w*])", r"<b>\1</b>", text)
    text = re.sub(r"(?<![\w_])_([^_\n]+)_(?![\w_])", r"<i>\1</i>", text)
    return text


def block(b: dict) -> str:
    kind = b.get("type")
    if kind == "header":
        return f'<div class="header">{emoji(html.escape(b["text"]["text"]))}</div>'
    if kind == "section":
        text = f'<div>{mrkdwn(b["text"]["text"])}</div>' if "text" in b else ""
        fields = "".join(f'<div class="field">{mrkdwn(f["text"])}</div>' for f in b.get("fields", []))
        return f'<div class="section">{text}' + (f'<div class="fields">{fields}</div>' if fields else "") + "</div>"
    if kind == "context":
        parts = [mrkdwn(e["text"]) for e in b.get("elements", []) if "text" in e]
        return f'<div class="context">{" ".join(parts)}</div>'
    if kind == "divider":
        return "<hr>"
    if kind == "actions":
        buttons = "".join(
            f'<span class="button {html.escape(e.get("style", ""))}">{emoji(html.escape(e["text"]["text"]))}</span>'
            for e in b.get("elements", []) if e.get("type") == "button")
        return f'<div class="actions">{buttons}</div>'
    if kind == "input":
        placeholder = (b.get("element", {}).get("placeholder") or {}).get("text", "")
        return (f'<div class="input"><div class="label">{html.escape(b["label"]["text"])}</div>'
                f'<div class="field-box">{html.escape(placeholder)}</div></div>')
    return f'<div class="unknown">[{html.escape(str(kind))} block]</div>'


def plain(text: str) -> str:
    """Slack mrkdwn as a reader sees it, in plain text: links by their label, no markup."""
    text = re.sub(r"<([@!][^>]+)>", lambda m: mention(m.group(1)) or m.group(0), text)
    text = re.sub(r"<([^>|]+)\|([^>]+)>", r"\2", text)
    text = re.sub(r"<([^>]+)>", r"\1", text)
    text = re.sub(r"```(.*?)```", r"\1", text, flags=re.S)
    text = re.sub(r"(?m)^(?:&gt;|>)\s?", "", text)
    text = text.replace("`", "")
    text = re.sub(r"(?<![\w*])\*([^*\n]+)\*(?![\w*])", r"\1", text)
    text = re.sub(r"(?<![\w_])_([^_\n]+)_(?![\w_])", r"\1", text)
    text = text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    return emoji(text)


def text_lines(m: dict) -> list[str]:
    """A message as plain-text lines, block by block (buttons as `[Approve]`)."""
    lines: list[str] = []
    for b in m.get("blocks") or []:
        kind = b.get("type")
        if kind == "header":
            lines.append(emoji(b["text"]["text"]))
        elif kind == "section":
            if "text" in b:
                lines.extend(plain(b["text"]["text"]).splitlines())
            for f in b.get("fields", []):
                lines.append(" ".join(plain(f["text"]).splitlines()))
        elif kind == "context":
            lines.append("  ".join(plain(e["text"]) for e in b.get("elements", []) if "text" in e))
        elif kind == "actions":
            lines.append(" ".join(f'[{e["text"]["text"]}]' for e in b.get("elements", []) if e.get("type") == "button"))
        elif kind == "input":
            lines.append(f'{b["label"]["text"]}: ____')
    return [line for line in lines if line.strip()] or plain(m.get("text", "")).splitlines()


def clock(ts: str) -> str:
    """A message's time, as Slack shows it beside the name (`10:37:05 UTC`), from its `ts`."""
    try:
        return time.strftime("%H:%M:%S UTC", time.gmtime(float(ts)))
    except ValueError:
        return html.escape(ts)


def message(m: dict, reply: bool = False) -> str:
    body = "".join(block(b) for b in m.get("blocks") or []) or f'<div class="section">{mrkdwn(m.get("text", ""))}</div>'
    edited = ' <span class="edited">(edited)</span>' if m.get("versions", 1) > 1 else ""
    return (
        f'<div class="message{" reply" if reply else ""}"><div class="avatar">G</div><div class="content">'
        f'<div class="meta"><span class="name">Gantry</span><span class="app">APP</span>'
        f'<span class="ts" title="ts {html.escape(m.get("ts", ""))}">{clock(m.get("ts", ""))}</span>{edited}</div>'
        f'{body}</div></div>'
    )


def conversation(title: str, messages: list[dict]) -> str:
    parents = [m for m in messages if not m.get("thread_ts")]
    out = [f'<section><h2>{html.escape(title)}</h2><div class="channel">#{html.escape(parents[0]["channel"] if parents else "")}</div>']
    for p in parents:
        out.append(message(p))
        replies = [m for m in messages if m.get("thread_ts") == p["ts"]]
        if replies:
            out.append(f'<div class="thread"><div class="thread-title">Thread · {len(replies)} repl{"y" if len(replies) == 1 else "ies"}</div>')
            out.extend(message(r, reply=True) for r in replies)
            out.append("</div>")
    out.append("</section>")
    return "".join(out)


# The look of a rendered message, kept in one stylesheet: the notifier's docs page links it, the
# demo's report (one self-contained file) inlines it.
STYLESHEET = os.path.join(os.path.dirname(os.path.abspath(__file__)), "slack.css")
with open(STYLESHEET, encoding="utf-8") as _f:
    STYLE = _f.read()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("inputs", nargs="+", help="JSON files: lists of messages from the Slack stand-in")
    parser.add_argument("-o", "--output", required=True)
    args = parser.parse_args()
    titles = {"successful": "A successful execution", "failed": "A failed build, error in the thread",
              "approval": "Waiting for approval"}
    sections = []
    for path in args.inputs:
        with open(path, encoding="utf-8") as f:
            messages = json.load(f)
        name = path.rsplit("/", 1)[-1].removesuffix(".json")
        sections.append(conversation(titles.get(name, name), messages))
    stylesheet = os.path.relpath(STYLESHEET, os.path.dirname(os.path.abspath(args.output)))
    page = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Gantry notifier: the Slack message</title>'
        f'<link rel="stylesheet" href="{html.escape(stylesheet)}"></head><body><h1>Gantry notifier: the Slack message</h1>'
        '<p class="note">Rendered from the Block Kit JSON the notifier sent to the Slack stand-in in its '
        "end-to-end tests (<code>scripts/notifier-docs.sh</code>). Each execution is one message, edited in place; "
        "failures go into its thread.</p>" + "".join(sections) + "</body></html>\n"
    )
    with open(args.output, "w", encoding="utf-8") as f:
        f.write(page)
    return 0


if __name__ == "__main__":
    sys.exit(main())
