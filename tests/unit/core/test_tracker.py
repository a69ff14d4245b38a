"""The state rules: when a player's state or track changed, and what it is now."""

import unittest

from streamerbrainz.core import tracker
from tests.support.model import player_state, trigger
from tests.support import model

PI = "5e2b7f3c-8a41-4c1e-9d2a-3f6b1c0e7a99"


def session(state="playing", rating_key="6260", session_key="53", title="Once in a Lifetime",
            position_ms=30496, **extra):
    fields = dict(machine_id=PI, player="Office", product="Plexamp", platform="Linux",
                  state=state, session_key=session_key, rating_key=rating_key,
                  media_type="track", title=title, artist="Talking Heads",
                  album="Once in a Lifetime: The Best Of", duration_ms=259560,
                  position_ms=position_ms)
    fields.update(extra)
    return model.session(**fields)


def event(name, **extra):
    fields = dict(event=name, machine_id=PI, player="Office")
    fields.update(extra)
    return trigger(**fields)


class ObserveTest(unittest.TestCase):

    def first(self, state="playing", now=100.0, wall=1000.0):
        current, changed = tracker.observe(None, session(state), None, now, wall)
        self.assertTrue(changed)
        return current

    def test_first_sighting_playing_is_a_change(self):
        current = self.first()
        self.assertEqual(current.machine_id, PI)
        self.assertEqual(current.state, "playing")
        self.assertEqual((current.track.title, current.track.artist, current.track.album),
                         ("Once in a Lifetime", "Talking Heads", "Once in a Lifetime: The Best Of"))
        self.assertEqual((current.track.session_key, current.track.rating_key), ("53", "6260"))
        self.assertEqual((current.player, current.product), ("Office", "Plexamp"))
        self.assertEqual(current.track.duration_ms, 259560)
        self.assertEqual(current.position(100.0), 30496)
        self.assertEqual(current.since, 1000.0)

    def test_same_state_twice_is_one_change(self):
        first = self.first()
        again, changed = tracker.observe(first, session(position_ms=40000), None, 110.0,
                                         1010.0)
        self.assertFalse(changed)
        self.assertEqual(again.state, "playing")
        self.assertEqual(again.since, 1000.0, "since is kept when nothing changed")
        self.assertEqual(again.updated_at, 1010.0)
        self.assertEqual(again.position(110.0), 40000)

    def test_paused_session_is_a_change(self):
        paused, changed = tracker.observe(self.first(), session("paused"), None, 105.0, 1005.0)
        self.assertTrue(changed)
        self.assertEqual(paused.state, "paused")
        self.assertEqual(paused.since, 1005.0)

    def test_buffering_session(self):
        current, changed = tracker.observe(self.first(), session("buffering"), None, 101, 1001)
        self.assertTrue(changed)
        self.assertEqual(current.state, "buffering")

    def test_pause_event_decides_while_the_session_still_says_playing(self):
        paused, changed = tracker.observe(self.first(), session("playing"),
                                          event("media.pause"), 105.0, 1005.0)
        self.assertTrue(changed)
        self.assertEqual(paused.state, "paused")
        self.assertEqual(paused.track.title, "Once in a Lifetime")

    def test_resume_event_decides_while_the_session_still_says_paused(self):
        paused, _ = tracker.observe(self.first(), session("paused"), None, 105.0, 1005.0)
        playing, changed = tracker.observe(paused, session("paused"), event("media.resume"),
                                           110.0, 1010.0)
        self.assertTrue(changed)
        self.assertEqual(playing.state, "playing")

    def test_event_without_a_state_leaves_the_session_in_charge(self):
        current, changed = tracker.observe(self.first(), session("playing"),
                                           event("media.scrobble"), 105.0, 1005.0)
        self.assertFalse(changed)
        self.assertEqual(current.state, "playing")

    def test_next_track_is_a_change(self):
        nxt = session(rating_key="6261", session_key="54", title="Burning Down the House",
                      position_ms=0)
        current, changed = tracker.observe(self.first(), nxt, None, 360.0, 1260.0)
        self.assertTrue(changed)
        self.assertEqual(current.state, "playing")
        self.assertEqual(current.track.title, "Burning Down the House")
        self.assertEqual(current.track.rating_key, "6261")
        self.assertEqual(current.since, 1260.0)

    def test_rating_key_alone_changing_is_a_change(self):
        _, changed = tracker.observe(self.first(), session(rating_key="7000"), None, 101, 1001)
        self.assertTrue(changed)

    def test_session_key_alone_changing_is_a_change(self):
        _, changed = tracker.observe(self.first(), session(session_key="99"), None, 101, 1001)
        self.assertTrue(changed)

    def test_vanished_after_playing_is_stopped_with_the_last_track_and_position(self):
        playing = self.first(now=100.0)
        stopped, changed = tracker.observe(playing, None, None, 105.0, 1005.0)
        self.assertTrue(changed)
        self.assertEqual(stopped.state, "stopped")
        self.assertEqual(stopped.track.title, "Once in a Lifetime")
        self.assertEqual(stopped.track.rating_key, "6260")
        self.assertEqual(stopped.position(105.0), 30496 + 5000)
        self.assertEqual(stopped.position(500.0), 30496 + 5000, "frozen once stopped")

    def test_vanished_after_paused_is_stopped_at_the_paused_position(self):
        paused, _ = tracker.observe(self.first(), session("paused", position_ms=31000),
                                    None, 101.0, 1001.0)
        stopped, changed = tracker.observe(paused, None, None, 200.0, 1100.0)
        self.assertTrue(changed)
        self.assertEqual(stopped.state, "stopped")
        self.assertEqual(stopped.position(200.0), 31000)

    def test_still_gone_after_stopping_is_no_change(self):
        stopped, _ = tracker.observe(self.first(), None, None, 105.0, 1005.0)
        again, changed = tracker.observe(stopped, None, None, 110.0, 1010.0)
        self.assertFalse(changed)
        self.assertEqual(again.state, "stopped")

    def test_stop_event_with_the_session_gone(self):
        stopped, changed = tracker.observe(self.first(), None, event("media.stop"), 105.0,
                                           1005.0)
        self.assertTrue(changed)
        self.assertEqual(stopped.state, "stopped")
        self.assertEqual(stopped.track.title, "Once in a Lifetime")
        self.assertEqual(stopped.position(105.0), 30496 + 5000)

    def test_stop_event_while_the_session_lingers_does_not_flap(self):
        playing = self.first()
        stopped, changed = tracker.observe(playing, session("paused"), event("media.stop"),
                                           105.0, 1005.0)
        self.assertTrue(changed)
        self.assertEqual(stopped.state, "stopped")
        # A later fetch with no webhook still shows the same session, paused.
        still, changed = tracker.observe(stopped, session("paused"), None, 110.0, 1010.0)
        self.assertFalse(changed)
        self.assertEqual(still.state, "stopped")
        still, changed = tracker.observe(still, session("paused"), None, 115.0, 1015.0)
        self.assertFalse(changed)
        self.assertEqual(still.state, "stopped")
        # Then it really plays again.
        again, changed = tracker.observe(still, session("playing"), None, 120.0, 1020.0)
        self.assertTrue(changed)
        self.assertEqual(again.state, "playing")

    def test_stop_event_with_the_session_still_playing(self):
        stopped, changed = tracker.observe(self.first(), session("playing"),
                                           event("media.stop"), 105.0, 1005.0)
        self.assertTrue(changed)
        self.assertEqual(stopped.state, "stopped")

    def test_play_event_after_a_stop_brings_the_player_back(self):
        stopped, _ = tracker.observe(self.first(), session("paused"), event("media.stop"),
                                     105.0, 1005.0)
        playing, changed = tracker.observe(stopped, session("paused"), event("media.play"),
                                           110.0, 1010.0)
        self.assertTrue(changed)
        self.assertEqual(playing.state, "playing")

    def test_new_track_after_a_stop_is_not_held_stopped(self):
        stopped, _ = tracker.observe(self.first(), session("paused"), event("media.stop"),
                                     105.0, 1005.0)
        other = session("paused", rating_key="7000", session_key="60", title="Other")
        current, changed = tracker.observe(stopped, other, None, 110.0, 1010.0)
        self.assertTrue(changed)
        self.assertEqual(current.state, "paused")
        self.assertEqual(current.track.title, "Other")

    def test_never_seen_and_no_session_is_no_change(self):
        self.assertEqual(tracker.observe(None, None, None, 100.0, 1000.0), (None, False))

    def test_never_seen_event_without_state_and_no_session_is_no_change(self):
        self.assertEqual(tracker.observe(None, None, event("media.scrobble"), 100.0, 1000.0),
                         (None, False))

    def test_play_event_before_the_session_shows_up(self):
        current, changed = tracker.observe(
            None, None, event("media.play", title="Psycho Killer", artist="Talking Heads",
                              album="Talking Heads: 77", rating_key="5000"), 100.0, 1000.0)
        self.assertTrue(changed)
        self.assertEqual(current.machine_id, PI)
        self.assertEqual(current.state, "playing")
        self.assertEqual(current.track.title, "Psycho Killer")
        self.assertEqual(current.track.rating_key, "5000")

    def test_session_supplies_the_player_name_when_kept_from_before(self):
        nameless = session(player="", product="")
        current, _ = tracker.observe(self.first(), nameless, None, 101.0, 1001.0)
        self.assertEqual((current.player, current.product), ("Office", "Plexamp"))

    def test_empty_session_state_counts_as_stopped(self):
        # A player first seen stopped is known, but nothing changed: no action.
        current, changed = tracker.observe(None, session(""), None, 100.0, 1000.0)
        self.assertFalse(changed)
        self.assertEqual(current.state, "stopped")


class ObserveWithoutFetchTest(unittest.TestCase):

    def test_play_event_alone_uses_the_webhook_metadata(self):
        current, changed = tracker.observe_without_fetch(
            None, event("media.play", title="Once in a Lifetime", artist="Talking Heads",
                        album="The Best Of", rating_key="6260"), 100.0, 1000.0)
        self.assertTrue(changed)
        self.assertEqual(current.machine_id, PI)
        self.assertEqual(current.state, "playing")
        self.assertEqual((current.track.title, current.track.artist, current.track.album, current.track.rating_key),
                         ("Once in a Lifetime", "Talking Heads", "The Best Of", "6260"))
        self.assertEqual(current.player, "Office")

    def test_pause_event_keeps_the_known_track_and_freezes_the_position(self):
        playing, _ = tracker.observe(None, session(position_ms=1000), None, 100.0, 1000.0)
        paused, changed = tracker.observe_without_fetch(
            playing, event("media.pause", rating_key="6260"), 102.0, 1002.0)
        self.assertTrue(changed)
        self.assertEqual(paused.state, "paused")
        self.assertEqual(paused.track.title, "Once in a Lifetime")
        self.assertEqual(paused.track.duration_ms, 259560)
        self.assertEqual(paused.position(102.0), 3000)
        self.assertEqual(paused.position(900.0), 3000)

    def test_play_event_for_a_new_track_starts_afresh(self):
        playing, _ = tracker.observe(None, session(), None, 100.0, 1000.0)
        current, changed = tracker.observe_without_fetch(
            playing, event("media.play", title="New", rating_key="9999"), 300.0, 1200.0)
        self.assertTrue(changed)
        self.assertEqual(current.track.title, "New")
        self.assertEqual(current.track.rating_key, "9999")
        self.assertEqual(current.position(300.0), 0)
        self.assertEqual(current.track.album, "")

    def test_same_state_again_is_no_change(self):
        first, _ = tracker.observe_without_fetch(None, event("media.play", rating_key="1"),
                                                 100.0, 1000.0)
        again, changed = tracker.observe_without_fetch(first, event("media.resume",
                                                                    rating_key="1"),
                                                       101.0, 1001.0)
        self.assertFalse(changed)
        self.assertEqual(again.since, 1000.0)

    def test_event_without_state_is_no_change(self):
        playing, _ = tracker.observe(None, session(), None, 100.0, 1000.0)
        self.assertEqual(tracker.observe_without_fetch(playing, event("media.scrobble"),
                                                       101.0, 1001.0), (playing, False))
        self.assertEqual(tracker.observe_without_fetch(playing, None, 101.0, 1001.0),
                         (playing, False))
        self.assertEqual(tracker.observe_without_fetch(None, None, 101.0, 1001.0),
                         (None, False))

    def test_stop_event(self):
        playing, _ = tracker.observe(None, session(), None, 100.0, 1000.0)
        stopped, changed = tracker.observe_without_fetch(playing, event("media.stop"),
                                                         101.0, 1001.0)
        self.assertTrue(changed)
        self.assertEqual(stopped.state, "stopped")
        self.assertEqual(stopped.track.title, "Once in a Lifetime")


class PositionTest(unittest.TestCase):

    def state(self, state, position=1000, at=100.0, duration=5000):
        return player_state(machine_id=PI, state=state, position_ms=position, position_at=at,
                           duration_ms=duration)

    def test_advances_while_playing(self):
        playing = self.state("playing")
        self.assertEqual(playing.position(100.0), 1000)
        self.assertEqual(playing.position(101.5), 2500)
        self.assertEqual(playing.position(103.0), 4000)

    def test_frozen_while_paused_buffering_or_stopped(self):
        for name in ("paused", "buffering", "stopped"):
            with self.subTest(state=name):
                self.assertEqual(self.state(name).position(200.0), 1000)

    def test_capped_at_the_duration(self):
        self.assertEqual(self.state("playing").position(1000.0), 5000)

    def test_unknown_duration_is_not_a_cap(self):
        self.assertEqual(self.state("playing", duration=0).position(110.0), 11000)

    def test_never_negative(self):
        self.assertEqual(self.state("playing", position=0).position(50.0), 0)


if __name__ == "__main__":
    unittest.main()
