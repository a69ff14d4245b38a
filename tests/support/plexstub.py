"""A stand-in Plex Media Server for end-to-end tests.

It serves ``GET /status/sessions`` from an XML body the test sets, checks
the ``X-Plex-Token`` header like PMS (401 with PMS's 91-byte HTML body),
records every request, counts session fetches and how many overlap (a
request is in flight from its arrival until its answer starts), and can
misbehave on demand (slow, 500, 401, malformed XML, hang, hang up).
``set_route`` hands a path to a raw responder (``trickle``, ``streamed``,
``endless_stream``) that writes whatever a hostile server would, before any
token check.
It is a ``httpstub.StubServer``: it binds to 127.0.0.1 on a free port and,
with a ``tls_context``, speaks https, as a server set to "Secure
connections: Required" does.
"""

import collections

from tests.support.httpstub import StubServer

DEFAULT_TOKEN = "stub-token-Zq9xK2"
SERVER_MACHINE_ID = "54664a3d8acc39983675640ec9ce00b70af9cc36"

UNAUTHORIZED_BODY = (b"<html><head><title>Unauthorized</title></head>"
                     b"<body><h1>401 Unauthorized</h1></body></html>")
assert len(UNAUTHORIZED_BODY) == 91

EMPTY_SESSIONS = (b'<?xml version="1.0" encoding="UTF-8"?>\n'
                  b'<MediaContainer size="0"></MediaContainer>\n')
MALFORMED_SESSIONS = (b'<?xml version="1.0" encoding="UTF-8"?>\n<MediaContainer size="1">\n'
                      b'<Track title="Once in a Lifetime" sessionKey="53"><Player machineIdent')
SERVER_ERROR_BODY = (b"<html><head><title>Internal Server Error</title></head>"
                     b"<body><h1>500 Internal Server Error</h1></body></html>")

FAULTS = (None, "500", "401", "malformed", "hang", "close")


def _head(handler, content_type, length=None):
    handler.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Type: " + content_type.encode() + b"\r\n")
    if length is not None:
        handler.wfile.write(b"Content-Length: %d\r\n" % length)
    handler.wfile.write(b"Connection: close\r\n\r\n")
    handler.wfile.flush()


def instant(body, content_type="text/xml"):
    """A responder sending ``body`` at once, whatever the request asked."""
    def respond(handler, stopping):
        _head(handler, content_type, len(body))
        handler.wfile.write(body)
    return respond


def trickle(body, interval=0.2):
    """A responder sending head and ``body`` one byte every ``interval`` seconds."""
    def respond(handler, stopping):
        data = (b"HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nContent-Length: %d\r\n"
                b"Connection: close\r\n\r\n" % len(body)) + body
        for i in range(len(data)):
            if stopping.wait(interval):
                return
            handler.wfile.write(data[i:i + 1])
            handler.wfile.flush()
    return respond


def streamed(head, piece, tail, size, content_type="text/xml"):
    """A responder sending ``head``, then ``piece`` repeated to ``size`` bytes, then ``tail``."""
    count = max(0, (size - len(head) - len(tail)) // len(piece))

    def respond(handler, stopping):
        _head(handler, content_type, len(head) + count * len(piece) + len(tail))
        handler.wfile.write(head)
        block = piece * max(1, 65536 // len(piece))
        per_block = max(1, 65536 // len(piece))
        left = count
        while left and not stopping.is_set():
            n = min(per_block, left)
            handler.wfile.write(block if n == per_block else piece * n)
            left -= n
        handler.wfile.write(tail)
    return respond


def endless_stream(piece, start=b""):
    """A responder for an SSE stream sending ``start``, then ``piece`` until the client leaves."""
    def respond(handler, stopping):
        _head(handler, "text/event-stream")
        handler.wfile.write(start)
        block = piece * max(1, 65536 // len(piece))
        while not stopping.is_set():
            handler.wfile.write(block)
    return respond


class PlexStub(StubServer):
    """Usable as a context manager, or with ``start()`` and ``stop()``."""

    name = "plex-stub"
    server_version = "PlexMediaServer-stub/1.0"
    extra_headers = (("X-Plex-Protocol", "1.0"), ("Cache-Control", "no-cache"))

    def __init__(self, token=DEFAULT_TOKEN, sessions=EMPTY_SESSIONS, tls_context=None):
        super().__init__(tls_context=tls_context)
        self.token = token
        self._sessions = sessions
        self._delay = 0.0
        self._fault = None
        self._fail_next = collections.deque()
        self._routes = {}
        self.count = 0
        self.in_flight = 0
        self.max_in_flight = 0

    # -- behaviour --------------------------------------------------------

    def set_sessions(self, xml_bytes):
        with self._lock:
            self._sessions = xml_bytes

    def set_delay(self, seconds):
        with self._lock:
            self._delay = float(seconds)

    def set_fault(self, kind):
        """Misbehave from now on; ``None`` answers normally again.

        ``"500"`` and ``"401"`` answer with that status, ``"malformed"`` with
        truncated XML, ``"hang"`` never answers (until ``stop()``) and
        ``"close"`` hangs up without an answer.
        """
        if kind not in FAULTS:
            raise ValueError("unknown fault %r" % (kind,))
        with self._lock:
            self._fault = kind

    def set_route(self, path, responder):
        """Answer ``path`` with ``responder(handler, stopping)`` from now on; None removes it."""
        with self._lock:
            if responder is None:
                self._routes.pop(path, None)
            else:
                self._routes[path] = responder

    def fail_next(self, n, kind):
        """Fail only the next ``n`` session requests with ``kind``, then recover."""
        if kind not in FAULTS or kind is None:
            raise ValueError("unknown fault %r" % (kind,))
        with self._lock:
            self._fail_next.extend([kind] * n)

    # -- observations -----------------------------------------------------

    def session_requests(self):
        with self._lock:
            return [r for r in self.requests if r.path == "/status/sessions"]

    def wait_for_count(self, n, timeout=5):
        """Wait until at least ``n`` session requests arrived; return whether they did."""
        with self._lock:
            return self._lock.wait_for(lambda: self.count >= n, timeout)

    def wait_idle(self, timeout=5):
        """Wait until no request is being served; return whether that happened.

        A request held by ``hang`` stays in flight until ``stop()``, even
        after the client gave up on it.
        """
        with self._lock:
            return self._lock.wait_for(lambda: self.in_flight == 0, timeout)

    # -- serving ----------------------------------------------------------

    def handle(self, handler):
        path, _, _ = handler.path.partition("?")
        with self._lock:
            responder = self._routes.get(path)
        if responder is not None:
            self._raw(handler, responder)
            return
        with self._lock:  # re-entrant: the request is recorded and in flight at once
            self.record(handler)
            sessions = path == "/status/sessions"
            if sessions:
                self.count += 1
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            delay = self._delay
            fault = self._fault
            if sessions and self._fail_next:
                fault = self._fail_next.popleft()
            body = self._sessions
            self._lock.notify_all()
        handler.counted = True
        try:
            self._answer(handler, path, sessions, delay, fault, body)
        finally:
            self._done(handler)

    def _raw(self, handler, responder):
        self.record(handler)
        handler.close_connection = True
        try:
            responder(handler, self._stopping)
        except (OSError, ValueError):
            pass  # the client left, as it should

    def answering(self, handler):
        # The request stops counting as in flight before a byte of the answer
        # leaves: the client may act on it (and ask again) the moment it arrives.
        self._done(handler)

    def _done(self, handler):
        """The request is answered (or abandoned): it is no longer in flight."""
        with self._lock:
            if getattr(handler, "counted", False):
                handler.counted = False
                self.in_flight -= 1
                self._lock.notify_all()

    def _answer(self, handler, path, sessions, delay, fault, body):
        if handler.command != "GET":
            handler.send_body(405, b"", "text/html")
            return
        if handler.headers.get("X-Plex-Token") != self.token:
            handler.send_body(401, UNAUTHORIZED_BODY, "text/html")
            return
        if path == "/identity":
            handler.send_body(200, (
                '<?xml version="1.0" encoding="UTF-8"?>\n<MediaContainer size="0" claimed="1" '
                'machineIdentifier="%s" version="1.41.8.9834-071366d65">\n</MediaContainer>\n'
                % SERVER_MACHINE_ID).encode("ascii"))
            return
        if not sessions:
            handler.send_body(404, b"<html><head><title>Not Found</title></head>"
                                   b"<body><h1>404 Not Found</h1></body></html>", "text/html")
            return
        if delay and self._stopping.wait(delay):
            handler.close_connection = True
            return
        if fault == "hang":
            self._stopping.wait()
            handler.close_connection = True
            return
        if fault == "close":
            handler.close_connection = True
            return
        if fault == "500":
            handler.send_body(500, SERVER_ERROR_BODY, "text/html")
        elif fault == "401":
            handler.send_body(401, UNAUTHORIZED_BODY, "text/html")
        elif fault == "malformed":
            handler.send_body(200, MALFORMED_SESSIONS)
        else:
            handler.send_body(200, body)
