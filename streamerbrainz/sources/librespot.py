"""librespot's ``--onevent`` variables, and what each event says of Spotify's state.

librespot runs its hook with ``PLAYER_EVENT`` and the event's variables in
the environment, beside everything librespot itself has (credentials passed
as ``LIBRESPOT_*`` among them). The bridge sends only the names in
``VARIABLES``; ``fields`` turns them into what a source event carries. Every
event name is accepted: unknown ones (new releases add some) and the 0.4.x
names say nothing of the state. This module imports nothing, so that the
bridge starts fast.
"""

# What the bridge sends, and nothing else (protocol §3.2, §3.3).
VARIABLES = ("PLAYER_EVENT", "TRACK_ID", "OLD_TRACK_ID", "NAME", "ARTISTS", "ALBUM",
             "DURATION_MS", "POSITION_MS", "ITEM_TYPE", "SHOW_NAME", "SINK_STATUS",
             "CLIENT_NAME")

# The state each event decides; the others leave it as it is.
STATES = {
    "playing": "playing", "started": "playing",  # started: 0.4.x
    "paused": "paused",
    "stopped": "stopped", "session_disconnected": "stopped",
}
# The device: Spotify is about to open it, or let it go (a pause of a stopped
# player stays stopped); temporarily_closed, between two tracks, says nothing.
SINK_STATES = {"running": "playing", "closed": "paused"}
# The events whose TRACK_ID is the track that plays; loading, preloading and
# the like name the next one.
CURRENT_TRACK = ("track_changed", "playing", "paused", "seeked", "position_correction",
                 "stopped", "changed", "started")


def fields(variables):
    """``{state, title, artist, album, duration_ms, position_ms, track_id}`` from the variables.

    ``state`` is None when the event decides none; the track fields are
    present only when the event carries them (``track_changed``, ``playing``).
    """
    event = variables.get("PLAYER_EVENT", "")
    state = STATES.get(event)
    if event == "sink":
        state = SINK_STATES.get(variables.get("SINK_STATUS", ""))
    result = {"event": event, "state": state}
    track_id = variables.get("TRACK_ID", "")
    if track_id and event in CURRENT_TRACK:
        result["track_id"] = track_id
    if event == "track_changed":
        episode = variables.get("ITEM_TYPE") == "Episode"
        artists = variables.get("SHOW_NAME" if episode else "ARTISTS", "")
        result.update(title=variables.get("NAME", ""),
                      artist=", ".join(name for name in artists.split("\n") if name),
                      album="" if episode else variables.get("ALBUM", ""),
                      duration_ms=_number(variables.get("DURATION_MS")),
                      media_type="" if episode else "track")
    position = _number(variables.get("POSITION_MS"))
    if position is not None and event in ("playing", "paused", "seeked",
                                          "position_correction"):
        result["position_ms"] = position
    return result


def _number(text):
    try:
        value = int(text)
    except (TypeError, ValueError):
        return None
    return value if 0 <= value < 2 ** 53 else None
