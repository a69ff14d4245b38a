"""A stand-in websocket server for tests: the handshake, frames, and faults on demand.

``WsServer`` binds 127.0.0.1 on a free port and serves each connection on
a thread of its own. It checks the client's handshake as a strict server
does (GET, ``Upgrade``, ``Connection``, version 13, a key of 16 bytes, and
no byte after the request before its 101), insists on masked client
frames, and records what it sees: the handshake requests, every message
with its time of arrival (``received``), the mask keys, the pongs, the
close codes, and what it found wrong (``errors``).

Each message the client sends goes to the responder, ``message ->
replies``. A reply is a str (a text frame), bytes (a binary frame) or one
of the actions below, done in order: ``raw`` bytes (hand-made frames,
garbage), ``ping``, ``close``, ``trickle``, ``wait`` for an event, and
``STALL`` (never answer again), ``HANGUP`` (close the TCP connection),
``RESET`` (abort it with a reset). ``greeting`` replies go out right after
the 101, in the same write as far as they are frames. ``handshake``
picks a faulty handshake (``HANDSHAKES``).

Its frame code is its own (``frame``), not the client's under test.
"""

import base64
import collections
import hashlib
import select
import socket
import struct
import threading
import time

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
HANDSHAKES = (
    None,  # a correct 101
    "garbage",  # not HTTP at all instead of the 101
    "garbage_first",  # a few bytes of junk, then a correct 101
    "wrong_accept",  # a 101 whose Sec-WebSocket-Accept is for another key
    "status",  # 404 Not Found
    "extension",  # a 101 that agrees to permessage-deflate, never asked for
    "stall",  # read the request, never answer
    "hold",  # answer only once ``release`` is set (and check nothing came before)
)

Action = collections.namedtuple("Action", "kind data")
Received = collections.namedtuple("Received", "message at connection")
Request = collections.namedtuple("Request", "line headers connection")

STALL = Action("stall", None)
HANGUP = Action("hangup", None)
RESET = Action("reset", None)


def raw(data):
    """Write ``data`` as it is."""
    return Action("raw", bytes(data))


def ping(payload=b""):
    return Action("raw", frame(0x9, payload))


def close(code=1000, reason=""):
    """Send a close frame (no code when ``code`` is None); hang up once the client answers."""
    payload = b"" if code is None else struct.pack("!H", code) + reason.encode("utf-8")
    return Action("close", payload)


def trickle(data, interval):
    """Write ``data`` one byte every ``interval`` seconds."""
    return Action("trickle", (bytes(data), interval))


def wait(event):
    """Go on only once ``event`` is set (or the server stops)."""
    return Action("wait", event)


def frame(opcode, payload, fin=True, rsv=0, mask_key=None, length=None):
    """One frame as bytes; ``length`` overrides the length written in its head."""
    payload = payload.encode("utf-8") if isinstance(payload, str) else bytes(payload)
    n = len(payload) if length is None else length
    head = struct.pack("!B", (0x80 if fin else 0) | (rsv << 4) | opcode)
    bit = 0x80 if mask_key is not None else 0
    if n <= 125:
        head += struct.pack("!B", bit | n)
    elif n <= 0xFFFF:
        head += struct.pack("!BH", bit | 126, n)
    else:
        head += struct.pack("!BQ", bit | 127, n)
    if mask_key is not None:
        head += mask_key
        payload = bytes(b ^ mask_key[i % 4] for i, b in enumerate(payload))
    return head + payload


def fragments(message, *sizes):
    """``message`` (str: text, bytes: binary) as frames of ``sizes`` bytes, the rest last."""
    data = message.encode("utf-8") if isinstance(message, str) else message
    opcode = 0x1 if isinstance(message, str) else 0x2
    pieces, start = [], 0
    for size in sizes:
        pieces.append(data[start:start + size])
        start += size
    pieces.append(data[start:])
    out = b""
    for i, piece in enumerate(pieces):
        out += frame(opcode if i == 0 else 0x0, piece, fin=i == len(pieces) - 1)
    return raw(out)


def echo(message):
    return [message]


class _Gone(Exception):
    """The connection ended (or must end) here."""


class WsServer:
    """Usable as a context manager, or with ``start()`` and ``stop()``."""

    def __init__(self, responder=echo, handshake=None, greeting=()):
        self._lock = threading.Condition()
        self._stopping = threading.Event()
        self.release = threading.Event()  # lets a ``hold`` handshake answer
        self.set_responder(responder)
        self.set_handshake(handshake)
        self.set_greeting(greeting)
        self.requests = []
        self.received = []
        self.masks = []
        self.pongs = []
        self.closes = []  # the close codes clients sent (None: no code)
        self.errors = []
        self.connections = 0
        self._listener = None
        self._wake = None
        self._threads = []
        self._sockets = set()

    # -- behaviour ------------------------------------------------------------

    def set_responder(self, responder):
        """``responder(message) -> replies`` from now on, for every connection."""
        with self._lock:
            self._responder = responder

    def set_handshake(self, kind):
        if kind not in HANDSHAKES:
            raise ValueError("unknown handshake %r" % (kind,))
        with self._lock:
            self._handshake = kind

    def set_greeting(self, replies):
        with self._lock:
            self._greeting = list(replies)

    # -- life cycle -----------------------------------------------------------

    def start(self):
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(16)
        self._wake = socket.socketpair()
        thread = threading.Thread(target=self._accept, name="ws-stub", daemon=True)
        self._threads.append(thread)
        thread.start()
        return self

    def stop(self):
        """Stop at once: every connection is cut and every thread gone (within 5 s)."""
        if self._listener is None:
            return
        self._stopping.set()
        self._wake[1].send(b"x")
        with self._lock:
            for sock in self._sockets:
                _shutdown(sock)
            self._lock.notify_all()
        until = time.monotonic() + 5
        for thread in list(self._threads):
            thread.join(max(0, until - time.monotonic()))
        self._listener.close()
        for sock in self._wake:
            sock.close()
        self._listener = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    @property
    def port(self):
        return self._listener.getsockname()[1]

    @property
    def url(self):
        return "ws://127.0.0.1:%d/" % self.port

    # -- observations ---------------------------------------------------------

    def wait_for(self, predicate, timeout=5):
        """Wait until ``predicate()`` (called under the lock) is true; return whether it was."""
        with self._lock:
            return self._lock.wait_for(predicate, timeout)

    def messages(self):
        with self._lock:
            return [r.message for r in self.received]

    def _record(self, name, value):
        with self._lock:
            getattr(self, name).append(value)
            self._lock.notify_all()

    # -- serving --------------------------------------------------------------

    def _accept(self):
        while not self._stopping.is_set():
            ready, _, _ = select.select([self._listener, self._wake[0]], [], [])
            if self._stopping.is_set():
                return
            if self._listener not in ready:
                continue
            try:
                sock, _ = self._listener.accept()
            except OSError:
                continue
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self._lock:
                self.connections += 1
                number = self.connections
                self._sockets.add(sock)
            thread = threading.Thread(target=self._serve, args=(sock, number),
                                      name="ws-stub-%d" % number, daemon=True)
            self._threads.append(thread)
            thread.start()

    def _serve(self, sock, number):
        try:
            self._connection(sock, number)
        except (_Gone, OSError):
            pass
        except Exception as err:  # a bug in a responder: seen by the test, not a traceback
            self._record("errors", "connection %d: %r" % (number, err))
        finally:
            with self._lock:
                self._sockets.discard(sock)
            sock.close()

    def _connection(self, sock, number):
        buffer = bytearray()
        while b"\r\n\r\n" not in buffer:
            if len(buffer) > 8192:
                self._record("errors", "a request head longer than 8 KiB")
                raise _Gone()
            buffer += _recv(sock)
        end = buffer.index(b"\r\n\r\n")
        lines = bytes(buffer[:end]).decode("latin-1").split("\r\n")
        del buffer[:end + 4]
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        self._record("requests", Request(lines[0], headers, number))
        with self._lock:
            kind, greeting = self._handshake, list(self._greeting)
        key = headers.get("sec-websocket-key", "")
        problem = _check_request(lines[0], headers)
        if buffer:
            problem = "bytes after the request, before the 101"
        if problem:
            self._record("errors", problem)
            sock.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
            raise _Gone()
        if kind == "stall":
            self._stopping.wait()
            raise _Gone()
        if kind == "hold":
            _until(self.release, self._stopping)
            if _pending(sock):
                self._record("errors", "bytes after the request, before the 101")
                raise _Gone()
        answer = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n" \
                 b"Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n" % _accept(
                     "x" + key if kind == "wrong_accept" else key)
        if kind == "extension":
            answer += b"Sec-WebSocket-Extensions: permessage-deflate\r\n"
        answer += b"\r\n"
        if kind == "garbage":
            answer = b"SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n"
        elif kind == "garbage_first":
            answer = b"\x00\xff junk\r\n" + answer
        elif kind == "status":
            answer = b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"
        while greeting and not isinstance(greeting[0], Action):
            answer += _as_frame(greeting.pop(0))
        sock.sendall(answer)
        if kind in ("garbage", "garbage_first", "status", "wrong_accept", "extension"):
            _drain(sock)  # until the client hangs up, as it must
            raise _Gone()
        self._act(sock, greeting)
        self._frames(sock, number, buffer)

    def _frames(self, sock, number, buffer):
        parts, opcode, closing = [], None, False
        while True:
            fin, op, payload = self._read_frame(sock, buffer)
            if op == 0x8:
                self._record("closes", struct.unpack("!H", payload[:2])[0] if payload else None)
                if not closing:
                    sock.sendall(frame(0x8, payload[:2]))
                raise _Gone()
            if op == 0x9:
                sock.sendall(frame(0xA, payload))
                continue
            if op == 0xA:
                self._record("pongs", payload)
                continue
            if op != 0x0:
                opcode, parts = op, []
            parts.append(payload)
            if not fin:
                continue
            data = b"".join(parts)
            message = data.decode("utf-8") if opcode == 0x1 else data
            self._record("received", Received(message, time.monotonic(), number))
            with self._lock:
                responder = self._responder
            closing = self._act(sock, list(responder(message) or ())) or closing

    def _read_frame(self, sock, buffer):
        while len(buffer) < 2:
            buffer += _recv(sock)
        first, second = buffer[0], buffer[1]
        if not second & 0x80:
            self._record("errors", "an unmasked client frame")
            sock.sendall(frame(0x8, struct.pack("!H", 1002)))
            raise _Gone()
        n, size = second & 0x7F, 2
        if n == 126:
            size = 4
        elif n == 127:
            size = 10
        while len(buffer) < size + 4:
            buffer += _recv(sock)
        if n == 126:
            n = struct.unpack_from("!H", buffer, 2)[0]
        elif n == 127:
            n = struct.unpack_from("!Q", buffer, 2)[0]
        key = bytes(buffer[size:size + 4])
        self._record("masks", key)
        while len(buffer) < size + 4 + n:
            buffer += _recv(sock)
        body = buffer[size + 4:size + 4 + n]
        payload = bytes(b ^ key[i % 4] for i, b in enumerate(body))
        del buffer[:size + 4 + n]
        return bool(first & 0x80), first & 0x0F, payload

    def _act(self, sock, replies):
        """Carry out ``replies``; return whether a close frame went out."""
        closing = False
        for reply in replies:
            if not isinstance(reply, Action):
                sock.sendall(_as_frame(reply))
            elif reply.kind == "raw":
                sock.sendall(reply.data)
            elif reply.kind == "close":
                sock.sendall(frame(0x8, reply.data))
                closing = True
            elif reply.kind == "trickle":
                data, interval = reply.data
                for i in range(len(data)):
                    if self._stopping.wait(interval):
                        raise _Gone()
                    sock.sendall(data[i:i + 1])
            elif reply.kind == "wait":
                _until(reply.data, self._stopping)
            elif reply.kind == "stall":
                self._stopping.wait()
                raise _Gone()
            elif reply.kind == "hangup":
                sock.shutdown(socket.SHUT_RDWR)
                raise _Gone()
            elif reply.kind == "reset":
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                raise _Gone()
        return closing


def _check_request(line, headers):
    parts = line.split(" ")
    if len(parts) != 3 or parts[0] != "GET" or not parts[2].startswith("HTTP/1."):
        return "not a GET request: %r" % line
    if headers.get("upgrade", "").lower() != "websocket":
        return "no Upgrade: websocket"
    if "upgrade" not in [t.strip().lower() for t in headers.get("connection", "").split(",")]:
        return "no Connection: Upgrade"
    if headers.get("sec-websocket-version") != "13":
        return "not Sec-WebSocket-Version: 13"
    try:
        key = base64.b64decode(headers.get("sec-websocket-key", ""), validate=True)
    except ValueError:
        key = b""
    if len(key) != 16:
        return "Sec-WebSocket-Key is not 16 bytes in base64"
    return ""


def _accept(key):
    return base64.b64encode(hashlib.sha1(key.encode("ascii") + GUID).digest())


def _as_frame(message):
    if isinstance(message, str):
        return frame(0x1, message)
    return frame(0x2, message)


def _recv(sock):
    data = sock.recv(65536)
    if not data:
        raise _Gone()
    return data


def _drain(sock):
    while sock.recv(65536):
        pass


def _pending(sock):
    try:
        return bool(sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT))
    except BlockingIOError:
        return False


def _until(event, stopping):
    while not event.wait(0.02):
        if stopping.is_set():
            raise _Gone()


def _shutdown(sock):
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
