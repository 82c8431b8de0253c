#!/usr/bin/env python3
"""Self-check of the Slack sink: `python3 tests/slack_sink/test_server.py`.

Starts server.py as a subprocess (stdin piped, so it dies with this process) and drives it over
HTTP with the standard library only. Each test works in its own namespace, as Rust tests will.
"""

import hashlib
import hmac
import http.client
import http.server
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import unittest
import urllib.error
import urllib.parse
import urllib.request
import uuid

SERVER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "server.py")
TOKEN = "xoxb-test-token"
TS_RE = re.compile(r"^\d{10}\.\d{6}$")
# Slack's read methods (spec verb GET, no application/json): the helpers send them as a query.
READ_METHODS = {
    "usergroups.users.list",
    "users.lookupByEmail",
    "users.info",
    "conversations.history",
    "conversations.info",
    "conversations.replies",
    "chat.getPermalink",
}


def start_server(*args):
    proc = subprocess.Popen(
        [sys.executable, SERVER, "--port", "0", *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,  # stderr inherited: sink tracebacks show up in the test output, never block
    )
    line = proc.stdout.readline()
    match = re.fullmatch(r"READY (http://127\.0\.0\.1:\d+)\n", line)
    if not match:
        proc.kill()
        raise RuntimeError(f"unexpected first line from the sink: {line!r}")
    return proc, match.group(1)


def stop_server(proc):
    proc.stdin.close()  # the normal way it ends: parent's pipe closes
    try:
        proc.wait(5)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()


class Response:
    def __init__(self, status, headers, body):
        self.status, self.headers, self.body = status, headers, body

    @property
    def json(self):
        return json.loads(self.body)


def request(url, data=None, headers=None, method=None, timeout=5):
    req = urllib.request.Request(url, data=data, headers=headers or {}, method=method)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return Response(resp.status, resp.headers, resp.read())
    except urllib.error.HTTPError as e:
        return Response(e.code, e.headers, e.read())


class SinkTestCase(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.proc, cls.root = start_server()

    @classmethod
    def tearDownClass(cls):
        stop_server(cls.proc)

    def setUp(self):
        self.ns = f"t-{uuid.uuid4().hex[:8]}"
        self.base = f"{self.root}/ns/{self.ns}"

    # -- helpers

    def api(self, method, body=None, token=TOKEN, form=None, ns_base=None, timeout=5, get=None):
        """Calls `method`: read methods as a GET query, others as JSON, unless told otherwise."""
        headers = {"User-Agent": "gantry-test/1"}
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        if get is None:
            get = form is None and method in READ_METHODS
        if get:
            query = urllib.parse.urlencode(
                {k: json.dumps(v) if isinstance(v, (list, dict)) else v
                 for k, v in (body or {}).items()}
            )
            url = f"{ns_base or self.base}/api/{method}" + (f"?{query}" if query else "")
            return request(url, None, headers, "GET", timeout)
        if form:
            fields = {
                k: json.dumps(v) if isinstance(v, (list, dict)) else v
                for k, v in (body or {}).items()
            }
            data = urllib.parse.urlencode(fields).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        else:
            data = json.dumps(body or {}).encode()
            headers["Content-Type"] = "application/json; charset=utf-8"
        url = f"{ns_base or self.base}/api/{method}"
        return request(url, data, headers, "POST", timeout)

    def ok(self, method, body=None, **kwargs):
        resp = self.api(method, body, **kwargs)
        self.assertEqual(resp.status, 200)
        self.assertTrue(resp.json["ok"], resp.json)
        return resp.json

    def slack_error(self, method, body=None, **kwargs):
        resp = self.api(method, body, **kwargs)
        self.assertEqual(resp.status, 200)
        self.assertFalse(resp.json["ok"])
        return resp.json["error"]

    def control(self, verb, path, body=None, base=None):
        data = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
        headers = {"Content-Type": "application/json"} if data else {}
        return request(f"{base or self.base}/_sink/{path}", data, headers, verb)

    def calls(self, method=None):
        query = f"?method={method}" if method else ""
        return self.control("GET", f"calls{query}").json["calls"]

    def messages(self):
        return self.control("GET", "messages").json["messages"]

    def faults(self, method, *responses):
        resp = self.control("POST", "faults", {"method": method, "responses": list(responses)})
        self.assertEqual(resp.status, 200, resp.body)

    def config(self, **body):
        resp = self.control("POST", "config", body)
        self.assertEqual(resp.status, 200, resp.body)


class PostMessageTest(SinkTestCase):
    def test_json_post_returns_slack_shape(self):
        blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "*deploy*"}}]
        r = self.ok("chat.postMessage", {"channel": "C1", "text": "deploy", "blocks": blocks})
        self.assertEqual(r["channel"], "C1")
        self.assertRegex(r["ts"], TS_RE)
        self.assertEqual(
            r["message"],
            {
                "type": "message",
                "text": "deploy",
                "blocks": blocks,
                "ts": r["ts"],
                "bot_id": "B0SINK",
                "user": "U0SINKBOT",
                "team": "T0SINK",
            },
        )
        self.assertNotIn("warning", r)  # a charset was given
        [call] = self.calls()
        self.assertEqual(call["seq"], 1)
        self.assertEqual(call["method"], "chat.postMessage")
        self.assertEqual(call["body"], {"channel": "C1", "text": "deploy", "blocks": blocks})
        self.assertEqual(call["auth"], TOKEN)
        self.assertEqual(call["headers"]["content-type"], "application/json; charset=utf-8")
        self.assertEqual(call["headers"]["user-agent"], "gantry-test/1")
        self.assertEqual((call["status"], call["response"]), (200, r))
        self.assertIsInstance(call["at"], float)

    def test_form_post_parses_json_fields(self):
        blocks = [{"type": "divider"}]
        r = self.ok(
            "chat.postMessage",
            {"channel": "C1", "text": "hi", "blocks": blocks, "thread_ts": "1.000001"},
            form=True,
        )
        self.assertEqual(r["message"]["blocks"], blocks)
        self.assertEqual(r["message"]["thread_ts"], "1.000001")  # unknown thread: accepted
        self.assertEqual(self.calls()[0]["body"]["blocks"], blocks)
        [m] = self.messages()
        self.assertEqual((m["thread_ts"], m["text"], m["versions"]), ("1.000001", "hi", 1))

    def test_ts_unique_and_increasing(self):
        post = lambda i: self.ok("chat.postMessage", {"channel": "C1", "text": str(i)})
        stamps = [post(i)["ts"] for i in range(20)]
        as_tuples = [tuple(map(int, ts.split("."))) for ts in stamps]
        self.assertEqual(as_tuples, sorted(set(as_tuples)))
        self.assertEqual([m["ts"] for m in self.messages()], stamps)

    def test_json_without_charset_gets_slack_warning(self):
        resp = request(
            f"{self.base}/api/chat.postMessage",
            json.dumps({"channel": "C1", "text": "x"}).encode(),
            {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"},
        )
        self.assertTrue(resp.json["ok"])
        self.assertEqual(resp.json["warning"], "missing_charset")
        self.assertEqual(resp.json["response_metadata"], {"warnings": ["missing_charset"]})

    def test_validation_errors(self):
        self.assertEqual(self.slack_error("chat.postMessage", {"text": "x"}), "channel_not_found")
        self.assertEqual(self.slack_error("chat.postMessage", {"channel": "C1"}), "no_text")
        long_text = {"channel": "C1", "text": "x" * 40001}
        self.assertEqual(self.slack_error("chat.postMessage", long_text), "msg_too_long")
        self.ok("chat.postMessage", {"channel": "C1", "text": "x" * 40000})

        def blocks_error(blocks):
            return self.slack_error("chat.postMessage", {"channel": "C1", "blocks": blocks})

        section = lambda n: {"type": "section", "text": {"type": "mrkdwn", "text": "s" * n}}
        header = lambda n: {"type": "header", "text": {"type": "plain_text", "text": "h" * n}}
        self.assertEqual(blocks_error([{"type": "divider"}] * 51), "invalid_blocks")
        self.assertEqual(blocks_error([section(3001)]), "invalid_blocks")
        self.assertEqual(blocks_error([header(151)]), "invalid_blocks")
        self.assertEqual(blocks_error([section(0)]), "invalid_blocks")
        self.assertEqual(blocks_error("not json"), "invalid_blocks_format")
        dup = [dict(section(1), block_id="a"), dict(section(1), block_id="a")]
        self.assertEqual(blocks_error(dup), "invalid_blocks")
        self.ok("chat.postMessage", {"channel": "C1", "blocks": [section(3000), header(150)]})
        self.ok("chat.postMessage", {"channel": "C1", "blocks": [{"type": "divider"}] * 50})

        resp = self.api("chat.postMessage", {"channel": "C1", "blocks": [section(3001)]})
        problem = "must be less than 3001 characters [json-pointer:/blocks/0/text/text]"
        self.assertEqual(resp.json["errors"], [problem])
        self.assertEqual(resp.json["response_metadata"], {"messages": [f"[ERROR] {problem}"]})

        self.config(unknown_channels=["CGONE"])
        gone = {"channel": "CGONE", "text": "x"}
        self.assertEqual(self.slack_error("chat.postMessage", gone), "channel_not_found")
        # Rejected calls are recorded but leave no message behind.
        self.assertEqual(len(self.messages()), 3)
        self.assertEqual(self.calls()[0]["response"]["error"], "channel_not_found")

    def test_malformed_bodies(self):
        headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
        url = f"{self.base}/api/chat.postMessage"
        resp = request(url, b"{not json", headers)
        self.assertEqual((resp.status, resp.json["error"]), (200, "invalid_json"))
        self.assertEqual(request(url, b"[1]", headers).json["error"], "json_not_object")
        self.assertEqual(request(url, b"\xff\xfe", headers).json["error"], "invalid_json")
        headers["Content-Type"] = "text/csv"
        self.assertEqual(request(url, b"a,b", headers).json["error"], "invalid_post_type")
        self.assertEqual(self.calls()[0]["body"], "{not json")
        self.assertEqual(self.slack_error("chat.fly", {}), "unknown_method")

    def test_odd_argument_types_never_crash(self):
        methods = ["chat.postMessage", "chat.update", "chat.delete", "chat.postEphemeral",
                   "usergroups.users.list", "users.lookupByEmail", "users.info", "auth.test"]
        keys = ["channel", "ts", "text", "blocks", "attachments", "thread_ts", "user",
                "usergroup", "email", "metadata"]
        odd = [None, True, 7, 1.5, "", "x", [], [1], {}, {"a": [None]}, [{"type": 3}]]
        for method in methods:
            for value in odd:
                resp = self.api(method, {key: value for key in keys})
                self.assertEqual(resp.status, 200, (method, value, resp.body))
                self.assertIn("ok", resp.json)

    def test_ephemeral_and_delete(self):
        r = self.ok("chat.postEphemeral", {"channel": "C1", "user": "U1", "text": "psst"})
        self.assertRegex(r["message_ts"], TS_RE)
        self.assertEqual(self.messages(), [])  # ephemerals are not channel history
        ts = self.ok("chat.postMessage", {"channel": "C1", "text": "x"})["ts"]
        self.assertEqual(self.ok("chat.delete", {"channel": "C1", "ts": ts})["ts"], ts)
        self.assertTrue(self.messages()[0]["deleted"])
        self.assertEqual(
            self.slack_error("chat.update", {"channel": "C1", "ts": ts, "text": "y"}),
            "message_not_found",
        )


class UpdateTest(SinkTestCase):
    def test_update_keeps_history(self):
        blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "running"}}]
        posted = self.ok("chat.postMessage", {"channel": "C1", "text": "v1", "blocks": blocks})
        ts = posted["ts"]
        r = self.ok("chat.update", {"channel": "C1", "ts": ts, "text": "v2"})
        self.assertEqual((r["channel"], r["ts"], r["text"]), ("C1", ts, "v2"))
        self.assertEqual(r["message"]["blocks"], blocks)  # blocks left out are kept, as in Slack
        done = [{"type": "section", "text": {"type": "mrkdwn", "text": "done"}}]
        self.ok("chat.update", {"channel": "C1", "ts": ts, "text": "v3", "blocks": done}, form=True)
        [m] = self.messages()
        self.assertEqual((m["ts"], m["text"], m["blocks"], m["versions"]), (ts, "v3", done, 3))
        self.assertEqual([v["text"] for v in m["history"]], ["v1", "v2", "v3"])
        self.assertFalse(m["deleted"])
        self.assertEqual(len(self.calls("chat.update")), 2)

    def test_update_errors(self):
        ts = self.ok("chat.postMessage", {"channel": "C1", "text": "x"})["ts"]
        missing = {"channel": "C1", "ts": "1.000000", "text": "y"}
        self.assertEqual(self.slack_error("chat.update", missing), "message_not_found")
        other_channel = {"channel": "C2", "ts": ts, "text": "y"}
        self.assertEqual(self.slack_error("chat.update", other_channel), "message_not_found")
        emptied = {"channel": "C1", "ts": ts, "text": ""}
        self.assertEqual(self.slack_error("chat.update", emptied), "no_text")
        self.assertEqual(self.messages()[0]["versions"], 1)


class FaultTest(SinkTestCase):
    def test_429_with_retry_after_then_normal(self):
        self.faults("chat.postMessage", {"status": 429, "retry_after": 2})
        resp = self.api("chat.postMessage", {"channel": "C1", "text": "x"})
        self.assertEqual(resp.status, 429)
        self.assertEqual(resp.headers["Retry-After"], "2")
        self.assertEqual(resp.json, {"ok": False, "error": "ratelimited"})
        self.assertEqual(self.messages(), [])  # the faulted call changed nothing
        self.ok("chat.postMessage", {"channel": "C1", "text": "x"})  # queue drained
        self.assertEqual(len(self.messages()), 1)
        first, second = self.calls()
        self.assertEqual((first["status"], first["fault"]["status"]), (429, 429))
        self.assertEqual((second["status"], second["fault"]), (200, None))

    def test_500_503_and_error_fifo(self):
        self.faults("chat.update", {"status": 500}, {"status": 503}, {"error": "channel_not_found"})
        pending = self.control("GET", "faults").json["faults"]
        self.assertEqual(pending["chat.update"][0], {"status": 500})
        # Another method is not affected by chat.update's faults.
        ts = self.ok("chat.postMessage", {"channel": "C1", "text": "x"})["ts"]
        body = {"channel": "C1", "ts": ts, "text": "y"}
        resp = self.api("chat.update", body)
        self.assertEqual((resp.status, resp.json["ok"]), (500, False))
        self.assertEqual(self.api("chat.update", body).status, 503)
        resp = self.api("chat.update", body)
        self.assertEqual(resp.status, 200)
        self.assertEqual(resp.json, {"ok": False, "error": "channel_not_found"})
        self.assertEqual(self.messages()[0]["versions"], 1)
        self.ok("chat.update", body)
        self.assertEqual(self.messages()[0]["versions"], 2)
        self.assertEqual([c["status"] for c in self.calls("chat.update")], [500, 503, 200, 200])
        self.assertEqual(self.control("GET", "faults").json["faults"], {})

    def test_wildcard_applies_after_specific(self):
        self.faults("*", {"status": 503})
        self.faults("auth.test", {"status": 500})
        self.assertEqual(self.api("auth.test").status, 500)
        self.assertEqual(self.api("users.info", {"user": "U1"}).status, 503)
        self.ok("auth.test")

    def test_hang_drops_the_connection(self):
        self.faults("chat.postMessage", {"hang_seconds": 1.0})
        started = time.monotonic()
        with self.assertRaises((TimeoutError, socket.timeout, urllib.error.URLError)):
            self.api("chat.postMessage", {"channel": "C1", "text": "x"}, timeout=0.3)
        self.assertLess(time.monotonic() - started, 0.9)
        # Meanwhile the server keeps serving, and the hung call is already recorded.
        [call] = self.calls()
        self.assertEqual((call["status"], call["fault"]), (None, {"hang_seconds": 1.0}))
        self.ok("auth.test")
        time.sleep(1.0)
        self.assertIsNone(self.calls()[0]["status"])  # never answered
        self.assertEqual(self.messages(), [])

    def test_hang_then_status(self):
        self.faults("chat.postMessage", {"hang_seconds": 0.3, "status": 503})
        started = time.monotonic()
        resp = self.api("chat.postMessage", {"channel": "C1", "text": "x"})
        self.assertGreaterEqual(time.monotonic() - started, 0.3)
        self.assertEqual(resp.status, 503)

    def test_delay_then_normal(self):
        self.faults("chat.postMessage", {"delay_seconds": 0.2})
        started = time.monotonic()
        self.ok("chat.postMessage", {"channel": "C1", "text": "x"})
        self.assertGreaterEqual(time.monotonic() - started, 0.2)
        self.assertEqual(len(self.messages()), 1)

    def test_bad_fault_specs_rejected(self):
        for body in (
            {"method": "chat.postMessage"},
            {"method": "", "responses": [{"status": 500}]},
            {"method": "x", "responses": [{"status": "500"}]},
            {"method": "x", "responses": [{"sttus": 500}]},
            {"method": "x", "responses": [{"delay_seconds": 1, "status": 500}]},
        ):
            resp = self.control("POST", "faults", body)
            self.assertEqual(resp.status, 400, body)
            self.assertEqual(resp.json["error"], "invalid_request")
        self.assertEqual(self.control("GET", "faults").json["faults"], {})


class NamespaceTest(SinkTestCase):
    def test_namespaces_are_isolated(self):
        other = f"{self.root}/ns/{self.ns}-other"
        self.ok("chat.postMessage", {"channel": "C1", "text": "mine"})
        self.faults("chat.postMessage", {"status": 500})
        self.config(valid_token="xoxb-only-here")
        # The other namespace sees none of it: no messages, no fault, default token rule.
        r = self.ok("chat.postMessage", {"channel": "C1", "text": "theirs"}, ns_base=other)
        self.assertEqual(r["message"]["text"], "theirs")
        self.assertEqual([m["text"] for m in self.messages()], ["mine"])
        others = self.control("GET", "messages", base=other).json["messages"]
        self.assertEqual([m["text"] for m in others], ["theirs"])
        self.assertEqual(len(self.control("GET", "calls", base=other).json["calls"]), 1)

    def test_default_namespace_and_reset(self):
        # Control-API-only use of the default namespace, reset at the end: safe for other tests.
        auth = {"Authorization": f"Bearer {TOKEN}"}
        resp = request(f"{self.root}/api/auth.test", b"", auth, "POST")
        self.assertTrue(resp.json["ok"])
        default_calls = request(f"{self.root}/_sink/calls").json["calls"]
        self.assertEqual(default_calls[-1]["method"], "auth.test")
        self.ok("chat.postMessage", {"channel": "C1", "text": "x"})
        self.faults("*", {"status": 500})
        self.config(users=[{"id": "U1", "name": "ann"}])
        self.assertEqual(self.control("POST", "reset").json, {"ok": True})
        self.assertEqual((self.calls(), self.messages()), ([], []))
        self.assertEqual(self.control("GET", "faults").json["faults"], {})
        self.assertEqual(self.slack_error("users.info", {"user": "U1"}), "user_not_found")
        request(f"{self.root}/_sink/reset", b"", {}, "POST")


class DirectoryTest(SinkTestCase):
    def setUp(self):
        super().setUp()
        self.config(
            users=[
                {"id": "U1", "name": "ann", "email": "ann@example.com", "real_name": "Ann A"},
                {"id": "U2", "name": "bob", "email": "bob@example.com"},
            ],
            usergroups={"S123": ["U1", "U2"]},
        )

    def test_users_lookup_by_email(self):
        r = self.ok("users.lookupByEmail", {"email": "ANN@example.com"}, form=True)
        self.assertEqual(
            r["user"],
            {
                "id": "U1",
                "team_id": "T0SINK",
                "name": "ann",
                "real_name": "Ann A",
                "profile": {
                    "email": "ann@example.com",
                    "display_name": "ann",
                    "real_name": "Ann A",
                },
            },
        )
        error = self.slack_error("users.lookupByEmail", {"email": "x@y.z"})
        self.assertEqual(error, "users_not_found")

    def test_users_info(self):
        self.assertEqual(self.ok("users.info", {"user": "U2"})["user"]["real_name"], "bob")
        self.assertEqual(self.slack_error("users.info", {"user": "U9"}), "user_not_found")

    def test_usergroups(self):
        s123 = {"usergroup": "S123"}
        self.assertEqual(self.ok("usergroups.users.list", s123)["users"], ["U1", "U2"])
        missing = {"usergroup": "S999"}
        self.assertEqual(self.slack_error("usergroups.users.list", missing), "no_such_subteam")
        self.config(usergroups={"S999": []})  # merged, not replaced
        self.assertEqual(self.ok("usergroups.users.list", missing)["users"], [])
        self.assertEqual(self.ok("usergroups.users.list", s123)["users"], ["U1", "U2"])

    def test_bad_config_rejected_atomically(self):
        resp = self.control("POST", "config", {"users": [{"id": "U3"}], "usergroup": {}})
        self.assertEqual(resp.status, 400)
        resp = self.control("POST", "config", {"users": [{"id": "U3"}], "usergroups": {"S1": "U3"}})
        self.assertEqual(resp.status, 400)
        self.assertEqual(self.slack_error("users.info", {"user": "U3"}), "user_not_found")
        self.assertEqual(self.control("POST", "config", b"nope").status, 400)


class AuthTest(SinkTestCase):
    def test_default_token_rule(self):
        self.assertEqual(self.slack_error("auth.test", token=None), "not_authed")
        self.assertEqual(self.slack_error("auth.test", token="xoxp-user"), "invalid_auth")
        r = self.ok("auth.test")
        ids = (r["team_id"], r["user_id"], r["bot_id"])
        self.assertEqual(ids, ("T0SINK", "U0SINKBOT", "B0SINK"))
        for key in ("url", "team", "user"):
            self.assertIn(key, r)

    def test_configured_token(self):
        self.config(valid_token="xoxb-right")
        post = {"channel": "C1", "text": "x"}
        error = self.slack_error("chat.postMessage", post, token="xoxb-wrong")
        self.assertEqual(error, "invalid_auth")
        self.ok("chat.postMessage", post, token="xoxb-right")
        self.assertEqual(len(self.messages()), 1)
        self.assertEqual([c["auth"] for c in self.calls()], ["xoxb-wrong", "xoxb-right"])


class ResponseUrlTest(SinkTestCase):
    def test_response_url_is_recorded(self):
        payload = {"replace_original": True, "text": "approved"}
        url = f"{self.base}/response/T0/12345/abcdef"
        resp = request(url, json.dumps(payload).encode(), {"Content-Type": "application/json"})
        self.assertEqual((resp.status, resp.json), (200, {"ok": True}))
        [call] = self.calls("response_url")
        self.assertEqual(call["body"], payload)
        self.assertEqual(call["path"], "T0/12345/abcdef")
        self.assertEqual((call["auth"], call["status"]), (None, 200))
        self.assertEqual(request(url, b"{", {"Content-Type": "application/json"}).status, 400)

    def test_response_url_faults(self):
        self.faults("response_url", {"status": 500})
        url = f"{self.base}/response/x"
        body = json.dumps({"text": "x"}).encode()
        self.assertEqual(request(url, body, {"Content-Type": "application/json"}).status, 500)
        self.assertEqual(request(url, body, {"Content-Type": "application/json"}).status, 200)


class SlashCommandApp(http.server.BaseHTTPRequestHandler):
    """A slash command's app: checks Slack's signature, answers after `delay` with `answer`."""

    secret, delay, answer, seen = "app-secret", 0.0, b"", []

    def log_message(self, *args):
        pass

    def do_POST(self):
        raw = self.rfile.read(int(self.headers["Content-Length"]))
        base = b"v0:" + self.headers["X-Slack-Request-Timestamp"].encode() + b":" + raw
        expected = "v0=" + hmac.new(self.secret.encode(), base, hashlib.sha256).hexdigest()
        signed = hmac.compare_digest(expected, self.headers["X-Slack-Signature"])
        type(self).seen.append(dict(urllib.parse.parse_qsl(raw.decode())))
        time.sleep(type(self).delay)
        body = type(self).answer if signed else b"bad signature"
        self.send_response(200 if signed else 401)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class SlashCommandTest(SinkTestCase):
    def setUp(self):
        super().setUp()
        self.app = http.server.ThreadingHTTPServer(("127.0.0.1", 0), SlashCommandApp)
        threading.Thread(target=self.app.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.app.server_address[1]}/slack"
        SlashCommandApp.delay, SlashCommandApp.seen = 0.0, []
        SlashCommandApp.answer = json.dumps({"response_type": "ephemeral", "text": "ok"}).encode()

    def tearDown(self):
        self.app.shutdown()
        self.app.server_close()

    def slash(self, **body):
        resp = self.control("POST", "slash", {"url": self.url, "signing_secret": "app-secret",
                                              "text": "status", **body})
        self.assertEqual(resp.status, 200, resp.body)
        return resp.json

    def test_a_signed_command_answered_in_time_passes_and_its_response_url_takes_five_answers(self):
        out = self.slash(user_id="U0JANE")
        self.assertTrue(out["ok"], out)
        self.assertEqual(out["answer"], {"response_type": "ephemeral", "text": "ok"})
        [form] = SlashCommandApp.seen
        self.assertEqual((form["command"], form["text"], form["user_id"]), ("/gantry", "status", "U0JANE"))
        self.assertEqual(form["response_url"], out["response_url"])
        [call] = self.calls("slash_command")
        self.assertEqual(call["response"]["problems"], [])
        body = json.dumps({"text": "later"}).encode()
        statuses = [request(out["response_url"], body, {"Content-Type": "application/json"}).status
                    for _ in range(6)]
        self.assertEqual(statuses, [200] * 5 + [404])

    def test_a_slow_an_unsigned_or_a_malformed_answer_is_a_problem(self):
        SlashCommandApp.delay = 3.2
        out = self.slash()
        self.assertFalse(out["ok"])
        self.assertIn("Slack gives up after 3000 ms", out["problems"][0])
        SlashCommandApp.delay = 0.0
        out = self.slash(signing_secret="wrong")
        self.assertEqual(out["status"], 401)
        self.assertIn("HTTP 401", out["problems"][0])
        SlashCommandApp.answer = json.dumps({"response_type": "everyone", "text": "x"}).encode()
        self.assertIn("response_type 'everyone'", self.slash()["problems"][0])
        SlashCommandApp.answer = b""
        self.assertTrue(self.slash()["ok"], "an empty 200 acknowledges")


class HttpTest(SinkTestCase):
    def test_keep_alive_and_chunked(self):
        conn = http.client.HTTPConnection(urllib.parse.urlsplit(self.root).netloc, timeout=5)
        headers = {
            "Authorization": f"Bearer {TOKEN}",
            "Content-Type": "application/json; charset=utf-8",
        }
        path = f"/ns/{self.ns}/api/chat.postMessage"
        for i in range(3):
            conn.request("POST", path, json.dumps({"channel": "C1", "text": str(i)}), headers)
            self.assertTrue(json.loads(conn.getresponse().read())["ok"])
        chunks = iter([b'{"channel": "C1", ', b'"text": "chunked"}'])
        conn.request("POST", path, chunks, headers, encode_chunked=True)
        self.assertTrue(json.loads(conn.getresponse().read())["ok"])
        conn.close()
        self.assertEqual([m["text"] for m in self.messages()], ["0", "1", "2", "chunked"])

    def test_concurrent_posts(self):
        def post_many(worker):
            for i in range(20):
                self.ok("chat.postMessage", {"channel": "C1", "text": f"{worker}-{i}"})

        threads = [threading.Thread(target=post_many, args=(w,)) for w in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        messages = self.messages()
        self.assertEqual(len(messages), 120)
        self.assertEqual(len({m["ts"] for m in messages}), 120)
        self.assertEqual([m["ts"] for m in messages], sorted(m["ts"] for m in messages))
        self.assertEqual([c["seq"] for c in self.calls()], list(range(1, 121)))

    def test_unknown_paths(self):
        self.assertEqual(request(f"{self.root}/nope").status, 404)
        self.assertEqual(request(f"{self.root}/ns//api/auth.test", b"", {}, "POST").status, 404)
        self.assertEqual(self.control("GET", "reset").status, 404)


def button(**overrides):
    b = {"type": "button", "action_id": "go", "text": {"type": "plain_text", "text": "Go"},
         "value": "v"}
    b.update(overrides)
    return b


class SpecTest(SinkTestCase):
    """Verbs and content types as Slack's published spec (tests/fixtures) says."""

    def test_the_spec_comes_from_the_fixture(self):
        sys.path.insert(0, os.path.dirname(SERVER))
        try:
            import server
        finally:
            sys.path.pop(0)
        self.assertTrue(server.SPEC_PATH.endswith("slack_web_openapi_v2.subset.json"))
        self.assertIn(os.path.join("tests", "fixtures", "slack"), os.path.normpath(server.SPEC_PATH))
        self.assertEqual(set(server.METHODS), set(server.SPEC))
        for method in READ_METHODS:
            self.assertEqual(server.SPEC[method]["verb"], "GET", method)
            self.assertFalse(server.SPEC[method]["json"], method)
        for method in ("chat.postMessage", "chat.update", "chat.postEphemeral", "chat.delete"):
            self.assertTrue(server.SPEC[method]["json"], method)
        self.assertEqual(server.SPEC["users.lookupByEmail"]["required"], ["email"])

    def test_a_permalink_names_the_posted_message_and_only_one_that_exists(self):
        ts = self.ok("chat.postMessage", {"channel": "C1", "text": "deploy"})["ts"]
        r = self.ok("chat.getPermalink", {"channel": "C1", "message_ts": ts})
        self.assertEqual(r["channel"], "C1")
        self.assertEqual(r["permalink"], f"https://gantry-sink.slack.com/archives/C1/p{ts.replace('.', '')}")
        self.assertEqual(
            self.slack_error("chat.getPermalink", {"channel": "C1", "message_ts": "1.000001"}),
            "message_not_found",
        )
        self.assertEqual(self.slack_error("chat.getPermalink", {"channel": "C1"}), "invalid_arguments")

    def test_json_on_a_read_method_is_invalid_arguments(self):
        self.config(
            users=[{"id": "U1", "name": "ann", "email": "ann@example.com"}],
            usergroups={"S1": ["U1"]},
        )
        calls = {
            "usergroups.users.list": ({"usergroup": "S1"}, "usergroup"),
            "users.lookupByEmail": ({"email": "ann@example.com"}, "email"),
            "users.info": ({"user": "U1"}, "user"),
            "conversations.info": ({"channel": "C1"}, "channel"),
            "conversations.history": ({"channel": "C1"}, "channel"),
        }
        for method, (args, field) in calls.items():
            resp = self.api(method, args, form=False)
            self.assertEqual(resp.status, 200)
            self.assertEqual(resp.json["ok"], False, method)
            self.assertEqual(resp.json["error"], "invalid_arguments", method)
            self.assertEqual(
                resp.json["response_metadata"]["messages"],
                [f"[ERROR] missing required field: {field}"],
            )
            # The same arguments as a query string or a form body are answered.
            self.assertTrue(self.api(method, args, get=True).json["ok"], method)
            self.assertTrue(self.api(method, args, form=True).json["ok"], method)

    def test_query_and_form_arguments_mix(self):
        self.config(users=[{"id": "U1", "name": "ann", "email": "ann@example.com"}])
        headers = {"Authorization": f"Bearer {TOKEN}",
                   "Content-Type": "application/x-www-form-urlencoded"}
        resp = request(f"{self.base}/api/users.info?user=U1", b"", headers, "POST")
        self.assertEqual(resp.json["user"]["id"], "U1")

    def test_a_missing_required_argument_is_invalid_arguments(self):
        self.assertEqual(self.slack_error("users.lookupByEmail", {}), "invalid_arguments")
        self.assertEqual(self.slack_error("usergroups.users.list", {}), "invalid_arguments")

    def test_write_methods_take_json_form_and_query(self):
        self.ok("chat.postMessage", {"channel": "C1", "text": "json"})
        self.ok("chat.postMessage", {"channel": "C1", "text": "form"}, form=True)
        self.ok("chat.postMessage", {"channel": "C1", "text": "query"}, get=True)
        self.ok("auth.test", {}, form=False)
        self.assertEqual([m["text"] for m in self.messages()], ["json", "form", "query"])


class BlockKitTest(SinkTestCase):
    def blocks_error(self, blocks):
        resp = self.api("chat.postMessage", {"channel": "C1", "text": "x", "blocks": blocks})
        return resp.json.get("error"), resp.json.get("errors")

    def test_button_limits(self):
        actions = lambda *els: [{"type": "actions", "elements": list(els)}]
        at_limit = button(text={"type": "plain_text", "text": "b" * 75}, value="v" * 2000,
                          action_id="a" * 255)
        self.ok("chat.postMessage", {"channel": "C1", "blocks": actions(at_limit)})
        cases = {
            "text": button(text={"type": "plain_text", "text": "b" * 76}),
            "value": button(value="v" * 2001),
            "action_id": button(action_id="a" * 256),
        }
        for field, b in cases.items():
            error, errors = self.blocks_error(actions(b))
            self.assertEqual(error, "invalid_blocks", field)
            self.assertIn(f"[json-pointer:/blocks/0/elements/0/{field}", errors[0])
        self.assertEqual(self.blocks_error(actions(button(style="green")))[0], "invalid_blocks")
        mrkdwn_label = button(text={"type": "mrkdwn", "text": "*b*"})
        self.assertEqual(self.blocks_error(actions(mrkdwn_label))[0], "invalid_blocks")
        duplicate = actions(button(), button())
        self.assertEqual(self.blocks_error(duplicate)[0], "invalid_blocks")
        self.assertEqual(self.blocks_error(actions(*[button(action_id=str(i)) for i in range(26)]))[0],
                         "invalid_blocks")
        long_confirm = button(confirm={
            "title": {"type": "plain_text", "text": "t"},
            "text": {"type": "plain_text", "text": "x" * 301},
            "confirm": {"type": "plain_text", "text": "ok"},
            "deny": {"type": "plain_text", "text": "no"},
        })
        self.assertEqual(self.blocks_error(actions(long_confirm))[0], "invalid_blocks")
        accessory = [{"type": "section", "text": {"type": "mrkdwn", "text": "s"},
                      "accessory": button(value="v" * 2001)}]
        self.assertEqual(self.blocks_error(accessory)[0], "invalid_blocks")
        self.assertEqual(len(self.messages()), 1)

    def test_block_count_and_section_text(self):
        section = lambda n: {"type": "section", "text": {"type": "mrkdwn", "text": "s" * n}}
        self.assertEqual(self.blocks_error([section(1)] * 51)[0], "invalid_blocks")
        self.assertEqual(self.blocks_error([section(3001)])[0], "invalid_blocks")
        self.ok("chat.postMessage", {"channel": "C1", "blocks": [section(3000)] * 50})

    def test_input_block_needs_a_label_and_an_element(self):
        label = {"type": "plain_text", "text": "Reason"}
        element = {"type": "plain_text_input", "action_id": "r" * 256}
        self.assertEqual(self.blocks_error([{"type": "input", "label": label}])[0],
                         "invalid_blocks")
        bad = [{"type": "input", "label": label, "element": element}]
        self.assertEqual(self.blocks_error(bad)[0], "invalid_blocks")
        good = [{"type": "input", "label": label,
                 "element": {"type": "plain_text_input", "action_id": "reason"}}]
        self.ok("chat.postMessage", {"channel": "C1", "text": "x", "blocks": good})

    def test_metadata_must_have_an_event_type_and_payload(self):
        post = lambda md: self.api("chat.postMessage", {"channel": "C1", "text": "x", "metadata": md})
        self.assertEqual(post({"event_type": "e"}).json["error"], "invalid_metadata_schema")
        self.assertEqual(post({"event_payload": {}}).json["error"], "invalid_metadata_schema")
        md = {"event_type": "gantry", "event_payload": {"id": "1"}}
        self.assertEqual(post(md).json["message"]["metadata"], md)


class MembershipTest(SinkTestCase):
    def test_a_channel_the_bot_is_not_in_is_not_in_channel(self):
        ts = self.ok("chat.postMessage", {"channel": "C1", "text": "before"})["ts"]
        self.config(not_in_channels=["C1"])
        post = {"channel": "C1", "text": "x"}
        self.assertEqual(self.slack_error("chat.postMessage", post), "not_in_channel")
        self.assertEqual(self.slack_error("chat.update", {**post, "ts": ts}), "not_in_channel")
        self.assertEqual(self.slack_error("chat.postEphemeral", {**post, "user": "U1"}),
                         "not_in_channel")
        self.assertEqual(self.slack_error("conversations.history", {"channel": "C1"}),
                         "not_in_channel")
        info = self.ok("conversations.info", {"channel": "C1"})["channel"]
        self.assertEqual((info["id"], info["is_member"]), ("C1", False))
        self.ok("chat.postMessage", {"channel": "C2", "text": "elsewhere"})
        self.config(joined_channels=["C1"])  # the bot is invited
        self.ok("chat.postMessage", post)
        self.assertEqual([m["text"] for m in self.messages()], ["before", "elsewhere", "x"])
        self.assertEqual(self.control("GET", "config").json["not_in_channels"], [])


class HistoryTest(SinkTestCase):
    def test_history_is_newest_first_without_thread_replies(self):
        md = {"event_type": "gantry_execution", "event_payload": {"execution_id": "e1"}}
        first = self.ok("chat.postMessage", {"channel": "C1", "text": "1", "metadata": md})["ts"]
        self.ok("chat.postMessage", {"channel": "C1", "text": "reply", "thread_ts": first})
        self.ok("chat.postMessage", {"channel": "C2", "text": "other channel"})
        second = self.ok("chat.postMessage", {"channel": "C1", "text": "2"})["ts"]
        r = self.ok("conversations.history", {"channel": "C1"})
        self.assertEqual([m["text"] for m in r["messages"]], ["2", "1"])
        self.assertNotIn("metadata", r["messages"][1])  # only with include_all_metadata
        r = self.ok("conversations.history", {"channel": "C1", "include_all_metadata": "true"})
        self.assertEqual(r["messages"][1]["metadata"], md)
        self.assertEqual(r["messages"][1]["ts"], first)
        page = self.ok("conversations.history", {"channel": "C1", "limit": "1"})
        self.assertEqual(([m["ts"] for m in page["messages"]], page["has_more"]), ([second], True))
        cursor = page["response_metadata"]["next_cursor"]
        page = self.ok("conversations.history", {"channel": "C1", "limit": "1", "cursor": cursor})
        self.assertEqual(([m["ts"] for m in page["messages"]], page["has_more"]), ([first], False))
        newer = self.ok("conversations.history", {"channel": "C1", "oldest": first})
        self.assertEqual([m["ts"] for m in newer["messages"]], [second])
        thread = self.ok("conversations.replies", {"channel": "C1", "ts": first})
        self.assertEqual([m["text"] for m in thread["messages"]], ["1", "reply"])
        self.assertEqual(self.slack_error("conversations.history", {"channel": "C1", "oldest": "x"}),
                         "invalid_ts_oldest")


class EphemeralTest(SinkTestCase):
    def test_ephemerals_are_kept_apart_from_channel_history(self):
        r = self.ok("chat.postEphemeral", {"channel": "C1", "user": "U1", "text": "only you"})
        [e] = self.control("GET", "ephemerals?channel=C1").json["ephemerals"]
        self.assertEqual((e["user"], e["text"], e["message_ts"]), ("U1", "only you", r["message_ts"]))
        self.assertEqual(self.control("GET", "ephemerals?channel=C2").json["ephemerals"], [])
        self.assertEqual(self.messages(), [])
        self.assertEqual(
            self.slack_error("chat.postEphemeral", {"channel": "C1", "text": "x"}),
            "user_not_found",
        )


class ResponseUrlLimitsTest(SinkTestCase):
    def respond(self, path, payload):
        return request(f"{self.base}/response/{path}", json.dumps(payload).encode(),
                       {"Content-Type": "application/json"})

    def test_five_answers_then_used_url(self):
        for i in range(5):
            self.assertEqual(self.respond("r1", {"text": str(i)}).status, 200, i)
        resp = self.respond("r1", {"text": "sixth"})
        self.assertEqual((resp.status, resp.json), (404, {"ok": False, "error": "used_url"}))
        self.assertEqual(self.respond("r2", {"text": "another url"}).status, 200)

    def test_thirty_minutes_then_expired_url(self):
        self.assertEqual(self.respond("r1", {"text": "now"}).status, 200)
        self.config(clock_offset_seconds=29 * 60)
        self.assertEqual(self.respond("r1", {"text": "29 min"}).status, 200)
        self.config(clock_offset_seconds=31 * 60)
        resp = self.respond("r1", {"text": "31 min"})
        self.assertEqual((resp.status, resp.json["error"]), (404, "expired_url"))

    def test_content_is_checked_and_refusals_do_not_count(self):
        self.assertEqual(self.respond("r1", {}).json["error"], "no_text")
        blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "s" * 3001}}]
        resp = self.respond("r1", {"text": "x", "blocks": blocks})
        self.assertEqual((resp.status, resp.json["error"]), (400, "invalid_blocks"))
        self.assertEqual(self.respond("r1", {"delete_original": True}).status, 200)
        for i in range(4):
            self.assertEqual(self.respond("r1", {"text": str(i)}).status, 200)
        self.assertEqual(self.respond("r1", {"text": "x"}).json["error"], "used_url")


class AfterEffectFaultTest(SinkTestCase):
    def test_internal_error_after_the_message_was_stored(self):
        self.faults("chat.postMessage", {"error": "internal_error", "after_effect": True})
        resp = self.api("chat.postMessage", {"channel": "C1", "text": "posted anyway"})
        self.assertEqual((resp.status, resp.json), (200, {"ok": False, "error": "internal_error"}))
        [m] = self.messages()
        self.assertEqual(m["text"], "posted anyway")
        [call] = self.calls()
        self.assertEqual(call["effect"]["ts"], m["ts"])
        self.assertEqual(call["response"]["error"], "internal_error")

    def test_a_hang_after_the_effect_drops_the_answer(self):
        self.faults("chat.postMessage", {"hang_seconds": 0.5, "after_effect": True})
        with self.assertRaises((TimeoutError, socket.timeout, urllib.error.URLError)):
            self.api("chat.postMessage", {"channel": "C1", "text": "x"}, timeout=0.2)
        self.assertEqual(len(self.messages()), 1)

    def test_after_effect_needs_an_answer(self):
        for spec in ({"after_effect": True}, {"after_effect": 1, "status": 500},
                     {"after_effect": True, "delay_seconds": 1}):
            resp = self.control("POST", "faults", {"method": "x", "responses": [spec]})
            self.assertEqual(resp.status, 400, spec)


class LifecycleTest(unittest.TestCase):
    def test_exits_on_stdin_eof(self):
        proc, _ = start_server()
        started = time.monotonic()
        stop_server(proc)
        self.assertEqual(proc.returncode, 0)
        self.assertLess(time.monotonic() - started, 3)

    def test_exits_on_sigterm_without_stdin_watch(self):
        proc, root = start_server("--no-stdin-watch")
        proc.stdin.close()
        time.sleep(0.3)
        self.assertIsNone(proc.poll())  # EOF ignored
        self.assertEqual(request(f"{root}/_sink/calls").status, 200)
        proc.send_signal(signal.SIGTERM)
        self.assertEqual(proc.wait(5), 0)
        self.assertEqual(proc.stdout.read(), "")  # nothing after READY: no request logs
        proc.stdout.close()


if __name__ == "__main__":
    unittest.main(verbosity=2)
