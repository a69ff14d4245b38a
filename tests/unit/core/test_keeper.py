"""The session fetcher: coalescing, filtering, retries, failure logging, start/stop."""

import logging
import queue
import threading
import time
import unittest
from unittest import mock

from streamerbrainz.plex import fetch as sessions
from streamerbrainz.plex.client import PlexError
from tests.support.model import keeper, session, trigger
from streamerbrainz.core.actions import PlayerStateChanged
from streamerbrainz.core.track import Track
from streamerbrainz.core.trigger import Trigger

PI = "5e2b7f3c-8a41-4c1e-9d2a-3f6b1c0e7a99"
TV = "tv-1234"
LOGGER = "streamerbrainz.plex.fetch"


def track(machine_id=PI, state="playing", session_key="53", rating_key="6260",
          title="Once in a Lifetime", player="Office", product="Plexamp"):
    return session(machine_id=machine_id, player=player, product=product,
                   platform="Linux", state=state, session_key=session_key,
                   rating_key=rating_key, media_type="track", title=title,
                   artist="Talking Heads", album="Once in a Lifetime: The Best Of",
                   duration_ms=259560, position_ms=30496)


def movie(state="playing"):
    return session(machine_id=TV, player="Living Room TV",
                   product="Plex for Android (TV)", state=state, session_key="54",
                   rating_key="2001", media_type="movie", title="Big Buck Bunny",
                   duration_ms=596000, position_ms=120000)


def webhook(name="media.play", player=PI):
    return trigger(event=name, machine_id=player, player="Office",
                        title="Once in a Lifetime", artist="Talking Heads",
                        album="Once in a Lifetime: The Best Of", rating_key="6260")


class FakeClient:
    """Stands in for PlexClient: answers from a script, counts calls."""

    def __init__(self, *answers, timeout=1.0, on_call=None):
        self.answers = list(answers)
        self.timeout = timeout
        self.calls = 0
        self.timeouts = []
        self.aborted = threading.Event()
        self.on_call = on_call

    def sessions(self, timeout=None):
        self.calls += 1
        self.timeouts.append(timeout)
        if self.on_call is not None:
            self.on_call()
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, BaseException):
            raise answer
        return list(answer)

    def abort(self):
        self.aborted.set()


class Clock:

    def __init__(self, now=1000.0):
        self.now = now

    def __call__(self):
        return self.now


def drain(q):
    items = []
    while True:
        try:
            items.append(q.get_nowait())
        except queue.Empty:
            return items


def spotify(state=None, title="", track_id="", event=""):
    """A bridged source's trigger, as ``sources.events`` makes them."""
    return Trigger(source="bridge", origin="spotify", machine_id="spotify", player="Spotify",
                   product="librespot", event=event or state or "track_changed", state=state,
                   track=Track(title=title, rating_key=track_id))


class BridgedSourceTest(unittest.TestCase):

    def make(self, client):
        self.actions = queue.Queue()
        return keeper(client, queue.Queue(), self.actions, followed=(PI,),
                      clock=Clock(1000.0), wall=Clock(1_700_000_000.0))

    def test_its_own_events_decide_and_a_plex_fetch_never_touches_it(self):
        client = FakeClient([])  # Plex lists nothing at all
        fetcher = self.make(client)
        fetcher.handle([spotify(title="Song", track_id="t1"), spotify("playing", track_id="t1")])
        fetcher.handle([webhook("media.stop")])  # a fetch: Plex knows nothing of Spotify
        (change,) = drain(self.actions)
        self.assertEqual((change.machine_id, change.state, change.source, change.track.title,
                          change.player), ("spotify", "playing", "spotify", "Song", "Spotify"))
        self.assertEqual(fetcher.states["spotify"].state, "playing")
        self.assertEqual(client.calls, 1)

    def test_a_new_track_while_playing_is_a_change_and_while_stopped_is_none(self):
        fetcher = self.make(None)
        fetcher.handle([spotify("playing", "One", "t1")])
        fetcher.handle([spotify(title="Two", track_id="t2")])
        fetcher.handle([spotify("stopped")])
        fetcher.handle([spotify(title="Three", track_id="t3")])
        self.assertEqual([(c.kind, c.state, c.track.title) for c in drain(self.actions)],
                         [("play", "playing", "One"), ("track", "playing", "Two"),
                          ("stop", "stopped", "Two")])
        self.assertEqual(fetcher.states["spotify"].track.title, "Three")

    def test_a_title_that_comes_after_its_track_is_announced(self):
        fetcher = self.make(None)
        fetcher.handle([spotify("playing", track_id="t1")])
        fetcher.handle([spotify(title="One", track_id="t1")])
        fetcher.handle([spotify(title="One", track_id="t1")])
        self.assertEqual([(c.kind, c.track.title) for c in drain(self.actions)],
                         [("play", ""), ("track", "One")])

    def test_at_most_so_many_sources_are_tracked_and_a_stopped_one_makes_room(self):
        from streamerbrainz.core.tracker import MAX_SOURCES
        fetcher = self.make(None)

        def source(name, state):
            return Trigger(source="bridge", origin=name, machine_id=name, player=name,
                           event=state, state=state)
        fetcher.handle([source("s%d" % i, "playing") for i in range(MAX_SOURCES + 5)])
        self.assertEqual(len(fetcher.states), MAX_SOURCES)
        fetcher.handle([source("s0", "stopped"), source("late", "playing")])
        self.assertIn("late", fetcher.states)
        self.assertNotIn("s0", fetcher.states)
        self.assertEqual(len(fetcher.states), MAX_SOURCES)

    def test_a_pause_of_a_stopped_source_is_no_change(self):
        fetcher = self.make(None)
        fetcher.handle([spotify("paused")])  # the sink closed with nothing playing
        fetcher.handle([spotify("playing", "One", "t1"), spotify("paused")])
        self.assertEqual([c.state for c in drain(self.actions)], ["playing", "paused"])

    def test_a_pause_naming_the_same_track_keeps_what_is_known_of_it(self):
        fetcher = self.make(None)
        fetcher.handle([spotify("playing", "One", "t1"), spotify("paused", track_id="t1")])
        changes = drain(self.actions)
        self.assertEqual([(c.state, c.track.title) for c in changes],
                         [("playing", "One"), ("paused", "One")])


class HandleTest(unittest.TestCase):

    def make(self, client, followed=(), timeout=1.0):
        self.clock = Clock(1000.0)
        self.wall = Clock(1_700_000_000.0)
        self.actions = queue.Queue()
        return keeper(client, queue.Queue(), self.actions, followed=followed,
                              timeout=timeout, clock=self.clock, wall=self.wall)

    def test_a_batch_of_many_triggers_costs_one_fetch(self):
        client = FakeClient([track()])
        fetcher = self.make(client)
        batch = [webhook() for _ in range(50)] + [trigger() for _ in range(50)]
        fetcher.handle(batch)
        self.assertEqual(client.calls, 1)
        self.assertEqual(len(drain(self.actions)), 1)

    def test_state_changed_action_fields(self):
        fetcher = self.make(FakeClient([track()]))
        fetcher.handle([webhook()])
        (action,) = drain(self.actions)
        self.assertIsInstance(action, PlayerStateChanged)
        self.assertEqual(action.machine_id, PI)
        self.assertEqual(action.state, "playing")
        self.assertEqual(action.previous_state, "stopped")
        self.assertEqual((action.track.title, action.track.artist, action.track.album),
                         ("Once in a Lifetime", "Talking Heads", "Once in a Lifetime: The Best Of"))
        self.assertEqual((action.position_ms, action.track.duration_ms), (30496, 259560))
        self.assertEqual((action.track.session_key, action.track.rating_key), ("53", "6260"))
        self.assertEqual((action.player, action.product), ("Office", "Plexamp"))

    def test_same_state_seen_twice_is_one_action(self):
        fetcher = self.make(FakeClient([track()]))
        fetcher.handle([webhook()])
        fetcher.handle([webhook()])
        fetcher.handle([trigger()])
        self.assertEqual(len(drain(self.actions)), 1)

    def test_pause_then_vanish(self):
        client = FakeClient([track()], [track(state="paused")], [])
        fetcher = self.make(client)
        fetcher.handle([webhook("media.play")])
        self.clock.now += 5
        fetcher.handle([webhook("media.pause")])
        self.clock.now += 5
        fetcher.handle([trigger()])
        states = [(a.previous_state, a.state, a.track.title) for a in drain(self.actions)]
        self.assertEqual(states, [("stopped", "playing", "Once in a Lifetime"),
                                  ("playing", "paused", "Once in a Lifetime"),
                                  ("paused", "stopped", "Once in a Lifetime")])

    def test_pause_event_decides_over_a_playing_session(self):
        fetcher = self.make(FakeClient([track()]))
        fetcher.handle([webhook("media.play")])
        fetcher.handle([webhook("media.play"), webhook("media.pause")])
        actions = drain(self.actions)
        self.assertEqual([a.state for a in actions], ["playing", "paused"])

    def test_stop_event_with_session_gone_emits_stopped(self):
        fetcher = self.make(FakeClient([track()], []))
        fetcher.handle([webhook("media.play")])
        self.clock.now += 2
        fetcher.handle([webhook("media.stop")])
        actions = drain(self.actions)
        self.assertEqual([a.state for a in actions], ["playing", "stopped"])
        self.assertEqual(actions[-1].track.title, "Once in a Lifetime")
        self.assertEqual(actions[-1].position_ms, 30496 + 2000)

    def test_two_sessions_for_one_player_uses_the_highest_session_key(self):
        stale = track(state="paused", session_key="9", rating_key="1", title="Stale")
        fresh = track(session_key="100", rating_key="2", title="Fresh")
        fetcher = self.make(FakeClient([fresh, stale]))
        fetcher.handle([webhook()])
        (action,) = drain(self.actions)
        self.assertEqual((action.track.title, action.state, action.track.session_key),
                         ("Fresh", "playing", "100"))

    def test_other_players_are_ignored_when_following_one(self):
        client = FakeClient([track(), movie()])
        fetcher = self.make(client, followed=[PI])
        fetcher.handle([webhook(), webhook("media.play", player=TV)])
        actions = drain(self.actions)
        self.assertEqual([a.machine_id for a in actions], [PI])
        self.assertNotIn(TV, fetcher.states)

    def test_a_foreign_event_does_not_decide_anything(self):
        fetcher = self.make(FakeClient([track(), movie("playing")]), followed=[PI])
        fetcher.handle([webhook("media.pause", player=TV)])
        (action,) = drain(self.actions)
        self.assertEqual((action.machine_id, action.state), (PI, "playing"))

    def test_follow_all_when_nothing_is_followed(self):
        fetcher = self.make(FakeClient([track(), movie()]), followed=())
        fetcher.handle([trigger()])
        actions = drain(self.actions)
        self.assertEqual(sorted(a.machine_id for a in actions), sorted([PI, TV]))
        by_player = {a.machine_id: a for a in actions}
        self.assertEqual(by_player[TV].track.title, "Big Buck Bunny")

    def test_idle_fetch_emits_nothing(self):
        fetcher = self.make(FakeClient([]))
        fetcher.handle([trigger()])
        self.assertEqual(drain(self.actions), [])
        self.assertEqual(fetcher.states, {})

    def test_last_fetch_outcome(self):
        client = FakeClient([track()], PlexError("http", "Plex answered 404 Not Found", 404))
        fetcher = self.make(client)
        self.assertEqual(fetcher.sessions.last_fetch.outcome, "never")
        fetcher.handle([webhook()])
        self.assertEqual(fetcher.sessions.last_fetch.outcome, "ok")
        self.assertEqual(fetcher.sessions.last_fetch.at, 1_700_000_000.0)
        self.assertEqual(fetcher.sessions.last_fetch.error, "")
        self.wall.now += 10
        with self.assertLogs(LOGGER, "DEBUG"):
            fetcher.handle([webhook()])
        self.assertEqual(fetcher.sessions.last_fetch.outcome, "error")
        self.assertEqual(fetcher.sessions.last_fetch.at, 1_700_000_010.0)
        self.assertIn("404", fetcher.sessions.last_fetch.error)

    def test_retry_on_a_retryable_error_then_success(self):
        client = FakeClient(PlexError("network", "cannot reach Plex: connection refused"),
                            [track()])
        fetcher = self.make(client)
        with mock.patch.object(sessions, "FIRST_RETRY_DELAY", 0.01):
            fetcher.handle([webhook()])
        self.assertEqual(client.calls, 2)
        self.assertEqual([a.state for a in drain(self.actions)], ["playing"])
        self.assertEqual(fetcher.sessions.last_fetch.outcome, "ok")

    def test_retries_give_up_at_the_deadline(self):
        def advance():
            self.clock.now += 1.0

        client = FakeClient(PlexError("timeout", "Plex did not answer within 1s"),
                            on_call=advance)
        fetcher = self.make(client, timeout=1.0)
        with mock.patch.object(sessions, "FIRST_RETRY_DELAY", 0.01), \
                self.assertLogs(LOGGER, "WARNING") as logs:
            fetcher.handle([trigger()])
        self.assertGreater(client.calls, 1)
        self.assertLess(client.calls, 10)
        self.assertEqual(fetcher.sessions.last_fetch.outcome, "error")
        self.assertEqual(len(logs.records), 1)
        for timeout in client.timeouts:
            self.assertLessEqual(timeout, client.timeout)

    def test_no_retry_on_auth(self):
        client = FakeClient(PlexError("auth", "Plex rejected the token (401)", 401))
        fetcher = self.make(client)
        with self.assertLogs(LOGGER, "ERROR") as logs:
            fetcher.handle([webhook()])
        self.assertEqual(client.calls, 1)
        (record,) = logs.records
        self.assertIn("401", record.getMessage())
        self.assertIn("-plex-token-file", record.getMessage())

    def test_no_retry_on_malformed(self):
        client = FakeClient(PlexError("malformed", "Plex answer is not valid XML"))
        fetcher = self.make(client)
        with self.assertLogs(LOGGER, "WARNING"):
            fetcher.handle([trigger()])
        self.assertEqual(client.calls, 1)

    def test_failure_still_lets_the_webhook_decide(self):
        client = FakeClient(PlexError("malformed", "Plex answer is not valid XML"))
        fetcher = self.make(client, followed=[PI])
        with self.assertLogs(LOGGER, "WARNING"):
            fetcher.handle([webhook("media.play"), webhook("media.play", player=TV)])
        (action,) = drain(self.actions)
        self.assertEqual((action.machine_id, action.state, action.track.title),
                         (PI, "playing", "Once in a Lifetime"))

    def test_repeated_failures_are_logged_once_then_summarised(self):
        client = FakeClient(PlexError("http", "Plex answered 404 Not Found", 404))
        fetcher = self.make(client)
        with self.assertLogs(LOGGER, "WARNING") as logs:
            for _ in range(5):
                fetcher.handle([trigger()])
                self.clock.now += 1
        self.assertEqual(len(logs.records), 1, [r.getMessage() for r in logs.records])
        self.assertEqual(logs.records[0].getMessage(), "Plex fetch failed")
        self.assertIn("404", logs.records[0].fields["error"])
        self.assertNotIn("repeated", logs.records[0].fields)
        self.clock.now += 120
        with self.assertLogs(LOGGER, "WARNING") as logs:
            fetcher.handle([trigger()])
        (record,) = logs.records
        # The summary says how many repeats went unlogged, in the message or a field.
        summary = "%s %s" % (record.getMessage(), getattr(record, "fields", {}))
        self.assertIn("repeated", summary)
        self.assertRegex(summary, r"\b4\b")

    def test_a_different_failure_is_logged_at_once(self):
        client = FakeClient(PlexError("http", "Plex answered 404 Not Found", 404),
                            PlexError("malformed", "Plex answer is not valid XML"))
        fetcher = self.make(client)
        with self.assertLogs(LOGGER, "WARNING") as logs:
            fetcher.handle([trigger()])
            fetcher.handle([trigger()])
        self.assertEqual(len(logs.records), 2)

    def test_recovery_is_logged_and_resets_the_filter(self):
        failure = PlexError("http", "Plex answered 404 Not Found", 404)
        client = FakeClient(failure, failure, [track()], failure)
        fetcher = self.make(client)
        with self.assertLogs(LOGGER, "INFO") as logs:
            fetcher.handle([trigger()])
            fetcher.handle([trigger()])
            fetcher.handle([trigger()])
            fetcher.handle([trigger()])
        messages = [r.getMessage() for r in logs.records]
        self.assertEqual(messages.count("Plex fetch failed"), 2, messages)
        self.assertEqual(messages.count("Plex reachable again"), 1, messages)
        self.assertLess(messages.index("Plex reachable again"),
                        len(messages) - 1 - messages[::-1].index("Plex fetch failed"))

    def test_no_recovery_line_without_a_failure(self):
        fetcher = self.make(FakeClient([track()]))
        with self.assertLogs(LOGGER, "INFO") as logs:
            fetcher.handle([webhook()])
        self.assertNotIn("Plex reachable again", [r.getMessage() for r in logs.records])

    def test_session_found_is_info_when_named_or_changed_else_debug(self):
        fetcher = self.make(FakeClient([track()]))
        with self.assertLogs(LOGGER, "DEBUG") as logs:
            fetcher.handle([trigger()])
            fetcher.handle([trigger()])
            fetcher.handle([webhook()])
        found = [(r.levelname, r.getMessage()) for r in logs.records
                 if r.getMessage() == "Plex session found"]
        self.assertEqual([level for level, _ in found], ["INFO", "DEBUG", "INFO"])
        fields = [r for r in logs.records if r.getMessage() == "Plex session found"][0].fields
        self.assertEqual(fields["title"], "Once in a Lifetime")
        self.assertEqual(fields["player"], "Office")


class BlockingClient:
    """A PlexClient stand-in whose fetch hangs until abort()."""

    timeout = 30.0

    def __init__(self, answers_after_first=None):
        self.entered = threading.Event()
        self.release = threading.Event()
        self.calls = 0
        self.block_first_only = answers_after_first is not None
        self.after = answers_after_first

    def sessions(self, timeout=None):
        self.calls += 1
        if self.block_first_only and self.calls > 1:
            return list(self.after)
        self.entered.set()
        if not self.release.wait(60):
            raise AssertionError("never released")
        if self.block_first_only:
            return [track()]
        raise PlexError("network", "request aborted by shutdown")

    def abort(self):
        self.release.set()


class ThreadTest(unittest.TestCase):

    def setUp(self):
        # Whatever the fetcher logs on the way down is not what these tests check;
        # keep it off the test runner's stderr.
        logger = logging.getLogger(LOGGER)
        saved = logger.propagate
        handler = logging.NullHandler()
        logger.addHandler(handler)
        logger.propagate = False
        self.addCleanup(setattr, logger, "propagate", saved)
        self.addCleanup(logger.removeHandler, handler)

    def start(self, client, triggers=None):
        self.actions = queue.Queue()
        triggers = triggers if triggers is not None else queue.Queue()
        fetcher = keeper(client, triggers, self.actions, timeout=30.0)
        fetcher.start()
        self.addCleanup(client.release.set)
        self.addCleanup(lambda: fetcher.stop(time.monotonic() + 5))
        return fetcher, triggers

    def test_stop_while_idle(self):
        client = BlockingClient()
        fetcher, _ = self.start(client)
        self.assertTrue(fetcher.stop(time.monotonic() + 5))
        self.assertEqual(client.calls, 0)

    def test_stop_cuts_a_hung_fetch(self):
        client = BlockingClient()
        fetcher, triggers = self.start(client)
        triggers.put(webhook())
        self.assertTrue(client.entered.wait(10), "the fetcher never asked Plex")
        # The fake hangs for 60 s and the fetch deadline is 90 s: only
        # abort() can end it within stop()'s 5 s.
        self.assertTrue(fetcher.stop(time.monotonic() + 5), "the fetcher thread is still running")
        self.assertTrue(client.release.is_set(), "stop() did not abort the client")

    def test_stop_with_a_full_queue(self):
        client = BlockingClient()
        fetcher, triggers = self.start(client, queue.Queue(maxsize=1))
        triggers.put(webhook())
        self.assertTrue(client.entered.wait(10))
        triggers.put_nowait(webhook())
        self.assertTrue(fetcher.stop(time.monotonic() + 5))
        self.assertEqual(client.calls, 1, "no new fetch after stop()")

    def test_triggers_queued_during_a_fetch_are_served_by_one_more_fetch(self):
        client = BlockingClient(answers_after_first=[track(state="paused")])
        fetcher, triggers = self.start(client)
        triggers.put(webhook())
        self.assertTrue(client.entered.wait(10))
        for _ in range(100):
            triggers.put(trigger())
        client.release.set()
        first = self.actions.get(timeout=10)
        second = self.actions.get(timeout=10)
        self.assertEqual((first.state, second.state), ("playing", "paused"))
        self.assertTrue(fetcher.stop(time.monotonic() + 5))
        self.assertEqual(client.calls, 2)
        self.assertTrue(self.actions.empty())

    def test_works_with_a_simple_queue(self):
        client = BlockingClient(answers_after_first=[])
        triggers = queue.SimpleQueue()
        fetcher, _ = self.start(client, triggers)
        triggers.put(webhook())
        self.assertTrue(client.entered.wait(10))
        client.release.set()
        self.assertEqual(self.actions.get(timeout=10).state, "playing")
        self.assertTrue(fetcher.stop(time.monotonic() + 5))


if __name__ == "__main__":
    unittest.main()
