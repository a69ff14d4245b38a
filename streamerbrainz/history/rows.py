"""Player states and plays as database rows, and back: pure.

The ``players`` table keeps each player's last known state (one row per
machine id, replaced on each change); ``plays`` one row per play. Reading
a state back gives the ``PlayerState`` the keeper starts from after a
restart: positions are what was known then, still, and a play under way
resumes where its row left it.
"""

import time

from streamerbrainz.core.track import Track
from streamerbrainz.core.tracker import PlayerState
from streamerbrainz.history import plays

PLAYER_COLUMNS = ("machine_id", "source", "state", "title", "artist", "album", "duration_ms",
                  "position_ms", "rating_key", "session_key", "media_type", "player",
                  "product", "since", "updated_at")
UPSERT_PLAYER = "INSERT OR REPLACE INTO players (%s) VALUES (%s)" % (
    ", ".join(PLAYER_COLUMNS), ", ".join("?" * len(PLAYER_COLUMNS)))
SELECT_PLAYERS = "SELECT %s FROM players" % ", ".join(PLAYER_COLUMNS)

PLAY_COLUMNS = ("machine_id", "source", "player", "product", "title", "artist", "album",
                "duration_ms", "rating_key", "started_at", "day")
INSERT_PLAY = "INSERT INTO plays (%s) VALUES (%s)" % (
    ", ".join(PLAY_COLUMNS), ", ".join("?" * len(PLAY_COLUMNS)))
UPDATE_PLAY = ("UPDATE plays SET listened_ms = ?, ended_at = ?, ended_by = ?, completed = ?, "
               "counted = ? WHERE id = ?")


def player_row(change, at):
    """The ``players`` row for a ``PlayerStateChanged`` at wall-clock ``at``."""
    track = change.track
    return (change.machine_id, change.source, change.state, track.title, track.artist,
            track.album, track.duration_ms, change.position_ms, track.rating_key,
            track.session_key, track.media_type, change.player, change.product,
            change.at or at, at)


def player_state(row, now):
    """The PlayerState a ``players`` row describes, its position true at monotonic ``now``."""
    values = dict(zip(PLAYER_COLUMNS, row))
    track = Track(title=values["title"], artist=values["artist"], album=values["album"],
                  duration_ms=values["duration_ms"], rating_key=values["rating_key"],
                  session_key=values["session_key"], media_type=values["media_type"])
    return PlayerState(machine_id=values["machine_id"], state=values["state"], track=track,
                       position_ms=values["position_ms"], position_at=now,
                       player=values["player"], product=values["product"],
                       since=values["since"], updated_at=values["updated_at"],
                       source=values["source"])


def play_row(play):
    return (play.machine_id, play.source, play.player, play.product, play.title, play.artist,
            play.album, play.duration_ms, play.rating_key, play.started_at,
            local_day(play.started_at))


def local_day(wall):
    """The Pi's local date at wall-clock ``wall``, as the stats group plays: ``2026-12-03``."""
    return time.strftime("%Y-%m-%d", time.localtime(wall))


def play_update(play, row_id):
    return (play.listened_ms, play.ended_at, play.ended_by, int(play.completed),
            int(play.counted), row_id)


def open_play(row, playing_since):
    """A play whose row is not ended yet, as ``plays.Play`` (``row`` from SELECT_OPEN)."""
    (row_id, machine_id, source, player, product, title, artist, album, duration_ms,
     rating_key, started_at, listened_ms, session_key) = row
    return row_id, plays.Play(machine_id, source, player, product, title, artist, album,
                              duration_ms, rating_key, (rating_key, session_key), started_at,
                              listened_ms, playing_since)


SELECT_OPEN = ("SELECT plays.id, plays.machine_id, plays.source, plays.player, plays.product, "
               "plays.title, plays.artist, plays.album, plays.duration_ms, plays.rating_key, "
               "plays.started_at, plays.listened_ms, coalesce(players.session_key, '') "
               "FROM plays LEFT JOIN players ON players.machine_id = plays.machine_id "
               "WHERE plays.ended_at IS NULL")  # plays_open finds them
