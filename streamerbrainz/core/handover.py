"""One source at a time: when a source of this streamer starts, the others yield (last wins).

The streamer's sources are the bridged ones (Spotify, AirPlay) and its own
Plexamp (``is_local``); other followed players (the kitchen's Plexamp, a
phone) are watched, never paused. A player the daemon can pause
(``controllable``: the local Plexamp) is soft-paused; one it cannot
(librespot has no local control) has its own CamillaDSP fader muted when it
has one (``silence``), unmuted when it starts again; else it keeps playing,
and that is said once per pair of sources with what to do. Every decision
is one log line. With ``enabled`` false (-source-policy off, which SIGHUP
may set) it only keeps count of what plays.
"""

from streamerbrainz.core.listener import Listener
from streamerbrainz.core.tracker import PLAYING
from streamerbrainz.core.trigger import PLEX
from streamerbrainz.lib.log import get_logger

log = get_logger(__name__)

POLICIES = ("last-wins", "off")


def yielding(playing, started, controllable):
    """``(to pause, cannot pause)``: the players in ``playing`` that yield to ``started``."""
    others = sorted(machine_id for machine_id in playing if machine_id != started)
    return ([m for m in others if controllable(m)], [m for m in others if not controllable(m)])


class Handover(Listener):
    """Hears the changes of the streamer's sources and makes the others yield.

    ``pause(machine_id, cause)`` asks the soft transport (it returns at
    once). ``playing`` (machine id to player name) and ``enabled`` are the
    main thread's.
    """

    name = "handover"

    def __init__(self, is_local, controllable, pause, silence=None, enabled=True):
        self.enabled = enabled
        self.is_local = is_local
        self.controllable = controllable
        self.pause = pause
        self.silence = silence  # (source, mute) -> whether it has a fader of its own
        self.playing = {}
        self._told = set()  # pairs of sources already said to play over each other
        self._silenced = set()  # sources whose fader this muted

    def state_changed(self, change):
        if change.source == PLEX and not self.is_local(change.machine_id):
            return
        if change.state != PLAYING:
            self.playing.pop(change.machine_id, None)
            return
        started = change.machine_id
        if started in self.playing:
            return  # a new track, not a new start
        if started in self._silenced:
            self._silenced.discard(started)
            self.silence(started, False)
            log.info("source back", player=change.player, how="fader unmuted")
        if not self.enabled:
            self.playing[started] = change.player
            return
        to_pause, cannot = yielding(self.playing, started, self.controllable)
        for machine_id in to_pause:
            log.info("source yields", player=self.playing[machine_id], to=change.player,
                     how="soft pause", policy="last-wins")
            self.pause(machine_id, "%s started" % change.player)
        for machine_id in cannot:
            if machine_id in self._silenced:
                continue  # muted on its fader already
            if self.silence is not None and self.silence(machine_id, True):
                self._silenced.add(machine_id)
                log.info("source yields", player=self.playing[machine_id], to=change.player,
                         how="fader muted", policy="last-wins")
                continue
            pair = (machine_id, started)
            if pair in self._told:
                continue
            self._told.add(pair)
            log.warn("source cannot yield: it has no control the daemon can use; pause it "
                     "where it was started", player=self.playing[machine_id], to=change.player,
                     policy="last-wins")
        self.playing[started] = change.player
