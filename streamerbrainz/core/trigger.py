"""``Trigger``: something happened to a player; go and find out what.

Every intake makes the same value: a webhook, Plex's notification stream,
the local Plexamp's timeline, the poll timer, the start-up, a SIGHUP. The
state keeper takes them off the trigger queue. Each source turns its own
vocabulary into these fields (``media.pause`` into ``state="paused"``), so
nothing past the intake knows how a source spells things.
"""

import dataclasses
from typing import Optional

from streamerbrainz.core.track import NO_TRACK, Track

PLEX = "plex"  # the origin of every player Plex reports; a bridge's is its source's name


@dataclasses.dataclass(frozen=True)
class Trigger:
    """One trigger for the state keeper.

    ``machine_id`` is empty when the trigger names no player (a manual empty
    POST, the poll timer). ``state`` is the state the trigger decides
    (``playing``, ``paused``, ``stopped``) or None when the next fetch
    decides. ``track`` holds what the trigger said of the media, which
    stands in for a session when Plex cannot be asked. ``position_ms`` is
    -1 when unknown; ``position_is_fresh`` says it is fresher than a
    session's (a pause, a timeline, a notification report the moment).
    ``event`` is the source's own name for what happened, for the log.
    ``origin`` is what the player is: ``plex``, or the name of a bridged
    source (``spotify``, ``airplay``) whose bridge decides its state alone.
    """

    source: str = "webhook"
    event: str = ""
    machine_id: str = ""
    player: str = ""
    product: str = ""
    account: str = ""
    track: Track = NO_TRACK
    state: Optional[str] = None
    position_ms: int = -1
    position_is_fresh: bool = False
    received_at: float = 0.0
    origin: str = PLEX
