"""Plays in another service's import format: pure.

ListenBrainz imports a JSON array of listens: ``listened_at`` (when the
play started, Unix seconds) and ``track_metadata`` (``artist_name`` and
``track_name``, which it requires, ``release_name``, ``additional_info``).
Only plays that count by the scrobble rule are listens; a play without an
artist or a title is none.
"""

from streamerbrainz import __version__


def listenbrainz(plays):
    """The ListenBrainz listens for ``plays`` (dicts as ``Reader.plays`` gives them)."""
    listens = []
    for play in plays:
        if not (play["counted"] and play["artist"] and play["title"]):
            continue
        info = {"submission_client": "StreamerBrainz",
                "submission_client_version": __version__}
        if play["duration_ms"] > 0:
            info["duration_ms"] = play["duration_ms"]
        if play["product"]:
            info["media_player"] = play["product"]
        metadata = {"artist_name": play["artist"], "track_name": play["title"],
                    "additional_info": info}
        if play["album"]:
            metadata["release_name"] = play["album"]
        listens.append({"listened_at": int(play["started_at"]), "track_metadata": metadata})
    return listens
