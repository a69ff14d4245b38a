"""HTTP plumbing with no domain words: deadlines for a whole answer, the one direct opener.

Every outgoing request of the project goes through ``direct_opener``: no
proxy (a token or a secret must never travel through one) and no
redirect. ``Deadline`` bounds a whole answer, connect to last byte, not
only each read. Errors are ``RequestError`` with a ``kind`` a caller can
reason about and a message that names no secret.
"""

import http.client
import io
import socket
import threading
import time
import urllib.parse


class RequestError(Exception):
    """A failed HTTP request.

    ``kind`` is one of ``network``, ``timeout``, ``http``, ``auth``,
    ``certificate`` or ``malformed``; ``retryable`` says whether asking
    again may help.
    """

    def __init__(self, kind, message, status=0):
        super().__init__(message)
        self.kind = kind
        self.status = status

    @property
    def retryable(self):
        if self.kind in ("network", "timeout"):
            return True
        return self.kind == "http" and (self.status >= 500 or self.status == 429)


class Deadline:
    """One moment by which a whole answer (connect, head and body) must be in.

    ``extend`` moves it on: a stream gives each of its events a bound of
    its own.
    """

    def __init__(self, seconds, clock=time.monotonic):
        self.seconds = seconds
        self.clock = clock
        self.at = clock() + seconds

    def remaining(self):
        return self.at - self.clock()

    def extend(self, seconds):
        self.seconds = seconds
        self.at = self.clock() + seconds


QUICKACK = getattr(socket, "TCP_QUICKACK", None)  # Linux


class _DeadlineReader(io.RawIOBase):
    """A socket's reader whose every read waits only until the deadline."""

    def __init__(self, sock, deadline):
        super().__init__()
        self._sock = sock
        self._raw = sock.makefile("rb", buffering=0)  # keeps the socket open while read
        self._deadline = deadline

    def readable(self):
        return True

    def readinto(self, buffer):
        self._sock.settimeout(_left(self._deadline))
        if QUICKACK:
            # Acknowledge at once: on a kept-alive connection a server that writes its head
            # and its body apart (Nagle) would wait for our delayed ACK, 40 ms each answer.
            try:
                self._sock.setsockopt(socket.IPPROTO_TCP, QUICKACK, 1)
            except OSError:
                pass
        return self._raw.readinto(buffer)

    def close(self):
        self._raw.close()
        super().close()


def _left(deadline):
    remaining = deadline.remaining()
    if remaining <= 0:
        raise socket.timeout("deadline passed")
    return remaining


class _DeadlineSocket:
    """A connected socket whose sends and reads all end by one deadline."""

    def __init__(self, sock, registry):
        self._sock = sock
        self._registry = registry

    def __getattr__(self, name):
        return getattr(self._sock, name)

    def sendall(self, data, *args):
        self._sock.settimeout(_left(self._registry.deadline))
        return self._sock.sendall(data, *args)

    def makefile(self, mode="rb", *args, **kwargs):
        return io.BufferedReader(_DeadlineReader(self._sock, self._registry.deadline))


class Connections:
    """Remembers the socket in use so another thread can cut it.

    The socket itself is kept, not the connection: urllib detaches it from
    the connection once the answer's headers are in, while its body may
    still be read (a notification stream is read for hours).
    """

    def __init__(self, deadline=None):
        self.lock = threading.Lock()
        self.current = None
        self.aborted = False
        self.deadline = deadline  # the request in flight's; set before each one

    def track(self, connection):
        with self.lock:
            self.current = connection.sock
            if self.aborted:
                self._shutdown(self.current)

    def abort(self):
        with self.lock:
            self.aborted = True
            if self.current is not None:
                self._shutdown(self.current)

    @staticmethod
    def _shutdown(sock):
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


class _Tracked:
    """Mixed into a connection class: tells ``registry`` its socket once connected.

    Once connected, every send and read ends by ``registry.deadline``.
    """

    registry = None

    def connect(self):
        super().connect()
        self.registry.track(self)
        if self.registry.deadline is not None:
            self.sock = _DeadlineSocket(self.sock, self.registry)


def tracking_handler(registry, context=None):
    """A urllib handler that opens http and https connections ``registry`` can cut.

    urllib.request is imported here, on the first request that needs it:
    the daemon's hot path (``KeptConnection``) and its start never do.
    """
    import urllib.request

    class TrackingHandler(urllib.request.AbstractHTTPHandler):
        http_request = https_request = urllib.request.AbstractHTTPHandler.do_request_

        def __init__(self):
            super().__init__()
            extra = {"registry": registry}
            self.http_class = type("HTTPConnection", (_Tracked, http.client.HTTPConnection),
                                   extra)
            self.https_class = type("HTTPSConnection", (_Tracked, http.client.HTTPSConnection),
                                    extra)

        def http_open(self, req):
            return self.do_open(self.http_class, req)

        def https_open(self, req):
            return self.do_open(self.https_class, req, context=context)

    return TrackingHandler()


class ConnectFailed(Exception):
    """A ``KeptConnection`` could not connect: ``reason`` is the error (as urllib's
    ``URLError.reason``)."""

    def __init__(self, reason):
        super().__init__(str(reason))
        self.reason = reason


class KeptConnection:
    """One HTTP or HTTPS connection kept open from one request to the next, for one thread.

    A fetch that comes every few seconds saves the TCP (and TLS) set-up
    each time. Every request ends, connect to last byte, by its
    ``deadline``; any failure drops the connection, and the next request
    makes a new one. A connection the server closed while idle is found at
    the next request, which then goes once more on a new one (a GET may be
    asked twice). ``registry`` (``Connections``) lets another thread cut it.
    """

    def __init__(self, base_url, registry, context=None):
        parts = urllib.parse.urlsplit(base_url)
        self.https = parts.scheme == "https"
        self.host = parts.hostname
        self.port = parts.port or (443 if self.https else 80)
        self.prefix = parts.path.rstrip("/")  # a server behind a path: https://host/plex
        self.registry = registry
        self.context = context
        self._connection = None
        base = http.client.HTTPSConnection if self.https else http.client.HTTPConnection
        self._class = type(base.__name__, (_Tracked, base), {"registry": registry})

    def get(self, path, headers, deadline):
        """Send a GET of ``path``; the response, its head read (its body is the caller's to
        read whole, then ``done``). ConnectFailed, OSError or HTTPException on failure."""
        reused = self._connection is not None
        try:
            return self._ask(path, headers, deadline)
        except ConnectFailed:
            self.close()
            raise
        except (OSError, http.client.HTTPException):
            self.close()
            if not reused or self.registry.aborted or deadline.remaining() <= 0:
                raise
        return self._ask(path, headers, deadline)  # the server had closed it while idle

    def _ask(self, path, headers, deadline):
        self.registry.deadline = deadline
        if self._connection is None:
            options = {"context": self.context} if self.https else {}
            connection = self._class(self.host, self.port,
                                     timeout=max(0.001, deadline.remaining()), **options)
            self._connection = connection
            try:
                connection.connect()
            except OSError as err:
                raise ConnectFailed(err) from None
        connection = self._connection
        connection.request("GET", self.prefix + path, headers=headers)
        response = connection.getresponse()
        if response.will_close:
            self._connection = None  # the server ends it after this answer: read, then gone
        return response

    def done(self, response, whole):
        """After reading ``response``: keep the connection only when its body was read whole."""
        if not whole or not response.isclosed():
            self.close()

    def close(self):
        connection, self._connection = self._connection, None
        if connection is not None:
            connection.close()

    __del__ = close  # an owner dropped with its connection idle closes it, quietly


def deadline_opener(deadline, context=None):
    """A ``direct_opener`` whose requests all end (connect, head and body) by ``deadline``.

    Open with ``timeout=deadline.remaining()`` and read with ``read_within``.
    Its ``abort()`` (from any thread) cuts the request in flight and every
    later one.
    """
    connections = Connections(deadline)
    opener = direct_opener(tracking_handler(connections, context))
    opener.abort = connections.abort
    return opener


def direct_opener(*handlers):
    """urllib with ``handlers`` and nothing that would send a request elsewhere.

    No proxy (the token must not travel through one), no redirect (a
    redirected POST would arrive as a GET without its body).
    """
    import urllib.request
    opener = urllib.request.OpenerDirector()
    for handler in (urllib.request.UnknownHandler(),) + handlers + (
            urllib.request.HTTPErrorProcessor(), urllib.request.HTTPDefaultErrorHandler()):
        opener.add_handler(handler)
    return opener


def too_slow(name, deadline, hint=""):
    """The RequestError for an answer not complete by its deadline."""
    return RequestError("timeout", "%s answer too slow: not complete within %gs%s"
                     % (name, deadline.seconds, " (%s)" % hint if hint else ""))


def read_within(answer, limit, deadline, name, sink=None, hint=""):
    """Read a whole answer by ``deadline``; None when it is longer than ``limit``.

    With ``sink``, each chunk goes to it (and b"" is returned) instead of
    being kept. An answer from a ``TrackingHandler`` opener cannot
    outlive the deadline; any other is checked between reads. Raises
    RequestError (``timeout`` or ``network``).
    """
    chunks, total = [], 0
    try:
        while True:
            if deadline.remaining() <= 0:
                raise socket.timeout()
            # One read(limit + 1) would make some Python versions allocate
            # (and keep) a buffer of the full limit for every answer.
            chunk = answer.read(min(65536, limit + 1 - total))
            if not chunk:
                return b"".join(chunks)
            total += len(chunk)
            if total > limit:
                return None
            if sink is None:
                chunks.append(chunk)
            else:
                sink(chunk)
    except socket.timeout:
        raise too_slow(name, deadline, hint) from None
    except (OSError, http.client.HTTPException) as err:
        raise RequestError("network", "connection to %s failed: %s"
                        % (name, describe(err))) from None


def get_within(request, limit, seconds, name, hint="", context=None):
    """GET ``request`` (a URL or a Request) whole within ``seconds``, no more than ``limit`` bytes.

    Returns the body, or None when it is longer than ``limit``. Raises
    RequestError: ``timeout`` (``<name> answer too slow ...``), ``http`` (with
    the status) or ``network``.
    """
    import urllib.error
    deadline = Deadline(seconds)
    try:
        with deadline_opener(deadline, context).open(request, timeout=seconds) as answer:
            return read_within(answer, limit, deadline, name, hint=hint)
    except urllib.error.HTTPError as err:
        err.close()
        raise RequestError("http", "%s answered %d %s" % (name, err.code, err.reason),
                        err.code) from None
    except urllib.error.URLError as err:
        if isinstance(err.reason, socket.timeout):
            raise too_slow(name, deadline, hint) from None
        raise RequestError("network", "cannot reach %s: %s" % (name, describe(err.reason))) \
            from None
    except socket.timeout:
        raise too_slow(name, deadline, hint) from None
    except (OSError, http.client.HTTPException) as err:
        raise RequestError("network", "connection to %s failed: %s" % (name, describe(err))) \
            from None


def size_text(limit):
    mib = limit / (1024 * 1024)
    return "%g MiB" % mib if mib >= 1 else "%d KiB" % (limit // 1024)


def describe(err):
    if isinstance(err, OSError) and err.strerror:
        return err.strerror.lower()
    text = str(err) or type(err).__name__
    return text
