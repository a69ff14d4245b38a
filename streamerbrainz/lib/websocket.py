"""A websocket client (RFC 6455) on a plain socket: ws:// only, no extension.

``WebSocket`` connects and does the handshake by one deadline, sends
masked frames, and ``receive`` returns the next whole message by one
deadline for the whole message (not for each read). It answers pings,
reassembles fragmented messages, caps a message's size, closes politely,
and reports an end of the connection without a close frame (EOF, reset)
as a disconnect. ``abort()``, from any thread, cuts whatever is blocked.

One thread reads (``open``, ``receive``, ``close``); sends may come from
another thread and never interleave their frames. Every failure is a
``WebSocketError`` whose ``kind`` is ``network``, ``timeout``,
``protocol``, ``closed`` or ``too_large`` and whose message is one line
naming the peer (host:port) and the problem.

The frame codec is pure (``encode_frame``, ``parse_header``,
``decode_frame``, ``mask``, ``accept_key``) so that it can be checked
against the RFC's own examples byte by byte.
"""

import base64
import collections
import errno
import hashlib
import os
import socket
import struct
import threading
import time
import urllib.parse

from streamerbrainz.lib.opener import describe, size_text
from streamerbrainz.lib.sockets import ready

CONTINUATION, TEXT, BINARY, CLOSE, PING, PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
OPCODES = (CONTINUATION, TEXT, BINARY, CLOSE, PING, PONG)
MAX_CONTROL = 125  # a control frame's payload, at most (RFC 6455 5.5)
MAX_HEAD = 8192  # the handshake answer's head, at most
DEFAULT_MAX_MESSAGE = 1024 * 1024
GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

NORMAL, GOING_AWAY, PROTOCOL_ERROR, INVALID_DATA, TOO_BIG = 1000, 1001, 1002, 1007, 1009
CLOSE_NAMES = {
    1000: "normal", 1001: "going away", 1002: "protocol error", 1003: "unsupported data",
    1005: "no status", 1007: "invalid data", 1008: "policy violation",
    1009: "message too big", 1010: "extension required", 1011: "server error",
    1012: "service restart", 1013: "try again later", 1014: "bad gateway",
}
# Codes a peer may send in a close frame: 1004, 1005, 1006 and 1015 never travel.
_SENDABLE = frozenset((1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014))

KINDS = ("network", "timeout", "protocol", "closed", "too_large")

Header = collections.namedtuple("Header", "fin rsv opcode mask_key length size")
Header.__doc__ = """A frame's head: ``size`` is its length in bytes, ``length`` the payload's."""
Frame = collections.namedtuple("Frame", "fin rsv opcode masked payload")
Frame.__doc__ = """A whole frame; ``payload`` is unmasked."""


class WebSocketError(Exception):
    """A failed websocket operation.

    ``kind`` is one of ``KINDS``. ``code`` is the close code the peer sent
    when it closed the connection (``kind`` ``closed``), else None.
    """

    def __init__(self, kind, message, code=None):
        super().__init__(message)
        self.kind = kind
        self.code = code


# -- the pure part -----------------------------------------------------------

def accept_key(key):
    """The ``Sec-WebSocket-Accept`` a server must answer to ``Sec-WebSocket-Key`` ``key``."""
    digest = hashlib.sha1((key + GUID).encode("ascii")).digest()
    return base64.b64encode(digest).decode("ascii")


def mask(payload, key):
    """``payload`` XOR the 4-byte ``key`` repeated (masking and unmasking are one)."""
    n = len(payload)
    if not n:
        return b""
    repeated = (bytes(key) * (n // 4 + 1))[:n]
    value = int.from_bytes(payload, "big") ^ int.from_bytes(repeated, "big")
    return value.to_bytes(n, "big")


def encode_frame(opcode, payload, mask_key=None, fin=True):
    """One frame as bytes; masked with the 4-byte ``mask_key`` when given."""
    payload = bytes(payload)
    head = bytearray([(0x80 if fin else 0) | opcode])
    bit = 0x80 if mask_key is not None else 0
    n = len(payload)
    if n < 126:
        head.append(bit | n)
    elif n < 65536:
        head.append(bit | 126)
        head += struct.pack("!H", n)
    else:
        head.append(bit | 127)
        head += struct.pack("!Q", n)
    if mask_key is None:
        return bytes(head) + payload
    if len(mask_key) != 4:
        raise ValueError("a mask key has 4 bytes, not %d" % len(mask_key))
    return bytes(head) + bytes(mask_key) + mask(payload, mask_key)


def parse_header(data):
    """The ``Header`` at the start of ``data``, or None while it is not all there."""
    if len(data) < 2:
        return None
    first, second = data[0], data[1]
    length, size = second & 0x7F, 2
    if length == 126:
        if len(data) < 4:
            return None
        length, size = struct.unpack_from("!H", data, 2)[0], 4
    elif length == 127:
        if len(data) < 10:
            return None
        length, size = struct.unpack_from("!Q", data, 2)[0], 10
    mask_key = None
    if second & 0x80:
        if len(data) < size + 4:
            return None
        mask_key, size = bytes(data[size:size + 4]), size + 4
    return Header(bool(first & 0x80), (first >> 4) & 0x7, first & 0x0F, mask_key, length, size)


def decode_frame(data):
    """``(Frame, bytes used)`` for the frame at the start of ``data``; ``(None, 0)`` until whole."""
    header = parse_header(data)
    if header is None or len(data) < header.size + header.length:
        return None, 0
    end = header.size + header.length
    payload = bytes(data[header.size:end])
    if header.mask_key is not None:
        payload = mask(payload, header.mask_key)
    return Frame(header.fin, header.rsv, header.opcode, header.mask_key is not None,
                 payload), end


def close_payload(code, reason=""):
    """A close frame's payload: the code, then the reason cut to fit 125 bytes."""
    if code is None:
        return b""
    return struct.pack("!H", code) + reason.encode("utf-8")[:MAX_CONTROL - 2]


def parse_url(url):
    """``(host, port, resource)`` of a ws:// URL; ValueError for anything else.

    wss:// (TLS) is refused: the servers this is for speak plain ws://.
    """
    try:
        parts = urllib.parse.urlsplit(url)
        port = parts.port
    except ValueError as err:
        raise ValueError("not a usable websocket URL %r: %s" % (url, err)) from None
    scheme = parts.scheme.lower()
    if scheme == "wss":
        raise ValueError("wss:// (websocket over TLS) is not supported, only ws://: %r" % url)
    if scheme != "ws":
        raise ValueError("not a websocket URL (it must start with ws://): %r" % url)
    if not parts.hostname:
        raise ValueError("no host in the websocket URL %r" % url)
    if parts.username is not None or parts.password is not None:
        raise ValueError("a websocket URL carries no user or password: %r" % url)
    if parts.fragment:
        raise ValueError("a websocket URL has no #fragment: %r" % url)
    resource = parts.path or "/"
    if parts.query:
        resource += "?" + parts.query
    if not resource.isascii() or any(c.isspace() for c in resource):
        raise ValueError("the websocket URL's path must be plain ASCII: %r" % url)
    return parts.hostname, port or 80, resource


def _peer(host, port):
    return "[%s]:%d" % (host, port) if ":" in host else "%s:%d" % (host, port)


def _preview(data):
    return repr(bytes(data[:40]))


def _printable(text):
    return "".join(c if c.isprintable() else "?" for c in text)


class _Violation(Exception):
    """The peer broke the protocol: close with ``code``, then raise ``kind``."""

    def __init__(self, kind, code, text):
        super().__init__(text)
        self.kind = kind
        self.code = code
        self.text = text


_Bound = collections.namedtuple("_Bound", "at seconds what")  # what: "... within %gs"


def _wait(sock, writing, bound, fail):
    """Wait until ``sock`` can be read (or written) or ``bound`` passes (``fail()`` raised)."""
    if not ready(sock, writing, bound.at):
        raise fail()


# -- the client --------------------------------------------------------------

class WebSocket:
    """A client connection to one ws:// URL. ``WebSocket.connect`` is the usual way in.

    ``WebSocket(url)`` does no I/O, so another thread can ``abort()`` an
    ``open`` in progress. ``name`` starts every error message (default
    ``websocket <host:port>``); ``max_message`` caps a received message.
    """

    def __init__(self, url, max_message=DEFAULT_MAX_MESSAGE, name=None):
        self.url = url
        self.host, self.port, self.resource = parse_url(url)
        self.peer = _peer(self.host, self.port)
        self.name = name or "websocket " + self.peer
        self.max_message = max_message
        self.timeout = None  # open's; the default bound of a send
        self._lock = threading.Lock()  # _sock, _state, _aborted
        self._send_lock = threading.Lock()  # one frame at a time on the wire
        self._sock = None
        self._state = "new"  # connecting, open, closing, closed
        self._aborted = False
        self._buffer = bytearray()  # read, not yet taken
        self._opcode = None  # of the fragmented message in progress
        self._parts = []
        self._size = 0

    @classmethod
    def connect(cls, url, timeout, **options):
        """A connection to ``url``, open and past its handshake within ``timeout`` seconds."""
        return cls(url, **options).open(timeout)

    @property
    def connected(self):
        return self._state == "open"

    # -- life cycle ----------------------------------------------------------

    def open(self, timeout):
        """Connect and do the handshake, all within ``timeout`` seconds; return self."""
        with self._lock:
            if self._aborted or self._state != "new":
                raise self._closed_error()
            self._state = "connecting"
        self.timeout = timeout
        bound = _Bound(time.monotonic() + timeout, timeout,
                       "connection and handshake not done within %gs")
        try:
            self._connect(bound)
            self._handshake(bound)
            with self._lock:
                if self._aborted:
                    raise self._closed_error()
                self._state = "open"
        except BaseException:
            self._drop()
            raise
        return self

    def close(self, timeout=1.0):
        """Close politely: send a close frame, wait for the peer's, within ``timeout`` seconds.

        Never raises. Returns whether the peer answered with its close frame.
        Whatever arrives meanwhile is dropped.
        """
        with self._lock:
            polite = self._state == "open" and not self._aborted
            if polite:
                self._state = "closing"
        if not polite:
            self._drop()
            return False
        bound = _Bound(time.monotonic() + timeout, timeout, "close not done within %gs")
        try:
            self._send_bytes(encode_frame(CLOSE, close_payload(NORMAL), os.urandom(4)), bound)
            while True:
                header = self._read_header(bound)
                if header.length > max(self.max_message, MAX_CONTROL):
                    return False
                self._take(header, bound)
                if header.opcode == CLOSE:
                    return True
        except WebSocketError:
            return False
        finally:
            self._drop()

    def abort(self):
        """Cut the connection now, from any thread: a blocked call raises ``closed``."""
        with self._lock:
            self._aborted = True
            if self._sock is not None:
                try:
                    self._sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    # -- messages ------------------------------------------------------------

    def send_text(self, text, deadline=None):
        """Send ``text`` as one text message by monotonic ``deadline`` (default: open's timeout)."""
        self._send_message(TEXT, text.encode("utf-8"), deadline)

    def send_binary(self, data, deadline=None):
        """Send ``data`` as one binary message by monotonic ``deadline``."""
        self._send_message(BINARY, bytes(data), deadline)

    def receive(self, deadline):
        """The next whole message by monotonic ``deadline``: str for text, bytes for binary.

        Pings are answered on the way. A timeout keeps what was read, so a
        later call goes on where this one stopped; any other error ends the
        connection.
        """
        self._check_open()
        seconds = round(max(0.0, deadline - time.monotonic()), 3)
        bound = _Bound(deadline, seconds, "no whole message within %gs")
        try:
            while True:
                header = self._read_header(bound)
                self._check_header(header)
                payload = self._take(header, bound)
                message = self._handle(header, payload, bound)
                if message is not None:
                    return message
        except _Violation as violation:
            self._fail(violation)
        except WebSocketError as err:
            if err.kind != "timeout":
                self._drop()
            raise

    # -- frames in -----------------------------------------------------------

    def _check_header(self, header):
        def broken(text, code=PROTOCOL_ERROR, kind="protocol"):
            return _Violation(kind, code, "%s %s" % (self.name, text))

        if header.mask_key is not None:
            raise broken("sent a masked frame (a server's frames are never masked)")
        if header.rsv:
            raise broken("sent a frame with reserved bits set (no extension was agreed)")
        if header.opcode not in OPCODES:
            raise broken("sent a frame with the unknown opcode 0x%X" % header.opcode)
        if header.opcode >= CLOSE:
            if not header.fin:
                raise broken("sent a fragmented control frame")
            if header.length > MAX_CONTROL:
                raise broken("sent a control frame of %d bytes (at most %d)"
                             % (header.length, MAX_CONTROL))
            return
        if header.opcode == CONTINUATION and self._opcode is None:
            raise broken("sent a continuation frame with no message to continue")
        if header.opcode != CONTINUATION and self._opcode is not None:
            raise broken("started a new message inside a fragmented one")
        if self._size + header.length > self.max_message:
            raise broken("sent a message of more than %s (%d bytes so far)"
                         % (size_text(self.max_message), self._size + header.length),
                         TOO_BIG, "too_large")

    def _handle(self, header, payload, bound):
        """The message ``payload`` completes, or None (a control frame, a fragment)."""
        if header.opcode == PING:
            try:
                self._send_bytes(encode_frame(PONG, payload, os.urandom(4)), bound)
            except WebSocketError:
                self._drop()  # part of the pong may be out: nothing can follow it
                raise
            return None
        if header.opcode == PONG:
            return None
        if header.opcode == CLOSE:
            self._peer_closed(payload)
        if header.opcode != CONTINUATION:
            self._opcode = header.opcode
        self._parts.append(payload)
        self._size += len(payload)
        if not header.fin:
            return None
        opcode, data = self._opcode, b"".join(self._parts)
        self._opcode, self._parts, self._size = None, [], 0
        if opcode == BINARY:
            return data
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            raise _Violation("protocol", INVALID_DATA,
                             "%s sent a text message that is not UTF-8" % self.name) from None

    def _peer_closed(self, payload):
        """Answer the peer's close frame, end the connection and raise ``closed``."""
        if len(payload) == 1:
            raise _Violation("protocol", PROTOCOL_ERROR,
                             "%s sent a close frame with a 1-byte payload" % self.name)
        code, reason = None, ""
        if payload:
            code = struct.unpack_from("!H", payload)[0]
            if code not in _SENDABLE and not 3000 <= code <= 4999:
                raise _Violation("protocol", PROTOCOL_ERROR,
                                 "%s sent the invalid close code %d" % (self.name, code))
            try:
                reason = payload[2:].decode("utf-8")
            except UnicodeDecodeError:
                raise _Violation("protocol", INVALID_DATA, "%s sent a close reason that is not "
                                 "UTF-8" % self.name) from None
        self._send_now(encode_frame(CLOSE, close_payload(code), os.urandom(4)))
        self._drop()
        if code is None:
            said = "no status"
        else:
            said = "%d %s" % (code, CLOSE_NAMES.get(code, "application code"))
        if reason:
            said += ": " + _printable(reason)
        raise WebSocketError("closed", "%s closed the connection (%s)" % (self.name, said), code)

    def _read_header(self, bound):
        while True:
            header = parse_header(self._buffer)
            if header is not None:
                return header
            self._fill(bound)

    def _take(self, header, bound):
        """The payload of the frame ``header`` starts (buffered whole first), then dropped."""
        end = header.size + header.length
        while len(self._buffer) < end:
            self._fill(bound)
        payload = bytes(self._buffer[header.size:end])
        del self._buffer[:end]
        return payload

    def _fill(self, bound):
        """Read what the socket holds into the buffer, waiting for it until ``bound``."""
        sock = self._sock
        while True:
            try:
                data = sock.recv(65536)
            except (BlockingIOError, InterruptedError):
                _wait(sock, False, bound, lambda: self._too_slow(bound))
                continue
            except OSError as err:
                raise self._lost(err) from None
            if not data:
                raise self._ended()
            self._buffer += data
            return

    # -- frames out ----------------------------------------------------------

    def _send_message(self, opcode, payload, deadline):
        self._check_open()
        if deadline is None:
            deadline = time.monotonic() + self.timeout
        bound = _Bound(deadline, round(max(0.0, deadline - time.monotonic()), 3),
                       "send not done within %gs")
        try:
            self._send_bytes(encode_frame(opcode, payload, os.urandom(4)), bound)
        except WebSocketError:
            self._drop()  # part of a frame may be out: nothing can follow it
            raise

    def _send_bytes(self, data, bound):
        view = memoryview(data)
        with self._send_lock:
            sock = self._sock
            if sock is None:
                raise self._closed_error()
            while view:
                try:
                    view = view[sock.send(view):]
                except (BlockingIOError, InterruptedError):
                    _wait(sock, True, bound, lambda: self._too_slow(bound))
                except OSError as err:
                    raise self._lost(err) from None

    def _send_now(self, data):
        """One try at sending ``data`` without waiting: the last words before hanging up."""
        with self._send_lock:
            try:
                if self._sock is not None:
                    self._sock.send(data)
            except OSError:
                pass

    def _fail(self, violation):
        self._send_now(encode_frame(CLOSE, close_payload(violation.code), os.urandom(4)))
        self._drop()
        raise WebSocketError(violation.kind, violation.text) from None

    # -- connecting ----------------------------------------------------------

    def _connect(self, bound):
        try:
            addresses = socket.getaddrinfo(self.host, self.port, type=socket.SOCK_STREAM)
        except OSError as err:
            raise WebSocketError("network", "cannot find %s: %s" % (self.name, describe(err))) \
                from None
        problem = None
        for family, kind, proto, _, address in addresses:
            sock = socket.socket(family, kind, proto)
            sock.setblocking(False)
            with self._lock:
                self._sock = sock
                aborted = self._aborted
            if aborted:
                raise self._closed_error()
            result = sock.connect_ex(address)
            if result in (errno.EINPROGRESS, errno.EWOULDBLOCK, errno.EALREADY, errno.EINTR):
                _wait(sock, True, bound, lambda: self._too_slow(bound))
                result = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if self._aborted:
                raise self._closed_error()
            if result == 0:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                return
            problem = OSError(result, os.strerror(result))
            self._drop_socket()
        raise WebSocketError("network", "cannot connect to %s: %s"
                             % (self.name, describe(problem) if problem else "no address"))

    def _handshake(self, bound):
        key = base64.b64encode(os.urandom(16)).decode("ascii")
        host = _peer(self.host, self.port) if self.port != 80 else self.peer.rpartition(":")[0]
        request = ("GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                   "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n"
                   % (self.resource, host, key))
        self._send_bytes(request.encode("ascii"), bound)
        status, headers = self._read_answer(bound)

        def refuse(text):
            return WebSocketError("protocol", "%s %s" % (self.name, text))

        if status[1] != "101":
            raise refuse("answered %s instead of 101 Switching Protocols"
                         % _printable(" ".join(status[1:]))[:80])
        if headers.get("upgrade", "").strip().lower() != "websocket":
            raise refuse("answered 101 without Upgrade: websocket")
        tokens = [t.strip().lower() for t in headers.get("connection", "").split(",")]
        if "upgrade" not in tokens:
            raise refuse("answered 101 without Connection: Upgrade")
        if headers.get("sec-websocket-accept", "").strip() != accept_key(key):
            raise refuse("answered with a wrong Sec-WebSocket-Accept (not a websocket server, "
                         "or a proxy in between)")
        if headers.get("sec-websocket-extensions", "").strip():
            raise refuse("agreed to an extension that was not asked for: %s"
                         % _printable(headers["sec-websocket-extensions"])[:80])
        if headers.get("sec-websocket-protocol", "").strip():
            raise refuse("chose a subprotocol that was not asked for")

    def _read_answer(self, bound):
        """The handshake answer's status line (split) and headers (lower-case names)."""
        while True:
            if len(self._buffer) >= 5 and not self._buffer.startswith(b"HTTP/"):
                raise WebSocketError("protocol", "%s answered %s, not HTTP"
                                     % (self.name, _preview(self._buffer)))
            end = self._buffer.find(b"\r\n\r\n")
            if end >= 0:
                break
            if len(self._buffer) > MAX_HEAD:
                raise WebSocketError("protocol", "%s sent a handshake answer longer than %s"
                                     % (self.name, size_text(MAX_HEAD)))
            self._fill(bound)
        head = bytes(self._buffer[:end]).decode("latin-1")
        del self._buffer[:end + 4]  # what follows is frames
        lines = head.split("\r\n")
        status = lines[0].split(" ", 2)
        if len(status) < 2 or not status[0].startswith("HTTP/1.") or not status[1].isdigit():
            raise WebSocketError("protocol", "%s answered %r, not an HTTP status line"
                                 % (self.name, lines[0][:40]))
        headers = {}
        for line in lines[1:]:
            name, colon, value = line.partition(":")
            if not colon or not name.strip():
                raise WebSocketError("protocol", "%s sent the malformed header line %r"
                                     % (self.name, line[:40]))
            name = name.strip().lower()
            value = value.strip()
            headers[name] = headers[name] + ", " + value if name in headers else value
        return status, headers

    # -- states and errors ---------------------------------------------------

    def _check_open(self):
        if self._state != "open" or self._aborted:
            raise self._closed_error()

    def _drop_socket(self):
        with self._lock:
            sock, self._sock = self._sock, None
        if sock is not None:
            sock.close()

    def _drop(self):
        """The connection is over: no more frames either way; release the socket."""
        with self._lock:
            self._state = "closed"
        self._drop_socket()

    def _closed_error(self):
        if self._aborted:
            return WebSocketError("closed", "%s: connection aborted" % self.name)
        if self._state in ("new", "connecting"):
            return WebSocketError("closed", "%s: not connected yet" % self.name)
        return WebSocketError("closed", "%s: connection already closed" % self.name)

    def _too_slow(self, bound):
        if self._aborted:
            return self._closed_error()
        return WebSocketError("timeout", "%s: %s" % (self.name, bound.what % bound.seconds))

    def _lost(self, err):
        if self._aborted:
            return self._closed_error()
        if isinstance(err, ConnectionResetError):
            return WebSocketError("network", "%s reset the connection" % self.name)
        return WebSocketError("network", "connection to %s lost: %s" % (self.name, describe(err)))

    def _ended(self):
        if self._aborted:
            return self._closed_error()
        if self._state == "connecting":
            where = "during the handshake"
        elif self._buffer or self._opcode is not None:
            where = "in the middle of a message"
        else:
            where = "without a close frame"
        return WebSocketError("network", "%s closed the connection %s" % (self.name, where))
