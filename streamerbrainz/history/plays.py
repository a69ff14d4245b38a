"""Plays from changes, as pure functions: when a play of a track starts, how long it was
heard, how it ended, and whether it counts.

A ``Play`` is one track on one player (or source) from its first ``playing``
to the change that ends it: another track, a stop, the idle grace passing
while paused, or a restart of the daemon. Only time spent playing is
listened time. A play counts by the rule scrobblers use: at least 30
seconds heard, and half the track or four minutes, whichever comes first.
The history writer feeds it each change.
"""

import dataclasses
from typing import Optional

PLAYING, PAUSED, STOPPED = "playing", "paused", "stopped"
MIN_COUNTED_MS = 30 * 1000
ENOUGH_MS = 4 * 60 * 1000
COMPLETE_SHARE = 0.95  # heard this much of a track: it was played to its end

# How a play ended.
TRACK_CHANGE, STOP, IDLE, RESTART = "track change", "stop", "pause then idle", "restart"


def counts(listened_ms, duration_ms):
    """Whether a play counts: 30 s heard, and half the track or four minutes."""
    if listened_ms < MIN_COUNTED_MS:
        return False
    if duration_ms > 0 and listened_ms * 2 >= duration_ms:
        return True
    return listened_ms >= ENOUGH_MS


@dataclasses.dataclass(frozen=True)
class Play:
    """One play of one track on one player; ``playing_since`` is set while it plays."""

    machine_id: str
    source: str
    player: str
    product: str
    title: str
    artist: str
    album: str
    duration_ms: int
    rating_key: str
    identity: tuple
    started_at: float
    listened_ms: int = 0
    playing_since: Optional[float] = None
    ended_at: Optional[float] = None
    ended_by: str = ""

    @property
    def completed(self):
        return bool(self.duration_ms) and self.listened_ms >= self.duration_ms * COMPLETE_SHARE

    @property
    def counted(self):
        return counts(self.listened_ms, self.duration_ms)


def start(change, at):
    """The play a ``playing`` change begins, at wall-clock ``at``."""
    track = change.track
    return Play(change.machine_id, change.source, change.player, change.product, track.title,
                track.artist, track.album, track.duration_ms, track.rating_key,
                track.identity(), at, playing_since=at)


def heard(play, at):
    """``play`` with the time since it started playing added, no longer playing."""
    if play.playing_since is None:
        return play
    extra = max(0, int((at - play.playing_since) * 1000))
    if play.duration_ms:
        extra = min(extra, max(0, play.duration_ms - play.listened_ms) + 1000)
    return dataclasses.replace(play, listened_ms=play.listened_ms + extra, playing_since=None)


def end(play, at, how):
    """``play`` ended at ``at`` by ``how``."""
    return dataclasses.replace(heard(play, at), ended_at=at, ended_by=how)


def advance(play, change, at):
    """``(ended, open)`` after ``change`` (of ``play``'s player, or of one with no play).

    ``ended`` is the play the change ends (or None), ``open`` the play now
    under way on that player (or None).
    """
    same = play is not None and play.identity == change.track.identity()
    if change.state == PLAYING:
        if same:
            resumed = play if play.playing_since is not None else dataclasses.replace(
                play, playing_since=at)
            return None, resumed
        ended = end(play, at, TRACK_CHANGE) if play is not None else None
        return ended, start(change, at)
    if play is None:
        return None, None
    if change.state == STOPPED:
        return end(play, at, STOP), None
    if not same:  # paused (or buffering) on another track: this one is over
        return end(play, at, TRACK_CHANGE), None
    return None, heard(play, at)


def idle(play, at):
    """The idle grace passed: a paused play ends there (``pause then idle``)."""
    if play is None or play.playing_since is not None:
        return None, play
    return end(play, at, IDLE), None


def restart(play, at):
    """The daemon stopped while ``play`` was under way: it ends at ``at`` (``restart``)."""
    return end(play, at, RESTART)
