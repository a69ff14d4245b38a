"""HTTP connections for a small threaded server: the accept loop and its workers.

One accept thread reads every request itself, without blocking, and hands
it to a worker thread only once the whole request is in memory: idle, slow
and half-sent connections never hold a thread. The head is checked as soon
as it is in (``read_head``, then the server's ``screen``), so a request the
server will refuse is answered before a byte of its body is read, and
``100 Continue`` goes out only for a body that will be read.

The budget (README, "The budget"):

- at most ``MAX_WAITING_CONNECTIONS`` connections wait for their request;
  when more arrive, the one that waited longest is closed;
- bytes read ahead (heads and bodies waiting, and bodies a worker holds)
  stay under ``max_preread`` in all. A connection that needs more waits
  (stalls) until a worker is done with its body, unless slow connections
  hold the memory: the slowest of those is answered 503 to make room;
- a request must be whole within ``READ_DEADLINE`` seconds; once a body is
  under way it must arrive at ``MIN_BODY_RATE`` or better after a grace of
  ``BODY_GRACE`` seconds (408 otherwise);
- at most ``max_connections`` workers run at once; a whole request beyond
  that gets 503.

A refused connection lingers a moment, reading and dropping what the client
still sends, so that the client reads the answer instead of a reset.

Threads: the accept thread alone owns the waiting connections, the
selector and the deadline heap. ``_lock`` guards what workers share with
it: the active workers, ``_held`` (bytes workers hold), ``_idle`` and the
parked queue. One worker is kept from start to stop and takes a request
whenever it is free (no thread to start for it); a request that comes
while it is busy gets a thread of its own, which ends with it. A kept-alive connection goes back to the accept thread after each
answer.
"""

import collections
import dataclasses
import heapq
import http.server
import io
import json
import queue
import re
import selectors
import socket
import threading
import time

from streamerbrainz.lib.log import get_logger
from streamerbrainz.lib.repeats import RepeatFilter
from streamerbrainz.lib.service import Service

log = get_logger(__name__)

READ_DEADLINE = 10.0
MAX_HEAD_BYTES = 32 * 1024
MAX_HEADERS = 100
MAX_REQUESTS_PER_CONNECTION = 100
MAX_WAITING_CONNECTIONS = 1024
PREREAD_TOTAL = 8 * 1024 * 1024 + 64 * 1024
MIN_BODY_RATE = 64 * 1024  # bytes per second, once a body is under way
BODY_GRACE = 1.0
SLOW_RATE = 1024 * 1024  # below this, a connection gives way when memory is short
LINGER_SECONDS = 1.0
LINGER_BYTES = 256 * 1024
MAX_LINGERING = 1024
RECV_SIZE = 65536

_METHOD = re.compile(rb"[!#$%&'*+.^_`|~0-9A-Za-z-]{1,20}\Z")
_VERSION = re.compile(rb"HTTP/(\d)\.(\d)\Z")
_HEADER_NAME = re.compile(rb"[!#$%&'*+.^_`|~0-9A-Za-z-]+\Z")
_HEAD_END = re.compile(rb"\r?\n\r?\n")


class Refusal(Exception):
    """A request the server answers with an error before any worker sees it."""

    def __init__(self, status, message, headers=()):
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = tuple(headers)


@dataclasses.dataclass(frozen=True)
class RequestHead:
    """The checked head of a request: what the accept thread needs to read its body."""

    method: str
    target: str
    version: str
    length: int
    size: int  # bytes of the head, blank line included
    expect_continue: bool = False


def _request_line(line):
    """Check a request line (without its newline); return (method, target, version)."""
    parts = line.split(b" ")
    if len(parts) == 2 and _METHOD.match(parts[0]):
        raise Refusal(400, "HTTP/0.9 requests are not served; send HTTP/1.1")
    if len(parts) != 3 or not _METHOD.match(parts[0]) or not parts[1]:
        raise Refusal(400, "malformed request line")
    version = _VERSION.match(parts[2])
    if version is None:
        raise Refusal(400, "malformed request line")
    if version.group(1) != b"1":
        raise Refusal(505, "only HTTP/1.0 and HTTP/1.1 are served")
    return (parts[0].decode("ascii"), parts[1].decode("latin-1"),
            parts[2].decode("ascii"))


def _headers(lines):
    """Check header lines; return {lower-case name: [values]}."""
    if len(lines) > MAX_HEADERS:
        raise Refusal(431, "more than %d headers" % MAX_HEADERS)
    headers = {}
    for line in lines:
        if line[:1] in (b" ", b"\t"):
            raise Refusal(400, "folded header lines are not accepted")
        name, colon, value = line.partition(b":")
        if not colon:
            raise Refusal(400, "header line without a colon")
        if not _HEADER_NAME.match(name):
            raise Refusal(400, "malformed header name (no space before the colon)")
        headers.setdefault(name.lower(), []).append(value.strip(b" \t"))
    return headers


def _content_length(headers, max_body):
    if b"transfer-encoding" in headers:
        raise Refusal(411, "send a Content-Length; chunked bodies are not accepted")
    values = headers.get(b"content-length", [b"0"])
    if len(values) > 1:
        raise Refusal(400, "more than one Content-Length")
    raw = values[0]
    if not raw.isdigit() or len(raw) > 18:
        raise Refusal(400, "invalid Content-Length")
    length = int(raw)
    if length > max_body:
        raise Refusal(413, "body larger than %d bytes" % max_body)
    return length


def read_head(data, max_body):
    """The checked head at the start of ``data``, or None while it is incomplete.

    Raises ``Refusal`` as soon as the bytes so far show the request is one
    the server will not serve: a malformed request line (once it is whole),
    a head over ``MAX_HEAD_BYTES``, ambiguous framing (two Content-Length
    headers, any Transfer-Encoding, a header line without a colon or with
    a space before it, a folded line) or a body over ``max_body``.
    """
    newline = data.find(b"\n", 0, MAX_HEAD_BYTES)
    if newline < 0:
        if len(data) >= MAX_HEAD_BYTES:
            raise Refusal(431, "request line and headers larger than %d bytes"
                          % MAX_HEAD_BYTES)
        return None
    method, target, version = _request_line(bytes(data[:newline]).rstrip(b"\r"))
    end = _HEAD_END.search(data, newline - 1 if newline else 0, MAX_HEAD_BYTES + 4)
    if end is None or end.end() > MAX_HEAD_BYTES:
        if len(data) >= MAX_HEAD_BYTES:
            raise Refusal(431, "request line and headers larger than %d bytes"
                          % MAX_HEAD_BYTES)
        return None
    block = bytes(data[newline + 1:end.start()])
    lines = [line.rstrip(b"\r") for line in block.split(b"\n")] if block else []
    headers = _headers(lines)
    length = _content_length(headers, max_body)
    expect = b"100-continue" in [v.lower() for v in headers.get(b"expect", [])]
    return RequestHead(method, target, version, length, end.end(), expect)


def listen_backlog():
    """The kernel's cap on a listen queue (somaxconn), at most 4,096.

    A queue that overflows drops connection attempts, and a client retries
    only after a second: a webhook then waits longer than the budget allows.
    """
    try:
        with open("/proc/sys/net/core/somaxconn") as limit:
            return max(128, min(4096, int(limit.read().strip())))
    except (OSError, ValueError):
        return 1024


def json_answer(status, body, headers=(), close=True):
    """A whole small JSON answer as bytes, for the accept thread to send."""
    data = (json.dumps(body) + "\n").encode("utf-8")
    reason = http.server.BaseHTTPRequestHandler.responses.get(status, ("Error",))[0]
    lines = ["HTTP/1.1 %d %s" % (status, reason), "Content-Type: application/json",
             "Content-Length: %d" % len(data), "Cache-Control: no-store"]
    lines += ["%s: %s" % pair for pair in headers]
    if close:
        lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + data


_BUSY = json_answer(503, {"error": "server is busy"}, [("Retry-After", "1")])
_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"


class _Pending:
    """A connection the accept thread reads until its request is whole."""

    __slots__ = ("sock", "address", "started", "deadline", "check_at", "head_bytes", "head",
                 "early", "body", "filled", "reserved", "body_started", "served", "stalled")

    def __init__(self, sock, address, now, served=0):
        self.sock = sock
        self.address = address
        self.started = now
        self.deadline = now + READ_DEADLINE
        self.check_at = self.deadline
        self.head_bytes = bytearray()
        self.head = None
        self.early = b""  # body bytes that came with the head
        self.body = None  # allocated whole once the budget allows
        self.filled = 0
        self.reserved = 0
        self.body_started = 0.0
        self.served = served
        self.stalled = False

    def received(self):
        return len(self.head_bytes) + len(self.early) + self.filled

    def rate(self, now):
        return self.received() / max(now - self.started, 1e-3)

    def body_due(self):
        """When the body must have more than it has now, at ``MIN_BODY_RATE``."""
        return self.body_started + BODY_GRACE + self.filled / MIN_BODY_RATE


class _Lingering:
    """A refused connection read and dropped for a moment before it is closed."""

    __slots__ = ("sock", "check_at", "left")

    def __init__(self, sock, now):
        self.sock = sock
        self.check_at = now + LINGER_SECONDS
        self.left = LINGER_BYTES


class DeadlineHandler(http.server.BaseHTTPRequestHandler):
    """Serves one whole request the accept thread read; the body is ``self.body``."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in two writes

    def __init__(self, request, client_address, server, head_bytes, body, served):
        self.head_bytes = head_bytes
        self.body = body
        self.served = served
        super().__init__(request, client_address, server)

    def setup(self):
        super().setup()
        self.rfile.close()
        self.rfile = io.BytesIO(self.head_bytes)

    def handle(self):
        self.close_connection = True
        self.handle_one_request()

    def parse_request(self):
        """Take the head the accept thread has checked (``read_head``) as it is.

        ``BaseHTTPRequestHandler`` would parse it again through ``email``,
        which compiles a regular expression for every new multipart
        boundary: a third of a webhook's time. What it decides from the
        head is decided here the same way; ``100 Continue`` has gone out
        from the accept thread already.
        """
        self.command = None
        self.close_connection = True
        requestline = str(self.raw_requestline, "iso-8859-1").rstrip("\r\n")
        self.requestline = requestline
        method, path, version = requestline.split(" ")
        self.request_version = version
        if version == "HTTP/1.1":
            self.close_connection = False
        if path.startswith("//"):  # as http.server does (gh-87389): never an absolute URI
            path = "/" + path.lstrip("/")
        self.command, self.path = method, path
        headers = self.MessageClass()
        for line in self.rfile.read().decode("iso-8859-1").split("\n"):
            name, colon, value = line.rstrip("\r").partition(":")
            if colon:
                headers[name] = value.strip(" \t")
        self.headers = headers
        connection = headers.get("Connection", "").lower()
        if connection == "close":
            self.close_connection = True
        elif connection == "keep-alive":
            self.close_connection = False
        if self.served >= MAX_REQUESTS_PER_CONNECTION:
            self.close_connection = True  # said in this answer's Connection header
        return True


class BoundedServer(Service):
    """Accepts connections on one thread and serves each whole request on a bounded worker.

    A service: ``start()`` makes the accept thread, which runs ``serve()``;
    ``stop(deadline)`` ends it, and only then closes the listening socket
    (never under a ``select`` still running), cuts the workers' connections
    short and waits for them. The socket is bound in the constructor, so
    that a port in use is an error before anything starts. Subclasses may
    refuse a request from its head alone with ``screen``.
    """

    name = "accept"

    request_queue_size = 128  # connections taken from the listen queue per wake-up

    def __init__(self, address, handler_class, max_connections=32, max_body=8 * 1024 * 1024,
                 max_preread=PREREAD_TOTAL):
        family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self.socket = socket.socket(family, socket.SOCK_STREAM)
        try:
            self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self.socket.bind(address)
            self.socket.listen(listen_backlog())
        except OSError:
            self.socket.close()
            raise
        self.socket.setblocking(False)
        self.server_address = self.socket.getsockname()
        self.RequestHandlerClass = handler_class
        self.max_body = max_body
        self.max_preread = max_preread
        self.max_connections = max_connections
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._lock = threading.Lock()
        self._stopped = False
        self._active = {}  # socket -> its worker thread (None: the kept worker's)
        self._jobs = queue.SimpleQueue()  # whole requests for the kept worker
        self._idle = 0  # 1 while the kept worker waits for a request
        self._kept = None  # the worker that stays, so that one request at a time starts none
        self._held = 0  # bytes of bodies workers hold
        self._parked = queue.Queue()
        self._busy = RepeatFilter()
        # The accept thread's own:
        self._waiting = {}  # socket -> _Pending, in order of arrival
        self._lingering = {}  # socket -> _Lingering
        self._stalled = collections.deque()
        self._heap = []
        self._sequence = 0
        self._scratch = memoryview(bytearray(RECV_SIZE))  # one receive buffer, reused
        self._reserved = 0
        self._selector = None
        self._thread = None

    # -- what subclasses may change ------------------------------------------

    def screen(self, head, address):
        """Return a ``Refusal`` for a request to answer from its head alone, or None."""
        return None

    def log_refusal(self, status, address, message=""):
        """Called on the accept thread for each request refused before a worker."""

    # -- the accept thread -----------------------------------------------------

    def serve(self):
        """Accept and read connections until ``stop()`` is called."""
        with selectors.DefaultSelector() as selector:
            self._selector = selector
            selector.register(self.socket, selectors.EVENT_READ, "accept")
            selector.register(self._wake_r, selectors.EVENT_READ, "wake")
            try:
                while not self._stopped:
                    for key, _ in selector.select(self._timeout(time.monotonic())):
                        try:
                            self._event(key)
                        except Exception:
                            log.exception("HTTP accept loop failed on one connection")
                            self._drop(key.fileobj)
                    self._expire(time.monotonic())
            finally:
                for sock in list(self._waiting) + list(self._lingering):
                    sock.close()
                self._waiting.clear()
                self._lingering.clear()

    def _event(self, key):
        if key.data == "wake":
            try:
                self._wake_r.recv(4096)
            except (BlockingIOError, InterruptedError):
                pass
            self._take_parked()
            self._resume_stalled()
        elif key.data == "accept":
            self._accept()
        elif key.fileobj in self._lingering:
            self._drain(key.fileobj)
        else:
            self._receive(key.fileobj)

    def _schedule(self, item, when):
        item.check_at = when
        self._sequence += 1
        heapq.heappush(self._heap, (when, self._sequence, item))
        if len(self._heap) > 2 * (len(self._waiting) + len(self._lingering)) + 64:
            self._compact()

    def _live(self, entry):
        """Whether a heap entry still stands: its connection is here and was not rescheduled."""
        when, _, item = entry
        holder = self._lingering if isinstance(item, _Lingering) else self._waiting
        return item.check_at == when and holder.get(item.sock) is item

    def _compact(self):
        """Drop heap entries of connections gone or rescheduled since, so they cost nothing."""
        self._heap = [entry for entry in self._heap if self._live(entry)]
        heapq.heapify(self._heap)

    def _timeout(self, now):
        """Seconds until the first deadline still standing, or None: the select's timeout.

        Entries of connections gone since are dropped first, so that an idle
        server never wakes for a connection it no longer has.
        """
        heap = self._heap
        while heap and not self._live(heap[0]):
            heapq.heappop(heap)
        return max(0.0, heap[0][0] - now) if heap else None

    def _accept(self):
        """Take every connection the backlog holds, so it never overflows."""
        for _ in range(self.request_queue_size):
            try:
                sock, address = self.socket.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as err:
                log.warn("cannot accept a connection", error=err.strerror or str(err))
                return
            if len(self._waiting) >= MAX_WAITING_CONNECTIONS:
                self._drop(next(iter(self._waiting)))  # the first waited longest
            self._wait(sock, address, 0, b"")

    def _take_parked(self):
        """Take back connections that workers kept alive after an answer."""
        while True:
            try:
                sock, address, served, extra = self._parked.get_nowait()
            except queue.Empty:
                return
            self._wait(sock, address, served, extra)

    def _wait(self, sock, address, served, extra):
        sock.setblocking(False)
        pending = _Pending(sock, address, time.monotonic(), served)
        self._waiting[sock] = pending
        self._selector.register(sock, selectors.EVENT_READ, "conn")
        self._schedule(pending, pending.deadline)
        if extra:
            self._take(pending, extra)

    def _receive(self, sock):
        pending = self._waiting.get(sock)
        if pending is None:
            return
        try:
            if pending.body is not None:
                count = sock.recv_into(memoryview(pending.body)[pending.filled:])
                data = None
            else:
                count = sock.recv_into(self._scratch)
                data = self._scratch[:count]
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            count = 0
        if not count:  # the client went away, or is done sending
            if pending.head is not None:
                self._refuse(pending, 400, "truncated body: %d of %d bytes arrived"
                             % (pending.filled, pending.head.length))
            else:
                self._drop(sock)
            return
        if data is None:
            pending.filled += count
            if pending.filled >= pending.head.length:
                self._dispatch(pending)
        else:
            self._take(pending, data)

    def _take(self, pending, data):
        """Add head bytes a connection sent; check the head once whole; then start the body."""
        now = time.monotonic()
        self._reserve(pending, len(data))
        pending.head_bytes += data
        try:
            head = read_head(pending.head_bytes, self.max_body)
            if head is not None:
                refusal = self.screen(head, pending.address)
                if refusal is not None:
                    raise refusal
        except Refusal as refusal:
            self._refuse(pending, refusal.status, refusal.message, refusal.headers)
            return
        if head is None:
            if self._used() > self.max_preread:
                self._make_room(pending, 0, now)
            return
        pending.early = bytes(pending.head_bytes[head.size:])
        del pending.head_bytes[head.size:]
        pending.head = head
        if len(pending.early) > head.length:
            # Pipelined bytes of a next request: not served; the answer says close.
            pending.served = MAX_REQUESTS_PER_CONNECTION
        if not head.length:
            self._dispatch(pending)
        elif self._make_room(pending, head.length, now):
            self._start_body(pending, now)
        elif pending.sock in self._waiting:
            pending.stalled = True
            self._selector.unregister(pending.sock)
            self._stalled.append(pending)

    def _start_body(self, pending, now):
        """Reserve and allocate the whole body once; take what came with the head."""
        head = pending.head
        self._reserve(pending, head.length)
        pending.body = bytearray(head.length)
        early = pending.early[:head.length]
        pending.body[:len(early)] = early
        pending.filled = len(early)
        pending.early = b""
        pending.body_started = now
        if pending.filled >= head.length:
            self._dispatch(pending)
            return
        if head.expect_continue:
            self._send(pending.sock, _CONTINUE)
        self._schedule(pending, min(pending.deadline, pending.body_due()))

    def _reserve(self, pending, count):
        if count > 0:
            pending.reserved += count
            self._reserved += count

    def _release(self, pending):
        self._reserved -= pending.reserved
        pending.reserved = 0

    def _used(self):
        with self._lock:
            return self._reserved + self._held

    def _fits(self, count):
        return self._used() + count <= self.max_preread

    def _make_room(self, pending, count, now):
        """Whether ``count`` more bytes fit in the read-ahead budget, after making room.

        Slow connections give way first (503), the slowest first. Then, if
        workers hold bodies, the answer is no: ``pending`` waits until they
        are done. If not, nothing would free memory by itself, so the
        largest give way, ``pending`` included.
        """
        if self._fits(count):
            return True
        others = sorted((p for p in self._waiting.values() if p is not pending and p.reserved),
                        key=lambda p: p.rate(now))
        for victim in others:
            if now - victim.started >= BODY_GRACE and victim.rate(now) < SLOW_RATE:
                self._shed(victim)
                if self._fits(count):
                    return True
        with self._lock:
            held = self._held
        if held:
            return False
        largest = sorted((p for p in self._waiting.values() if p.reserved),
                         key=lambda p: p.reserved + (count if p is pending else 0), reverse=True)
        for victim in largest:
            self._shed(victim)
            if victim is pending:
                return False
            if self._fits(count):
                return True
        return True

    def _resume_stalled(self):
        """Start the bodies of stalled connections, in order, as far as memory allows."""
        now = time.monotonic()
        for _ in range(len(self._stalled)):
            pending = self._stalled.popleft()
            if self._waiting.get(pending.sock) is not pending:
                continue
            if not self._fits(pending.head.length):
                self._stalled.append(pending)
                continue
            pending.stalled = False
            self._selector.register(pending.sock, selectors.EVENT_READ, "conn")
            self._start_body(pending, now)

    def _shed(self, pending):
        self._refuse(pending, 503, "server is busy", [("Retry-After", "1")])

    def _refuse(self, pending, status, message, headers=()):
        """Answer a waiting connection with an error, then linger and close it."""
        self.log_refusal(status, pending.address, message)
        self._forget(pending)
        sock = pending.sock
        self._send(sock, json_answer(status, {"error": message}, headers))
        try:
            sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        if len(self._lingering) >= MAX_LINGERING:
            sock.close()
            return
        lingering = _Lingering(sock, time.monotonic())
        self._lingering[sock] = lingering
        self._selector.register(sock, selectors.EVENT_READ, "linger")
        self._schedule(lingering, lingering.check_at)

    @staticmethod
    def _send(sock, data):
        """Send a small answer without blocking; a client that cannot take it loses it."""
        try:
            sock.send(data)
        except OSError:
            pass

    def _drain(self, sock):
        lingering = self._lingering[sock]
        try:
            count = sock.recv_into(self._scratch)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            count = 0
        lingering.left -= count
        if not count or lingering.left <= 0:
            self._drop(sock)

    def _forget(self, pending):
        """Stop waiting for a connection's request (the socket stays open)."""
        if self._waiting.pop(pending.sock, None) is None:
            return
        self._release(pending)
        # The heap and the stalled queue may still hold ``pending`` for a while.
        pending.head_bytes = bytearray()
        pending.body = None
        pending.early = b""
        if not pending.stalled:
            self._selector.unregister(pending.sock)
        pending.stalled = False
        if self._stalled:
            self._resume_stalled()

    def _drop(self, sock):
        """Close a connection the accept thread holds, whatever its state."""
        pending = self._waiting.get(sock)
        if pending is not None:
            self._forget(pending)
        elif self._lingering.pop(sock, None) is not None:
            self._selector.unregister(sock)
        sock.close()

    def _expire(self, now):
        """Act on deadlines that passed: the whole request, the body rate, lingering."""
        heap = self._heap
        while heap and heap[0][0] <= now:
            when, _, item = heapq.heappop(heap)
            if item.check_at != when:
                continue  # rescheduled since
            if isinstance(item, _Lingering):
                if self._lingering.get(item.sock) is item:
                    self._drop(item.sock)
                continue
            if self._waiting.get(item.sock) is not item:
                continue
            if now >= item.deadline:
                if item.received() or item.head is not None:
                    self._refuse(item, 408, "request not received within %gs" % READ_DEADLINE)
                else:
                    self._drop(item.sock)
            elif item.head is not None and not item.stalled and now >= item.body_due():
                self._refuse(item, 408, "body slower than %d bytes per second"
                             % MIN_BODY_RATE)
            else:
                due = item.deadline
                if item.head is not None and not item.stalled:
                    due = min(due, max(item.body_due(), now + 0.05))
                self._schedule(item, due)

    def _dispatch(self, pending):
        """Hand a whole request to a worker, or answer 503 when all are busy."""
        head_bytes, body = bytes(pending.head_bytes), pending.body or b""
        self._forget(pending)
        size = len(head_bytes) + len(body)
        with self._lock:
            if len(self._active) >= self.max_connections:
                busy = True
            else:
                busy = False
                self._held += size
        if busy:
            self._refuse_busy(pending, "too many requests at once; answering 503")
            return
        sock = pending.sock
        sock.setblocking(True)
        sock.settimeout(READ_DEADLINE)
        job = (pending, head_bytes, body, size)
        with self._lock:
            kept = self._idle > 0
            if kept:
                self._idle -= 1
                self._active[sock] = None
        if kept:
            self._jobs.put(job)
            return
        thread = threading.Thread(target=self._work, args=job, daemon=True, name="http")
        with self._lock:
            self._active[sock] = thread
        try:
            thread.start()
        except RuntimeError:
            with self._lock:
                self._active.pop(sock, None)
                self._held -= size
            sock.setblocking(False)
            self._refuse_busy(pending, "cannot start a worker thread; answering 503")

    def _refuse_busy(self, pending, message):
        log_now, repeats = self._busy.check("busy", time.monotonic())
        if log_now:
            fields = {"repeated": repeats} if repeats else {}
            log.warn(message, client=pending.address[0], **fields)
        pending.sock.setblocking(False)
        self._send(pending.sock, _BUSY)
        pending.sock.close()

    # -- workers ----------------------------------------------------------------

    def _keep_working(self):
        """The kept worker: one whole request after another, until a None."""
        while True:
            with self._lock:
                self._idle += 1
            job = self._jobs.get()
            if job is None:
                return
            self._work(*job)

    def _work(self, pending, head_bytes, body, size):
        sock, address = pending.sock, pending.address
        handler = None
        try:
            handler = self.RequestHandlerClass(sock, address, self, head_bytes, body,
                                               pending.served + 1)
        except OSError as err:
            log.debug("connection lost", client=address[0], error=err.strerror or str(err))
        except Exception:
            log.exception("HTTP handler failed", client=address[0])
        finally:
            body = None  # the memory counts as free below: let it go first
            if handler is not None:
                handler.body = None
            with self._lock:
                self._active.pop(sock, None)
                self._held -= size
                keep = (handler is not None and not handler.close_connection
                        and not self._stopped)
            if keep:
                self._parked.put((sock, address, handler.served, b""))
            else:
                self._close_request(sock)
            self._wake(b"p")

    @staticmethod
    def _close_request(sock):
        try:
            sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        sock.close()

    def _wake(self, byte):
        try:
            self._wake_w.send(byte)
        except (BlockingIOError, InterruptedError):
            pass  # a wake byte is already waiting
        except OSError:
            pass

    # -- the service ------------------------------------------------------------

    def start(self):
        self._kept = threading.Thread(target=self._keep_working, name="http", daemon=True)
        self._kept.start()
        self._thread = threading.Thread(target=self.serve, name=self.name, daemon=True)
        self._thread.start()

    def alive(self):
        """Whether the accept thread runs: without it no request is ever answered."""
        return self._thread is not None and self._thread.is_alive()

    def stop(self, deadline):
        """End the accept thread, then close everything by monotonic ``deadline``.

        Returns whether the accept thread and every worker ended in time.
        """
        with self._lock:
            self._stopped = True
        self._wake(b"x")
        accept_ended = True
        if self._thread is not None:
            self._thread.join(max(0.0, deadline - time.monotonic()))
            accept_ended = not self._thread.is_alive()
        if not accept_ended:
            return False  # closing its sockets under its select could kill it with EBADF
        return self._close(deadline)

    def _close(self, deadline):
        """Close the listener, cut active connections short and wait for workers."""
        self.socket.close()
        with self._lock:
            active = dict(self._active)
        for sock in active:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        threads = [thread for thread in active.values() if thread is not None]
        if self._kept is not None:
            self._jobs.put(None)
            threads.append(self._kept)
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        while not self._parked.empty():
            self._parked.get_nowait()[0].close()
        self._wake_r.close()
        self._wake_w.close()
        return not any(thread.is_alive() for thread in threads)
