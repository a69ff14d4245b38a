"""The local Plexamp player's timeline as a trigger source: no Plex Pass, no token.

Plexamp (headless, port 32500) answers ``/resources`` with its own identity
and long-polls ``/player/timeline/poll``: the answer comes back within about
a second, or at once when something changed. The music timeline's state is
that player's state. Its ``machineIdentifier`` names the *server* the music
comes from, so the player's identity comes from ``/resources`` instead.
Each poll's whole answer must come within ``POLL_TIMEOUT``, and two polls
start at least ``MIN_POLL_INTERVAL`` apart, however fast Plexamp answers.
"""

import dataclasses

from streamerbrainz.core.track import NO_TRACK, Track
from streamerbrainz.core.trigger import Trigger
from streamerbrainz.lib import opener
from streamerbrainz.plex import client as plex
from streamerbrainz.lib.log import get_logger
from streamerbrainz.lib.reconnect import Source

log = get_logger(__name__)

POLL_PATH = "/player/timeline/poll?wait=1&includeMetadata=1&type=music&commandID=%d"
POLL_TIMEOUT = 5.0  # the whole answer: the 1 s long poll and room to spare
MIN_POLL_INTERVAL = 0.5  # at most two polls a second, however fast Plexamp answers
MAX_ANSWER_BYTES = 1024 * 1024  # a timeline is a few KiB
MAX_ELEMENTS = 10000


def poll_wait(started, now, interval=MIN_POLL_INTERVAL):
    """Seconds to wait before the next poll, when the last one started at ``started``."""
    return max(0.0, min(interval, started + interval - now))


@dataclasses.dataclass(frozen=True)
class Timeline:
    """The music timeline of one poll."""

    state: str = "stopped"
    position_ms: int = -1
    track: Track = NO_TRACK


def parse_resources(data):
    """``(machine_id, title, product)`` of the player from ``/resources``."""
    root = plex.parse_xml(data, "Plexamp /resources", MAX_ELEMENTS)
    player = root if root.tag == "Player" else root.find("Player")
    if player is None or not player.get("machineIdentifier"):
        raise plex.PlexError("malformed", "Plexamp /resources names no player")
    return player.get("machineIdentifier"), player.get("title", ""), player.get("product", "")


def parse_timeline(data):
    """The music Timeline of a poll answer (stopped when there is none)."""
    root = plex.parse_xml(data, "Plexamp timeline", MAX_ELEMENTS)
    for element in root.iter("Timeline"):
        if element.get("type") != "music":
            continue
        track = element.find("Track")
        meta = track.attrib if track is not None else {}
        return Timeline(
            state=element.get("state", "stopped") or "stopped",
            position_ms=plex.to_int(element.get("time"), -1),
            track=Track(
                title=meta.get("title", ""),
                # A <Track> of the music timeline: music unless it says otherwise.
                artist=plex.artist_of(meta.get("type", "") or "track",
                                      meta.get("originalTitle", ""),
                                      meta.get("grandparentTitle", "")),
                album=meta.get("parentTitle", ""),
                duration_ms=(plex.to_int(element.get("duration"))
                             or plex.to_int(meta.get("duration"))),
                rating_key=element.get("ratingKey", "") or meta.get("ratingKey", ""),
                media_type="track" if track is not None else "",
            ),
        )
    return Timeline()


def to_trigger(timeline, machine_id, player, product, now):
    """The trigger one changed timeline makes: it reports the player's state first-hand."""
    return Trigger(source="plexamp", event=timeline.state, machine_id=machine_id, player=player,
                   product=product, track=timeline.track,
                   state=plex.REPORTED_STATES.get(timeline.state),
                   position_ms=timeline.position_ms, position_is_fresh=timeline.position_ms >= 0,
                   received_at=now)


class PlexampPoller(Source):
    """Long-polls one Plexamp player and triggers a fetch on each change."""

    name = "Plexamp"
    max_backoff = 30.0

    def __init__(self, client, triggers, follows, **kwargs):
        super().__init__(client, triggers, **kwargs)
        self.follows = follows
        self.command_id = 0
        self.identity = None
        self._last = None

    def session(self):
        if self.identity is None:
            self.identity = parse_resources(self.client.get("/resources",
                                                            limit=MAX_ANSWER_BYTES))
            machine_id, title, product = self.identity
            if not self.follows(machine_id):
                log.warn("Plexamp's player is not followed: add it to -plex-machine-id",
                         machine_id=machine_id, player=title)
        machine_id, title, product = self.identity
        self.connected(machine_id=machine_id, player=title)
        headers = {"X-Plex-Target-Client-Identifier": machine_id}
        while not self.stopping.is_set():
            started = self.clock()
            timeline = self.poll(headers)
            key = (timeline.state, timeline.track.rating_key)
            if key != self._last and self.follows(machine_id):
                self._last = key
                log.debug("Plexamp timeline", state=timeline.state,
                          rating_key=timeline.track.rating_key, position_ms=timeline.position_ms)
                self.trigger(to_trigger(timeline, machine_id, title, product, self.clock()))
            if self.stopping.wait(poll_wait(started, self.clock())):
                break
        return True

    def poll(self, headers):
        """One long poll's Timeline; raises PlexError."""
        self.command_id += 1
        deadline = opener.Deadline(POLL_TIMEOUT)
        with self.client.open(POLL_PATH % self.command_id, headers=headers,
                              deadline=deadline) as answer:
            data = opener.read_within(answer, MAX_ANSWER_BYTES, deadline, "Plexamp")
        if data is None:
            raise plex.PlexError("malformed", "Plexamp timeline is too large; refused")
        return parse_timeline(data)
