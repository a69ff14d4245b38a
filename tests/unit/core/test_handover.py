"""One source at a time: who yields to a source that starts, and what is said."""

import unittest

from streamerbrainz.core.handover import Handover, yielding
from tests.support import model
from tests.support.logs import captured

PLEXAMP, KITCHEN = "pi-plexamp", "kitchen-plexamp"


def change(machine_id, state, player, source="plex", previous="stopped", rating_key="1"):
    return model.change(machine_id=machine_id, state=state, previous_state=previous,
                        player=player, source=source, rating_key=rating_key)


def spotify(state, previous="stopped"):
    return change("spotify", state, "Spotify", "spotify", previous)


class YieldingTest(unittest.TestCase):

    def test_table(self):
        controllable = {PLEXAMP}.__contains__
        for playing, started, result in (
                ({PLEXAMP}, "spotify", ([PLEXAMP], [])),
                ({"spotify"}, PLEXAMP, ([], ["spotify"])),
                ({"spotify", "airplay"}, PLEXAMP, ([], ["airplay", "spotify"])),
                ({PLEXAMP, "airplay"}, "spotify", ([PLEXAMP], ["airplay"])),
                (set(), "spotify", ([], [])),
                ({"spotify"}, "spotify", ([], []))):
            with self.subTest(playing=sorted(playing), started=started):
                self.assertEqual(yielding(playing, started, controllable), result)


class HandoverTest(unittest.TestCase):

    def setUp(self):
        self.paused = []
        self.handover = Handover({PLEXAMP}.__contains__, {PLEXAMP}.__contains__,
                                 lambda machine_id, cause: self.paused.append((machine_id,
                                                                               cause)))
        manager = captured()
        self.logs = manager.__enter__()
        self.addCleanup(manager.__exit__, None, None, None)

    def test_the_local_plexamp_yields_to_spotify(self):
        self.handover.state_changed(change(PLEXAMP, "playing", "Pi"))
        self.handover.state_changed(spotify("playing"))
        self.assertEqual(self.paused, [(PLEXAMP, "Spotify started")])
        self.assertEqual(self.logs.find("source yields"),
                         [{"player": "Pi", "to": "Spotify", "how": "soft pause",
                           "policy": "last-wins"}])

    def test_off_nothing_yields_and_turned_on_it_knows_what_plays(self):
        self.handover.enabled = False  # -source-policy off, as SIGHUP may set it
        self.handover.state_changed(change(PLEXAMP, "playing", "Pi"))
        self.handover.state_changed(spotify("playing"))
        self.assertEqual((self.paused, self.logs.find("source yields")), ([], []))
        self.handover.state_changed(spotify("paused", previous="playing"))
        self.handover.enabled = True
        self.handover.state_changed(spotify("playing", previous="paused"))
        self.assertEqual(self.paused, [(PLEXAMP, "Spotify started")])

    def test_spotify_cannot_yield_and_it_is_said_once(self):
        self.handover.state_changed(spotify("playing"))
        for _ in range(2):
            self.handover.state_changed(change(PLEXAMP, "playing", "Pi"))
            self.handover.state_changed(change(PLEXAMP, "paused", "Pi", previous="playing"))
        self.assertEqual(self.paused, [])
        self.assertEqual(len(self.logs.find("source cannot yield: it has no control the daemon "
                                            "can use; pause it where it was started", "WARN")), 1)

    def test_a_player_that_is_not_the_streamers_never_yields_nor_wins(self):
        self.handover.state_changed(change(KITCHEN, "playing", "Kitchen"))
        self.handover.state_changed(spotify("playing"))
        self.handover.state_changed(change(PLEXAMP, "playing", "Pi"))
        self.assertEqual(self.paused, [])

    def test_a_new_track_is_no_new_start_and_a_stopped_source_is_forgotten(self):
        self.handover.state_changed(change(PLEXAMP, "playing", "Pi"))
        self.handover.state_changed(spotify("playing"))
        self.handover.state_changed(change(PLEXAMP, "paused", "Pi", previous="playing"))
        self.handover.state_changed(spotify("playing", previous="playing"))  # next track
        self.assertEqual(self.paused, [(PLEXAMP, "Spotify started")])



class SourceFaderTest(unittest.TestCase):

    def setUp(self):
        self.faders = []
        self.handover = Handover({PLEXAMP}.__contains__, {PLEXAMP}.__contains__,
                                 lambda machine_id, cause: None, silence=self.silence)
        manager = captured()
        self.logs = manager.__enter__()
        self.addCleanup(manager.__exit__, None, None, None)

    def silence(self, source, mute):
        if source != "spotify":
            return False
        self.faders.append((source, mute))
        return True

    def test_spotify_that_cannot_yield_is_muted_on_its_fader_until_it_starts_again(self):
        self.handover.state_changed(spotify("playing"))
        self.handover.state_changed(change(PLEXAMP, "playing", "Pi"))
        self.handover.state_changed(spotify("playing", previous="playing"))  # a next track
        self.assertEqual(self.faders, [("spotify", True)])
        self.handover.state_changed(spotify("paused", previous="playing"))
        self.handover.state_changed(spotify("playing", previous="paused"))
        self.assertEqual(self.faders, [("spotify", True), ("spotify", False)])
        self.assertEqual(self.logs.find("source yields"),  # and then Plexamp yields to it
                         [{"player": "Spotify", "to": "Pi", "how": "fader muted",
                           "policy": "last-wins"},
                          {"player": "Pi", "to": "Spotify", "how": "soft pause",
                           "policy": "last-wins"}])
        self.assertEqual(self.logs.find("source cannot yield", "WARN"), [])

    def test_a_source_without_a_fader_is_said_once(self):
        self.handover.state_changed(change("airplay", "playing", "AirPlay", "airplay"))
        self.handover.state_changed(change(PLEXAMP, "playing", "Pi"))
        self.assertEqual(self.faders, [])
        self.assertEqual(len(self.logs.find("source cannot yield: it has no control the daemon "
                                            "can use; pause it where it was started", "WARN")), 1)


if __name__ == "__main__":
    unittest.main()
