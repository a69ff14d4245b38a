"""A base for the trigger sources that run on a thread of their own.

A source loops: connect, read, turn what it reads into triggers for the
session fetcher, and on failure wait with a growing backoff. It stops on an
event; ``stop()`` also cuts its request in flight. Failures are logged once
per kind and summarised like the fetcher's.
"""

import queue
import threading
import time

from streamerbrainz.plex import client as plex
from streamerbrainz.lib.log import get_logger
from streamerbrainz.lib.repeats import FailureLog

log = get_logger(__name__)


class Source:
    """Subclasses implement ``session()``: one connection's worth of work."""

    name = "source"
    first_backoff = 1.0
    max_backoff = 60.0

    def __init__(self, client, triggers, clock=time.monotonic):
        self.client = client
        self.triggers = triggers
        self.clock = clock
        self.stopping = threading.Event()
        self._failures = FailureLog(log)
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)

    def start(self):
        self._thread.start()

    def stop(self, timeout):
        self.stopping.set()
        self.client.abort()
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def trigger(self, event):
        try:
            self.triggers.put_nowait(event)
        except queue.Full:
            pass  # a fetch is due anyway; it will see the truth

    def session(self):
        """Connect and work until the connection ends; raise PlexError on failure."""
        raise NotImplementedError

    def _run(self):
        backoff = self.first_backoff
        while not self.stopping.is_set():
            try:
                if self.session():
                    backoff = self.first_backoff
            except plex.PlexError as err:
                if self.stopping.is_set():
                    return
                self.failed(err)
                if err.kind == "auth":
                    backoff = self.max_backoff
            except Exception:
                log.exception("%s failed; carrying on" % self.name)
            if self.stopping.wait(backoff):
                return
            backoff = min(backoff * 2, self.max_backoff)

    def failed(self, err):
        self._failures.failed((err.kind, err.status), self.clock(),
                              "%s failed; retrying with backoff" % self.name, error=str(err))

    def connected(self, **fields):
        if not self._failures.recovered("%s connected again" % self.name, **fields):
            log.info("%s connected" % self.name, **fields)
