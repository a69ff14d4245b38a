"""The soft transport: a command for a player, made gentle and confirmed.

``pause`` and ``stop`` fade the volume out first (``quiet``: CamillaDSP,
when it is configured), then go to the player; ``play`` goes to the player,
and the volume opens once the player really plays (the volume's own rule
on the change that follows). Plexamp answers OK even to a command it then
ignores, so every command is confirmed by the state that follows, within
``confirm_s``; a soft pause the player ignored gives the volume back
(``release``): the music is still playing.

Requests come from HTTP workers (``POST /control``) and from the main
thread (a source that yields); the transport's own thread runs them one at
a time, in order. ``_latest`` (the last change, numbered) is
written by the main thread (as a listener) for the player named by
``_watching`` (set by the transport's thread), both under ``_changed``.
"""

import collections
import queue
import threading
import time

from streamerbrainz.core.listener import Listener
from streamerbrainz.core.tracker import PAUSED, PLAYING, STOPPED
from streamerbrainz.lib.log import get_logger
from streamerbrainz.lib.service import ThreadService

log = get_logger(__name__)

ACTIONS = ("play", "pause", "toggle", "next", "previous", "stop")
SOFT = ("pause", "stop")
CONFIRM_S = 3.0
STOP = object()

Result = collections.namedtuple("Result", "done reason")


def resolve(action, state):
    """The action to send for ``action`` on a player in ``state`` (a toggle decides here)."""
    if action == "toggle":
        return "pause" if state == PLAYING else "play"
    return action


def confirmed(action, before, now):
    """Whether ``now`` (a change since the command, or None) shows ``action`` done."""
    if now is None:
        return False
    state = now.state
    if action == "play":
        return state == PLAYING
    if action == "pause":
        return state in (PAUSED, STOPPED)
    if action == "stop":
        return state == STOPPED
    # next, previous: another track than the one before
    return before is None or now.track.identity() != before.track.identity()


def already(action, before):
    """Whether there is nothing to do: the player is already where ``action`` goes."""
    state = before.state if before is not None else STOPPED
    return ((action == "play" and state == PLAYING)
            or (action == "pause" and state in (PAUSED, STOPPED))
            or (action == "stop" and state == STOPPED))


class Ticket:
    """One request's answer, set by the transport's thread; ``wait`` for it.

    ``reopen``: once a soft pause is done, give the volume back at once (a
    source that yields: the one that starts plays through the same volume).
    """

    def __init__(self, machine_id, action, cause, reopen=False):
        self.machine_id, self.action, self.cause = machine_id, action, cause
        self.reopen = reopen
        self.result = None
        self._ready = threading.Event()

    def answer(self, done, reason=""):
        self.result = Result(done, reason)
        self._ready.set()

    def wait(self, timeout):
        """The Result, or a not-done one when none came within ``timeout``."""
        if not self._ready.wait(timeout):
            return Result(False, "no answer within %gs" % timeout)
        return self.result


class Transport(ThreadService, Listener):
    """Runs soft transport requests on its own thread; hears changes to confirm them.

    ``send(machine_id, action)`` gives the command to the player (raises
    with a one-line text when it could not); ``states()`` is the keeper's
    snapshot; ``quiet(cause, player, deadline)`` and ``release(cause,
    player)`` are the volume's (None without CamillaDSP).
    """

    name = "transport"

    def __init__(self, send, states, quiet=None, release=None, confirm_s=CONFIRM_S,
                 clock=time.monotonic):
        super().__init__()
        self.send = send
        self.states = states
        self.quiet = quiet
        self.release = release
        self.confirm_s = confirm_s
        self.clock = clock
        self.inbox = queue.SimpleQueue()
        self._changed = threading.Condition()
        self._changes = 0
        self._watching = None  # the machine id of the request under way
        self._latest = (0, None)  # its last change since, numbered
        self._answered = {}  # (machine id, action) -> when the player last answered it

    # -- asking (any thread) ------------------------------------------------------

    def request(self, machine_id, action, cause, reopen=False):
        """Queue ``action`` for the player; return its Ticket at once."""
        ticket = Ticket(machine_id, action, cause, reopen)
        self.inbox.put(ticket)
        return ticket

    def wait_answered(self, machine_id, action, since, timeout):
        """Wait until the player answered ``action`` sent after ``since`` (or ``timeout``)."""
        deadline = self.clock() + timeout
        with self._changed:
            while self._answered.get((machine_id, action), -1.0) < since:
                left = deadline - self.clock()
                if left <= 0 or self.stopping.is_set():
                    return False
                self._changed.wait(left)
        return True

    # -- the listener (main thread) ---------------------------------------------

    def state_changed(self, change):
        with self._changed:
            self._changes += 1
            if change.machine_id == self._watching:
                self._latest = (self._changes, change)
                self._changed.notify_all()

    # -- the service ----------------------------------------------------------------

    def wake(self):
        self.inbox.put(STOP)
        with self._changed:
            self._changed.notify_all()

    def run(self):
        while True:
            ticket = self.inbox.get()
            if ticket is STOP or self.stopping.is_set():
                if ticket is not STOP:
                    ticket.answer(False, "the daemon is stopping")
                return
            try:
                ticket.answer(*self.carry_out(ticket))
            except Exception:
                log.exception("soft transport failed; carrying on")
                ticket.answer(False, "internal error (see the daemon's log)")
            finally:
                with self._changed:
                    self._watching = None

    def carry_out(self, ticket):
        """Do one request; return ``(done, reason)``, and say it in one log line."""
        machine_id, cause = ticket.machine_id, ticket.cause
        before = self.states().get(machine_id)
        player = before.player if before is not None else ""
        action = resolve(ticket.action, before.state if before is not None else STOPPED)
        fields = dict(action=action, player=player, cause=cause)
        if already(action, before):
            log.info("Plexamp %s: nothing to do" % action, state=before.state if before
                     else STOPPED, **fields)
            return True, ""
        with self._changed:
            since, self._watching = self._changes, machine_id
        soft = action in SOFT and self.quiet is not None
        if soft:
            self.quiet(cause, player, self.clock() + 5.0)
        try:
            try:
                self.send(machine_id, action)
            finally:
                with self._changed:
                    self._answered[(machine_id, action)] = self.clock()
                    self._changed.notify_all()
        except Exception as err:
            reason = str(err)
            if soft:
                self.release("%s not done" % action, player)
            log.warn("Plexamp %s not done" % action, reason=reason, **fields)
            return False, reason
        if self._wait_for(lambda: confirmed(action, before, self._since(since))):
            log.info("Plexamp %s done" % action, **fields)
            if soft and ticket.reopen:
                self.release(cause, player)
            return True, ""
        reason = "the player did not %s within %gs" % (action, self.confirm_s)
        if soft:
            self.release("%s ignored" % action, player)
            reason += "; the volume is back"
        log.warn("Plexamp %s not done" % action, reason=reason, **fields)
        return False, reason

    def _since(self, since):
        """The watched player's last change if it came after change number ``since``."""
        number, change = self._latest
        return change if number > since else None

    def _wait_for(self, predicate):
        deadline = self.clock() + self.confirm_s
        with self._changed:
            while not predicate():
                left = deadline - self.clock()
                if left <= 0 or self.stopping.is_set():
                    return False
                self._changed.wait(left)
        return True
