"""A base for services that keep a connection: connect, work, back off, again.

Each connection's work is ``session()``, which puts what it reads on a
queue (``triggers``) as it goes. On failure the loop waits with a growing
backoff; it stops on an event, and ``stop()`` also cuts the request in
flight. Failures are logged once per kind and summarised.
"""

import queue
import time

from streamerbrainz.lib.log import get_logger
from streamerbrainz.lib.opener import RequestError
from streamerbrainz.lib.repeats import FailureLog
from streamerbrainz.lib.service import ThreadService

log = get_logger(__name__)


class Source(ThreadService):
    """Subclasses implement ``session()``: one connection's worth of work.

    ``client`` has ``abort()``, which cuts its request in flight from
    another thread.
    """

    name = "source"
    first_backoff = 1.0
    max_backoff = 60.0

    def __init__(self, client, triggers, clock=time.monotonic):
        super().__init__()
        self.client = client
        self.triggers = triggers
        self.clock = clock
        self._failures = FailureLog(log)

    def wake(self):
        self.client.abort()

    def trigger(self, event):
        try:
            self.triggers.put_nowait(event)
        except queue.Full:
            pass  # a fetch is due anyway; it will see the truth

    def session(self):
        """Connect and work until the connection ends; raise RequestError on failure."""
        raise NotImplementedError

    def run(self):
        backoff = self.first_backoff
        while not self.stopping.is_set():
            try:
                if self.session():
                    backoff = self.first_backoff
            except RequestError as err:
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
