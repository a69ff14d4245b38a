"""Per-player state and the rules that decide when it changed: pure functions.

A fetch (or a failed one) plus the events that triggered it go in; the new
``PlayerState`` and whether it is a change come out. Which trigger may
decide a state (``deciding_event``) and which players to forget (``forget``)
are rules here too. Nothing here touches a socket or a clock of its own:
callers pass ``now``.
"""

import dataclasses

from streamerbrainz.core.track import NO_TRACK, Track
from streamerbrainz.core.trigger import PLEX

PLAYING, PAUSED, BUFFERING, STOPPED = "playing", "paused", "buffering", "stopped"
KNOWN_STATES = (PLAYING, PAUSED, BUFFERING, STOPPED)

# Triggers that report a player's state themselves (Plex's notification
# stream, the local Plexamp's timeline); a webhook only says "go and look".
FIRST_HAND_SOURCES = frozenset({"notifications", "plexamp"})
FORGET_STOPPED_AFTER = 86400  # seconds a stopped player stays tracked unseen
MAX_PLAYERS = 64
MAX_SOURCES = 16  # bridged sources (spotify, airplay, ...) tracked at once, apart from these


@dataclasses.dataclass(frozen=True)
class PlayerState:
    """What one followed player is doing, as far as we know.

    ``position_ms`` was true at monotonic time ``position_at``; use
    ``position()`` for the position now. ``since`` and ``updated_at`` are
    wall-clock seconds.
    """

    machine_id: str
    state: str = STOPPED
    track: Track = NO_TRACK
    position_ms: int = 0
    position_at: float = 0.0
    player: str = ""
    product: str = ""
    since: float = 0.0
    updated_at: float = 0.0
    stopped_by_event: bool = False
    source: str = PLEX
    address: str = ""  # the player's LAN address, when Plex's sessions said it

    def position(self, now):
        """The position at monotonic time ``now``, moving only while playing."""
        if self.state != PLAYING:
            return self.position_ms
        moved = self.position_ms + int((now - self.position_at) * 1000)
        if self.track.duration_ms:
            moved = min(moved, self.track.duration_ms)
        return max(moved, 0)


def normalise_state(state):
    """One of the four states; Plex's ``error`` (and anything unknown) counts as stopped."""
    return state if state in KNOWN_STATES else STOPPED


def from_session(session, state, now, wall, previous=None):
    """A PlayerState built from a Session, with ``state`` deciding."""
    return PlayerState(
        machine_id=session.machine_id,
        state=state,
        track=session.track,
        position_ms=session.position_ms,
        position_at=now,
        player=session.player or (previous.player if previous else ""),
        product=session.product or (previous.product if previous else ""),
        address=session.address or (previous.address if previous else ""),
        since=wall,
        updated_at=wall,
    )


def from_event(machine_id, event, state, now, wall, previous=None):
    """A PlayerState from a trigger alone, for when Plex cannot say more."""
    same_track = previous is not None and (not event.track.rating_key
                                           or event.track.rating_key == previous.track.rating_key)
    base = previous if same_track else PlayerState(machine_id=machine_id)
    position = event.position_ms if event.position_ms >= 0 else base.position(now)
    # The session key is the session's: a trigger's track never has one.
    track = dataclasses.replace(event.track, session_key=base.track.session_key)
    return dataclasses.replace(
        base,
        state=state,
        track=track.or_else(base.track),
        player=event.player or base.player,
        product=event.product or base.product,
        position_ms=position,
        position_at=now,
        since=wall,
        updated_at=wall,
        stopped_by_event=(state == STOPPED),
    )


def observe(previous, session, event, now, wall):
    """Return ``(new_state, changed)`` for one player after a fetch.

    ``previous``: the last PlayerState or None. ``session``: the player's
    current Session, or None when it is not in the list. ``event``: the
    latest webhook naming this player since the last fetch, or None; its
    event decides the state, the session supplies the rest.
    """
    decided = event.state if event is not None else None
    if session is not None:
        state = decided or normalise_state(session.state)
        # A lingering session after media.stop must not bring the player back.
        sticky = (decided is None and previous is not None and previous.stopped_by_event
                  and previous.track.identity() == session.track.identity()
                  and state != PLAYING)
        if sticky:
            state = STOPPED
        current = dataclasses.replace(from_session(session, state, now, wall, previous),
                                      stopped_by_event=sticky or decided == STOPPED)
        if event is not None:
            current = _fill_in(current, event)
    elif decided is not None and decided != STOPPED:
        current = from_event(machine_of(previous, event), event, decided, now, wall, previous)
    elif previous is not None and previous.state != STOPPED:
        current = dataclasses.replace(previous, state=STOPPED, position_ms=previous.position(now),
                                      position_at=now, since=wall, updated_at=wall,
                                      stopped_by_event=decided == STOPPED)
        if event is not None and (not event.track.rating_key
                                  or event.track.rating_key == previous.track.rating_key):
            current = _fill_in(current, event, fresh=True)
    elif previous is None and decided == STOPPED:
        current = from_event(event.machine_id, event, STOPPED, now, wall)
    else:
        return previous, False
    return settle(previous, current)


def _fill_in(current, event, fresh=False):
    """``current`` with the event's position and duration where they say better.

    ``fresh``: the event came after what ``current`` knows (the session is gone).
    """
    changes = {}
    if event.position_ms >= 0 and (fresh or event.position_is_fresh or not current.position_ms):
        changes["position_ms"] = event.position_ms
    if event.track.duration_ms and not current.track.duration_ms:
        changes["track"] = dataclasses.replace(current.track, duration_ms=event.track.duration_ms)
    return dataclasses.replace(current, **changes) if changes else current


def observe_source(previous, event, now, wall):
    """``(new_state, changed)`` for a bridged source (Spotify, AirPlay): its bridge decides.

    An event without a state (librespot's ``track_changed``) keeps the state
    and brings the track; a track change while stopped is no change.
    """
    base = previous if previous is not None else PlayerState(machine_id=event.machine_id,
                                                             source=event.origin)
    state = event.state or base.state
    if state == PAUSED and base.state == STOPPED:
        state = STOPPED  # nothing plays: nothing to pause
    track = event.track
    if track == NO_TRACK:
        track = base.track
    elif track.rating_key and track.rating_key == base.track.rating_key:
        track = track.or_else(base.track)
    if event.position_ms >= 0:
        position = event.position_ms
    elif track.identity() == base.track.identity():
        position = base.position(now)
    else:
        position = 0
    current = dataclasses.replace(
        base, state=state, track=track, position_ms=position, position_at=now,
        player=event.player or base.player, product=event.product or base.product,
        since=wall, updated_at=wall, source=event.origin)
    if previous is not None and previous.state == STOPPED and state == STOPPED:
        return dataclasses.replace(current, since=previous.since), False
    current, changed = settle(previous, current)
    if (not changed and previous is not None and state == PLAYING
            and track.title and not previous.track.title):
        changed = True  # the title came after the track (librespot's playing first): say it
    return current, changed


def observe_without_fetch(previous, event, now, wall):
    """The state an event alone decides when Plex could not be asked."""
    if event is None or event.state is None:
        return previous, False
    machine_id = machine_of(previous, event)
    return settle(previous, from_event(machine_id, event, event.state, now, wall, previous))


def machine_of(previous, event):
    return previous.machine_id if previous is not None else event.machine_id


def settle(previous, current):
    """Keep ``since`` across non-changes and say whether this is a change."""
    if previous is None:
        return current, current.state != STOPPED
    changed = (previous.state != current.state
               or previous.track.identity() != current.track.identity())
    if not changed:
        current = dataclasses.replace(current, since=previous.since)
    return current, changed


def deciding_event(event, previous, session, fetched, followed=False):
    """``event`` when it may decide the player's state, else None: the sessions list decides.

    A webhook is second-hand: anyone on the network can send one, naming any
    player. Its event decides when the fetch lists the player (``session``),
    or when ``fetched`` is false (no Plex server, or it could not be asked)
    for a player already tracked (``previous``) or ``followed``. A player
    whose session has gone may still be stopped or paused by one. A
    first-hand trigger always decides.
    """
    if event is None or event.state is None or session is not None:
        return event
    if event.source in FIRST_HAND_SOURCES:
        return event
    if not fetched:
        return event if previous is not None or followed else None
    if previous is None:
        return None
    if event.state == STOPPED or (event.state == PAUSED and previous.state != STOPPED):
        return event
    return None


def forget(players, now, followed=frozenset(), room=0):
    """The machine ids to drop from ``players`` (machine id to PlayerState), oldest first.

    A stopped player not seen (``updated_at``, wall clock like ``now``) for
    more than FORGET_STOPPED_AFTER goes; then, while more than MAX_PLAYERS
    less ``room`` would stay, the stopped player seen longest ago. A
    followed player, or one that is not stopped, is never dropped.
    """
    candidates = sorted((state.updated_at, machine_id) for machine_id, state in players.items()
                        if state.state == STOPPED and machine_id not in followed)
    stale = [machine_id for seen, machine_id in candidates if now - seen > FORGET_STOPPED_AFTER]
    excess = max(0, len(players) + room - MAX_PLAYERS - len(stale))
    return stale + [machine_id for _, machine_id in candidates[len(stale):len(stale) + excess]]
