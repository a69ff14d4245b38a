"""MQTT 3.1.1 packets: the bytes the client sends, and what it accepts from a broker."""

import unittest

from streamerbrainz.mqtt import packets
from streamerbrainz.mqtt.packets import ProtocolError


class EncodeTest(unittest.TestCase):

    def test_remaining_length_at_each_boundary(self):
        for length, wanted in ((0, b"\x00"), (127, b"\x7f"), (128, b"\x80\x01"),
                               (16383, b"\xff\x7f"), (16384, b"\x80\x80\x01"),
                               (2097151, b"\xff\xff\x7f"), (2097152, b"\x80\x80\x80\x01"),
                               (268435455, b"\xff\xff\xff\x7f")):
            with self.subTest(length=length):
                self.assertEqual(packets.remaining_length(length), wanted)
        with self.assertRaises(ValueError):
            packets.remaining_length(268435456)

    def test_connect_with_a_will_a_user_and_a_password(self):
        will = packets.Will("sb/pi/availability", b"offline", 1, True)
        data = packets.connect("sbz-pi", 60, "ha", b"pw", will)
        body = (b"\x00\x04MQTT\x04" + bytes((0x80 | 0x40 | 0x20 | 0x08 | 0x04 | 0x02,))
                + b"\x00\x3c" + b"\x00\x06sbz-pi" + b"\x00\x12sb/pi/availability"
                + b"\x00\x07offline" + b"\x00\x02ha" + b"\x00\x02pw")
        self.assertEqual(data, b"\x10" + bytes((len(body),)) + body)

    def test_connect_anonymous_without_a_will(self):
        self.assertEqual(packets.connect("c", 5),
                         b"\x10\x0d\x00\x04MQTT\x04\x02\x00\x05\x00\x01c")

    def test_publish_at_qos_0_and_1(self):
        self.assertEqual(packets.publish("a/b", b"ON"), b"\x30\x07\x00\x03a/bON")
        self.assertEqual(packets.publish("a/b", b"ON", qos=1, retain=True, packet_id=10),
                         b"\x33\x09\x00\x03a/b\x00\x0aON")
        self.assertEqual(packets.publish("a", b"", qos=1, retain=True, packet_id=1,
                                         dup=True)[0], 0x3B)
        with self.assertRaises(ValueError):
            packets.publish("a", b"", qos=2, packet_id=1)

    def test_a_topic_with_a_nul_is_refused(self):
        with self.assertRaises(ValueError):
            packets.publish("a\0b", b"")

    def test_subscribe_puback_ping_and_disconnect(self):
        self.assertEqual(packets.subscribe(2, [("a/+/set", 1), ("b", 0)]),
                         b"\x82\x10\x00\x02\x00\x07a/+/set\x01\x00\x01b\x00")
        self.assertEqual(packets.puback(258), b"\x40\x02\x01\x02")
        self.assertEqual(packets.PINGREQ_PACKET, b"\xc0\x00")
        self.assertEqual(packets.DISCONNECT_PACKET, b"\xe0\x00")


class DecodeTest(unittest.TestCase):

    def feed(self, *chunks, limit=1024):
        decoder = packets.Decoder(limit)
        found = []
        for chunk in chunks:
            found += decoder.feed(chunk)
        return found

    def test_what_a_broker_sends_however_the_reads_split_it(self):
        stream = (b"\x20\x02\x01\x00" + b"\x40\x02\x00\x07" + b"\x90\x04\x00\x01\x01\x80"
                  + b"\xd0\x00" + b"\x32\x0e\x00\x06sb/set\x00\x05play")
        wanted = [packets.Connack(True, 0), packets.Puback(7),
                  packets.Suback(1, (1, 0x80)), packets.Pingresp(),
                  packets.Publish("sb/set", b"play", 1, False, False, 5)]
        self.assertEqual(self.feed(stream), wanted)
        self.assertEqual(self.feed(*[stream[i:i + 1] for i in range(len(stream))]), wanted)

    def test_a_long_publish_with_a_two_byte_length(self):
        payload = b"x" * 300
        data = packets.publish("t", payload)
        self.assertEqual(self.feed(data[:2], data[2:]),
                         [packets.Publish("t", payload, 0, False, False, None)])

    def test_what_a_broker_must_not_send_is_a_protocol_error(self):
        cases = {
            "a CONNECT": b"\x10\x00",
            "a PINGREQ": b"\xc0\x00",
            "reserved type 0": b"\x00\x00",
            "a PUBACK with flags": b"\x42\x02\x00\x01",
            "a CONNACK of 3 bytes": b"\x20\x03\x00\x00\x00",
            "a CONNACK with reserved flags": b"\x20\x02\x02\x00",
            "QoS 3": b"\x36\x03\x00\x01a",
            "a wildcard topic": b"\x30\x03\x00\x01#",
            "a topic not UTF-8": b"\x30\x03\x00\x01\xff",
            "packet id 0": b"\x32\x05\x00\x01a\x00\x00",
            "a SUBACK code 3": b"\x90\x03\x00\x01\x03",
            "five length bytes": b"\x30\xff\xff\xff\xff\x01",
            "more than the limit": b"\x30\x81\x08",
        }
        for name, data in cases.items():
            with self.subTest(name):
                with self.assertRaises(ProtocolError):
                    self.feed(data)

    def test_a_refused_connack_carries_its_code(self):
        self.assertEqual(self.feed(b"\x20\x02\x00\x04"), [packets.Connack(False, 4)])
        self.assertIn("user name or password", packets.REFUSED[4])
