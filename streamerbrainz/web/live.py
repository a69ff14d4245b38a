"""Live state for readers: the ``/state`` document and the ``/events`` hub.

``state_document`` is a pure function of the fetcher's snapshot. The hub
fans each published event out to at most ``max_subscribers`` Server-Sent
Events streams; publishing never blocks, and a subscriber whose queue is
full is dropped rather than allowed to slow the main loop.
"""

import queue
import socket
import threading

from streamerbrainz.core import tracker
from streamerbrainz.core.listener import Listener
from streamerbrainz.lib import sse
from streamerbrainz.lib.log import get_logger
from streamerbrainz.lib.service import Service
from streamerbrainz.lib.timefmt import iso

log = get_logger(__name__)

HEARTBEAT_SECONDS = 15.0
SUBSCRIBER_BACKLOG = 64


def player_json(state, now):
    """One player's state as a JSON-ready dict, the position as of monotonic ``now``."""
    track = state.track
    return {
        "machine_id": state.machine_id,
        "player": state.player,
        "product": state.product,
        "state": state.state,
        "title": track.title,
        "artist": track.artist,
        "album": track.album,
        "duration_ms": track.duration_ms,
        "position_ms": state.position(now),
        "session_key": track.session_key,
        "rating_key": track.rating_key,
        "since": iso(state.since),
        "updated_at": iso(state.updated_at),
        "source": state.source,
    }


def state_document(snapshot, followed, now, started):
    """The ``/state`` answer: every followed player, and whether any is playing.

    Followed players never seen yet are listed as stopped since ``started``.
    """
    states = dict(snapshot)
    for machine_id in followed:
        states.setdefault(machine_id, tracker.PlayerState(machine_id=machine_id, since=started))
    players = [player_json(states[key], now) for key in sorted(states)]
    return {
        "players": players,
        "any_playing": any(player["state"] == tracker.PLAYING for player in players),
    }


def action_json(action):
    """A PlayerStateChanged as the JSON of a ``plex_state_changed`` event."""
    data = action.fields()
    data["at"] = iso(action.at)
    return data


class Subscriber:
    """One ``/events`` stream: a bounded queue of encoded events and its socket."""

    def __init__(self, sock, backlog):
        self.sock = sock
        self.queue = queue.Queue(maxsize=backlog)

    def next(self, timeout):
        """The next encoded event, b"" for a heartbeat, or None when to stop."""
        try:
            return self.queue.get(timeout=timeout)
        except queue.Empty:
            return b""

    def cut(self):
        try:
            self.queue.put_nowait(None)
        except queue.Full:
            pass
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


class EventHub(Service, Listener):
    """Fans events out to subscribers without ever waiting for one.

    A listener: each change goes out as a ``plex_state_changed`` event, and
    each CamillaDSP status as a ``camilladsp_changed`` one. A
    service with no thread of its own: stopping it cuts every ``/events``
    stream, so that the workers serving them can end.
    """

    name = "events"

    def __init__(self, max_subscribers=16, backlog=SUBSCRIBER_BACKLOG):
        self.max_subscribers = max_subscribers
        self.backlog = backlog
        self._lock = threading.Lock()
        self._subscribers = set()
        self._next_id = 1
        self._closed = False

    def subscribe(self, sock):
        """A new Subscriber, or None when there are too many already."""
        with self._lock:
            if self._closed or len(self._subscribers) >= self.max_subscribers:
                return None
            subscriber = Subscriber(sock, self.backlog)
            self._subscribers.add(subscriber)
            return subscriber

    def unsubscribe(self, subscriber):
        with self._lock:
            self._subscribers.discard(subscriber)

    def publish(self, event, data):
        with self._lock:
            event_id = self._next_id
            self._next_id += 1
            subscribers = list(self._subscribers)
        payload = sse.encode(event, data, event_id)
        for subscriber in subscribers:
            try:
                subscriber.queue.put_nowait(payload)
            except queue.Full:
                self.unsubscribe(subscriber)
                subscriber.cut()
                log.warn("events subscriber dropped: it does not keep up")

    def state_changed(self, change):
        self.publish("plex_state_changed", action_json(change))

    def camilladsp_changed(self, status):
        self.publish("camilladsp_changed", status)

    def start(self):
        """Nothing to start: subscribers come with requests."""

    def alive(self):
        return True

    def stop(self, deadline):
        self.close()
        return True

    def close(self):
        with self._lock:
            self._closed = True
            subscribers = list(self._subscribers)
            self._subscribers.clear()
        for subscriber in subscribers:
            subscriber.cut()
