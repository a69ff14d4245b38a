"""Plex's notification stream as a trigger source: no Plex Pass needed.

``GET /:/eventsource/notifications?filters=playing`` is a Server-Sent Events
stream; each ``PlaySessionStateNotification`` for a followed player becomes
a trigger whose state and position decide at once, the fetch after it
supplying the track. Plex pings every 10 s, so 30 s of silence means the
stream is dead. Every (re)connection is followed by one fetch to catch up.
Connecting and the answer's head must come within ``-plex-timeout``; a line
may hold 64 KiB and an event 256 KiB: a stream that breaks a bound is
dropped and reconnected.
"""

import http.client
import json
import socket

from streamerbrainz.core.track import Track
from streamerbrainz.core.trigger import Trigger
from streamerbrainz.lib import opener, sse
from streamerbrainz.plex import client as plex
from streamerbrainz.lib.log import get_logger
from streamerbrainz.lib.reconnect import Source

log = get_logger(__name__)

PATH = "/:/eventsource/notifications?filters=playing"
SILENCE_LIMIT = 30.0
MAX_LINE = 64 * 1024
MAX_EVENT = 256 * 1024


class StreamBroken(plex.PlexError):
    """The stream broke a bound; it is dropped and reconnected."""

    def __init__(self, message):
        super().__init__("bounds", message)


def sse_events(lines, max_line=MAX_LINE, max_event=MAX_EVENT):
    """``(event, data)`` of the stream's lines; StreamBroken when one breaks a bound."""
    try:
        yield from sse.events(lines, max_line, max_event)
    except sse.TooLong as err:
        raise StreamBroken(str(err)) from None


def stream_lines(answer, deadline, max_line=MAX_LINE, silence=SILENCE_LIMIT):
    """Lines of an open stream; each must arrive within ``silence`` seconds of the last."""
    while True:
        deadline.extend(silence)
        line = answer.readline(max_line + 1)
        if not line:
            return
        yield line


def play_notifications(data):
    """The PlaySessionStateNotification dicts in one event's data, in either shape.

    Plex wraps them in ``NotificationContainer`` on the websocket and, by
    the clients' accounts, not on this stream; both are accepted, as are a
    single object and a list.
    """
    try:
        document = json.loads(data)
    except (ValueError, RecursionError):
        return []
    if not isinstance(document, dict):
        return []
    container = document.get("NotificationContainer")
    if isinstance(container, dict):
        document = container
    items = document.get("PlaySessionStateNotification", [])
    if isinstance(items, dict):
        items = [items]
    return [item for item in items if isinstance(item, dict)] if isinstance(items, list) else []


def to_trigger(notification, now):
    """A trigger from one notification, or None when it names no player."""
    machine_id = str(notification.get("clientIdentifier") or "")
    if not machine_id:
        return None
    state = str(notification.get("state") or "")
    position_ms = plex.to_int(notification.get("viewOffset"), -1)
    return Trigger(
        source="notifications",
        event=state,
        machine_id=machine_id,
        track=Track(rating_key=str(notification.get("ratingKey") or "")),
        state=plex.REPORTED_STATES.get(state),
        position_ms=position_ms,
        position_is_fresh=position_ms >= 0 and bool(state),
        received_at=now,
    )


class NotificationStream(Source):
    """Keeps the notification stream open and turns it into triggers."""

    name = "Plex notifications"

    def __init__(self, client, triggers, follows, **kwargs):
        super().__init__(client, triggers, **kwargs)
        self.follows = follows

    def session(self):
        deadline = opener.Deadline(self.client.timeout)
        answer = self.client.open(PATH, accept="text/event-stream", deadline=deadline)
        with answer:
            self.connected()
            self.trigger(Trigger(received_at=self.clock(), source="notifications"))
            try:
                for event, data in sse_events(stream_lines(answer, deadline)):
                    if event != "playing":
                        continue
                    for notification in play_notifications(data):
                        trigger = to_trigger(notification, self.clock())
                        if trigger is not None and self.follows(trigger.machine_id):
                            log.debug("Plex notification", player=trigger.machine_id,
                                      state=trigger.event,
                                      position_ms=trigger.position_ms)
                            self.trigger(trigger)
            except socket.timeout:
                raise plex.PlexError("timeout", "no event and no ping for %gs; reconnecting"
                                     % SILENCE_LIMIT) from None
            except (OSError, http.client.HTTPException) as err:
                raise plex.PlexError("network", "stream broke: %s"
                                     % (getattr(err, "strerror", None) or err)) from None
        if not self.stopping.is_set():
            raise plex.PlexError("network", "Plex closed the notification stream")
        return True

    def failed(self, err):
        if isinstance(err, StreamBroken):
            self._failures.failed((err.kind, str(err)), self.clock(),
                                  "notification stream dropped: %s; reconnecting" % err)
        else:
            super().failed(err)
