"""Capture a logger's records in-process, at DEBUG, none required (unlike ``assertLogs``)."""

import contextlib
import logging
import threading

TAGS = {logging.DEBUG: "DEBUG", logging.INFO: "INFO", logging.WARNING: "WARN",
        logging.ERROR: "ERROR"}


class Captured(logging.Handler):
    """Keeps every record: ``raw`` (LogRecords) and ``records`` (level tag, message, fields)."""

    def __init__(self):
        super().__init__(logging.DEBUG)
        self.raw = []
        self.records = []
        self.guard = threading.Lock()  # not self.lock: logging.Handler holds that one in emit

    def emit(self, record):
        fields = dict(getattr(record, "fields", {}) or {})
        if record.exc_info and record.exc_info[1] is not None:
            exc = record.exc_info[1]  # what the daemon's formatter logs as error=
            fields["exception"] = "%s: %s" % (type(exc).__name__, exc)
        with self.guard:
            self.raw.append(record)
            self.records.append((TAGS.get(record.levelno, record.levelname),
                                 record.getMessage(), fields))

    def find(self, message, level=None):
        with self.guard:
            return [fields for tag, text, fields in self.records
                    if text == message and (level is None or tag == level)]

    def levels(self, level):
        with self.guard:
            return [(text, fields) for tag, text, fields in self.records if tag == level]

    def text(self):
        with self.guard:
            return "\n".join("[%s] %s %r" % record for record in self.records)


@contextlib.contextmanager
def captured(name="streamerbrainz"):
    """Capture ``name`` at DEBUG, whatever earlier tests did to logging; yields the handler."""
    logger = logging.getLogger(name)
    handler = Captured()
    level, propagate = logger.level, logger.propagate
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
        logger.propagate = propagate
