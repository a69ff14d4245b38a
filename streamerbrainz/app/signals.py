"""SIGTERM, SIGINT and SIGHUP as actions on the main loop's queue.

The kernel may deliver a signal to any thread, and a main thread blocked on
a queue would not notice it; so the interpreter writes each signal's number
to a socket (``signal.set_wakeup_fd``) and a thread of ours reads it. Byte 0
is our own sentinel for "stop watching".
"""

import signal
import socket
import threading
import time

from streamerbrainz.core.actions import Reload, Shutdown
from streamerbrainz.lib.service import Service

SHUTDOWN_SIGNALS = (signal.SIGTERM, signal.SIGINT)
WATCHED_SIGNALS = SHUTDOWN_SIGNALS + (signal.SIGHUP,)


class SignalWatcher(Service):
    """Turns the watched signals into ``Shutdown`` and ``Reload`` actions."""

    name = "signals"

    def __init__(self, actions):
        self.actions = actions
        self._read = self._write = self._thread = None

    def start(self):
        self._read, self._write = socket.socketpair()
        self._write.setblocking(False)
        for signum in WATCHED_SIGNALS:
            signal.signal(signum, lambda signum, frame: None)
        signal.set_wakeup_fd(self._write.fileno(), warn_on_full_buffer=False)
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()

    def alive(self):
        return self._thread is not None and self._thread.is_alive()

    def _run(self):
        while True:
            data = self._read.recv(64)
            if not data:
                return
            for signum in data:
                if signum == 0:
                    return
                if signum == signal.SIGHUP:
                    self.actions.put(Reload())
                elif signum in SHUTDOWN_SIGNALS:
                    self.actions.put(Shutdown(signal.Signals(signum).name))

    def stop(self, deadline):
        if self._thread is None:
            return True
        signal.set_wakeup_fd(-1)
        try:
            self._write.send(b"\0")
        except OSError:
            pass
        self._thread.join(max(0.0, deadline - time.monotonic()))
        stopped = not self._thread.is_alive()
        if stopped:  # never close a socket its thread may still read
            self._read.close()
            self._write.close()
        return stopped
