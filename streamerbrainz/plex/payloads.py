"""Webhook bodies → ``Trigger``: pure parsing, no sockets.

Plex posts ``multipart/form-data`` with a JSON ``payload`` part and, on
some events, a JPEG ``thumb`` part that is dropped. Tools that imitate Plex
send ``application/x-www-form-urlencoded`` (``payload=``) or plain JSON, and
an empty body asks for a fresh look at the sessions. Anything else raises
``PayloadError``, which the HTTP layer answers with 400.
"""

import binascii
import json
import quopri
import re
import time
import urllib.parse

from streamerbrainz.core.track import Track
from streamerbrainz.core.trigger import Trigger
from streamerbrainz.lib.log import get_logger
from streamerbrainz.plex import client as plex

log = get_logger(__name__)

EVENT_STATES = {
    "media.play": "playing",
    "media.resume": "playing",
    "media.pause": "paused",
    "media.stop": "stopped",
}

IGNORED_PREFIXES = ("library.", "admin.", "device.")
TEST_EVENT = "webhook.created"


class PayloadError(ValueError):
    """The body is not a webhook we understand; the message says why."""


def parse_body(content_type, body):
    """Return the webhook payload as a dict, or None for an empty body."""
    if not body or body.isspace():
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


MAX_PARTS = 16
MAX_PART_HEAD = 8 * 1024
MAX_PAYLOAD_BYTES = 256 * 1024


def boundary_of(content_type):
    """The ``boundary`` parameter of a multipart Content-Type, as bytes, or raise."""
    for param in content_type.split(";")[1:]:
        name, _, value = param.partition("=")
        if name.strip().lower() == "boundary":
            value = value.strip()
            if len(value) >= 2 and value[0] == value[-1] == '"':
                value = value[1:-1]
            if 0 < len(value) <= 70 and value.isascii():
                return value.encode("ascii")
    raise PayloadError("multipart body without a usable boundary")


def _param(header, name):
    """One parameter of a header value such as Content-Disposition (no RFC 2231)."""
    for param in header.split(";")[1:]:
        key, _, value = param.partition("=")
        if key.strip().lower() == name:
            value = value.strip()
            if len(value) >= 2 and value[0] == value[-1] == '"':
                value = value[1:-1]
            return value
    return None


def _part_head(block):
    """Header lines of one part → {lower-case name: value}."""
    fields = {}
    for line in block.decode("latin-1").splitlines():
        name, colon, value = line.partition(":")
        if colon:
            fields[name.strip().lower()] = value.strip()
    return fields


def _decoded(fields, data):
    encoding = fields.get("content-transfer-encoding", "").lower()
    try:
        if encoding == "base64":
            return binascii.a2b_base64(bytes(data))
        if encoding == "quoted-printable":
            return quopri.decodestring(bytes(data))
    except (binascii.Error, ValueError):
        raise PayloadError("payload part is not valid %s" % encoding) from None
    return bytes(data)


def multipart_payload(content_type, body):
    """Return the bytes of the part named ``payload`` in a multipart body.

    One pass with ``find``: at most ``MAX_PARTS`` parts, part heads of at
    most ``MAX_PART_HEAD`` bytes; other parts (the ``thumb``) are skipped,
    never decoded.
    """
    delimiter = b"--" + boundary_of(content_type)
    if body.startswith(delimiter):
        position = len(delimiter)
    else:
        found = body.find(b"\n" + delimiter)
        if found < 0:
            raise PayloadError("multipart body does not use its announced boundary")
        position = found + 1 + len(delimiter)
    separator = b"\n" + delimiter
    payload = None
    for count in range(MAX_PARTS + 1):
        if body[position:position + 2] == b"--":
            if payload is None:
                raise PayloadError("multipart body has no payload part")
            return payload
        if count == MAX_PARTS:
            break
        line_end = body.find(b"\n", position, position + 256)
        if line_end < 0 or body[position:line_end].strip(b" \t\r"):
            raise PayloadError("malformed multipart body")
        head_start = line_end + 1
        head_end = _HEAD_END.search(body, head_start - 1, head_start + MAX_PART_HEAD)
        if head_end is None:
            raise PayloadError("truncated multipart body (no closing boundary)"
                               if len(body) - head_start < MAX_PART_HEAD
                               else "multipart part head larger than %d bytes" % MAX_PART_HEAD)
        fields = _part_head(body[head_start:head_end.start()])
        next_delimiter = body.find(separator, head_end.end() - 1)
        if next_delimiter < 0:
            raise PayloadError("truncated multipart body (no closing boundary)")
        content_end = next_delimiter
        if body[content_end - 1:content_end] == b"\r":
            content_end -= 1
        name = _param(fields.get("content-disposition", ""), "name")
        if name == "payload" and payload is None:
            if content_end - head_end.end() > MAX_PAYLOAD_BYTES:
                raise PayloadError("payload part larger than %d bytes" % MAX_PAYLOAD_BYTES)
            payload = _decoded(fields, body[head_end.end():content_end])
        position = next_delimiter + len(separator)
    raise PayloadError("multipart body has more than %d parts" % MAX_PARTS)


_HEAD_END = re.compile(rb"\r?\n\r?\n")


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
    if len(raw) > MAX_PAYLOAD_BYTES:
        raise PayloadError("payload larger than %d bytes" % MAX_PAYLOAD_BYTES)
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
    """Turn a payload dict (or None for an empty body) into a Trigger."""
    received_at = time.monotonic() if received_at is None else received_at
    if payload is None:
        return Trigger(received_at=received_at)
    event = _text(payload.get("event"))
    if not event:
        raise PayloadError('payload has no "event"')
    player = _obj(payload, "Player")
    metadata = _obj(payload, "Metadata")
    media_type = _text(metadata.get("type"))
    position_ms = max(-1, plex.to_int(_number(metadata.get("viewOffset")), -1))
    return Trigger(
        event=event,
        machine_id=_text(player.get("uuid")),
        player=_text(player.get("title")),
        account=_text(_obj(payload, "Account").get("title")),
        track=Track(
            title=_text(metadata.get("title")),
            artist=plex.artist_of(media_type, _text(metadata.get("originalTitle")),
                                  _text(metadata.get("grandparentTitle"))),
            album=_text(metadata.get("parentTitle")),
            rating_key=_text(metadata.get("ratingKey")),
            duration_ms=max(0, plex.to_int(_number(metadata.get("duration")))),
            media_type=media_type,
        ),
        state=EVENT_STATES.get(event),
        position_ms=position_ms,
        # A pause reports the moment; Plex refreshes a session's viewOffset
        # only every ten seconds or so.
        position_is_fresh=position_ms >= 0 and event == "media.pause",
        received_at=received_at,
    )


def parse(content_type, body, received_at=None):
    """Body bytes → Trigger, or raise PayloadError."""
    return to_event(parse_body(content_type, body), received_at)


def read(content_type, body, followed):
    """A webhook body → ``(trigger, fetch, reason)``: the trigger and whether to queue it.

    Raises PayloadError (a ValueError) for a body that is no webhook.
    """
    trigger = parse(content_type, body)
    fetch, reason = triage(trigger, followed)
    if trigger.event == TEST_EVENT:
        log.info("Plex webhook test received", account=trigger.account)
    return trigger, fetch, reason


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
    if followed and event.machine_id not in followed:
        return False, "player not followed"
    return True, ""
