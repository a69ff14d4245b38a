"""Unit tests of the HTTP side's pure parts: request heads, answers, paths, peers."""

import ipaddress
import json
import unittest

from streamerbrainz.web import server
from streamerbrainz.web import routes as webhooks
from streamerbrainz.web.server import Refusal, read_head

MAX_BODY = 8 * 1024 * 1024


def refusal(data, max_body=MAX_BODY):
    """The status ``read_head`` refuses ``data`` with (None when it does not)."""
    try:
        read_head(data, max_body)
    except Refusal as refused:
        return refused.status
    return None


class ReadHeadTests(unittest.TestCase):

    def test_a_head_is_whole_at_its_blank_line(self):
        self.assertIsNone(read_head(b"GET /healthz HTTP/1.1\r\nHost: x\r\n", MAX_BODY))
        head = read_head(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", MAX_BODY)
        self.assertEqual((head.method, head.target, head.version, head.length, head.size),
                         ("GET", "/healthz", "HTTP/1.1", 0, 34))

    def test_bare_newlines_end_a_head_too(self):
        head = read_head(b"POST /webhooks/plex HTTP/1.0\nContent-Length: 2\n\n{}", MAX_BODY)
        self.assertEqual((head.length, head.size), (2, 48))

    def test_the_length_and_expect_are_read_from_the_head(self):
        head = read_head(b"POST /w HTTP/1.1\r\ncontent-LENGTH: 10\r\n"
                         b"Expect: 100-Continue\r\n\r\n", MAX_BODY)
        self.assertEqual(head.length, 10)
        self.assertTrue(head.expect_continue)

    def test_a_first_line_that_is_no_request_line_is_refused_at_once(self):
        self.assertEqual(refusal(b"\x16\x03\x01 \x00\xff\xfe garbage\r\n"), 400)
        self.assertEqual(refusal(b"GET /\r\n"), 400)  # HTTP/0.9
        self.assertEqual(refusal(b"GET / HTTP/2.0\r\n"), 505)
        self.assertIsNone(read_head(b"GET / HTTP/1.1\r\n", MAX_BODY))
        self.assertIsNone(read_head(b"GET / HTT", MAX_BODY))

    def test_an_endless_head_or_line_is_431(self):
        self.assertEqual(refusal(b"GET / HTTP/1.1\r\nX-A: " + b"a" * server.MAX_HEAD_BYTES), 431)
        self.assertEqual(refusal(b"GET /" + b"a" * server.MAX_HEAD_BYTES), 431)
        self.assertIsNone(read_head(b"GET / HTTP/1.1\r\nX-A: " + b"a" * 1000, MAX_BODY))

    def test_more_than_100_headers_is_431(self):
        def head(count):
            return b"GET / HTTP/1.1\r\n" + b"X-A: 1\r\n" * count + b"\r\n"
        self.assertEqual(refusal(head(101)), 431)
        self.assertIsNone(refusal(head(100)))

    def test_ambiguous_framing_is_refused(self):
        start = b"POST /webhooks/plex HTTP/1.1\r\nHost: x\r\n"
        cases = {
            b"Content-Length: 5\r\nContent-Length: 50\r\n": 400,
            b"Content-Length: 5\r\nContent-Length: 5\r\n": 400,
            b"Transfer-Encoding : chunked\r\n": 400,
            b"Transfer-Encoding: chunked\r\n": 411,
            b"Transfer-Encoding: gzip\r\nContent-Length: 5\r\n": 411,
            b"X-No-Colon\r\n": 400,
            b"X-A: 1\r\n  folded\r\n": 400,
            b"Content-Length: +5\r\n": 400,
            b"Content-Length: 5 5\r\n": 400,
            b"Content-Length: \xd9\xa5\r\n": 400,
            b"Content-Length: " + b"1" * 19 + b"\r\n": 400,
        }
        for headers, status in cases.items():
            with self.subTest(headers=headers):
                self.assertEqual(refusal(start + headers + b"\r\n"), status)

    def test_a_body_over_the_limit_is_413_from_the_head(self):
        data = b"POST /w HTTP/1.1\r\nContent-Length: %d\r\n\r\n" % (MAX_BODY + 1)
        self.assertEqual(refusal(data), 413)
        self.assertIsNone(refusal(data, MAX_BODY + 1))


class AnswerTests(unittest.TestCase):

    def test_json_answer_is_a_whole_http_answer(self):
        data = server.json_answer(503, {"error": "busy"}, [("Retry-After", "1")])
        head, _, body = data.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        self.assertEqual(lines[0], "HTTP/1.1 503 Service Unavailable")
        self.assertIn("Retry-After: 1", lines)
        self.assertIn("Connection: close", lines)
        self.assertIn("Content-Length: %d" % len(body), lines)
        self.assertEqual(json.loads(body), {"error": "busy"})


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
