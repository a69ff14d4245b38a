"""The state keeper: triggers in, ``PlayerStateChanged`` actions out, on one thread.

One fetch in flight at a time. Whatever queued while a fetch was running is
served by the next fetch, which starts as soon as the current one ends, so
a burst of webhooks costs a handful of fetches and no fixed delay. The
state rules live in ``tracker``; the fetch is handed in (``sessions``, the
Plex room's ``SessionFetch``); this module only moves data.
"""

import queue
import time

from streamerbrainz.core import tracker
from streamerbrainz.core.actions import PlayerStateChanged
from streamerbrainz.core.trigger import PLEX, Trigger
from streamerbrainz.lib.log import get_logger
from streamerbrainz.lib.service import ThreadService

log = get_logger(__name__)

STOP = object()


class StateKeeper(ThreadService):
    """Owns the per-player state; fed by ``triggers``, feeds ``actions``.

    ``sessions`` asks the media server what plays (``current(events,
    states, follows, at_start)`` → machine id to session, or None when it
    could not be asked); None when no server is configured: triggers from
    the other sources then decide the state on their own. With a
    ``poll_interval``, a fetch also happens when no other fetch did for that
    long.

    ``states`` belongs to the keeper's thread. ``snapshot`` is a copy of it,
    replaced whole after every batch, for readers on other threads.
    """

    name = "sessions"

    def __init__(self, triggers, actions, sessions=None, followed=(), poll_interval=0.0,
                 clock=time.monotonic, wall=time.time, known=None):
        super().__init__()
        self.triggers = triggers
        self.actions = actions
        self.sessions = sessions
        self.followed = frozenset(followed)
        self.poll_interval = poll_interval
        self.clock = clock
        self.wall = wall
        # ``known``: what was true before a restart, so that the first fetch is
        # compared with it rather than with nothing.
        self.states = dict(known or {})
        self.snapshot = dict(self.states)
        self._untracked = 0

    def wake(self):
        try:
            self.triggers.put_nowait(STOP)
        except queue.Full:
            pass  # the thread has work queued, so it wakes and sees stopping
        if self.sessions is not None:
            self.sessions.abort()

    def run(self):
        while True:
            batch = self._next_batch()
            if batch is None:
                return
            try:
                self.handle(batch)
            except Exception:
                log.exception("session fetcher failed; carrying on")

    def _next_batch(self):
        timeout = None
        if self.poll_interval and self.sessions is not None:
            timeout = max(0.0, self.sessions.last_fetch_at + self.poll_interval - self.clock())
        try:
            batch = [self.triggers.get(timeout=timeout)]
        except queue.Empty:
            batch = [Trigger(received_at=self.clock(), source="poll")]
        while True:
            try:
                batch.append(self.triggers.get_nowait())
            except queue.Empty:
                break
        if self.stopping.is_set() or any(item is STOP for item in batch):
            return None
        return batch

    def follows(self, machine_id):
        return not self.followed or machine_id in self.followed

    def handle(self, batch):
        """One fetch for a batch of triggers, then the state rules per player.

        A bridged source's events (Spotify, AirPlay) decide its state one by
        one, in order; the fetch never touches those players.
        """
        events = {}
        for event in batch:
            if event.origin != PLEX and event.machine_id:
                self._update(event.machine_id, *tracker.observe_source(
                    self.states.get(event.machine_id), event, self.clock(), self.wall()))
            elif event.machine_id and self.follows(event.machine_id):
                if event.state is not None or event.machine_id not in events:
                    events[event.machine_id] = event
        if all(event.origin != PLEX for event in batch):
            self.snapshot = dict(self.states)
            return  # a bridge's news alone: nothing to ask Plex
        plex_states = {machine_id: state for machine_id, state in self.states.items()
                       if state.source == PLEX}
        current = None
        if self.sessions is not None:
            current = self.sessions.current(events, plex_states, self.follows,
                                            at_start=any(e.source == "start" for e in batch))
        if current is None:
            for machine_id, event in events.items():
                previous = self.states.get(machine_id)
                event = tracker.deciding_event(event, previous, None, fetched=False,
                                               followed=machine_id in self.followed)
                self._update(machine_id, *tracker.observe_without_fetch(
                    previous, event, self.clock(), self.wall()))
            self._forget(self.wall())
            self.snapshot = dict(self.states)
            return
        now, wall = self.clock(), self.wall()
        for machine_id in sorted(set(current) | set(plex_states) | set(events)):
            session = current.get(machine_id)
            previous = self.states.get(machine_id)
            event = tracker.deciding_event(events.get(machine_id), previous, session, fetched=True)
            self._update(machine_id, *tracker.observe(previous, session, event, now, wall))
        self._forget(wall)
        self.snapshot = dict(self.states)
        if self._untracked:
            log.debug("players not tracked: too many players", untracked=self._untracked,
                      max_players=tracker.MAX_PLAYERS)
            self._untracked = 0

    def _update(self, machine_id, state, changed):
        if state is None:
            return
        previous = self.states.get(machine_id)
        if previous is None and not self._make_room(machine_id, state.source != PLEX):
            return
        self.states[machine_id] = state
        if changed:
            self.actions.put(PlayerStateChanged.from_state(state, previous, self.clock()))

    def _make_room(self, machine_id, bridged=False):
        """Whether a new player may be tracked, forgetting a stopped one if need be."""
        if bridged:
            return self._make_source_room(machine_id)
        if machine_id in self.followed:
            return True
        self._forget(self.wall(), room=1)
        if len(self.states) < tracker.MAX_PLAYERS:
            return True
        if self.sessions is not None:
            self.sessions.forget(machine_id)
        self._untracked += 1
        return False

    def _make_source_room(self, machine_id):
        """Whether a new bridged source may be tracked: MAX_SOURCES at most, stopped ones go."""
        sources = {key: state for key, state in self.states.items() if state.source != PLEX}
        if len(sources) < tracker.MAX_SOURCES:
            return True
        stopped = sorted((state.updated_at, key) for key, state in sources.items()
                         if state.state == tracker.STOPPED)
        if stopped:
            del self.states[stopped[0][1]]
            return True
        log.debug("source not tracked: too many sources", source=machine_id,
                  max_sources=tracker.MAX_SOURCES)
        return False

    def _forget(self, wall, room=0):
        """Drop the players ``tracker.forget`` names, one DEBUG line each."""
        for machine_id in tracker.forget(self.states, wall, self.followed, room):
            state = self.states.pop(machine_id)
            if self.sessions is not None:
                self.sessions.forget(machine_id)
            log.debug("player forgotten", machine_id=machine_id, player=state.player,
                      stopped_s=int(wall - state.updated_at), players=len(self.states))
