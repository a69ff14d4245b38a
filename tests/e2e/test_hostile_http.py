"""The HTTP budget under attack: the real daemon beside hostile clients on loopback.

Each case attacks as a client on the LAN could, reads the daemon's memory
and CPU time from /proc before and after, and checks that a real webhook
is still answered 200 in between (README, "The budget").
"""

import concurrent.futures
import contextlib
import socket
import unittest

from tests.support import procstat, webhooks
from tests.support.daemon import E2ECase, start_daemon, start_stub
from tests.support.webhooks import head, read_status

MIB = 1024 * 1024


def connect(port, source="127.0.0.1", timeout=5):
    """A fresh loopback connection to the daemon from ``source``."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    sock.bind((source, 0))
    sock.connect(("127.0.0.1", port))
    return sock


def read_answer(sock):
    """Everything the daemon sends until it closes the connection."""
    data = b""
    with contextlib.suppress(ConnectionResetError, socket.timeout):
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    return data


class HostileCase(E2ECase):
    """A daemon beside a stand-in Plex, with its cost read before each attack."""

    extra_args = ()

    def setUp(self):
        self.start_plex_and_daemon(extra_args=self.extra_args)
        self.pid = self.daemon.pid
        self.cpu_before = procstat.cpu_seconds(self.pid)
        self.sockets = []
        self.addCleanup(self.close_sockets)

    def close_sockets(self):
        for sock in self.sockets:
            sock.close()

    def open(self, count, data=b"", source="127.0.0.1"):
        """Open ``count`` connections and send ``data`` on each; keep them open."""
        opened = []
        for _ in range(count):
            sock = connect(self.daemon.port, source)
            self.sockets.append(sock)
            if data:
                sock.sendall(data)
            opened.append(sock)
        return opened

    def assert_real_webhook_answered(self):
        status, _, body = webhooks.post_webhook(self.daemon.port, "payload_play.json",
                                                thumb=True, timeout=3)
        self.assertEqual(status, 200, body)

    def assert_within_budget(self, cpu_limit):
        rss = procstat.peak_rss_mib(self.pid)
        self.assertLess(rss, procstat.BUDGET_RSS_MIB, "peak RSS %.1f MiB" % rss)
        cpu = procstat.cpu_seconds(self.pid) - self.cpu_before
        self.assertLess(cpu, cpu_limit, "the attack cost %.2f s of CPU" % cpu)
        self.assertEqual(self.daemon.count("Traceback"), 0, self.daemon.log())


class PreReadTests(HostileCase):

    def test_bodies_for_an_unknown_path_are_refused_from_the_head(self):
        opened = self.open(300, head("/nowhere", MIB))
        statuses = [read_status(sock) for sock in opened]  # no byte of a body sent
        self.assertEqual(set(statuses), {404})
        self.assert_real_webhook_answered()
        self.assert_within_budget(cpu_limit=5)

    def test_many_large_bodies_at_once_stay_within_the_read_ahead_budget(self):
        body = b'{"event": "media.play", "x": "' + b"a" * (MIB - 40) + b'"}'

        def upload(_):
            with connect(self.daemon.port, timeout=10) as sock:
                try:
                    sock.sendall(head(length=len(body)) + body)
                except OSError:
                    pass
                return read_status(sock)

        with concurrent.futures.ThreadPoolExecutor(40) as pool:
            statuses = list(pool.map(upload, range(200)))
        self.assertLessEqual(set(statuses), {400, 503, 0}, statuses)
        self.assertIn(400, statuses)  # read whole and refused: the payload is over 256 KiB
        if 503 in statuses:  # memory was short: the slowest gave way, said once
            self.assertEqual(self.daemon.count("[WARN] read-ahead memory full"), 1,
                             self.daemon.log())
        self.assert_real_webhook_answered()
        self.assert_within_budget(cpu_limit=20)


class MultipartTests(HostileCase):

    def test_bodies_of_nothing_but_boundaries_cost_little(self):
        bomb = b"--XyZ\r\n\r\n" * (8 * MIB // 9)
        request = (b"POST /webhooks/plex HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/"
                   b"form-data; boundary=XyZ\r\nContent-Length: %d\r\n\r\n" % len(bomb)) + bomb

        def send(_):
            with connect(self.daemon.port, timeout=10) as sock:
                with contextlib.suppress(OSError):  # a connection shed with 503
                    sock.sendall(request)
                return read_answer(sock)

        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(send, range(8)))
        for answer in answers:
            # 400 once read; 503 or 408 for a body that waited for memory too long.
            self.assertRegex(answer[:20], rb"^HTTP/1\.1 (400|503|408) ", answer[:200])
        self.assertTrue(any(b"more than 16 parts" in answer for answer in answers))
        self.assert_real_webhook_answered()
        # Reading 64 MiB costs CPU; parsing the parts must not (7 s per body before).
        self.assert_within_budget(cpu_limit=4)


class WorkerSlotTests(HostileCase):

    def test_incomplete_requests_hold_no_worker(self):
        self.open(40, b"GET /x")  # a request line without a version, and nothing more
        waiting = self.open(40, head(length=1000, extra=b"Expect: 100-continue\r\n"))
        for sock in waiting:
            self.assertEqual(read_status(sock), 100)
        for _ in range(5):
            self.assert_real_webhook_answered()
        self.assert_within_budget(cpu_limit=3)

    def test_a_body_over_the_limit_announced_with_expect_is_413_at_once(self):
        sock, = self.open(1, head(length=9 * MIB, extra=b"Expect: 100-continue\r\n"))
        answer = read_answer(sock)
        self.assertTrue(answer.startswith(b"HTTP/1.1 413 "), answer)
        self.assertNotIn(b"100 Continue", answer)

    def test_expect_for_an_unknown_path_gets_no_continue(self):
        sock, = self.open(1, head("/nowhere", 1000, b"Expect: 100-continue\r\n"))
        answer = read_answer(sock)
        self.assertTrue(answer.startswith(b"HTTP/1.1 404 "), answer)

    def test_a_request_line_without_a_version_is_refused_at_once(self):
        sock, = self.open(1, b"GET /healthz\r\n")
        answer = read_answer(sock)
        self.assertTrue(answer.startswith(b"HTTP/1.1 400 "), answer)
        self.assertIn(b"HTTP/0.9", answer)


class SlowUploadTests(HostileCase):

    def test_stalled_uploads_are_cut_and_real_webhooks_still_answered(self):
        stalled = self.open(40, head(length=4 * MIB) + b"{\"event\":")
        for _ in range(5):
            self.assert_real_webhook_answered()
        # Under MIN_BODY_RATE after the grace: 408, long before the 10 s deadline;
        # those that could not reserve their 4 MiB gave way at once (503).
        for sock in stalled:
            sock.settimeout(8)
        statuses = [read_status(sock) for sock in stalled]
        self.assertLessEqual(set(statuses), {408, 503}, statuses)
        self.assertIn(408, statuses)
        self.daemon.wait_for_lines("request refused status=408", statuses.count(408))
        self.assert_within_budget(cpu_limit=3)


class FramingTests(HostileCase):

    def assert_refused_and_nothing_smuggled(self, headers, status=400):
        smuggled = head(length=0)
        sock, = self.open(1, b"POST /webhooks/plex HTTP/1.1\r\nHost: x\r\n" + headers
                          + b"\r\n" + smuggled)
        answer = read_answer(sock)
        self.assertTrue(answer.startswith(b"HTTP/1.1 %d " % status), answer)
        self.assertEqual(answer.count(b"HTTP/1.1 "), 1, answer)  # one answer, then closed
        self.assertEqual(self.daemon.count("webhook received"), 0, self.daemon.log())

    def test_two_content_lengths_are_400(self):
        self.assert_refused_and_nothing_smuggled(b"Content-Length: 0\r\nContent-Length: 50\r\n")

    def test_a_space_before_the_colon_is_400(self):
        self.assert_refused_and_nothing_smuggled(b"Transfer-Encoding : chunked\r\n")

    def test_a_header_line_without_a_colon_is_400(self):
        self.assert_refused_and_nothing_smuggled(b"Content-Length 0\r\n")

    def test_a_folded_header_line_is_400(self):
        self.assert_refused_and_nothing_smuggled(b"X-A: 1\r\n Content-Length: 0\r\n")

    def test_chunked_is_411(self):
        self.assert_refused_and_nothing_smuggled(b"Transfer-Encoding: chunked\r\n", 411)


class LogFloodTests(unittest.TestCase):

    def test_refusals_from_many_addresses_are_one_warning(self):
        stub = start_stub(self)
        daemon = start_daemon(self, stub, extra_args=["-webhooks-allow", "127.0.0.1/32"])
        for last in range(2, 202):
            with connect(daemon.port, source="127.0.0.%d" % last) as sock:
                sock.sendall(head(length=2) + b"{}")
                self.assertEqual(read_status(sock), 403)
        status, _, body = webhooks.post_webhook(daemon.port, "payload_play.json")
        self.assertEqual(status, 200, body)
        daemon.wait_for_line("webhook received")
        self.assertEqual(daemon.count("[WARN] webhook refused"), 1, daemon.log())


if __name__ == "__main__":
    unittest.main()
