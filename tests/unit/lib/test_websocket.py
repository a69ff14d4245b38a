"""The websocket client: the RFC's own frames, the handshake, messages, endings and deadlines.

The codec is checked byte by byte against RFC 6455 5.7; the client runs
against ``tests.support.wsserver``, a stand-in server on 127.0.0.1 that
can misbehave on demand. No test sleeps: each waits on an event, a
condition or the client's own deadline.
"""

import base64
import socket
import struct
import sys
import threading
import time
import unittest
from unittest import mock

from streamerbrainz.lib import websocket
from streamerbrainz.lib.websocket import (
    BINARY, CLOSE, CONTINUATION, PING, PONG, TEXT, WebSocket, WebSocketError, accept_key,
    close_payload, decode_frame, encode_frame, mask, parse_header, parse_url)
from tests.support import wsserver
from tests.support.wsserver import HANGUP, RESET, STALL, WsServer, frame, raw

RFC_KEY = bytes.fromhex("37fa213d")
MARGIN = 0.5  # how late past its deadline a call may return on a loaded machine


def soon(seconds):
    return time.monotonic() + seconds


class Case(unittest.TestCase):

    def serve(self, responder=wsserver.echo, **options):
        server = WsServer(responder, **options).start()
        self.addCleanup(server.stop)
        return server

    def connect(self, server, timeout=2.0, **options):
        ws = WebSocket.connect(server.url, timeout, **options)
        self.addCleanup(ws.close, 0)
        self.addCleanup(ws.abort)
        return ws

    def fails(self, kind, call, *args, peer=None):
        """The WebSocketError ``call(*args)`` raises: of ``kind``, one line, naming the peer."""
        with self.assertRaises(WebSocketError) as caught:
            call(*args)
        err = caught.exception
        self.assertEqual(err.kind, kind, str(err))
        self.assertIn(peer or "127.0.0.1:", str(err))
        self.assertNotIn("\n", str(err))
        return err

    def replying(self, *replies):
        """A server answering every message with ``replies``, and a connection to it."""
        server = self.serve(lambda message: list(replies))
        ws = self.connect(server)
        return server, ws

    def timed(self, seconds, call, *args):
        """Run ``call``; fail unless it returned between ``seconds`` and ``seconds + MARGIN``."""
        start = time.monotonic()
        try:
            return call(*args)
        finally:
            elapsed = time.monotonic() - start
            self.assertGreaterEqual(elapsed, seconds * 0.95)
            self.assertLess(elapsed, seconds + MARGIN)


class FrameCodecTest(unittest.TestCase):
    """RFC 6455 5.7 and 5.2, byte by byte."""

    def test_the_accept_key_of_the_rfc_example(self):
        self.assertEqual(accept_key("dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")

    def test_a_single_frame_unmasked_text_message(self):
        wire = bytes([0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f])
        self.assertEqual(encode_frame(TEXT, b"Hello"), wire)
        self.assertEqual(decode_frame(wire), (websocket.Frame(True, 0, TEXT, False, b"Hello"), 7))

    def test_a_single_frame_masked_text_message(self):
        wire = bytes([0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58])
        self.assertEqual(encode_frame(TEXT, b"Hello", RFC_KEY), wire)
        self.assertEqual(decode_frame(wire), (websocket.Frame(True, 0, TEXT, True, b"Hello"), 11))
        self.assertEqual(parse_header(wire).mask_key, RFC_KEY)

    def test_a_fragmented_unmasked_text_message(self):
        first, second = bytes([0x01, 0x03, 0x48, 0x65, 0x6c]), bytes([0x80, 0x02, 0x6c, 0x6f])
        self.assertEqual(encode_frame(TEXT, b"Hel", fin=False), first)
        self.assertEqual(encode_frame(CONTINUATION, b"lo"), second)
        frame_one, used = decode_frame(first + second)
        self.assertEqual((frame_one.fin, frame_one.opcode, frame_one.payload, used),
                         (False, TEXT, b"Hel", 5))
        frame_two, used = decode_frame(second)
        self.assertEqual((frame_two.fin, frame_two.opcode, frame_two.payload, used),
                         (True, CONTINUATION, b"lo", 4))

    def test_an_unmasked_ping_and_a_masked_pong(self):
        ping = bytes([0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f])
        pong = bytes([0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58])
        self.assertEqual(encode_frame(PING, b"Hello"), ping)
        self.assertEqual(encode_frame(PONG, b"Hello", RFC_KEY), pong)
        self.assertEqual(decode_frame(ping)[0].opcode, PING)
        self.assertEqual(decode_frame(pong)[0][2:], (PONG, True, b"Hello"))

    def test_the_256_byte_and_64_kib_binary_messages(self):
        for size, head in ((256, bytes([0x82, 0x7E, 0x01, 0x00])),
                           (65536, bytes([0x82, 0x7F, 0, 0, 0, 0, 0, 1, 0, 0]))):
            payload = bytes(range(256)) * (size // 256)
            wire = encode_frame(BINARY, payload)
            self.assertEqual(wire[:len(head)], head)
            self.assertEqual(len(wire), len(head) + size)
            self.assertEqual(decode_frame(wire)[0].payload, payload)

    def test_every_length_form_at_its_edges(self):
        for size, head_size in ((0, 2), (1, 2), (125, 2), (126, 4), (65535, 4), (65536, 10),
                                (70000, 10)):
            payload = b"\xa5" * size
            for key, extra in ((None, 0), (b"\x01\x02\x03\x04", 4)):
                with self.subTest(size=size, masked=key is not None):
                    wire = encode_frame(BINARY, payload, key)
                    header = parse_header(wire)
                    self.assertEqual((header.length, header.size), (size, head_size + extra))
                    self.assertEqual(decode_frame(wire), (websocket.Frame(
                        True, 0, BINARY, key is not None, payload), head_size + extra + size))

    def test_a_frame_decodes_only_once_it_is_whole(self):
        wire = encode_frame(TEXT, b"x" * 300, RFC_KEY)
        for end in range(len(wire)):
            self.assertEqual(decode_frame(wire[:end]), (None, 0), end)
        after = encode_frame(PING, b"")
        self.assertEqual(decode_frame(wire + after)[1], len(wire))

    def test_the_reserved_bits_and_opcode_are_read_as_sent(self):
        header = parse_header(bytes([0x7B, 0x00]))
        self.assertEqual((header.fin, header.rsv, header.opcode), (False, 7, 0xB))

    def test_masking_repeats_the_key_and_undoes_itself(self):
        key = b"\x01\x02\x04\x08"
        self.assertEqual(mask(b"\x00" * 9, key), key + key + key[:1])
        for size in range(10):
            data = bytes(range(40, 40 + size))
            self.assertEqual(len(mask(data, key)), size)
            self.assertEqual(mask(mask(data, key), key), data)
        self.assertNotEqual(mask(b"Hello", key), b"Hello")
        with self.assertRaises(ValueError):
            encode_frame(TEXT, b"x", b"abc")

    def test_a_close_payload_fits_a_control_frame(self):
        self.assertEqual(close_payload(1000), b"\x03\xe8")
        self.assertEqual(close_payload(None), b"")
        self.assertEqual(len(close_payload(1001, "é" * 100)), 125)


class UrlTest(unittest.TestCase):

    def test_ws_urls(self):
        self.assertEqual(parse_url("ws://127.0.0.1:1234"), ("127.0.0.1", 1234, "/"))
        self.assertEqual(parse_url("WS://host/a/b?c=d"), ("host", 80, "/a/b?c=d"))
        self.assertEqual(parse_url("ws://[::1]:1234/"), ("::1", 1234, "/"))

    def test_anything_else_is_refused_with_a_clear_error(self):
        for url, words in (("wss://127.0.0.1:1234", "wss:// (websocket over TLS) is not "
                                                   "supported"),
                           ("http://127.0.0.1:1234", "must start with ws://"),
                           ("ws://:1234", "no host"),
                           ("ws://127.0.0.1:99999", "not a usable websocket URL"),
                           ("ws://user:pw@127.0.0.1:1234", "no user or password"),
                           ("ws://127.0.0.1:1234/#x", "no #fragment"),
                           ("ws://127.0.0.1:1234/a b", "plain ASCII")):
            with self.subTest(url=url):
                with self.assertRaises(ValueError) as caught:
                    WebSocket(url)
                self.assertIn(words, str(caught.exception))


class HandshakeTest(Case):

    def test_the_request_is_what_a_strict_server_asks_for(self):
        server = self.serve()
        for _ in range(2):
            WebSocket.connect(server.url + "camilla?x=1", 2).close(1)
        self.assertEqual(server.errors, [])
        first, second = server.requests
        self.assertEqual(first.line, "GET /camilla?x=1 HTTP/1.1")
        self.assertEqual(first.headers["host"], "127.0.0.1:%d" % server.port)
        self.assertEqual(first.headers["upgrade"], "websocket")
        self.assertEqual(first.headers["connection"], "Upgrade")
        self.assertEqual(first.headers["sec-websocket-version"], "13")
        self.assertEqual(len(base64.b64decode(first.headers["sec-websocket-key"])), 16)
        self.assertNotEqual(first.headers["sec-websocket-key"],
                            second.headers["sec-websocket-key"])
        self.assertNotIn("sec-websocket-extensions", first.headers)
        self.assertNotIn("sec-websocket-protocol", first.headers)

    def test_a_wrong_accept_key_is_refused(self):
        server = self.serve(handshake="wrong_accept")
        err = self.fails("protocol", WebSocket.connect, server.url, 2,
                         peer="127.0.0.1:%d" % server.port)
        self.assertIn("wrong Sec-WebSocket-Accept", str(err))

    def test_garbage_instead_of_the_101_is_refused_at_once(self):
        server = self.serve(handshake="garbage")
        start = time.monotonic()
        err = self.fails("protocol", WebSocket.connect, server.url, 5)
        self.assertLess(time.monotonic() - start, 1)
        self.assertIn("answered b'SSH-2.0-OpenSSH", str(err))
        self.assertIn("not HTTP", str(err))

    def test_garbage_before_the_101_is_refused(self):
        server = self.serve(handshake="garbage_first")
        self.assertIn("not HTTP", str(self.fails("protocol", WebSocket.connect, server.url, 2)))

    def test_an_answer_other_than_101_is_named(self):
        server = self.serve(handshake="status")
        err = self.fails("protocol", WebSocket.connect, server.url, 2)
        self.assertIn("answered 404 Not Found instead of 101 Switching Protocols", str(err))

    def test_an_extension_never_asked_for_is_refused(self):
        server = self.serve(handshake="extension")
        err = self.fails("protocol", WebSocket.connect, server.url, 2)
        self.assertIn("extension that was not asked for: permessage-deflate", str(err))

    def test_a_handshake_that_stalls_ends_by_the_deadline(self):
        server = self.serve(handshake="stall")
        err = self.timed(0.1, self.fails, "timeout", WebSocket.connect, server.url, 0.1)
        self.assertIn("connection and handshake not done within 0.1s", str(err))

    def test_nothing_is_sent_before_the_101(self):
        server = self.serve(handshake="hold")
        ws = WebSocket(server.url)
        self.addCleanup(ws.close, 0)
        opened = []
        thread = threading.Thread(target=lambda: opened.append(ws.open(2)))
        thread.start()
        self.assertTrue(server.wait_for(lambda: server.requests))
        self.assertIn("not connected yet", str(self.fails("closed", ws.send_text, "early")))
        server.release.set()
        thread.join(5)
        self.assertEqual(opened, [ws])
        ws.send_text("after")
        self.assertEqual(ws.receive(soon(2)), "after")
        self.assertEqual(server.errors, [])

    def test_a_message_right_behind_the_101_is_kept(self):
        server = self.serve(greeting=["hello", b"\x00\x01"])
        ws = self.connect(server)
        self.assertEqual(ws.receive(soon(2)), "hello")
        self.assertEqual(ws.receive(soon(2)), b"\x00\x01")

    def test_a_refused_connection_is_a_network_error(self):
        with socket.socket() as spare:
            spare.bind(("127.0.0.1", 0))
            port = spare.getsockname()[1]
        err = self.fails("network", WebSocket.connect, "ws://127.0.0.1:%d" % port, 2,
                         peer="127.0.0.1:%d" % port)
        self.assertIn("cannot connect to websocket 127.0.0.1:%d: connection refused" % port,
                      str(err))

    def test_a_name_starts_every_message(self):
        server = self.serve(handshake="status")
        err = self.fails("protocol", lambda: WebSocket.connect(server.url, 2, name="audio"),
                         peer="audio")
        self.assertTrue(str(err).startswith("audio answered 404"), str(err))

    def full_backlog(self):
        """A port whose accept queue is full: a connect to it hangs (Linux drops the SYN)."""
        listener = socket.socket()
        self.addCleanup(listener.close)
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        port = listener.getsockname()[1]
        filler = socket.create_connection(("127.0.0.1", port), 1)
        self.addCleanup(filler.close)
        probe = socket.socket()
        self.addCleanup(probe.close)
        probe.settimeout(0.05)
        try:
            probe.connect(("127.0.0.1", port))
        except socket.timeout:
            return "ws://127.0.0.1:%d" % port
        self.skipTest("a full accept queue does not hold a connect here")

    @unittest.skipUnless(sys.platform.startswith("linux"), "relies on Linux's SYN drop")
    def test_a_connect_that_hangs_ends_by_the_deadline(self):
        url = self.full_backlog()
        err = self.timed(0.1, self.fails, "timeout", WebSocket.connect, url, 0.1)
        self.assertIn("not done within 0.1s", str(err))

    @unittest.skipUnless(sys.platform.startswith("linux"), "relies on Linux's SYN drop")
    def test_abort_cuts_a_connect_in_progress(self):
        ws = WebSocket(self.full_backlog())
        self.assert_abort_cuts(ws.open, 5, ws, reading=False)

    def test_abort_cuts_a_handshake_in_progress(self):
        server = self.serve(handshake="stall")
        ws = WebSocket(server.url)
        self.assert_abort_cuts(ws.open, 5, ws)

    def test_an_aborted_connection_never_opens(self):
        ws = WebSocket(self.serve().url)
        ws.abort()
        self.assertIn("aborted", str(self.fails("closed", ws.open, 2)))

    def assert_abort_cuts(self, call, argument, ws, reading=True):
        """``call(argument)``, once it waits to read (or to connect), is cut by ``ws.abort()``."""
        waiting = threading.Event()
        real_wait = websocket._wait

        def wait(sock, writing, *rest):
            if writing != reading:
                waiting.set()
            return real_wait(sock, writing, *rest)

        def cut():
            if waiting.wait(5):
                ws.abort()
        thread = threading.Thread(target=cut)
        start = time.monotonic()
        thread.start()
        with mock.patch.object(websocket, "_wait", wait):
            err = self.fails("closed", call, argument)
        thread.join(5)
        self.assertTrue(waiting.is_set())
        self.assertLess(time.monotonic() - start, 1.5)
        self.assertIn("connection aborted", str(err))


class MessagesTest(Case):

    def test_client_frames_are_masked_with_fresh_random_keys(self):
        server = self.serve()
        ws = self.connect(server)
        for text in ("one", "two", "three"):
            ws.send_text(text)
            self.assertEqual(ws.receive(soon(2)), text)
        self.assertEqual(server.errors, [])  # it refuses an unmasked frame
        self.assertEqual(len(set(server.masks)), 3, server.masks)

    def test_text_comes_back_as_str_and_binary_as_bytes(self):
        ws = self.connect(self.serve())
        ws.send_text("grüße")
        ws.send_binary(b"\x00\xff")
        self.assertEqual(ws.receive(soon(2)), "grüße")
        self.assertEqual(ws.receive(soon(2)), b"\x00\xff")

    def test_every_length_form_is_read(self):
        sizes = (0, 125, 126, 65535, 65536, 300000)
        server = self.serve(lambda message: ["x" * int(message), b"y" * int(message)])
        ws = self.connect(server)
        for size in sizes:
            ws.send_text(str(size))
            self.assertEqual(ws.receive(soon(2)), "x" * size)
            self.assertEqual(ws.receive(soon(2)), b"y" * size)
        self.assertEqual([len(m) for m in server.messages()], [len(str(s)) for s in sizes])

    def test_a_long_message_is_sent_whole(self):
        server = self.serve(lambda message: [str(len(message))])
        ws = self.connect(server)
        ws.send_text("z" * 100000)
        self.assertEqual(ws.receive(soon(2)), "100000")

    def test_a_fragmented_message_is_reassembled_around_a_ping(self):
        server, ws = self.replying(raw(
            frame(TEXT, "He", fin=False) + frame(PING, "mid") + frame(CONTINUATION, "l", fin=False)
            + frame(CONTINUATION, "lo")), wsserver.fragments(b"\x01\x02\x03", 1, 1))
        ws.send_text("go")
        self.assertEqual(ws.receive(soon(2)), "Hello")
        self.assertEqual(ws.receive(soon(2)), b"\x01\x02\x03")
        self.assertTrue(server.wait_for(lambda: server.pongs == [b"mid"]), server.pongs)

    def test_a_ping_is_answered_with_its_payload(self):
        server, ws = self.replying(wsserver.ping(b"are you there"), raw(frame(PONG, b"unasked")),
                                   "reply")
        ws.send_text("go")
        self.assertEqual(ws.receive(soon(2)), "reply")  # neither ping nor pong is a message
        self.assertTrue(server.wait_for(lambda: server.pongs == [b"are you there"]))

    def test_a_message_over_the_cap_is_too_large_and_closed_with_1009(self):
        for name, reply in (("one frame", "x" * 1001),
                            ("fragments", wsserver.fragments("x" * 1200, 600))):
            with self.subTest(name):
                server = self.serve(lambda message, reply=reply: ["x" * 1000, reply])
                ws = self.connect(server, max_message=1000)
                ws.send_text("go")
                self.assertEqual(ws.receive(soon(2)), "x" * 1000)  # the cap itself is fine
                err = self.fails("too_large", ws.receive, soon(2))
                self.assertIn("sent a message of more than", str(err))
                self.assertTrue(server.wait_for(lambda: server.closes == [1009]), server.closes)

    def test_a_huge_announced_length_is_refused_before_it_is_read(self):
        server, ws = self.replying(raw(frame(BINARY, b"", length=2 ** 40)), STALL)
        ws.send_text("go")
        start = time.monotonic()
        err = self.fails("too_large", ws.receive, soon(5))
        self.assertLess(time.monotonic() - start, 1)
        self.assertIn("1099511627776 bytes", str(err))

    def test_protocol_violations_are_refused_with_their_close_code(self):
        cases = {
            "masked": (frame(TEXT, "hi", mask_key=b"abcd"), 1002, "sent a masked frame"),
            "rsv": (frame(TEXT, "hi", rsv=4), 1002, "reserved bits set"),
            "opcode 3": (frame(0x3, "hi"), 1002, "unknown opcode 0x3"),
            "opcode B": (frame(0xB, ""), 1002, "unknown opcode 0xB"),
            "fragmented ping": (frame(PING, "p", fin=False), 1002,
                                "fragmented control frame"),
            "long ping": (frame(PING, b"p" * 126), 1002, "control frame of 126 bytes"),
            "bad utf-8": (frame(TEXT, b"caf\xc3"), 1007, "text message that is not UTF-8"),
            "bad fragmented utf-8": (frame(TEXT, b"\xe2\x82", fin=False)
                                     + frame(CONTINUATION, b"\x28"), 1007, "not UTF-8"),
            "orphan continuation": (frame(CONTINUATION, "x"), 1002, "no message to continue"),
            "interleaved": (frame(TEXT, "a", fin=False) + frame(TEXT, "b"), 1002,
                            "new message inside a fragmented one"),
            "short close": (frame(CLOSE, b"\x03"), 1002, "1-byte payload"),
            "close 1005": (frame(CLOSE, struct.pack("!H", 1005)), 1002,
                           "invalid close code 1005"),
            "close 999": (frame(CLOSE, struct.pack("!H", 999)), 1002, "invalid close code 999"),
            "close reason": (frame(CLOSE, struct.pack("!H", 1000) + b"\xff"), 1007,
                             "close reason that is not UTF-8"),
        }
        server = self.serve(lambda message: [raw(cases[message][0])])
        for name, (_, code, words) in cases.items():
            with self.subTest(name):
                ws = self.connect(server)
                ws.send_text(name)
                err = self.fails("protocol", ws.receive, soon(2))
                self.assertIn(words, str(err))
                self.assertTrue(server.wait_for(lambda: len(server.closes) == server.connections))
                self.assertEqual(server.closes[-1], code)
                self.assertFalse(ws.connected)
                self.fails("closed", ws.send_text, "again")

    def test_garbage_after_the_handshake_is_a_protocol_error(self):
        server, ws = self.replying(raw(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"))
        ws.send_text("go")
        self.assertIn("reserved bits", str(self.fails("protocol", ws.receive, soon(2))))


class EndingsTest(Case):

    def test_the_server_closing_politely_is_closed_with_its_code(self):
        server, ws = self.replying(wsserver.close(1001, "going away\nnow"))
        ws.send_text("go")
        err = self.fails("closed", ws.receive, soon(2))
        self.assertEqual(err.code, 1001)
        self.assertIn("closed the connection (1001 going away: going away?now)", str(err))
        self.assertTrue(server.wait_for(lambda: server.closes == [1001]))  # echoed
        self.assertIn("already closed", str(self.fails("closed", ws.send_text, "more")))
        self.assertFalse(ws.close(1))

    def test_a_close_without_a_code_is_answered_without_one(self):
        server, ws = self.replying(wsserver.close(None))
        ws.send_text("go")
        self.assertIsNone(self.fails("closed", ws.receive, soon(2)).code)
        self.assertTrue(server.wait_for(lambda: server.closes == [None]))

    def test_a_close_in_the_middle_of_a_fragmented_message(self):
        server, ws = self.replying(raw(frame(TEXT, "Hel", fin=False)), wsserver.close(1000))
        ws.send_text("go")
        self.assertEqual(self.fails("closed", ws.receive, soon(2)).code, 1000)

    def test_a_hangup_in_the_middle_of_a_frame_is_a_disconnect(self):
        server, ws = self.replying(raw(frame(TEXT, "Hello")[:4]), HANGUP)
        ws.send_text("go")
        err = self.fails("network", ws.receive, soon(2))
        self.assertIn("closed the connection in the middle of a message", str(err))

    def test_a_hangup_between_messages_is_a_disconnect(self):
        server, ws = self.replying(HANGUP)
        ws.send_text("go")
        err = self.fails("network", ws.receive, soon(2))
        self.assertIn("closed the connection without a close frame", str(err))
        self.assertFalse(ws.connected)

    def test_a_reset_is_a_disconnect(self):
        server, ws = self.replying(RESET)
        ws.send_text("go")
        self.assertIn("reset the connection", str(self.fails("network", ws.receive, soon(2))))

    def test_the_client_closes_politely(self):
        server = self.serve()
        ws = self.connect(server)
        self.assertTrue(ws.close(1))
        self.assertTrue(server.wait_for(lambda: server.closes == [1000]))
        self.assertFalse(ws.connected)
        self.fails("closed", ws.send_text, "more")
        self.assertFalse(ws.close(1))

    def test_a_close_the_server_never_answers_ends_by_its_timeout(self):
        server, ws = self.replying(STALL)
        ws.send_text("go")
        self.assertTrue(server.wait_for(lambda: server.received))
        self.assertFalse(self.timed(0.1, ws.close, 0.1))


class DeadlinesTest(Case):

    def test_a_server_that_stalls_times_out_by_the_deadline(self):
        server, ws = self.replying(STALL)
        ws.send_text("go")
        err = self.timed(0.1, self.fails, "timeout", ws.receive, soon(0.1))
        self.assertIn("no whole message within 0.1s", str(err))

    def test_the_deadline_bounds_the_whole_message_not_each_read(self):
        # A byte every 30 ms: each read is quick, the whole frame takes 0.3 s.
        server, ws = self.replying(wsserver.trickle(frame(TEXT, "12345678"), 0.03))
        ws.send_text("go")
        self.timed(0.1, self.fails, "timeout", ws.receive, soon(0.1))

    def test_after_a_timeout_the_next_receive_goes_on_where_it_stopped(self):
        gate = threading.Event()
        wire = frame(TEXT, "Hello")
        server, ws = self.replying(raw(wire[:3]), wsserver.wait(gate), raw(wire[3:]), "next")
        ws.send_text("go")
        self.fails("timeout", ws.receive, soon(0.05))
        gate.set()
        self.assertEqual(ws.receive(soon(2)), "Hello")
        self.assertEqual(ws.receive(soon(2)), "next")

    def test_abort_from_another_thread_cuts_a_blocked_receive(self):
        server, ws = self.replying(STALL)
        ws.send_text("go")
        HandshakeTest.assert_abort_cuts(self, ws.receive, soon(5), ws)
        self.assertFalse(ws.close(1))


if __name__ == "__main__":
    unittest.main()
