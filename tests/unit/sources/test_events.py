"""What a bridge's body means: librespot's events as states and tracks, and bad bodies refused."""

import json
import unittest

from streamerbrainz.sources import events, librespot


def spotify(**variables):
    return events.parse("spotify", json.dumps({"librespot": variables}).encode())


class LibrespotTest(unittest.TestCase):

    def test_each_event_and_the_state_it_decides(self):
        for event, state in (
                ("playing", "playing"), ("paused", "paused"), ("stopped", "stopped"),
                ("session_disconnected", "stopped"), ("started", "playing"),  # 0.4.x
                ("track_changed", None), ("changed", None), ("volume_changed", None),
                ("session_connected", None), ("end_of_track", None), ("loading", None),
                ("preloading", None), ("seeked", None), ("unavailable", None),
                ("volume_set", None), ("a_future_event", None)):
            with self.subTest(event=event):
                trigger = spotify(PLAYER_EVENT=event, TRACK_ID="6rqhFgbbKwnb9MLmUQDhG6")
                self.assertEqual((trigger.state, trigger.event), (state, event))
                self.assertEqual((trigger.machine_id, trigger.origin, trigger.player,
                                  trigger.product), ("spotify", "spotify", "Spotify",
                                                     "librespot"))

    def test_the_next_track_named_by_loading_or_preloading_is_not_the_one_that_plays(self):
        for event in ("loading", "preloading", "preload_next", "end_of_track", "unavailable"):
            with self.subTest(event=event):
                self.assertEqual(spotify(PLAYER_EVENT=event, TRACK_ID="next").track.rating_key,
                                 "")
        self.assertEqual(spotify(PLAYER_EVENT="playing", TRACK_ID="t1").track.rating_key, "t1")

    def test_the_bridge_knows_the_states_the_daemon_takes(self):
        from streamerbrainz.sources import bridge
        self.assertEqual(bridge.STATES, events.STATES)

    def test_a_sink_that_runs_is_spotify_about_to_play(self):
        for status, state in (("running", "playing"), ("closed", "paused"),
                              ("temporarily_closed", None)):
            with self.subTest(status=status):
                self.assertEqual(spotify(PLAYER_EVENT="sink", SINK_STATUS=status).state, state)

    def test_track_changed_carries_the_track(self):
        trigger = spotify(PLAYER_EVENT="track_changed", TRACK_ID="6rqhFgbbKwnb9MLmUQDhG6",
                          NAME="Once in a Lifetime", ARTISTS="Talking Heads\nBrian Eno",
                          ALBUM="Remain in Light", DURATION_MS="259560", ITEM_TYPE="Track")
        track = trigger.track
        self.assertEqual((track.title, track.artist, track.album, track.duration_ms,
                          track.rating_key, track.kind()),
                         ("Once in a Lifetime", "Talking Heads, Brian Eno", "Remain in Light",
                          259560, "6rqhFgbbKwnb9MLmUQDhG6", "music"))

    def test_an_episode_shows_its_show(self):
        track = spotify(PLAYER_EVENT="track_changed", NAME="Episode 12", ITEM_TYPE="Episode",
                        SHOW_NAME="A Podcast", DURATION_MS="x").track
        self.assertEqual((track.title, track.artist, track.duration_ms, track.kind()),
                         ("Episode 12", "A Podcast", 0, ""))

    def test_a_position_counts_where_the_event_reports_it(self):
        self.assertEqual(spotify(PLAYER_EVENT="paused", POSITION_MS="1234").position_ms, 1234)
        self.assertTrue(spotify(PLAYER_EVENT="paused", POSITION_MS="1234").position_is_fresh)
        self.assertEqual(spotify(PLAYER_EVENT="playing", POSITION_MS="-5").position_ms, -1)

    def test_only_the_known_variables_are_read(self):
        fields = librespot.fields({"PLAYER_EVENT": "playing", "LIBRESPOT_PASSWORD": "hunter2"})
        self.assertNotIn("hunter2", repr(fields))
        self.assertNotIn("LIBRESPOT_PASSWORD", librespot.VARIABLES)


class ArgumentsTest(unittest.TestCase):

    def test_a_state_and_a_title(self):
        trigger = events.parse("airplay", b'{"state": "playing", "title": "Radio"}')
        self.assertEqual((trigger.state, trigger.track.title, trigger.player, trigger.product),
                         ("playing", "Radio", "AirPlay", "shairport-sync"))

    def test_another_name_shows_itself(self):
        trigger = events.parse("turntable", b'{"state": "stopped"}')
        self.assertEqual((trigger.machine_id, trigger.player, trigger.product),
                         ("turntable", "turntable", ""))

    def test_long_texts_are_cut(self):
        title = "x" * 5000
        trigger = events.parse("airplay", json.dumps({"state": "playing",
                                                      "title": title}).encode())
        self.assertEqual(len(trigger.track.title), events.MAX_TEXT)


class RefusedTest(unittest.TestCase):

    def test_each_bad_body_is_one_line(self):
        for name, body, reason in (
                ("spotify", b"not json", "body is not JSON"),
                ("spotify", b"[1, 2]", "body is not a JSON object"),
                ("spotify", b"\xff\xfe", "body is not JSON"),
                ("airplay", b'{"state": "loud"}', "state: one of playing, paused, stopped, "
                                                   "buffering, not \"loud\""),
                ("airplay", b'{"state": "playing", "title": 5}', "title: a text"),
                ("spotify", b'{"librespot": {"PLAYER_EVENT": 5}}',
                 "librespot: an object of text values, as librespot sets them"),
                ("spotify", b'{"librespot": {}}', "librespot: PLAYER_EVENT is missing"),
                ("Bad Name", b'{"state": "playing"}', "source name 'Bad Name': use 1 to 32 "
                 "lower-case letters, digits, - or _, starting with a letter (spotify, airplay)"),
                ("spotify", b" " * (events.MAX_BODY + 1), "body over 16384 bytes")):
            with self.subTest(body=body[:40]):
                with self.assertRaises(ValueError) as caught:
                    events.parse(name, body)
                self.assertEqual(str(caught.exception), reason)
                self.assertNotIn("\n", str(caught.exception))


if __name__ == "__main__":
    unittest.main()
