"""Time as people and JSON read it: ISO 8601 in local time, to the millisecond."""

import datetime


def iso(wall):
    """Wall-clock seconds as ISO 8601 with the local offset; None for 0 (never)."""
    if not wall:
        return None
    return datetime.datetime.fromtimestamp(wall).astimezone().isoformat(timespec="milliseconds")
