"""Plays from changes: start, listened time, how each ends, and the scrobble rule."""

import unittest

from streamerbrainz.history import plays
from tests.support import model

T0 = 1_764_000_000.0


def change(state, rating_key="6260", title="Once in a Lifetime", duration_ms=259560,
           previous="stopped"):
    return model.change(machine_id="pi", state=state, previous_state=previous, player="Office",
                        product="Plexamp", title=title, artist="Talking Heads",
                        album="Remain in Light", duration_ms=duration_ms,
                        rating_key=rating_key, session_key="53")


class CountsTest(unittest.TestCase):

    def test_the_scrobble_rule(self):
        for listened, duration, counted in (
                (29_999, 40_000, False), (30_000, 40_000, True),  # at least 30 s
                (129_000, 259_560, False), (129_780, 259_560, True),  # half the track
                (240_000, 900_000, True), (239_999, 900_000, False),  # or four minutes
                (240_000, 0, True), (100_000, 0, False)):  # no duration: four minutes
            with self.subTest(listened=listened, duration=duration):
                self.assertEqual(plays.counts(listened, duration), counted)


class AdvanceTest(unittest.TestCase):

    def test_play_pause_resume_then_the_next_track(self):
        ended, play = plays.advance(None, change("playing"), T0)
        self.assertIsNone(ended)
        ended, play = plays.advance(play, change("paused", previous="playing"), T0 + 60)
        self.assertEqual((ended, play.listened_ms, play.playing_since), (None, 60_000, None))
        ended, play = plays.advance(play, change("playing", previous="paused"), T0 + 600)
        ended, play = plays.advance(play, change("playing", rating_key="6261", title="Two"),
                                    T0 + 700)
        self.assertEqual((ended.title, ended.listened_ms, ended.ended_by, ended.ended_at),
                         ("Once in a Lifetime", 160_000, plays.TRACK_CHANGE, T0 + 700))
        self.assertTrue(ended.counted)
        self.assertFalse(ended.completed)
        self.assertEqual((play.title, play.started_at, play.listened_ms), ("Two", T0 + 700, 0))

    def test_a_track_heard_to_its_end_is_completed(self):
        _, play = plays.advance(None, change("playing"), T0)
        ended, play = plays.advance(play, change("stopped", previous="playing"), T0 + 259.6)
        self.assertEqual((ended.ended_by, ended.completed, ended.counted, play),
                         (plays.STOP, True, True, None))

    def test_a_skip_after_ten_seconds_does_not_count(self):
        _, play = plays.advance(None, change("playing"), T0)
        ended, _ = plays.advance(play, change("playing", rating_key="7"), T0 + 10)
        self.assertEqual((ended.listened_ms, ended.counted), (10_000, False))

    def test_idle_ends_a_paused_play_and_not_a_playing_one(self):
        _, play = plays.advance(None, change("playing"), T0)
        self.assertEqual(plays.idle(play, T0 + 5), (None, play))
        _, play = plays.advance(play, change("paused", previous="playing"), T0 + 50)
        ended, left = plays.idle(play, T0 + 350)
        self.assertEqual((ended.ended_by, ended.listened_ms, left), (plays.IDLE, 50_000, None))

    def test_a_restart_ends_what_plays(self):
        _, play = plays.advance(None, change("playing"), T0)
        ended = plays.restart(play, T0 + 42)
        self.assertEqual((ended.ended_by, ended.listened_ms), (plays.RESTART, 42_000))

    def test_a_pause_that_names_another_track_ends_this_play(self):
        _, play = plays.advance(None, change("playing"), T0)
        ended, left = plays.advance(play, change("paused", rating_key="9", previous="playing"),
                                    T0 + 31)
        self.assertEqual((ended.ended_by, ended.listened_ms, left),
                         (plays.TRACK_CHANGE, 31_000, None))

    def test_nothing_under_way_and_a_pause_or_stop_is_nothing(self):
        for state in ("paused", "stopped"):
            with self.subTest(state=state):
                self.assertEqual(plays.advance(None, change(state), T0), (None, None))

    def test_listened_time_never_runs_far_past_the_track(self):
        _, play = plays.advance(None, change("playing", duration_ms=60_000), T0)
        ended, _ = plays.advance(play, change("stopped", previous="playing"), T0 + 3600)
        self.assertEqual(ended.listened_ms, 61_000)

    def test_a_clock_that_went_back_adds_nothing(self):
        _, play = plays.advance(None, change("playing"), T0)
        ended, _ = plays.advance(play, change("stopped", previous="playing"), T0 - 5)
        self.assertEqual(ended.listened_ms, 0)


if __name__ == "__main__":
    unittest.main()
