"""When are the players idle? A pure clock-driven rule for on-idle and on-active.

Idle means no followed player has been playing for ``idle_after`` seconds
(paused, stopped or gone). The daemon starts idle, so the first play is an
"active"; a track change, a skip or a pause shorter than the grace changes
nothing. The caller asks ``deadline`` when to look again and ``due`` then.
"""

from streamerbrainz.tracker import PLAYING


class IdleWatch:
    """Tracks which players play and when the idle grace runs out."""

    def __init__(self, idle_after):
        self.idle_after = idle_after
        self.idle = True
        self.deadline = None
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

    def due(self, now):
        """Return True once, when the grace has run out with nothing playing."""
        if self.deadline is None or now < self.deadline:
            return False
        self.deadline = None
        self.idle = True
        return True
