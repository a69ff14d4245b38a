"""The read-ahead budget and worker slots of the HTTP server, in process.

A WebhookServer with a small budget on a loopback port: which connection
gives way when memory is short, and how busy answers are logged.
"""

import logging
import queue
import socket
import time
import unittest
from unittest import mock

from streamerbrainz.web import live
from streamerbrainz.web import server
from streamerbrainz.plex import payloads
from streamerbrainz.web.routes import WebhookServer
from tests.support.daemon import wait_for
from tests.support.webhooks import head, read_status

KIB = 1024


class BudgetCase(unittest.TestCase):

    def start_server(self, **kwargs):
        self.server = WebhookServer(("127.0.0.1", 0), queue.Queue(16), payloads.read, **kwargs)
        self.server.start()
        self.addCleanup(lambda: self.assertTrue(self.server.stop(time.monotonic() + 5)))
        return self.server.server_address[1]

    def connect(self, port, data):
        sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        self.addCleanup(sock.close)
        sock.sendall(data)
        return sock


class ReadAheadTests(BudgetCase):

    def test_the_slowest_connection_gives_way_to_one_that_needs_the_memory(self):
        port = self.start_server(max_preread=300 * KIB)
        # Every connection counts as old and slow enough to give way.
        with mock.patch.object(server, "BODY_GRACE", 0.0), \
                mock.patch.object(server, "SLOW_RATE", float("inf")), \
                self.assertLogs("streamerbrainz.web.routes", logging.WARNING) as logs:
            slow = self.connect(port, head(length=200 * KIB) + b"a" * (150 * KIB))
            self.assertTrue(wait_for(lambda: self.server._used() >= 150 * KIB))
            body = b'{"event": "media.play"}'.ljust(200 * KIB)
            fast = self.connect(port, head(length=len(body)) + body)
            self.assertEqual(read_status(slow), 503)
            self.assertEqual(read_status(fast), 200)
        self.assertEqual([r.getMessage() for r in logs.records],
                         ["read-ahead memory full; the slowest connection answered 503"])

    def test_memory_is_free_again_once_a_request_is_answered(self):
        port = self.start_server(max_preread=300 * KIB)
        body = b'{"event": "media.play"}'.ljust(200 * KIB)
        for _ in range(3):
            sock = self.connect(port, head(length=len(body)) + body)
            self.assertEqual(read_status(sock), 200)
        self.assertTrue(wait_for(lambda: self.server._used() == 0), self.server._used())


class BusyTests(BudgetCase):

    def test_requests_beyond_the_workers_get_503_and_one_warning(self):
        hub = live.EventHub()
        port = self.start_server(max_connections=1, hub=hub)
        self.addCleanup(hub.close)  # before the server stops, as in the daemon
        events = self.connect(port, b"GET /events HTTP/1.1\r\nHost: x\r\n\r\n")
        self.assertEqual(read_status(events), 200)  # holds the only worker
        with self.assertLogs("streamerbrainz.web.server", logging.DEBUG) as logs:
            for _ in range(5):
                sock = self.connect(port, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
                self.assertEqual(read_status(sock), 503)
        warnings = [r for r in logs.records if r.levelno == logging.WARNING]
        self.assertEqual(len(warnings), 1, [r.getMessage() for r in logs.records])


if __name__ == "__main__":
    unittest.main()
