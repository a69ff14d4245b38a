"""Server-Sent Events: encode one event, and read a stream of them within bounds.

The daemon writes ``/events`` with ``encode``; the Plex room reads Plex's
notification stream with ``events``. Both follow the WHATWG format: lines of
``field: value``, an event ended by an empty line, ``:`` comments ignored.
"""

import json


class TooLong(ValueError):
    """A line or an event is longer than the reader allows."""


def encode(event, data, event_id=None):
    """One event: its optional id, its name and ``data`` as JSON, as bytes."""
    lines = []
    if event_id is not None:
        lines.append("id: %d" % event_id)
    lines.append("event: %s" % event)
    lines.extend("data: " + line for line in json.dumps(data).splitlines())
    return ("\n".join(lines) + "\n\n").encode("utf-8")


def events(lines, max_line, max_event):
    """Yield ``(event, data)`` from an iterable of lines (bytes or str).

    Raises TooLong for a line longer than ``max_line`` (read lines with
    ``readline(max_line + 1)``) or an event whose data is longer than
    ``max_event``.
    """
    event, data, size = "", [], 0
    for raw in lines:
        if len(raw) > max_line:
            raise TooLong("line longer than %d bytes" % max_line)
        line = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
        line = line.rstrip("\r\n")
        if not line:
            if data:
                yield event or "message", "\n".join(data)
            event, data, size = "", [], 0
            continue
        if line.startswith(":"):
            continue
        field, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if field == "event":
            event = value
        elif field == "data":
            size += len(value) + 1
            if size > max_event:
                raise TooLong("event longer than %d bytes" % max_event)
            data.append(value)
