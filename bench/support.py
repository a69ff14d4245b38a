"""Plumbing for the benchmark: subprocesses, /proc readers, webhook clients.

Nothing here measures anything by itself; ``bench/run.py`` does.
"""

import collections
import http.client
import json
import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

TOKEN = "stub-token-Zq9xK2"
MACHINE_ID = "bc97b983-8169-47e3-bbcc-54a12d662546"
FOREIGN_MACHINE_ID = "5e1d7c2a-3b4f-4c6d-8e9f-0a1b2c3d4e5f"
WEBHOOK_PATH = "/webhooks/plex"
PLEX_USER_AGENT = "PlexMediaServer/1.41.8.9834-071366d65"

# What /status/sessions answers for the followed player: one Track, as PMS sends it.
SESSIONS_XML = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    '<MediaContainer size="1">\n'
    '<Track addedAt="1700000000" art="/library/metadata/6100/art/1700000100" duration="259560" '
    'grandparentArt="/library/metadata/6100/art/1700000100" '
    'grandparentGuid="plex://artist/5d07bbfc403c6402904a5ec8" '
    'grandparentKey="/library/metadata/6100" '
    'grandparentRatingKey="6100" grandparentThumb="/library/metadata/6100/thumb/1700000100" '
    'grandparentTitle="Talking Heads" guid="plex://track/5d07cdaf403c640290f4c1a2" index="3" '
    'key="/library/metadata/6260" lastViewedAt="1731000000" librarySectionID="4" '
    'librarySectionKey="/library/sections/4" librarySectionTitle="Music" musicAnalysisVersion="1" '
    'parentGuid="plex://album/5d07c17e403c640290c9b7d1" parentIndex="1" '
    'parentKey="/library/metadata/6250" parentRatingKey="6250" parentStudio="Sire" '
    'parentThumb="/library/metadata/6250/thumb/1700000200" '
    'parentTitle="Once in a Lifetime: The Best Of" parentYear="1992" ratingCount="412345" '
    'ratingKey="6260" sessionKey="53" thumb="/library/metadata/6250/thumb/1700000200" '
    'title="Once in a Lifetime" type="track" updatedAt="1700000200" viewCount="7" '
    'viewOffset="30496">\n'
    '<Media audioChannels="2" audioCodec="flac" bitrate="1011" container="flac" duration="259560" '
    'id="7781" selected="1">\n'
    '<Part container="flac" duration="259560" file="/music/Talking Heads/Once in a Lifetime - The '
    'Best Of/01-03 Once in a Lifetime.flac" hasThumbnail="1" id="7790" '
    'key="/library/parts/7790/1700000000/file.flac" size="32811422" decision="directplay" '
    'selected="1">\n'
    '<Stream albumGain="-8.91" albumPeak="1.000000" albumRange="6.402500" '
    'audioChannelLayout="stereo" bitDepth="16" bitrate="1011" channels="2" codec="flac" '
    'displayTitle="FLAC (Stereo)" extendedDisplayTitle="FLAC (Stereo)" gain="-8.91" id="15544" '
    'index="0" loudness="-9.34" lra="5.19" peak="1.000000" samplingRate="44100" selected="1" '
    'streamType="2" location="direct" />\n'
    '</Part>\n</Media>\n'
    '<User id="1" thumb="https://plex.tv/users/0b1c2d3e4f5a6b7c/avatar?c=1731000000" '
    'title="pi-owner" />\n'
    '<Player address="192.168.1.50" machineIdentifier="' + MACHINE_ID + '" model="" '
    'platform="Linux" platformVersion="6.6.51+rpt-rpi-v8" product="Plexamp" profile="Generic" '
    'remotePublicAddress="203.0.113.7" state="playing" title="Office" vendor="" version="4.11.2" '
    'local="1" relayed="0" secure="1" userID="1" />\n'
    '<Session id="q9f3l2y1m8d0x7c6v5b4n3a2" bandwidth="1411" location="lan" />\n'
    '</Track>\n</MediaContainer>\n'
).encode("utf-8")

# The bare interpreter the daemon is compared with: the same standard-library
# modules, then "ready" on stdout, then it blocks on stdin until closed.
FLOOR_IMPORTS = "http.server, urllib.request, xml.etree.ElementTree, email.parser, json, logging"
FLOOR_CODE = (
    "import sys\n"
    "import " + FLOOR_IMPORTS + "\n"
    "sys.stdout.write('ready\\n')\n"
    "sys.stdout.flush()\n"
    "sys.stdin.buffer.read()\n"
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

_DROPPED_ENV = ("NOTIFY_SOCKET", "JOURNAL_STREAM", "WATCHDOG_USEC", "WATCHDOG_PID",
                "CREDENTIALS_DIRECTORY", "LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES")

CLK_TCK = os.sysconf("SC_CLK_TCK")


def load_stub_class():
    """Return ``(PlexStub class, where it came from)``: the tests' stand-in Plex."""
    from tests.support.plexstub import PlexStub
    return PlexStub, "tests/support/plexstub.py"


# Where every subprocess keeps its bytecode cache (``PYTHONPYCACHEPREFIX``),
# set by ``use_bytecode_cache``; None leaves the environment's choice alone.
_PYCACHE_PREFIX = None


def use_bytecode_cache(prefix):
    """Let every subprocess read and write .pyc files under ``prefix`` (not in the repo).

    Without this, an environment with PYTHONDONTWRITEBYTECODE=1 makes the daemon
    compile its own modules on every start while the standard library the
    floor imports comes precompiled: an unfair comparison.
    """
    global _PYCACHE_PREFIX
    _PYCACHE_PREFIX = prefix


def clean_env(extra=None):
    """os.environ without anything that would change how the daemon runs.

    ``extra`` is applied last; a value of None removes the variable.
    """
    env = {key: value for key, value in os.environ.items()
           if not key.startswith("STREAMERBRAINZ_") and key not in _DROPPED_ENV}
    env.pop("PYTHONWARNINGS", None)
    if _PYCACHE_PREFIX is not None:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = _PYCACHE_PREFIX
    for key, value in (extra or {}).items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


# -- subprocesses -------------------------------------------------------------


class ProcessDied(Exception):
    pass


_LEVEL_RE = re.compile(r"\[(DEBUG|INFO|WARN|ERROR)\]")


class Proc:
    """A subprocess whose line output (one stream) is read by a thread.

    Each line is stamped with ``time.perf_counter()`` as it arrives and
    queued for ``wait_line``; a short tail and any WARN/ERROR lines are kept.
    """

    def __init__(self, argv, stream="stderr", stdin=False, env=None):
        self.argv = list(argv)
        self.env = env
        self.stream = stream
        self.want_stdin = stdin
        self.popen = None
        self.t_spawn = None
        self.lines = queue.Queue()
        self.tail = collections.deque(maxlen=40)
        self.complaints = []
        self.nlines = 0
        self.levels = collections.Counter()  # DEBUG/INFO/WARN/ERROR/Traceback lines seen
        self.last_state = None  # (arrival time, line) of the last ``Plex state changed``
        self._reader = None

    @property
    def pid(self):
        return self.popen.pid

    def start(self):
        pipe = subprocess.PIPE
        if self.stream == "stderr":
            stdout, stderr = subprocess.DEVNULL, pipe
        else:
            stdout, stderr = pipe, subprocess.STDOUT
        self.t_spawn = time.perf_counter()
        self.popen = subprocess.Popen(
            self.argv, cwd=ROOT, env=clean_env(self.env),
            stdin=pipe if self.want_stdin else subprocess.DEVNULL,
            stdout=stdout, stderr=stderr, bufsize=0, close_fds=True)
        source = self.popen.stderr if self.stream == "stderr" else self.popen.stdout
        self._reader = threading.Thread(target=self._read, args=(source,),
                                        name="bench-reader", daemon=True)
        self._reader.start()
        return self

    def _read(self, source):
        readline = source.readline
        put = self.lines.put
        now = time.perf_counter
        while True:
            raw = readline()
            t = now()
            if not raw:
                put((t, None))
                return
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
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
            put((t, line))

    def wait_line(self, predicate, timeout):
        """Return ``(arrival time, line)`` of the next line matching ``predicate``."""
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("no matching line within %gs; last lines:\n  %s"
                                   % (timeout, "\n  ".join(self.tail)))
            try:
                t, line = self.lines.get(timeout=remaining)
            except queue.Empty:
                continue
            if line is None:
                self.lines.put((t, None))
                raise ProcessDied("process exited (status %s); last lines:\n  %s"
                                  % (self.popen.poll(), "\n  ".join(self.tail)))
            if predicate(line):
                return t, line

    def drain(self):
        while True:
            try:
                t, line = self.lines.get_nowait()
            except queue.Empty:
                return
            if line is None:
                self.lines.put((t, None))
                return

    def terminate(self, timeout=5.0):
        """SIGTERM, wait; return ``(seconds to exit or None, exit status)``."""
        if self.popen is None or self.popen.poll() is not None:
            return None, self.popen.returncode if self.popen else None
        t0 = time.perf_counter()
        self.popen.send_signal(signal.SIGTERM)
        try:
            status = self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            return None, None
        return time.perf_counter() - t0, status

    def kill(self):
        if self.popen is not None and self.popen.poll() is None:
            self.popen.kill()
            try:
                self.popen.wait(5)
            except subprocess.TimeoutExpired:
                pass

    def close(self):
        """Make sure the process is gone and its pipes closed (for finally blocks)."""
        if self.popen is None:
            return
        if self.popen.poll() is None:
            if self.want_stdin and self.popen.stdin:
                try:
                    self.popen.stdin.close()
                except OSError:
                    pass
            try:
                self.popen.wait(0.5 if self.want_stdin else 0)
            except subprocess.TimeoutExpired:
                pass
        if self.popen.poll() is None:
            self.terminate(2.0)
        self.kill()
        for pipe in (self.popen.stdin, self.popen.stdout, self.popen.stderr):
            if pipe:
                try:
                    pipe.close()
                except OSError:
                    pass
        if self._reader is not None:
            self._reader.join(2)


LISTENING_RE = re.compile(r"webhooks server listening .*\bport=(\d+)")


class Daemon(Proc):
    """``python -m streamerbrainz`` against a stand-in Plex server.

    ``stub_url`` None runs it without Plex (``extra_args`` then name the
    source, ``-plexamp-url`` say); ``machine_id`` is the player followed and
    looked for in ``Plex state changed`` lines (None: follow every player,
    match any line, unless ``watch_id`` names the one to look for).
    """

    def __init__(self, stub_url, token_file, level="info", port=0, env=None,
                 machine_id=MACHINE_ID, extra_args=(), watch_id=None):
        argv = [sys.executable, "-m", "streamerbrainz",
                "-webhooks-port", str(port), "-webhooks-bind", "127.0.0.1"]
        if stub_url is not None:
            argv += ["-plex-server-url", stub_url, "-plex-token-file", token_file]
        if machine_id:
            argv += ["-plex-machine-id", machine_id]
        argv += ["-log-level", level] + list(extra_args)
        super().__init__(argv, stream="stderr", env=env)
        self.port = None
        self.t_listening = None
        self.watch_id = watch_id or machine_id

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


class Floor(Proc):
    """The bare interpreter: same imports, prints ``ready``, blocks on stdin."""

    def __init__(self):
        super().__init__([sys.executable, "-c", FLOOR_CODE], stream="stdout", stdin=True)

    def wait_ready(self, timeout=15.0):
        t, _ = self.wait_line(lambda l: l.strip() == "ready", timeout)
        return t


class FloorServer(Proc):
    def __init__(self):
        super().__init__([sys.executable, "-c", FLOOR_SERVER_CODE], stream="stdout")
        self.port = None

    def wait_listening(self, timeout=15.0):
        _, line = self.wait_line(lambda l: l.startswith("listening port="), timeout)
        self.port = int(line.split("=", 1)[1])


# -- /proc --------------------------------------------------------------------


def proc_status(pid, tid=None):
    path = "/proc/%d/status" % pid if tid is None else "/proc/%d/task/%d/status" % (pid, tid)
    fields = {}
    with open(path) as handle:
        for line in handle:
            key, _, value = line.partition(":")
            fields[key] = value.strip()
    return fields


def rss_kib(pid):
    return int(proc_status(pid)["VmRSS"].split()[0])


def status_kib(pid, key):
    value = proc_status(pid).get(key)
    return int(value.split()[0]) if value else 0


def threads(pid):
    return int(proc_status(pid)["Threads"])


def open_fds(pid):
    """How many file descriptors ``pid`` has open, and how many of them are sockets."""
    total = sockets = 0
    directory = "/proc/%d/fd" % pid
    for name in os.listdir(directory):
        total += 1
        try:
            if os.readlink(os.path.join(directory, name)).startswith("socket:"):
                sockets += 1
        except OSError:
            pass
    return total, sockets


def nofile_limit(pid):
    """The soft ``Max open files`` of ``pid`` as /proc/PID/limits says."""
    with open("/proc/%d/limits" % pid) as handle:
        for line in handle:
            if line.startswith("Max open files"):
                return line.split()[3]
    return "?"


class ThreadSampler:
    """Samples the ``Threads:`` count of a process every ``interval`` seconds on a thread."""

    def __init__(self, pid, interval=0.01):
        self.pid = pid
        self.interval = interval
        self.samples = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bench-threads", daemon=True)

    def _run(self):
        while True:
            try:
                self.samples.append(threads(self.pid))
            except (OSError, KeyError, ValueError):
                return
            if self._stop.wait(self.interval):
                return

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(2)


def cpu_ms(pid):
    """utime + stime of the whole process (every thread, live or gone), in ms."""
    with open("/proc/%d/stat" % pid) as handle:
        data = handle.read()
    fields = data[data.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) * 1000.0 / CLK_TCK


def task_switches(pid):
    """``{tid: (voluntary, nonvoluntary, name)}`` for every thread of ``pid``."""
    result = {}
    for name in os.listdir("/proc/%d/task" % pid):
        tid = int(name)
        try:
            status = proc_status(pid, tid)
        except OSError:
            continue  # the thread ended between listdir and open
        result[tid] = (int(status.get("voluntary_ctxt_switches", 0)),
                       int(status.get("nonvoluntary_ctxt_switches", 0)),
                       status.get("Name", "?"))
    return result


def switch_delta(before, after):
    """Total context switches between two ``task_switches`` samples, and per thread."""
    total = 0
    per_thread = {}
    for tid, (vol, nonvol, name) in after.items():
        old = before.get(tid, (0, 0, name))
        delta = (vol - old[0]) + (nonvol - old[1])
        per_thread[tid] = (name, delta, tid not in before)
        total += delta
    gone = [tid for tid in before if tid not in after]
    return total, per_thread, gone


# -- webhooks -----------------------------------------------------------------


def payload(event, player=MACHINE_ID, player_title="Office"):
    return json.dumps({
        "event": event, "user": True, "owner": True,
        "Account": {"id": 1, "title": "pi-owner"},
        "Server": {"title": "nas", "uuid": "54664a3d8acc39983675640ec9ce00b70af9cc36"},
        "Player": {"local": True, "publicAddress": "203.0.113.7", "title": player_title,
                   "uuid": player},
        "Metadata": {"librarySectionType": "artist", "ratingKey": "6260",
                     "key": "/library/metadata/6260", "parentRatingKey": "6250",
                     "grandparentRatingKey": "6100", "type": "track",
                     "title": "Once in a Lifetime", "grandparentTitle": "Talking Heads",
                     "parentTitle": "Once in a Lifetime: The Best Of", "index": 3,
                     "parentIndex": 1, "librarySectionTitle": "Music",
                     "librarySectionID": 4, "addedAt": 1700000000, "updatedAt": 1700000200},
    }, separators=(",", ":")).encode("utf-8")


_BOUNDARY_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
FAKE_THUMB = bytes(range(256)) * 40  # 10 KiB standing in for a JPEG


def multipart(payload_bytes, thumb=None, seed=0):
    """A body shaped like PMS's (libcurl MIME): ``(content_type, body)``."""
    boundary = "-" * 24 + "".join(_BOUNDARY_CHARS[(seed * 7 + i * 13) % 62] for i in range(22))
    delimiter = b"--" + boundary.encode("ascii")
    parts = [delimiter, b"\r\n", b'Content-Disposition: form-data; name="payload"\r\n',
             b"Content-Type: application/json\r\n\r\n", payload_bytes, b"\r\n"]
    if thumb is not None:
        parts += [delimiter, b"\r\n",
                  b'Content-Disposition: form-data; name="thumb"; filename="thumb.jpg"\r\n',
                  b"Content-Type: image/jpeg\r\n\r\n", thumb, b"\r\n"]
    parts += [delimiter, b"--\r\n"]
    return "multipart/form-data; boundary=" + boundary, b"".join(parts)


def webhook(event, form="multipart", player=MACHINE_ID, seed=0):
    """``(content_type, body)`` for one webhook in one of the shapes the daemon accepts."""
    data = payload(event, player)
    if form == "multipart":
        return multipart(data, seed=seed)
    if form == "multipart+thumb":
        return multipart(data, thumb=FAKE_THUMB, seed=seed)
    if form == "json":
        return "application/json", data
    if form == "form":
        from urllib.parse import urlencode
        return "application/x-www-form-urlencoded", urlencode({"payload": data}).encode("ascii")
    if form == "empty":
        return None, b""
    raise ValueError(form)


def headers_for(content_type, body):
    headers = {"User-Agent": PLEX_USER_AGENT, "Accept": "*/*",
               "Content-Length": str(len(body))}
    if content_type:
        headers["Content-Type"] = content_type
    return headers


def post_once(port, content_type, body, timeout=10.0, connection=None):
    """One POST on a fresh connection (or ``connection``, already open); return the status."""
    conn = connection or http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("POST", WEBHOOK_PATH, body=body, headers=headers_for(content_type, body))
        answer = conn.getresponse()
        answer.read()
        return answer.status
    finally:
        conn.close()


_RESEND_ERRORS = (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError,
                  ConnectionAbortedError, http.client.BadStatusLine)


class KeepAliveClient:
    """POSTs over one keep-alive connection, reopening it when the server hung up.

    A request that fails because the server closed the idle connection is
    sent again once on a fresh connection and counted in ``resends``.
    """

    def __init__(self, port, timeout=10.0):
        self.port = port
        self.timeout = timeout
        self.conn = None
        self.resends = 0
        self.connections = 0

    def _open(self):
        self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout)
        self.connections += 1

    def post(self, content_type, body):
        headers = headers_for(content_type, body)
        for attempt in (0, 1):
            if self.conn is None:
                self._open()
            try:
                self.conn.request("POST", WEBHOOK_PATH, body=body, headers=headers)
                answer = self.conn.getresponse()
                answer.read()
                if answer.will_close:
                    self.close()
                return answer.status
            except _RESEND_ERRORS:
                self.close()
                if attempt:
                    raise
                self.resends += 1
        raise AssertionError("unreachable")

    def close(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None


# -- statistics ---------------------------------------------------------------


def percentile(values, p):
    """Nearest-rank percentile of ``values`` (p in 0..100)."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    rank = max(1, -(-len(ordered) * p // 100))  # ceil
    return ordered[int(rank) - 1]


def median(values):
    ordered = sorted(values)
    n = len(ordered)
    if not n:
        return float("nan")
    mid = n // 2
    return ordered[mid] if n % 2 else (ordered[mid - 1] + ordered[mid]) / 2.0


def wait_until(predicate, timeout, interval=0.01):
    deadline = time.monotonic() + timeout
    pause = threading.Event()
    while True:
        if predicate():
            return True
        if time.monotonic() >= deadline:
            return False
        pause.wait(interval)


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


# -- raw HTTP (soak, slowloris) -------------------------------------------------


def raw_post(content_type, body, length=None):
    """The bytes of one POST to the webhook path, as PMS would send them.

    ``length`` overrides the Content-Length (to announce more than is sent).
    """
    head = ["POST %s HTTP/1.1" % WEBHOOK_PATH, "Host: 127.0.0.1",
            "User-Agent: " + PLEX_USER_AGENT, "Accept: */*"]
    if content_type:
        head.append("Content-Type: " + content_type)
    head.append("Content-Length: %d" % (len(body) if length is None else length))
    return ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body


NO_STATUS_LINE = "no status line"


class RawClient:
    """Requests over one kept-alive socket, reopened whenever either side closes it.

    ``send`` returns the answer's status (an int), ``NO_STATUS_LINE`` for an
    answer that is not HTTP/1.x (a bare body, then the close), or
    ``"error: ..."`` when the connection failed before an answer; it never
    sends a request twice. Cheaper than http.client, so that a few threads of
    one interpreter can keep a daemon busy.
    """

    def __init__(self, port, timeout=10.0):
        self.port = port
        self.timeout = timeout
        self.sock = None
        self.buf = b""
        self.connections = 0

    def _connect(self):
        self.sock = socket.create_connection(("127.0.0.1", self.port), self.timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""
        self.connections += 1

    def close(self):
        if self.sock is not None:
            try:
                self.sock.close()
            except OSError:
                pass
            self.sock = None

    def send(self, data, half_close=False):
        try:
            if self.sock is None:
                self._connect()
            self.sock.sendall(data)
            if half_close:
                self.sock.shutdown(socket.SHUT_WR)
            status, close = self._answer()
        except (OSError, ValueError) as err:
            self.close()
            return "error: " + (type(err).__name__ if not isinstance(err, _Closed)
                                else "closed without an answer")
        if close or half_close:
            self.close()
        return status

    def _answer(self):
        buf = self.buf
        recv = self.sock.recv
        while True:
            end = buf.find(b"\r\n\r\n")
            if end >= 0:
                break
            chunk = recv(65536)
            if not chunk:
                if buf and not buf.startswith(b"HTTP/"):
                    self.buf = b""
                    return NO_STATUS_LINE, True
                raise _Closed()
            buf += chunk
        head = buf[:end].decode("latin-1").split("\r\n")
        parts = head[0].split(" ", 2)
        if not parts[0].startswith("HTTP/1.") or len(parts) < 2:
            raise ValueError("bad status line %r" % head[0][:60])
        status = int(parts[1])
        length, close = 0, parts[0] == "HTTP/1.0"
        for line in head[1:]:
            name, _, value = line.partition(":")
            name = name.strip().lower()
            if name == "content-length":
                length = int(value.strip())
            elif name == "connection":
                close = value.strip().lower() == "close"
        rest = buf[end + 4:]
        while len(rest) < length:
            chunk = recv(65536)
            if not chunk:
                raise _Closed()
            rest += chunk
        self.buf = rest[length:]
        return status, close


class _Closed(ConnectionError):
    pass


def http_get(port, path, timeout=5.0):
    """``(status, body bytes)`` of one GET on a fresh connection."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path, headers={"Accept": "application/json"})
        answer = conn.getresponse()
        return answer.status, answer.read()
    finally:
        conn.close()


def raise_nofile(wanted):
    """Raise this process's soft RLIMIT_NOFILE to ``wanted`` (within the hard limit).

    Returns ``(before, after)``.
    """
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        new = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (new, hard))
        return soft, new
    return soft, soft


# -- the other trigger sources (tests/support/sources.py) ------------------------


class _StampedWriter:
    """Wraps a handler's ``wfile``: stamps every write of a ``playing`` event."""

    def __init__(self, raw, stamps):
        self._raw = raw
        self._stamps = stamps

    def write(self, data):
        if b"event: playing" in data:
            self._stamps.put((time.perf_counter(), bytes(data)))
        return self._raw.write(data)

    def __getattr__(self, name):
        return getattr(self._raw, name)


def load_source_stubs():
    """``(TimedNotifyingStub class, PlexampStub class, module)`` from tests/support/sources.py.

    The notification stand-in is the tests' one with its stream's ``wfile``
    wrapped, so that the moment each ``playing`` event is written to the
    socket lands in its ``writes`` queue. Raises ImportError when the tests'
    stand-ins are not there.
    """
    from tests.support import sources as module

    class TimedNotifyingStub(module.NotifyingPlexStub):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.writes = queue.Queue()

        def _stream(self, handler):
            handler.wfile = _StampedWriter(handler.wfile, self.writes)
            return super()._stream(handler)

    return TimedNotifyingStub, module.PlexampStub, module
