"""The sessions fetch: ask Plex with retries, report failures, choose each player's session.

The state keeper calls ``SessionFetch.current`` on its own thread, once per
batch of triggers; nothing here owns a thread. A rejected token (401, 403)
is never retried: one request per trigger, no storm. Each request's whole
answer is bounded by the client's timeout, and a fetch with its retries by
three times that. Failures are logged once per kind and summarised; the
outcome of the last fetch and the fetch in flight are there for
``/healthz``.
"""

import dataclasses
import threading
import time

from streamerbrainz.lib.log import get_logger
from streamerbrainz.lib.repeats import FailureLog
from streamerbrainz.plex import client as plex

log = get_logger(__name__)

FIRST_RETRY_DELAY = 0.25
MAX_RETRY_DELAY = 4.0


@dataclasses.dataclass(frozen=True)
class FetchOutcome:
    """How the last fetch went, for ``/healthz``."""

    outcome: str = "never"  # never, ok or error
    at: float = 0.0  # wall-clock seconds
    error: str = ""


class SessionFetch:
    """Asks one Plex server for its sessions on behalf of the state keeper.

    Written by the keeper's thread only, read by ``/healthz`` on a worker:
    ``last_fetch`` (replaced whole) and ``fetch_started`` (monotonic, or
    None when no fetch is in flight).
    """

    def __init__(self, client, timeout=5.0, clock=time.monotonic, wall=time.time):
        self.client = client
        self.deadline = timeout * 3
        self.clock = clock
        self.wall = wall
        self.last_fetch = FetchOutcome()
        self.fetch_started = None
        self.last_fetch_at = clock()
        self._found = {}
        self._failures = FailureLog(log)
        self._aborted = threading.Event()

    def abort(self):
        """Cut the request in flight and any wait between retries (from any thread)."""
        self._aborted.set()
        self.client.abort()

    def current(self, events, states, follows, at_start=False):
        """Map machine id → its current Session, or None when Plex could not be asked.

        ``events``: the trigger per machine id of this batch (a trigger that
        names the player announces its session at INFO). ``states``: the
        keeper's PlayerStates, whose media kind breaks ties between a
        player's sessions. ``follows``: whether a machine id is followed.
        """
        try:
            sessions = self.fetch()
        except plex.PlexError as err:
            self._report_failure(err, at_start)
            return None
        self._report_success()
        preferred = {machine_id: state.track.kind() for machine_id, state in states.items()}
        preferred.update((machine_id, event.track.kind())
                         for machine_id, event in events.items() if event.track.media_type)
        # A session whose Player has no machineIdentifier names no player we can follow.
        current = plex.current_by_player(
            (s for s in sessions if s.machine_id and follows(s.machine_id)), preferred)
        for machine_id in sorted(current):
            self._log_found(current[machine_id], announce=machine_id in events)
        return current

    def forget(self, machine_id):
        """Forget what was last announced of a player the keeper dropped."""
        self._found.pop(machine_id, None)

    def fetch_progress(self):
        """``(in progress, seconds it has run)`` of the fetch in flight, for ``/healthz``."""
        started = self.fetch_started
        if started is None:
            return False, 0.0
        return True, max(0.0, self.clock() - started)

    def fetch(self):
        """The sessions now playing, retrying transient failures until the deadline."""
        self.fetch_started = self.clock()
        try:
            return self._fetch()
        finally:
            self.fetch_started = None

    def _fetch(self):
        self.last_fetch_at = self.clock()
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
                if not err.retryable or self._aborted.is_set() or remaining <= delay:
                    raise self._final(err, tries) from None
                log.debug("Plex fetch failed; retrying", error=str(err), retry_in_s=delay)
                if self._aborted.wait(delay):
                    raise
                delay = min(delay * 2, MAX_RETRY_DELAY)

    def _final(self, err, tries):
        """The error a fetch ends with; a timeout names the whole fetch's deadline."""
        if err.kind != "timeout" or tries < 2:
            return err
        return plex.PlexError("timeout", "Plex answer too slow: no whole answer in %d tries "
                              "within %gs (three times -plex-timeout)" % (tries, self.deadline))

    def _log_found(self, session, announce):
        """INFO when a trigger named the player or the session changed, else DEBUG."""
        track = session.track
        key = (session.state, track.rating_key, track.session_key)
        fields = dict(title=track.title, artist=track.artist, album=track.album,
                      state=session.state, position_ms=session.position_ms,
                      duration_ms=track.duration_ms, player=session.player)
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
