"""Shapes that real Plex servers send, which the documentation did not promise.

Each fixture is in the shape of a published capture: a video whose
``originalTitle`` is a title, webhooks with their own position and
duration, one player with music and photos at once, and the odd shapes
(no ``machineIdentifier``, an empty ``<User />``, no ``<Session>``, an
IPv4-mapped address, Plex's own streaming service, another account).
"""

import queue
import unittest

from streamerbrainz.plex import payloads
from streamerbrainz.plex import client as plex
from streamerbrainz.plex import plexamp
from streamerbrainz.core import tracker
from tests.support.webhooks import fixture, multipart_body
from tests.support.model import keeper, session, trigger

OFFICE = "bc97b983-8169-47e3-bbcc-54a12d662546"
KITCHEN = "5e1d7c2a-3b4f-4c6d-8e9f-0a1b2c3d4e5f"


def sessions(name):
    return plex.parse_sessions(fixture(name))


def event(name):
    return payloads.parse("application/json", fixture(name), received_at=1.0)


class ArtistIsMusicOnlyTest(unittest.TestCase):

    def test_episode_original_title_is_not_the_artist(self):
        (episode,) = sessions("sessions_episode.xml")
        self.assertEqual(episode.track.media_type, "episode")
        self.assertEqual(episode.track.title, "To You, in 2000 Years: The Fall of Shiganshina, Part 1")
        self.assertEqual(episode.track.artist, "Attack on Titan")

    def test_movie_original_title_is_not_the_artist(self):
        (movie,) = sessions("sessions_movie.xml")
        self.assertEqual(movie.track.media_type, "movie")
        self.assertEqual(movie.track.artist, "")

    def test_track_original_title_is_the_artist_even_when_it_equals_the_album_artist(self):
        office = [s for s in sessions("sessions_music_and_photos.xml") if s.track.media_type == "track"]
        self.assertEqual(office[0].track.artist, "Talking Heads")

    def test_track_element_without_a_type_is_music(self):
        data = (b'<MediaContainer size="1"><Track title="t" originalTitle="Track Artist" '
                b'grandparentTitle="Album Artist"><Player machineIdentifier="p" '
                b'state="playing"/></Track></MediaContainer>')
        (found,) = plex.parse_sessions(data)
        self.assertEqual(found.track.artist, "Track Artist")

    def test_webhook_episode_and_movie(self):
        self.assertEqual(event("payload_episode_pause.json").track.artist, "Attack on Titan")
        self.assertEqual(event("payload_vod_play.json").track.artist, "")
        self.assertEqual(event("payload_other_account.json").track.artist, "Idina Menzel")

    def test_plexamp_timeline_track(self):
        data = (b'<MediaContainer><Timeline type="music" state="playing" time="1000">'
                b'<Track title="Let It Go" originalTitle="Idina Menzel" grandparentTitle="Frozen '
                b'(Original Motion Picture Soundtrack)"/></Timeline></MediaContainer>')
        self.assertEqual(plexamp.parse_timeline(data).track.artist, "Idina Menzel")

    def test_webhook_without_a_type_does_not_take_original_title(self):
        parsed = payloads.to_event({"event": "media.play", "Metadata": {
            "originalTitle": "Le Fabuleux Destin", "grandparentTitle": ""}})
        self.assertEqual(parsed.track.artist, "")


class WebhookPositionTest(unittest.TestCase):

    def test_pause_carries_position_and_duration(self):
        parsed = event("payload_pause_with_offset.json")
        self.assertEqual((parsed.position_ms, parsed.track.duration_ms), (41234, 259560))
        self.assertTrue(parsed.position_is_fresh)
        self.assertEqual(parsed.track.media_type, "track")

    def test_numbers_as_text(self):
        parsed = event("payload_stop_with_offset.json")
        self.assertEqual((parsed.position_ms, parsed.track.duration_ms), (187005, 259560))
        self.assertFalse(parsed.position_is_fresh)  # a stop: the session has it better

    def test_one_without_the_other(self):
        parsed = event("payload_episode_pause.json")
        self.assertEqual((parsed.position_ms, parsed.track.duration_ms), (612000, 0))

    def test_play_without_either(self):
        parsed = event("payload_play_no_offset.json")
        self.assertEqual((parsed.position_ms, parsed.track.duration_ms), (-1, 0))

    def test_odd_values_are_unknown_not_a_crash(self):
        for value in (None, True, "abc", [], {}, -5, 1e400, "9" * 5000):
            parsed = payloads.to_event({"event": "media.pause",
                                        "Metadata": {"viewOffset": value, "duration": value}})
            self.assertGreaterEqual(parsed.track.duration_ms, 0)
            self.assertGreaterEqual(parsed.position_ms, -1)


class OddShapesTest(unittest.TestCase):

    def test_player_without_machine_identifier(self):
        (session,) = sessions("sessions_no_machine_id.xml")
        self.assertEqual(session.machine_id, "")
        self.assertEqual(session.player, "Office")

    def test_empty_user_no_session_element_mapped_address(self):
        (episode,) = sessions("sessions_episode.xml")
        self.assertEqual((episode.machine_id, episode.state), (OFFICE, "playing"))

    def test_plex_streaming_service_webhook(self):
        parsed = event("payload_vod_play.json")
        self.assertEqual(parsed.track.rating_key, "5d776830880197001ec93ae1")
        self.assertEqual((parsed.track.title, parsed.track.duration_ms), ("Amélie", 7320000))
        self.assertEqual(payloads.triage(parsed, frozenset()), (True, ""))
        self.assertEqual(payloads.triage(parsed, frozenset([OFFICE])),
                         (False, "player not followed"))

    def test_another_accounts_play(self):
        parsed = event("payload_other_account.json")
        self.assertEqual((parsed.machine_id, parsed.account), (KITCHEN, "guest-kid"))
        self.assertEqual(parsed.state, "playing")

    def test_rate_with_a_rating_as_text_asks_for_a_look_and_decides_nothing(self):
        parsed = event("payload_rate.json")
        self.assertEqual(parsed.event, "media.rate")
        self.assertIsNone(parsed.state)
        self.assertEqual(payloads.triage(parsed, frozenset([OFFICE])), (True, ""))

    def test_boundary_of_24_dashes_and_16_hex_digits(self):
        boundary = "-" * 24 + "3f2a9c0d41b7e865"
        content_type, body = multipart_body(fixture("payload_pause_with_offset.json"),
                                            thumb=fixture("thumb.jpg"), boundary=boundary)
        parsed = payloads.parse(content_type, body)
        self.assertEqual((parsed.event, parsed.position_ms), ("media.pause", 41234))


class SeveralSessionsTest(unittest.TestCase):

    def current(self, preferred=None):
        return plex.current_by_player(sessions("sessions_music_and_photos.xml"), preferred)

    def test_paused_music_beats_a_playing_slide_show(self):
        current = self.current()
        self.assertEqual((current[OFFICE].track.media_type, current[OFFICE].state), ("track", "paused"))

    def test_the_named_kind_comes_first(self):
        self.assertEqual(self.current({OFFICE: "photo"})[OFFICE].track.media_type, "photo")
        self.assertEqual(self.current({OFFICE: "music"})[OFFICE].track.media_type, "track")

    def test_a_shared_session_key_does_not_merge_two_players(self):
        current = self.current()
        self.assertEqual(current[KITCHEN].track.title, "1/1")
        self.assertEqual(current[OFFICE].track.title, "Once in a Lifetime")

    def test_playing_before_paused_then_the_highest_session_key(self):
        def track(key, state):
            return session(machine_id="p", state=state, session_key=key, media_type="track",
                                title=key + state)
        self.assertEqual(plex.current_by_player(
            [track("9", "playing"), track("10", "paused")])["p"].track.title, "9playing")
        self.assertEqual(plex.current_by_player(
            [track("9", "paused"), track("10", "paused")])["p"].track.title, "10paused")

    def test_a_session_key_of_thousands_of_digits_is_no_crash(self):
        huge = session(machine_id="p", session_key="9" * 4301, media_type="track")
        small = session(machine_id="p", session_key="1", media_type="track", title="small")
        self.assertEqual(plex.current_by_player([huge, small])["p"].track.title, "small")


class FetcherTest(unittest.TestCase):
    """The fetcher with these shapes: which session, which position."""

    class Client:
        timeout = 1.0

        def __init__(self, *answers):
            self.answers = list(answers)

        def sessions(self, timeout=None):
            return self.answers.pop(0)

        def abort(self):
            pass

    def fetch(self, *answers, batches):
        actions = queue.Queue()
        fetcher = keeper(self.Client(*answers), queue.Queue(), actions,
                                 clock=lambda: 100.0, wall=lambda: 1000.0)
        for batch in batches:
            fetcher.handle(batch)
        result = []
        while not actions.empty():
            result.append(actions.get_nowait())
        return fetcher, result

    def test_a_player_without_machine_identifier_is_not_tracked(self):
        fetcher, actions = self.fetch(sessions("sessions_no_machine_id.xml"),
                                      batches=[[trigger()]])
        self.assertEqual((fetcher.states, actions), ({}, []))

    def test_music_stays_current_while_photos_play(self):
        music_webhook = trigger(event="media.pause", machine_id=OFFICE, media_type="track")
        _, actions = self.fetch(sessions("sessions_music_and_photos.xml"),
                                sessions("sessions_music_and_photos.xml"),
                                batches=[[music_webhook], [trigger()]])
        office = [a for a in actions if a.machine_id == OFFICE]
        self.assertEqual([(a.state, a.track.title) for a in office],
                         [("paused", "Once in a Lifetime")])

    def test_webhook_stop_after_the_session_is_gone_keeps_its_position(self):
        (track,) = sessions("sessions_track.xml")
        _, actions = self.fetch([track], [], batches=[
            [trigger(event="media.play", machine_id=OFFICE)],
            [event("payload_stop_with_offset.json")]])
        self.assertEqual([(a.state, a.position_ms, a.track.duration_ms) for a in actions],
                         [("playing", 30496, 259560), ("stopped", 187005, 259560)])

    def test_a_pause_position_is_fresher_than_the_session(self):
        (track,) = sessions("sessions_track.xml")
        _, actions = self.fetch([track], [track], batches=[
            [trigger(event="media.play", machine_id=OFFICE)],
            [event("payload_pause_with_offset.json")]])
        self.assertEqual([(a.state, a.position_ms) for a in actions],
                         [("playing", 30496), ("paused", 41234)])

    def test_the_webhook_duration_fills_in_a_session_without_one(self):
        (track,) = sessions("sessions_track.xml")
        bare = session(**dict(track.__dict__, duration_ms=0, position_ms=0))
        _, actions = self.fetch([bare], batches=[[event("payload_pause_with_offset.json")]])
        self.assertEqual([(a.position_ms, a.track.duration_ms) for a in actions], [(41234, 259560)])

    def test_without_plex_the_webhook_says_position_and_duration(self):
        current, changed = tracker.observe_without_fetch(
            None, event("payload_pause_with_offset.json"), 100.0, 1000.0)
        self.assertTrue(changed)
        self.assertEqual((current.position_ms, current.track.duration_ms), (41234, 259560))


if __name__ == "__main__":
    unittest.main()
