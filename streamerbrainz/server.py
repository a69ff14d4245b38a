"""HTTP connections for a small threaded server: the accept loop and its workers.

The accept thread reads each request itself, without blocking, and hands
the connection to a worker thread only once the whole request is in (or
its head, for a large body): idle, slow and half-sent connections cost no
thread. At most ``max_connections`` workers run at once; a request beyond
that gets 503. Every request must arrive within ``READ_DEADLINE`` seconds.
A kept-alive connection goes back to the accept thread between requests.
The accept thread wakes only for sockets, never on a timer, except to
expire connections that sent nothing in time.
"""

import http.server
import io
import queue
import re
import selectors
import socket
import socketserver
import threading
import time

from streamerbrainz.log import get_logger
from streamerbrainz.repeats import RepeatFilter

log = get_logger("http")

READ_DEADLINE = 10.0
MAX_HEAD_BYTES = 32 * 1024
MAX_REQUESTS_PER_CONNECTION = 100
MAX_WAITING_CONNECTIONS = 1024
PREREAD_BODY_LIMIT = 1024 * 1024

_REQUEST_LINE = re.compile(rb"[A-Za-z]{1,20} [^ \r\n]+ HTTP/\d\.\d\r?\n")
_HEAD_END = re.compile(rb"\r?\n\r?\n")
_CONTENT_LENGTH = re.compile(rb"\ncontent-length:[ \t]*(\d+)[ \t]*\r?\n", re.IGNORECASE)
_EXPECT_CONTINUE = re.compile(rb"\nexpect:[ \t]*100-continue", re.IGNORECASE)


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


class _Pending:
    """A connection the accept thread reads until its request is in."""

    __slots__ = ("address", "deadline", "received")

    def __init__(self, address, deadline):
        self.address = address
        self.deadline = deadline
        self.received = bytearray()



class DeadlineHandler(http.server.BaseHTTPRequestHandler):
    """A request handler that reads through the deadline reader and parks when idle."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in two writes

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


class BoundedServer(socketserver.TCPServer):
    """Accepts connections on one thread and serves each request on a bounded worker.

    ``serve()`` blocks until ``stop()``; ``close()`` then waits for workers.
    """

    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address, handler_class, max_connections=32):
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        super().__init__(address, handler_class)
        self._slots = threading.BoundedSemaphore(max_connections)
        self._wake_r, self._wake_w = socket.socketpair()
        self._parked = queue.Queue()
        self._stopped = False
        self._lock = threading.Lock()
        self._active = {}
        self._carried = {}  # socket -> (requests served, bytes received), between threads
        self._busy = RepeatFilter()

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
