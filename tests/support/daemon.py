"""Run the real daemon (``python -m streamerbrainz``) as a subprocess.

stderr (the log) and stdout are read by threads into lists of lines, so a
test can wait for a line with a deadline instead of sleeping. Every helper
that waits gives up at its deadline with an AssertionError that shows the
whole log so far.
"""

import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest

from tests.support import webhooks
from tests.support.httpstub import start_server
from tests.support.logfmt import parse_log_line  # noqa: F401 (the tests import it from here)
from tests.support.plexstub import DEFAULT_TOKEN, EMPTY_SESSIONS, PlexStub
from tests.support.webhooks import fixture

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

MACHINE_ID = "bc97b983-8169-47e3-bbcc-54a12d662546"
FOREIGN_MACHINE_ID = "5e1d7c2a-3b4f-4c6d-8e9f-0a1b2c3d4e5f"

_DROPPED_ENV = ("NOTIFY_SOCKET", "JOURNAL_STREAM", "CREDENTIALS_DIRECTORY", "WATCHDOG_USEC",
                "WATCHDOG_PID", "LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES",
                "CONFIGURATION_DIRECTORY")


def wait_for(predicate, timeout=5.0, interval=0.01):
    """Poll ``predicate`` until it returns something true or ``timeout`` passes.

    Returns the last value of ``predicate()`` (true on success, false on timeout).
    """
    deadline = time.monotonic() + timeout
    pause = threading.Event()
    while True:
        value = predicate()
        if value or time.monotonic() >= deadline:
            return value
        pause.wait(min(interval, max(0.0, deadline - time.monotonic())))


def free_port():
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def clean_env(extra=None, drop=()):
    """The environment for a subprocess the tests start, ``extra`` added last.

    os.environ without anything that would change how the daemon runs
    (``STREAMERBRAINZ_*``, systemd's variables, ``PYTHONWARNINGS``) nor the
    names in ``drop``; no settings file unless ``drop`` names
    ``STREAMERBRAINZ_CONFIG``; output unbuffered and no .pyc files written.
    """
    env = {key: value for key, value in os.environ.items()
           if not key.startswith("STREAMERBRAINZ_") and key not in _DROPPED_ENV
           and key not in drop}
    env["PYTHONUNBUFFERED"] = "1"
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env.pop("PYTHONWARNINGS", None)
    if "STREAMERBRAINZ_CONFIG" not in drop:
        env["STREAMERBRAINZ_CONFIG"] = ""  # no /etc/streamerbrainz file of this machine's
    if extra:
        env.update(extra)
    return env


def _matcher(pattern):
    if hasattr(pattern, "search"):
        return lambda line: pattern.search(line) is not None
    return lambda line: pattern in line


def run_cli(args, env=None, timeout=15, stdin=subprocess.DEVNULL):
    """Run ``python -m streamerbrainz ARGS`` to completion; return CompletedProcess (text)."""
    return subprocess.run([sys.executable, "-m", "streamerbrainz"] + list(args),
                          cwd=REPO_ROOT, env=clean_env(env), stdin=stdin,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          timeout=timeout, universal_newlines=True, encoding="utf-8",
                          errors="replace")


class Daemon:
    """One daemon subprocess and everything it has written so far."""

    def __init__(self, args, env=None, command=None, cwd=REPO_ROOT):
        """``command`` replaces ``python -m streamerbrainz`` (run from ``cwd``)."""
        self.args = list(args)
        self._cond = threading.Condition()
        self._stderr = []
        self._stdout = []
        self._closed = 0
        command = list(command or [sys.executable, "-m", "streamerbrainz"])
        self.proc = subprocess.Popen(
            command + self.args, cwd=cwd, env=clean_env(env), stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.pid = self.proc.pid
        self._readers = [
            threading.Thread(target=self._read, args=(self.proc.stderr, self._stderr),
                             name="daemon-stderr", daemon=True),
            threading.Thread(target=self._read, args=(self.proc.stdout, self._stdout),
                             name="daemon-stdout", daemon=True),
        ]
        for reader in self._readers:
            reader.start()

    # -- reading ----------------------------------------------------------

    def _read(self, stream, sink):
        try:
            for raw in iter(stream.readline, b""):
                line = raw.decode("utf-8", "replace").rstrip("\r\n")
                with self._cond:
                    sink.append(line)
                    self._cond.notify_all()
        finally:
            with self._cond:
                self._closed += 1
                self._cond.notify_all()

    def lines(self):
        """Every stderr (log) line so far."""
        with self._cond:
            return list(self._stderr)

    def stdout_lines(self):
        with self._cond:
            return list(self._stdout)

    def log(self):
        return "\n".join(self.lines())

    def matching(self, pattern, start=0):
        match = _matcher(pattern)
        return [line for line in self.lines()[start:] if match(line)]

    def count(self, pattern, start=0):
        return len(self.matching(pattern, start))

    def mark(self):
        """The number of log lines so far, to wait for or count lines after this point."""
        with self._cond:
            return len(self._stderr)

    def _fail(self, what, timeout):
        rc = self.proc.poll()
        raise AssertionError("%s within %gs (daemon %s); log so far:\n%s" % (
            what, timeout, "running" if rc is None else "exited %s" % rc, self.log()))

    def wait_for_line(self, pattern, timeout=5, start=0):
        """Wait for a stderr line matching ``pattern`` (a substring or a compiled regex).

        Only lines at index ``start`` or later count. Returns the first such line.
        """
        return self.wait_for_lines(pattern, 1, timeout, start)[0]

    def wait_for_lines(self, pattern, n, timeout=5, start=0):
        """Wait until ``n`` lines at ``start`` or later match; return them."""
        match = _matcher(pattern)
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                found = [line for line in self._stderr[start:] if match(line)]
                if len(found) >= n:
                    return found
                if self._closed >= 2:
                    break  # the process closed its pipes: nothing more will come
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._cond.wait(remaining)
        shown = getattr(pattern, "pattern", pattern)
        self._fail("expected %d line(s) matching %r, found %d" % (n, shown, len(found)), timeout)

    def wait_output_closed(self, timeout=5):
        with self._cond:
            return self._cond.wait_for(lambda: self._closed >= 2, timeout)

    # -- process control ----------------------------------------------------

    def send_signal(self, sig):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)

    def terminate(self):
        self.send_signal(signal.SIGTERM)

    def wait_exit(self, timeout=5):
        """Wait for the process to exit; return its status or fail with the log."""
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            rc = None
        if rc is None:
            self._fail("daemon did not exit", timeout)
        for reader in self._readers:
            reader.join(timeout)
        return rc

    def running(self):
        return self.proc.poll() is None

    def stop(self):
        """SIGTERM, then SIGKILL if it lingers; always reap and close the pipes."""
        try:
            if self.proc.poll() is None:
                self.proc.send_signal(signal.SIGTERM)
                try:
                    self.proc.wait(5)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait(5)
        finally:
            for reader in self._readers:
                reader.join(2)
            for stream in (self.proc.stdout, self.proc.stderr):
                try:
                    stream.close()
                except OSError:
                    pass



def process_gone(pid):
    """True when ``pid`` no longer runs (absent, or a zombie nobody reaped yet)."""
    try:
        with open("/proc/%d/stat" % pid) as handle:
            stat_line = handle.read()
    except FileNotFoundError:
        return True
    except OSError:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        return False
    return stat_line.rpartition(")")[2].split()[0] in ("Z", "X")


def unreachable_plex():
    """Stands in for a stand-in Plex: a URL with nothing listening there."""

    class Unreachable:
        url = "http://127.0.0.1:%d" % free_port()
        token = DEFAULT_TOKEN

        @staticmethod
        def all_requests():
            return []

    return Unreachable


def write_token(testcase, token=DEFAULT_TOKEN):
    """Write ``token`` to a temporary file (removed at cleanup); return its path."""
    handle, path = tempfile.mkstemp(prefix="sbz-token-")
    with os.fdopen(handle, "w") as out:
        out.write(token + "\n")
    testcase.addCleanup(remove_file, path)
    return path


def remove_file(path):
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def start_daemon(testcase, plex_stub=None, token=DEFAULT_TOKEN, machine_id=MACHINE_ID,
                 extra_args=(), env=None, wait_ready=True, log_level="debug", check_token=True,
                 command=None, cwd=REPO_ROOT):
    """Start the daemon beside ``plex_stub`` on a free loopback port.

    Waits for ``webhooks server listening`` (and, with Plex, for ``Plex
    webhook enabled``); the daemon is stopped at cleanup, and then its
    whole log and every URL the stub saw are checked for the token. The
    returned Daemon has ``.port``, ``.token`` and ``.token_file``.
    """
    port = free_port()
    args = ["-webhooks-port", str(port), "-webhooks-bind", "127.0.0.1"]
    token_file = None
    if plex_stub is not None:
        token_file = write_token(testcase, token)
        args += ["-plex-server-url", plex_stub.url, "-plex-token-file", token_file]
        if machine_id:
            args += ["-plex-machine-id", machine_id]
    if log_level:
        args += ["-log-level", log_level]
    args += list(extra_args)
    daemon = Daemon(args, env, command, cwd)
    # Cleanups run last-in first-out: the daemon stops (so its log is
    # complete), then the token check reads that log.
    if check_token and plex_stub is not None:
        testcase.addCleanup(assert_token_secret, testcase, daemon, plex_stub)
    testcase.addCleanup(daemon.stop)
    daemon.port = port
    daemon.token = token if plex_stub is not None else None
    daemon.token_file = token_file
    daemon.plex_stub = plex_stub
    if wait_ready:
        daemon.wait_for_line("webhooks server listening", timeout=10)
        if plex_stub is not None:
            daemon.wait_for_line("Plex webhook enabled", timeout=5)
    return daemon


def start_stub(testcase, sessions=None, token=DEFAULT_TOKEN, tls_context=None):
    """Start a PlexStub that is stopped at cleanup."""
    return start_server(testcase, PlexStub(
        token=token, sessions=EMPTY_SESSIONS if sessions is None else sessions,
        tls_context=tls_context))


def assert_token_secret(testcase, daemon, stub=None):
    """The token appears in no log line, no stdout line and no URL the stub saw."""
    token = daemon.token or (stub.token if stub is not None else None)
    if not token:
        return
    for line in daemon.lines() + daemon.stdout_lines():
        testcase.assertNotIn(token, line, "the Plex token leaked into the daemon's output")
    if stub is not None:
        for request in stub.all_requests():
            testcase.assertNotIn(token, request.raw_path,
                                 "the Plex token was sent in a URL: %s" % request.raw_path)


# -- reading log lines (tests/support/logfmt.py) ------------------------------

STATE_CHANGED = "Plex state changed"


def state_changes(daemon, start=0):
    """The fields of every ``Plex state changed`` line from ``start`` on."""
    result = []
    for line in daemon.lines()[start:]:
        record = parse_log_line(line)
        if record is not None and record.message == STATE_CHANGED:
            result.append(record.fields)
    return result


def state_pattern(state):
    return re.compile(r"\[INFO\] %s state=%s(?: |$)" % (STATE_CHANGED, re.escape(state)))


# -- a base class for the end-to-end tests ----------------------------------

class E2ECase(unittest.TestCase):
    """Starts a stand-in Plex and the daemon; cleans both up, then checks the token."""

    maxDiff = None

    def start_plex_and_daemon(self, sessions="sessions_empty.xml", extra_args=(), env=None,
                              token=DEFAULT_TOKEN, machine_id=MACHINE_ID, stub_token=DEFAULT_TOKEN,
                              tls_context=None):
        self.stub = start_stub(self, fixture(sessions), token=stub_token, tls_context=tls_context)
        self.daemon = start_daemon(self, self.stub, token=token, machine_id=machine_id,
                                   extra_args=extra_args, env=env)
        # The daemon looks at the sessions once right after it starts; every
        # count a test makes starts after that first request has arrived.
        self.assertTrue(self.stub.wait_for_count(1, 5),
                        "the daemon did not fetch the sessions at start\n" + self.daemon.log())
        return self.daemon

    def set_sessions(self, name):
        self.stub.set_sessions(fixture(name))

    def send(self, payload_name=None, thumb=False, expect="queued"):
        """POST a fixture payload (multipart, as PMS does) or an empty body; check the 200."""
        if payload_name is None:
            status, headers, body = webhooks.post(self.daemon.port)
        else:
            status, headers, body = webhooks.post_webhook(self.daemon.port, payload_name, thumb)
        return self.check_accepted(status, headers, body, expect)

    def check_accepted(self, status, headers, body, expect="queued"):
        self.assertEqual(status, 200, body)
        self.assertEqual(headers.get("content-type", "").split(";")[0], "application/json")
        answer = json.loads(body.decode("utf-8"))
        if expect is not None:
            self.assertEqual(answer.get("status"), expect, answer)
        return answer

    def wait_state(self, state, n=1, start=0, timeout=5):
        """Wait for ``n`` ``Plex state changed state=STATE`` lines; return the last one's fields."""
        lines = self.daemon.wait_for_lines(state_pattern(state), n, timeout, start)
        return parse_log_line(lines[n - 1]).fields

    def changes(self, start=0):
        return [(c.get("state"), c.get("title")) for c in state_changes(self.daemon, start)]
