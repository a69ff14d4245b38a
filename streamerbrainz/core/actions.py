"""Actions: what the main loop is asked to do, one dataclass each.

The main loop looks an action's type up in its handler table, so a new
action is one new class here and one new entry there.
"""

import dataclasses


@dataclasses.dataclass(frozen=True)
class PlexStateChanged:
    """A followed player changed state or track."""

    machine_id: str
    state: str
    previous_state: str
    title: str = ""
    artist: str = ""
    album: str = ""
    position_ms: int = 0
    duration_ms: int = 0
    session_key: str = ""
    rating_key: str = ""
    player: str = ""
    product: str = ""
    at: float = 0.0

    @classmethod
    def from_state(cls, state, previous_state, now):
        """Build the action from a tracker.PlayerState at monotonic time ``now``."""
        return cls(
            machine_id=state.machine_id,
            state=state.state,
            previous_state=previous_state,
            title=state.title,
            artist=state.artist,
            album=state.album,
            position_ms=state.position(now),
            duration_ms=state.duration_ms,
            session_key=state.session_key,
            rating_key=state.rating_key,
            player=state.player,
            product=state.product,
            at=state.updated_at,
        )


@dataclasses.dataclass(frozen=True)
class Shutdown:
    """Stop the daemon cleanly; ``reason`` names the signal or the cause."""

    reason: str = ""


@dataclasses.dataclass(frozen=True)
class Reload:
    """Re-read the token and secret files (SIGHUP)."""


@dataclasses.dataclass(frozen=True)
class PlayersActive:
    """Something plays again after the players were idle; ``cause`` is the change."""

    cause: PlexStateChanged


@dataclasses.dataclass(frozen=True)
class PlayersIdle:
    """No followed player has played for the idle grace; ``last`` is the last change."""

    last: object = None
