"""The HTTP server as a service: its accept thread, its workers, its stop (issue 10).

A worker that cannot start is answered 503 and survived; ``alive()`` says
whether the accept thread runs; the server is no ``socketserver`` (whose
``shutdown()`` and ``serve_forever()`` would break its bounds); and
``stop(deadline)`` ends the accept thread before it closes the listening
socket, never under a ``select`` still running.
"""

import contextlib
import logging
import queue
import selectors
import socket
import socketserver
import threading
import time
import unittest
from unittest import mock

from streamerbrainz.lib.service import Service
from streamerbrainz.plex import payloads
from streamerbrainz.web.routes import WebhookServer
from streamerbrainz.web.server import BoundedServer
from tests.support import webhooks
from tests.support import logs
from tests.support.daemon import wait_for

HEALTHZ = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"


@contextlib.contextmanager
def recorded(name="streamerbrainz"):
    """Every LogRecord of ``name`` at DEBUG and above."""
    with logs.captured(name) as handler:
        yield handler.raw


@contextlib.contextmanager
def thread_deaths():
    """Exceptions that escape a thread (``threading.excepthook``), instead of stderr."""
    deaths = []
    with mock.patch.object(threading, "excepthook", deaths.append):
        yield deaths


def failures(records):
    """Records at ERROR or with an exception: what a clean stop never logs."""
    return ["%s %s" % (r.getMessage(), getattr(r, "fields", "")) for r in records
            if r.levelno >= logging.ERROR or r.exc_info]


class ServiceCase(unittest.TestCase):

    def make_server(self, **kwargs):
        server = WebhookServer(("127.0.0.1", 0), queue.Queue(16), payloads.read, **kwargs)
        self.addCleanup(lambda: server.stop(time.monotonic() + 2))  # a no-op once stopped
        return server

    def start_server(self, **kwargs):
        server = self.make_server(**kwargs)
        serve = server.serve
        server.open_to_the_end = []

        def watched_serve():
            try:
                serve()
            finally:  # whether stop() left the listener and the wake socket open meanwhile
                server.open_to_the_end.append(server.socket.fileno() != -1
                                              and server._wake_r.fileno() != -1)

        server.serve = watched_serve  # what start() runs on the accept thread
        server.start()
        return server

    def connect(self, server, data=b""):
        sock = socket.create_connection(("127.0.0.1", server.server_address[1]), timeout=2)
        self.addCleanup(sock.close)
        if data:
            sock.sendall(data)
        return sock

    def get(self, server, path="/healthz"):
        return webhooks.request(server.server_address[1], "GET", path, timeout=2)


class ContractTests(ServiceCase):

    def test_the_server_is_a_service_and_no_socketserver(self):
        self.assertTrue(issubclass(BoundedServer, Service))
        self.assertFalse(issubclass(BoundedServer, socketserver.BaseServer))
        server = self.make_server()
        self.assertNotIsInstance(server, socketserver.BaseServer)
        for name in ("serve_forever", "shutdown", "handle_request", "server_close"):
            with self.subTest(name=name):
                self.assertFalse(hasattr(server, name), "%s would serve without the bounds "
                                 "or block forever" % name)

    def test_alive_is_the_accept_thread_from_start_to_stop(self):
        server = self.make_server()
        self.assertFalse(server.alive())
        server.start()
        self.assertTrue(server.alive())
        self.assertEqual(self.get(server)[0], 200)
        self.assertTrue(server.stop(time.monotonic() + 2))
        self.assertFalse(server.alive())


class WorkerStartTests(ServiceCase):

    def busy_kept_worker(self):
        """A server whose kept worker is busy with a /healthz until ``release`` is set."""
        release, busy = threading.Event(), threading.Event()

        def health():
            if not busy.is_set():
                busy.set()
                release.wait(5)
            return {"status": "ok"}
        server = self.start_server(health=health)
        first = self.connect(server, HEALTHZ)
        self.assertTrue(busy.wait(5))
        self.addCleanup(release.set)
        return server, release, first

    def test_requests_one_at_a_time_start_no_thread(self):
        server = self.start_server()
        real_start = threading.Thread.start
        started = []

        def start(thread):
            started.append(thread.name)
            return real_start(thread)

        with mock.patch.object(threading.Thread, "start", start):
            for _ in range(3):
                self.assertEqual(self.get(server)[0], 200)
        self.assertEqual(started, [], "the kept worker took each")

    def test_a_worker_that_cannot_start_is_503_one_warning_and_survived(self):
        server, release, first = self.busy_kept_worker()
        real_start = threading.Thread.start

        def start(thread):
            if thread.name == "http":  # the workers only; no other thread starts meanwhile
                raise RuntimeError("can't start new thread")
            return real_start(thread)

        with recorded() as records, thread_deaths() as deaths:
            with mock.patch.object(threading.Thread, "start", start):
                for _ in range(3):
                    status, headers, _ = self.get(server)
                    self.assertEqual(status, 503)
                    self.assertEqual(headers.get("retry-after"), "1")
                self.assertTrue(server.alive())
            release.set()
            self.assertIn(b" 200 ", first.recv(4096).split(b"\r\n")[0] + b" ")
            self.assertTrue(wait_for(lambda: server._idle == 1))
            self.assertEqual(self.get(server)[0], 200)
        self.assertTrue(server.alive())
        self.assertEqual(deaths, [])
        self.assertEqual(failures(records), [])
        warnings = [r for r in records if r.levelno == logging.WARNING]
        self.assertEqual([r.getMessage() for r in warnings],
                         ["cannot start a worker thread; answering 503"])
        self.assertEqual(warnings[0].fields.get("client"), "127.0.0.1")
        # What the worker would have held is free again.
        self.assertTrue(wait_for(lambda: server._used() == 0), server._used())
        self.assertTrue(server.stop(time.monotonic() + 2))

    def test_alive_is_false_once_the_accept_thread_died(self):
        server = self.start_server()
        self.assertTrue(server.alive())
        with thread_deaths() as deaths, recorded():
            # An exception that escapes the loop (past the per-connection handler).
            with mock.patch.object(server, "_expire", side_effect=RuntimeError("boom")):
                sock = self.connect(server)  # wakes the loop, which then calls _expire
                self.assertTrue(wait_for(lambda: not server.alive()), "accept thread alive")
            self.assertEqual([type(d.exc_value) for d in deaths], [RuntimeError])
            self.assertEqual(deaths[0].thread.name, "accept")
        self.assertFalse(server.alive())
        sock.settimeout(2)
        self.assertEqual(sock.recv(1), b"")  # nothing will ever answer it
        self.assertTrue(server.stop(time.monotonic() + 2))
        self.assertFalse(server.alive())


class StopTests(ServiceCase):

    def test_stop_with_connections_in_flight_ends_cleanly_every_time(self):
        with recorded() as records, thread_deaths() as deaths:
            for round_ in range(20):
                with self.subTest(round=round_):
                    server = self.start_server()
                    # One request half sent (the accept thread holds it), one whole
                    # one just sent, one connection that sent nothing yet.
                    partial = self.connect(server, b"POST /webhooks/plex HTTP/1.1\r\nHost: x\r\n")
                    self.assertTrue(wait_for(lambda: server._waiting))
                    whole = self.connect(server, HEALTHZ)
                    idle = self.connect(server)
                    self.assertTrue(server.alive())
                    self.assertTrue(server.stop(time.monotonic() + 2))
                    self.assertFalse(server.alive())
                    self.assertEqual(server.open_to_the_end, [True],
                                     "a socket closed under the accept thread")
                    self.assertEqual(server.socket.fileno(), -1, "listening socket left open")
                    for sock in (partial, idle):
                        try:
                            self.assertEqual(sock.recv(4096), b"")
                        except ConnectionResetError:
                            pass
                    whole.close()
        self.assertEqual(deaths, [])
        self.assertEqual(failures(records), [])

    def test_a_stop_past_its_deadline_never_closes_the_socket_under_the_accept_thread(self):
        server = self.start_server()
        entered, release = threading.Event(), threading.Event()
        screen = server.screen

        def blocking_screen(head, address):
            entered.set()
            release.wait(5)
            return screen(head, address)

        server.screen = blocking_screen
        self.addCleanup(release.set)
        with recorded() as records, thread_deaths() as deaths:
            sock = self.connect(server, HEALTHZ)
            self.assertTrue(entered.wait(2))  # the accept thread is busy, not in select
            self.assertFalse(server.stop(time.monotonic() - 1))
            self.assertTrue(server.alive())
            self.assertNotEqual(server.socket.fileno(), -1, "closed under the accept thread")
            self.assertNotEqual(server._wake_r.fileno(), -1)
            self.assertNotEqual(server._wake_w.fileno(), -1)
            release.set()
            self.assertTrue(server.stop(time.monotonic() + 2))
            self.assertFalse(server.alive())
            self.assertEqual(server.open_to_the_end, [True])
            self.assertEqual(server.socket.fileno(), -1)
            sock.close()
        self.assertEqual(deaths, [])
        self.assertEqual(failures(records), [])



class IdleTests(ServiceCase):

    def test_connections_gone_leave_the_accept_thread_asleep_without_a_timeout(self):
        timeouts = []

        class RecordingSelector(selectors.DefaultSelector):
            def select(self, timeout=None):  # what the accept thread waits for
                timeouts.append(timeout)
                return super().select(timeout)

        patch = mock.patch("selectors.DefaultSelector", RecordingSelector)
        patch.start()
        self.addCleanup(patch.stop)
        server = self.make_server()
        server.start()
        for _ in range(5):  # kept alive by the server, then closed by the client
            status, _, _ = self.get(server)
            self.assertEqual(status, 200)
        self.assertTrue(wait_for(lambda: timeouts and timeouts[-1] is None
                                 and not server._waiting, 5),
                        "the accept thread still wakes for a connection that is gone: "
                        "its last timeouts %r" % timeouts[-3:])


if __name__ == "__main__":
    unittest.main()
