"""The bench's processes, on the tests' harness (tests/support/daemon.py).

``Process`` is the tests' ``Daemon`` (a subprocess whose output threads
read into lists of lines) with what a measurement needs beyond it: the
``time.perf_counter()`` at which each line of one stream arrived, a queue
to wait on those stamped lines, counts of the log levels seen, the WARN and
ERROR lines, and a SIGTERM that reports how long the exit took. ``Daemon``
runs ``python -m streamerbrainz`` beside a stand-in Plex (the tests'
``PlexStub``); ``Floor`` and ``FloorServer`` are the bare interpreters the
daemon is compared with, run by the same class with another command.

The environment is the tests' ``clean_env`` with the bench's choice of
bytecode: the tests' one turns writing .pyc files off and stdout buffering
off; the bench puts those back as the environment had them, or (the
default) lets every subprocess keep its .pyc files in one temporary
PYTHONPYCACHEPREFIX.
"""

import collections
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time

from tests.support import daemon as harness
from tests.support import plexstub
from tests.support.webhooks import fixture

REPO_ROOT = harness.REPO_ROOT
MACHINE_ID = harness.MACHINE_ID  # the player the daemon follows
FOREIGN_MACHINE_ID = harness.FOREIGN_MACHINE_ID  # one it does not
TOKEN = plexstub.DEFAULT_TOKEN
# What /status/sessions answers for the followed player: one Track, playing.
SESSIONS_XML = fixture("sessions_track.xml")

# -- the environment --------------------------------------------------------------

# The tests' clean_env sets these two to 1; an empty value is the same as unset.
_ENV = {"PYTHONDONTWRITEBYTECODE": os.environ.get("PYTHONDONTWRITEBYTECODE", ""),
        "PYTHONUNBUFFERED": os.environ.get("PYTHONUNBUFFERED", "")}


def use_bytecode_cache(prefix):
    """Let every subprocess read and write .pyc files under ``prefix`` (not in the repo).

    Without this, an environment with PYTHONDONTWRITEBYTECODE=1 makes the daemon
    compile its own modules on every start while the standard library the
    floor imports comes precompiled: an unfair comparison.
    """
    _ENV["PYTHONDONTWRITEBYTECODE"] = ""
    _ENV["PYTHONPYCACHEPREFIX"] = prefix


def env_extra(extra=None):
    """What the bench adds to the tests' ``clean_env`` (``extra`` last)."""
    merged = dict(_ENV)
    merged.update(extra or {})
    return merged


def clean_env(extra=None):
    """The environment of every subprocess the bench starts."""
    return harness.clean_env(env_extra(extra))


# -- waiting ----------------------------------------------------------------------

wait_for = harness.wait_for


def wait_stable(read, quiet, timeout, interval=0.01):
    """Poll ``read()`` until its value has not changed for ``quiet`` seconds.

    Returns ``(value, settled)``; ``settled`` is False when ``timeout`` passed first.
    """
    deadline = time.monotonic() + timeout
    pause = threading.Event()
    value = read()
    since = time.monotonic()
    while True:
        pause.wait(interval)
        now = time.monotonic()
        current = read()
        if current != value:
            value, since = current, now
        elif now - since >= quiet:
            return value, True
        if now >= deadline:
            return value, False


# -- processes ----------------------------------------------------------------------


class ProcessDied(Exception):
    pass


_LEVEL_RE = re.compile(r"\[(DEBUG|INFO|WARN|ERROR)\]")


class _Stamped:
    """Stands in for the list the tests' reader appends a stream's lines to."""

    def __init__(self, sink, arrived):
        self._sink = sink
        self._arrived = arrived

    def append(self, line):
        self._arrived(time.perf_counter(), line)
        self._sink.append(line)


class Process(harness.Daemon):
    """The tests' Daemon, with each line of ``watch`` (``stderr`` or ``stdout``) stamped.

    Every line of that stream is also queued as ``(arrival time, line)`` for
    ``wait_line``; a short ``tail``, the WARN/ERROR/Traceback lines
    (``complaints``), ``levels`` and the last ``Plex state changed`` line
    are kept. The process starts in the constructor (``t_spawn`` just before).
    """

    def __init__(self, args, env=None, command=None, watch="stderr"):
        self.watch = watch
        self.arrivals = queue.Queue()
        self.tail = collections.deque(maxlen=40)
        self.complaints = []
        self.nlines = 0
        self.levels = collections.Counter()  # DEBUG/INFO/WARN/ERROR/Traceback lines seen
        self.last_state = None  # (arrival time, line) of the last ``Plex state changed``
        self.t_spawn = time.perf_counter()
        super().__init__(args, env=env_extra(env), command=command)

    def _read(self, stream, sink):
        watched = self.proc.stderr if self.watch == "stderr" else self.proc.stdout
        if stream is not watched:
            return super()._read(stream, sink)
        try:
            return super()._read(stream, _Stamped(sink, self._arrived))
        finally:
            self.arrivals.put((time.perf_counter(), None))

    def _arrived(self, t, line):
        self.nlines += 1
        self.tail.append(line)
        level = _LEVEL_RE.search(line)
        if level:
            self.levels[level.group(1)] += 1
        elif line.startswith("Traceback"):
            self.levels["Traceback"] += 1
        if ("[WARN]" in line or "[ERROR]" in line or "Traceback" in line) \
                and len(self.complaints) < 50:
            self.complaints.append(line)
        if "Plex state changed" in line:
            self.last_state = (t, line)
        self.arrivals.put((t, line))

    def wait_line(self, predicate, timeout):
        """Return ``(arrival time, line)`` of the next line matching ``predicate``."""
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("no matching line within %gs; last lines:\n  %s"
                                   % (timeout, "\n  ".join(self.tail)))
            try:
                t, line = self.arrivals.get(timeout=remaining)
            except queue.Empty:
                continue
            if line is None:
                self.arrivals.put((t, None))
                raise ProcessDied("process exited (status %s); last lines:\n  %s"
                                  % (self.proc.poll(), "\n  ".join(self.tail)))
            if predicate(line):
                return t, line

    def drain(self):
        """Forget the lines not waited for yet."""
        while True:
            try:
                t, line = self.arrivals.get_nowait()
            except queue.Empty:
                return
            if line is None:
                self.arrivals.put((t, None))
                return

    def sigterm(self, timeout=5.0):
        """SIGTERM, wait; return ``(seconds to exit or None, exit status)`` (killed on timeout)."""
        if self.proc.poll() is not None:
            return None, self.proc.returncode
        t0 = time.perf_counter()
        self.proc.send_signal(signal.SIGTERM)
        try:
            status = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                pass
            return None, None
        return time.perf_counter() - t0, status

    def close(self):
        """Make sure the process is gone and its pipes closed (for cleanups)."""
        self.stop()


LISTENING_RE = re.compile(r"webhooks server listening .*\bport=(\d+)")


class Daemon(Process):
    """``python -m streamerbrainz`` against a stand-in Plex server.

    ``stub_url`` None runs it without Plex (``extra_args`` then name the
    source, ``-plexamp-url`` say); ``machine_id`` is the player followed and
    looked for in ``Plex state changed`` lines (None: follow every player,
    match any line, unless ``watch_id`` names the one to look for). Port 0:
    the port is read from the ``listening`` line.
    """

    def __init__(self, stub_url, token_file, level="info", port=0, env=None,
                 machine_id=MACHINE_ID, extra_args=(), watch_id=None):
        args = ["-webhooks-port", str(port), "-webhooks-bind", "127.0.0.1"]
        if stub_url is not None:
            args += ["-plex-server-url", stub_url, "-plex-token-file", token_file]
        if machine_id:
            args += ["-plex-machine-id", machine_id]
        args += ["-log-level", level] + list(extra_args)
        self.t_listening = None
        self.watch_id = watch_id or machine_id
        super().__init__(args, env=env)
        self.port = None

    def wait_listening(self, timeout=15.0):
        t, line = self.wait_line(lambda l: LISTENING_RE.search(l) is not None, timeout)
        self.port = int(LISTENING_RE.search(line).group(1))
        self.t_listening = t
        return t

    def wait_state(self, state=None, timeout=5.0):
        """Wait for the next ``Plex state changed`` line (with ``state=`` if given)."""
        needle = " state=%s " % state if state else None
        watch = self.watch_id

        def match(line):
            return ("Plex state changed" in line and (not watch or watch in line)
                    and (needle is None or needle in line + " "))
        return self.wait_line(match, timeout)


# The bare interpreter the daemon is compared with: the same standard-library
# modules, then "ready" on stdout, then it waits until it is told to stop.
FLOOR_IMPORTS = "http.server, urllib.request, xml.etree.ElementTree, email.parser, json, logging"
FLOOR_CODE = (
    "import sys, threading\n"
    "import " + FLOOR_IMPORTS + "\n"
    "sys.stdout.write('ready\\n')\n"
    "sys.stdout.flush()\n"
    "threading.Event().wait()\n"
)

# The floor for HTTP answers: a plain stdlib ThreadingHTTPServer that reads
# the body and answers 200 with a small JSON body, nothing more. It turns
# Nagle's algorithm off (one line, ``disable_nagle_algorithm``): without it a
# stdlib server that writes the head and the body separately waits for the
# client's delayed ACK (40 ms on Linux) on every kept-alive request.
FLOOR_SERVER_CODE = r"""
import http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    def log_message(self, *a):
        pass
    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", "0") or 0))
        data = b'{"status": "queued"}\n'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
class S(http.server.ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128
s = S(("127.0.0.1", 0), H)
sys.stdout.write("listening port=%d\n" % s.server_address[1])
sys.stdout.flush()
s.serve_forever()
"""


class Floor(Process):
    """The bare interpreter: same imports, prints ``ready``, waits for SIGTERM."""

    def __init__(self):
        super().__init__([], command=[sys.executable, "-c", FLOOR_CODE], watch="stdout")

    def wait_ready(self, timeout=15.0):
        t, _ = self.wait_line(lambda l: l.strip() == "ready", timeout)
        return t


class FloorServer(Process):
    """The bare stdlib HTTP server answering every POST with 200."""

    def __init__(self):
        super().__init__([], command=[sys.executable, "-c", FLOOR_SERVER_CODE], watch="stdout")
        self.port = None

    def wait_listening(self, timeout=15.0):
        _, line = self.wait_line(lambda l: l.startswith("listening port="), timeout)
        self.port = int(line.split("=", 1)[1])
