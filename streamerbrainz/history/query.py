"""What a reader asks of the history, from a URL's query or the command line: pure.

``/history`` and ``streamerbrainz history`` take the same words: ``limit``,
``before`` (the ``next`` cursor of the page before), ``player`` (a name or a
machine identifier) and ``since``/``until``: a time ago (``90m``, ``12h``,
``7d``, ``2w``), a date or time in ISO 8601 (local time unless it says
otherwise) or Unix seconds. A value that does not parse is a ValueError
whose text names the word and what it takes.
"""

import dataclasses
import datetime
import re
import urllib.parse
from typing import Optional

DEFAULT_LIMIT = 50
MAX_LIMIT = 1000
AGO = re.compile(r"^(\d{1,7})([smhdw])$")
UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
WORDS = ("limit", "before", "player", "since", "until")


@dataclasses.dataclass(frozen=True)
class Query:
    limit: int = DEFAULT_LIMIT  # 0: every play (the command line only)
    before: Optional[int] = None  # plays with a smaller id: the next page
    player: str = ""
    since: Optional[float] = None  # wall-clock seconds
    until: Optional[float] = None


def moment(word, text, now):
    """``text`` (a time ago, ISO 8601 or Unix seconds) as wall-clock seconds."""
    text = text.strip()
    ago = AGO.match(text)
    if ago:
        return now - int(ago.group(1)) * UNIT_SECONDS[ago.group(2)]
    if re.match(r"^\d{9,11}(\.\d+)?$", text):
        return float(text)
    try:
        when = datetime.datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith("Z")
                                               else text)
    except ValueError:
        raise ValueError("%s: %r is no time; give a time ago (7d, 12h), a date (2026-12-01) "
                         "or Unix seconds" % (word, text[:40])) from None
    if when.tzinfo is None:
        when = when.astimezone()  # a time without an offset is the Pi's local time
    return when.timestamp()


def from_words(words, now, max_limit=MAX_LIMIT):
    """A Query from ``{word: text}``; an unknown word or a bad value is a ValueError."""
    unknown = sorted(set(words) - set(WORDS))
    if unknown:
        raise ValueError("%s: unknown; the words are %s" % (unknown[0][:40], ", ".join(WORDS)))
    fields = {}
    limit = words.get("limit")
    if limit is not None:
        if not re.match(r"^\d{1,7}$", limit) or not (1 <= int(limit) <= max_limit):
            raise ValueError("limit: %r; give a number from 1 to %d" % (limit[:40], max_limit))
        fields["limit"] = int(limit)
    before = words.get("before")
    if before is not None:
        if not re.match(r"^\d{1,18}$", before):
            raise ValueError("before: %r; give the next value of the page before"
                             % before[:40])
        fields["before"] = int(before)
    if words.get("player"):
        fields["player"] = words["player"]
    for word in ("since", "until"):
        if words.get(word):
            fields[word] = moment(word, words[word], now)
    query = Query(**fields)
    if query.since is not None and query.until is not None and query.until <= query.since:
        raise ValueError("until: before since; give a range that ends after it starts")
    return query


def from_url(text, now):
    """A Query from a URL's query string (``limit=50&player=Kitchen``)."""
    words = {}
    for name, value in urllib.parse.parse_qsl(text, keep_blank_values=True):
        if name in words:
            raise ValueError("%s: given twice" % name[:40])
        words[name] = value
    return from_words(words, now)
