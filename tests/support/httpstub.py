"""The one base for every stand-in HTTP server the tests start.

``StubServer`` binds 127.0.0.1 on a free port (https with a
``tls_context``), serves on a thread of its own, records every request it
is handed (``Request``: method, path, raw path, query, headers, body, time
of arrival) and stops promptly, releasing whatever a handler holds (see
``until_stopped``). A subclass answers in ``answer(handler, request)``, or takes
over the whole request in ``handle(handler)``; a one-off passes
``respond(handler, request)`` instead. ``start_server`` starts one and stops
it at the test's cleanup.

``Receiver`` is the stand-in for a ``-notify-url``: it records each POST
with its body and answers ``status``, holding the first request until its
``gate`` is set when asked to.
"""

import collections
import http.server
import socket
import sys
import threading
import time
import urllib.parse

Request = collections.namedtuple("Request", "method path raw_path query headers body at peer")
Request.__new__.__defaults__ = (None,)  # peer: the client's (host, port), one per connection


class StubHandler(http.server.BaseHTTPRequestHandler):
    """Hands every GET and POST to the server's stub; quiet; bounded by a timeout."""

    protocol_version = "HTTP/1.1"
    sys_version = ""
    timeout = 30  # a client that stalls mid-request cannot pin a thread forever

    def version_string(self):
        return self.server.stub.server_version

    def log_message(self, format, *args):
        pass

    def do_GET(self):
        self.server.stub.handle(self)

    def do_POST(self):
        self.server.stub.handle(self)

    def read_body(self):
        """The request body, as long as its Content-Length says (b"" without one)."""
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def send_body(self, status, body, content_type="text/xml;charset=utf-8"):
        """Answer ``status`` with ``body`` and the stub's ``extra_headers``."""
        self.server.stub.answering(self)
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in self.server.stub.extra_headers:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True

    def handle_error(self, request, client_address):
        # A client that hangs up before reading the whole answer (after a
        # 401 or a timeout, say) is normal here, not worth a traceback.
        if isinstance(sys.exc_info()[1], (ConnectionError, socket.timeout)):
            return
        super().handle_error(request, client_address)


class StubServer:
    """A stand-in HTTP server on 127.0.0.1; a context manager, or ``start()``/``stop()``."""

    name = "http-stub"
    server_version = "stub/1.0"
    extra_headers = ()  # (name, value) pairs ``send_body`` adds to every answer
    handler_class = StubHandler

    def __init__(self, respond=None, tls_context=None):
        self.respond = respond
        self.tls_context = tls_context
        self._lock = threading.Condition()
        self._stopping = threading.Event()
        self.requests = []
        self._server = None
        self._thread = None

    # -- life cycle -------------------------------------------------------

    def start(self):
        self._server = _Server(("127.0.0.1", 0), self.handler_class)
        self._server.stub = self
        if self.tls_context is not None:
            # Handshakes happen in accept(); one that fails is dropped there.
            self._server.socket = self.tls_context.wrap_socket(self._server.socket,
                                                               server_side=True)
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.05},
                                        name=self.name, daemon=True)
        self._thread.start()
        return self

    def stop(self):
        """Shut down promptly, releasing every handler held in ``until_stopped``."""
        if self._server is None:
            return
        self._stopping.set()
        with self._lock:
            self._lock.notify_all()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)
        self._server = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    @property
    def port(self):
        return self._server.server_address[1]

    @property
    def url(self):
        scheme = "https" if self.tls_context is not None else "http"
        return "%s://127.0.0.1:%d" % (scheme, self.port)

    def until_stopped(self, seconds=None):
        """Wait until ``stop()`` (or ``seconds`` pass); return whether the stub is stopping."""
        return self._stopping.wait(seconds)

    # -- serving ----------------------------------------------------------

    def handle(self, handler):
        """Record the request (with its body), then answer it."""
        request = self.record(handler, handler.read_body())
        (self.respond or self.answer)(handler, request)

    def answer(self, handler, request):
        handler.send_body(404, b"<html><body>404 Not Found</body></html>", "text/html")

    def answering(self, handler):
        """Called as ``send_body`` starts its answer."""

    def record(self, handler, body=b""):
        """Append the request ``handler`` holds to ``requests``; return it."""
        path, _, query = handler.path.partition("?")
        request = Request(handler.command, path, handler.path, urllib.parse.parse_qs(query),
                          dict(handler.headers.items()), body, time.monotonic(),
                          handler.client_address)
        with self._lock:
            self.requests.append(request)
            self._lock.notify_all()
        return request

    # -- observations -----------------------------------------------------

    def all_requests(self):
        with self._lock:
            return list(self.requests)

    def requests_to(self, path):
        with self._lock:
            return [r for r in self.requests if r.path == path]

    def wait_for_requests(self, n, path=None, timeout=5):
        """Wait until ``n`` requests (to ``path``, if given) arrived; return them all."""
        def arrived():
            return [r for r in self.requests if path is None or r.path == path]
        with self._lock:
            self._lock.wait_for(lambda: len(arrived()) >= n, timeout)
            return arrived()


def start_server(testcase, server):
    """Start ``server`` and stop it at ``testcase``'s cleanup; return it."""
    server.start()
    testcase.addCleanup(server.stop)
    return server


class Receiver(StubServer):
    """Records each POST; answers ``status``; holds the first request until ``gate`` is set."""

    name = "notify-receiver"

    def __init__(self, status=204, hold_first=False):
        super().__init__()
        self.status = status
        self.gate = threading.Event()
        if not hold_first:
            self.gate.set()

    def stop(self):
        self.gate.set()
        super().stop()

    def received(self, path=None):
        """The POSTs so far (to ``path``, if given), oldest first."""
        with self._lock:
            return [r for r in self.requests if path is None or r.path == path]

    def answer(self, handler, request):
        if self.received()[0] is request:
            self.gate.wait(10)
        handler.send_body(self.status, b"", "text/plain")
