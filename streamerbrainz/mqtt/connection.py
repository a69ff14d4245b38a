"""One connection to an MQTT broker: TCP or TLS, with a deadline on every step.

``Connection.open`` connects, does the TLS handshake (``mqtts://``),
sends CONNECT and reads CONNACK, all by one deadline. After that the
socket is non-blocking: ``receive()`` takes what has arrived (never
waiting), ``send()`` writes a packet by a deadline, and the owner waits
for readability itself (on ``fileno()``), beside whatever else it waits
on. ``abort()`` cuts the connection from any thread. The password never
appears in an error.
"""

import errno
import os
import socket
import ssl
import time

from streamerbrainz.lib.sockets import ready
from streamerbrainz.mqtt import packets

READ_SIZE = 65536


class MQTTError(Exception):
    """A connection failed: ``kind`` is network, timeout, tls, refused, protocol or closed."""

    def __init__(self, kind, message, code=None):
        super().__init__(message)
        self.kind = kind
        self.code = code  # a refused CONNACK's return code


class Connection:
    """A client connection to one broker; ``name`` (e.g. ``MQTT broker host:1883``) starts
    every error message."""

    def __init__(self, host, port, tls=None, name=None, limit=256 * 1024):
        self.host = host
        self.port = port
        self.tls = tls  # an ssl.SSLContext for mqtts://, else None
        self.name = name or "MQTT broker %s:%d" % (host, port)
        self.decoder = packets.Decoder(limit)
        self._sock = None
        self._aborted = False
        self._ended = False  # the broker closed after the packets last returned

    def fileno(self):
        return self._sock.fileno()

    def open(self, connect_packet, timeout):
        """Connect and log in within ``timeout`` seconds; the broker's ``Connack``.

        A refused login raises MQTTError ``refused`` with the return code.
        """
        deadline = time.monotonic() + timeout
        try:
            self._connect(deadline)
            if self.tls is not None:
                self._handshake(deadline)
            self.send(connect_packet, deadline)
            while True:
                for answer in self._read(deadline):
                    if not isinstance(answer, packets.Connack):
                        raise MQTTError("protocol", "%s: answered CONNECT with %s, not CONNACK"
                                        % (self.name, type(answer).__name__))
                    if answer.code:
                        raise MQTTError("refused", "%s: %s (CONNACK %d)" % (
                            self.name, packets.REFUSED.get(
                                answer.code, "the broker refused the connection"),
                            answer.code), answer.code)
                    return answer
        except BaseException:
            self.close()
            raise

    def send(self, data, deadline):
        """Write all of ``data`` by monotonic ``deadline``, or raise MQTTError."""
        view = memoryview(data)
        while view:
            sock = self._sock
            if sock is None:
                raise self._closed()
            try:
                view = view[sock.send(view):]
                continue
            except (BlockingIOError, InterruptedError, ssl.SSLWantWriteError):
                writing = True
            except ssl.SSLWantReadError:
                writing = False
            except OSError as err:
                raise self._lost(err) from None
            if not ready(sock, writing, deadline):
                raise MQTTError("timeout", "%s: takes no more data (a stalled broker?)"
                                % self.name)

    def receive(self):
        """The packets that have arrived whole, without waiting; MQTTError when it ended."""
        found = []
        sock = self._sock
        if sock is None or self._ended:
            raise self._closed()
        while True:
            try:
                data = sock.recv(READ_SIZE)
            except (BlockingIOError, InterruptedError, ssl.SSLWantReadError,
                    ssl.SSLWantWriteError):
                return found
            except OSError as err:
                raise self._lost(err) from None
            if not data:
                if found:  # what came before the end first (a refusal's CONNACK)
                    self._ended = True
                    return found
                raise self._closed()
            found += self._decode(data)

    def abort(self):
        """Cut the connection now, from any thread: the owner's next call raises."""
        self._aborted = True
        sock = self._sock
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def close(self):
        sock, self._sock = self._sock, None
        if sock is not None:
            try:
                sock.close()
            except OSError:
                pass

    # -- the steps of open ------------------------------------------------------------

    def _read(self, deadline):
        """Wait for at least one whole packet by ``deadline``; return what arrived."""
        while True:
            found = self.receive()
            if found:
                return found
            if not ready(self._sock, False, deadline):
                raise MQTTError("timeout", "%s: no CONNACK in time" % self.name)

    def _decode(self, data):
        try:
            return self.decoder.feed(data)
        except packets.ProtocolError as err:
            raise MQTTError("protocol", "%s: %s" % (self.name, err)) from None

    def _connect(self, deadline):
        try:
            addresses = socket.getaddrinfo(self.host, self.port, type=socket.SOCK_STREAM)
        except OSError as err:
            raise MQTTError("network", "cannot find %s: %s" % (self.name, _reason(err))) \
                from None
        problem = None
        for family, kind, proto, _, address in addresses:
            sock = socket.socket(family, kind, proto)
            sock.setblocking(False)
            self._sock = sock
            if self._aborted:
                raise self._closed()
            result = sock.connect_ex(address)
            if result in (errno.EINPROGRESS, errno.EWOULDBLOCK, errno.EALREADY, errno.EINTR):
                if not ready(sock, True, deadline):
                    raise MQTTError("timeout", "cannot connect to %s: no answer in time"
                                    % self.name)
                result = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if result == 0:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                return
            problem = OSError(result, os.strerror(result))
            self.close()
        raise MQTTError("network", "cannot connect to %s: %s"
                        % (self.name, _reason(problem) if problem else "no address"))

    def _handshake(self, deadline):
        try:
            self._sock = self.tls.wrap_socket(self._sock, server_hostname=self.host,
                                              do_handshake_on_connect=False)
        except (OSError, ValueError) as err:
            raise MQTTError("tls", "%s: TLS: %s" % (self.name, _reason(err))) from None
        while True:
            try:
                self._sock.do_handshake()
                return
            except ssl.SSLWantReadError:
                writing = False
            except ssl.SSLWantWriteError:
                writing = True
            except ssl.SSLCertVerificationError as err:
                raise MQTTError("tls", "%s: its certificate was not accepted: %s"
                                % (self.name, err.verify_message or _reason(err))) from None
            except (ssl.SSLError, OSError) as err:
                raise MQTTError("tls", "%s: TLS handshake failed: %s"
                                % (self.name, _reason(err))) from None
            if not ready(self._sock, writing, deadline):
                raise MQTTError("timeout", "%s: TLS handshake not done in time" % self.name)

    def _lost(self, err):
        if self._aborted:
            return self._closed()
        return MQTTError("network", "%s: connection lost: %s" % (self.name, _reason(err)))

    def _closed(self):
        return MQTTError("closed", "%s: closed the connection" % self.name)


def _reason(err):
    return (getattr(err, "strerror", None) or getattr(err, "reason", None) or str(err)
            or type(err).__name__).lower()
