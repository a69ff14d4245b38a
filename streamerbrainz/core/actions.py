"""Actions: what the main loop is asked to do, one dataclass each.

The main loop looks an action's type up in its handler table, so a new
action is one new class here and one new entry there.
"""

import dataclasses

from streamerbrainz.core.track import NO_TRACK, Track
from streamerbrainz.core.trigger import PLEX


# The kinds of change, decided once here: the listeners act on them.
PLAY, PAUSE, RESUME, STOP, TRACK, BUFFERING = "play", "pause", "resume", "stop", "track", "buffering"
KINDS_BY_STATE = {"paused": PAUSE, "stopped": STOP, "buffering": BUFFERING}


def change_kind(previous_state, state, same_track):
    """What a change is: a new ``track`` in the same state, or the state it moved to.

    Playing again after a pause, on the same track, is a ``resume``; any
    other start is a ``play``.
    """
    if state == previous_state:
        return TRACK
    if state == "playing":
        return RESUME if previous_state == "paused" and same_track else PLAY
    return KINDS_BY_STATE.get(state, state)


@dataclasses.dataclass(frozen=True)
class PlayerStateChanged:
    """A followed player changed state or track; ``kind`` says which change it is."""

    machine_id: str
    state: str
    previous_state: str
    kind: str = PLAY
    track: Track = NO_TRACK
    position_ms: int = 0
    player: str = ""
    product: str = ""
    at: float = 0.0
    source: str = PLEX

    @classmethod
    def from_state(cls, state, previous, now):
        """The change from PlayerState ``previous`` (or None) to ``state``, at monotonic ``now``."""
        previous_state = previous.state if previous is not None else "stopped"
        same_track = previous is not None and previous.track.identity() == state.track.identity()
        return cls(
            machine_id=state.machine_id,
            state=state.state,
            previous_state=previous_state,
            kind=change_kind(previous_state, state.state, same_track),
            track=state.track,
            position_ms=state.position(now),
            player=state.player,
            product=state.product,
            at=state.updated_at,
            source=state.source,
        )

    def event(self):
        """What happened, in one word: play, pause, stop, buffering or track (a resume plays)."""
        return PLAY if self.kind == RESUME else self.kind

    def fields(self):
        """The change as flat fields, in the order the hooks and ``/events`` show them."""
        track = self.track
        return {
            "machine_id": self.machine_id, "state": self.state,
            "previous_state": self.previous_state, "title": track.title,
            "artist": track.artist, "album": track.album, "position_ms": self.position_ms,
            "duration_ms": track.duration_ms, "session_key": track.session_key,
            "rating_key": track.rating_key, "player": self.player, "product": self.product,
            "source": self.source,
        }


@dataclasses.dataclass(frozen=True)
class Shutdown:
    """Stop the daemon cleanly; ``reason`` names the signal or the cause."""

    reason: str = ""


@dataclasses.dataclass(frozen=True)
class Reload:
    """Re-read the token and secret files (SIGHUP)."""


@dataclasses.dataclass(frozen=True)
class PlayersIdle:
    """No followed player has played for the idle grace; ``last`` is the last change."""

    last: object = None


@dataclasses.dataclass(frozen=True)
class CamillaDSPChanged:
    """CamillaDSP's status changed (connected, the volume it read, what the daemon did)."""

    status: dict = dataclasses.field(default_factory=dict)
