"""MQTT 3.1.1 packets, as a client sends and reads them: pure functions, no sockets.

The client sends CONNECT, PUBLISH (QoS 0 and 1), PUBACK, SUBSCRIBE,
PINGREQ and DISCONNECT, and reads CONNACK, PUBLISH, PUBACK, SUBACK and
PINGRESP. ``Decoder`` turns the bytes a broker sends into those packets
and refuses anything else, a packet longer than it allows, or a fixed
header whose flags the standard fixes otherwise, with ``ProtocolError``:
the connection is then dropped, as the standard asks.
"""

import collections
import struct

CONNECT, CONNACK, PUBLISH, PUBACK = 1, 2, 3, 4
SUBSCRIBE, SUBACK, UNSUBSCRIBE, UNSUBACK = 8, 9, 10, 11
PINGREQ, PINGRESP, DISCONNECT = 12, 13, 14

MAX_REMAINING = 268435455  # four bytes of remaining length
MAX_PACKET_ID = 65535
PINGREQ_PACKET = bytes((PINGREQ << 4, 0))
DISCONNECT_PACKET = bytes((DISCONNECT << 4, 0))

# What a CONNACK's return code means (3.2.2.3), for the log line.
REFUSED = {
    1: "the broker refused the protocol version (MQTT 3.1.1)",
    2: "the broker refused the client identifier",
    3: "the broker is unavailable",
    4: "the broker refused the user name or password",
    5: "the broker refused the login: not authorized",
}

Connack = collections.namedtuple("Connack", "session_present code")
Publish = collections.namedtuple("Publish", "topic payload qos retain dup packet_id")
Puback = collections.namedtuple("Puback", "packet_id")
Suback = collections.namedtuple("Suback", "packet_id codes")
Unsuback = collections.namedtuple("Unsuback", "packet_id")
Pingresp = collections.namedtuple("Pingresp", "")

Will = collections.namedtuple("Will", "topic payload qos retain")


class ProtocolError(Exception):
    """The broker sent what MQTT 3.1.1 does not allow a broker to send."""


# -- encoding ---------------------------------------------------------------

def remaining_length(length):
    """The variable-length encoding of a packet's remaining length."""
    if not 0 <= length <= MAX_REMAINING:
        raise ValueError("a packet of %d bytes is longer than MQTT allows" % length)
    out = bytearray()
    while True:
        length, digit = divmod(length, 128)
        out.append(digit | (0x80 if length else 0))
        if not length:
            return bytes(out)


def text(value):
    """A UTF-8 string with its two-byte length (1.5.3): no U+0000, at most 65,535 bytes."""
    data = value.encode("utf-8")
    if "\0" in value or len(data) > 65535:
        raise ValueError("not an MQTT string: %d bytes%s" % (
            len(data), ", with a NUL" if "\0" in value else ""))
    return struct.pack("!H", len(data)) + data


def blob(data):
    """Binary data with its two-byte length (a password, a will's message)."""
    if len(data) > 65535:
        raise ValueError("binary data of %d bytes is longer than MQTT allows" % len(data))
    return struct.pack("!H", len(data)) + bytes(data)


def packet(kind, flags, body):
    return bytes((kind << 4 | flags,)) + remaining_length(len(body)) + bytes(body)


def connect(client_id, keep_alive, username=None, password=None, will=None, clean=True):
    """CONNECT (3.1): ``password`` bytes, ``will`` a ``Will`` or None."""
    flags = 0x02 if clean else 0
    payload = text(client_id)
    if will is not None:
        flags |= 0x04 | will.qos << 3 | (0x20 if will.retain else 0)
        payload += text(will.topic) + blob(will.payload)
    if username is not None:
        flags |= 0x80
        payload += text(username)
    if password is not None:
        flags |= 0x40
        payload += blob(password)
    header = text("MQTT") + bytes((4, flags)) + struct.pack("!H", keep_alive)
    return packet(CONNECT, 0, header + payload)


def publish(topic, payload, qos=0, retain=False, packet_id=None, dup=False):
    """PUBLISH (3.3) at QoS 0 or 1; a QoS 1 one needs its ``packet_id``."""
    if qos not in (0, 1):
        raise ValueError("QoS %r: this client publishes at 0 or 1" % (qos,))
    flags = qos << 1 | (0x08 if dup else 0) | (0x01 if retain else 0)
    body = text(topic)
    if qos:
        body += struct.pack("!H", packet_id)
    return packet(PUBLISH, flags, body + bytes(payload))


def puback(packet_id):
    return packet(PUBACK, 0, struct.pack("!H", packet_id))


def subscribe(packet_id, filters):
    """SUBSCRIBE (3.8) to ``(topic filter, qos)`` pairs."""
    body = struct.pack("!H", packet_id)
    for topic, qos in filters:
        body += text(topic) + bytes((qos,))
    return packet(SUBSCRIBE, 0x02, body)


# -- decoding ---------------------------------------------------------------

class Decoder:
    """Turns the broker's bytes into packets, however the reads split them.

    ``limit`` caps a packet's remaining length: a broker that sends more
    than a command needs is refused, not buffered.
    """

    def __init__(self, limit=256 * 1024):
        self.limit = limit
        self._buffer = bytearray()

    def feed(self, data):
        """Add ``data``; return the whole packets it completes, in order."""
        self._buffer += data
        found = []
        while True:
            taken = self._take()
            if taken is None:
                return found
            found.append(taken)

    def _take(self):
        buffer = self._buffer
        length, shift, at = 0, 0, 1
        while True:
            if at >= len(buffer):
                return None
            digit = buffer[at]
            length |= (digit & 0x7F) << shift
            at += 1
            if not digit & 0x80:
                break
            shift += 7
            if at > 4:
                raise ProtocolError("a remaining length of more than four bytes")
        if length > self.limit:
            raise ProtocolError("a packet of %d bytes, more than the %d this client takes"
                                % (length, self.limit))
        if len(buffer) < at + length:
            return None
        first, body = buffer[0], bytes(buffer[at:at + length])
        del buffer[:at + length]
        return parse(first >> 4, first & 0x0F, body)


def parse(kind, flags, body):
    """One packet a broker sent, from its type, its fixed-header flags and its body."""
    if kind == PUBLISH:
        return _publish(flags, body)
    if flags:
        raise ProtocolError("packet type %d with flags %#x, which must be 0" % (kind, flags))
    if kind == CONNACK:
        _length(kind, body, 2)
        if body[0] & 0xFE:
            raise ProtocolError("CONNACK with reserved flags set")
        return Connack(bool(body[0] & 1), body[1])
    if kind in (PUBACK, UNSUBACK):
        _length(kind, body, 2)
        packet_id = struct.unpack("!H", body)[0]
        return Puback(packet_id) if kind == PUBACK else Unsuback(packet_id)
    if kind == SUBACK:
        if len(body) < 3:
            raise ProtocolError("SUBACK of %d bytes" % len(body))
        codes = tuple(body[2:])
        if any(code not in (0, 1, 2, 0x80) for code in codes):
            raise ProtocolError("SUBACK with a return code that is no QoS nor 0x80")
        return Suback(struct.unpack("!H", body[:2])[0], codes)
    if kind == PINGRESP:
        _length(kind, body, 0)
        return Pingresp()
    raise ProtocolError("packet type %d, which a broker does not send a client" % kind)


def _length(kind, body, wanted):
    if len(body) != wanted:
        raise ProtocolError("packet type %d of %d bytes, not %d" % (kind, len(body), wanted))


def _publish(flags, body):
    qos = (flags >> 1) & 3
    if qos == 3:
        raise ProtocolError("PUBLISH with QoS 3")
    if len(body) < 2:
        raise ProtocolError("PUBLISH without a topic")
    size = struct.unpack("!H", body[:2])[0]
    end = 2 + size
    if len(body) < end + (2 if qos else 0):
        raise ProtocolError("PUBLISH shorter than its topic and packet identifier")
    try:
        topic = body[2:end].decode("utf-8")
    except UnicodeDecodeError:
        raise ProtocolError("PUBLISH whose topic is not UTF-8") from None
    if "\0" in topic or "+" in topic or "#" in topic:
        raise ProtocolError("PUBLISH to a topic with a NUL or a wildcard")
    packet_id = None
    if qos:
        packet_id = struct.unpack("!H", body[end:end + 2])[0]
        end += 2
        if packet_id == 0:
            raise ProtocolError("PUBLISH with packet identifier 0")
    return Publish(topic, body[end:], qos, bool(flags & 1), bool(flags & 8), packet_id)
