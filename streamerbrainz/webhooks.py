"""The HTTP server: routing, body limits and the webhook endpoint.

The accept thread reads each request itself, without blocking, and hands
the connection to a worker thread only once the whole request is in (or
its head, for a large body): idle, slow and half-sent connections cost no
thread. At most ``max_connections`` workers run at once; a request beyond
that gets 503. Every request must arrive within ``READ_DEADLINE`` seconds.
The webhook answer goes out as soon as the event is queued, before any
Plex fetch.
"""

import hmac
import http.server
import io
import ipaddress
import json
import queue
import re
import selectors
import socket
import socketserver
import threading
import time
import urllib.parse

from streamerbrainz import __version__, live, payloads
from streamerbrainz.config import WEBHOOK_PATH
from streamerbrainz.log import get_logger
from streamerbrainz.repeats import RepeatFilter

log = get_logger("webhooks")

READ_DEADLINE = 10.0
MAX_HEAD_BYTES = 32 * 1024
MAX_REQUESTS_PER_CONNECTION = 100
MAX_BODY = 8 * 1024 * 1024
MAX_WAITING_CONNECTIONS = 1024
PREREAD_BODY_LIMIT = 1024 * 1024

_REQUEST_LINE = re.compile(rb"[A-Za-z]{1,20} [^ \r\n]+ HTTP/\d\.\d\r?\n")
_HEAD_END = re.compile(rb"\r?\n\r?\n")
_CONTENT_LENGTH = re.compile(rb"\ncontent-length:[ \t]*(\d+)[ \t]*\r?\n", re.IGNORECASE)
_EXPECT_CONTINUE = re.compile(rb"\nexpect:[ \t]*100-continue", re.IGNORECASE)

ROUTES = {
    WEBHOOK_PATH: ("POST",),
    "/": ("GET", "HEAD"),
    "/healthz": ("GET", "HEAD"),
    "/state": ("GET", "HEAD"),
    "/events": ("GET",),
}

_BUSY = (b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
         b"Retry-After: 1\r\nContent-Length: 27\r\nConnection: close\r\n\r\n"
         b'{"error": "server is busy"}')


def request_ready(data):
    """Whether the bytes received so far are enough to hand to a worker.

    That is a whole request; or a whole head when its body is large or the
    client waits for ``100 Continue``; or anything the worker will refuse at
    once: a first line that is no HTTP request line, more head than allowed.
    """
    newline = data.find(b"\n")
    if newline >= 0 and not _REQUEST_LINE.match(data, 0, newline + 1):
        return True
    end = _HEAD_END.search(data)
    if end is None:
        return len(data) >= MAX_HEAD_BYTES
    head = bytes(data[:end.end()])
    if _EXPECT_CONTINUE.search(head):
        return True
    match = _CONTENT_LENGTH.search(head)
    length = int(match.group(1)) if match else 0
    return length > PREREAD_BODY_LIMIT or len(data) >= end.end() + length


class HeadTooLarge(Exception):
    """The request line and headers went past ``MAX_HEAD_BYTES``."""


class _DeadlineReader(io.RawIOBase):
    """A socket reader with a deadline per request and a byte budget for the head."""

    def __init__(self, sock, received=b""):
        super().__init__()
        self.sock = sock
        self.received = received  # what the accept thread read already
        self.deadline = 0.0
        self.budget = None
        self.polling = False

    def next_request(self):
        self.deadline = time.monotonic() + READ_DEADLINE
        self.budget = MAX_HEAD_BYTES

    def readable(self):
        return True

    def readinto(self, buffer):
        if self.budget is not None:
            if self.budget <= 0:
                raise HeadTooLarge()
            buffer = memoryview(buffer)[:self.budget]
        count = self._read(buffer)
        if self.budget is not None and count:
            self.budget -= count
        return count

    def _read(self, buffer):
        if self.received:
            count = min(len(buffer), len(self.received))
            buffer[:count] = self.received[:count]
            self.received = self.received[count:]
            return count
        if self.polling:
            self.sock.settimeout(0)
            try:
                return self.sock.recv_into(buffer)
            except (BlockingIOError, InterruptedError):
                return None
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            raise socket.timeout("request not received within %gs" % READ_DEADLINE)
        self.sock.settimeout(remaining)
        return self.sock.recv_into(buffer)


class WebhookHandler(http.server.BaseHTTPRequestHandler):
    """One connection: answers the routes in ``ROUTES`` with small JSON bodies."""

    protocol_version = "HTTP/1.1"
    server_version = "StreamerBrainz/" + __version__
    disable_nagle_algorithm = True  # headers and body go out in two writes

    def version_string(self):
        return self.server_version

    def setup(self):
        super().setup()
        self.rfile.close()
        self.served, received = self.server.take_carried(self.connection)
        self.reader = _DeadlineReader(self.connection, received)
        self.rfile = io.BufferedReader(self.reader, 8192)

    def handle(self):
        """Serve requests while the client has more ready; then park the connection.

        A kept-alive connection with nothing to read goes back to the accept
        thread's selector instead of holding a worker while it idles.
        """
        self.close_connection = True
        self.parked = False
        self.handle_one_request()
        while not self.close_connection:
            if not self.pending():
                self.parked = True
                return
            self.handle_one_request()

    def pending(self):
        """Whether bytes of a next request are already here (or the peer closed)."""
        self.reader.polling = True
        try:
            return bool(self.rfile.peek(1))
        except OSError:
            return True
        finally:
            self.reader.polling = False

    def handle_one_request(self):
        self.reader.next_request()
        self.served += 1
        try:
            super().handle_one_request()
        except HeadTooLarge:
            if not hasattr(self, "request_version"):
                self.request_version = "HTTP/1.1"
            self.send_error(431, "request line and headers larger than %d bytes" % MAX_HEAD_BYTES)

    def parse_request(self):
        if not super().parse_request():
            return False
        self.reader.budget = None
        if self.served >= MAX_REQUESTS_PER_CONNECTION:
            self.close_connection = True  # said in this answer's Connection header
        return True

    def log_message(self, format, *args):
        pass

    def log_request(self, code="-", size="-"):
        log.debug("http request", method=getattr(self, "command", ""),
                  path=loggable_path(getattr(self, "path", "")), status=code,
                  client=self.client_address[0])

    def send_error(self, code, message=None, explain=None):
        self.close_connection = True
        if getattr(self, "request_version", "HTTP/0.9") == "HTTP/0.9":
            self.request_version = "HTTP/1.1"  # never answer without a status line
        if code == 501 and getattr(self, "path", ""):
            self.route()  # an unknown method is the client's mistake: 404 or 405
            return
        phrase = self.responses.get(code, ("error",))[0]
        self.reply(code, {"error": message or phrase})

    def reply(self, status, body, headers=()):
        data = (json.dumps(body) + "\n").encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        for name, value in headers:
            self.send_header(name, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if getattr(self, "command", "") != "HEAD":
            self.wfile.write(data)

    def route(self):
        """Return the route when this method may use it; otherwise answer and return None."""
        path = self.server.resolve(urllib.parse.urlsplit(self.path).path)
        allowed = ROUTES.get(path)
        if allowed is None:
            self.reply(404, {"error": "not found"})
            return None
        if self.command not in allowed:
            self.reply(405, {"error": "method not allowed"}, [("Allow", ", ".join(allowed))])
            return None
        return path

    def do_GET(self):
        path = self.route()
        if path == "/events":
            self.stream_events()
        elif path == "/state":
            self.reply(200, self.server.state())
        elif path is not None:
            self.reply(200, self.server.health())

    do_HEAD = do_GET

    def stream_events(self):
        """Server-Sent Events: the state now, then each change, heartbeats between."""
        hub = self.server.hub
        subscriber = hub.subscribe(self.connection) if hub is not None else None
        if subscriber is None:
            self.close_connection = True
            self.reply(503, {"error": "too many event subscribers"}, [("Retry-After", "5")])
            return
        try:
            self.close_connection = True
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Cache-Control", "no-store")
            self.send_header("Connection", "close")
            self.end_headers()
            self.connection.settimeout(READ_DEADLINE)
            # A small send buffer, so a listener that stops reading fills its
            # queue (and is dropped) after dozens of events, not megabytes.
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 65536)
            self.wfile.write(b"retry: 3000\n\n" + live.sse("state", self.server.state()))
            while True:
                item = subscriber.next(live.HEARTBEAT_SECONDS)
                if item is None:
                    return
                self.wfile.write(item or b": heartbeat\n\n")
        except OSError:
            return
        finally:
            hub.unsubscribe(subscriber)

    def do_POST(self):
        if self.route() is None:
            return
        if not self.server.allowed(self.client_address[0]):
            self.close_connection = True
            self.reply(403, {"error": "this address may not send webhooks"})
            return
        body = self.read_body()
        if body is None:
            return
        try:
            event = payloads.parse(self.headers.get("Content-Type", ""), body)
        except payloads.PayloadError as err:
            log.debug("webhook refused", error=str(err), client=self.client_address[0])
            self.reply(400, {"error": str(err)})
            return
        self.reply(*self.server.accept_event(event))

    def do_other(self):
        """A method no route allows: ``route()`` answers 404 or 405."""
        self.route()

    do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_other

    def read_body(self):
        """Read the whole body within the limits, or answer and return None."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            self.close_connection = True
            self.reply(411, {"error": "send a Content-Length; chunked bodies are not accepted"})
            return None
        raw = self.headers.get("Content-Length", "0").strip() or "0"
        if not (raw.isascii() and raw.isdigit()):
            self.close_connection = True
            self.reply(400, {"error": "invalid Content-Length"})
            return None
        length = int(raw)
        if length > self.server.max_body:
            self.close_connection = True
            self.reply(413, {"error": "body larger than %d bytes" % self.server.max_body})
            return None
        try:
            body = self.rfile.read(length)
        except OSError:
            body = b""
        if len(body) < length:
            self.close_connection = True
            self.reply(400, {"error": "truncated body: %d of %d bytes arrived within %gs"
                             % (len(body), length, READ_DEADLINE)})
            return None
        return body


class _Pending:
    """A connection the accept thread reads until its request is in."""

    __slots__ = ("address", "deadline", "received")

    def __init__(self, address, deadline):
        self.address = address
        self.deadline = deadline
        self.received = bytearray()


def loggable_path(path):
    """The request path with any webhook secret masked."""
    path = urllib.parse.urlsplit(path).path[:200]
    if path.startswith(WEBHOOK_PATH + "/"):
        return WEBHOOK_PATH + "/\u2026"
    return path


def client_ip(address):
    """An ``ipaddress`` object for a peer address, IPv4-mapped IPv6 unwrapped."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return None
    mapped = getattr(ip, "ipv4_mapped", None)
    return mapped or ip


class WebhookServer(socketserver.TCPServer):
    """Accepts connections on one thread and serves each on a bounded worker.

    ``serve()`` blocks until ``stop()``; it wakes only for sockets, never on
    a timer, except to expire connections that sent nothing in time.
    """

    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address, triggers, followed=(), plex_enabled=True, health=None,
                 state=None, hub=None, secret="", allow=(), max_connections=32,
                 max_body=MAX_BODY):
        host = address[0]
        self.address_family = socket.AF_INET6 if ":" in host else socket.AF_INET
        super().__init__(address, WebhookHandler)
        self.triggers = triggers
        self.followed = frozenset(followed)
        self.plex_enabled = plex_enabled
        self._health = health or (lambda: {})
        self._state = state or (lambda: {"players": [], "any_playing": False})
        self.hub = hub
        self.max_body = max_body
        self.secret = secret
        self.allow = tuple(allow)
        self._refusals = RepeatFilter()
        self._refusals_lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(max_connections)
        self._wake_r, self._wake_w = socket.socketpair()
        self._parked = queue.Queue()
        self._stopped = False
        self._lock = threading.Lock()
        self._active = {}
        self._carried = {}  # socket -> (requests served, bytes received), between threads
        self._busy = RepeatFilter()

    def health(self):
        return self._health()

    def state(self):
        return self._state()

    def resolve(self, path):
        """Map a request path to its route; a wrong or missing secret maps to nothing."""
        secret = self.secret
        if path.startswith(WEBHOOK_PATH + "/"):
            given = path[len(WEBHOOK_PATH) + 1:].encode("utf-8", "surrogateescape")
            if secret and hmac.compare_digest(given, secret.encode("utf-8")):
                return WEBHOOK_PATH
            return None
        if path == WEBHOOK_PATH and secret:
            return None
        return path

    def allowed(self, address):
        """Whether ``address`` may POST webhooks; refusals logged once a minute per address."""
        if not self.allow:
            return True
        ip = client_ip(address)
        if ip is not None and any(ip.version == net.version and ip in net for net in self.allow):
            return True
        with self._refusals_lock:
            log_now, repeats = self._refusals.check(address, time.monotonic())
        if log_now:
            fields = {"repeated": repeats} if repeats else {}
            log.warn("webhook refused: address not in -webhooks-allow", client=address, **fields)
        return False

    def accept_event(self, event):
        """Queue a webhook event for the fetcher; return ``(status, body[, headers])``."""
        fetch, reason = payloads.triage(event, self.followed)
        fields = dict(event=event.event or "(empty)", player=event.player_uuid,
                      player_title=event.player_title)
        if event.event == payloads.TEST_EVENT:
            log.info("Plex webhook test received", account=event.account)
        if fetch and not self.plex_enabled:
            fetch, reason = False, "Plex is not enabled"
        if not fetch:
            log.debug("webhook ignored", reason=reason, **fields)
            return 200, {"status": "ignored", "reason": reason}
        try:
            self.triggers.put_nowait(event)
        except queue.Full:
            log.warn("webhook queue full; answering 503", **fields)
            return 503, {"error": "too many webhooks queued; retry"}, [("Retry-After", "1")]
        log.debug("webhook received", **fields)
        return 200, {"status": "queued"}

    def server_activate(self):
        super().server_activate()
        self.socket.setblocking(False)

    def serve(self):
        """Accept and dispatch connections until ``stop()`` is called."""
        waiting = {}  # socket -> _Pending, in order of arrival
        with selectors.DefaultSelector() as selector:
            selector.register(self.socket, selectors.EVENT_READ, "accept")
            selector.register(self._wake_r, selectors.EVENT_READ, "wake")
            try:
                while True:
                    timeout = None
                    if waiting:  # in order of arrival, so of deadline too
                        timeout = max(0.0, next(iter(waiting.values())).deadline
                                      - time.monotonic())
                    for key, _ in selector.select(timeout):
                        if key.data == "wake":
                            if b"x" in self._wake_r.recv(4096):
                                return
                            self._take_parked(selector, waiting)
                        elif key.data == "accept":
                            self._accept(selector, waiting)
                        else:
                            self._receive(key.fileobj, selector, waiting)
                    self._expire(selector, waiting)
            finally:
                for sock in waiting:
                    self._forget(sock)

    def _accept(self, selector, waiting):
        """Take every connection the backlog holds, so it never overflows."""
        for _ in range(self.request_queue_size):
            try:
                sock, address = self.socket.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as err:
                log.warn("cannot accept a connection", error=err.strerror or str(err))
                return
            if len(waiting) >= MAX_WAITING_CONNECTIONS:
                oldest = next(iter(waiting))  # dicts keep order: the first waited longest
                selector.unregister(oldest)
                del waiting[oldest]
                self._forget(oldest)
            self._wait_for_request(sock, address, selector, waiting)

    def _take_parked(self, selector, waiting):
        """Register connections that workers handed back after a kept-alive request."""
        while True:
            try:
                sock, address = self._parked.get_nowait()
            except queue.Empty:
                return
            self._wait_for_request(sock, address, selector, waiting)

    @staticmethod
    def _wait_for_request(sock, address, selector, waiting):
        sock.setblocking(False)
        waiting[sock] = _Pending(address, time.monotonic() + READ_DEADLINE)
        selector.register(sock, selectors.EVENT_READ, "conn")

    def _receive(self, sock, selector, waiting):
        """Read what a waiting connection sent; dispatch it once the request is in."""
        pending = waiting[sock]
        try:
            data = sock.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if data:
            pending.received += data
            if not request_ready(pending.received):
                return
        selector.unregister(sock)
        del waiting[sock]
        if not data and not pending.received:  # the client went away
            self._forget(sock)
            return
        with self._lock:
            served, _ = self._carried.get(sock, (0, b""))
            self._carried[sock] = (served, bytes(pending.received))
        self._dispatch(sock, pending.address)

    def park(self, sock, address, served):
        with self._lock:
            self._carried[sock] = (served, b"")
        self._parked.put((sock, address))
        try:
            self._wake_w.send(b"p")
        except OSError:
            self._forget(sock)

    def take_carried(self, sock):
        """``(requests served before, bytes received already)`` for a dispatched connection."""
        with self._lock:
            return self._carried.pop(sock, (0, b""))

    def _forget(self, sock):
        with self._lock:
            self._carried.pop(sock, None)
        sock.close()

    def _expire(self, selector, waiting):
        """Close connections that did not send a request in time (the oldest come first)."""
        now = time.monotonic()
        while waiting:
            sock, pending = next(iter(waiting.items()))
            if pending.deadline > now:
                return
            selector.unregister(sock)
            del waiting[sock]
            self._forget(sock)

    def _dispatch(self, sock, address):
        if not self._slots.acquire(blocking=False):
            try:
                sock.setblocking(True)
                sock.settimeout(1.0)
                sock.sendall(_BUSY)
                sock.shutdown(socket.SHUT_WR)
            except OSError:
                pass
            self._forget(sock)
            log_now, repeats = self._busy.check("busy", time.monotonic())
            if log_now:
                fields = {"repeated": repeats} if repeats else {}
                log.warn("too many requests at once; answering 503", client=address[0],
                         **fields)
            return
        sock.setblocking(True)
        thread = threading.Thread(target=self._work, args=(sock, address), daemon=True,
                                  name="http")
        with self._lock:
            self._active[sock] = thread
        thread.start()

    def _work(self, sock, address):
        handler = None
        try:
            handler = self.RequestHandlerClass(sock, address, self)
        except OSError as err:
            log.debug("connection lost", client=address[0], error=err.strerror or str(err))
        except Exception:
            log.exception("HTTP handler failed", client=address[0])
        finally:
            with self._lock:
                self._active.pop(sock, None)
                park = handler is not None and handler.parked and not self._stopped
            if park:
                self.park(sock, address, handler.served)
            else:
                self.shutdown_request(sock)
            self._slots.release()

    def stop(self):
        """Make ``serve()`` return."""
        with self._lock:
            self._stopped = True
        try:
            self._wake_w.send(b"x")
        except OSError:
            pass

    def close(self, timeout=1.0):
        """Close the listener, cut idle connections short and wait for workers."""
        self.server_close()
        with self._lock:
            active = dict(self._active)
        for sock in active:
            try:
                sock.shutdown(socket.SHUT_RD)
            except OSError:
                pass
        deadline = time.monotonic() + timeout
        for thread in active.values():
            thread.join(max(0.0, deadline - time.monotonic()))
        while not self._parked.empty():
            self._forget(self._parked.get_nowait()[0])
        self._wake_r.close()
        self._wake_w.close()
