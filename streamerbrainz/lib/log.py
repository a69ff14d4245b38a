"""logfmt log lines: ``[LEVEL] message key=value ...``, one record a line.

Values that could confuse a reader or a parser (spaces, quotes, ``=``,
newlines, anything non-printing) are quoted and escaped, so a hostile track
title cannot forge a line. Registered secrets are masked as a last line of
defence; the code never logs them on purpose.
"""

import datetime
import logging
import os
import sys
import traceback

LEVELS = {
    "error": logging.ERROR,
    "warn": logging.WARNING,
    "info": logging.INFO,
    "debug": logging.DEBUG,
}

_TAGS = {
    logging.DEBUG: "DEBUG",
    logging.INFO: "INFO",
    logging.WARNING: "WARN",
    logging.ERROR: "ERROR",
    logging.CRITICAL: "ERROR",
}

_UNSAFE = frozenset(' "=\\')
_ESCAPES = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def escape_char(ch):
    """One character as it stands inside a quoted value."""
    if ch in _ESCAPES:
        return _ESCAPES[ch]
    if ch.isprintable():
        return ch
    code = ord(ch)
    if code < 0x100:
        return "\\x%02x" % code
    if code < 0x10000:
        return "\\u%04x" % code
    return "\\U%08x" % code


def format_value(value):
    """Return one logfmt value, quoted and escaped only when it must be."""
    if value is None:
        text = ""
    elif isinstance(value, bool):
        text = "true" if value else "false"
    else:
        text = str(value)
    if text and all(ch.isprintable() and ch not in _UNSAFE for ch in text):
        return text
    return '"' + "".join(escape_char(ch) for ch in text) + '"'


def format_fields(fields):
    """Return ``key=value`` pairs joined by spaces."""
    return " ".join("%s=%s" % (key, format_value(value)) for key, value in fields.items())


class LogfmtFormatter(logging.Formatter):
    """Formats records as ``[TIME ][LEVEL] message key=value ...``."""

    def __init__(self, timestamps=True):
        super().__init__()
        self.timestamps = timestamps
        self.secrets = []

    def format(self, record):
        parts = []
        if self.timestamps:
            stamp = datetime.datetime.fromtimestamp(record.created).astimezone()
            parts.append(stamp.isoformat(timespec="milliseconds"))
        parts.append("[%s]" % _TAGS.get(record.levelno, record.levelname))
        parts.append(record.getMessage())
        fields = dict(getattr(record, "fields", None) or {})
        if record.exc_info and record.exc_info[0] is not None:
            exc = record.exc_info[1]
            fields.setdefault("error", "%s: %s" % (type(exc).__name__, exc))
            if logging.getLogger("streamerbrainz").isEnabledFor(logging.DEBUG):
                fields["traceback"] = "".join(traceback.format_exception(*record.exc_info))
        if fields:
            parts.append(format_fields(fields))
        line = " ".join(parts)
        for secret in self.secrets:
            line = line.replace(secret, "[redacted]")
        return line


class Logger:
    """A thin wrapper so call sites read ``log.info("msg", key=value)``."""

    def __init__(self, name):
        self._logger = logging.getLogger(name)

    def isEnabledFor(self, level):
        return self._logger.isEnabledFor(level)

    def _log(self, level, msg, fields, exc_info=None):
        if self._logger.isEnabledFor(level):
            self._logger.log(level, msg, extra={"fields": fields}, exc_info=exc_info)

    def debug(self, msg, **fields):
        self._log(logging.DEBUG, msg, fields)

    def info(self, msg, **fields):
        self._log(logging.INFO, msg, fields)

    def warn(self, msg, **fields):
        self._log(logging.WARNING, msg, fields)

    def error(self, msg, **fields):
        self._log(logging.ERROR, msg, fields)

    def exception(self, msg, **fields):
        """Log at ERROR with the current exception as ``error=`` (and a traceback at debug)."""
        self._log(logging.ERROR, msg, fields, exc_info=True)


def get_logger(name):
    return Logger(name)


_formatter = None


def setup(level="info", stream=None, environ=None):
    """Send every ``streamerbrainz`` record to ``stream`` (stderr) as logfmt."""
    global _formatter
    environ = os.environ if environ is None else environ
    _formatter = LogfmtFormatter(timestamps=not environ.get("JOURNAL_STREAM"))
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(_formatter)
    root = logging.getLogger("streamerbrainz")
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(LEVELS[level])
    root.propagate = False


def set_level(level):
    """Log from ``level`` up from now on (SIGHUP's new -log-level)."""
    logging.getLogger("streamerbrainz").setLevel(LEVELS[level])


def add_secret(secret):
    """Mask ``secret`` in every line from now on (a safety net, not a licence to log it)."""
    if _formatter is not None and secret and secret not in _formatter.secrets:
        _formatter.secrets.append(secret)
