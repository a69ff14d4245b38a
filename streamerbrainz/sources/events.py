"""What a bridge sends to ``POST /sources/<name>``, as a ``Trigger``: pure, bounded, strict.

Two bodies, both JSON objects: ``{"librespot": {VARIABLE: value, ...}}``
from ``streamerbrainz librespot-event`` (the variables librespot set), and
``{"state": "playing", "title": "..."}`` from ``streamerbrainz
source-event`` (shairport-sync and anything that passes arguments). A bad
body is a ValueError whose text is the 400's one-line reason. Texts are
cut to ``MAX_TEXT`` characters; the log's quoting keeps them from forging a
line, and nothing a bridge sends is kept beyond one player's state.
"""

import json
import re

from streamerbrainz.core.track import Track
from streamerbrainz.core.trigger import Trigger
from streamerbrainz.sources import librespot

NAME_RE = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")
MAX_BODY = 16 * 1024
MAX_TEXT = 512
STATES = ("playing", "paused", "stopped", "buffering")

# Known sources: the player name and product they show (any other name shows itself).
KNOWN = {"spotify": ("Spotify", "librespot"), "airplay": ("AirPlay", "shairport-sync")}


def label(name):
    """How a source is named in the log and the state: ``Spotify``, ``AirPlay``, or its name."""
    return KNOWN.get(name, (name, ""))[0]


def check_name(name):
    """``name`` when it may name a source, else ValueError."""
    if not NAME_RE.match(name or ""):
        raise ValueError("source name %r: use 1 to 32 lower-case letters, digits, - or _, "
                         "starting with a letter (spotify, airplay)" % _cut(name or "", 40))
    return name


def parse(name, body, now=0.0):
    """The Trigger a bridge's ``body`` (bytes) means for source ``name``."""
    check_name(name)
    if len(body) > MAX_BODY:
        raise ValueError("body over %d bytes" % MAX_BODY)
    try:
        document = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise ValueError("body is not JSON") from None
    if not isinstance(document, dict):
        raise ValueError("body is not a JSON object")
    if "librespot" in document:
        variables = document["librespot"]
        if not isinstance(variables, dict) or not all(
                isinstance(value, str) for value in variables.values()):
            raise ValueError("librespot: an object of text values, as librespot sets them")
        if not isinstance(variables.get("PLAYER_EVENT"), str):
            raise ValueError("librespot: PLAYER_EVENT is missing")
        fields = librespot.fields({key: _cut(value, MAX_TEXT * 4) for key, value
                                   in variables.items() if key in librespot.VARIABLES})
    else:
        state = document.get("state")
        if state not in STATES:
            raise ValueError("state: one of %s, not %s" % (", ".join(STATES),
                                                           _cut(json.dumps(state), 40)))
        title = document.get("title", "")
        if not isinstance(title, str):
            raise ValueError("title: a text")
        fields = {"event": state, "state": state, "title": title}
    player, product = KNOWN.get(name, (name, ""))
    track = Track(title=_cut(fields.get("title", ""), MAX_TEXT),
                  artist=_cut(fields.get("artist", ""), MAX_TEXT),
                  album=_cut(fields.get("album", ""), MAX_TEXT),
                  duration_ms=fields.get("duration_ms") or 0,
                  rating_key=_cut(fields.get("track_id", ""), 64),
                  media_type=fields.get("media_type", ""))
    position = fields.get("position_ms")
    return Trigger(source="bridge", origin=name, event=_cut(fields["event"], 64),
                   machine_id=name, player=player, product=product, track=track,
                   state=fields["state"], position_ms=-1 if position is None else position,
                   position_is_fresh=position is not None, received_at=now)


def _cut(text, limit):
    return text if len(text) <= limit else text[:limit]
