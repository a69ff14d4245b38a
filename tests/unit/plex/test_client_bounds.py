"""Bounds on what the daemon reads from Plex and Plexamp: time, elements, digits, lines."""

import time
import unittest

from streamerbrainz.lib import opener
from streamerbrainz.plex import notifications
from streamerbrainz.plex import client as plex
from streamerbrainz.plex import plexamp
from tests.support.plexstub import PlexStub, streamed, trickle

SESSION = (b'<MediaContainer size="1"><Track type="track" title="Once" sessionKey="53">'
           b'<Player machineIdentifier="m1" state="paused"/></Track></MediaContainer>')


class DeadlineTests(unittest.TestCase):
    def setUp(self):
        self.stub = PlexStub().start()
        self.addCleanup(self.stub.stop)
        self.client = plex.PlexClient(self.stub.url, self.stub.token, timeout=1.0)

    def test_a_trickling_answer_ends_at_the_deadline_and_says_too_slow(self):
        self.stub.set_route("/status/sessions", trickle(SESSION, 0.05))
        started = time.monotonic()
        with self.assertRaises(plex.PlexError) as caught:
            self.client.sessions()
        self.assertLess(time.monotonic() - started, 1.5)
        self.assertEqual(caught.exception.kind, "timeout")
        self.assertTrue(caught.exception.retryable)
        self.assertEqual(str(caught.exception),
                         "Plex answer too slow: not complete within 1s (-plex-timeout)")

    def test_a_quick_answer_within_the_deadline_is_read(self):
        self.stub.set_route("/status/sessions", trickle(SESSION, 0.001))
        [session] = self.client.sessions(timeout=5)
        self.assertEqual((session.machine_id, session.state), ("m1", "paused"))

    def test_get_within_bounds_any_request_and_says_too_slow(self):
        self.stub.set_route("/x", trickle(b"x" * 100, 0.05))
        started = time.monotonic()
        with self.assertRaises(plex.PlexError) as caught:
            opener.get_within(self.stub.url + "/x", 1000, 0.5, "the daemon")
        self.assertLess(time.monotonic() - started, 1.0)
        self.assertEqual(str(caught.exception),
                         "the daemon answer too slow: not complete within 0.5s")

    def test_an_answer_of_many_elements_is_refused_naming_the_bound(self):
        self.stub.set_route("/status/sessions", streamed(b"<MediaContainer>", b"<x/>",
                                                         b"</MediaContainer>", 2 * 1024 * 1024))
        with self.assertRaises(plex.PlexError) as caught:
            self.client.sessions(timeout=5)
        self.assertEqual(str(caught.exception),
                         "Plex answer holds more than 100000 elements; refused")


class ParseBoundTests(unittest.TestCase):
    def test_deep_nesting_is_refused(self):
        data = b"<MediaContainer>" + b"<x>" * 1000 + b"</x>" * 1000 + b"</MediaContainer>"
        with self.assertRaises(plex.PlexError) as caught:
            plex.parse_sessions(data)
        self.assertEqual(str(caught.exception),
                         "Plex answer holds elements nested more than 64 deep; refused")
        with self.assertRaises(plex.PlexError):
            plex.parse_xml(data)

    def test_many_elements_are_refused_by_the_tree_parser_too(self):
        data = b"<Timelines>" + b"<x/>" * 20000 + b"</Timelines>"
        with self.assertRaises(plex.PlexError) as caught:
            plexamp.parse_timeline(data)
        self.assertIn("more than 10000 elements", str(caught.exception))

    def test_a_real_shape_within_the_bounds_parses(self):
        [session] = plex.parse_sessions(SESSION)
        self.assertEqual(session.track.session_key, "53")

    def test_a_session_key_of_4301_digits_parses_and_orders_without_raising(self):
        data = SESSION.replace(b'sessionKey="53"', b'sessionKey="' + b"9" * 4301 + b'" '
                               b'duration="' + b"9" * 4301 + b'"')
        [session] = plex.parse_sessions(data)
        self.assertEqual(session.track.duration_ms, 0)
        self.assertEqual(plex.current_by_player([session])["m1"], session)

    def test_to_int_refuses_long_numbers(self):
        self.assertEqual(plex.to_int("9" * 4301), 0)
        self.assertEqual(plex.to_int("9" * 4301, -1), -1)
        self.assertEqual(plex.to_int(10 ** 4000, -1), -1)
        self.assertEqual(plex.to_int("1e400"), 0)
        self.assertEqual(plex.to_int("9" * 19), 0)
        self.assertEqual(plex.to_int("9" * 18), 10 ** 18 - 1)
        self.assertEqual(plex.to_int("30496"), 30496)
        self.assertEqual(plex.to_int("1.5"), 1)
        self.assertEqual(plex.to_int(None, 7), 7)


class StreamBoundTests(unittest.TestCase):
    def test_a_line_longer_than_the_bound_breaks_the_stream(self):
        lines = [b": ping\n", b"a" * (notifications.MAX_LINE + 1)]
        with self.assertRaises(notifications.StreamBroken) as caught:
            list(notifications.sse_events(lines))
        self.assertEqual(str(caught.exception), "line longer than 65536 bytes")

    def test_endless_data_lines_break_the_stream_at_the_event_bound(self):
        def endless():
            while True:
                yield b"data: " + b"x" * 1000 + b"\n"
        with self.assertRaises(notifications.StreamBroken) as caught:
            for _ in notifications.sse_events(endless()):
                pass
        self.assertEqual(str(caught.exception), "event longer than 262144 bytes")

    def test_events_within_the_bounds_come_through(self):
        lines = [b"event: playing\n", b"data: " + b"x" * 60000 + b"\n", b"\n"]
        [(event, data)] = list(notifications.sse_events(lines))
        self.assertEqual((event, len(data)), ("playing", 60000))


class PollIntervalTests(unittest.TestCase):
    def test_an_instant_answer_waits_out_the_interval(self):
        self.assertAlmostEqual(plexamp.poll_wait(10.0, 10.1, 0.5), 0.4)

    def test_a_long_poll_is_followed_at_once(self):
        self.assertEqual(plexamp.poll_wait(10.0, 11.2, 0.5), 0.0)

    def test_a_clock_step_never_waits_longer_than_the_interval(self):
        self.assertEqual(plexamp.poll_wait(10.0, 3.0, 0.5), 0.5)


if __name__ == "__main__":
    unittest.main()
