"""The demo's report: one self-contained HTML page (inline CSS, an inline SVG chart, no network).

- The traffic during each deployment: green's share of the listener's weights over time, drawn
  from the emulator's record of every weight the traffic shifter set.
- The Slack channel: each execution's message and thread, rendered from the Block Kit JSON the
  functions really sent to the Slack stand-in (`scripts/render_slack.py`, the renderer of the
  docs' Slack pages).
- The transcript, as printed.

`render(...)` is a pure function over plain data; `write(world, path)` gathers the data.
"""

from __future__ import annotations

import html
import math
import time
from dataclasses import dataclass
from typing import Any, Optional

from slack_view import thread_of

import render_slack  # scripts/ is on the path (slack_view puts it there)

COLORS = ["#2eb67d", "#e01e5a", "#1264a3", "#ecb22e"]


@dataclass(frozen=True)
class Series:
    """One deployment's green share over time, seconds since its job started."""

    title: str
    points: list[tuple[float, float]]  # (seconds, green %), first at 0, last at the job's end
    outcome: str
    alarm: Optional[tuple[float, str]] = None  # (seconds, alarm name)
    # The canary judge's minutes, when it ran: (minute's epoch second, new 5xx %, live 5xx %).
    error_rates: tuple[tuple[int, float, float], ...] = ()


def series_of(run: Any) -> Series:
    """A `DeploymentRun` (chapters/canary.py) as a chart series."""
    points = [(0.0, run.before.green_share)]
    points += [(max(0.0, c.at - run.started), c.green_share) for c in run.changes]
    points.append((max(points[-1][0], run.ended - run.started), points[-1][1]))
    alarm = (run.alarm_at - run.started, run.alarm) if run.alarm_at and run.alarm else None
    rates = tuple((minute, 100 * new, 100 * live) for minute, new, live in (getattr(run, "windows", None) or []))
    return Series(run.title, points, f"{run.status}: {run.message}", alarm, rates)


def error_chart(s: Series, width: int = 760, height: int = 220) -> str:
    """The two sides' 5xx rates per one-minute window, as the canary judge compared them: an
    inline SVG, new side red, live side blue."""
    left, right, top, bottom = 56, 120, 16, 40
    plot_w, plot_h = width - left - right, height - top - bottom
    rates = s.error_rates
    peak = max([max(n, lv) for _, n, lv in rates] + [0.1]) * 1.25

    def x(i: int) -> float:
        return left + plot_w * (i + 0.5) / len(rates)

    def y(rate: float) -> float:
        return top + plot_h * (1 - rate / peak)

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="{width}" '
           f'height="{height}" role="img" aria-label="5xx rate per minute, new side against live side">',
           f'<rect x="{left}" y="{top}" width="{plot_w}" height="{plot_h}" fill="#fff" stroke="#ddd"/>']
    for frac in (0, 0.25, 0.5, 0.75, 1):
        rate = peak * frac
        out.append(f'<line x1="{left}" x2="{left + plot_w}" y1="{y(rate):.1f}" y2="{y(rate):.1f}" stroke="#eee"/>'
                   f'<text x="{left - 8}" y="{y(rate) + 4:.1f}" text-anchor="end" class="tick">{rate:.2f}%</text>')
    for i, (minute, _, _) in enumerate(rates):
        label = time.strftime("%H:%M", time.gmtime(minute))
        out.append(f'<text x="{x(i):.1f}" y="{top + plot_h + 18}" text-anchor="middle" class="tick">{label}</text>')
    for index, color, name in ((1, "#e01e5a", "new side"), (2, "#1264a3", "live side")):
        points = " ".join(f"{x(i):.1f},{y(r[index]):.1f}" for i, r in enumerate(rates))
        out.append(f'<polyline points="{points}" fill="none" stroke="{color}" stroke-width="2.5"/>')
        for i, r in enumerate(rates):
            out.append(f'<circle cx="{x(i):.1f}" cy="{y(r[index]):.1f}" r="3.5" fill="{color}"/>')
        last = rates[-1][index]
        out.append(f'<text x="{left + plot_w + 8}" y="{y(last) + 4:.1f}" class="label" fill="{color}">'
                   f"{name} {last:.2f}%</text>")
    out.append(f'<text x="{left + plot_w / 2}" y="{height - 6}" text-anchor="middle" class="axis">'
               "one-minute windows (UTC), as the load balancer counts them</text>")
    out.append("</svg>")
    return "".join(out)


def chart(series: list[Series], width: int = 760, height: int = 320) -> str:
    """Green's share (%) against time as step lines, one per deployment: an inline SVG."""
    left, right, top, bottom = 56, 20, 16, 44
    plot_w, plot_h = width - left - right, height - top - bottom
    span = max([p[0] for s in series for p in s.points] + [1.0])
    step = next(s for s in (1, 2, 5, 10, 15, 30, 60, 120, 300) if span / s <= 10)
    span = math.ceil(span / step) * step

    def x(seconds: float) -> float:
        return left + plot_w * seconds / span

    def y(share: float) -> float:
        return top + plot_h * (1 - share / 100)

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="{width}" '
           f'height="{height}" role="img" aria-label="Green share of traffic over time">',
           f'<rect x="{left}" y="{top}" width="{plot_w}" height="{plot_h}" fill="#fff" stroke="#ddd"/>']
    for share in (0, 25, 50, 75, 100):
        out.append(f'<line x1="{left}" x2="{left + plot_w}" y1="{y(share):.1f}" y2="{y(share):.1f}" stroke="#eee"/>'
                   f'<text x="{left - 8}" y="{y(share) + 4:.1f}" text-anchor="end" class="tick">{share}%</text>')
    for i in range(0, int(span / step) + 1):
        seconds = i * step
        out.append(f'<text x="{x(seconds):.1f}" y="{top + plot_h + 18}" text-anchor="middle" class="tick">'
                   f'{seconds} s</text>')
    out.append(f'<text x="{left + plot_w / 2}" y="{height - 6}" text-anchor="middle" class="axis">'
               "seconds since the traffic shifter's job started</text>")
    out.append(f'<text x="14" y="{top + plot_h / 2}" text-anchor="middle" class="axis" '
               f'transform="rotate(-90 14 {top + plot_h / 2})">green share of traffic</text>')
    for i, s in enumerate(series):
        color = COLORS[i % len(COLORS)]
        path, previous = [], None
        for seconds, share in s.points:
            if previous is None:
                path.append(f"M{x(seconds):.1f},{y(share):.1f}")
            else:
                path.append(f"L{x(seconds):.1f},{y(previous):.1f}")  # the share holds until now…
                if share != previous:
                    path.append(f"L{x(seconds):.1f},{y(share):.1f}")  # …then steps
            previous = share
        out.append(f'<path d="{" ".join(path)}" fill="none" stroke="{color}" stroke-width="2.5"/>')
        for seconds, share in s.points[1:-1]:
            out.append(f'<circle cx="{x(seconds):.1f}" cy="{y(share):.1f}" r="3.5" fill="{color}"/>'
                       f'<text x="{x(seconds) + 6:.1f}" y="{y(share) - 6 if share < 90 else y(share) + 16:.1f}" '
                       f'class="label" fill="{color}">{share:.0f}%</text>')
        if s.alarm:
            seconds, name = s.alarm
            out.append(f'<line x1="{x(seconds):.1f}" x2="{x(seconds):.1f}" y1="{top}" y2="{top + plot_h}" '
                       f'stroke="{color}" stroke-dasharray="4 3"/>'
                       f'<text x="{x(seconds) + 4:.1f}" y="{y(50):.1f}" class="label" fill="{color}">'
                       f'{html.escape(name)} → ALARM</text>')
    out.append("</svg>")
    return "".join(out)


def legend(series: list[Series]) -> str:
    rows = []
    for i, s in enumerate(series):
        steps = " → ".join(f"{share:.0f}% at {seconds:.1f} s" for seconds, share in s.points[:-1])
        rows.append(f'<li><span class="swatch" style="background:{COLORS[i % len(COLORS)]}"></span>'
                    f"<b>{html.escape(s.title)}</b>: {html.escape(steps)}<br>"
                    f'<span class="outcome">{html.escape(s.outcome)}</span></li>')
    return f'<ul class="legend">{"".join(rows)}</ul>'


def delivery_chart(figures: list[dict[str, Any]], width: int = 760) -> str:
    """The four keys per stage, from the notifier's EMF lines: a bar per count, values per duration."""
    stages: dict[str, dict[str, list[float]]] = {}
    for f in figures:
        if "Stage" not in f:
            continue  # another EMF line (the registry's count of invalid documents), not a delivery
        name = f["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]["Name"]
        stages.setdefault(f["Stage"], {}).setdefault(name, []).append(float(f[name]))
    if not stages:
        return '<p class="note">No stage that deploys ended in this telling of the story.</p>'
    row, bar = 56, 26
    height = row * len(stages) + 24
    most = max(len(k.get("Deployments", [])) for k in stages.values()) or 1
    scale = 200 / most  # leaves room on the right for the figures
    parts = [f'<svg width="{width}" height="{height}" role="img" aria-label="delivery figures per stage">']
    for i, (stage, keys) in enumerate(sorted(stages.items())):
        y = 12 + i * row
        n, failed = len(keys.get("Deployments", [])), len(keys.get("FailedDeployments", []))
        parts.append(f'<text class="label" x="0" y="{y + 18}">{html.escape(stage)}</text>')
        parts.append(f'<rect x="120" y="{y}" width="{n * scale:.1f}" height="{bar}" fill="{COLORS[0]}"/>')
        parts.append(f'<rect x="120" y="{y}" width="{failed * scale:.1f}" height="{bar}" fill="#e01e5a"/>')
        lead = "/".join(f"{v:.0f}" for v in keys.get("LeadTimeSeconds", [])) or "–"
        restore = "/".join(f"{v:.0f}" for v in keys.get("TimeToRestoreSeconds", [])) or "–"
        text = (f"{n} deployment(s), {failed} failed · lead time {lead} s · "
                f"time to restore {restore} s")
        parts.append(f'<text class="tick" x="{128 + n * scale:.1f}" y="{y + 18}">{html.escape(text)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def render(*, series: list[Series], threads: list[tuple[str, list[dict[str, Any]]]], transcript: list[str],
           when: str, summary: str, figures: list[dict[str, Any]] | None = None) -> str:
    """The whole page."""
    traffic = (f"{chart(series)}{legend(series)}" if series
               else '<p class="note">No deployment ran in this telling of the story.</p>')
    for s in series:
        if s.error_rates:
            traffic += (f'<h3>{html.escape(s.title)}: the canary judge\'s view, 5xx rate per minute</h3>'
                        f"{error_chart(s)}")
    slack = "".join(render_slack.conversation(title, messages) for title, messages in threads) or \
        '<p class="note">Nothing was posted to Slack in this telling of the story.</p>'
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Gantry: the local demo</title>'
        f"<style>{render_slack.STYLE}{STYLE}</style></head><body>"
        f'<h1>Gantry: the local demo</h1><p class="note">{html.escape(when)} · {html.escape(summary)}</p>'
        '<section class="wide"><h2>Traffic: green\'s share of the ALB listener, step by step</h2>'
        f"{traffic}</section>"
        '<section class="wide"><h2>Delivery: the four keys of this story, per stage</h2>'
        '<p class="note">From the notifier\'s EMF log lines, each figure written once (docs/metrics.md): '
        'deployments (failed ones in red), lead time and time to restore in seconds.</p>'
        f"{delivery_chart(figures or [])}</section>"
        '<h2 class="page">Slack: what the channel shows</h2>'
        '<p class="note">Rendered from the Block Kit JSON that notifier, approval and traffic-shifter sent to '
        "the Slack stand-in. Each execution is one message, edited in place; the approval request and the "
        "deployment's progress are replies in its thread.</p>"
        f"{slack}"
        '<section class="wide"><details><summary>The transcript</summary>'
        f"<pre>{html.escape(chr(10).join(transcript))}</pre></details></section>"
        "</body></html>\n"
    )


STYLE = """
section.wide { max-width: 1000px; }
h2.page { font-size: 16px; margin: 28px 0 4px; }
svg .tick { font-size: 11px; fill: #616061; } svg .axis { font-size: 12px; fill: #1d1c1d; }
svg .label { font-size: 12px; font-weight: 700; }
ul.legend { list-style: none; padding: 0; margin: 8px 0 0; font-size: 14px; }
ul.legend li { margin: 6px 0; } .outcome { color: #616061; font-size: 13px; margin-left: 18px; }
.swatch { display: inline-block; width: 12px; height: 12px; border-radius: 2px; margin-right: 6px; }
details pre { font-size: 11px; max-height: 640px; overflow: auto; background: #1d1c1d; color: #e8e8e8; }
summary { cursor: pointer; font-weight: 700; }
"""


def threads(world: Any, channel: str) -> list[tuple[str, list[dict[str, Any]]]]:
    """Each execution's Slack thread, titled by its push, in the order the story told them."""
    messages = world.slack("GET", f"messages?channel={channel}")["messages"]
    out = []
    for number, execution in enumerate(world.facts.get("executions", []), start=1):
        ts = world.facts.get("threads", {}).get(execution["execution_id"])
        if ts:
            title = f"Push {number}: “{execution['message']}” ({execution['commit'][:8]})"
            out.append((title, thread_of(messages, ts)))
    # /gantry (chapters/operations.py): a proposal is a message of its own (its ts), its outcome
    # on its thread; a private answer is kept as the message itself, in no channel's history.
    for title, shown in world.facts.get("operations", []):
        out.append((title, thread_of(messages, shown) if isinstance(shown, str) else shown))
    return out


def write(world: Any, path: str, channel: str, summary: str) -> str:
    """Gathers what the story left and writes the page to `path`; returns `path`."""
    page = render(series=[series_of(run) for run in world.facts.get("deployments", [])],
                  threads=threads(world, channel), transcript=list(world.transcript.lines),
                  when=time.strftime("%Y-%m-%d %H:%M:%S %Z"), summary=summary,
                  figures=world.facts.get("figures", []))
    with open(path, "w", encoding="utf-8") as f:
        f.write(page)
    return path
