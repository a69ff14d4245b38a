"""What StreamerBrainz publishes: each message's bytes, from a change or a status.

Pure functions: a ``Message`` is a topic, a payload and how to publish
it. Player states, the last change, ``any_playing`` and CamillaDSP's
status are retained (a subscriber that comes later still gets them) at
QoS 1; an event is not retained and goes at QoS 0. JSON is compact with
the keys in a fixed order, so an unchanged state is the same bytes.
"""

import collections
import json

from streamerbrainz.lib.timefmt import iso

Message = collections.namedtuple("Message", "topic payload qos retain")

ONLINE, OFFLINE = b"online", b"offline"
STATE_FIELDS = ("state", "title", "artist", "album", "duration_ms", "position_ms", "source",
                "player", "machine_id", "product")


def encode(document):
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def state_document(change):
    """A player's state as of ``change``: the track, the position at the change, since when."""
    fields = change.fields()
    document = {name: fields[name] for name in STATE_FIELDS}
    document["since"] = iso(change.at)
    return document


def state(topics, change):
    return Message(topics.state(change.machine_id), encode(state_document(change)), 1, True)


def changed(topics, change):
    """The messages of one change: the player's state, its event, the last change."""
    state_now = state_document(change)
    event = {"event": change.event()}
    event.update(state_now)
    last = {"event": event["event"], "player": change.player, "title": change.track.title,
            "artist": change.track.artist, "at": state_now["since"]}
    return (Message(topics.state(change.machine_id), encode(state_now), 1, True),
            Message(topics.event(change.machine_id), encode(event), 0, False),
            Message(topics.last_change, encode(last), 1, True))


def any_playing(topics, playing):
    return Message(topics.any_playing, b"ON" if playing else b"OFF", 1, True)


def availability(topics, online):
    return Message(topics.availability, ONLINE if online else OFFLINE, 1, True)


def camilladsp(topics, status):
    """CamillaDSP's volume and mute (and whether it is connected) for the number and switch."""
    document = {"connected": bool(status.get("connected")), "volume_db": status.get("volume_db"),
                "mute": status.get("mute"), "fader": status.get("fader")}
    return Message(topics.camilladsp, encode(document), 1, True)
