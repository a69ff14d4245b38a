"""Seeded, stdlib-only fuzzing of everything that parses what others send.

Real inputs (the payload and sessions fixtures, PMS-shaped multipart bodies
with the fixture thumb, notification and Plexamp documents) are mutated by
byte flips, truncation, duplication, deletion and insertion of random bytes
or of tokens that parsers trip on (boundaries, quotes, huge numbers, deep
nesting, encodings, DOCTYPEs). Each parser must return its usual result or
raise its own error, nothing else. Then one daemon gets a few hundred
mutants over HTTP and must answer each with 2xx or 4xx and stay up.

The seed is fixed; set ``SBZ_FUZZ_SEED`` to explore others. A failure
names the seed and the case so it can be replayed with ``replay()``.
"""

import concurrent.futures
import http.client
import json
import os
import random
import re
import time
import unittest

from streamerbrainz.plex import notifications
from streamerbrainz.plex import payloads
from streamerbrainz.plex import client as plex
from streamerbrainz.plex import plexamp
from streamerbrainz.plex.payloads import PayloadError
from streamerbrainz.plex.client import PlexError
from streamerbrainz.core.trigger import Trigger
from tests.support import webhooks
from tests.support.daemon import start_daemon, start_stub
from tests.support.sources import (STOPPED, Timeline, bare, play_notification, resources_xml,
                                   sse_event, timeline_xml, wrapped)

SEED = int(os.environ.get("SBZ_FUZZ_SEED", "20261125"))

FIXTURES = webhooks.FIXTURES
PAYLOADS = sorted(name for name in os.listdir(FIXTURES)
                  if name.startswith("payload_") and name.endswith(".json"))
SESSIONS = sorted(name for name in os.listdir(FIXTURES)
                  if name.startswith("sessions_") and name.endswith(".xml"))
THUMB = webhooks.fixture("thumb.jpg")

GENERIC_TOKENS = [
    b'"', b"'", b"\\", b"\r\n", b"\r\n\r\n", b"\n", b"\r", b"\x00", b"\xff", b"\xfe\xff",
    b"\xef\xbb\xbf", b"\xed\xa0\x80", b"\xc3", b"\xf4\x90\x80\x80", b"9" * 400, b"1" * 5000,
    b"1e999", b"-1e999", b"Infinity", b"-Infinity", b"NaN", b"-0", b"0x10",
    b"[" * 3000, b'{"a":' * 3000, b"{", b"}", b"[", b"]", b",", b":", b"null", b"true",
    b"%", b"%00", b"%ZZ", b"%C3%28", b"+", b"&", b"=", b";", b"\t", b" " * 100,
    b'"\\ud800"', b'"\\u0000"', b"\\u",
]
JSON_TOKENS = [
    b'"event":', b'"event":"media.play",', b'"event":["media.play"],', b'"event":null,',
    b'"Player":', b'"Player":[],', b'"Player":{"uuid":{}},', b'"Metadata":"x",',
    b'"ratingKey":1e999,', b'"ratingKey":' + b"9" * 4400 + b",", b'"uuid":' + b"7" * 300 + b",",
]
MULTIPART_TOKENS = [
    b'Content-Disposition: form-data; name="payload"\r\n',
    b'Content-Disposition: form-data; name="payload"; filename="x.json"\r\n',
    b"Content-Disposition: form-data; name*=utf-8''payload\r\n",
    b'Content-Disposition: form-data; name="thumb"; filename="thumb.jpg"\r\n',
    b"Content-Type: application/json; charset=utf-16\r\n",
    b"Content-Type: application/json; charset=bogus\r\n",
    b"Content-Type: multipart/mixed; boundary=zz\r\n",
    b"Content-Type: multipart/form-data\r\n",
    b"Content-Transfer-Encoding: base64\r\n", b"Content-Transfer-Encoding: quoted-printable\r\n",
    b"Content-Transfer-Encoding: x-uuencode\r\n", b"=?utf-8?b?AAAA?=", b"=?bogus?q?x?=",
    b"begin 644 x\r\n", b"--", b"--\r\n", b"\r\n--zz\r\n", b"\r\n--zz--\r\n",
]
XML_TOKENS = [
    b"<", b">", b"/>", b"&", b"&amp;", b"&#0;", b"&#x110000;", b"&#xD800;", b"&bogus;",
    b"<!--", b"-->", b"<![CDATA[", b"]]>", b"<?pi x?>",
    b'<?xml version="1.0" encoding="shift_jis"?>', b'<?xml version="1.0" encoding="bogus"?>',
    b'<?xml version="1.0" encoding="utf-16"?>', b'<?xml version="1.0" encoding="latin-1"?>',
    b"<!DOCTYPE x>", b'<!DOCTYPE x [<!ENTITY a "b">]>', b'<!ENTITY a "b">', b"&a;",
    b'<Player machineIdentifier="x" state="playing"/>', b"<Player>", b"</Player>",
    b'<Track sessionKey="99999999999999999999999">', b"</Track>", b"<MediaContainer>",
    b"</MediaContainer>", b'viewOffset="1e999"', b'duration="-5"', b'duration="nan"',
    b'sessionKey="\xd9\xa3"', b'sessionKey="\xef\xbc\x91"', b'xmlns:a="b"', b"<a:b/>",
    b'<Timeline type="music" state="playing">', b"</Timeline>", b'<Track title="x"/>',
    b'time="' + b"9" * 5000 + b'"', b'state="error"', b'type="music"', b"<x>" * 2000,
]


def _insert(rng, data, piece):
    at = rng.randint(0, len(data))
    return data[:at] + piece + data[at:]


def mutate(rng, data, tokens):
    """Apply one to four random mutations to ``data`` (bytes)."""
    for _ in range(rng.randint(1, 4)):
        choice = rng.random()
        if not data:
            data = bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 16)))
        elif choice < 0.2:
            data = bytearray(data)
            for _ in range(rng.randint(1, 8)):
                at = rng.randrange(len(data))
                data[at] ^= 1 << rng.randrange(8) if rng.random() < 0.7 else rng.getrandbits(8)
            data = bytes(data)
        elif choice < 0.3:
            data = data[:rng.randint(0, len(data))]
        elif choice < 0.4:
            start = rng.randrange(len(data))
            end = min(len(data), start + rng.randint(1, 200))
            data = data[:end] + data[start:end] * rng.randint(1, 4) + data[end:]
        elif choice < 0.5:
            start = rng.randrange(len(data))
            data = data[:start] + data[start + rng.randint(1, 64):]
        elif choice < 0.6:
            data = _insert(rng, data, bytes(rng.getrandbits(8)
                                            for _ in range(rng.randint(1, 32))))
        elif choice < 0.9:
            data = _insert(rng, data, rng.choice(tokens))
        else:
            # Replace a run of digits with a huge or odd number.
            numbers = [m.span() for m in re.finditer(rb"\d+", data)]
            if numbers:
                start, end = rng.choice(numbers)
                data = data[:start] + rng.choice([b"9" * 30, b"1e999", b"-1", b"0" * 50,
                                                  b"1.5", b"\xd9\xa3"]) + data[end:]
    return data


WEIRD_VALUES = [None, True, 0, -1, 10 ** 300, 1.5, float("inf"), float("nan"), "", "x" * 5000,
                "\u0000\u001b[2J\n", "\ud800", "\u202e", [], {}, [[[[]]]], {"a": {"b": {}}},
                ["media.play"], {"uuid": "x"}]


def mutate_tree(rng, value, depth=0):
    """Replace random members of a JSON tree with values of the wrong type."""
    if isinstance(value, dict):
        result = {}
        for key, member in value.items():
            roll = rng.random()
            if roll < 0.08:
                continue
            if roll < 0.2:
                result[key] = rng.choice(WEIRD_VALUES)
            else:
                result[key] = mutate_tree(rng, member, depth + 1)
        if rng.random() < 0.1:
            result[rng.choice(["event", "Player", "Metadata", "uuid", "title", "ratingKey",
                               "Account", "Event", "player"])] = rng.choice(WEIRD_VALUES)
        return result
    if isinstance(value, list):
        return [mutate_tree(rng, member, depth + 1) for member in value]
    if rng.random() < 0.05:
        return rng.choice(WEIRD_VALUES)
    return value


def dumps(value):
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    return text.encode("utf-8", "surrogatepass")


CONTENT_TYPES = ["application/json", "", "text/json", "application/x-www-form-urlencoded",
                 "text/plain", "multipart/form-data", "multipart/form-data; boundary=",
                 "multipart/form-data; boundary=\"\"", "multipart/mixed; boundary=x",
                 "application/json; charset=utf-16", "application/octet-stream", ";;;",
                 "multipart/form-data; boundary=" + "x" * 300, "\u00e9/\u00e9"]


def payload_case(rng, payload_bytes):
    """A (content_type, body) webhook built around ``payload_bytes``, then mutated."""
    kind = rng.random()
    if kind < 0.55:
        boundary = webhooks.make_boundary(rng)
        thumb = THUMB if rng.random() < 0.3 else None
        content_type, body = webhooks.multipart_body(payload_bytes, thumb, boundary)
        tokens = GENERIC_TOKENS + MULTIPART_TOKENS + [
            b"--" + boundary.encode(), b"\r\n--" + boundary.encode() + b"--\r\n",
            b"--" + boundary.encode()[:-3]]
        body = mutate(rng, body, tokens)
        if rng.random() < 0.15:
            content_type = mutate(rng, content_type.encode("latin-1"),
                                  [b'"', b";", b"boundary=", b" ", b"\\"]).decode("latin-1")
        return content_type, body
    if kind < 0.75:
        body = mutate(rng, payload_bytes, GENERIC_TOKENS + JSON_TOKENS)
        return rng.choice(["application/json", "", "text/json"]), body
    if kind < 0.9:
        from urllib.parse import quote_from_bytes

        body = b"payload=" + quote_from_bytes(payload_bytes).encode("ascii")
        if rng.random() < 0.5:
            body += b"&payload=" + payload_bytes
        body = mutate(rng, body, GENERIC_TOKENS + JSON_TOKENS)
        return "application/x-www-form-urlencoded", body
    body = mutate(rng, payload_bytes, GENERIC_TOKENS)
    return rng.choice(CONTENT_TYPES), body


class Failures:
    """Collects distinct unexpected outcomes; reports each with its seed and case."""

    def __init__(self, what):
        self.what = what
        self.found = {}
        self.count = 0

    def add(self, case, case_seed, outcome, data):
        self.count += 1
        key = re.sub(r"\d+", "N", outcome)[:48]
        if key not in self.found:
            shown = data if len(repr(data)) < 300 else data[:200]
            self.found[key] = "case %d (case seed %d): %s\n    input%s: %r" % (
                case, case_seed, outcome, "" if shown is data else " (first 200)", shown)

    def check(self, testcase):
        if self.found:
            testcase.fail("%s: %d of the cases went wrong, %d distinct; SBZ_FUZZ_SEED=%d\n  %s"
                          % (self.what, self.count, len(self.found), SEED,
                             "\n  ".join(list(self.found.values())[:8])))


def cases(salt, n):
    """``n`` (case number, case seed, Random) triples for one fuzz target."""
    master = random.Random("%d:%s" % (SEED, salt))
    for case in range(n):
        case_seed = master.getrandbits(48)
        yield case, case_seed, random.Random(case_seed)


def replay(salt, case):
    """The Random a given case of a target used, to replay it by hand."""
    for number, _, rng in cases(salt, case + 1):
        if number == case:
            return rng
    raise ValueError(case)


def describe(err):
    return "%s: %s" % (type(err).__name__, str(err)[:120])


class ParserFuzzTest(unittest.TestCase):

    def setUp(self):
        self.payloads = [webhooks.fixture(name) for name in PAYLOADS]
        self.sessions = [webhooks.fixture(name) for name in SESSIONS]

    def check_event(self, event):
        self.assertIsInstance(event, Trigger)
        for field in ("event", "machine_id", "player", "account", "track.title",
                      "track.artist", "track.album", "track.rating_key"):
            value = event
            for name in field.split("."):
                value = getattr(value, name)
            if not isinstance(value, str):
                return "Trigger.%s is %s, not str" % (field, type(value).__name__)
        payloads.triage(event, frozenset(["bc97b983-8169-47e3-bbcc-54a12d662546"]))
        return None

    def test_payload_parse_byte_mutants(self):
        failures = Failures("payloads.parse on byte mutants")
        parsed = refused = 0
        for case, case_seed, rng in cases("payload-bytes", 2500):
            content_type, body = payload_case(rng, rng.choice(self.payloads))
            try:
                event = payloads.parse(content_type, body)
            except PayloadError:
                refused += 1
                continue
            except Exception as err:  # noqa: BLE001 - anything else is the bug we look for
                failures.add(case, case_seed, describe(err), (content_type, body))
                continue
            parsed += 1
            problem = self.check_event(event)
            if problem:
                failures.add(case, case_seed, problem, (content_type, body))
        failures.check(self)
        # The mutants must exercise both outcomes, or the fuzzer tests nothing.
        self.assertGreater(parsed, 200)
        self.assertGreater(refused, 200)

    def test_payload_parse_structure_mutants(self):
        failures = Failures("payloads.parse on JSON-structure mutants")
        trees = [json.loads(data) for data in self.payloads]
        for case, case_seed, rng in cases("payload-tree", 1500):
            try:
                body = dumps(mutate_tree(rng, rng.choice(trees)))
            except ValueError:
                continue  # a number too long for this Python's int-to-str limit
            content_type, body = payload_case(rng, body) if rng.random() < 0.3 else (
                rng.choice(["application/json", "multipart"]), body)
            if content_type == "multipart":
                content_type, body = webhooks.multipart_body(body, None,
                                                             webhooks.make_boundary(rng))
            try:
                event = payloads.parse(content_type, body)
            except PayloadError:
                continue
            except Exception as err:  # noqa: BLE001
                failures.add(case, case_seed, describe(err), (content_type, body))
                continue
            problem = self.check_event(event)
            if problem:
                failures.add(case, case_seed, problem, (content_type, body))
        failures.check(self)

    def test_parse_sessions_mutants(self):
        failures = Failures("plex.parse_sessions")
        ok = 0
        for case, case_seed, rng in cases("sessions", 2500):
            data = mutate(rng, rng.choice(self.sessions), GENERIC_TOKENS + XML_TOKENS)
            try:
                sessions = plex.parse_sessions(data)
            except PlexError as err:
                if err.kind != "malformed":
                    failures.add(case, case_seed, "PlexError kind %r" % err.kind, data)
                continue
            except Exception as err:  # noqa: BLE001
                failures.add(case, case_seed, describe(err), data)
                continue
            ok += 1
            if not isinstance(sessions, list) or not all(
                    isinstance(s, plex.Session) for s in sessions):
                failures.add(case, case_seed, "not a list of Session: %r" % (sessions,), data)
                continue
            for session in sessions:
                if not (isinstance(session.track.duration_ms, int) and session.track.duration_ms >= 0
                        and isinstance(session.position_ms, int)
                        and session.position_ms >= 0):
                    failures.add(case, case_seed, "bad numbers in %r" % (session,), data)
            try:
                plex.current_by_player(sessions)
            except Exception as err:  # noqa: BLE001
                failures.add(case, case_seed, "current_by_player: " + describe(err), data)
        failures.check(self)
        self.assertGreater(ok, 100, "too few mutants parsed: the fuzzer would test little")

    def notification_bases(self):
        machine = "bc97b983-8169-47e3-bbcc-54a12d662546"
        first = play_notification(machine, "playing")
        second = play_notification("5e1d7c2a-3b4f-4c6d-8e9f-0a1b2c3d4e5f", "paused", "60", "77")
        return [json.dumps(bare(first)).encode(), json.dumps(wrapped(first, second)).encode(),
                json.dumps(wrapped(first)).encode(), b"{}"]

    def test_play_notifications_and_triggers_never_raise(self):
        failures = Failures("notifications.play_notifications / to_trigger")
        bases = self.notification_bases()
        tokens = GENERIC_TOKENS + [b'"viewOffset":1e999,', b'"viewOffset":Infinity,',
                                   b'"clientIdentifier":' + b"7" * 5000 + b",",
                                   b'"state":null,', b'"NotificationContainer":',
                                   b'"PlaySessionStateNotification":']
        for case, case_seed, rng in cases("notifications", 2500):
            data = mutate(rng, rng.choice(bases), tokens).decode("utf-8", "replace")
            try:
                items = notifications.play_notifications(data)
            except Exception as err:  # noqa: BLE001
                failures.add(case, case_seed, describe(err), data)
                continue
            if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
                failures.add(case, case_seed, "not a list of dicts: %r" % (items,), data)
                continue
            for item in items:
                try:
                    trigger = notifications.to_trigger(item, 1.0)
                except Exception as err:  # noqa: BLE001
                    failures.add(case, case_seed, "to_trigger: " + describe(err), data)
                    continue
                if trigger is not None and not (isinstance(trigger.machine_id, str)
                                                and isinstance(trigger.position_ms, int)):
                    failures.add(case, case_seed, "odd trigger %r" % (trigger,), data)
        failures.check(self)

    def test_sse_lines_never_raise(self):
        failures = Failures("notifications.sse_events")
        stream = (b"retry: 3000\n\n: hi\n\n" + sse_event("ping", "{}")
                  + sse_event("playing", bare(play_notification("x", "paused")))
                  + sse_event("playing", "a\nb"))
        for case, case_seed, rng in cases("sse", 800):
            data = mutate(rng, stream, GENERIC_TOKENS + [b"event:", b"data:", b"\n\n", b":"])
            try:
                events = list(notifications.sse_events(data.splitlines(keepends=True)))
            except Exception as err:  # noqa: BLE001
                failures.add(case, case_seed, describe(err), data)
                continue
            for event, text in events:
                if not (isinstance(event, str) and isinstance(text, str)):
                    failures.add(case, case_seed, "not str: %r" % ((event, text),), data)
        failures.check(self)

    def test_plexamp_timeline_and_resources(self):
        failures = Failures("plexamp.parse_timeline / parse_resources")
        playing = Timeline("playing", 12345, 200000, "42", "Heroes", "David Bowie", '"Heroes"')
        bases = [timeline_xml(7, playing), timeline_xml(8, STOPPED),
                 timeline_xml(9, playing._replace(state="paused"))]
        resources = resources_xml()
        ok = 0
        for case, case_seed, rng in cases("plexamp", 1500):
            data = mutate(rng, rng.choice(bases), GENERIC_TOKENS + XML_TOKENS)
            try:
                timeline = plexamp.parse_timeline(data)
            except PlexError:
                pass
            except Exception as err:  # noqa: BLE001
                failures.add(case, case_seed, "parse_timeline: " + describe(err), data)
            else:
                ok += 1
                if not (isinstance(timeline, plexamp.Timeline)
                        and isinstance(timeline.position_ms, int)
                        and isinstance(timeline.track.duration_ms, int)
                        and isinstance(timeline.state, str)):
                    failures.add(case, case_seed, "odd timeline %r" % (timeline,), data)
            if case % 3 == 0:
                data = mutate(rng, resources, GENERIC_TOKENS + XML_TOKENS)
                try:
                    identity = plexamp.parse_resources(data)
                except PlexError:
                    continue
                except Exception as err:  # noqa: BLE001
                    failures.add(case, case_seed, "parse_resources: " + describe(err), data)
                    continue
                if not (isinstance(identity, tuple) and len(identity) == 3 and identity[0]):
                    failures.add(case, case_seed, "odd identity %r" % (identity,), data)
        failures.check(self)
        self.assertGreater(ok, 100)


class DaemonFuzzTest(unittest.TestCase):
    """A few hundred mutants over HTTP: answered 2xx or 4xx, and the daemon carries on."""

    COUNT = 300

    def test_mutants_over_http(self):
        stub = start_stub(self, webhooks.fixture("sessions_track.xml"))
        daemon = start_daemon(self, stub, machine_id=None, log_level="info",
                              extra_args=["-plex-timeout", "2"])
        self.assertTrue(stub.wait_for_count(1, 5), daemon.log())
        bodies = [webhooks.fixture(name) for name in PAYLOADS]
        requests = []
        for case, case_seed, rng in cases("http", self.COUNT):
            content_type, body = payload_case(rng, rng.choice(bodies))
            content_type = re.sub(r"[\r\n\x00]", "", content_type)
            requests.append((case, case_seed, content_type, body))

        def send(request):
            case, case_seed, content_type, body = request
            connection = http.client.HTTPConnection("127.0.0.1", daemon.port, timeout=5)
            try:
                headers = {"User-Agent": webhooks.PLEX_USER_AGENT,
                           "Content-Length": str(len(body))}
                if content_type or case % 7:
                    headers["Content-Type"] = content_type
                connection.request("POST", webhooks.WEBHOOK_PATH, body=body, headers=headers)
                answer = connection.getresponse()
                data = answer.read()
                return case, case_seed, answer.status, data, None
            except (OSError, http.client.HTTPException) as err:
                return case, case_seed, None, b"", describe(err)
            finally:
                connection.close()

        failures = Failures("daemon answers to mutants")
        statuses = {}
        with concurrent.futures.ThreadPoolExecutor(4) as pool:
            for case, case_seed, status, data, error in pool.map(send, requests):
                statuses[status] = statuses.get(status, 0) + 1
                if error is not None:
                    failures.add(case, case_seed, "connection dropped: " + error,
                                 requests[case][2:])
                elif not (200 <= status < 300 or 400 <= status < 500):
                    failures.add(case, case_seed, "answered %d %r" % (status, data[:200]),
                                 requests[case][2:])
        failures.check(self)
        self.assertGreater(statuses.get(200, 0), 20, statuses)
        self.assertGreater(statuses.get(400, 0), 20, statuses)
        # Still up and answering; the fetcher caught up with whatever was queued.
        status, _, body = webhooks.get(daemon.port, "/healthz")
        self.assertEqual(status, 200, body)
        count = stub.count
        status, _, body = webhooks.post(daemon.port)
        self.assertEqual(status, 200, body)
        self.assertTrue(stub.wait_for_count(count + 1, 10), daemon.log())
        self.assertTrue(daemon.running())
        log = daemon.log()
        for bad in ("HTTP handler failed", "failed; carrying on", "Traceback",
                    "action handler failed"):
            self.assertNotIn(bad, log)
        started = time.monotonic()
        daemon.terminate()
        self.assertEqual(daemon.wait_exit(5), 0)
        self.assertLess(time.monotonic() - started, 2.5)


if __name__ == "__main__":
    unittest.main()
