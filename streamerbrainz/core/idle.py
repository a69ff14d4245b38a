"""When are the players idle? A pure clock-driven rule for on-idle and on-active.

Idle means no followed player has been playing for ``idle_after`` seconds
(paused, stopped or gone). The daemon starts idle, so the first play is an
"active"; a track change, a skip or a pause shorter than the grace changes
nothing. With ``idle_at_start`` the grace also runs from the start, so a
daemon that starts while nothing plays says "idle" once (an amplifier left
on by a crash is turned off). The caller asks ``deadline`` when to look
again and ``due`` then.
"""

from streamerbrainz.core.listener import Listener
from streamerbrainz.core.tracker import PLAYING
from streamerbrainz.lib.log import get_logger

log = get_logger(__name__)


class IdleWatch:
    """Tracks which players play and when the idle grace runs out."""

    def __init__(self, idle_after, idle_at_start=False, now=0.0):
        self.idle_after = idle_after
        self.idle = True
        self.deadline = now + idle_after if idle_at_start else None
        self._playing = set()

    def update(self, machine_id, state, now):
        """Note a player's new state; return True when this makes the players active."""
        if state == PLAYING:
            self._playing.add(machine_id)
        else:
            self._playing.discard(machine_id)
        if self._playing:
            self.deadline = None
            if self.idle:
                self.idle = False
                return True
        elif not self.idle and self.deadline is None:
            self.deadline = now + self.idle_after
        return False

    def set_grace(self, idle_after):
        """A new grace (SIGHUP): one running now ends that much sooner or later."""
        if self.deadline is not None:
            self.deadline += idle_after - self.idle_after
        self.idle_after = idle_after

    def due(self, now):
        """Return True once, when the grace has run out with nothing playing."""
        if self.deadline is None or now < self.deadline:
            return False
        self.deadline = None
        self.idle = True
        return True


class IdleLog(Listener):
    """Says in the log when the players become active and when they go idle."""

    name = "idle"

    def __init__(self, idle_after):
        self.idle_after = idle_after

    def players_active(self, change):
        log.info("players active", player=change.player, machine_id=change.machine_id)

    def players_idle(self, last):
        log.info("players idle", idle_after_s=self.idle_after)
