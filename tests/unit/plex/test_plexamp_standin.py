"""The Plexamp stand-in's transport commands: the timeline they change, ignore, delay, the record.

The requests are plain ``http.client`` ones, so these tests hold whatever
``streamerbrainz.plex.control`` does.
"""

import socket
import threading
import time
import unittest

from streamerbrainz.plex import plexamp
from tests.support import webhooks
from tests.support.sources import STOPPED, Timeline, after, start_plexamp

PLAYING = Timeline("playing", 20000, 200000, "42", "Heroes", "David Bowie", "\"Heroes\"")
PAUSED = PLAYING._replace(state="paused")
POLL = "/player/timeline/poll?wait=1&includeMetadata=1&type=music&commandID=%d"


def command(amp, name, query="?type=music&commandID=1", headers=None, timeout=5):
    """GET one playback command; ``(status, headers, body)``."""
    return webhooks.get(amp.port, "/player/playback/%s%s" % (name, query), headers, timeout)


class AfterTests(unittest.TestCase):
    """The pure timeline a command leads to."""

    def test_each_command_from_each_state(self):
        next_track = PLAYING._replace(time=0, rating_key="43", title="Track 43")
        previous_track = PLAYING._replace(time=0, rating_key="41", title="Track 41")
        table = [
            ("pause", PLAYING, PAUSED),
            ("pause", PAUSED, PAUSED),
            ("play", PAUSED, PLAYING),
            ("play", PLAYING, PLAYING),
            ("playPause", PLAYING, PAUSED),
            ("playPause", PAUSED, PLAYING),
            ("stop", PLAYING, STOPPED),
            ("stop", PAUSED, STOPPED),
            ("stop", STOPPED, STOPPED),
            ("skipNext", PLAYING, next_track),
            ("skipPrevious", PLAYING, previous_track),
            ("skipNext", PAUSED, next_track._replace(state="paused")),
            ("skipNext", PLAYING._replace(rating_key="abc"),
             PLAYING._replace(time=0, rating_key="abc+1", title="Track abc+1")),
            # Nothing queued: nothing to play, pause or skip to.
            ("play", STOPPED, STOPPED),
            ("playPause", STOPPED, STOPPED),
            ("skipNext", STOPPED, STOPPED),
        ]
        for name, before, expected in table:
            with self.subTest(command=name, state=before.state, key=before.rating_key):
                self.assertEqual(after(name, before), expected)


class CommandTests(unittest.TestCase):
    def setUp(self):
        self.amp = start_plexamp(self, hold=30.0)
        self.amp.set_timeline(*PLAYING)

    def test_a_command_answers_ok_as_plain_text(self):
        status, headers, body = command(self.amp, "pause")
        self.assertEqual((status, body), (200, b"OK"))
        self.assertEqual(headers["content-type"], "text/plain")

    def test_pause_play_toggle_stop_and_skip_change_the_timeline(self):
        steps = [
            ("pause", PAUSED),
            ("play", PLAYING),
            ("playPause", PAUSED),
            ("playPause", PLAYING),
            ("skipNext", PLAYING._replace(time=0, rating_key="43", title="Track 43")),
            ("skipPrevious", PLAYING._replace(time=0, rating_key="42", title="Track 42")),
            ("pause", PAUSED._replace(time=0, title="Track 42")),
            ("skipNext", PAUSED._replace(time=0, rating_key="43", title="Track 43")),
            ("stop", STOPPED),
        ]
        for name, expected in steps:
            with self.subTest(command=name):
                self.assertEqual(command(self.amp, name)[0], 200)
                self.assertEqual(self.amp.timeline(), expected)

    def held_poll(self):
        """Start a poll the stand-in holds; return a function giving its Timeline once woken."""
        polls = self.amp.polls
        answers = []
        poller = threading.Thread(target=lambda: answers.append(
            webhooks.get(self.amp.port, POLL % (polls + 1), timeout=10)))
        poller.start()
        self.addCleanup(poller.join, 5)
        self.assertTrue(self.amp.wait_for_polls(polls + 1))

        def answer():
            poller.join(5)  # the hold is 30 s
            self.assertFalse(poller.is_alive(), "the poll was not woken")
            status, _, body = answers[0]
            self.assertEqual(status, 200)
            return plexamp.parse_timeline(body)
        return answer

    def test_a_command_wakes_a_long_poll_with_the_new_timeline(self):
        webhooks.get(self.amp.port, POLL % 1)  # a change since the last: at once
        for name, state, rating_key in (("pause", "paused", "42"), ("play", "playing", "42"),
                                        ("skipNext", "playing", "43"),
                                        ("stop", "stopped", "")):
            with self.subTest(command=name):
                answer = self.held_poll()
                command(self.amp, name)
                timeline = answer()
                self.assertEqual((timeline.state, timeline.track.rating_key),
                                 (state, rating_key))

    def test_an_ignored_command_wakes_no_poll(self):
        self.amp.ignore("pause")
        webhooks.get(self.amp.port, POLL % 1)
        answer = self.held_poll()
        command(self.amp, "pause")
        command(self.amp, "stop")  # had the pause woken it, the poll would say playing
        self.assertEqual(answer().state, "stopped")

    def test_an_unknown_playback_command_is_404_and_no_command(self):
        for name in ("stepForward", "seekTo", "setParameters", "PAUSE", ""):
            with self.subTest(command=name):
                status, _, _ = command(self.amp, name)
                self.assertEqual(status, 404)
        self.assertEqual(self.amp.commands(), [])
        self.assertEqual(self.amp.timeline(), PLAYING)
        self.assertEqual(webhooks.get(self.amp.port, "/player/playback")[0], 404)

    def test_resources_and_the_poll_still_answer(self):
        status, _, body = webhooks.get(self.amp.port, "/resources")
        self.assertEqual(status, 200)
        self.assertEqual(plexamp.parse_resources(body)[0], self.amp.machine_id)
        status, _, body = webhooks.get(self.amp.port, POLL % 1)
        self.assertEqual((status, plexamp.parse_timeline(body).state), (200, "playing"))


class RecordTests(unittest.TestCase):
    def setUp(self):
        self.amp = start_plexamp(self)
        self.amp.set_timeline(*PLAYING)

    def test_each_command_is_recorded_with_its_id_headers_and_arrival(self):
        before = time.monotonic()
        command(self.amp, "pause", "?type=music&commandID=7",
                {"X-Plex-Target-Client-Identifier": self.amp.machine_id})
        command(self.amp, "play", "?type=music")
        command(self.amp, "stop", "?commandID=x")
        done = time.monotonic()
        commands = self.amp.commands()
        self.assertEqual([(c.name, c.command_id) for c in commands],
                         [("pause", 7), ("play", None), ("stop", None)])
        self.assertEqual(commands[0].headers.get("X-Plex-Target-Client-Identifier"),
                         self.amp.machine_id)
        self.assertNotIn("X-Plex-Target-Client-Identifier", commands[1].headers)
        self.assertEqual([c.at for c in commands], sorted(c.at for c in commands))
        self.assertTrue(before <= commands[0].at <= commands[-1].at <= done)
        self.assertEqual([c.name for c in self.amp.commands("play")], ["play"])

    def test_commands_returns_a_copy(self):
        command(self.amp, "pause")
        self.amp.commands().clear()
        self.assertEqual(len(self.amp.commands()), 1)

    def test_wait_for_command_waits_for_the_count_and_says_when_it_did_not_come(self):
        self.assertFalse(self.amp.wait_for_command("pause", timeout=0.05))
        sender = threading.Thread(target=lambda: [command(self.amp, "playPause")
                                                  for _ in range(3)])
        sender.start()
        self.addCleanup(sender.join, 5)
        self.assertTrue(self.amp.wait_for_command("playPause", count=3))
        self.assertEqual(len(self.amp.commands("playPause")), 3)
        self.assertFalse(self.amp.wait_for_command("pause", timeout=0.05))


class IgnoreTests(unittest.TestCase):
    def setUp(self):
        self.amp = start_plexamp(self)
        self.amp.set_timeline(*PLAYING)

    def test_an_ignored_command_answers_ok_and_changes_nothing(self):
        self.amp.ignore("pause")
        for _ in range(3):
            self.assertEqual(command(self.amp, "pause")[::2], (200, b"OK"))
            self.assertEqual(self.amp.timeline(), PLAYING)
        self.assertEqual(len(self.amp.commands("pause")), 3)
        self.assertEqual(command(self.amp, "stop")[0], 200)  # the others still act
        self.assertEqual(self.amp.timeline(), STOPPED)

    def test_ignoring_a_number_of_times_then_acting(self):
        self.amp.ignore("playPause", times=2)
        command(self.amp, "playPause")
        command(self.amp, "playPause")
        self.assertEqual(self.amp.timeline(), PLAYING)
        command(self.amp, "playPause")
        self.assertEqual(self.amp.timeline(), PAUSED)

    def test_ignoring_zero_times_acts_again(self):
        self.amp.ignore("pause")
        command(self.amp, "pause")
        self.amp.ignore("pause", 0)
        command(self.amp, "pause")
        self.assertEqual(self.amp.timeline(), PAUSED)


    def test_an_unknown_command_name_is_refused(self):
        for method in (self.amp.ignore, lambda name: self.amp.delay(name, 1)):
            with self.assertRaises(ValueError) as caught:
                method("skip")
            self.assertIn("playPause", str(caught.exception))


class DelayTests(unittest.TestCase):
    def setUp(self):
        self.amp = start_plexamp(self)
        self.amp.set_timeline(*PLAYING)

    def test_a_delayed_command_takes_effect_at_once_and_answers_late(self):
        self.amp.delay("pause", 30)
        with self.assertRaises(socket.timeout):
            command(self.amp, "pause", timeout=0.3)
        self.assertTrue(self.amp.wait_for_command("pause"))
        self.assertEqual(self.amp.timeline(), PAUSED)
        self.assertEqual(command(self.amp, "play", timeout=2)[0], 200)  # not delayed

    def test_the_answer_comes_after_the_delay(self):
        self.amp.delay("pause", 0.3)
        status, _, body = command(self.amp, "pause")
        answered = time.monotonic()
        self.assertEqual((status, body), (200, b"OK"))
        [pause] = self.amp.commands("pause")
        self.assertGreaterEqual(answered - pause.at, 0.3)

    def test_a_delay_of_zero_answers_at_once(self):
        self.amp.delay("pause", 30)
        self.amp.delay("pause", 0)
        self.assertEqual(command(self.amp, "pause", timeout=2)[0], 200)

    def test_stopping_releases_a_delayed_answer(self):
        self.amp.delay("stop", 30)
        outcome = []

        def send():
            try:
                outcome.append(command(self.amp, "stop", timeout=10))
            except (OSError, ConnectionError) as err:
                outcome.append(err)

        sender = threading.Thread(target=send)
        sender.start()
        self.assertTrue(self.amp.wait_for_command("stop"))
        started = time.monotonic()
        self.amp.stop()
        sender.join(5)
        self.assertFalse(sender.is_alive())
        self.assertLess(time.monotonic() - started, 5)
        self.assertNotIsInstance(outcome[0], tuple, "a delayed answer came after a stop")


if __name__ == "__main__":
    unittest.main()
