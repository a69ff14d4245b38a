"""Ghost players: a webhook alone never creates a player, and vanished players are forgotten."""

import queue
import unittest

from streamerbrainz.core import tracker
from streamerbrainz.plex.client import PlexError
from streamerbrainz.core.tracker import FORGET_STOPPED_AFTER, MAX_PLAYERS
from tests.unit.core.test_keeper import PI, Clock, FakeClient, drain, track
from tests.support.model import keeper, player_state, trigger

GHOST = "0badc0de-0000-4000-8000-000000000001"
LOGGER = "streamerbrainz.core.keeper"
FETCH_LOGGER = "streamerbrainz.plex.fetch"


def webhook(name="media.play", player=GHOST, source="webhook"):
    return trigger(event=name, machine_id=player, player="Nowhere",
                        title="Once in a Lifetime", rating_key="6260", source=source)


def player(machine_id, state="stopped", updated_at=1000.0):
    return player_state(machine_id=machine_id, state=state, since=updated_at,
                       updated_at=updated_at)


class DecidingEventTest(unittest.TestCase):

    def test_a_listed_player_lets_the_webhook_decide(self):
        event = webhook()
        self.assertIs(tracker.deciding_event(event, None, track(GHOST), fetched=True), event)

    def test_an_unlisted_unknown_player_leaves_the_sessions_list_in_charge(self):
        for name in ("media.play", "media.resume", "media.pause", "media.stop"):
            with self.subTest(name):
                self.assertIsNone(tracker.deciding_event(webhook(name), None, None, fetched=True))

    def test_an_unlisted_known_player_is_not_started_by_a_webhook(self):
        for state in ("playing", "stopped"):
            with self.subTest(state):
                self.assertIsNone(tracker.deciding_event(
                    webhook("media.play"), player(GHOST, state), None, fetched=True))

    def test_a_known_player_whose_session_has_gone_may_still_stop_or_pause(self):
        playing = player(GHOST, "playing")
        for name in ("media.stop", "media.pause"):
            with self.subTest(name):
                event = webhook(name)
                self.assertIs(tracker.deciding_event(event, playing, None, fetched=True), event)

    def test_a_pause_does_not_wake_a_stopped_player(self):
        self.assertIsNone(tracker.deciding_event(webhook("media.pause"), player(GHOST), None,
                                                 fetched=True))

    def test_first_hand_sources_decide_without_a_session(self):
        for source in sorted(tracker.FIRST_HAND_SOURCES):
            with self.subTest(source):
                event = trigger(machine_id=GHOST, reported="playing", source=source)
                self.assertIs(tracker.deciding_event(event, None, None, fetched=True), event)

    def test_without_a_fetch_only_a_followed_or_tracked_player_is_decided(self):
        event = webhook()
        self.assertIsNone(tracker.deciding_event(event, None, None, fetched=False))
        self.assertIs(tracker.deciding_event(event, None, None, fetched=False, followed=True),
                      event)
        self.assertIs(tracker.deciding_event(event, player(GHOST), None, fetched=False), event)

    def test_an_event_without_a_state_passes_through(self):
        event = webhook("media.scrobble")
        self.assertIs(tracker.deciding_event(event, None, None, fetched=True), event)


class ForgetTest(unittest.TestCase):

    def test_a_player_stopped_for_longer_than_the_limit_is_forgotten(self):
        players = {"old": player("old", updated_at=1000.0),
                   "recent": player("recent", updated_at=1000.0 + 10)}
        now = 1000.0 + FORGET_STOPPED_AFTER + 5
        self.assertEqual(tracker.forget(players, now), ["old"])
        self.assertEqual(tracker.forget(players, 1000.0 + FORGET_STOPPED_AFTER), [])

    def test_playing_paused_and_followed_players_are_never_forgotten(self):
        players = {"playing": player("playing", "playing"),
                   "paused": player("paused", "paused"),
                   "followed": player("followed")}
        self.assertEqual(tracker.forget(players, 10 ** 9, followed={"followed"}), [])

    def test_over_the_limit_the_stopped_player_seen_longest_ago_goes_first(self):
        players = {"p%02d" % i: player("p%02d" % i, updated_at=2000.0 - i)
                   for i in range(MAX_PLAYERS)}
        self.assertEqual(tracker.forget(players, 2000.0), [])
        self.assertEqual(tracker.forget(players, 2000.0, room=1), ["p%02d" % (MAX_PLAYERS - 1)])
        players["playing"] = player("playing", "playing", updated_at=0.0)
        self.assertEqual(tracker.forget(players, 2000.0), ["p%02d" % (MAX_PLAYERS - 1)])

    def test_a_full_house_of_playing_players_forgets_nobody(self):
        players = {str(i): player(str(i), "playing") for i in range(MAX_PLAYERS + 3)}
        self.assertEqual(tracker.forget(players, 10 ** 9, room=1), [])


class FetcherTest(unittest.TestCase):

    def make(self, client, followed=()):
        self.clock = Clock(1000.0)
        self.wall = Clock(1_700_000_000.0)
        self.actions = queue.Queue()
        return keeper(client, queue.Queue(), self.actions, followed=followed,
                              timeout=1.0, clock=self.clock, wall=self.wall)

    def test_a_webhook_for_a_player_plex_never_heard_of_changes_nothing(self):
        fetcher = self.make(FakeClient([]))
        fetcher.handle([webhook("media.play"), webhook("media.stop", player="other")])
        self.assertEqual(drain(self.actions), [])
        self.assertEqual(fetcher.snapshot, {})

    def test_a_webhook_for_a_listed_player_decides_as_before(self):
        fetcher = self.make(FakeClient([track(GHOST, state="paused")]))
        fetcher.handle([webhook("media.play")])
        (action,) = drain(self.actions)
        self.assertEqual((action.machine_id, action.state), (GHOST, "playing"))

    def test_a_webhook_play_for_a_player_whose_session_has_gone_stops_it(self):
        fetcher = self.make(FakeClient([track(GHOST)], []))
        fetcher.handle([webhook("media.play")])
        fetcher.handle([webhook("media.play")])
        self.assertEqual([a.state for a in drain(self.actions)], ["playing", "stopped"])

    def test_plex_unreachable_creates_no_player_from_a_webhook(self):
        fetcher = self.make(FakeClient(PlexError("malformed", "Plex answer is not valid XML")))
        with self.assertLogs(FETCH_LOGGER, "WARNING"):
            fetcher.handle([webhook("media.play")])
        self.assertEqual(drain(self.actions), [])
        self.assertEqual(fetcher.states, {})

    def test_plex_unreachable_still_lets_a_webhook_pause_a_tracked_player(self):
        fetcher = self.make(FakeClient([track(GHOST)],
                                       PlexError("malformed", "Plex answer is not valid XML")))
        fetcher.handle([webhook("media.play")])
        with self.assertLogs(FETCH_LOGGER, "WARNING"):
            fetcher.handle([webhook("media.pause")])
        self.assertEqual([a.state for a in drain(self.actions)], ["playing", "paused"])

    def test_without_plex_only_a_followed_player_is_decided_by_a_webhook(self):
        fetcher = self.make(None, followed=[PI])
        fetcher.handle([webhook("media.play"), webhook("media.play", player=PI)])
        self.assertEqual([a.machine_id for a in drain(self.actions)], [PI])
        self.assertEqual(sorted(fetcher.states), [PI])

    def test_without_plex_a_plexamp_timeline_decides(self):
        fetcher = self.make(None)
        fetcher.handle([trigger(machine_id=GHOST, reported="playing",
                                     source="plexamp")])
        self.assertEqual([a.state for a in drain(self.actions)], ["playing"])

    def test_a_player_stopped_a_day_ago_is_forgotten_with_a_debug_line(self):
        fetcher = self.make(FakeClient([track(GHOST)], []))
        fetcher.handle([trigger()])
        fetcher.handle([trigger()])
        self.assertEqual(fetcher.states[GHOST].state, "stopped")
        self.wall.now += FORGET_STOPPED_AFTER + 1
        with self.assertLogs(LOGGER, "DEBUG") as logs:
            fetcher.handle([trigger()])
        self.assertEqual(fetcher.snapshot, {})
        (record,) = [r for r in logs.records if r.getMessage() == "player forgotten"]
        self.assertEqual(record.levelname, "DEBUG")
        self.assertEqual(record.fields["machine_id"], GHOST)
        self.assertEqual(record.fields["stopped_s"], FORGET_STOPPED_AFTER + 1)

    def test_a_followed_player_is_kept_however_long_it_is_stopped(self):
        fetcher = self.make(FakeClient([track(PI)], []), followed=[PI])
        fetcher.handle([trigger()])
        fetcher.handle([trigger()])
        self.wall.now += 10 * FORGET_STOPPED_AFTER
        fetcher.handle([trigger()])
        self.assertEqual(fetcher.snapshot[PI].state, "stopped")

    def test_many_players_listed_at_once_are_bounded(self):
        listed = [track("p%03d" % i, session_key=str(i)) for i in range(MAX_PLAYERS + 20)]
        fetcher = self.make(FakeClient(listed))
        with self.assertLogs(LOGGER, "DEBUG") as logs:
            fetcher.handle([trigger()])
        self.assertEqual(len(fetcher.snapshot), MAX_PLAYERS)
        self.assertEqual(len(drain(self.actions)), MAX_PLAYERS)
        (record,) = [r for r in logs.records
                     if r.getMessage() == "players not tracked: too many players"]
        self.assertEqual(record.fields["untracked"], 20)

    def test_a_new_player_takes_the_place_of_the_stopped_one_seen_longest_ago(self):
        first = [track("p%03d" % i, session_key=str(i)) for i in range(MAX_PLAYERS)]
        fetcher = self.make(FakeClient(first, [], [track(GHOST)]))
        fetcher.handle([trigger()])
        self.wall.now += 1
        fetcher.handle([trigger()])  # all stopped now, at the same moment
        self.wall.now += 1
        fetcher.handle([trigger()])
        self.assertEqual(len(fetcher.snapshot), MAX_PLAYERS)
        self.assertEqual(fetcher.snapshot[GHOST].state, "playing")
        self.assertNotIn("p000", fetcher.snapshot)


if __name__ == "__main__":
    unittest.main()
