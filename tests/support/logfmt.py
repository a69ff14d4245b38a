"""The one reader of the daemon's log lines: ``[TIME ][LEVEL] message key=value ...``.

``parse_fields`` reads ``key=value`` pairs the way a logfmt reader would and
raises ValueError on anything such a reader could not make sense of (an
unterminated quote, a bad escape, junk after a quoted value, a bare value
holding a quote or ``=``), so a test sees a forged or broken line as a
failure. ``parse_log_line`` splits a whole line into its timestamp, level,
message and fields with it.
"""

import collections
import re

LogLine = collections.namedtuple("LogLine", "timestamp level message fields")

_LINE = re.compile(r"^(?:(?P<ts>\d{4}-\d\d-\d\dT[0-9:.]+(?:Z|[+-]\d\d:?\d\d)?) )?"
                   r"\[(?P<level>DEBUG|INFO|WARN|ERROR)\] (?P<rest>.*)$")
_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]*=")
_FIRST_KEY = re.compile(r"(?:^| )(?=[A-Za-z_][A-Za-z0-9_.\-]*=)")
_SIMPLE_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", '"': '"', "\\": "\\"}
_WIDTHS = {"x": 2, "u": 4, "U": 8}


def _quoted(text, i):
    """The value of the quoted string starting at ``text[i]`` and the index after it."""
    value, i, n = [], i + 1, len(text)
    while True:
        if i >= n:
            raise ValueError("unterminated quote in %r" % text)
        ch = text[i]
        if ch == '"':
            return "".join(value), i + 1
        if ch != "\\":
            value.append(ch)
            i += 1
            continue
        code = text[i + 1] if i + 1 < n else ""
        if code in _SIMPLE_ESCAPES:
            value.append(_SIMPLE_ESCAPES[code])
            i += 2
        elif code and code in _WIDTHS:
            digits = text[i + 2:i + 2 + _WIDTHS[code]]
            if len(digits) != _WIDTHS[code] or not re.fullmatch(r"[0-9A-Fa-f]+", digits):
                raise ValueError("bad escape in %r" % text)
            value.append(chr(int(digits, 16)))
            i += 2 + _WIDTHS[code]
        else:
            raise ValueError("bad escape in %r" % text)


def parse_fields(text):
    """The ``key=value`` pairs of ``text`` in order, as a list (a key may repeat)."""
    pairs = []
    i, n = 0, len(text)
    while i < n:
        if text[i] == " ":
            i += 1
            continue
        match = _KEY.match(text, i)
        if not match:
            raise ValueError("no key at %d in %r" % (i, text))
        key = match.group()[:-1]
        i = match.end()
        if i < n and text[i] == '"':
            value, i = _quoted(text, i)
            if i < n and text[i] != " ":
                raise ValueError("junk after a quoted value in %r" % text)
        else:
            end = text.find(" ", i)
            end = n if end < 0 else end
            value = text[i:end]
            if '"' in value or "=" in value:
                raise ValueError("unquoted value holds a quote or '=': %r" % value)
            i = end
        pairs.append((key, value))
    return pairs


def parse_log_line(line):
    """``[TIME ][LEVEL] message key=value ...`` → LogLine, or None if it is no log line.

    The message is the words before the first ``key=``; the fields are a
    dict. Raises ValueError when the fields do not read as logfmt.
    """
    match = _LINE.match(line)
    if match is None:
        return None
    rest = match.group("rest")
    first = _FIRST_KEY.search(rest)
    message, fields = (rest, "") if first is None else (rest[:first.start()], rest[first.end():])
    return LogLine(match.group("ts"), match.group("level"), " ".join(message.split()),
                   dict(parse_fields(fields)))
