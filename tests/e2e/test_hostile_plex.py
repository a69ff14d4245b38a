"""End to end: a hostile Plex or Plexamp (trickling, huge, deep, endless, instant)
and the daemon's answers, time and memory stay within the budget."""

import json
import re
import time
import unittest

from tests.support import procstat, webhooks
from tests.support.daemon import E2ECase, start_daemon, start_stub, wait_for
from tests.support.plexstub import endless_stream, instant, streamed, trickle

MIB = 1024 * 1024
TRACK = webhooks.fixture("sessions_track.xml")
PAUSED = webhooks.fixture("sessions_track_paused.xml")


def health(daemon):
    status, _, body = webhooks.get(daemon.port, "/healthz")
    assert status == 200, status
    return json.loads(body.decode("utf-8"))


class HostilePlexTests(E2ECase):

    def start(self, args=()):
        self.stub = start_stub(self, TRACK)
        self.daemon = start_daemon(self, self.stub, extra_args=["-plex-timeout", "1"] + list(args))
        self.assertTrue(self.stub.wait_for_count(1, 5), self.daemon.log())
        self.daemon.wait_for_line("Plex session found", timeout=5)
        return self.daemon

    def assert_within_budget(self):
        self.assertTrue(self.daemon.running(), self.daemon.log())
        self.assertEqual(health(self.daemon)["status"], "ok")
        peak = procstat.peak_rss_mib(self.daemon.pid)
        self.assertLess(peak, procstat.BUDGET_RSS_MIB, "peak RSS %.1f MiB" % peak)

    def test_a_trickling_plex_gives_up_within_three_timeouts_and_the_pause_is_applied(self):
        self.start()
        self.stub.set_route("/status/sessions", trickle(PAUSED, 0.2))
        mark = self.daemon.mark()
        sent = time.monotonic()
        self.send("payload_pause.json")
        self.assertTrue(wait_for(lambda: health(self.daemon)["fetch_in_progress"], 2),
                        self.daemon.log())
        self.assertTrue(wait_for(lambda: health(self.daemon)["fetch_seconds"] >= 0.5, 2))
        self.daemon.wait_for_line(re.compile(
            r"\[WARN\] Plex fetch failed error=\"Plex answer too slow: no whole answer in 3 "
            r"tries within 3s \(three times -plex-timeout\)\""), timeout=4, start=mark)
        self.daemon.wait_for_line("Plex state changed state=paused", timeout=1, start=mark)
        self.assertLess(time.monotonic() - sent, 3.5)
        self.assertFalse(health(self.daemon)["fetch_in_progress"])
        self.assertEqual(health(self.daemon)["last_fetch"]["outcome"], "error")
        self.assertEqual(self.daemon.count("not valid XML", mark), 0)

    def test_an_answer_of_15_mib_of_elements_is_refused_within_the_budget(self):
        self.start()
        self.stub.set_route("/status/sessions", streamed(b"<MediaContainer>", b"<x/>",
                                                         b"</MediaContainer>", 15 * MIB))
        mark = self.daemon.mark()
        self.send(None)
        self.daemon.wait_for_line("Plex answer holds more than 100000 elements; refused",
                                  timeout=10, start=mark)
        self.assert_within_budget()

    def test_a_deeply_nested_answer_is_refused_within_the_budget(self):
        self.start()
        depth = 2 * 1000 * 1000
        self.stub.set_route("/status/sessions", streamed(b"<MediaContainer>", b"<x>",
                                                         b"</x>" * 10, depth * 3))
        mark = self.daemon.mark()
        self.send(None)
        self.daemon.wait_for_line("Plex answer holds elements nested more than 64 deep; refused",
                                  timeout=10, start=mark)
        self.assert_within_budget()


class HostileStreamTests(E2ECase):

    def start(self, responder):
        self.stub = start_stub(self, TRACK)
        self.stub.set_route("/:/eventsource/notifications", responder)
        self.daemon = start_daemon(self, self.stub,
                                   extra_args=["-plex-timeout", "1", "-plex-notifications"])
        return self.daemon

    def assert_dropped(self, why):
        self.daemon.wait_for_line("[WARN] notification stream dropped: %s; reconnecting" % why,
                                  timeout=10)
        self.assertTrue(wait_for(lambda: len(self.stub.requests_to(
            "/:/eventsource/notifications")) >= 2, 5), "no reconnection\n" + self.daemon.log())
        self.assertTrue(self.daemon.running(), self.daemon.log())
        self.assertEqual(health(self.daemon)["status"], "ok")
        peak = procstat.peak_rss_mib(self.daemon.pid)
        self.assertLess(peak, procstat.BUDGET_RSS_MIB, "peak RSS %.1f MiB" % peak)

    def test_an_endless_line_is_dropped_and_reconnected(self):
        self.start(endless_stream(b"a" * 4096, b": ping\n"))
        self.assert_dropped("line longer than 65536 bytes")

    def test_endless_data_lines_are_dropped_and_reconnected(self):
        self.start(endless_stream(b"data: " + b"x" * 100 + b"\n", b"event: playing\n"))
        self.assert_dropped("event longer than 262144 bytes")


class InstantPlexampTests(unittest.TestCase):

    def test_an_instant_answer_is_polled_at_most_twice_a_second(self):
        amp = start_stub(self)
        amp.set_route("/resources", instant(
            b'<MediaContainer><Player machineIdentifier="amp-1" title="Pi" product="Plexamp"/>'
            b'</MediaContainer>'))
        amp.set_route("/player/timeline/poll", instant(
            b'<MediaContainer><Timeline type="music" state="stopped"/></MediaContainer>'))
        daemon = start_daemon(self, None, extra_args=["-plexamp-url", amp.url])
        daemon.wait_for_line("Plexamp connected", timeout=5)
        polls = lambda: len(amp.requests_to("/player/timeline/poll"))
        self.assertTrue(wait_for(lambda: polls() >= 1, 5), daemon.log())
        first = polls()
        started = time.monotonic()
        self.assertFalse(wait_for(lambda: polls() - first > 7, 3.0))
        elapsed = time.monotonic() - started
        self.assertGreaterEqual(polls() - first, 2, "polling stopped\n" + daemon.log())
        self.assertLessEqual(polls() - first, elapsed / 0.5 + 2)
        started = time.monotonic()
        daemon.terminate()
        self.assertEqual(daemon.wait_exit(3), 0)
        self.assertLess(time.monotonic() - started, 2.0)


if __name__ == "__main__":
    unittest.main()
