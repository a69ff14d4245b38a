"""Plex's notification stream as a trigger source: no Plex Pass needed.

``GET /:/eventsource/notifications?filters=playing`` is a Server-Sent Events
stream; each ``PlaySessionStateNotification`` for a followed player becomes
a trigger whose state and position decide at once, the fetch after it
supplying the track. Plex pings every 10 s, so 30 s of silence means the
stream is dead. Every (re)connection is followed by one fetch to catch up.
"""

import json
import socket

from streamerbrainz import plex
from streamerbrainz.log import get_logger
from streamerbrainz.payloads import WebhookEvent
from streamerbrainz.sources import Source

log = get_logger("notifications")

PATH = "/:/eventsource/notifications?filters=playing"
SILENCE_LIMIT = 30.0


def sse_events(lines):
    """Yield ``(event, data)`` from an iterable of SSE lines (bytes or str)."""
    event, data = "", []
    for raw in lines:
        line = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
        line = line.rstrip("\r\n")
        if not line:
            if data:
                yield event or "message", "\n".join(data)
            event, data = "", []
            continue
        if line.startswith(":"):
            continue
        field, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if field == "event":
            event = value
        elif field == "data":
            data.append(value)


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
    return WebhookEvent(
        player_uuid=machine_id,
        rating_key=str(notification.get("ratingKey") or ""),
        reported_state=str(notification.get("state") or ""),
        position_ms=plex.to_int(notification.get("viewOffset"), -1),
        received_at=now,
        source="notifications",
    )


class NotificationStream(Source):
    """Keeps the notification stream open and turns it into triggers."""

    name = "Plex notifications"

    def __init__(self, client, triggers, follows, **kwargs):
        super().__init__(client, triggers, **kwargs)
        self.follows = follows

    def session(self):
        answer = self.client.open(PATH, timeout=SILENCE_LIMIT, accept="text/event-stream")
        with answer:
            self.connected()
            self.trigger(WebhookEvent(received_at=self.clock(), source="notifications"))
            try:
                for event, data in sse_events(answer):
                    if event != "playing":
                        continue
                    for notification in play_notifications(data):
                        trigger = to_trigger(notification, self.clock())
                        if trigger is not None and self.follows(trigger.player_uuid):
                            log.debug("Plex notification", player=trigger.player_uuid,
                                      state=trigger.reported_state,
                                      position_ms=trigger.position_ms)
                            self.trigger(trigger)
            except socket.timeout:
                raise plex.PlexError("timeout", "no event and no ping for %gs; reconnecting"
                                     % SILENCE_LIMIT) from None
            except OSError as err:
                raise plex.PlexError("network", "stream broke: %s"
                                     % (err.strerror or err)) from None
        if not self.stopping.is_set():
            raise plex.PlexError("network", "Plex closed the notification stream")
        return True
