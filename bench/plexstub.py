"""A minimal stand-in Plex server, used only when ``tests/support/plexstub.py``
is not there (a copy of the package without its tests, say).

It has the few features the benchmark needs and the same names as the
tests' stub: ``PlexStub(token)``, ``start()``/``stop()`` or ``with``,
``url``, ``set_sessions(xml_bytes)``, ``set_delay(seconds)``, ``count`` of
``/status/sessions`` requests, ``in_flight``, ``max_in_flight``,
``wait_for_count(n, timeout)`` and ``set_fault(kind)`` (``"500"``,
``"401"``, ``"malformed"``, ``"hang"`` until ``stop()``, ``"close"``, or
None). It checks the ``X-Plex-Token`` header.
"""

import http.server
import threading
import time

DEFAULT_TOKEN = "stub-token-Zq9xK2"
FAULTS = (None, "500", "401", "malformed", "hang", "close")
MALFORMED_SESSIONS = (b'<?xml version="1.0" encoding="UTF-8"?>\n<MediaContainer size="1">\n'
                      b'<Track title="Once in a Lifetime" sessionKey="53"><Player machineIdent')


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "PlexMediaServer-benchstub/1.0"
    sys_version = ""
    timeout = 30

    def log_message(self, format, *args):
        pass

    def do_GET(self):
        self.server.stub._handle(self)

    def send_body(self, status, body, content_type="text/xml;charset=utf-8"):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True


class PlexStub:
    def __init__(self, token=DEFAULT_TOKEN, sessions=b"<MediaContainer size=\"0\"/>"):
        self.token = token
        self._lock = threading.Condition()
        self._sessions = sessions
        self._delay = 0.0
        self._fault = None
        self._stopping = threading.Event()
        self.count = 0
        self.in_flight = 0
        self.max_in_flight = 0
        self._server = None
        self._thread = None

    def start(self):
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.stub = self
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.2},
                                        name="bench-plex-stub", daemon=True)
        self._thread.start()
        return self

    def stop(self):
        if self._server is None:
            return
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)
        self._server = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self._server.server_address[1]

    def set_sessions(self, xml_bytes):
        with self._lock:
            self._sessions = xml_bytes

    def set_delay(self, seconds):
        with self._lock:
            self._delay = float(seconds)

    def set_fault(self, kind):
        if kind not in FAULTS:
            raise ValueError("unknown fault %r" % (kind,))
        with self._lock:
            self._fault = kind

    def wait_for_count(self, n, timeout=5):
        deadline = time.monotonic() + timeout
        with self._lock:
            while self.count < n:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._lock.wait(remaining)
            return True

    def _handle(self, handler):
        path = handler.path.partition("?")[0]
        if handler.headers.get("X-Plex-Token") != self.token:
            handler.send_body(401, b"<html><body><h1>401 Unauthorized</h1></body></html>",
                              "text/html")
            return
        if path != "/status/sessions":
            handler.send_body(404, b"<html><body><h1>404 Not Found</h1></body></html>",
                              "text/html")
            return
        with self._lock:
            self.count += 1
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            delay, body, fault = self._delay, self._sessions, self._fault
            self._lock.notify_all()
        try:
            if delay and self._stopping.wait(delay):
                handler.close_connection = True
                return
            if fault in ("hang", "close"):
                if fault == "hang":
                    self._stopping.wait()
                handler.close_connection = True
            elif fault == "500":
                handler.send_body(500, b"<html><body><h1>500 Internal Server Error</h1>"
                                       b"</body></html>", "text/html")
            elif fault == "401":
                handler.send_body(401, b"<html><body><h1>401 Unauthorized</h1></body></html>",
                                  "text/html")
            elif fault == "malformed":
                handler.send_body(200, MALFORMED_SESSIONS)
            else:
                handler.send_body(200, body)
        finally:
            with self._lock:
                self.in_flight -= 1
                self._lock.notify_all()
