"""Unit tests of the HTTP side's pure parts: when a request is whole, paths, peers."""

import ipaddress
import unittest

from streamerbrainz import server, webhooks


class RequestReadyTests(unittest.TestCase):

    def test_a_head_without_body_is_ready_at_its_blank_line(self):
        self.assertFalse(server.request_ready(b"GET /healthz HTTP/1.1\r\nHost: x\r\n"))
        self.assertTrue(server.request_ready(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"))

    def test_a_small_body_must_be_whole(self):
        head = b"POST /webhooks/plex HTTP/1.1\r\ncontent-LENGTH: 10\r\n\r\n"
        self.assertFalse(server.request_ready(head + b"12345"))
        self.assertTrue(server.request_ready(head + b"1234567890"))

    def test_a_large_body_goes_to_a_worker_with_the_head(self):
        head = b"POST /webhooks/plex HTTP/1.1\r\nContent-Length: %d\r\n\r\n" % (
            server.PREREAD_BODY_LIMIT + 1)
        self.assertTrue(server.request_ready(head))

    def test_a_client_waiting_for_100_continue_is_not_kept_waiting(self):
        head = (b"POST /webhooks/plex HTTP/1.1\r\nContent-Length: 5000\r\n"
                b"Expect: 100-continue\r\n\r\n")
        self.assertTrue(server.request_ready(head))

    def test_bare_newlines_end_a_head_too(self):
        self.assertTrue(server.request_ready(b"GET /healthz HTTP/1.1\nHost: x\n\n"))
        head = b"POST /webhooks/plex HTTP/1.0\nContent-Length: 2\n\n"
        self.assertFalse(server.request_ready(head + b"{"))
        self.assertTrue(server.request_ready(head + b"{}"))

    def test_a_first_line_that_is_no_request_line_is_refused_at_once(self):
        self.assertTrue(server.request_ready(b"\x16\x03\x01 \x00\xff\xfe garbage\r\n"))
        self.assertTrue(server.request_ready(b"GET /\r\n"))
        self.assertFalse(server.request_ready(b"GET / HTTP/1.1\r\n"))
        self.assertFalse(server.request_ready(b"GET / HTT"))

    def test_an_endless_head_is_handed_over_to_be_refused(self):
        endless = b"GET / HTTP/1.1\r\nX-A: " + b"a" * server.MAX_HEAD_BYTES
        self.assertTrue(server.request_ready(endless))
        self.assertFalse(server.request_ready(endless[:1000]))


class PathAndPeerTests(unittest.TestCase):

    def test_the_secret_never_reaches_a_log_line(self):
        self.assertEqual(webhooks.loggable_path("/webhooks/plex/s3cr3t-s3cr3t-s3cr3t?x=1"),
                         "/webhooks/plex/\u2026")
        self.assertEqual(webhooks.loggable_path("/healthz?verbose=1"), "/healthz")

    def test_ipv4_mapped_peers_are_their_ipv4_address(self):
        self.assertEqual(webhooks.client_ip("::ffff:192.168.1.10"),
                         ipaddress.ip_address("192.168.1.10"))
        self.assertEqual(webhooks.client_ip("fe80::1%eth0"), ipaddress.ip_address("fe80::1"))
        self.assertIsNone(webhooks.client_ip("not an address"))


if __name__ == "__main__":
    unittest.main()
