"""User hooks: commands and HTTP notifications run on each change.

Each runner has its own thread and a bounded queue, so a slow hook never
delays state tracking or webhook answers; jobs run one at a time, in
order, and when more than ``MAX_WAITING`` wait the oldest are dropped.
Commands are split like a shell would split them and run without one, with
standard input closed, the ``SB_*`` variables set and the daemon's
credentials left out; at the timeout the whole process group is killed.
"""

import base64
import collections
import http.client
import json
import os
import selectors
import shlex
import signal
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

from streamerbrainz import __version__
from streamerbrainz.lib.timefmt import iso
from streamerbrainz.core.listener import Listener
from streamerbrainz.lib.log import get_logger
from streamerbrainz.lib.opener import Deadline, deadline_opener
from streamerbrainz.lib.service import Service

log = get_logger(__name__)

MAX_WAITING = 100
OUTPUT_LIMIT = 4096
OUTPUT_LINES = 5
NOTIFY_TIMEOUT = 5.0
NOTIFY_ATTEMPTS = 3
NOTIFY_FIRST_BACKOFF = 1.0

# Variables a hook must not inherit: they lead to the daemon's secrets or
# would make the hook talk to systemd in the daemon's name.
WITHHELD = ("CREDENTIALS_DIRECTORY", "NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID",
            "LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES")

# SB_EVENT by the kind of change: a resume runs the play hooks, as a play does.
def hook_fields(event, action):
    """The facts every hook gets: ``SB_EVENT`` and each field of the change as ``SB_*``."""
    fields = {"SB_EVENT": event}
    if action is not None:
        fields.update(("SB_" + key.upper(), str(value)) for key, value in action.fields().items())
    return fields


def hook_environment(fields, base=None, secrets=()):
    """The environment of a hook: the daemon's, less secrets and old SB_*, plus ``fields``.

    Any variable whose value holds one of ``secrets`` (the token, the
    webhook secret) is left out too, whatever its name.
    """
    base = os.environ if base is None else base
    secrets = [secret for secret in secrets if secret]
    env = {key: value for key, value in base.items()
           if key not in WITHHELD and not key.startswith(("SB_", "STREAMERBRAINZ_"))
           and not any(secret in value for secret in secrets)}
    env.update(fields)
    return env


def notification_json(fields, at):
    """The JSON body of an HTTP notification: the hook fields, lower-cased, plus the time."""
    body = {key[3:].lower(): value for key, value in fields.items()}
    for key in ("duration_ms", "position_ms"):
        if key in body:
            body[key] = int(body[key])
    body["at"] = iso(at)
    return body


def redact_url(url):
    """A URL fit for a log line: no user info, no query, no fragment."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = "[%s]" % host
    netloc = host + (":%d" % parts.port if parts.port else "")
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, "", ""))


DEVICE_WORDS = ("/dev/", "gpiochip", "chip", "mixer", "card", "device", "snd")
DROP_INS = ("under the hardened example unit a hook reaches no device until the drop-in for "
            "it is installed (examples/systemd/gpio.conf or alsa.conf; README: Make things "
            "happen)")


def failure_hint(status, output):
    """Words a user can act on when a failed hook's output points at the sandbox, else ''.

    A permission refused, or a device that is not there, is what a hook
    meets under the hardened unit without the drop-in for its hardware.
    """
    if status == 0:
        return ""
    text = output.lower()
    if "permission denied" in text or "operation not permitted" in text:
        return "the hook was refused a permission; " + DROP_INS
    if "no such file or directory" in text and any(word in text for word in DEVICE_WORDS):
        return "a device the hook needs is missing; " + DROP_INS
    return ""


def first_lines(output):
    text = output.decode("utf-8", "replace")
    lines = [line for line in text.splitlines() if line.strip()]
    return "\n".join(line[:200] for line in lines[:OUTPUT_LINES])


class Runner(Service):
    """A thread that runs jobs from a bounded queue, one at a time, in order."""

    name = "runner"

    def __init__(self):
        self._jobs = collections.deque()
        self._lock = threading.Lock()
        self._ready = threading.Condition(self._lock)
        self._stopping = False
        self._thread = None

    def start(self):
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()

    def alive(self):
        return self._thread is not None and self._thread.is_alive()

    def submit(self, job):
        with self._lock:
            if len(self._jobs) >= MAX_WAITING:
                self._jobs.popleft()
                log.warn("%s: more than %d jobs waiting; dropped the oldest"
                         % (self.name, MAX_WAITING))
            self._jobs.append(job)
            self._ready.notify()

    def stop(self, deadline):
        """Drop what waits, let the job in progress end (or be cut) by ``deadline``."""
        with self._lock:
            self._stopping = True
            self._jobs.clear()
            self._ready.notify()
        self.cut()
        if self._thread is None:
            return True
        self._thread.join(max(0.0, deadline - time.monotonic()))
        return not self._thread.is_alive()

    def cut(self):
        """Cut short the job in progress (subclasses)."""

    def _run(self):
        while True:
            with self._lock:
                while not self._jobs and not self._stopping:
                    self._ready.wait()
                if self._stopping:
                    return
                job = self._jobs.popleft()
            try:
                self.run(job)
            except Exception:
                log.exception("%s failed; carrying on" % self.name)

    def run(self, job):
        raise NotImplementedError


class CommandRunner(Runner):
    """Runs hook commands; ``job`` is ``(flag, argv, fields)``."""

    name = "hooks"

    def __init__(self, timeout=10.0, secrets=()):
        super().__init__()
        self.timeout = timeout
        self.secrets = secrets
        self._process = None

    def run(self, job):
        flag, argv, fields = job
        started = time.monotonic()
        try:
            process = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                env=hook_environment(fields, secrets=self.secrets), start_new_session=True,
                close_fds=True)
        except OSError as err:
            log.warn("hook could not start", hook=flag, command=argv[0],
                     error=(err.strerror or str(err)).lower())
            return
        self._process = process
        log.debug("hook started", hook=flag, command=argv[0], pid=process.pid,
                  event=fields.get("SB_EVENT"))
        output, timed_out = self._collect(process, started + self.timeout)
        if timed_out:
            self._kill(process)
        status = process.wait()
        self._process = None
        fields_out = dict(hook=flag, command=argv[0], exit_status=status,
                          duration_ms=int((time.monotonic() - started) * 1000))
        if output:
            fields_out["output"] = first_lines(output)
        if timed_out:
            log.warn("hook timed out; killed its process group", timeout_s=self.timeout,
                     **fields_out)
        elif status != 0:
            hint = failure_hint(status, fields_out.get("output", ""))
            if hint:
                fields_out["hint"] = hint
            log.warn("hook failed", **fields_out)
        else:
            log.debug("hook finished", **fields_out)

    @staticmethod
    def _collect(process, deadline):
        """Read the first OUTPUT_LIMIT bytes of output until EOF or the deadline."""
        kept = bytearray()
        with selectors.DefaultSelector() as selector:
            selector.register(process.stdout, selectors.EVENT_READ)
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    process.stdout.close()
                    return bytes(kept), True
                if not selector.select(remaining):
                    continue
                chunk = os.read(process.stdout.fileno(), 65536)
                if not chunk:
                    break
                if len(kept) < OUTPUT_LIMIT:
                    kept += chunk[:OUTPUT_LIMIT - len(kept)]
        process.stdout.close()
        try:
            process.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            return bytes(kept), True
        return bytes(kept), False

    @staticmethod
    def _kill(process):
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except OSError:
            pass

    def cut(self):
        process = self._process
        if process is not None:
            self._kill(process)


def split_credentials(url):
    """``(url without user info, Authorization header value or None)``."""
    parts = urllib.parse.urlsplit(url)
    if parts.username is None and parts.password is None:
        return url, None
    netloc = parts.netloc.rpartition("@")[2]
    user = urllib.parse.unquote(parts.username or "")
    password = urllib.parse.unquote(parts.password or "")
    token = base64.b64encode(("%s:%s" % (user, password)).encode("utf-8")).decode("ascii")
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc)), "Basic " + token


class NotifyRunner(Runner):
    """POSTs JSON to one URL; ``job`` is ``(body dict)``. Retries, then gives up.

    User info in the URL is sent as HTTP Basic authentication, never logged.
    """

    def __init__(self, url):
        self.name = "notify " + redact_url(url)
        super().__init__()
        self.given = url  # as configured, credentials and all: how SIGHUP knows it again
        self.url, self.authorization = split_credentials(url)
        self.shown = redact_url(url)
        # Each attempt's whole answer (connect to last byte) ends by this.
        self._deadline = Deadline(NOTIFY_TIMEOUT)
        self._opener = deadline_opener(self._deadline)
        self._giving_up = threading.Event()

    def run(self, body):
        data = json.dumps(body).encode("utf-8")
        headers = {"Content-Type": "application/json",
                   "User-Agent": "StreamerBrainz/" + __version__}
        if self.authorization:
            headers["Authorization"] = self.authorization
        request = urllib.request.Request(self.url, data=data, method="POST", headers=headers)
        backoff = NOTIFY_FIRST_BACKOFF
        for attempt in range(1, NOTIFY_ATTEMPTS + 1):
            try:
                self._deadline.extend(NOTIFY_TIMEOUT)
                with self._opener.open(request, timeout=NOTIFY_TIMEOUT) as answer:
                    answer.read(65536)
                log.debug("notification sent", url=self.shown, event=body.get("event"),
                          attempt=attempt)
                return
            except urllib.error.HTTPError as err:
                error = "answered %d %s" % (err.code, err.reason)
                err.close()
            except urllib.error.URLError as err:
                reason = err.reason
                error = ("answer too slow: not complete within %gs" % NOTIFY_TIMEOUT
                         if isinstance(reason, socket.timeout) else
                         (getattr(reason, "strerror", None) or str(reason)).lower())
            except socket.timeout:
                error = "answer too slow: not complete within %gs" % NOTIFY_TIMEOUT
            except (OSError, http.client.HTTPException) as err:
                error = (getattr(err, "strerror", None) or type(err).__name__).lower()
            except ValueError:
                error = "invalid URL"  # the text would repeat the URL, secrets and all
            if attempt < NOTIFY_ATTEMPTS:
                log.debug("notification failed; retrying", url=self.shown,
                          attempt=attempt, error=error)
                if self._giving_up.wait(backoff):
                    return
                backoff *= 2
        log.warn("notification failed; giving up", url=self.shown,
                 event=body.get("event"), attempts=NOTIFY_ATTEMPTS, error=error)

    def cut(self):
        self._giving_up.set()
        self._opener.abort()  # a notification in flight must not hold up a shutdown


class Hooks(Service, Listener):
    """Turns state changes and idle/active into hook runs and notifications.

    A listener (called on the main loop) and a service: its runners' threads
    run the commands and send the notifications.
    """

    name = "hooks"

    def __init__(self, commands, urls=(), timeout=10.0, secrets=(), wall=time.time):
        self.commands = {flag: shlex.split(command) for flag, command in commands.items()
                         if command}
        self.runner = CommandRunner(timeout, secrets) if self.commands else None
        self.notifiers = [NotifyRunner(url) for url in urls]
        self.wall = wall
        self._secrets = tuple(secrets)
        self._started = False

    def configure(self, commands, urls, timeout):
        """New commands, URLs and timeout (SIGHUP, on the main thread), in effect at once.

        A runner that is new starts now (if the service has started); one
        whose URL is gone is told to stop and not waited for; a job already
        queued runs as it was given.
        """
        self.commands = {flag: shlex.split(command) for flag, command in commands.items()
                         if command}
        if self.runner is None and self.commands:
            self.runner = CommandRunner(timeout, self._secrets)
            if self._started:
                self.runner.start()
        if self.runner is not None:
            self.runner.timeout = timeout
        kept = {notifier.given: notifier for notifier in self.notifiers}
        notifiers = []
        for url in urls:
            notifier = kept.pop(url, None)
            if notifier is None:
                notifier = NotifyRunner(url)
                if self._started:
                    notifier.start()
            notifiers.append(notifier)
        self.notifiers = notifiers
        for gone in kept.values():
            gone.stop(time.monotonic())

    def start(self):
        self._started = True
        for runner in self._runners():
            runner.start()

    def add_secret(self, secret):
        """Keep a new secret (a token or webhook secret re-read on SIGHUP) out of hooks too."""
        if secret and secret not in self._secrets:
            self._secrets += (secret,)
        if self.runner is not None and secret and secret not in self.runner.secrets:
            self.runner.secrets = tuple(self.runner.secrets) + (secret,)

    def stop(self, deadline):
        stopped = [runner.stop(deadline) for runner in self._runners()]
        return all(stopped)

    def alive(self):
        return all(runner.alive() for runner in self._runners())

    def _runners(self):
        return ([self.runner] if self.runner else []) + self.notifiers

    def state_changed(self, action):
        event = action.event()
        flags = ["on-change"]
        flags += {"play": ["on-play"], "pause": ["on-pause"], "stop": ["on-stop"]}.get(event, [])
        self._dispatch(flags, hook_fields(event, action), action.at)

    def players_idle(self, last):
        self._dispatch(["on-idle"], hook_fields("idle", last), self.wall())

    def players_active(self, change):
        self._dispatch(["on-active"], hook_fields("active", change), self.wall())

    def _dispatch(self, flags, fields, at):
        for flag in flags:
            argv = self.commands.get(flag)
            if argv:
                self.runner.submit((flag, argv, fields))
        if self.notifiers:
            body = notification_json(fields, at)
            for notifier in self.notifiers:
                notifier.submit(body)
