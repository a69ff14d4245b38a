"""The stand-in MQTT broker (tests/support/mqttbroker.py) driven with raw sockets.

The packets a test sends are written by hand with struct where the bytes
are the point, and with the module's codec elsewhere (whose own bytes are
checked against hand-written ones first). No test sleeps: each waits on a
socket deadline or on the broker's condition.
"""

import socket
import struct
import threading
import time
import unittest

from tests.support.mqttbroker import (
    ProtocolError, StandInBroker, decode, decode_remaining_length, encode,
    encode_remaining_length, matches, read_packet)

SECOND = 2.0


def hand_connect(client_id=b"probe", flags=0x02, keep_alive=60, protocol=b"MQTT", level=4,
                 payload=b""):
    """A CONNECT written byte by byte (3.1.1 section 3.1)."""
    body = struct.pack("!H", len(protocol)) + protocol + struct.pack("!BBH", level, flags,
                                                                     keep_alive)
    body += struct.pack("!H", len(client_id)) + client_id + payload
    return bytes([0x10, len(body)]) + body


class Client:
    """One raw TCP connection to the broker."""

    def __init__(self, case, broker):
        self.sock = socket.create_connection(broker.address, timeout=SECOND)
        case.addCleanup(self.sock.close)

    def send(self, data):
        self.sock.sendall(data)

    def raw(self, seconds=SECOND):
        return read_packet(self.sock, time.monotonic() + seconds)

    def read(self, seconds=SECOND):
        """The next packet as ``(kind, fields)``."""
        data = self.raw(seconds)
        if not data:
            raise AssertionError("the broker closed the connection")
        return decode(data)

    def expect(self, kind, seconds=SECOND):
        got, fields = self.read(seconds)
        if got != kind:
            raise AssertionError("expected %s, got %s %r" % (kind, got, fields))
        return fields

    def closed(self, seconds=SECOND):
        """Whether the broker closes the connection, with nothing more sent, within ``seconds``."""
        try:
            return self.raw(seconds) == b""
        except ConnectionResetError:
            return True
        except socket.timeout:
            return False

    def silent(self, seconds):
        """Whether nothing at all comes for ``seconds``."""
        try:
            self.raw(seconds)
        except socket.timeout:
            return True
        return False

    def connect(self, client_id="probe", **fields):
        self.send(encode("CONNECT", client_id=client_id, **fields))
        connack = self.expect("CONNACK")
        if connack["return_code"] != 0:
            raise AssertionError("CONNACK %r" % connack)
        return connack

    def subscribe(self, *topics, packet_id=1):
        self.send(encode("SUBSCRIBE", packet_id=packet_id, topics=list(topics)))
        return self.expect("SUBACK")


class Case(unittest.TestCase):

    def broker(self):
        broker = StandInBroker().start()
        self.addCleanup(broker.stop)
        return broker

    def client(self, broker, client_id=None, **fields):
        client = Client(self, broker)
        if client_id is not None:
            client.connect(client_id, **fields)
        return client


class CodecTest(unittest.TestCase):

    def test_remaining_length_matches_the_table_of_the_spec(self):
        table = [(0, b"\x00"), (127, b"\x7f"), (128, b"\x80\x01"), (16383, b"\xff\x7f"),
                 (16384, b"\x80\x80\x01"), (2097151, b"\xff\xff\x7f"),
                 (2097152, b"\x80\x80\x80\x01"), (268435455, b"\xff\xff\xff\x7f")]
        for value, data in table:
            self.assertEqual(encode_remaining_length(value), data)
            self.assertEqual(decode_remaining_length(data), (value, len(data)))
        self.assertIsNone(decode_remaining_length(b"\x80\x80"))
        with self.assertRaises(ProtocolError):
            decode_remaining_length(b"\xff\xff\xff\xff\x01")
        with self.assertRaises(ProtocolError):
            decode_remaining_length(b"\x80\x00")
        with self.assertRaises(ValueError):
            encode_remaining_length(268435456)

    def test_encode_writes_what_the_spec_does(self):
        self.assertEqual(encode("CONNECT", client_id="probe"), hand_connect())
        self.assertEqual(encode("PUBLISH", topic="a/b", payload=b"hi", qos=1, packet_id=10,
                                retain=True, dup=True),
                         b"\x3b\x09\x00\x03a/b\x00\x0ahi")
        self.assertEqual(encode("SUBSCRIBE", packet_id=1, topics=[("a/#", 1)]),
                         b"\x82\x08\x00\x01\x00\x03a/#\x01")
        self.assertEqual(encode("PINGREQ"), b"\xc0\x00")
        for kind, fields in [("CONNECT", dict(client_id="c", will_topic="w", will_message=b"m",
                                               will_qos=1, will_retain=True, username="u",
                                               password=b"p", clean_session=False)),
                             ("UNSUBSCRIBE", dict(packet_id=9, topics=["x", "y/+"])),
                             ("SUBACK", dict(packet_id=9, codes=[0, 1, 0x80]))]:
            got, decoded = decode(encode(kind, **fields))
            self.assertEqual(got, kind)
            self.assertEqual({k: decoded[k] for k in fields}, fields)

    def test_wildcards(self):
        self.assertTrue(matches("sport/#", "sport"))
        self.assertTrue(matches("sport/#", "sport/tennis/player1"))
        self.assertTrue(matches("sport/+/player1", "sport/tennis/player1"))
        self.assertTrue(matches("+/+", "/finance"))
        self.assertTrue(matches("+", "sport"))
        self.assertTrue(matches("$SYS/#", "$SYS/x"))
        self.assertFalse(matches("sport/+", "sport/tennis/player1"))
        self.assertFalse(matches("+", "/finance"))
        self.assertFalse(matches("#", "$SYS/x"))
        self.assertFalse(matches("+/x", "$SYS/x"))
        self.assertFalse(matches("sport/tennis", "sport/Tennis"))


class ConnectTest(Case):

    def test_connect_and_connack_round_trip(self):
        broker = self.broker()
        client = self.client(broker)
        client.send(hand_connect(b"probe", flags=0x02, keep_alive=30))
        self.assertEqual(client.raw(), b"\x20\x02\x00\x00")
        connect = broker.wait_for_packet("CONNECT")
        self.assertEqual((connect.fields["client_id"], connect.fields["clean_session"],
                          connect.fields["keep_alive"], connect.connection), ("probe", True, 30, 1))
        self.assertTrue(broker.wait_for(lambda b: [p.kind for p in b.sent] == ["CONNACK"]))
        self.assertEqual(broker.sent[0].fields, {"session_present": False, "return_code": 0})
        self.assertEqual(broker.connections(), 1)
        client.send(b"\xc0\x00")
        self.assertEqual(client.raw(), b"\xd0\x00")
        client.send(b"\xe0\x00")
        self.assertTrue(client.closed())
        self.assertTrue(broker.wait_for(lambda b: b.connections() == 0))
        self.assertEqual([c.reason for c in broker.closes], ["disconnect"])
        self.assertEqual(broker.errors, [])

    def test_wait_for_packet_gives_the_first_match_from_start_or_says_what_came(self):
        broker = self.broker()
        client = self.client(broker, "c")
        for payload in (b"1", b"2", b"3"):
            client.send(encode("PUBLISH", topic="t", payload=payload))
        third = broker.wait_for_packet("PUBLISH", lambda p: p.fields["payload"] == b"3")
        self.assertEqual(third.fields["payload"], b"3")
        self.assertEqual(broker.wait_for_packet("PUBLISH", start=2).fields["payload"], b"2")
        self.assertEqual([p.fields["payload"] for p in broker.published("t")], [b"1", b"2", b"3"])
        with self.assertRaises(AssertionError) as caught:
            broker.wait_for_packet("PUBLISH", lambda p: p.fields["payload"] == b"4", timeout=0.1)
        self.assertIn("b'3'", str(caught.exception))

    def test_a_refused_login_gets_code_4_and_is_closed_and_its_password_is_never_shown(self):
        broker = self.broker()
        broker.require_login("daemon", "s3cret-pw")
        client = self.client(broker)
        client.send(encode("CONNECT", client_id="d", username="daemon", password="wrong-pw-42"))
        self.assertEqual(client.raw(), b"\x20\x02\x00\x04")
        self.assertTrue(client.closed())
        connect = broker.wait_for_packet("CONNECT")
        self.assertEqual(connect.fields["password"], b"wrong-pw-42")
        with self.assertRaises(AssertionError) as caught:
            broker.wait_for_packet("PUBLISH", timeout=0)
        shown = " ".join([repr(broker.received), str(broker.received), str(connect.fields),
                          "%s" % (connect,), str(broker.errors), str(caught.exception)])
        self.assertNotIn("wrong-pw-42", shown)
        self.assertIn("<hidden>", shown)

        self.client(broker, "d", username="daemon", password="s3cret-pw")
        self.assertTrue(broker.wait_for(lambda b: [c.reason for c in b.closes] == ["refused"]))

    def test_refuse_answers_the_code_then_closes_until_refuse_none(self):
        broker = self.broker()
        broker.refuse(5)
        client = self.client(broker)
        client.send(encode("CONNECT", client_id="d"))
        self.assertEqual(client.expect("CONNACK"), {"session_present": False, "return_code": 5})
        self.assertTrue(client.closed())
        broker.refuse(None)
        self.assertEqual(self.client(broker).connect("d")["return_code"], 0)

    def test_a_refused_client_reads_its_connack_even_when_it_sent_more(self):
        broker = self.broker()
        broker.refuse(3)
        client = self.client(broker)
        client.send(encode("CONNECT", client_id="d")
                    + encode("PUBLISH", topic="t", payload=b"x" * 200000))
        self.assertEqual(client.raw(), b"\x20\x02\x00\x03")
        self.assertEqual(client.raw(), b"")
        self.assertTrue(broker.wait_for(lambda b: [c.reason for c in b.closes] == ["refused"]))

    def test_an_empty_client_id_needs_a_clean_session(self):
        broker = self.broker()
        client = self.client(broker)
        client.send(hand_connect(b"", flags=0x00))
        self.assertEqual(client.raw(), b"\x20\x02\x00\x02")
        self.assertTrue(client.closed())
        self.client(broker).connect("")


class MalformedTest(Case):

    CASES = [
        ("remaining length", None, b"\x10\xff\xff\xff\xff\x01"),
        ("fixed header flags", "connect", b"\xc1\x00"),
        ("first packet", None, b"\xc0\x00"),
        ("protocol name", None, hand_connect(protocol=b"MQTX")),
        ("protocol level", None, hand_connect(level=3)),
        ("reserved connect flag", None, hand_connect(flags=0x03)),
        ("UTF-8", None, hand_connect(client_id=b"\xc3\x28")),
        ("U+0000", None, hand_connect(client_id=b"a\x00b")),
        ("fixed header flags", "connect", b"\x80\x08\x00\x01\x00\x03a/b\x00"),
        ("QoS 3 or reserved", "connect", b"\x82\x08\x00\x01\x00\x03a/b\x04"),
        ("wildcard", "connect", b"\x30\x05\x00\x03a/+"),
        ("'#' that is not", "connect", b"\x82\x09\x00\x01\x00\x04a/#b\x00"),
        ("'+' that is not", "connect", b"\xa2\x07\x00\x01\x00\x03a+b"),
        ("is empty", "connect", b"\x30\x02\x00\x00"),
        ("QoS 3", "connect", b"\x36\x07\x00\x03a/b\x00\x01"),
        ("QoS 2", "connect", b"\x34\x07\x00\x03a/b\x00\x01"),
        ("DUP set at QoS 0", "connect", b"\x38\x05\x00\x03a/b"),
        ("packet identifier 0", "connect", b"\x40\x02\x00\x00"),
        ("after its last field", "connect", b"\xc0\x01\x00"),
        ("a second CONNECT", "connect", hand_connect()),
        ("only a server sends", "connect", b"\xd0\x00"),
        ("password flag", None, hand_connect(flags=0x42, payload=b"\x00\x02pw")),
        ("without the will flag", None, hand_connect(flags=0x22)),
    ]

    def test_each_malformed_packet_is_an_error_and_closes(self):
        broker = self.broker()
        for error, first, data in self.CASES:
            with self.subTest(error=error, data=data):
                before, ended = len(broker.errors), len(broker.closes)
                client = self.client(broker, "probe" if first else None)
                client.send(data)
                if error == "protocol level":
                    self.assertEqual(client.raw(), b"\x20\x02\x00\x01")
                self.assertTrue(client.closed())
                self.assertTrue(broker.wait_for(lambda b: len(b.errors) == before + 1))
                self.assertIn(error, broker.errors[-1])
                self.assertTrue(broker.wait_for(lambda b: len(b.closes) == ended + 1))
                self.assertEqual(broker.closes[-1].reason, "protocol error")
        self.assertEqual(broker.connections(), 0)

    def test_a_byte_at_a_time_is_still_one_packet(self):
        broker = self.broker()
        client = self.client(broker)
        for byte in hand_connect():
            client.send(bytes([byte]))
        self.assertEqual(client.raw(), b"\x20\x02\x00\x00")
        self.assertEqual(broker.errors, [])


class RoutingTest(Case):

    def test_qos_1_publish_gets_its_puback_and_goes_out_with_the_brokers_packet_id(self):
        broker = self.broker()
        subscriber = self.client(broker, "sub")
        self.assertEqual(subscriber.subscribe(("cmd/#", 2)), {"packet_id": 1, "codes": [1]})
        publisher = self.client(broker, "pub")
        publisher.send(b"\x32\x0b\x00\x05cmd/x\x00\x07go")
        self.assertEqual(publisher.raw(), b"\x40\x02\x00\x07")
        delivered = subscriber.expect("PUBLISH")
        self.assertEqual((delivered["topic"], delivered["payload"], delivered["qos"],
                          delivered["retain"], delivered["dup"]), ("cmd/x", b"go", 1, False, False))
        self.assertEqual(delivered["packet_id"], 1)
        subscriber.send(encode("PUBACK", packet_id=1))
        broker.wait_for_packet("PUBACK", lambda p: p.connection == 1)
        self.assertEqual([p.fields["payload"] for p in broker.published("cmd/x")], [b"go"])

    def test_qos_is_the_lower_of_the_publish_and_the_grant(self):
        broker = self.broker()
        subscriber = self.client(broker, "sub")
        subscriber.subscribe(("a", 0))
        self.assertEqual(broker.publish("a", b"x", qos=1), 1)
        self.assertEqual(subscriber.expect("PUBLISH")["qos"], 0)

    def test_wildcard_subscriptions_get_each_match_once(self):
        broker = self.broker()
        subscriber = self.client(broker, "sub")
        subscriber.subscribe(("home/+/state", 0), ("home/#", 1))
        other = self.client(broker, "other")
        other.subscribe(("office/+", 0))
        broker.publish("home/kitchen/state", b"on", qos=1)
        broker.publish("home/kitchen/state/extra", b"deep")
        broker.publish("$SYS/uptime", b"1")
        broker.publish("office/desk", b"lamp")
        first = subscriber.expect("PUBLISH")
        self.assertEqual((first["topic"], first["qos"]), ("home/kitchen/state", 1))
        self.assertEqual(subscriber.expect("PUBLISH")["topic"], "home/kitchen/state/extra")
        self.assertEqual(other.expect("PUBLISH")["payload"], b"lamp")
        self.assertTrue(subscriber.silent(0.2))

    def test_a_later_subscriber_gets_the_retained_message_with_retain_set(self):
        broker = self.broker()
        publisher = self.client(broker, "pub")
        publisher.send(encode("PUBLISH", topic="state/volume", payload=b"-20", retain=True))
        publisher.send(encode("PUBLISH", topic="state/gone", payload=b"x", retain=True))
        publisher.send(encode("PUBLISH", topic="state/gone", payload=b"", retain=True))
        self.assertTrue(broker.wait_for(lambda b: len(b.published()) == 3))
        self.assertEqual(broker.retained, {"state/volume": b"-20"})
        subscriber = self.client(broker, "sub")
        subscriber.subscribe(("state/+", 1))
        retained = subscriber.expect("PUBLISH")
        self.assertEqual((retained["topic"], retained["payload"], retained["retain"],
                          retained["qos"]), ("state/volume", b"-20", True, 0))
        self.assertTrue(subscriber.silent(0.2))
        publisher.send(encode("PUBLISH", topic="state/volume", payload=b"-21", retain=True))
        live = subscriber.expect("PUBLISH")
        self.assertEqual((live["payload"], live["retain"]), (b"-21", False))

    def test_unsubscribe_stops_delivery(self):
        broker = self.broker()
        subscriber = self.client(broker, "sub")
        subscriber.subscribe(("a/+", 0))
        subscriber.send(b"\xa2\x07\x00\x05\x00\x03a/+")
        self.assertEqual(subscriber.raw(), b"\xb0\x02\x00\x05")
        self.assertEqual(broker.publish("a/b", b"x"), 0)

    def test_a_persistent_session_keeps_subscriptions_and_qos_1_messages(self):
        broker = self.broker()
        first = self.client(broker, "keeper", clean_session=False)
        first.subscribe(("cmd", 1))
        first.send(encode("DISCONNECT"))
        self.assertTrue(first.closed())
        self.assertTrue(broker.wait_for(lambda b: b.connections() == 0))
        broker.publish("cmd", b"while away", qos=1)
        again = self.client(broker)
        self.assertEqual(again.connect("keeper", clean_session=False)["session_present"], True)
        queued = again.expect("PUBLISH")
        self.assertEqual((queued["payload"], queued["qos"]), (b"while away", 1))
        again.sock.close()  # without PUBACK: the message is sent again, with DUP
        third = self.client(broker)
        self.assertEqual(third.connect("keeper", clean_session=False)["session_present"], True)
        resent = third.expect("PUBLISH")
        self.assertEqual((resent["payload"], resent["packet_id"], resent["dup"]),
                         (b"while away", queued["packet_id"], True))
        third.send(encode("PUBACK", packet_id=resent["packet_id"]))
        third.send(encode("DISCONNECT"))
        self.assertTrue(third.closed())
        self.assertEqual(self.client(broker).connect("keeper")["session_present"], False)


class FaultTest(Case):

    def test_drop_before_puback_closes_without_puback_then_the_dup_is_acknowledged(self):
        broker = self.broker()
        broker.drop_before_puback()
        client = self.client(broker, "pub")
        client.send(encode("PUBLISH", topic="a", payload=b"1", qos=1, packet_id=3))
        self.assertTrue(client.closed())
        self.assertEqual(broker.published("a")[0].fields["packet_id"], 3)
        self.assertTrue(broker.wait_for(lambda b: b.connections() == 0))
        self.assertEqual([p.kind for p in broker.sent], ["CONNACK"])
        self.assertEqual(broker.closes[-1].reason, "no puback")
        again = self.client(broker, "pub")
        again.send(encode("PUBLISH", topic="a", payload=b"1", qos=1, packet_id=3, dup=True))
        self.assertEqual(again.expect("PUBACK"), {"packet_id": 3})

    def test_the_will_is_published_after_an_abrupt_close(self):
        broker = self.broker()
        watcher = self.client(broker, "watcher")
        watcher.subscribe(("status", 1))
        daemon = self.client(broker, "daemon", will_topic="status", will_message=b"offline",
                             will_qos=1, will_retain=True)
        daemon.sock.close()
        will = watcher.expect("PUBLISH")
        self.assertEqual((will["topic"], will["payload"], will["qos"]), ("status", b"offline", 1))
        self.assertTrue(broker.wait_for(lambda b: b.retained.get("status") == b"offline"))

    def test_no_will_after_disconnect(self):
        broker = self.broker()
        watcher = self.client(broker, "watcher")
        watcher.subscribe(("status", 1))
        daemon = self.client(broker, "daemon", will_topic="status", will_message=b"offline",
                             will_retain=True)
        daemon.send(b"\xe0\x00")
        daemon.sock.close()
        self.assertTrue(broker.wait_for(lambda b: [c.reason for c in b.closes] == ["disconnect"]))
        self.assertEqual([p for p in broker.sent if p.kind == "PUBLISH"], [])
        self.assertEqual(broker.retained, {})
        self.assertTrue(watcher.silent(0.2))

    def test_keep_alive_expiry_publishes_the_will(self):
        broker = self.broker()
        watcher = self.client(broker, "watcher")
        watcher.subscribe(("status", 0))
        daemon = self.client(broker, "daemon", keep_alive=1, will_topic="status",
                             will_message=b"lost")
        connected = broker.wait_for_packet("CONNECT", lambda p: p.fields["client_id"] == "daemon")
        self.assertEqual(watcher.expect("PUBLISH", seconds=4)["payload"], b"lost")
        self.assertTrue(daemon.closed())
        self.assertTrue(broker.wait_for(lambda b: b.closes))
        ended = broker.closes[-1]
        self.assertEqual(ended.reason, "keep-alive")
        self.assertGreaterEqual(ended.at - connected.at, 1.45)
        self.assertLess(ended.at - connected.at, 2.5)

    def test_drop_all_cuts_every_connection_and_publishes_the_wills(self):
        broker = self.broker()
        clients = [self.client(broker, "c%d" % i, will_topic="will/c%d" % i, will_message=b"x",
                               will_retain=True) for i in range(3)]
        self.assertTrue(broker.drop_all())
        self.assertEqual(broker.retained, {"will/c0": b"x", "will/c1": b"x", "will/c2": b"x"})
        for client in clients:
            self.assertTrue(client.closed())
        self.assertEqual(sorted(c.reason for c in broker.closes), ["dropped"] * 3)

    def test_a_client_id_that_connects_again_takes_over(self):
        broker = self.broker()
        old = self.client(broker, "same", will_topic="w", will_message=b"old", will_retain=True)
        self.client(broker, "same")
        self.assertTrue(old.closed())
        self.assertTrue(broker.wait_for(lambda b: b.closes))
        self.assertEqual(broker.closes[0].reason, "taken over")
        self.assertEqual(broker.retained, {"w": b"old"})

    def test_stall_answers_nothing_and_backs_up_writes_until_resume(self):
        broker = self.broker()
        client = self.client(broker, "c")
        client.subscribe(("cmd", 0))
        flood = self.client(broker, "flood")
        broker.stall()
        client.send(b"\xc0\x00")
        self.assertEqual(broker.publish("cmd", b"later"), 1)
        self.assertTrue(client.silent(0.3))
        big = encode("PUBLISH", topic="big", payload=b"\x00" * (64 << 20))
        flood.sock.settimeout(0.3)
        with self.assertRaises(socket.timeout):
            flood.sock.sendall(big)
        self.assertEqual(broker.published("big"), [])
        broker.resume()
        self.assertEqual(client.expect("PUBLISH")["payload"], b"later")
        self.assertEqual(client.raw(), b"\xd0\x00")

    def test_slow_reads_take_their_time_and_stop_does_not_wait_for_them(self):
        broker = self.broker()
        broker.slow_reads(1, 0.02)
        client = self.client(broker)
        data = hand_connect()
        began = time.monotonic()
        client.send(data)
        self.assertEqual(client.raw(), b"\x20\x02\x00\x00")
        self.assertGreaterEqual(broker.received[0].at - began, 0.02 * (len(data) - 1))
        broker.slow_reads(1, 60)
        client.send(b"\xc0\x00")
        self.assertTrue(broker.wait_for(lambda b: b.connections() == 1))
        began = time.monotonic()
        broker.stop()
        self.assertLess(time.monotonic() - began, 1.0)
        broker.slow_reads(None)


class RestartTest(Case):

    def threads(self, broker):
        prefix = "mqtt-standin-%d" % broker.port
        return [t for t in threading.enumerate() if t.name.startswith(prefix)]

    def test_stop_ends_every_thread_promptly_and_start_keeps_retained_on_the_same_port(self):
        broker = self.broker()
        port = broker.port
        broker.publish("state", b"kept", retain=True)
        client = self.client(broker, "c", will_topic="will", will_message=b"x", will_retain=True)
        broker.stall()
        self.assertEqual(len(self.threads(broker)), 2)
        began = time.monotonic()
        broker.stop()
        self.assertLess(time.monotonic() - began, 1.0)
        self.assertEqual(self.threads(broker), [])
        self.assertTrue(client.closed())
        self.assertEqual(broker.retained, {"state": b"kept"})
        broker.resume()

        self.assertIs(broker.start(), broker)
        self.assertEqual(broker.port, port)
        again = self.client(broker, "c")
        again.subscribe(("#", 0))
        retained = again.expect("PUBLISH")
        self.assertEqual((retained["topic"], retained["payload"], retained["retain"]),
                         ("state", b"kept", True))
        self.assertEqual(broker.closes[0].reason, "stopped")
        self.assertEqual(broker.received[-2].connection, 2)
        broker.clear_retained()
        self.assertEqual(broker.retained, {})

    def test_a_context_manager(self):
        with StandInBroker() as broker:
            client = self.client(broker, "c")
            self.assertEqual(broker.connections(), 1)
        self.assertTrue(client.closed())
        self.assertEqual(self.threads(broker), [])


if __name__ == "__main__":
    unittest.main()
