"""The shape of every part that owns a thread or a socket: start, stop by a deadline, alive.

The daemon starts its services in order and stops them in reverse order,
all against one shared deadline, and pings the systemd watchdog only
while every one of them is ``alive()``. ``ThreadService`` is the common
case: one thread, created in ``start()``, that returns when asked.
"""

import threading
import time


class Service:
    """A part with a life of its own. ``name`` is how logs and ``/healthz`` call it."""

    name = "service"

    def start(self):
        """Start working; threads and sockets are made here, not in the constructor."""
        raise NotImplementedError

    def stop(self, deadline):
        """Ask to stop and wait until monotonic ``deadline``; return whether it stopped."""
        raise NotImplementedError

    def alive(self):
        """Whether it still does its job (false before start and after stop)."""
        raise NotImplementedError


class ThreadService(Service):
    """A service run by one thread: ``run()`` loops until ``stopping`` is set.

    ``wake()`` cuts whatever ``run()`` blocks on (a queue, a socket) so that
    a stop never waits for a timeout to pass. ``run()`` must catch and log
    the exceptions it can survive; one that escapes ends the thread, and
    ``alive()`` then says so.
    """

    def __init__(self):
        self.stopping = threading.Event()
        self._thread = None

    def run(self):
        raise NotImplementedError

    def wake(self):
        """Cut a blocking wait of ``run()``; called once by ``stop()``."""

    def start(self):
        self._thread = threading.Thread(target=self.run, name=self.name, daemon=True)
        self._thread.start()

    def stop(self, deadline):
        self.stopping.set()
        self.wake()
        if self._thread is None:
            return True
        self._thread.join(max(0.0, deadline - time.monotonic()))
        return not self._thread.is_alive()

    def alive(self):
        return self._thread is not None and self._thread.is_alive()


def stop_all(services, deadline):
    """Stop ``services`` in reverse order by one shared deadline; the names that did not stop."""
    late = []
    for service in reversed(services):
        if not service.stop(deadline):
            late.append(service.name)
    return late
