"""End to end: webhooks in, ``Plex state changed`` lines and HTTP answers out.

Each test runs the real daemon as a subprocess beside a stand-in Plex
server on loopback, posts webhooks built the way Plex Media Server builds
them, and reads the daemon's log and answers. Nothing sleeps: every wait
is for a condition, with a deadline.
"""

import json
import re
import threading
import time
import unittest
import urllib.parse

from tests.support import webhooks
from tests.support.daemon import (MACHINE_ID, E2ECase, parse_log_line, run_cli, state_changes,
                                  state_pattern, wait_for)
from tests.support.webhooks import fixture

TITLE = "Once in a Lifetime"
ARTIST = "Talking Heads"
ALBUM = "Once in a Lifetime: The Best Of"
NEXT_TITLE = "Burning Down the House"


def next_track_payload():
    """The media.play Plex sends when the queue moves on to the next track."""
    payload = json.loads(fixture("payload_play.json"))
    payload["Metadata"].update(ratingKey="6261", key="/library/metadata/6261",
                               title=NEXT_TITLE, index=4)
    return json.dumps(payload, separators=(",", ":")).encode("utf-8")


class PlaybackStateTests(E2ECase):
    """The webhook event decides the state; the session supplies the rest."""

    def assert_track(self, fields, state, title=TITLE, session_key="53", rating_key="6260",
                     duration_ms="259560"):
        self.assertEqual(fields["state"], state)
        self.assertEqual(fields["title"], title)
        self.assertEqual(fields["artist"], ARTIST)
        self.assertEqual(fields["album"], ALBUM)
        self.assertEqual(fields["duration_ms"], duration_ms)
        self.assertEqual(fields["session_key"], session_key)
        self.assertEqual(fields["rating_key"], rating_key)
        self.assertEqual(fields["player"], "Office")
        self.assertEqual(fields["product"], "Plexamp")
        self.assertEqual(fields["machine_id"], MACHINE_ID)
        self.assertRegex(fields["position_ms"], r"^\d+$")

    def send_and_wait_fetch(self, payload_name):
        """Send a webhook and wait until the fetch it causes has reached Plex."""
        before = self.stub.count
        self.send(payload_name)
        self.assertTrue(self.stub.wait_for_count(before + 1, 5), self.daemon.log())

    def test_play_pause_resume_next_track_stop(self):
        self.start_plex_and_daemon("sessions_empty.xml")

        self.set_sessions("sessions_track.xml")
        self.send("payload_play.json", thumb=True)
        playing = self.wait_state("playing")
        self.assert_track(playing, "playing")
        self.assertGreaterEqual(int(playing["position_ms"]), 30496)
        self.assertLess(int(playing["position_ms"]), 259560)
        found = self.daemon.wait_for_line("Plex session found")
        found = parse_log_line(found).fields
        self.assertEqual((found["title"], found["artist"], found["album"], found["player"]),
                         (TITLE, ARTIST, ALBUM, "Office"))
        self.assertEqual(found["state"], "playing")
        self.assertEqual(found["duration_ms"], "259560")
        # The same webhook again (Plex or a second hook) is not a change.
        self.send_and_wait_fetch("payload_play.json")

        self.set_sessions("sessions_track_paused.xml")
        self.send("payload_pause.json")
        paused = self.wait_state("paused")
        self.assert_track(paused, "paused")
        self.assertEqual(paused["position_ms"], "30496")
        self.send_and_wait_fetch("payload_pause.json")

        self.set_sessions("sessions_track.xml")
        self.send("payload_resume.json")
        self.wait_state("playing", n=2)

        self.set_sessions("sessions_next_track.xml")
        content_type, body = webhooks.multipart_body(next_track_payload(), fixture("thumb.jpg"))
        self.check_accepted(*webhooks.post(self.daemon.port, body, content_type))
        self.wait_state("playing", n=3)
        self.send_and_wait_fetch("payload_play.json")

        self.set_sessions("sessions_empty.xml")
        self.send("payload_stop.json")
        stopped = self.wait_state("stopped")
        self.assert_track(stopped, "stopped", title=NEXT_TITLE, session_key="54",
                          rating_key="6261", duration_ms="263280")
        self.send_and_wait_fetch("payload_stop.json")
        # A last, distinct change as a barrier: every line the duplicates
        # could have caused is logged before it.
        self.set_sessions("sessions_track.xml")
        self.send("payload_play.json")
        self.wait_state("playing", n=4)

        self.assertEqual(self.changes(), [
            ("playing", TITLE),
            ("paused", TITLE),
            ("playing", TITLE),
            ("playing", NEXT_TITLE),
            ("stopped", NEXT_TITLE),
            ("playing", TITLE),
        ], self.daemon.log())
        next_line = state_changes(self.daemon)[3]
        self.assert_track(next_line, "playing", title=NEXT_TITLE, session_key="54",
                          rating_key="6261", duration_ms="263280")

    def test_stop_after_the_session_vanished_reports_the_last_track(self):
        self.start_plex_and_daemon("sessions_track.xml")
        self.wait_state("playing")
        self.set_sessions("sessions_empty.xml")
        self.send("payload_stop.json")
        stopped = self.wait_state("stopped")
        self.assert_track(stopped, "stopped")
        self.send_and_wait_fetch("payload_stop.json")
        self.set_sessions("sessions_track.xml")
        self.send("payload_play.json")
        self.wait_state("playing", n=2)
        self.assertEqual(self.changes(), [("playing", TITLE), ("stopped", TITLE),
                                          ("playing", TITLE)])

    def test_session_vanished_without_stop_is_stopped_at_the_next_trigger(self):
        self.start_plex_and_daemon("sessions_track_paused.xml")
        paused = self.wait_state("paused")
        self.assertEqual(paused["position_ms"], "30496")
        self.set_sessions("sessions_empty.xml")
        self.send(None)  # a manual curl -X POST: "look again"
        stopped = self.wait_state("stopped")
        self.assert_track(stopped, "stopped")
        self.assertEqual(stopped["position_ms"], "30496")
        self.assertEqual(self.changes(), [("paused", TITLE), ("stopped", TITLE)])

    def test_highest_session_key_is_the_current_session(self):
        self.start_plex_and_daemon("sessions_many.xml")
        playing = self.wait_state("playing")
        self.assert_track(playing, "playing")
        self.set_sessions("sessions_track_paused.xml")
        self.send("payload_pause.json")
        self.wait_state("paused")
        # Only the followed player is reported, and never its stale session.
        for fields in state_changes(self.daemon):
            self.assertEqual(fields["machine_id"], MACHINE_ID)
            self.assertEqual(fields["title"], TITLE)
        self.assertNotIn("Psycho Killer", self.daemon.log())
        self.assertNotIn("Big Buck Bunny", self.daemon.log())

    def test_missing_attributes_do_not_crash(self):
        self.start_plex_and_daemon("sessions_missing_attrs.xml")
        self.send("payload_play.json")
        playing = self.wait_state("playing")
        self.assertEqual(playing["title"], "Houses in Motion")
        self.assertEqual(playing["session_key"], "60")
        self.assertEqual(playing["duration_ms"], "0")
        # Still serving, and nothing went wrong inside.
        status, _, _ = webhooks.get(self.daemon.port, "/healthz")
        self.assertEqual(status, 200)
        self.assertTrue(self.daemon.running())
        self.assertEqual(self.daemon.count("Traceback"), 0, self.daemon.log())
        self.assertEqual(self.daemon.count("[ERROR]"), 0, self.daemon.log())

    def test_thumb_with_boundary_lookalikes_does_not_confuse_the_parser(self):
        # thumb.jpg holds CRLF--, dash lines, a closing-boundary lookalike and
        # a fake 'name="payload"' part saying media.stop.
        self.start_plex_and_daemon("sessions_empty.xml")
        self.set_sessions("sessions_track.xml")
        self.send("payload_play.json", thumb=True)
        self.wait_state("playing")
        self.set_sessions("sessions_track_paused.xml")
        self.send("payload_pause.json")
        self.wait_state("paused")
        self.assertEqual(self.changes(), [("playing", TITLE), ("paused", TITLE)])

    def test_hostile_title_cannot_forge_a_log_line(self):
        self.start_plex_and_daemon("sessions_empty.xml")
        self.set_sessions("sessions_title_hostile.xml")
        self.send("payload_title_hostile.json", thumb=True)
        line = self.daemon.wait_for_line(state_pattern("playing"))
        hostile = 'Say "Hi"\n2025-01-01T00:00:00Z [ERROR] fake level=error msg=forged'
        self.assertIn(r'title="Say \"Hi\"\n2025-01-01T00:00:00Z [ERROR] fake level=error '
                      r'msg=forged"', line)
        record = parse_log_line(line)  # raises on any word after the fields that is no key=value
        self.assertEqual(record.level, "INFO")
        self.assertEqual(record.fields["title"], hostile)
        self.assertNotIn("level", record.fields)
        self.assertNotIn("msg", record.fields)
        for text in self.daemon.lines():
            self.assertFalse(text.startswith("2025-01-01T00:00:00Z"), text)
            if "msg=forged" in text:
                self.assertIn(r'\n2025-01-01T00:00:00Z [ERROR] fake level=error msg=forged"',
                              text)
            parsed = parse_log_line(text)
            self.assertIsNotNone(parsed, text)
            self.assertNotEqual(parsed.level, "ERROR", text)

    def test_fetch_carries_the_token_in_a_header_only(self):
        self.start_plex_and_daemon("sessions_track.xml")
        self.wait_state("playing")
        requests = self.stub.session_requests()
        self.assertGreaterEqual(len(requests), 1)
        for request in requests:
            headers = {k.lower(): v for k, v in request.headers.items()}
            self.assertEqual(request.method, "GET")
            self.assertEqual(request.raw_path, "/status/sessions")
            self.assertEqual(headers.get("x-plex-token"), self.daemon.token)
            self.assertIn("application/xml", headers.get("accept", ""))
            self.assertTrue(headers.get("x-plex-client-identifier"))
            self.assertTrue(headers.get("x-plex-product"))


class WebhookTriageTests(E2ECase):
    """Which webhooks cause a fetch, and which are acknowledged and dropped."""

    def barrier(self, expected_fetches_since, base):
        """Pause our player and wait for the line; then check how many fetches happened."""
        self.set_sessions("sessions_track_paused.xml")
        self.send("payload_pause.json")
        self.wait_state("paused")
        self.assertEqual(self.stub.count - base, expected_fetches_since + 1,
                         "unexpected fetches\n" + self.daemon.log())

    def start_playing(self):
        self.start_plex_and_daemon("sessions_track.xml")
        self.wait_state("playing")
        return self.stub.count

    def test_foreign_player_is_dropped_without_a_fetch(self):
        base = self.start_playing()
        self.send("payload_foreign_play.json", thumb=True, expect="ignored")
        self.assertEqual(self.stub.count, base)
        self.barrier(0, base)
        self.assertNotIn("Heroes", "\n".join(str(c) for c in state_changes(self.daemon)))

    def test_library_new_is_dropped_without_a_fetch(self):
        base = self.start_playing()
        self.send("payload_library_new.json", thumb=True, expect="ignored")
        self.barrier(0, base)

    def test_webhook_created_is_logged_without_a_fetch(self):
        base = self.start_playing()
        self.send("payload_webhook_created.json", expect="ignored")
        line = self.daemon.wait_for_line("[INFO] Plex webhook test received")
        self.assertNotIn(self.daemon.token, line)
        self.barrier(0, base)

    def test_empty_post_asks_for_a_fetch(self):
        base = self.start_playing()
        self.send(None)
        self.assertTrue(self.stub.wait_for_count(base + 1, 5), self.daemon.log())
        self.barrier(1, base)
        self.assertEqual(self.changes(), [("playing", TITLE), ("paused", TITLE)])

    def test_urlencoded_body(self):
        self.start_playing()
        self.set_sessions("sessions_track_paused.xml")
        body = urllib.parse.urlencode({"payload": fixture("payload_pause.json").decode()})
        self.check_accepted(*webhooks.post(self.daemon.port, body.encode("ascii"),
                                           "application/x-www-form-urlencoded"))
        self.wait_state("paused")

    def test_json_body(self):
        self.start_playing()
        self.set_sessions("sessions_track_paused.xml")
        self.check_accepted(*webhooks.post(self.daemon.port, fixture("payload_pause.json"),
                                           "application/json"))
        self.wait_state("paused")

    def test_burst_of_concurrent_webhooks(self):
        base = self.start_playing()
        self.stub.set_delay(0.03)
        content_type, body = webhooks.multipart_body(fixture("payload_play.json"),
                                                     fixture("thumb.jpg"))
        answers, errors = [], []
        lock = threading.Lock()
        go = threading.Event()

        def one():
            go.wait(5)
            try:
                answer = webhooks.post(self.daemon.port, body, content_type, timeout=10)
            except Exception as err:  # reported below with the others
                answer = None
                with lock:
                    errors.append(repr(err))
            with lock:
                answers.append(answer)

        threads = [threading.Thread(target=one, daemon=True) for _ in range(100)]
        for thread in threads:
            thread.start()
        started = time.monotonic()
        go.set()
        for thread in threads:
            thread.join(15)
        self.burst_s = time.monotonic() - started
        self.assertEqual(errors, [])
        statuses = sorted(answer[0] for answer in answers)
        self.assertEqual(statuses, [200] * 100, [a for a in answers if a[0] != 200][:3])
        for status, headers, data in answers:
            self.assertEqual(json.loads(data.decode())["status"], "queued")
        self.barrier_after_burst(base)

    def barrier_after_burst(self, base):
        self.stub.set_delay(0)
        self.set_sessions("sessions_track_paused.xml")
        self.send("payload_pause.json")
        self.wait_state("paused", timeout=10)
        fetches = self.stub.count - base
        self.assertGreaterEqual(fetches, 2, self.daemon.log())
        # One fetch at a time, back to back while webhooks keep coming: at
        # most about one per 30 ms the burst lasted (plus the barrier's),
        # and on any reasonable machine no more than ten.
        limit = max(10, int(self.burst_s / 0.03) + 3)
        self.assertLessEqual(fetches, limit, "a burst of 100 webhooks over %.3fs cost %d "
                             "fetches" % (self.burst_s, fetches))
        self.assertEqual(self.stub.max_in_flight, 1, "fetches must not overlap")
        self.assertEqual(self.changes(), [("playing", TITLE), ("paused", TITLE)])


class HttpAnswerTests(E2ECase):
    """What the HTTP side answers to bad, odd and health requests."""

    def setUp(self):
        self.start_plex_and_daemon("sessions_empty.xml")
        self.base = self.stub.count

    def assert_json_error(self, status, headers, body, expected_status):
        self.assertEqual(status, expected_status, body)
        self.assertEqual(headers.get("content-type", "").split(";")[0], "application/json")
        answer = json.loads(body.decode("utf-8"))
        self.assertIsInstance(answer.get("error"), str)
        self.assertTrue(answer["error"])
        return answer

    def assert_still_serving_without_fetch(self):
        status, _, _ = webhooks.get(self.daemon.port, "/healthz")
        self.assertEqual(status, 200)
        self.assertEqual(self.stub.count, self.base)

    def test_payload_not_json_is_400(self):
        content_type, body = webhooks.multipart_body(b"{not json at all")
        self.assert_json_error(*webhooks.post(self.daemon.port, body, content_type), 400)
        self.assert_json_error(*webhooks.post(self.daemon.port, b"<xml/>", "application/json"),
                               400)
        self.assert_still_serving_without_fetch()

    def test_multipart_without_payload_part_is_400(self):
        boundary = webhooks.make_boundary()
        body = webhooks.multipart(webhooks.form_part("thumb", fixture("thumb.jpg"), "thumb.jpg",
                                                     "image/jpeg"), boundary=boundary)
        self.assert_json_error(*webhooks.post(
            self.daemon.port, body, webhooks.multipart_content_type(boundary)), 400)
        self.assert_still_serving_without_fetch()

    def test_truncated_body_is_400(self):
        content_type, body = webhooks.multipart_body(fixture("payload_play.json"),
                                                     fixture("thumb.jpg"))
        sent = body[:len(body) // 2]
        head = ("POST /webhooks/plex HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUser-Agent: %s\r\n"
                "Content-Type: %s\r\nContent-Length: %d\r\n\r\n"
                % (self.daemon.port, webhooks.PLEX_USER_AGENT, content_type, len(body)))
        answer = webhooks.raw_exchange(self.daemon.port, head.encode("ascii") + sent,
                                       half_close=True)
        self.assert_json_error(*answer, 400)
        self.assert_still_serving_without_fetch()

    def test_body_over_the_limit_is_413_without_reading_it(self):
        head = ("POST /webhooks/plex HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUser-Agent: %s\r\n"
                "Content-Type: multipart/form-data; boundary=%s\r\nContent-Length: %d\r\n\r\n"
                % (self.daemon.port, webhooks.PLEX_USER_AGENT, webhooks.make_boundary(),
                   9 * 1024 * 1024))
        # No body follows: the answer must come from the headers alone.
        answer = webhooks.raw_exchange(self.daemon.port, head.encode("ascii"), timeout=5)
        self.assert_json_error(*answer, 413)
        self.assert_still_serving_without_fetch()

    def test_unknown_path_is_404(self):
        for method, path in (("GET", "/nope"), ("POST", "/webhooks/plex/extra"),
                             ("POST", "/webhooks"), ("GET", "/status/sessions")):
            with self.subTest(method=method, path=path):
                self.assert_json_error(*webhooks.request(self.daemon.port, method, path), 404)
        self.assert_still_serving_without_fetch()

    def test_wrong_method_is_405_with_allow(self):
        status, headers, body = webhooks.get(self.daemon.port, "/webhooks/plex")
        self.assert_json_error(status, headers, body, 405)
        self.assertIn("POST", headers.get("allow", ""))
        for method, path in (("POST", "/healthz"), ("DELETE", "/"), ("PUT", "/webhooks/plex")):
            with self.subTest(method=method, path=path):
                status, headers, body = webhooks.request(self.daemon.port, method, path)
                self.assert_json_error(status, headers, body, 405)
                self.assertTrue(headers.get("allow"), headers)
                self.assertNotIn(method, re.split(r"[ ,]+", headers["allow"]))
        status, headers, _ = webhooks.request(self.daemon.port, "POST", "/healthz")
        self.assertIn("GET", headers.get("allow", ""))
        self.assert_still_serving_without_fetch()

    def test_a_garbage_request_line_gets_a_real_400(self):
        # Not the HTTP/0.9 fallback of http.server: a status line and headers.
        answer = webhooks.raw_exchange(self.daemon.port, b"garbage\r\n\r\n")
        self.assert_json_error(*answer, 400)
        self.assert_still_serving_without_fetch()

    def test_an_unknown_method_is_the_clients_mistake(self):
        status, headers, body = webhooks.request(self.daemon.port, "BREW", "/healthz")
        self.assert_json_error(status, headers, body, 405)
        self.assertIn("GET", headers.get("allow", ""))
        self.assert_json_error(*webhooks.request(self.daemon.port, "BREW", "/pot"), 404)
        self.assert_still_serving_without_fetch()

    def test_healthz_and_root(self):
        version = run_cli(["-version"]).stdout.split()[-1]
        for path in ("/healthz", "/"):
            with self.subTest(path=path):
                status, headers, body = webhooks.get(self.daemon.port, path)
                self.assertEqual(status, 200, body)
                self.assertEqual(headers.get("content-type", "").split(";")[0],
                                 "application/json")
                health = json.loads(body.decode("utf-8"))
                for key in ("status", "version", "plex_enabled", "last_fetch"):
                    self.assertIn(key, health)
                self.assertEqual(health["version"], version)
                self.assertIs(health["plex_enabled"], True)
                self.assertNotIn(self.daemon.token, body.decode("utf-8"))
        # After the first fetch, the last fetch's outcome is there to see.
        self.assertTrue(wait_for(lambda: self._last_fetch_known(), 5), self.daemon.log())

    def _last_fetch_known(self):
        _, _, body = webhooks.get(self.daemon.port, "/healthz")
        last = json.loads(body.decode("utf-8"))["last_fetch"]
        if isinstance(last, dict):
            return last.get("outcome", last.get("status")) not in (None, "never", "")
        return last not in (None, "", "never")


if __name__ == "__main__":
    unittest.main()
