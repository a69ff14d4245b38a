"""The session fetcher thread: triggers in, ``PlexStateChanged`` actions out.

One fetch in flight at a time. Whatever queued while a fetch was running is
served by the next fetch, which starts as soon as the current one ends, so
a burst of webhooks costs a handful of fetches and no fixed delay. The
state rules themselves live in ``tracker``; this module only moves data.
"""

import dataclasses
import queue
import threading
import time

from streamerbrainz.plex import client as plex
from streamerbrainz.core import tracker
from streamerbrainz.core.actions import PlexStateChanged
from streamerbrainz.lib.log import get_logger
from streamerbrainz.plex.payloads import WebhookEvent
from streamerbrainz.lib.repeats import FailureLog

log = get_logger(__name__)

STOP = object()
FIRST_RETRY_DELAY = 0.25
MAX_RETRY_DELAY = 4.0


@dataclasses.dataclass(frozen=True)
class FetchOutcome:
    """How the last fetch went, for ``/healthz``."""

    outcome: str = "never"  # never, ok or error
    at: float = 0.0  # wall-clock seconds
    error: str = ""


class SessionFetcher:
    """Owns the per-player state; fed by ``triggers``, feeds ``actions``.

    ``client`` may be None when no Plex server is configured: triggers from
    the other sources then decide the state on their own. With a
    ``poll_interval``, a fetch also happens when no other fetch did for that
    long. ``snapshot`` is a copy of the states, replaced after every batch,
    for readers on other threads.
    """

    def __init__(self, client, triggers, actions, followed=(), timeout=5.0, poll_interval=0.0,
                 clock=time.monotonic, wall=time.time):
        self.client = client
        self.triggers = triggers
        self.actions = actions
        self.followed = frozenset(followed)
        self.deadline = timeout * 3
        self.poll_interval = poll_interval
        self.clock = clock
        self.wall = wall
        self.states = {}
        self.snapshot = {}
        self.last_fetch = FetchOutcome()
        self._last_fetch_at = clock()
        self._found = {}
        self._failures = FailureLog(log)
        self._stopping = threading.Event()
        # Written by the fetcher thread only, read by /healthz: when the fetch
        # in flight started (monotonic), or None.
        self.fetch_started = None
        self._thread = threading.Thread(target=self._run, name="sessions", daemon=True)

    def start(self):
        self._thread.start()

    def stop(self, timeout):
        """Ask the thread to stop, cut a fetch in flight, wait up to ``timeout``."""
        self._stopping.set()
        try:
            self.triggers.put_nowait(STOP)
        except queue.Full:
            pass  # the thread has work queued, so it wakes and sees _stopping
        if self.client is not None:
            self.client.abort()
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def _run(self):
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
        if self.poll_interval and self.client is not None:
            timeout = max(0.0, self._last_fetch_at + self.poll_interval - self.clock())
        try:
            batch = [self.triggers.get(timeout=timeout)]
        except queue.Empty:
            batch = [WebhookEvent(received_at=self.clock(), source="poll")]
        while True:
            try:
                batch.append(self.triggers.get_nowait())
            except queue.Empty:
                break
        if self._stopping.is_set() or any(item is STOP for item in batch):
            return None
        return batch

    def follows(self, machine_id):
        return not self.followed or machine_id in self.followed

    def handle(self, batch):
        """One fetch for a batch of triggers, then the state rules per player."""
        events = {}
        self._untracked = 0
        for event in batch:
            if event.player_uuid and self.follows(event.player_uuid):
                if event.state is not None or event.player_uuid not in events:
                    events[event.player_uuid] = event
        try:
            sessions = self.fetch()
        except plex.PlexError as err:
            self._report_failure(err, at_start=any(e.source == "start" for e in batch))
            sessions = None
        if sessions is None:
            for machine_id, event in events.items():
                previous = self.states.get(machine_id)
                event = tracker.deciding_event(event, previous, None, fetched=False,
                                               followed=machine_id in self.followed)
                self._update(machine_id, *tracker.observe_without_fetch(
                    previous, event, self.clock(), self.wall()))
            self._forget(self.wall())
            self.snapshot = dict(self.states)
            return
        self._report_success()
        # A session whose Player has no machineIdentifier names no player we can follow.
        current = plex.current_by_player(
            (s for s in sessions if s.machine_id and self.follows(s.machine_id)),
            self._preferred_kinds(events))
        now, wall = self.clock(), self.wall()
        for machine_id in sorted(set(current) | set(self.states) | set(events)):
            session = current.get(machine_id)
            if session is not None:
                self._log_found(session, announce=machine_id in events)
            previous = self.states.get(machine_id)
            event = tracker.deciding_event(events.get(machine_id), previous, session, fetched=True)
            self._update(machine_id, *tracker.observe(previous, session, event, now, wall))
        self._forget(wall)
        self.snapshot = dict(self.states)
        if self._untracked:
            log.debug("players not tracked: too many players", untracked=self._untracked,
                      max_players=tracker.MAX_PLAYERS)
            self._untracked = 0

    def _preferred_kinds(self, events):
        """The media kind each player's trigger, else its previous state, named."""
        kinds = {machine_id: plex.media_kind(state.media_type)
                 for machine_id, state in self.states.items()}
        kinds.update((machine_id, plex.media_kind(event.media_type))
                     for machine_id, event in events.items() if event.media_type)
        return kinds

    def _update(self, machine_id, state, changed):
        if state is None:
            return
        previous = self.states.get(machine_id)
        if previous is None and not self._make_room(machine_id):
            return
        self.states[machine_id] = state
        if changed:
            previous_state = previous.state if previous is not None else tracker.STOPPED
            self.actions.put(PlexStateChanged.from_state(state, previous_state, self.clock()))

    def _make_room(self, machine_id):
        """Whether a new player may be tracked, forgetting a stopped one if need be."""
        if machine_id in self.followed:
            return True
        self._forget(self.wall(), room=1)
        if len(self.states) < tracker.MAX_PLAYERS:
            return True
        self._found.pop(machine_id, None)
        self._untracked += 1
        return False

    def _forget(self, wall, room=0):
        """Drop the players ``tracker.forget`` names, one DEBUG line each."""
        for machine_id in tracker.forget(self.states, wall, self.followed, room):
            state = self.states.pop(machine_id)
            self._found.pop(machine_id, None)
            log.debug("player forgotten", machine_id=machine_id, player=state.player,
                      stopped_s=int(wall - state.updated_at), players=len(self.states))

    def fetch_progress(self):
        """``(in progress, seconds it has run)`` of the fetch in flight, for ``/healthz``."""
        started = self.fetch_started
        if started is None:
            return False, 0.0
        return True, max(0.0, self.clock() - started)

    def fetch(self):
        """Ask Plex for the sessions, retrying transient failures until the deadline.

        Returns None when there is no Plex server to ask. A rejected token
        (401, 403) is never retried: one request per trigger, no storm.
        Each request's whole answer is bounded by the client's timeout, and
        the fetch with its retries by three times that.
        """
        if self.client is None:
            return None
        self.fetch_started = self.clock()
        try:
            return self._fetch()
        finally:
            self.fetch_started = None

    def _fetch(self):
        self._last_fetch_at = self.clock()
        deadline = self.clock() + self.deadline
        delay = FIRST_RETRY_DELAY
        tries = 0
        while True:
            remaining = deadline - self.clock()
            tries += 1
            try:
                return self.client.sessions(timeout=max(0.1, min(self.client.timeout, remaining)))
            except plex.PlexError as err:
                remaining = deadline - self.clock()
                if not err.retryable or self._stopping.is_set() or remaining <= delay:
                    raise self._final(err, tries) from None
                log.debug("Plex fetch failed; retrying", error=str(err), retry_in_s=delay)
                if self._stopping.wait(delay):
                    raise
                delay = min(delay * 2, MAX_RETRY_DELAY)

    def _final(self, err, tries):
        """The error a fetch ends with; a timeout names the whole fetch's deadline."""
        if err.kind != "timeout" or tries < 2:
            return err
        return plex.PlexError("timeout", "Plex answer too slow: no whole answer in %d tries "
                              "within %gs (three times -plex-timeout)" % (tries, self.deadline))

    def _log_found(self, session, announce):
        """INFO when a webhook named the player or the session changed, else DEBUG."""
        key = (session.state, session.rating_key, session.session_key)
        fields = dict(title=session.title, artist=session.artist, album=session.album,
                      state=session.state, position_ms=session.view_offset_ms,
                      duration_ms=session.duration_ms, player=session.player_title)
        if announce or self._found.get(session.machine_id) != key:
            self._found[session.machine_id] = key
            log.info("Plex session found", **fields)
        else:
            log.debug("Plex session found", **fields)

    def _report_failure(self, err, at_start=False):
        """One line per kind of failure; repeats summarised once a minute."""
        self.last_fetch = FetchOutcome("error", self.wall(), str(err))
        kind = (err.kind, err.status)
        if err.kind == "auth":
            self._failures.failed(kind, self.clock(), "%s: it may have expired or been revoked; "
                                  "update -plex-token-file and send SIGHUP" % err, "error")
        elif err.kind == "certificate":
            # Not a passing fault: it lasts until the URL or -plex-ca-file changes.
            self._failures.failed(kind, self.clock(), "Plex fetch failed", "error", error=str(err))
        elif at_start:
            self._failures.failed(kind, self.clock(), "Plex is not reachable at start-up; "
                                  "carrying on, the next webhook tries again", error=str(err))
        else:
            self._failures.failed(kind, self.clock(), "Plex fetch failed", error=str(err))

    def _report_success(self):
        self.last_fetch = FetchOutcome("ok", self.wall())
        self._failures.recovered("Plex reachable again")
