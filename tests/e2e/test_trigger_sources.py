"""End to end: the trigger sources that need no Plex Pass (issue 4).

Plex's notification stream (``-plex-notifications``), a poll timer
(``-plex-poll-interval``) and the local Plexamp player's timeline
(``-plexamp-url``), each against a stand-in from ``tests/support/sources.py``
and without a single webhook.
"""

import json
import re
import time
import unittest

from tests.support import webhooks
from tests.support.daemon import (FOREIGN_MACHINE_ID, MACHINE_ID, parse_log_line, run_cli,
                                  start_daemon, state_changes, state_pattern, wait_for)
from tests.support.plexstub import SERVER_MACHINE_ID
from tests.support.sources import (NOTIFICATIONS_PATH, PLEXAMP_MACHINE_ID, play_notification,
                                   start_notifying_stub, start_plexamp)

TITLE = "Once in a Lifetime"


class NotificationStreamTests(unittest.TestCase):
    """``-plex-notifications``: Plex's SSE stream as the trigger, no webhooks."""

    def start(self, sessions="sessions_track.xml", args=(), machine_id=MACHINE_ID):
        """Start the daemon and let it settle: the start-up fetch, then the stream.

        The stand-in holds the stream's answer until the start-up fetch is
        done, so the fetch that follows connecting is one of its own and the
        tests can count fetches from a known base.
        """
        self.stub = start_notifying_stub(self, webhooks.fixture(sessions), hold_streams=True)
        self.daemon = start_daemon(self, self.stub, machine_id=machine_id,
                                   extra_args=["-plex-notifications"] + list(args))
        self.assertTrue(self.stub.wait_for_count(1, 5), self.daemon.log())
        self.assertTrue(wait_for(lambda: self.stub.stream_requests(), 5),
                        "the daemon did not ask for the notification stream\n"
                        + self.daemon.log())
        if sessions != "sessions_empty.xml":
            self.wait_state("playing")  # the start-up fetch is done
        self.assertTrue(self.stub.wait_idle(5))
        self.assertEqual(self.stub.count, 1)
        self.stub.release_streams()
        self.assertTrue(self.stub.wait_for_streams(1, 5))
        self.daemon.wait_for_line("Plex notifications connected")
        self.assertTrue(self.stub.wait_for_count(2, 5),
                        "no fetch after connecting\n" + self.daemon.log())
        self.assertTrue(self.stub.wait_idle(5))
        return self.daemon

    def wait_state(self, state, n=1, start=0, timeout=5):
        lines = self.daemon.wait_for_lines(state_pattern(state), n, timeout, start)
        return parse_log_line(lines[n - 1]).fields

    def test_stream_request_has_the_token_in_a_header_only(self):
        self.start()
        self.wait_state("playing")  # the fetch after connecting found the session
        [request] = self.stub.stream_requests()
        self.assertEqual(request.method, "GET")
        self.assertEqual(request.raw_path, NOTIFICATIONS_PATH + "?filters=playing")
        self.assertEqual(request.headers.get("X-Plex-Token"), self.daemon.token)
        self.assertNotIn(self.daemon.token, request.raw_path)
        self.assertIn("text/event-stream", request.headers.get("Accept", ""))
        self.assertTrue(request.headers.get("X-Plex-Client-Identifier"))

    def test_bare_paused_notification_decides_while_sessions_say_playing(self):
        self.start()
        mark, base = self.daemon.mark(), self.stub.count
        # Pings and other event types change nothing.
        self.stub.ping()
        self.stub.push_event("timeline", {"TimelineEntry": [{"state": 5}]})
        self.stub.notify(play_notification(MACHINE_ID, "paused", view_offset=41234))
        paused = self.wait_state("paused", start=mark)
        self.assertEqual(paused["title"], TITLE)
        self.assertEqual(paused["machine_id"], MACHINE_ID)
        self.assertEqual(paused["player"], "Office")
        self.assertEqual(paused["position_ms"], "41234", "the notification's viewOffset")
        self.assertEqual(self.stub.count, base + 1, "one fetch for the notification")
        self.assertEqual(self.stub.stream_count, 1, "pings must not break the stream")
        # Playing again: the state follows the notification, the track the session.
        mark = self.daemon.mark()
        self.stub.notify(play_notification(MACHINE_ID, "playing"))
        playing = self.wait_state("playing", start=mark)
        self.assertEqual(playing["title"], TITLE)
        self.assertEqual(len(state_changes(self.daemon, mark)), 1, self.daemon.log())

    def test_wrapped_notification_container_and_unfollowed_players(self):
        self.start()
        mark = self.daemon.mark()
        self.stub.notify(play_notification(FOREIGN_MACHINE_ID, "paused", session_key="60"),
                         play_notification(MACHINE_ID, "paused"), shape="wrapped")
        paused = self.wait_state("paused", start=mark)
        self.assertEqual(paused["machine_id"], MACHINE_ID)
        self.assertEqual(paused["title"], TITLE)
        changes = state_changes(self.daemon, mark)
        self.assertEqual([c["machine_id"] for c in changes], [MACHINE_ID], self.daemon.log())
        self.assertEqual(self.daemon.count(FOREIGN_MACHINE_ID), 0,
                         "a player not followed is not even logged")

    def test_every_player_is_followed_without_machine_ids(self):
        self.start(sessions="sessions_empty.xml", machine_id=None)
        mark = self.daemon.mark()
        # Neither player is in the sessions: the notification alone decides.
        self.stub.notify(play_notification(FOREIGN_MACHINE_ID, "playing", rating_key="77"))
        change = self.wait_state("playing", start=mark)
        self.assertEqual(change["machine_id"], FOREIGN_MACHINE_ID)
        self.assertEqual(change["rating_key"], "77")

    def test_dropped_stream_reconnects_with_backoff_and_fetches_once(self):
        self.start()
        mark, base = self.daemon.mark(), self.stub.count
        dropped = time.monotonic()
        self.stub.drop_streams()
        warn = self.daemon.wait_for_line("Plex notifications failed", start=mark)
        self.assertEqual(parse_log_line(warn).level, "WARN", warn)
        again = self.daemon.wait_for_line("Plex notifications connected again", start=mark,
                                          timeout=5)
        self.assertEqual(parse_log_line(again).level, "INFO", again)
        self.assertGreaterEqual(time.monotonic() - dropped, 0.9, "the first backoff is 1 s")
        self.assertTrue(self.stub.wait_for_streams(2, 1))
        self.assertTrue(self.stub.wait_for_count(base + 1, 5),
                        "no fetch after reconnecting\n" + self.daemon.log())
        self.assertTrue(self.stub.wait_idle(5))
        self.assertEqual(self.stub.count, base + 1, "one fetch after reconnecting, not more")
        # The new stream works.
        mark = self.daemon.mark()
        self.stub.notify(play_notification(MACHINE_ID, "paused"))
        self.wait_state("paused", start=mark)
        self.assertEqual(self.daemon.count("[WARN]"), 1, self.daemon.log())
        # And the daemon stops promptly with the stream open.
        started = time.monotonic()
        self.daemon.terminate()
        self.assertEqual(self.daemon.wait_exit(3), 0)
        self.assertLess(time.monotonic() - started, 2.0)
        self.assertEqual(self.daemon.count("did not stop in time"), 0, self.daemon.log())

    def test_notification_flags_are_validated(self):
        result = run_cli(["-plex-notifications", "-webhooks-port", "0"])
        self.assertEqual(result.returncode, 2, result.stderr)
        self.assertEqual(len(result.stderr.strip().splitlines()), 1, result.stderr)
        self.assertIn("-plex-notifications", result.stderr)


class PollIntervalTests(unittest.TestCase):
    """``-plex-poll-interval``: a fetch on a timer, skipped after any other fetch."""

    def test_polls_once_a_second_skips_after_other_fetches_and_sees_changes(self):
        stub = start_notifying_stub(self, webhooks.fixture("sessions_empty.xml"))
        daemon = start_daemon(self, stub, extra_args=["-plex-poll-interval", "1"])
        self.assertTrue(stub.wait_for_count(2, 4), "no poll within 4 s\n" + daemon.log())
        started, polled = [r.at for r in stub.session_requests()[:2]]
        self.assertGreaterEqual(polled - started, 0.9, "polled before the interval")
        self.assertLess(polled - started, 1.8, "polled late")
        # Half an interval later a webhook causes a fetch: the next poll waits a
        # full interval after that fetch, not after the last poll.
        wait_for(lambda: time.monotonic() - polled >= 0.5, timeout=1)
        status, _, body = webhooks.post(daemon.port)  # an empty POST: a fetch now
        self.assertEqual(status, 200, body)
        self.assertTrue(stub.wait_for_count(3, 2))
        webhook_fetch = stub.session_requests()[2].at
        # A change in the sessions shows up at the next poll, without a webhook.
        stub.set_sessions(webhooks.fixture("sessions_track.xml"))
        mark = daemon.mark()
        line = daemon.wait_for_line(state_pattern("playing"), timeout=3, start=mark)
        self.assertIn(TITLE, line)
        next_poll = stub.session_requests()[3].at
        self.assertGreaterEqual(next_poll - webhook_fetch, 0.9,
                                "the poll should wait a full interval after the webhook's fetch")
        self.assertLess(next_poll - webhook_fetch, 1.8)
        self.assertGreaterEqual(next_poll - polled, 1.4)
        self.assertEqual(len(stub.session_requests()), 4, "no poll in between")

    def test_poll_interval_is_validated(self):
        for value, needs in (("0.5", ""), ("-1", ""), ("2", "needs")):
            with self.subTest(value=value):
                args = ["-plex-poll-interval", value, "-webhooks-port", "0"]
                result = run_cli(args)
                self.assertEqual(result.returncode, 2, result.stderr)
                self.assertEqual(len(result.stderr.strip().splitlines()), 1, result.stderr)
                self.assertIn("-plex-poll-interval", result.stderr)
                self.assertNotIn("Traceback", result.stderr)


class PlexampTests(unittest.TestCase):
    """``-plexamp-url``: the headless player's timeline long poll, no token."""

    def start(self, stub=None, hold=1.0):
        self.amp = start_plexamp(self, hold=hold)
        args = ["-plexamp-url", self.amp.url]
        self.daemon = start_daemon(self, stub, machine_id=None, extra_args=args)
        self.daemon.wait_for_line("Plexamp connected", timeout=5)
        self.assertTrue(self.amp.wait_for_polls(1, 5), self.daemon.log())
        return self.daemon

    def wait_state(self, state, start=0, timeout=5):
        line = self.daemon.wait_for_line(state_pattern(state), timeout, start)
        return parse_log_line(line).fields

    def test_timeline_changes_without_a_plex_server(self):
        daemon = self.start()
        self.assertEqual(daemon.count("Plex is not enabled"), 0, daemon.log())
        connected = parse_log_line(daemon.wait_for_line("Plexamp connected"))
        self.assertEqual(connected.fields.get("machine_id"), PLEXAMP_MACHINE_ID)
        self.amp.set_timeline("playing", 12345, 200000, "42", "Heroes", "David Bowie",
                              "\"Heroes\"")
        playing = self.wait_state("playing")
        self.assertEqual(playing["machine_id"], PLEXAMP_MACHINE_ID)
        self.assertNotEqual(playing["machine_id"], SERVER_MACHINE_ID)
        self.assertEqual((playing["title"], playing["artist"], playing["album"]),
                         ("Heroes", "David Bowie", "\"Heroes\""))
        self.assertEqual(playing["rating_key"], "42")
        self.assertEqual(playing["duration_ms"], "200000")
        self.assertEqual(playing["player"], "Pi")
        self.assertGreaterEqual(int(playing["position_ms"]), 12345)
        self.assertLess(int(playing["position_ms"]), 12345 + 1000)
        # Paused (whether a poll is held or not), then stopped (time 0, no ratingKey,
        # no Track).
        self.amp.set_timeline("paused", 20000, 200000, "42", "Heroes", "David Bowie",
                              "\"Heroes\"")
        paused = self.wait_state("paused")
        self.assertEqual(paused["position_ms"], "20000")
        self.amp.set_timeline("stopped")
        stopped = self.wait_state("stopped")
        self.assertEqual(stopped["machine_id"], PLEXAMP_MACHINE_ID)
        self.assertEqual([c["state"] for c in state_changes(daemon)],
                         ["playing", "paused", "stopped"], daemon.log())
        self.assertNotIn(SERVER_MACHINE_ID, daemon.log())
        # The live state knows the player by its own identifier.
        status, _, body = webhooks.get(daemon.port, "/state")
        self.assertEqual(status, 200)
        [player] = json.loads(body.decode())["players"]
        self.assertEqual((player["machine_id"], player["state"]), (PLEXAMP_MACHINE_ID, "stopped"))
        # A poll held by the player does not hold up a shutdown.
        started = time.monotonic()
        daemon.terminate()
        self.assertEqual(daemon.wait_exit(3), 0)
        self.assertLess(time.monotonic() - started, 2.0)
        self.assertEqual(daemon.count("did not stop in time"), 0, daemon.log())

    def test_requests_ask_resources_then_poll_with_rising_command_ids(self):
        self.start(hold=0.2)
        self.assertTrue(self.amp.wait_for_polls(4, 3))
        requests = self.amp.all_requests()
        self.assertEqual(requests[0].path, "/resources")
        polls = [r for r in requests if r.path == "/player/timeline/poll"]
        ids = [int(r.query["commandID"][0]) for r in polls]
        self.assertEqual(ids, sorted(set(ids)), "commandID must increase: %s" % ids)
        for request in polls:
            self.assertEqual(request.query.get("wait"), ["1"])
            self.assertEqual(request.query.get("includeMetadata"), ["1"])
            self.assertEqual(request.query.get("type"), ["music"])
            self.assertEqual(request.headers.get("X-Plex-Target-Client-Identifier"),
                             PLEXAMP_MACHINE_ID)
        for request in requests:
            self.assertNotIn("X-Plex-Token", request.headers)
            self.assertNotIn("token", request.raw_path.lower())

    def test_with_a_plex_server_the_timeline_triggers_a_fetch_and_no_token_goes_to_plexamp(self):
        stub = start_notifying_stub(self, webhooks.fixture("sessions_empty.xml"))
        daemon = self.start(stub)
        self.assertTrue(stub.wait_for_count(1, 5))
        self.assertTrue(stub.wait_idle(5))
        base = stub.count
        self.amp.set_timeline("playing", 1000, 200000, "42", "Heroes", "David Bowie", "Heroes")
        playing = self.wait_state("playing")
        self.assertEqual(playing["machine_id"], PLEXAMP_MACHINE_ID)
        self.assertEqual(playing["title"], "Heroes")
        self.assertGreaterEqual(stub.count, base + 1, "a timeline change asks Plex too")
        for request in self.amp.all_requests():
            self.assertNotIn("X-Plex-Token", request.headers)
        self.assertTrue(re.search(r"Plexamp timeline enabled", daemon.log()))


if __name__ == "__main__":
    unittest.main()
