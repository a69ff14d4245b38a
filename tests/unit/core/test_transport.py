"""The soft transport: what each action sends, how it is confirmed, and the volume around it."""

import threading
import time
import unittest

from streamerbrainz.core import transport
from streamerbrainz.core.track import Track
from streamerbrainz.core.tracker import PlayerState
from tests.support import model
from tests.support.logs import captured

PI = "pi-plexamp"


def state(value, rating_key="6260"):
    return PlayerState(machine_id=PI, state=value, player="Pi",
                       track=Track(title="Song", rating_key=rating_key, session_key="53"))


def change(value, previous="playing", rating_key="6260"):
    return model.change(machine_id=PI, state=value, previous_state=previous, player="Pi",
                        title="Song", rating_key=rating_key, session_key="53")


class PureTest(unittest.TestCase):

    def test_a_toggle_is_decided_by_the_state(self):
        for action, now, sent in (("toggle", "playing", "pause"), ("toggle", "paused", "play"),
                                  ("toggle", "stopped", "play"), ("next", "playing", "next")):
            with self.subTest(action=action, now=now):
                self.assertEqual(transport.resolve(action, now), sent)

    def test_what_confirms_each_action(self):
        before = state("playing")
        for action, now, done in (
                ("pause", change("paused"), True), ("pause", change("stopped"), True),
                ("pause", change("playing", "paused"), False), ("pause", None, False),
                ("stop", change("stopped"), True), ("stop", change("paused"), False),
                ("play", change("playing", "paused"), True), ("play", change("paused"), False),
                ("next", change("playing", rating_key="6261"), True),
                ("next", change("playing"), False)):
            with self.subTest(action=action, now=now and now.state):
                self.assertEqual(transport.confirmed(action, before, now), done)

    def test_nothing_to_do_where_the_player_already_is(self):
        for action, now, nothing in (("pause", "paused", True), ("pause", "stopped", True),
                                     ("pause", "playing", False), ("play", "playing", True),
                                     ("stop", "stopped", True), ("next", "playing", False)):
            with self.subTest(action=action, now=now):
                self.assertEqual(transport.already(action, state(now)), nothing)


class Player:
    """A stand-in for the player, the keeper's snapshot and the volume, with a record."""

    def __init__(self, now="playing", obeys=True):
        self.states = {PI: state(now)}
        self.obeys = obeys
        self.record = []
        self.service = None

    def send(self, machine_id, action):
        self.record.append(("send", action))
        if self.obeys == "fails":
            raise OSError("Plexamp http://127.0.0.1:32500 %s: no answer within 2s" % action)
        if self.obeys:
            new = {"pause": "paused", "stop": "stopped", "play": "playing"}[action]
            self.states[PI] = state(new)
            threading.Thread(target=self.service.state_changed,
                             args=(change(new),)).start()  # as the main loop would, later

    def quiet(self, cause, player, deadline):
        self.record.append(("quiet", cause, player))
        return True

    def release(self, cause, player):
        self.record.append(("release", cause, player))


class TransportTest(unittest.TestCase):

    def start(self, player, volume=True):
        service = transport.Transport(player.send, lambda: dict(player.states),
                                      quiet=player.quiet if volume else None,
                                      release=player.release if volume else None,
                                      confirm_s=0.3)
        player.service = service
        manager = captured()
        self.logs = manager.__enter__()
        self.addCleanup(manager.__exit__, None, None, None)
        service.start()
        self.addCleanup(service.stop, time.monotonic() + 2)
        return service

    def test_a_pause_fades_first_then_is_confirmed(self):
        player = Player()
        result = self.start(player).request(PI, "pause", "control").wait(5)
        self.assertEqual(result, transport.Result(True, ""))
        self.assertEqual(player.record, [("quiet", "control", "Pi"), ("send", "pause")])
        self.assertEqual(self.logs.find("Plexamp pause done"),
                         [{"action": "pause", "player": "Pi", "cause": "control"}])

    def test_a_source_that_yields_gives_the_volume_to_the_one_that_starts(self):
        player = Player()
        ticket = self.start(player).request(PI, "pause", "Spotify started", reopen=True)
        self.assertTrue(ticket.wait(5).done)
        self.assertEqual(player.record, [("quiet", "Spotify started", "Pi"), ("send", "pause"),
                                         ("release", "Spotify started", "Pi")])

    def test_the_answer_to_a_command_can_be_waited_for(self):
        player = Player(obeys=False)
        service = self.start(player)
        since = time.monotonic()
        self.assertFalse(service.wait_answered(PI, "pause", since, 0.05))
        service.request(PI, "pause", "control")
        self.assertTrue(service.wait_answered(PI, "pause", since, 5))

    def test_a_pause_the_player_ignores_gives_the_volume_back(self):
        player = Player(obeys=False)
        result = self.start(player).request(PI, "pause", "control").wait(5)
        self.assertFalse(result.done)
        self.assertEqual(result.reason,
                         "the player did not pause within 0.3s; the volume is back")
        self.assertEqual(player.record, [("quiet", "control", "Pi"), ("send", "pause"),
                                         ("release", "pause ignored", "Pi")])
        self.assertEqual(len(self.logs.find("Plexamp pause not done", "WARN")), 1)

    def test_a_command_that_cannot_be_sent_gives_the_volume_back_with_the_reason(self):
        player = Player(obeys="fails")
        result = self.start(player).request(PI, "stop", "control").wait(5)
        self.assertEqual(result, transport.Result(
            False, "Plexamp http://127.0.0.1:32500 stop: no answer within 2s"))
        self.assertEqual(player.record[-1], ("release", "stop not done", "Pi"))

    def test_play_is_sent_without_touching_the_volume(self):
        player = Player("paused")
        self.assertTrue(self.start(player).request(PI, "play", "control").wait(5).done)
        self.assertEqual(player.record, [("send", "play")])

    def test_without_camilladsp_a_pause_is_only_the_command(self):
        player = Player()
        self.assertTrue(self.start(player, volume=False).request(PI, "toggle", "x").wait(5).done)
        self.assertEqual(player.record, [("send", "pause")])

    def test_a_pause_of_a_paused_player_sends_nothing(self):
        player = Player("paused")
        self.assertTrue(self.start(player).request(PI, "pause", "control").wait(5).done)
        self.assertEqual(player.record, [])

    def test_a_ticket_not_answered_in_time_says_so(self):
        ticket = transport.Ticket(PI, "pause", "control")
        self.assertEqual(ticket.wait(0.01), transport.Result(False, "no answer within 0.01s"))

    def test_stop_answers_what_is_still_queued(self):
        player = Player()
        service = self.start(player)
        self.assertTrue(service.stop(time.monotonic() + 2))
        self.assertFalse(service.alive())


if __name__ == "__main__":
    unittest.main()
