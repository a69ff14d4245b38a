"""Routing, limits, the secret and the allow-list, in process (issue 10).

The same rules the e2e tests (tests/e2e/test_webhooks.py, test_trust.py)
check against the daemon as a subprocess, here against a real
``WebhookServer`` on a loopback port 0 with ``payloads.read`` as its
webhook reader and a ``queue.Queue`` as its trigger queue: milliseconds a
test, no subprocess, no sleeps.
"""

import ipaddress
import json
import logging
import queue
import socket
import time
import unittest
import urllib.parse

from streamerbrainz.lib.log import LogfmtFormatter
from streamerbrainz.plex import payloads
from streamerbrainz.web import live
from streamerbrainz.sources import events as source_events
from streamerbrainz.web.routes import WebhookServer
from streamerbrainz.web.server import RequestHead
from tests.support import webhooks
from tests.support.webhooks import fixture

MACHINE_ID = "bc97b983-8169-47e3-bbcc-54a12d662546"  # the Player of payload_play.json
SECRET = "Wz8-kP2_qL5.vN7~tR4xY1mB"
HEALTH = {"status": "ok", "version": "test", "plex_enabled": True, "last_fetch": None}
STATE = {"players": [{"machine_id": MACHINE_ID, "state": "playing"}], "any_playing": True}
TIMEOUT = 2.0  # a refusal that waited for a body would run into it


def head(method="POST", path=webhooks.WEBHOOK_PATH, length=None, extra=b""):
    """A request head as bytes (``Connection: close``), with any extra header lines."""
    data = ("%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
            % (method, path)).encode("latin-1")
    if length is not None:
        data += b"Content-Length: %d\r\n" % length
    return data + extra + b"\r\n"


def play_body():
    """``(content_type, body)`` of the media.play webhook, as Plex sends it (with a thumb)."""
    return webhooks.multipart_body(fixture("payload_play.json"), fixture("thumb.jpg"))


class InProcessCase(unittest.TestCase):
    """A real WebhookServer on 127.0.0.1:0, stopped by a deadline in a cleanup."""

    def start_server(self, triggers=None, **kwargs):
        kwargs.setdefault("health", lambda: dict(HEALTH))
        kwargs.setdefault("state", lambda: dict(STATE))
        self.triggers = queue.Queue(16) if triggers is None else triggers
        server = WebhookServer(("127.0.0.1", 0), self.triggers, payloads.read, **kwargs)
        server.start()
        self.addCleanup(lambda: self.assertTrue(server.stop(time.monotonic() + 2)))
        self.server = server
        self.port = self.server.server_address[1]
        return self.port

    def request(self, method, path, body=b"", headers=None):
        return webhooks.request(self.port, method, path, body, headers, timeout=TIMEOUT)

    def post(self, body=b"", content_type=None, path=webhooks.WEBHOOK_PATH):
        return webhooks.post(self.port, body, content_type, path, timeout=TIMEOUT)

    def post_play(self, path=webhooks.WEBHOOK_PATH):
        content_type, body = play_body()
        return self.post(body, content_type, path)

    def post_fixture(self, name):
        content_type, body = webhooks.multipart_body(fixture(name))
        return self.post(body, content_type)

    def raw(self, data, half_close=False):
        return webhooks.raw_exchange(self.port, data, half_close=half_close, timeout=TIMEOUT)

    def assert_json(self, answer, status):
        """The answer is ``status`` with a JSON body; return the body."""
        got, headers, body = answer
        self.assertEqual(got, status, body)
        self.assertEqual(headers.get("content-type"), "application/json")
        self.assertEqual(headers.get("cache-control"), "no-store")
        return json.loads(body.decode("utf-8"))

    def assert_error(self, answer, status):
        document = self.assert_json(answer, status)
        self.assertIsInstance(document.get("error"), str)
        self.assertTrue(document["error"])
        return answer[1]

    def queued(self):
        """Every trigger on the queue, taken off it."""
        found = []
        while True:
            try:
                found.append(self.triggers.get_nowait())
            except queue.Empty:
                return found


# -- routes and methods ----------------------------------------------------------


class RouteTests(InProcessCase):

    def setUp(self):
        self.start_server()

    def test_unknown_paths_are_404(self):
        for method, path in (("GET", "/nope"), ("POST", "/webhooks/plex/extra"),
                             ("POST", "/webhooks"), ("GET", "/status/sessions"),
                             ("BREW", "/pot"), ("GET", "/healthz/x")):
            with self.subTest(method=method, path=path):
                self.assert_error(self.request(method, path), 404)
        self.assertEqual(self.queued(), [])

    def test_a_method_the_route_does_not_allow_is_405_with_allow(self):
        cases = (("GET", "/webhooks/plex", "POST"), ("PUT", "/webhooks/plex", "POST"),
                 ("POST", "/healthz", "GET, HEAD"), ("DELETE", "/", "GET, HEAD"),
                 ("POST", "/state", "GET, HEAD"), ("PATCH", "/state", "GET, HEAD"),
                 ("POST", "/events", "GET"), ("HEAD", "/events", "GET"),
                 ("BREW", "/healthz", "GET, HEAD"), ("OPTIONS", "/healthz", "GET, HEAD"))
        for method, path, allow in cases:
            with self.subTest(method=method, path=path):
                answer = self.request(method, path)
                self.assertEqual(answer[0], 405, answer[2])
                self.assertEqual(answer[1].get("allow"), allow)
                if method != "HEAD":
                    self.assert_error(answer, 405)
        self.assertEqual(self.queued(), [])

    def test_healthz_and_root_answer_the_health_document(self):
        for path in ("/healthz", "/", "/healthz?verbose=1"):
            with self.subTest(path=path):
                self.assertEqual(self.assert_json(self.request("GET", path), 200), HEALTH)

    def test_head_answers_the_headers_of_get_without_a_body(self):
        _, got, body = self.request("GET", "/healthz")
        # A raw socket read to the end: http.client would skip a body after HEAD.
        sock = socket.create_connection(("127.0.0.1", self.port), timeout=TIMEOUT)
        self.addCleanup(sock.close)
        sock.sendall(head("HEAD", "/healthz"))
        data = b""
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
        head_block, _, rest = data.partition(b"\r\n\r\n")
        lines = head_block.decode("latin-1").split("\r\n")
        self.assertEqual(lines[0], "HTTP/1.1 200 OK")
        self.assertIn("Content-Length: %d" % len(body), lines)
        self.assertIn("Content-Type: %s" % got["content-type"], lines)
        self.assertEqual(rest, b"", "HEAD must answer no body")

    def test_state_answers_the_state_document(self):
        self.assertEqual(self.assert_json(self.request("GET", "/state"), 200), STATE)


class HistoryRouteTests(InProcessCase):

    def test_without_a_history_both_paths_say_how_to_keep_one(self):
        self.start_server()
        for path in ("/history", "/history/stats?since=7d"):
            with self.subTest(path=path):
                self.assertEqual(self.assert_json(self.request("GET", path), 404),
                                 {"error": "no history is kept: start the daemon with "
                                           "-state-dir"})

    def test_the_history_gets_what_was_asked_and_its_answer_is_sent(self):
        asked = []

        def history(what, query):
            asked.append((what, query))
            return 400, {"error": "limit: 'x'; give a number from 1 to 1000"}
        self.start_server(history=history)
        self.assert_error(self.request("GET", "/history?limit=x"), 400)
        self.assert_error(self.request("GET", "/history/stats?since=7d&player=K%C3%BCche"), 400)
        self.assertEqual(asked, [("plays", "limit=x"), ("stats", "since=7d&player=K%C3%BCche")])
        status, headers, _ = self.request("POST", "/history")
        self.assertEqual((status, headers.get("allow")), (405, "GET, HEAD"))


class EventsTests(InProcessCase):

    def read_until(self, sock, marker, data=b""):
        while marker not in data:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
        return data

    def test_events_is_an_event_stream_with_the_state_first(self):
        hub = live.EventHub()
        self.start_server(hub=hub)
        self.addCleanup(hub.close)  # before the server stops, as in the daemon
        sock = socket.create_connection(("127.0.0.1", self.port), timeout=TIMEOUT)
        self.addCleanup(sock.close)
        sock.sendall(b"GET /events HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        data = self.read_until(sock, b"event: state")
        head_block, _, stream = data.partition(b"\r\n\r\n")
        lines = head_block.decode("latin-1").split("\r\n")
        self.assertEqual(lines[0], "HTTP/1.1 200 OK")
        headers = {name.lower(): value for name, _, value in
                   (line.partition(": ") for line in lines[1:])}
        self.assertEqual(headers.get("content-type"), "text/event-stream")
        self.assertEqual(headers.get("cache-control"), "no-store")
        self.assertEqual(headers.get("connection"), "close")
        self.assertNotIn("content-length", headers)
        self.assertTrue(stream.startswith(b"retry: 3000\n\nevent: state\n"), stream)
        stream = self.read_until(sock, b"\n\n", stream.partition(b"event: state\n")[2])
        self.assertIn(json.dumps(STATE).encode("utf-8"), stream)
        hub.publish("ping", {"n": 1})
        self.assertIn(b"event: ping", self.read_until(sock, b"event: ping", stream))

    def test_events_without_a_hub_is_503_with_retry_after(self):
        self.start_server()
        headers = self.assert_error(self.request("GET", "/events"), 503)
        self.assertEqual(headers.get("retry-after"), "5")


# -- POST /webhooks/plex ---------------------------------------------------------


class WebhookPostTests(InProcessCase):

    def test_a_play_webhook_is_queued_as_its_trigger(self):
        self.start_server()
        self.assertEqual(self.assert_json(self.post_play(), 200), {"status": "queued"})
        [trigger] = self.queued()
        self.assertEqual((trigger.source, trigger.event, trigger.machine_id, trigger.player,
                          trigger.state), ("webhook", "media.play", MACHINE_ID, "Office",
                                           "playing"))
        self.assertEqual((trigger.track.title, trigger.track.artist),
                         ("Once in a Lifetime", "Talking Heads"))

    def test_json_and_urlencoded_bodies_are_queued_too(self):
        self.start_server()
        pause = fixture("payload_pause.json")
        form = ("payload=" + urllib.parse.quote(pause.decode())).encode()
        for content_type, body in (("application/json", pause),
                                   ("application/x-www-form-urlencoded", form)):
            with self.subTest(content_type=content_type):
                self.assertEqual(self.assert_json(self.post(body, content_type), 200),
                                 {"status": "queued"})
                [trigger] = self.queued()
                self.assertEqual((trigger.event, trigger.state), ("media.pause", "paused"))

    def test_an_empty_post_queues_a_trigger_that_names_no_player(self):
        self.start_server()
        self.assertEqual(self.assert_json(self.post(), 200), {"status": "queued"})
        [trigger] = self.queued()
        self.assertEqual((trigger.event, trigger.machine_id, trigger.state), ("", "", None))

    def test_ignored_webhooks_are_answered_and_never_queued(self):
        cases = (({}, "payload_library_new.json", "not about playback"),
                 ({}, "payload_webhook_created.json", "webhook test"),
                 ({"followed": ("another-player",)}, "payload_play.json", "player not followed"),
                 ({"plex_enabled": False}, "payload_play.json", "Plex is not enabled"))
        for kwargs, name, reason in cases:
            with self.subTest(name=name, **kwargs):
                self.start_server(**kwargs)
                self.assertEqual(self.assert_json(self.post_fixture(name), 200),
                                 {"status": "ignored", "reason": reason})
                self.assertEqual(self.queued(), [])

    def test_a_followed_player_is_queued(self):
        self.start_server(followed=(MACHINE_ID,))
        self.assertEqual(self.assert_json(self.post_play(), 200), {"status": "queued"})
        self.assertEqual([t.machine_id for t in self.queued()], [MACHINE_ID])

    def test_a_body_that_is_no_webhook_is_400_and_never_queued(self):
        self.start_server()
        for content_type, body in (webhooks.multipart_body(b"{not json"),
                                   ("application/json", b"<xml/>"),
                                   ("text/plain", b"hello"),
                                   ("application/json", b'{"no": "event"}')):
            with self.subTest(body=body[:40]):
                self.assert_error(self.post(body, content_type), 400)
        self.assertEqual(self.queued(), [])

    def test_a_full_trigger_queue_is_503_with_retry_after_and_one_warning(self):
        triggers = queue.Queue(1)
        triggers.put("already waiting")
        self.start_server(triggers)
        with self.assertLogs("streamerbrainz.web.routes", logging.DEBUG) as logs:
            for _ in range(3):
                headers = self.assert_error(self.post_play(), 503)
                self.assertEqual(headers.get("retry-after"), "1")
        self.assertEqual(self.queued(), ["already waiting"])
        warnings = [r.getMessage() for r in logs.records if r.levelno >= logging.WARNING]
        self.assertEqual(warnings, ["webhook queue full; answering 503"])
        # Room again: the next webhook is queued.
        self.assertEqual(self.assert_json(self.post_play(), 200), {"status": "queued"})


# -- body limits and framing -----------------------------------------------------


class BodyLimitTests(InProcessCase):

    def setUp(self):
        self.start_server(max_body=1024)

    def test_a_body_over_the_limit_is_413_from_the_head_alone(self):
        for extra in (b"", b"Expect: 100-continue\r\n"):
            with self.subTest(extra=extra):
                # No body follows: the answer must come from the head.
                status, headers, body = self.raw(head(length=1025, extra=extra))
                self.assertEqual(status, 413, body)  # not 100 Continue first
                self.assertIn("1024", json.loads(body.decode())["error"])
        self.assertEqual(self.queued(), [])

    def test_a_body_at_the_limit_is_read(self):
        body = b'{"event": "media.play"}'.ljust(1024)
        status, _, answer = self.raw(head(length=len(body),
                                          extra=b"Content-Type: application/json\r\n") + body)
        self.assertEqual((status, json.loads(answer.decode())), (200, {"status": "queued"}))
        self.assertEqual([t.event for t in self.queued()], ["media.play"])

    def test_ambiguous_framing_is_400(self):
        # A webhook that would be queued, were its framing taken one way or another.
        body = b'{"event": "media.play"}'
        length = b"Content-Length: %d\r\n" % len(body)
        cases = (length + b"Content-Length: 1000\r\n", length + length,
                 length.replace(b":", b" :"), b"X-No-Colon\r\n" + length,
                 b"X-A: 1\r\n  folded\r\n" + length, length.replace(b": ", b": +"),
                 length.replace(b"\r\n", b" %d\r\n" % len(body)))
        for extra in cases:
            with self.subTest(extra=extra):
                self.assert_error(self.raw(head(extra=b"Content-Type: application/json\r\n"
                                                + extra) + body), 400)
        self.assert_error(self.raw(b"garbage\r\n\r\n"), 400)
        self.assertEqual(self.queued(), [])

    def test_a_truncated_body_is_400(self):
        self.assert_error(self.raw(head(length=100) + b"{" * 50, half_close=True), 400)
        self.assertEqual(self.queued(), [])

    def test_transfer_encoding_is_411(self):
        for extra in (b"Transfer-Encoding: chunked\r\n",
                      b"Transfer-Encoding: gzip\r\nContent-Length: 2\r\n"):
            with self.subTest(extra=extra):
                self.assert_error(self.raw(head(extra=extra) + b"2\r\n{}\r\n0\r\n\r\n"), 411)
        self.assertEqual(self.queued(), [])


# -- the webhook secret ----------------------------------------------------------


class SecretTests(InProcessCase):

    def test_only_the_secret_path_takes_webhooks_and_the_secret_is_never_logged(self):
        self.start_server(secret=SECRET)
        misses = ("/webhooks/plex", "/webhooks/plex/", "/webhooks/plex/wrong-guess-0123456",
                  "/webhooks/plex/" + SECRET[:-1], "/webhooks/plex/" + SECRET + "x",
                  "/webhooks/plex/" + SECRET.upper(), "/webhooks/plex/" + SECRET + "/",
                  "/webhooks/plex//" + SECRET, "/webhooks/plex/%s/x" % SECRET)
        with self.assertLogs("streamerbrainz", logging.DEBUG) as logs:
            status, _, body = self.post_play("/webhooks/plex/" + SECRET)
            self.assertEqual((status, json.loads(body.decode())), (200, {"status": "queued"}))
            status, _, body = self.post_play("/webhooks/plex/%s?from=pms" % SECRET)
            self.assertEqual(status, 200, body)
            self.assertEqual(len(self.queued()), 2)
            unknown = self.post_play("/no/such/path")
            self.assert_error(unknown, 404)
            for path in misses:
                with self.subTest(path=path):
                    status, headers, body = self.post_play(path)
                    self.assertEqual((status, body), (404, unknown[2]),
                                     "a miss must look like an unknown path")
                    self.assertEqual(sorted(k for k in headers if k != "date"),
                                     sorted(k for k in unknown[1] if k != "date"))
            self.assertEqual(self.request("GET", "/webhooks/plex")[::2], unknown[::2])
            self.assertEqual(self.queued(), [])
        formatter = LogfmtFormatter(timestamps=False)
        lines = [formatter.format(record) for record in logs.records]
        served = [line for line in lines if line.startswith("[DEBUG] http request")
                  and "status=200" in line]
        self.assertEqual(len(served), 2, lines)
        for line in served:
            self.assertIn("path=/webhooks/plex/\u2026", line)
        for line in lines:
            for secret in (SECRET, SECRET[:-1], SECRET.upper(), "wrong-guess-0123456"):
                self.assertNotIn(secret, line)

    def test_without_a_secret_the_bare_path_takes_webhooks(self):
        self.start_server()
        self.assertEqual(self.post_play()[0], 200)
        self.assert_error(self.post_play("/webhooks/plex/" + SECRET), 404)


# -- the allow-list ----------------------------------------------------------------


class AllowTests(InProcessCase):

    def test_a_source_not_allowed_gets_403_before_its_body_and_one_warning(self):
        self.start_server(allow=("10.0.0.0/8",))
        with self.assertLogs("streamerbrainz.web.routes", logging.DEBUG) as logs:
            for _ in range(3):
                # The head announces a body that never comes: 403 from the head alone.
                status, headers, body = self.raw(head(length=500))
                self.assertEqual(status, 403, body)
                self.assertEqual(headers.get("content-type"), "application/json")
                self.assertIn("error", json.loads(body.decode()))
            self.assertEqual(self.post_play()[0], 403)
        self.assertEqual(self.queued(), [])
        warnings = [r for r in logs.records if r.levelno >= logging.WARNING]
        self.assertEqual([r.getMessage() for r in warnings],
                         ["webhook refused: address not in -webhooks-allow"])
        self.assertEqual(warnings[0].fields.get("client"), "127.0.0.1")
        # Reading stays open to every source.
        for path in ("/healthz", "/", "/state"):
            self.assertEqual(self.request("GET", path)[0], 200)

    def test_an_allowed_source_is_served(self):
        for allow in (("127.0.0.1",), ("10.0.0.0/8", "127.0.0.0/8"),
                      (ipaddress.ip_network("127.0.0.1/32"),), ("::ffff:127.0.0.1/128",)):
            with self.subTest(allow=allow):
                self.start_server(allow=allow)
                self.assertEqual(self.assert_json(self.post_play(), 200), {"status": "queued"})
                self.assertEqual(len(self.queued()), 1)

    def test_the_list_is_checked_after_the_route(self):
        # A refused source still sees 404 and 405, like everyone: the list guards webhooks.
        self.start_server(allow=("10.0.0.0/8",))
        self.assert_error(self.request("POST", "/nope"), 404)
        self.assertEqual(self.request("POST", "/healthz")[0], 405)


class SourcesTests(InProcessCase):
    """``POST /sources/<name>``: the bridges' door, loopback only unless -sources-allow."""

    def start_sources(self, **kwargs):
        return self.start_server(read_source=source_events.parse, **kwargs)

    def post_source(self, name, document):
        body = document if isinstance(document, bytes) else json.dumps(document).encode()
        return self.post(body, "application/json", path="/sources/" + name)

    def test_an_event_is_queued_as_the_sources_trigger(self):
        self.start_sources()
        answer = self.post_source("airplay", {"state": "playing", "title": "Radio"})
        self.assertEqual(self.assert_json(answer, 200), {"status": "queued"})
        (trigger,) = self.queued()
        self.assertEqual((trigger.origin, trigger.machine_id, trigger.state, trigger.track.title),
                         ("airplay", "airplay", "playing", "Radio"))

    def test_a_bad_body_is_a_400_with_its_reason_and_nothing_queued(self):
        self.start_sources()
        for name, body, reason in (("airplay", b"nope", "body is not JSON"),
                                   ("Air Play", {"state": "playing"}, "source name"),
                                   ("airplay", {"state": "loud"}, "state: one of")):
            with self.subTest(body=body):
                error = self.assert_json(self.post_source(urllib.parse.quote(name), body), 400)
                self.assertTrue(error["error"].startswith(reason), error)
        self.assertEqual(self.queued(), [])

    def test_an_event_over_16_kib_is_refused_from_its_head(self):
        self.start_sources()
        status, _, _ = self.raw(head(path="/sources/spotify", length=16 * 1024 + 1))
        self.assertEqual(status, 413)
        self.assertEqual(self.queued(), [])

    def test_only_loopback_unless_sources_allow_says_otherwise(self):
        self.start_sources(sources_allow=("192.168.1.0/24",), allow=("10.0.0.0/8",))
        for address, allowed in (("127.0.0.1", True), ("::1", True), ("::ffff:127.0.0.1", True),
                                 ("192.168.1.20", True), ("192.168.2.20", False),
                                 ("10.0.0.5", False), ("fe80::1%eth0", False)):
            with self.subTest(address=address):
                self.assertEqual(self.server.source_allowed(address), allowed)
        # -webhooks-allow guards the webhooks, not the bridges on loopback.
        self.assertEqual(self.post_source("airplay", {"state": "stopped"})[0], 200)

    def test_a_refused_address_gets_403_and_one_warning_that_names_the_flag(self):
        self.start_sources()
        refusal = self.server.screen(server_head("/sources/spotify"), ("192.168.1.20", 5000))
        self.assertEqual(refusal.status, 403)
        with self.assertLogs("streamerbrainz.web.routes", logging.DEBUG) as logs:
            for _ in range(3):
                self.server.log_refusal(403, ("192.168.1.20", 5000), refusal.message)
        warnings = [r.getMessage() for r in logs.records if r.levelno >= logging.WARNING]
        self.assertEqual(warnings, ["source event refused: address not in -sources-allow"])

    def test_without_a_reader_the_door_is_shut(self):
        self.start_server()
        self.assertEqual(self.post_source("airplay", {"state": "playing"})[0], 403)


class ControlTests(InProcessCase):
    """``POST /control/<action>``: what reaches the soft transport, and what never does."""

    def start_control(self, **kwargs):
        self.asked = []

        def control(action, player):
            self.asked.append((action, player))
            return 200, {"done": True}
        return self.start_server(control=control, **kwargs)

    def test_an_empty_or_json_post_reaches_the_transport_with_its_player(self):
        self.start_control()
        self.assertEqual(self.assert_json(self.request("POST", "/control/pause"), 200),
                         {"done": True})
        self.assertEqual(self.post(b"{}", "application/json", "/control/next?player=Pi")[0], 200)
        self.assertEqual(self.asked, [("pause", ""), ("next", "Pi")])

    def test_a_web_page_cannot_pause_the_house(self):
        self.start_control()
        for headers, body, status in (
                ({"Origin": "http://evil.example"}, b"", 403),
                ({"Origin": "null"}, b"", 403),
                ({"Content-Type": "application/x-www-form-urlencoded"}, b"a=1", 415),
                ({"Content-Type": "text/plain"}, b"{}", 415)):
            with self.subTest(headers=headers):
                answer = self.request("POST", "/control/pause", body, headers)
                self.assertFalse(self.assert_json(answer, status)["done"])
        same_site = {"Origin": "http://127.0.0.1:%d" % self.port,
                     "Host": "127.0.0.1:%d" % self.port}
        self.assertEqual(self.request("POST", "/control/pause", b"", same_site)[0], 200)
        self.assertEqual(self.asked, [("pause", "")])

    def test_only_loopback_unless_control_allow_says_otherwise(self):
        self.start_control(control_allow=("192.168.1.0/24",))
        refusal = self.server.screen(server_head("/control/pause"), ("192.168.2.7", 5000))
        self.assertEqual(refusal.status, 403)
        self.assertIsNone(self.server.screen(server_head("/control/pause"),
                                             ("192.168.1.7", 5000)))
        with self.assertLogs("streamerbrainz.web.routes", logging.DEBUG) as logs:
            self.server.log_refusal(403, ("192.168.2.7", 5000), refusal.message)
        self.assertEqual([r.getMessage() for r in logs.records if r.levelno >= logging.WARNING],
                         ["control refused: address not in -control-allow"])

    def test_without_a_transport_the_door_is_shut(self):
        self.start_server()
        self.assertEqual(self.request("POST", "/control/pause")[0], 403)


def server_head(path, length=20):
    return RequestHead("POST", path, "HTTP/1.1", length, 100)


if __name__ == "__main__":
    unittest.main()
