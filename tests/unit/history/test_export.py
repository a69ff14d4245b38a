"""The ListenBrainz export: counted plays as listens, and nothing ListenBrainz would refuse."""

import unittest

from streamerbrainz import __version__
from streamerbrainz.history import export


def play(**changes):
    values = dict(started_at=1796000000.75, counted=1, artist="Artist", title="Song",
                  album="Album", duration_ms=200_000, product="Plexamp")
    values.update(changes)
    return values


class ListenBrainzTest(unittest.TestCase):

    def test_a_counted_play_is_a_listen(self):
        self.assertEqual(export.listenbrainz([play()]), [{
            "listened_at": 1796000000,
            "track_metadata": {
                "artist_name": "Artist", "track_name": "Song", "release_name": "Album",
                "additional_info": {"submission_client": "StreamerBrainz",
                                    "submission_client_version": __version__,
                                    "duration_ms": 200_000, "media_player": "Plexamp"}}}])

    def test_plays_that_are_no_listens_are_left_out(self):
        self.assertEqual(export.listenbrainz([play(counted=0), play(artist=""),
                                              play(title="")]), [])

    def test_what_is_not_known_is_not_sent(self):
        listen, = export.listenbrainz([play(album="", duration_ms=0, product="")])
        self.assertNotIn("release_name", listen["track_metadata"])
        self.assertEqual(set(listen["track_metadata"]["additional_info"]),
                         {"submission_client", "submission_client_version"})


if __name__ == "__main__":
    unittest.main()
