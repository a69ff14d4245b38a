"""The domain values with flat keyword arguments, for tests that build many of them.

``trigger(event="media.pause", machine_id=..., title=...)`` makes the
``Trigger`` a webhook with that event makes; ``reported="paused"`` the one
a notification or a timeline makes. The track's fields (``title``,
``rating_key``, ...) may be given flat to every factory.
"""

import dataclasses

from streamerbrainz.core.actions import PlayerStateChanged, change_kind
from streamerbrainz.core.track import TRACK_FIELDS, Track
from streamerbrainz.core.tracker import PlayerState
from streamerbrainz.core.trigger import Trigger
from streamerbrainz.plex.client import REPORTED_STATES, Session
from streamerbrainz.plex.payloads import EVENT_STATES


def _with_track(fields):
    fields = dict(fields)
    flat = {name: fields.pop(name) for name in TRACK_FIELDS if name in fields}
    if flat:
        fields["track"] = dataclasses.replace(fields.get("track", Track()), **flat)
    return fields


def session(**fields):
    return Session(**_with_track(fields))


def player_state(**fields):
    return PlayerState(**_with_track(fields))


def trigger(reported=None, **fields):
    """A webhook's trigger (from ``event``), or a first-hand one (``reported`` state)."""
    fields = _with_track(fields)
    event = fields.get("event", "")
    position = fields.get("position_ms", -1)
    if reported is not None:
        fields.setdefault("event", reported)
        fields.setdefault("state", REPORTED_STATES.get(reported))
        fields.setdefault("position_is_fresh", position >= 0 and bool(reported))
    else:
        fields.setdefault("state", EVENT_STATES.get(event))
        fields.setdefault("position_is_fresh", position >= 0 and event == "media.pause")
    return Trigger(**fields)


def change(**fields):
    """A PlayerStateChanged; ``kind`` follows from the states unless given."""
    fields = _with_track(fields)
    fields.setdefault("kind", change_kind(fields.get("previous_state", "stopped"),
                                          fields["state"], same_track=False))
    return PlayerStateChanged(**fields)


def keeper(client, triggers, actions, followed=(), timeout=5.0, poll_interval=0.0,
           clock=None, wall=None):
    """A StateKeeper asking ``client`` (None: no Plex server) through a SessionFetch."""
    from streamerbrainz.core.keeper import StateKeeper
    from streamerbrainz.plex.fetch import SessionFetch
    import time
    clock = clock or time.monotonic
    wall = wall or time.time
    sessions = SessionFetch(client, timeout, clock, wall) if client is not None else None
    return StateKeeper(triggers, actions, sessions, followed, poll_interval, clock, wall)
