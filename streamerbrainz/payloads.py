"""Webhook bodies → ``WebhookEvent``: pure parsing, no sockets.

Plex posts ``multipart/form-data`` with a JSON ``payload`` part and, on
some events, a JPEG ``thumb`` part that is dropped. Tools that imitate Plex
send ``application/x-www-form-urlencoded`` (``payload=``) or plain JSON, and
an empty body asks for a fresh look at the sessions. Anything else raises
``PayloadError``, which the HTTP layer answers with 400.
"""

import dataclasses
import email.parser
import json
import time
import urllib.parse

from streamerbrainz import plex

EVENT_STATES = {
    "media.play": "playing",
    "media.resume": "playing",
    "media.pause": "paused",
    "media.stop": "stopped",
}

# States a notification or a timeline reports that decide the player's state;
# "buffering" and "error" leave it to the session.
REPORTED_STATES = {"playing": "playing", "paused": "paused", "stopped": "stopped"}

IGNORED_PREFIXES = ("library.", "admin.", "device.")
TEST_EVENT = "webhook.created"


class PayloadError(ValueError):
    """The body is not a webhook we understand; the message says why."""


@dataclasses.dataclass(frozen=True)
class WebhookEvent:
    """One trigger for the fetcher: what happened, and to which player.

    Webhooks make most of them; the other sources (Plex notifications, the
    Plexamp timeline, the poll timer, start-up) make the same object with
    their own ``source``. ``event`` is empty for a manual empty POST.
    ``player_uuid`` is empty when the trigger names no player. The metadata
    fields (with a webhook's own ``viewOffset`` and ``duration``, when it
    has them) stand in for the session when Plex cannot be asked;
    ``reported_state`` and ``position_ms`` (-1: unknown) carry what a
    notification or a timeline said directly.
    """

    event: str = ""
    player_uuid: str = ""
    player_title: str = ""
    product: str = ""
    account: str = ""
    title: str = ""
    artist: str = ""
    album: str = ""
    rating_key: str = ""
    duration_ms: int = 0
    received_at: float = 0.0
    source: str = "webhook"
    reported_state: str = ""
    position_ms: int = -1
    media_type: str = ""

    @property
    def state(self):
        """The player state this trigger decides, or None when the session decides."""
        return EVENT_STATES.get(self.event) or REPORTED_STATES.get(self.reported_state)

    @property
    def position_is_fresh(self):
        """Whether ``position_ms`` is fresher than a session's ``viewOffset``.

        A notification or a timeline reports the position of the moment; so
        does a pause. Plex refreshes a session's ``viewOffset`` only every
        ten seconds or so.
        """
        return self.position_ms >= 0 and (bool(self.reported_state) or self.event == "media.pause")


def parse_body(content_type, body):
    """Return the webhook payload as a dict, or None for an empty body."""
    if not body.strip():
        return None
    media_type = content_type.split(";", 1)[0].strip().lower()
    if media_type == "multipart/form-data":
        raw = multipart_payload(content_type, body)
    elif media_type == "application/x-www-form-urlencoded":
        raw = urlencoded_payload(body)
    elif media_type in ("application/json", "text/json", ""):
        raw = body
    else:
        raise PayloadError("unsupported Content-Type %r: send multipart/form-data, "
                           "application/x-www-form-urlencoded or application/json" % media_type)
    return decode_json(raw)


def multipart_payload(content_type, body):
    """Return the bytes of the part named ``payload`` in a multipart body."""
    head = b"Content-Type: " + content_type.encode("latin-1", "replace") + b"\r\n\r\n"
    try:
        # compat32, the parser's default policy, is ten times quicker here
        # than email.policy.HTTP and gives all this needs.
        message = email.parser.BytesParser().parsebytes(head + body)
        return _payload_part(message)
    except PayloadError:
        raise
    except Exception:
        # The email package has its own corner cases on hostile input; the
        # caller only needs to know this body is not a webhook.
        raise PayloadError("malformed multipart body") from None


def _payload_part(message):
    if not message.is_multipart():
        raise PayloadError("multipart body without a usable boundary")
    for defect in message.defects:
        name = type(defect).__name__
        if name in ("StartBoundaryNotFoundDefect", "CloseBoundaryNotFoundDefect"):
            raise PayloadError("truncated multipart body (no closing boundary)")
    for part in message.get_payload():
        if part.get_param("name", header="content-disposition") == "payload":
            data = part.get_payload(decode=True)
            return data if data is not None else b""
    raise PayloadError("multipart body has no payload part")


def urlencoded_payload(body):
    try:
        fields = urllib.parse.parse_qs(body.decode("utf-8"), strict_parsing=False)
    except UnicodeDecodeError:
        raise PayloadError("form body is not UTF-8") from None
    values = fields.get("payload")
    if not values:
        raise PayloadError("form body has no payload field")
    return values[0].encode("utf-8")


def decode_json(raw):
    try:
        payload = json.loads(raw)
    except (ValueError, RecursionError):
        raise PayloadError("payload is not JSON") from None
    if not isinstance(payload, dict):
        raise PayloadError("payload is not a JSON object")
    return payload


def _text(value):
    if value is None or isinstance(value, (dict, list)):
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _number(value):
    """A JSON number or numeric text as text for ``plex.to_int``; anything else as None."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        return None
    return value


def _obj(payload, key):
    value = payload.get(key)
    return value if isinstance(value, dict) else {}


def to_event(payload, received_at=None):
    """Turn a payload dict (or None for an empty body) into a WebhookEvent."""
    received_at = time.monotonic() if received_at is None else received_at
    if payload is None:
        return WebhookEvent(received_at=received_at)
    event = _text(payload.get("event"))
    if not event:
        raise PayloadError('payload has no "event"')
    player = _obj(payload, "Player")
    metadata = _obj(payload, "Metadata")
    media_type = _text(metadata.get("type"))
    return WebhookEvent(
        event=event,
        player_uuid=_text(player.get("uuid")),
        player_title=_text(player.get("title")),
        account=_text(_obj(payload, "Account").get("title")),
        title=_text(metadata.get("title")),
        artist=plex.artist_of(media_type, _text(metadata.get("originalTitle")),
                              _text(metadata.get("grandparentTitle"))),
        album=_text(metadata.get("parentTitle")),
        rating_key=_text(metadata.get("ratingKey")),
        duration_ms=max(0, plex.to_int(_number(metadata.get("duration")))),
        position_ms=max(-1, plex.to_int(_number(metadata.get("viewOffset")), -1)),
        media_type=media_type,
        received_at=received_at,
    )


def parse(content_type, body, received_at=None):
    """Body bytes → WebhookEvent, or raise PayloadError."""
    return to_event(parse_body(content_type, body), received_at)


def triage(event, followed):
    """Return ``(fetch, reason)``: whether the event asks for a fetch, and why not.

    ``followed`` is the set of followed machine identifiers; empty follows all.
    """
    if not event.event:
        return True, ""
    if event.event == TEST_EVENT:
        return False, "webhook test"
    if event.event.startswith(IGNORED_PREFIXES):
        return False, "not about playback"
    if followed and event.player_uuid not in followed:
        return False, "player not followed"
    return True, ""
