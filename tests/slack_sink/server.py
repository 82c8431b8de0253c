#!/usr/bin/env python3
"""Slack sink: a local stand-in for the Slack Web API, for Gantry's tests and local demo.

Standard library only. See README.md next to this file for the full reference.

    python3 tests/slack_sink/server.py [--port 0] [--no-stdin-watch] [--verbose]

Prints one line `READY http://127.0.0.1:<port>` once listening. Every path may be prefixed with
`/ns/<name>`; each namespace has its own calls, messages, faults and config, so parallel tests can
share one server. Under a prefix:

    GET|POST /api/<method>    Slack Web API (chat.postMessage, chat.update, ...), held to the
                              methods' verbs and content types in Slack's published spec
                              (tests/fixtures/slack/slack_web_openapi_v2.subset.json)
    POST /response/<any>      an interactivity or slash command response_url target
    *    /_sink/...           control API (calls, messages, faults, config, reset, slash)
"""

import argparse
import hashlib
import hmac
import json
import os
import signal
import stat
import sys
import threading
import time
import traceback
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.error import HTTPError, URLError
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit
from urllib.request import Request, urlopen

MAX_BODY = 8 * 1024 * 1024

# Slack's published Web API spec (the paths of the methods served here), from tests/fixtures.
SPEC_PATH = os.path.join(
    os.path.dirname(os.path.abspath(__file__)),
    "..", "fixtures", "slack", "slack_web_openapi_v2.subset.json",
)

# Arguments Slack's method pages mark required that the spec leaves optional.
REQUIRED_BEYOND_SPEC = {
    "chat.delete": ("channel", "ts"),
    "users.info": ("user",),
    "conversations.info": ("channel",),
    "conversations.history": ("channel",),
    "conversations.replies": ("channel", "ts"),
}


def load_spec(path=SPEC_PATH):
    """{method: {"verb", "json", "required"}} from the spec: the documented verb, whether the
    method accepts `application/json` bodies (Slack: "most write methods"), required arguments."""
    with open(path, encoding="utf-8") as f:
        paths = json.load(f)["paths"]
    spec = {}
    for path_name, operations in paths.items():
        method = path_name.lstrip("/")
        [(verb, op)] = operations.items()
        required = [
            p["name"] for p in op.get("parameters", []) if p.get("required") and p["name"] != "token"
        ]
        for name in REQUIRED_BEYOND_SPEC.get(method, ()):
            if name not in required:
                required.append(name)
        spec[method] = {
            "verb": verb.upper(),
            "json": "application/json" in op.get("consumes", []),
            "required": required,
        }
    return spec


SPEC = load_spec()

# Identity the sink answers with; fixed so tests can assert on it.
BOT_ID = "B0SINK"
BOT_USER_ID = "U0SINKBOT"
TEAM_ID = "T0SINK"
AUTH_TEST = {
    "url": "https://gantry-sink.slack.com/",
    "team": "Gantry Sink",
    "user": "gantry-bot",
    "team_id": TEAM_ID,
    "user_id": BOT_USER_ID,
    "bot_id": BOT_ID,
    "is_enterprise_install": False,
}

# Slack's documented limits (api.slack.com/methods/chat.postMessage, /reference/block-kit/blocks).
MAX_TEXT = 40000
MAX_BLOCKS = 50
MAX_SECTION_TEXT = 3000
MAX_SECTION_FIELDS = 10
MAX_FIELD_TEXT = 2000
MAX_HEADER_TEXT = 150
MAX_CONTEXT_ELEMENTS = 10
MAX_ACTIONS_ELEMENTS = 25
MAX_BLOCK_ID = 255
MAX_ACTION_ID = 255
MAX_BUTTON_TEXT = 75
MAX_BUTTON_VALUE = 2000
MAX_BUTTON_URL = 3000
MAX_CONFIRM_TITLE = 100
MAX_CONFIRM_TEXT = 300
MAX_CONFIRM_BUTTON = 30
MAX_INPUT_LABEL = 2000
MAX_CONTEXT_TEXT = 3000
MAX_EPHEMERAL_KEEP = 1000

# A response_url takes this many answers, within this many seconds of being issued.
RESPONSE_URL_USES = 5
RESPONSE_URL_LIFETIME = 30 * 60

# Slack shows "Timeout was reached" for a slash command not answered within this many milliseconds.
SLASH_COMMAND_DEADLINE_MS = 3000
SLASH_RESPONSE_TYPES = ("in_channel", "ephemeral")

# How many messages conversations.history returns at most per page (Slack: 999), by default 100.
HISTORY_MAX_LIMIT = 999
HISTORY_DEFAULT_LIMIT = 100

# Form-encoded Slack calls carry these as JSON strings.
JSON_FORM_FIELDS = ("blocks", "attachments", "metadata")

FAULT_KEYS = {"status", "retry_after", "error", "hang_seconds", "delay_seconds", "after_effect"}
FAULT_DEFAULT_ERRORS = {429: "ratelimited", 500: "fatal_error", 503: "service_unavailable"}
CONFIG_USER_KEYS = {"id", "name", "email", "real_name", "display_name"}
CONFIG_KEYS = {
    "valid_token",
    "unknown_channels",
    "not_in_channels",
    "joined_channels",
    "users",
    "usergroups",
    "clock_offset_seconds",
}


def err(code, **extra):
    return {"ok": False, "error": code, **extra}


class ControlError(Exception):
    """A malformed control-API request: answered with HTTP 400."""


# --------------------------------------------------------------------------------------------
# State


class Namespace:
    def __init__(self):
        self.calls = []
        self.messages = []  # post order
        self.by_key = {}  # (channel, ts) -> message
        self.faults = {}  # method or "*" -> deque of fault specs
        self.valid_token = None  # None: any "xoxb-..." token is valid
        self.unknown_channels = set()
        self.not_in_channels = set()  # channels the bot is not a member of
        self.users = {}  # id -> user config
        self.usergroups = {}  # id -> [user ids]
        self.ephemerals = []  # chat.postEphemeral messages, post order
        self.response_urls = {}  # path -> {"issued": epoch, "uses": n}
        self.clock_offset = 0.0  # seconds added to the wall clock (response_url expiry)

    def now(self):
        return time.time() + self.clock_offset

    def take_fault(self, method):
        # A method-specific fault wins over a catch-all one, so tests can mix both predictably.
        for key in (method, "*"):
            queue = self.faults.get(key)
            if queue:
                return queue.popleft()
        return None

    def pending_faults(self):
        return {key: list(queue) for key, queue in self.faults.items() if queue}

    def config_view(self):
        return {
            "valid_token": self.valid_token,
            "unknown_channels": sorted(self.unknown_channels),
            "not_in_channels": sorted(self.not_in_channels),
            "users": list(self.users.values()),
            "usergroups": self.usergroups,
            "clock_offset_seconds": self.clock_offset,
        }


class Sink:
    """All state, behind one lock: calls are tiny, so contention doesn't matter."""

    def __init__(self):
        self.lock = threading.Lock()
        self.namespaces = {}
        self._last_us = 0

    def ns(self, name):
        if name not in self.namespaces:
            self.namespaces[name] = Namespace()
        return self.namespaces[name]

    def reset(self, name):
        self.namespaces[name] = Namespace()

    def next_ts(self):
        # Wall-clock based like Slack's, but forced strictly increasing (server-wide, hence also
        # per namespace) so ordering assertions never flake on a coarse clock.
        self._last_us = max(int(time.time() * 1_000_000), self._last_us + 1)
        return f"{self._last_us // 1_000_000}.{self._last_us % 1_000_000:06d}"


# --------------------------------------------------------------------------------------------
# Message content validation


def text_object_problems(obj, ptr, max_len, types):
    if not isinstance(obj, dict):
        return [f"must be an object [json-pointer:{ptr}]"]
    problems = []
    if obj.get("type") not in types:
        problems.append(f"must be one of {', '.join(types)} [json-pointer:{ptr}/type]")
    text = obj.get("text")
    if not isinstance(text, str):
        problems.append(f"missing required field: text [json-pointer:{ptr}/text]")
    elif not text:
        problems.append(f"must be more than 0 characters [json-pointer:{ptr}/text]")
    elif len(text) > max_len:
        problems.append(f"must be less than {max_len + 1} characters [json-pointer:{ptr}/text]")
    return problems


def elements_problems(elements, ptr, max_items):
    if not isinstance(elements, list) or not elements:
        return [f"must provide a non-empty array [json-pointer:{ptr}]"]
    if len(elements) > max_items:
        return [f"must be less than {max_items + 1} items [json-pointer:{ptr}]"]
    return []


def each_element_problems(elements, ptr, max_items, problems_of):
    """The problems of a block's list (fields, elements): the list's own, else each item's, as
    `problems_of(item, its_ptr)` finds them."""
    problems = elements_problems(elements, ptr, max_items)
    if not problems:
        for j, element in enumerate(elements):
            problems += problems_of(element, f"{ptr}/{j}")
    return problems


def string_problems(value, ptr, max_len, required=True):
    if value is None:
        return [f"missing required field: {ptr.rsplit('/', 1)[-1]} [json-pointer:{ptr}]"] if required else []
    if not isinstance(value, str) or not value:
        return [f"must be more than 0 characters [json-pointer:{ptr}]"]
    if len(value) > max_len:
        return [f"must be less than {max_len + 1} characters [json-pointer:{ptr}]"]
    return []


def confirm_problems(confirm, ptr):
    if not isinstance(confirm, dict):
        return [f"must be an object [json-pointer:{ptr}]"]
    plain, both = ("plain_text",), ("plain_text", "mrkdwn")
    problems = text_object_problems(confirm.get("title"), f"{ptr}/title", MAX_CONFIRM_TITLE, plain)
    problems += text_object_problems(confirm.get("text"), f"{ptr}/text", MAX_CONFIRM_TEXT, both)
    for key in ("confirm", "deny"):
        problems += text_object_problems(confirm.get(key), f"{ptr}/{key}", MAX_CONFIRM_BUTTON, plain)
    return problems


def element_problems(element, ptr, seen_action_ids):
    """An interactive element (button, input...): action_id, and a button's own limits."""
    if not isinstance(element, dict) or not isinstance(element.get("type"), str):
        return [f"missing required field: type [json-pointer:{ptr}]"]
    problems = []
    action_id = element.get("action_id")
    if action_id is not None:
        problems += string_problems(action_id, f"{ptr}/action_id", MAX_ACTION_ID)
        if isinstance(action_id, str):
            if action_id in seen_action_ids:
                problems.append(f"duplicate action_id [json-pointer:{ptr}/action_id]")
            seen_action_ids.add(action_id)
    if element["type"] == "button":
        problems += text_object_problems(
            element.get("text"), f"{ptr}/text", MAX_BUTTON_TEXT, ("plain_text",)
        )
        problems += string_problems(element.get("value"), f"{ptr}/value", MAX_BUTTON_VALUE, False)
        problems += string_problems(element.get("url"), f"{ptr}/url", MAX_BUTTON_URL, False)
        style = element.get("style")
        if style is not None and style not in ("primary", "danger"):
            problems.append(f"must be one of primary, danger [json-pointer:{ptr}/style]")
        if "confirm" in element:
            problems += confirm_problems(element["confirm"], f"{ptr}/confirm")
    return problems


def block_problems(blocks):
    """Problems Slack would reject with `invalid_blocks`, in Slack's message format.

    Only the limits Gantry can plausibly hit are checked; unknown block types pass, as they
    would be checked by Slack against a schema we don't replicate.
    """
    if len(blocks) > MAX_BLOCKS:
        return [f"must be less than {MAX_BLOCKS + 1} items [json-pointer:/blocks]"]
    problems, seen_ids = [], set()
    both = ("plain_text", "mrkdwn")
    for i, block in enumerate(blocks):
        ptr = f"/blocks/{i}"
        if not isinstance(block, dict) or not isinstance(block.get("type"), str):
            problems.append(f"missing required field: type [json-pointer:{ptr}]")
            continue
        block_id = block.get("block_id")
        if block_id is not None:
            if not isinstance(block_id, str) or not 0 < len(block_id) <= MAX_BLOCK_ID:
                problems.append(f"invalid block_id [json-pointer:{ptr}/block_id]")
            elif block_id in seen_ids:
                problems.append(f"duplicate block_id [json-pointer:{ptr}/block_id]")
            seen_ids.add(block_id)
        kind = block["type"]
        action_ids = set()  # action_ids are unique within their block
        if kind == "section":
            text, fields = block.get("text"), block.get("fields")
            if text is None and fields is None:
                problems.append(f"must provide either text or fields [json-pointer:{ptr}]")
            if text is not None:
                problems += text_object_problems(text, f"{ptr}/text", MAX_SECTION_TEXT, both)
            if fields is not None:
                problems += each_element_problems(
                    fields, f"{ptr}/fields", MAX_SECTION_FIELDS,
                    lambda field, at: text_object_problems(field, at, MAX_FIELD_TEXT, both),
                )
            if block.get("accessory") is not None:
                problems += element_problems(block["accessory"], f"{ptr}/accessory", action_ids)
        elif kind == "header":
            problems += text_object_problems(
                block.get("text"), f"{ptr}/text", MAX_HEADER_TEXT, ("plain_text",)
            )
        elif kind == "context":
            problems += each_element_problems(
                block.get("elements"), f"{ptr}/elements", MAX_CONTEXT_ELEMENTS,
                # Images pass: only text elements have a limit Gantry can reach.
                lambda element, at: text_object_problems(element, at, MAX_CONTEXT_TEXT, both)
                if isinstance(element, dict) and element.get("type") in both else [],
            )
        elif kind == "actions":
            problems += each_element_problems(
                block.get("elements"), f"{ptr}/elements", MAX_ACTIONS_ELEMENTS,
                lambda element, at: element_problems(element, at, action_ids),
            )
        elif kind == "input":
            problems += text_object_problems(
                block.get("label"), f"{ptr}/label", MAX_INPUT_LABEL, ("plain_text",)
            )
            if block.get("element") is None:
                problems.append(f"missing required field: element [json-pointer:{ptr}/element]")
            else:
                problems += element_problems(block["element"], f"{ptr}/element", action_ids)
    return problems


def list_argument(value, error_code):
    """A list argument (`blocks`, `attachments`): (list, None), or (None, the `error_code`
    response) when it is not one. Form bodies, and JSON bodies that stringify it, send it as a
    JSON string."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return None, err(error_code)
    if not isinstance(value, list):
        return None, err(error_code)
    return value, None


def message_content(args):
    """The content fields present in `args`, validated: (dict, None) or (None, error response)."""
    content = {}
    if "text" in args and args["text"] is not None:
        text = args["text"]
        if not isinstance(text, str):
            return None, err("invalid_arguments")
        if len(text) > MAX_TEXT:
            return None, err("msg_too_long")
        content["text"] = text
    if "blocks" in args and args["blocks"] is not None:
        blocks, error = list_argument(args["blocks"], "invalid_blocks_format")
        if error:
            return None, error
        problems = block_problems(blocks)
        if problems:
            return None, err(
                "invalid_blocks",
                errors=problems,
                response_metadata={"messages": [f"[ERROR] {p}" for p in problems]},
            )
        content["blocks"] = blocks
    if "attachments" in args and args["attachments"] is not None:
        attachments, error = list_argument(args["attachments"], "invalid_attachments")
        if error:
            return None, error
        content["attachments"] = attachments
    return content, None


def has_content(message):
    return bool(message["text"] or message["blocks"] or message["attachments"])


def slack_message(m):
    """A stored message as Slack returns it in `message` of chat.postMessage / chat.update."""
    out = {
        "type": "message",
        "text": m["text"],
        "blocks": m["blocks"],
        "ts": m["ts"],
        "bot_id": BOT_ID,
        "user": BOT_USER_ID,
        "team": TEAM_ID,
    }
    if m["thread_ts"]:
        out["thread_ts"] = m["thread_ts"]
    if m["attachments"]:
        out["attachments"] = m["attachments"]
    if m["metadata"] is not None:
        out["metadata"] = m["metadata"]
    return out


def sink_message(m):
    """A stored message as the control API shows it."""
    return {
        "channel": m["channel"],
        "ts": m["ts"],
        "thread_ts": m["thread_ts"],
        "text": m["text"],
        "blocks": m["blocks"],
        "attachments": m["attachments"],
        "metadata": m["metadata"],
        "versions": len(m["history"]),
        "history": m["history"],
        "deleted": m["deleted"],
    }


def version_of(m, at):
    return {"text": m["text"], "blocks": m["blocks"], "attachments": m["attachments"], "at": at}


# --------------------------------------------------------------------------------------------
# Slack methods: (sink, namespace, args) -> response dict, always called under the lock.


def channel_error(ns, channel, member=True):
    """`channel_not_found`, or `not_in_channel` when the call needs the bot in the channel."""
    if not isinstance(channel, str) or not channel or channel in ns.unknown_channels:
        return err("channel_not_found")
    if member and channel in ns.not_in_channels:
        return err("not_in_channel")
    return None


def metadata_error(metadata):
    """Slack's message metadata: {"event_type": str, "event_payload": object}."""
    if metadata in (None, ""):
        return None
    if isinstance(metadata, str):
        try:
            metadata = json.loads(metadata)
        except ValueError:
            return err("invalid_metadata_format")
    if (
        not isinstance(metadata, dict)
        or not isinstance(metadata.get("event_type"), str)
        or not metadata["event_type"]
        or not isinstance(metadata.get("event_payload"), dict)
    ):
        return err("invalid_metadata_schema")
    return None


def str_arg(args, key):
    """An argument as a string, or None: JSON bodies may carry any type where Slack wants one."""
    value = args.get(key)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = str(value)
    return value if isinstance(value, str) and value else None


def chat_post_message(sink, ns, args):
    channel = args.get("channel")
    error = channel_error(ns, channel)
    if error:
        return error
    content, error = message_content(args)
    if error:
        return error
    metadata = args.get("metadata")
    error = metadata_error(metadata)
    if error:
        return error
    if isinstance(metadata, str) and metadata:
        metadata = json.loads(metadata)
    m = {
        "channel": channel,
        "ts": None,
        # Slack accepts a thread_ts that matches no message (it posts unthreaded); so do we.
        "thread_ts": str_arg(args, "thread_ts"),
        "text": content.get("text", ""),
        "blocks": content.get("blocks", []),
        "attachments": content.get("attachments", []),
        "metadata": metadata if metadata not in (None, "") else None,
        "deleted": False,
    }
    if not has_content(m):
        return err("no_text")
    m["ts"] = sink.next_ts()
    m["history"] = [version_of(m, time.time())]
    ns.messages.append(m)
    ns.by_key[(channel, m["ts"])] = m
    return {"ok": True, "channel": channel, "ts": m["ts"], "message": slack_message(m)}


def find_message(ns, args):
    channel = args.get("channel")
    error = channel_error(ns, channel)
    if error:
        return None, error
    m = ns.by_key.get((channel, str_arg(args, "ts")))
    if m is None or m["deleted"]:
        return None, err("message_not_found")
    return m, None


def chat_update(sink, ns, args):
    m, error = find_message(ns, args)
    if error:
        return error
    content, error = message_content(args)
    if error:
        return error
    # Fields left out are kept: Slack documents this for blocks/attachments ("include an empty
    # array to remove"); the sink treats text the same way.
    updated = {**m, **content}
    if not has_content(updated):
        return err("no_text")
    m.update(content)
    m["history"].append(version_of(m, time.time()))
    return {
        "ok": True,
        "channel": m["channel"],
        "ts": m["ts"],
        "text": m["text"],
        "message": slack_message(m),
    }


def chat_delete(sink, ns, args):
    m, error = find_message(ns, args)
    if error:
        return error
    m["deleted"] = True
    return {"ok": True, "channel": m["channel"], "ts": m["ts"]}


def chat_post_ephemeral(sink, ns, args):
    error = channel_error(ns, args.get("channel"))
    if error:
        return error
    if not str_arg(args, "user"):
        return err("user_not_found")
    content, error = message_content(args)
    if error:
        return error
    if not (content.get("text") or content.get("blocks") or content.get("attachments")):
        return err("no_text")
    # Ephemeral messages are not part of channel history: /_sink/ephemerals shows them.
    message_ts = sink.next_ts()
    ns.ephemerals.append(
        {
            "channel": args["channel"],
            "user": str_arg(args, "user"),
            "thread_ts": str_arg(args, "thread_ts"),
            "text": content.get("text", ""),
            "blocks": content.get("blocks", []),
            "message_ts": message_ts,
        }
    )
    del ns.ephemerals[:-MAX_EPHEMERAL_KEEP]
    return {"ok": True, "message_ts": message_ts}


def user_view(u):
    real_name = u.get("real_name") or u.get("name") or ""
    return {
        "id": u["id"],
        "team_id": TEAM_ID,
        "name": u.get("name", ""),
        "real_name": real_name,
        "profile": {
            "email": u.get("email", ""),
            "display_name": u.get("display_name", u.get("name", "")),
            "real_name": real_name,
        },
    }


def users_lookup_by_email(sink, ns, args):
    email = (str_arg(args, "email") or "").lower()
    for u in ns.users.values():
        if email and str(u.get("email", "")).lower() == email:
            return {"ok": True, "user": user_view(u)}
    return err("users_not_found")


def users_info(sink, ns, args):
    u = ns.users.get(str_arg(args, "user"))
    return {"ok": True, "user": user_view(u)} if u else err("user_not_found")


def usergroups_users_list(sink, ns, args):
    users = ns.usergroups.get(str_arg(args, "usergroup"))
    return {"ok": True, "users": list(users)} if users is not None else err("no_such_subteam")


def auth_test(sink, ns, args):
    return {"ok": True, **AUTH_TEST}


def ts_arg(args, key):
    """A ts-like argument as a float, None when absent, or False when malformed."""
    value = str_arg(args, key)
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        return False


def flag_arg(args, key):
    return str(args.get(key, "")).lower() in ("1", "true")


def history_message(m, with_metadata):
    out = slack_message(m)
    if not with_metadata:
        out.pop("metadata", None)  # Slack: only with include_all_metadata
    return out


def paged(items, args, key):
    """Slack's cursor pagination over `items`: (page, next_cursor) or an error response."""
    try:
        limit = int(args.get("limit") or HISTORY_DEFAULT_LIMIT)
        start = int(args.get("cursor") or 0)
    except (TypeError, ValueError):
        return None, err("invalid_cursor")
    limit = max(1, min(limit, HISTORY_MAX_LIMIT))
    page = items[start:start + limit]
    more = start + limit < len(items)
    return {
        "ok": True,
        key: page,
        "has_more": more,
        "response_metadata": {"next_cursor": str(start + limit) if more else ""},
    }, None


def conversations_history(sink, ns, args):
    channel = args.get("channel")
    error = channel_error(ns, channel)
    if error:
        return error
    oldest, latest = ts_arg(args, "oldest"), ts_arg(args, "latest")
    if oldest is False:
        return err("invalid_ts_oldest")
    if latest is False:
        return err("invalid_ts_latest")
    inclusive = flag_arg(args, "inclusive")

    def in_range(ts):
        t = float(ts)
        low = oldest is None or (t >= oldest if inclusive else t > oldest)
        high = latest is None or (t <= latest if inclusive else t < latest)
        return low and high

    with_metadata = flag_arg(args, "include_all_metadata")
    # The channel's own messages, newest first: thread replies live in conversations.replies.
    found = [
        history_message(m, with_metadata)
        for m in reversed(ns.messages)
        if m["channel"] == channel
        and not m["deleted"]
        and m["thread_ts"] in (None, m["ts"])
        and in_range(m["ts"])
    ]
    page, error = paged(found, args, "messages")
    return error or {**page, "pin_count": 0}


def conversations_replies(sink, ns, args):
    channel = args.get("channel")
    error = channel_error(ns, channel)
    if error:
        return error
    ts = str_arg(args, "ts")
    parent = ns.by_key.get((channel, ts))
    if parent is None or parent["deleted"]:
        return err("thread_not_found")
    with_metadata = flag_arg(args, "include_all_metadata")
    thread = [history_message(parent, with_metadata)] + [
        history_message(m, with_metadata)
        for m in ns.messages
        if m["channel"] == channel and m["thread_ts"] == ts and m is not parent and not m["deleted"]
    ]
    page, error = paged(thread, args, "messages")
    return error or page


def chat_get_permalink(sink, ns, args):
    """A message's URL, as Slack builds it: the workspace's URL, `archives/<channel>/p<ts>`."""
    channel = args.get("channel")
    error = channel_error(ns, channel, member=False)
    if error:
        return error
    ts = str_arg(args, "message_ts")
    m = ns.by_key.get((channel, ts))
    if m is None or m["deleted"]:
        return err("message_not_found")
    permalink = f"{AUTH_TEST['url']}archives/{channel}/p{ts.replace('.', '')}"
    return {"ok": True, "channel": channel, "permalink": permalink}


def conversations_info(sink, ns, args):
    channel = args.get("channel")
    error = channel_error(ns, channel, member=False)
    if error:
        return error
    return {
        "ok": True,
        "channel": {
            "id": channel,
            "name": channel.lower(),
            "is_channel": True,
            "is_member": channel not in ns.not_in_channels,
        },
    }


METHODS = {
    "chat.postMessage": chat_post_message,
    "chat.update": chat_update,
    "chat.delete": chat_delete,
    "chat.postEphemeral": chat_post_ephemeral,
    "chat.getPermalink": chat_get_permalink,
    "usergroups.users.list": usergroups_users_list,
    "users.lookupByEmail": users_lookup_by_email,
    "users.info": users_info,
    "auth.test": auth_test,
    "conversations.history": conversations_history,
    "conversations.replies": conversations_replies,
    "conversations.info": conversations_info,
}

assert set(METHODS) <= set(SPEC), f"methods missing from the spec: {set(METHODS) - set(SPEC)}"


def argument_error(method, args):
    """`invalid_arguments` for a required argument left out, as Slack's schema check answers."""
    missing = [name for name in SPEC[method]["required"] if args.get(name) in (None, "")]
    if not missing:
        return None
    problems = [f"missing required field: {name}" for name in missing]
    return err(
        "invalid_arguments",
        response_metadata={"messages": [f"[ERROR] {p}" for p in problems]},
    )


def auth_error(ns, token):
    if not token:
        return err("not_authed")
    valid = token == ns.valid_token if ns.valid_token else token.startswith("xoxb-")
    return None if valid else err("invalid_auth")


# --------------------------------------------------------------------------------------------
# Request bodies


def parse_api_body(content_type, raw):
    """Slack's accepted encodings -> (args, error code or None). On error, args is the raw text."""
    media = content_type.split(";", 1)[0].strip().lower()
    if not raw.strip():
        return {}, None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        code = "invalid_json" if media == "application/json" else "invalid_form_data"
        return raw.decode("utf-8", "replace"), code
    if media == "application/json":
        try:
            body = json.loads(text)
        except ValueError:
            return text, "invalid_json"
        return (body, None) if isinstance(body, dict) else (text, "json_not_object")
    if media in ("application/x-www-form-urlencoded", ""):
        return parse_form(text), None
    return text, "invalid_post_type"


def parse_form(text):
    args = dict(parse_qsl(text, keep_blank_values=True))
    for key in JSON_FORM_FIELDS:
        if key in args:
            try:
                args[key] = json.loads(args[key])
            except ValueError:
                pass  # left as a string: the method reports e.g. invalid_blocks_format
    return args


def validate_faults(body):
    method, responses = body.get("method"), body.get("responses")
    if not isinstance(method, str) or not method:
        raise ControlError("'method' must be a method name, 'response_url' or '*'")
    if not isinstance(responses, list):
        raise ControlError("'responses' must be a list")
    for spec in responses:
        if not isinstance(spec, dict) or not spec or set(spec) - FAULT_KEYS:
            raise ControlError(f"each response must be an object with keys in {sorted(FAULT_KEYS)}")
        status = spec.get("status")
        if status is not None and (type(status) is not int or not 100 <= status <= 599):
            raise ControlError("'status' must be an HTTP status code")
        retry_after = spec.get("retry_after", 0)
        if type(retry_after) is not int or retry_after < 0:
            raise ControlError("'retry_after' must be a non-negative integer")
        for key in ("hang_seconds", "delay_seconds"):
            value = spec.get(key)
            if value is not None and (type(value) not in (int, float) or value < 0):
                raise ControlError(f"'{key}' must be a non-negative number")
        if "delay_seconds" in spec and len(spec) > 1:
            raise ControlError("'delay_seconds' cannot be combined with other keys")
        if "error" in spec and not isinstance(spec["error"], str):
            raise ControlError("'error' must be a string")
        if "after_effect" in spec:
            if spec["after_effect"] is not True:
                raise ControlError("'after_effect' must be true when given")
            if "delay_seconds" in spec or not set(spec) & {"status", "error", "hang_seconds"}:
                raise ControlError("'after_effect' needs 'status', 'error' or 'hang_seconds'")
    return method, responses


def string_list(body, key):
    value = body.get(key, [])
    if not isinstance(value, list) or not all(isinstance(c, str) for c in value):
        raise ControlError(f"'{key}' must be a list of strings")
    return value


def apply_config(ns, body):
    unknown = set(body) - CONFIG_KEYS
    if unknown:
        raise ControlError(f"unknown config keys: {sorted(unknown)}")
    token = body.get("valid_token", ns.valid_token)
    if token is not None and not isinstance(token, str):
        raise ControlError("'valid_token' must be a string or null")
    channels = string_list(body, "unknown_channels")
    outside, joined = string_list(body, "not_in_channels"), string_list(body, "joined_channels")
    offset = body.get("clock_offset_seconds", ns.clock_offset)
    if type(offset) not in (int, float):
        raise ControlError("'clock_offset_seconds' must be a number")
    users = body.get("users", [])
    if not isinstance(users, list) or not all(
        isinstance(u, dict) and isinstance(u.get("id"), str) and not set(u) - CONFIG_USER_KEYS
        for u in users
    ):
        keys = sorted(CONFIG_USER_KEYS)
        raise ControlError(f"'users' must be objects with an 'id' and keys in {keys}")
    groups = body.get("usergroups", {})
    if not isinstance(groups, dict) or not all(
        isinstance(v, list) and all(isinstance(x, str) for x in v) for v in groups.values()
    ):
        raise ControlError("'usergroups' must map group ids to lists of user ids")
    # Validate everything before changing anything, so a bad request leaves config untouched.
    ns.valid_token = token
    ns.unknown_channels.update(channels)
    ns.not_in_channels.update(outside)
    ns.not_in_channels.difference_update(joined)
    ns.clock_offset = float(offset)
    ns.users.update({u["id"]: dict(u) for u in users})
    ns.usergroups.update({k: list(v) for k, v in groups.items()})


# --------------------------------------------------------------------------------------------
# HTTP


class BodyError(Exception):
    pass


def split_namespace(path):
    """'/ns/<name>/rest' -> (name, '/rest'); no prefix -> ('default', path); bad -> (None, None)."""
    if not path.startswith("/ns/"):
        return "default", path
    name, _, rest = path[len("/ns/"):].partition("/")
    name = unquote(name)
    return (name, "/" + rest) if name else (None, None)


class Handler(BaseHTTPRequestHandler):
    # HTTP/1.1 so clients' connection pools (reqwest, hyper) keep connections alive as with Slack.
    protocol_version = "HTTP/1.1"
    # Headers and body are separate writes: with Nagle's algorithm the body can wait for the
    # client's delayed ACK (40 ms on Linux), a stall Slack does not have.
    disable_nagle_algorithm = True
    server_version = "SlackSink/1"
    timeout = 120  # reclaim threads of idle keep-alive connections
    # Protocol-level errors (malformed request line...) answered in JSON too, not HTML.
    error_content_type = "application/json; charset=utf-8"
    error_message_format = '{"ok": false, "error": "http_%(code)d"}'

    def log_message(self, format, *args):
        pass  # stdout carries only the READY line; request logs would be noise

    def do_GET(self):
        self.dispatch()

    def do_POST(self):
        self.dispatch()

    def dispatch(self):
        try:
            try:
                raw = self.read_body()
            except BodyError as e:
                self.close_connection = True  # the stream position is unknown: don't reuse it
                return self.send_json(400, err(str(e)))
            url = urlsplit(self.path)
            name, path = split_namespace(url.path)
            if name is None:
                return self.send_json(404, err("not_found"))
            if path.startswith("/api/") and len(path) > len("/api/"):
                ctype = self.headers.get("Content-Type", "")
                return self.api_call(name, path[len("/api/"):], url.query, raw, ctype)
            if path.startswith("/response/") and self.command == "POST":
                return self.response_url_call(name, path[len("/response/"):], raw)
            if path.startswith("/_sink/"):
                return self.control(name, path[len("/_sink/"):], url.query, raw)
            return self.send_json(404, err("not_found"))
        except ConnectionError:
            self.close_connection = True
        except Exception:
            traceback.print_exc(file=sys.stderr)  # a sink bug: make it visible, keep serving
            self.close_connection = True
            try:
                self.send_json(500, err("sink_internal_error"))
            except OSError:
                pass

    def read_body(self):
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return self.read_chunked()
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            raise BodyError("invalid_content_length")
        if not 0 <= length <= MAX_BODY:
            raise BodyError("invalid_content_length")
        return self.rfile.read(length)

    def read_chunked(self):
        chunks, total = [], 0
        while True:
            try:
                size = int(self.rfile.readline(1024).split(b";", 1)[0].strip(), 16)
            except ValueError:
                raise BodyError("invalid_chunked_body")
            if size == 0:
                while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                return b"".join(chunks)
            total += size
            if total > MAX_BODY:
                raise BodyError("body_too_large")
            chunks.append(self.rfile.read(size))
            self.rfile.readline(1024)

    def send_json(self, status, payload, headers=()):
        self.send_bytes(status, json.dumps(payload).encode(), headers)

    def send_bytes(self, status, data, headers=()):
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        for key, value in headers:
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    def bearer_token(self):
        scheme, _, token = self.headers.get("Authorization", "").strip().partition(" ")
        if scheme.lower() != "bearer":
            return None
        return token.strip() or None

    # -- recording and faults

    def begin_call(self, ns, method, body, token, path):
        """Record the call on arrival (status filled in later) and take any queued fault."""
        call = {
            "seq": len(ns.calls) + 1,
            "method": method,
            "path": path,
            "body": body,
            "auth": token,
            "headers": {
                "content-type": self.headers.get("Content-Type"),
                "user-agent": self.headers.get("User-Agent"),
            },
            "status": None,
            "response": None,
            "fault": None,
            "at": time.time(),
        }
        ns.calls.append(call)
        call["fault"] = ns.take_fault(method)
        return call

    def answer(self, call, status, response, headers=()):
        with self.server.sink.lock:
            call["status"], call["response"] = status, response
        if self.server.verbose:
            summary = json.dumps(response)[:200]
            print(f"slack_sink: {call['method']} -> {status} {summary}", file=sys.stderr)
        # Recorded before answering, so a test that got the answer always sees the complete call.
        self.send_json(status, response, headers)

    def play_fault(self, call):
        """Answer a faulted call. Returns False when the call should instead proceed normally."""
        spec = call["fault"]
        if "delay_seconds" in spec:
            time.sleep(spec["delay_seconds"])  # outside the lock: other calls keep flowing
            return False
        time.sleep(spec.get("hang_seconds", 0))
        if "status" not in spec and "error" not in spec:
            # A pure hang: drop the connection unanswered, like a request lost in transit.
            self.close_connection = True
            return True
        status = spec.get("status", 200)
        code = spec.get("error") or FAULT_DEFAULT_ERRORS.get(status, "fatal_error")
        headers = []
        if status == 429 or "retry_after" in spec:
            headers.append(("Retry-After", str(spec.get("retry_after", 1))))
        self.answer(call, status, err(code), headers)
        return True

    # -- routes

    def api_call(self, name, method, query, raw, ctype):
        """A Web API call. Slack takes arguments as a GET query string, or a POST body (form, or
        JSON for the methods whose spec lists `application/json`), mixed with query arguments."""
        sink = self.server.sink
        token = self.bearer_token()
        media = ctype.split(";", 1)[0].strip().lower()
        query_args = parse_form(query) if query else {}
        spec = SPEC.get(method)
        json_refused = False
        if self.command == "GET":
            body, parse_error = query_args, None  # a GET's body is not read
        else:
            body, parse_error = parse_api_body(ctype, raw)
            if isinstance(body, dict):
                body = {**query_args, **body}
            # Slack reads JSON bodies only for the methods that take them ("most write
            # methods"); for the others the arguments never arrive.
            json_refused = media == "application/json" and spec is not None and not spec["json"]
            json_refused = json_refused and bool(raw.strip())
        with sink.lock:
            call = self.begin_call(sink.ns(name), method, body, token, None)
        fault = call["fault"]
        if fault and not fault.get("after_effect") and self.play_fault(call):
            return
        with sink.lock:
            ns = sink.ns(name)  # looked up again: a reset during a delay starts a fresh namespace
            handler = METHODS.get(method)
            if handler is None:
                response = err("unknown_method")
            elif auth_error(ns, token):
                response = auth_error(ns, token)
            elif json_refused:
                response = argument_error(method, {}) or err("invalid_arguments")
            elif parse_error:
                response = err(parse_error)
            else:
                response = None
                if not spec["json"]:
                    response = argument_error(method, body)
                response = response or handler(sink, ns, body)
            if fault and fault.get("after_effect"):
                call["effect"] = response
        if fault and fault.get("after_effect"):
            # The call took effect (a message was stored...), but the client hears otherwise.
            self.play_fault(call)
            return
        if media == "application/json" and "charset" not in ctype.lower():
            # Real Slack flags JSON posted without a charset (reqwest's .json() does exactly this).
            response["warning"] = "missing_charset"
            meta = response.setdefault("response_metadata", {})
            meta.setdefault("warnings", []).append("missing_charset")
        self.answer(call, 200, response)

    def response_url_call(self, name, path, raw):
        """A response_url: JSON in, up to 5 answers within 30 minutes of its first use."""
        sink = self.server.sink
        try:
            body = json.loads(raw.decode("utf-8")) if raw.strip() else None
            error = None if isinstance(body, dict) else "invalid_payload"
        except (UnicodeDecodeError, ValueError):
            body, error = raw.decode("utf-8", "replace"), "invalid_payload"
        with sink.lock:
            ns = sink.ns(name)
            call = self.begin_call(ns, "response_url", body, self.bearer_token(), path)
        if call["fault"] and self.play_fault(call):
            return
        if error:
            return self.answer(call, 400, err(error))
        with sink.lock:
            ns = sink.ns(name)
            state = ns.response_urls.setdefault(path, {"issued": ns.now(), "uses": 0})
            if ns.now() - state["issued"] > RESPONSE_URL_LIFETIME:
                status, response = 404, err("expired_url")
            elif state["uses"] >= RESPONSE_URL_USES:
                status, response = 404, err("used_url")
            else:
                status, response = 200, {"ok": True}
                if not body.get("delete_original"):
                    content, problem = message_content(body)
                    if problem:
                        status, response = 400, problem
                    elif not (content.get("text") or content.get("blocks")
                              or content.get("attachments")):
                        status, response = 400, err("no_text")
                if status == 200:
                    state["uses"] += 1
        self.answer(call, status, response)

    def slash_command(self, name, body):
        """`POST /_sink/slash`: send a slash command as Slack does (a signed form body, a fresh
        response_url on this stand-in) to `url`, and hold the answer to Slack's rules: HTTP 200
        within 3000 ms, an empty body or a message (`text` or `blocks`) whose `response_type`, if
        any, is `in_channel` or `ephemeral`. Recorded as a `slash_command` call."""
        try:
            url, secret = body["url"], body["signing_secret"]
            if not isinstance(url, str) or not isinstance(secret, str):
                raise KeyError
        except KeyError:
            return self.send_json(400, err("invalid_request", detail="'url' and 'signing_secret' are required strings"))
        host = self.headers.get("Host") or f"127.0.0.1:{self.server.server_address[1]}"
        trigger = f"{int(time.time() * 1000)}.{threading.get_ident()}.{os.urandom(6).hex()}"
        response_url = f"http://{host}/ns/{name}/response/commands/{trigger}"
        form = {
            "token": "deprecated-verification-token",
            "team_id": body.get("team_id", "T0SINK"),
            "team_domain": "sink",
            "channel_id": body.get("channel_id", "C0SINK"),
            "channel_name": "sink",
            "user_id": body.get("user_id", "U0SINK"),
            "user_name": body.get("user_name", "sink"),
            "command": body.get("command", "/gantry"),
            "text": body.get("text", ""),
            "api_app_id": "A0SINK",
            "is_enterprise_install": "false",
            "response_url": response_url,
            "trigger_id": trigger,
        }
        raw = urlencode(form).encode()
        timestamp = str(int(time.time()) - int(body.get("age_seconds", 0)))
        digest = hmac.new(secret.encode(), b"v0:" + timestamp.encode() + b":" + raw, hashlib.sha256)
        request = Request(url, data=raw, method="POST", headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Slack-Request-Timestamp": timestamp,
            "X-Slack-Signature": "v0=" + digest.hexdigest(),
            "User-Agent": "Slackbot 1.0 (+https://api.slack.com/robots)",
        })
        started, status, answer, problems = time.monotonic(), None, None, []
        try:
            with urlopen(request, timeout=body.get("timeout_seconds", 10)) as r:
                status, answer = r.status, r.read()
        except HTTPError as e:
            status, answer = e.code, e.read()
        except (URLError, TimeoutError, OSError) as e:
            problems.append(f"no answer: {e}")
        elapsed_ms = round((time.monotonic() - started) * 1000)
        if elapsed_ms > SLASH_COMMAND_DEADLINE_MS:
            problems.append(f"answered after {elapsed_ms} ms: Slack gives up after {SLASH_COMMAND_DEADLINE_MS} ms")
        if status is not None and status != 200:
            problems.append(f"HTTP {status}: Slack shows the user an error for anything but 200")
        message = None
        if status == 200 and answer and answer.strip():
            try:
                message = json.loads(answer.decode("utf-8"))
            except (UnicodeDecodeError, ValueError):
                message = answer.decode("utf-8", "replace")  # Slack shows plain text as is
            if isinstance(message, dict):
                kind = message.get("response_type")
                if kind is not None and kind not in SLASH_RESPONSE_TYPES:
                    problems.append(f"response_type {kind!r} is not in_channel or ephemeral")
                content, problem = message_content(message)
                if problem:
                    problems.append(f"invalid message: {problem.get('error')}")
                elif not (content.get("text") or content.get("blocks") or content.get("attachments")):
                    problems.append("a JSON answer with no text, blocks or attachments")
        elif answer:
            message = answer.decode("utf-8", "replace")
        result = {"ok": not problems, "status": status, "elapsed_ms": elapsed_ms,
                  "answer": message, "problems": problems, "response_url": response_url,
                  "trigger_id": trigger}
        with self.server.sink.lock:
            ns = self.server.sink.ns(name)
            call = {"seq": len(ns.calls) + 1, "method": "slash_command", "path": url, "body": form,
                    "auth": None, "headers": {}, "status": status, "response": result,
                    "fault": None, "at": time.time()}
            ns.calls.append(call)
            # The response_url is issued now: its 30 minutes run from the command.
            ns.response_urls[f"commands/{trigger}"] = {"issued": ns.now(), "uses": 0}
            data = json.dumps(result).encode()
        self.send_bytes(200, data)

    def control(self, name, command, query, raw):
        sink = self.server.sink
        params = dict(parse_qsl(query))
        route = (self.command, command)
        try:
            body = json.loads(raw.decode("utf-8")) if raw.strip() else {}
            if not isinstance(body, dict):
                raise ValueError
        except (UnicodeDecodeError, ValueError):
            return self.send_json(400, err("invalid_json"))
        if route == ("POST", "slash"):
            return self.slash_command(name, body)  # outside the lock: it waits for the answer
        try:
            with sink.lock:
                ns = sink.ns(name)
                if route == ("GET", "calls"):
                    method = params.get("method")
                    result = {"calls": [c for c in ns.calls if method in (None, c["method"])]}
                elif route == ("GET", "messages"):
                    channel = params.get("channel")
                    result = {
                        "messages": [
                            sink_message(m) for m in ns.messages if channel in (None, m["channel"])
                        ]
                    }
                elif route == ("GET", "ephemerals"):
                    channel = params.get("channel")
                    result = {
                        "ephemerals": [
                            e for e in ns.ephemerals if channel in (None, e["channel"])
                        ]
                    }
                elif route == ("GET", "faults"):
                    result = {"faults": ns.pending_faults()}
                elif route == ("POST", "faults"):
                    method, responses = validate_faults(body)
                    ns.faults.setdefault(method, deque()).extend(responses)
                    result = {"ok": True, "faults": ns.pending_faults()}
                elif route == ("GET", "config"):
                    result = ns.config_view()
                elif route == ("POST", "config"):
                    apply_config(ns, body)
                    result = {"ok": True, **ns.config_view()}
                elif route == ("POST", "reset"):
                    sink.reset(name)
                    result = {"ok": True}
                else:
                    return self.send_json(404, err("unknown_control_route"))
                # Serialised under the lock: records are mutated in place by in-flight calls.
                data = json.dumps(result).encode()
        except ControlError as e:
            return self.send_json(400, err("invalid_request", detail=str(e)))
        self.send_bytes(200, data)


class SinkServer(ThreadingHTTPServer):
    daemon_threads = True  # a hung fault must not keep the process alive at shutdown

    def __init__(self, address, verbose=False):
        super().__init__(address, Handler)
        self.sink = Sink()
        self.verbose = verbose

    def handle_error(self, request, client_address):
        if isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            return  # clients giving up (e.g. on a hang fault) are expected, not errors
        super().handle_error(request, client_address)


def stdin_is_devnull():
    try:
        st, null = os.fstat(0), os.stat(os.devnull)
    except OSError:
        return True  # fd 0 closed: nothing to watch either
    return stat.S_ISCHR(st.st_mode) and st.st_rdev == null.st_rdev


def watch_stdin(stop):
    """Stop on stdin EOF: the parent holds the write end, so we die with it even on SIGKILL."""
    try:
        while sys.stdin.buffer.read1(65536):
            pass
    except (OSError, ValueError):
        pass
    stop.set()


def main(argv=None):
    parser = argparse.ArgumentParser(description="Local stand-in for the Slack Web API.")
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0: any free port)")
    parser.add_argument("--no-stdin-watch", action="store_true", help="don't exit on stdin EOF")
    parser.add_argument("--verbose", action="store_true", help="log each call to stderr")
    args = parser.parse_args(argv)

    server = SinkServer(("127.0.0.1", args.port), verbose=args.verbose)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    serve = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1})
    serve.daemon = True
    serve.start()
    print(f"READY http://127.0.0.1:{server.server_address[1]}", flush=True)

    if args.no_stdin_watch:
        pass
    elif stdin_is_devnull():
        # A backgrounded process (`server.py &` in a script) gets /dev/null: EOF at once would
        # make the sink exit immediately, which is never what the caller means.
        print("slack_sink: stdin is /dev/null, not watching it", file=sys.stderr)
    else:
        threading.Thread(target=watch_stdin, args=(stop,), daemon=True).start()

    while not stop.wait(0.5):
        pass
    server.shutdown()
    server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
