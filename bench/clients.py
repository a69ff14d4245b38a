"""Webhook bodies and the HTTP clients the bench sends them with.

Bodies are built with the tests' ``multipart_body`` (the shape of PMS's
libcurl MIME) around payloads made here for any event and player, with a
boundary fixed by ``seed`` so that every run sends the same bytes. The
clients are cheaper than tests/support/webhooks.py's ``request``: a given
connection (connected first, for bursts), one kept-alive connection
reopened when the server hangs up, and raw bytes over a kept-alive socket.
"""

import http.client
import json
import socket
from urllib.parse import urlencode

from tests.support.daemon import MACHINE_ID
from tests.support.webhooks import PLEX_USER_AGENT, WEBHOOK_PATH, multipart_body

_BOUNDARY_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
FAKE_THUMB = bytes(range(256)) * 40  # 10 KiB standing in for a JPEG


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


def boundary(seed=0):
    """A libcurl-shaped boundary (24 dashes, 22 alphanumerics), the same for the same seed."""
    return "-" * 24 + "".join(_BOUNDARY_CHARS[(seed * 7 + i * 13) % 62] for i in range(22))


def webhook(event, form="multipart", player=MACHINE_ID, seed=0):
    """``(content_type, body)`` for one webhook in one of the shapes the daemon accepts."""
    data = payload(event, player)
    if form == "multipart":
        return multipart_body(data, boundary=boundary(seed))
    if form == "multipart+thumb":
        return multipart_body(data, thumb=FAKE_THUMB, boundary=boundary(seed))
    if form == "json":
        return "application/json", data
    if form == "form":
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


def post_once(port, content_type, body, timeout=10.0, connection=None, path=WEBHOOK_PATH):
    """One POST on a fresh connection (or ``connection``, already open); return the status."""
    conn = connection or http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("POST", path, body=body, headers=headers_for(content_type, body))
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


def http_get(port, path, timeout=5.0):
    """``(status, body bytes)`` of one GET on a fresh connection."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path, headers={"Accept": "application/json"})
        answer = conn.getresponse()
        return answer.status, answer.read()
    finally:
        conn.close()


def get_json(port, path):
    """``(status, document or None)`` of one GET."""
    status, body = http_get(port, path)
    try:
        return status, json.loads(body.decode("utf-8"))
    except ValueError:
        return status, None


# -- raw HTTP (soak) ------------------------------------------------------------


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


class _Closed(ConnectionError):
    pass


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
