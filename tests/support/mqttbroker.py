"""A stand-in MQTT 3.1.1 broker for tests: strict on the wire, recording, faulty on demand.

The daemon publishes to, and takes commands from, an MQTT broker. Its
tests need a broker that speaks MQTT 3.1.1 exactly (OASIS Standard, 29
October 2014), refuses what a strict broker refuses, records what the
client sent and what it was sent, and when, and breaks on demand.
``StandInBroker`` is that broker. It listens on 127.0.0.1 on a free port
and serves each connection on a daemon thread of its own.

What it knows:

- CONNECT / CONNACK: protocol "MQTT" level 4 only (another level is
  answered CONNACK 1, then closed); an empty client id with clean
  session 0 is answered CONNACK 2; a second connection with a client id
  already connected takes over (the first is closed, its will published).
  Clean session 0 keeps the session (subscriptions, unacknowledged and
  queued QoS 1 messages, re-sent with DUP on reconnect) and CONNACK says
  session present; clean session 1 discards it.
- PUBLISH at QoS 0 and 1 (QoS 2 is recorded as an error: not supported),
  PUBACK; SUBSCRIBE / SUBACK (the requested QoS granted up to 1),
  UNSUBSCRIBE / UNSUBACK; PINGREQ / PINGRESP; DISCONNECT.
- Routing: a PUBLISH, from a client or from ``publish``, goes once to
  each session with a matching subscription (``+`` and ``#``; a topic
  starting with ``$`` is not matched by a filter starting with a
  wildcard), at min(its QoS, the highest granted QoS among the matching
  filters), with RETAIN 0; QoS 1 ones use the broker's own packet ids.
- Retained messages: a PUBLISH with RETAIN stores its payload for its
  topic (an empty payload deletes it); a new subscription gets the
  matching ones with RETAIN 1. They survive ``stop()`` / ``start()``, as
  do persistent sessions (``clear_retained()`` forgets them).
- The last will is published (retained if will retain) when a connection
  ends without DISCONNECT: closed by the client, a network error, a
  protocol error, no packet for 1.5 x keep alive, ``drop_all``,
  ``drop_before_puback``, a take-over. Not on DISCONNECT, on a refused
  CONNECT or on ``stop()`` (call ``drop_all()`` first for those wills).

Strictness: a malformed packet (a remaining length over four bytes or
not in its shortest form -- 3.1.1 does not say, 5.0 does --, one that
does not match the packet, wrong fixed-header flags, a reserved bit, a
string that is not UTF-8 or holds U+0000, packet id 0, a topic name with a
wildcard, a bad topic filter, DUP on QoS 0, bytes after the last field),
a first packet other than CONNECT, a second CONNECT, a packet only a
server sends, is recorded in ``errors`` and the connection is closed
(after its will is published), as a real broker does.

Records: ``received`` and ``sent`` (``Packet``), ``errors`` (str),
``closes`` (``Closed``: how each connection ended: "disconnect",
"closed", "reset", "keep-alive", "protocol error", "refused", "dropped",
"no puback", "taken over", "stopped"), ``retained``. A password is kept
in a CONNECT's fields but shown by no repr or str, nor in any error.

Faults, settable at any time from the test's thread:

- ``refuse(code)``: answer every CONNECT with CONNACK ``code`` (1..5),
  then close; ``refuse(None)`` accepts again. It wins over a login.
- ``require_login(username, password)``: CONNACK 4 unless both match
  (``require_login(None)``: anyone).
- ``drop_before_puback(n=1)``: the next ``n`` QoS 1 PUBLISHes are
  recorded, neither routed nor retained, and their connection is closed
  without PUBACK, as by a broker that fell over: the client must re-send
  with DUP once reconnected.
- ``stall()`` / ``resume()``: read nothing more from any socket (the
  client's writes back up, as to a hung broker), answer and send nothing
  (what is due is sent on ``resume``); keep alive is not checked while
  stalled and restarts on ``resume``.
- ``slow_reads(bytes_per_read, delay)``: read at most that many bytes at
  a time, ``delay`` seconds apart; ``slow_reads(None)`` ends it.
- ``drop_all()``: cut every connection at once; it returns once they
  are gone, their wills published.
- ``stop()`` / ``start()``: a restart on the same port (SO_REUSEADDR).
  ``stop()`` wakes every thread (no wait of its own runs out first) and
  joins them.

The codec (``encode``, ``decode``, ``encode_remaining_length``,
``decode_remaining_length``, ``read_packet``) is for tests to write and
read raw packets too, with ``matches`` (a topic against a filter),
``topic_problem`` and ``filter_problem``. ``encode`` writes what it is
given, so a test can build bad packets; ``decode`` refuses anything that
is not 3.1.1.
"""

import collections
import select
import socket
import threading
import time

KINDS = {1: "CONNECT", 2: "CONNACK", 3: "PUBLISH", 4: "PUBACK", 5: "PUBREC", 6: "PUBREL",
         7: "PUBCOMP", 8: "SUBSCRIBE", 9: "SUBACK", 10: "UNSUBSCRIBE", 11: "UNSUBACK",
         12: "PINGREQ", 13: "PINGRESP", 14: "DISCONNECT"}
TYPES = {kind: number for number, kind in KINDS.items()}
CONNACK_CODES = {0: "accepted", 1: "unacceptable protocol version", 2: "identifier rejected",
                 3: "server unavailable", 4: "bad user name or password", 5: "not authorized"}
MAX_REMAINING_LENGTH = 268435455
SUBACK_FAILURE = 0x80

Packet = collections.namedtuple("Packet", "kind fields at connection")
Packet.__doc__ = """One packet: ``kind`` ("CONNECT", "PUBLISH", ...), ``fields`` (a dict), ``at``
(time.monotonic()) and ``connection`` (1 for the first connection accepted, then 2, ...)."""

Closed = collections.namedtuple("Closed", "connection reason at")


class ProtocolError(ValueError):
    """Bytes that are not MQTT 3.1.1."""


class Fields(dict):
    """A packet's fields; its repr and str show no password."""

    def __repr__(self):
        shown = dict(self)
        if shown.get("password") is not None:
            shown["password"] = "<hidden>"
        return repr(shown)

    __str__ = __repr__


# -- the codec -------------------------------------------------------------------


def encode_remaining_length(n):
    if not 0 <= n <= MAX_REMAINING_LENGTH:
        raise ValueError("remaining length %d is not in 0..%d" % (n, MAX_REMAINING_LENGTH))
    out = bytearray()
    while True:
        n, digit = divmod(n, 128)
        out.append(digit | (0x80 if n else 0))
        if not n:
            return bytes(out)


def decode_remaining_length(data, offset=0):
    """``(length, end)`` of the remaining length at ``data[offset:]``, ``end`` just past it.

    None when ``data`` ends before it does; a ProtocolError when it runs
    over four bytes or is not in its shortest form.
    """
    value = 0
    for i in range(4):
        if offset + i >= len(data):
            return None
        byte = data[offset + i]
        value += (byte & 0x7F) << (7 * i)
        if not byte & 0x80:
            if i and byte == 0:
                raise ProtocolError("remaining length not in its shortest form")
            return value, offset + i + 1
    raise ProtocolError("remaining length longer than four bytes")


def read_packet(sock, deadline):
    """One whole packet's bytes from ``sock``; b"" when the peer closed before it began.

    Raises socket.timeout once ``deadline`` (time.monotonic()) passes, and
    ProtocolError for a bad remaining length or a packet cut short.
    """
    data = bytearray(_receive(sock, 1, deadline))
    if not data:
        return b""
    length = None
    while length is None:
        byte = _receive(sock, 1, deadline)
        if not byte:
            raise ProtocolError("the connection ended inside a remaining length")
        data += byte
        length = decode_remaining_length(data, 1)
    body = _receive(sock, length[0], deadline)
    if len(body) < length[0]:
        raise ProtocolError("the connection ended inside a packet")
    return bytes(data + body)


def _receive(sock, count, deadline):
    """``count`` bytes, or fewer when the peer closed."""
    data = bytearray()
    while len(data) < count:
        left = deadline - time.monotonic()
        if left <= 0:
            raise socket.timeout("no whole packet before the deadline")
        sock.settimeout(left)
        chunk = sock.recv(count - len(data))
        if not chunk:
            break
        data += chunk
    return bytes(data)


def _split(buffer):
    """The first whole packet in ``buffer`` as bytes, or None while it is incomplete."""
    length = decode_remaining_length(buffer, 1) if buffer else None
    if length is None or len(buffer) < length[1] + length[0]:
        return None
    return bytes(buffer[:length[1] + length[0]])


def _bytes(value):
    return value.encode("utf-8") if isinstance(value, str) else bytes(value)


def _binary(value):
    data = _bytes(value)
    return len(data).to_bytes(2, "big") + data


def _short(value):
    if value is None:
        raise ValueError("a packet_id is needed")
    return value.to_bytes(2, "big")


def _encode_connect(client_id="", clean_session=True, keep_alive=60, will_topic=None,
                    will_message=b"", will_qos=0, will_retain=False, username=None,
                    password=None, protocol="MQTT", level=4):
    bits = 0x02 if clean_session else 0
    payload = _binary(client_id)
    if will_topic is not None:
        bits |= 0x04 | will_qos << 3 | (0x20 if will_retain else 0)
        payload += _binary(will_topic) + _binary(will_message or b"")
    if username is not None:
        bits |= 0x80
        payload += _binary(username)
    if password is not None:
        bits |= 0x40
        payload += _binary(password)
    return _binary(protocol) + bytes([level, bits]) + _short(keep_alive) + payload


def _encode_connack(session_present=False, return_code=0):
    return bytes([1 if session_present else 0, return_code])


def _encode_publish(topic, payload=b"", qos=0, retain=False, dup=False, packet_id=None):
    return _binary(topic) + (_short(packet_id) if qos else b"") + _bytes(payload)


def _encode_subscribe(packet_id, topics):
    return _short(packet_id) + b"".join(_binary(f) + bytes([qos]) for f, qos in topics)


def _encode_suback(packet_id, codes):
    return _short(packet_id) + bytes(codes)


def _encode_unsubscribe(packet_id, topics):
    return _short(packet_id) + b"".join(_binary(f) for f in topics)


def _encode_ack(packet_id):
    return _short(packet_id)


def _encode_empty():
    return b""


_ENCODERS = {"CONNECT": _encode_connect, "CONNACK": _encode_connack, "PUBLISH": _encode_publish,
             "PUBACK": _encode_ack, "PUBREC": _encode_ack, "PUBREL": _encode_ack,
             "PUBCOMP": _encode_ack, "SUBSCRIBE": _encode_subscribe, "SUBACK": _encode_suback,
             "UNSUBSCRIBE": _encode_unsubscribe, "UNSUBACK": _encode_ack,
             "PINGREQ": _encode_empty, "PINGRESP": _encode_empty, "DISCONNECT": _encode_empty}
_FLAGS = {"PUBREL": 2, "SUBSCRIBE": 2, "UNSUBSCRIBE": 2}  # every other kind but PUBLISH: 0


def encode(kind, flags=None, **fields):
    """One packet of ``kind`` as bytes, from the fields ``decode`` gives; ``flags`` overrides
    the fixed header's four low bits."""
    body = _ENCODERS[kind](**fields)
    if flags is None and kind == "PUBLISH":
        flags = (8 if fields.get("dup") else 0) | fields.get("qos", 0) << 1 | (
            1 if fields.get("retain") else 0)
    elif flags is None:
        flags = _FLAGS.get(kind, 0)
    first = TYPES[kind] << 4 | flags
    return bytes([first]) + encode_remaining_length(len(body)) + body


def decode(data):
    """``(kind, fields)`` of one whole packet's bytes; a ProtocolError if it is not 3.1.1."""
    if not data:
        raise ProtocolError("no packet")
    number, flags = data[0] >> 4, data[0] & 0x0F
    kind = KINDS.get(number)
    if kind is None:
        raise ProtocolError("reserved packet type %d" % number)
    length = decode_remaining_length(data, 1)
    if length is None or length[0] != len(data) - length[1]:
        raise ProtocolError("%s: the remaining length does not match the packet" % kind)
    want = _FLAGS.get(kind, 0)
    if kind != "PUBLISH" and flags != want:
        raise ProtocolError("%s: fixed header flags %s, not %s"
                            % (kind, format(flags, "#06b"), format(want, "#06b")))
    body = _Body(kind, bytes(data[length[1]:]))
    fields = Fields(_DECODERS[kind](body, flags))
    if body.left():
        raise ProtocolError("%s: %d bytes after its last field" % (kind, body.left()))
    return kind, fields


class _Body:
    """A packet's variable header and payload, read field by field."""

    def __init__(self, kind, data):
        self.kind = kind
        self.data = data
        self.at = 0

    def left(self):
        return len(self.data) - self.at

    def take(self, count, what):
        if count > self.left():
            raise ProtocolError("%s: the packet ends inside its %s" % (self.kind, what))
        self.at += count
        return self.data[self.at - count:self.at]

    def byte(self, what):
        return self.take(1, what)[0]

    def short(self, what):
        return int.from_bytes(self.take(2, what), "big")

    def binary(self, what):
        return self.take(self.short(what), what)

    def string(self, what):
        try:
            text = self.binary(what).decode("utf-8")
        except UnicodeDecodeError:
            raise ProtocolError("%s: its %s is not well-formed UTF-8" % (self.kind, what)) from None
        if "\x00" in text:
            raise ProtocolError("%s: its %s holds U+0000" % (self.kind, what))
        return text

    def packet_id(self):
        value = self.short("packet identifier")
        if value == 0:
            raise ProtocolError("%s: packet identifier 0" % self.kind)
        return value

    def rest(self):
        return self.take(self.left(), "payload")


def _decode_connect(body, flags):
    protocol = body.string("protocol name")
    if protocol != "MQTT":
        raise ProtocolError("CONNECT: protocol name %r, not 'MQTT'" % protocol)
    fields = {"protocol": protocol, "level": body.byte("protocol level")}
    if fields["level"] != 4:  # the rest may be laid out otherwise: the broker answers CONNACK 1
        body.rest()
        return fields
    bits = body.byte("connect flags")
    will, will_qos = bool(bits & 0x04), bits >> 3 & 3
    if bits & 0x01:
        raise ProtocolError("CONNECT: the reserved connect flag is set")
    if not will and bits & 0x38:
        raise ProtocolError("CONNECT: will QoS or will retain set without the will flag")
    if will_qos == 3:
        raise ProtocolError("CONNECT: will QoS 3")
    if bits & 0x40 and not bits & 0x80:
        raise ProtocolError("CONNECT: the password flag without the user name flag")
    fields.update(clean_session=bool(bits & 0x02), keep_alive=body.short("keep alive"),
                  client_id=body.string("client identifier"), will_topic=None,
                  will_message=None, will_qos=will_qos, will_retain=bool(bits & 0x20),
                  username=None, password=None)
    if will:
        fields["will_topic"] = _topic_name(body, "will topic")
        fields["will_message"] = body.binary("will message")
    if bits & 0x80:
        fields["username"] = body.string("user name")
    if bits & 0x40:
        fields["password"] = body.binary("password")
    return fields


def _decode_connack(body, flags):
    ack, code = body.byte("acknowledge flags"), body.byte("return code")
    if ack & 0xFE:
        raise ProtocolError("CONNACK: reserved acknowledge flags set")
    if code not in CONNACK_CODES:
        raise ProtocolError("CONNACK: reserved return code %d" % code)
    if code and ack:
        raise ProtocolError("CONNACK: session present with return code %d" % code)
    return {"session_present": bool(ack), "return_code": code}


def _decode_publish(body, flags):
    qos, dup = flags >> 1 & 3, bool(flags & 8)
    if qos == 3:
        raise ProtocolError("PUBLISH: QoS 3")
    if dup and not qos:
        raise ProtocolError("PUBLISH: DUP set at QoS 0")
    topic = _topic_name(body, "topic name")
    packet_id = body.packet_id() if qos else None
    return {"topic": topic, "payload": body.rest(), "qos": qos, "retain": bool(flags & 1),
            "dup": dup, "packet_id": packet_id}


def _decode_ack(body, flags):
    return {"packet_id": body.packet_id()}


def _decode_subscribe(body, flags):
    packet_id, topics = body.packet_id(), []
    while body.left():
        topic_filter = _topic_filter(body)
        qos = body.byte("requested QoS")
        if qos > 2:
            raise ProtocolError("SUBSCRIBE: requested QoS byte %#04x (QoS 3 or reserved bits)"
                                % qos)
        topics.append((topic_filter, qos))
    if not topics:
        raise ProtocolError("SUBSCRIBE: no topic filter")
    return {"packet_id": packet_id, "topics": topics}


def _decode_suback(body, flags):
    packet_id, codes = body.packet_id(), list(body.rest())
    if not codes or any(code not in (0, 1, 2, SUBACK_FAILURE) for code in codes):
        raise ProtocolError("SUBACK: return codes %r" % codes)
    return {"packet_id": packet_id, "codes": codes}


def _decode_unsubscribe(body, flags):
    packet_id, topics = body.packet_id(), []
    while body.left():
        topics.append(_topic_filter(body))
    if not topics:
        raise ProtocolError("UNSUBSCRIBE: no topic filter")
    return {"packet_id": packet_id, "topics": topics}


def _decode_empty(body, flags):
    return {}


_DECODERS = {"CONNECT": _decode_connect, "CONNACK": _decode_connack, "PUBLISH": _decode_publish,
             "PUBACK": _decode_ack, "PUBREC": _decode_ack, "PUBREL": _decode_ack,
             "PUBCOMP": _decode_ack, "SUBSCRIBE": _decode_subscribe, "SUBACK": _decode_suback,
             "UNSUBSCRIBE": _decode_unsubscribe, "UNSUBACK": _decode_ack,
             "PINGREQ": _decode_empty, "PINGRESP": _decode_empty, "DISCONNECT": _decode_empty}


def _topic_name(body, what):
    topic = body.string(what)
    problem = topic_problem(topic)
    if problem:
        raise ProtocolError("%s: %s %r %s" % (body.kind, what, topic, problem))
    return topic


def _topic_filter(body):
    topic_filter = body.string("topic filter")
    problem = filter_problem(topic_filter)
    if problem:
        raise ProtocolError("%s: topic filter %r %s" % (body.kind, topic_filter, problem))
    return topic_filter


def topic_problem(topic):
    """What makes ``topic`` no topic name, or "" when it is one."""
    if not topic:
        return "is empty"
    if "+" in topic or "#" in topic:
        return "holds a wildcard"
    return ""


def filter_problem(topic_filter):
    """What makes ``topic_filter`` no topic filter, or "" when it is one."""
    if not topic_filter:
        return "is empty"
    levels = topic_filter.split("/")
    for i, level in enumerate(levels):
        if "#" in level and (level != "#" or i != len(levels) - 1):
            return "has a '#' that is not a whole last level"
        if "+" in level and level != "+":
            return "has a '+' that is not a whole level"
    return ""


def matches(topic_filter, topic):
    """Whether the topic name ``topic`` matches ``topic_filter``."""
    if topic.startswith("$") and topic_filter[:1] in ("+", "#"):
        return False
    want, have = topic_filter.split("/"), topic.split("/")
    for i, level in enumerate(want):
        if level == "#":
            return True
        if i >= len(have) or level not in ("+", have[i]):
            return False
    return len(want) == len(have)


# -- the broker --------------------------------------------------------------------



class _Session:
    """What the broker keeps for one client id."""

    def __init__(self, key, clean):
        self.key = key
        self.clean = clean
        self.subscriptions = {}  # topic filter -> granted QoS
        self.unacked = collections.OrderedDict()  # packet id -> (topic, payload, retain)
        self.queued = []  # QoS 1 (topic, payload, retain) that came while it was offline
        self.link = None  # its connection while one is open and has its CONNACK
        self.last_id = 0

    def next_id(self):
        for _ in range(65535):
            self.last_id = self.last_id % 65535 + 1
            if self.last_id not in self.unacked:
                return self.last_id
        raise RuntimeError("all 65535 packet identifiers are in flight")


class _Link:
    """One client connection."""

    def __init__(self, number, sock):
        self.number = number
        self.sock = sock
        self.session = None  # set by an accepted CONNECT
        self.will = None  # (topic, message, qos, retain)
        self.keep_alive = 0
        self.last = time.monotonic()  # when its last whole packet came
        self.ending = None  # why the broker cut it (drop_all, stop, ...), under the lock
        self.closed = threading.Event()  # set when the broker cuts it: ends stall and slow waits
        self.write_lock = threading.Lock()
        self.held = []  # (kind, bytes) waiting for the end of a stall, under write_lock


class StandInBroker:
    """An MQTT 3.1.1 broker on 127.0.0.1; a context manager, or ``start()`` and ``stop()``."""

    def __init__(self):
        self._lock = threading.Condition()
        self._port = 0
        self._listener = None
        self._wake = None
        self._stopping = False
        self._threads = []
        self._links = {}  # open connections by number
        self._sessions = {}  # session key (the client id) -> _Session
        self._retained = {}  # topic -> (payload, qos)
        self._received = []
        self._sent = []
        self._errors = []
        self._closes = []
        self._accepted = 0
        self._refusing = None
        self._login = None
        self._drops = 0
        self._stalled = False
        self._slow = None

    # -- life cycle -------------------------------------------------------------

    def start(self):
        """Listen (on the port of the last run, if any); returns self."""
        if self._listener is not None:
            return self
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            listener.bind(("127.0.0.1", self._port))
            listener.listen(16)
        except OSError:
            listener.close()
            raise
        self._port = listener.getsockname()[1]
        self._listener, self._wake = listener, socket.socketpair()
        thread = threading.Thread(target=self._accept, args=(listener, self._wake[0]),
                                  name="mqtt-standin-%d" % self._port, daemon=True)
        with self._lock:
            self._stopping = False
            self._threads = [thread]
        thread.start()
        return self

    def stop(self, timeout=5.0):
        """Cut every connection (no will published) and end every thread; keeps retained."""
        if self._listener is None:
            return
        with self._lock:
            self._stopping = True
            links = list(self._links.values())
            for link in links:
                link.ending = link.ending or "stopped"
                link.closed.set()
            self._lock.notify_all()
        self._wake[1].send(b"x")
        for link in links:
            _shutdown(link.sock)
        until = time.monotonic() + timeout
        with self._lock:
            threads = list(self._threads)
        for thread in threads:
            thread.join(max(0.0, until - time.monotonic()))
        self._listener.close()
        for sock in self._wake:
            sock.close()
        self._listener = self._wake = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    @property
    def port(self):
        return self._port

    @property
    def address(self):
        return ("127.0.0.1", self._port)

    # -- what the test does -----------------------------------------------------

    def publish(self, topic, payload, qos=0, retain=False):
        """Send a message to the subscribed clients, as another client would; how many got it."""
        problem = topic_problem(topic)
        if problem:
            raise ValueError("topic %r %s" % (topic, problem))
        if qos not in (0, 1):
            raise ValueError("qos must be 0 or 1")
        return self._route(topic, _bytes(payload), qos, retain)

    def clear_retained(self):
        """Forget every retained message, as a broker without persistence does on a restart."""
        with self._lock:
            self._retained.clear()
            self._lock.notify_all()

    def refuse(self, return_code):
        """Answer each CONNECT with CONNACK ``return_code`` (1..5) and close; None: accept."""
        if return_code is not None and return_code not in range(1, 6):
            raise ValueError("return code must be 1..5, or None")
        with self._lock:
            self._refusing = return_code
            self._lock.notify_all()

    def require_login(self, username, password=None):
        """CONNACK 4 unless the CONNECT has this user name and password; None: no login."""
        with self._lock:
            self._login = None if username is None else (
                username, None if password is None else _bytes(password))
            self._lock.notify_all()

    def drop_before_puback(self, n=1):
        """For the next ``n`` QoS 1 PUBLISHes: record, then close without PUBACK (0: stop)."""
        if n < 0:
            raise ValueError("n must be 0 or more")
        with self._lock:
            self._drops = n
            self._lock.notify_all()

    def stall(self):
        """Read, answer and send nothing until ``resume``."""
        with self._lock:
            self._stalled = True
            self._lock.notify_all()

    def resume(self):
        with self._lock:
            self._stalled = False
            links = list(self._links.values())
            self._lock.notify_all()
        for link in links:
            with link.write_lock:
                held, link.held = link.held, []
                for kind, data in held:
                    self._write(link, kind, data)

    def slow_reads(self, bytes_per_read, delay=0.0):
        """Read at most ``bytes_per_read`` bytes at a time, ``delay`` s apart; None: normal."""
        if bytes_per_read is not None and (bytes_per_read < 1 or delay < 0):
            raise ValueError("bytes_per_read must be 1 or more, delay 0 or more")
        with self._lock:
            self._slow = None if bytes_per_read is None else (bytes_per_read, delay)
            self._lock.notify_all()

    def drop_all(self, timeout=5.0):
        """Cut every connection at once; returns once they are gone (their wills published)."""
        with self._lock:
            links = list(self._links.values())
            for link in links:
                link.ending = link.ending or "dropped"
                link.closed.set()
            self._lock.notify_all()
        for link in links:
            _shutdown(link.sock)
        return self.wait_for(
            lambda broker: not any(link.number in broker._links for link in links), timeout)

    # -- what the test reads ------------------------------------------------------

    @property
    def received(self):
        with self._lock:
            return list(self._received)

    @property
    def sent(self):
        with self._lock:
            return list(self._sent)

    @property
    def errors(self):
        with self._lock:
            return list(self._errors)

    @property
    def closes(self):
        with self._lock:
            return list(self._closes)

    @property
    def retained(self):
        with self._lock:
            return {topic: payload for topic, (payload, qos) in self._retained.items()}

    def connections(self):
        """How many connections are open now."""
        with self._lock:
            return len(self._links)

    def published(self, topic=None):
        """The PUBLISH packets received (on ``topic`` only, when given)."""
        return [p for p in self.received
                if p.kind == "PUBLISH" and (topic is None or p.fields["topic"] == topic)]

    def wait_for(self, predicate, timeout=5.0):
        """Wait until ``predicate(broker)`` holds (called under the lock); return whether it did."""
        with self._lock:
            return self._lock.wait_for(lambda: predicate(self), timeout)

    def wait_for_packet(self, kind, predicate=None, timeout=5.0, start=0):
        """The first received Packet of ``kind`` from index ``start`` on that satisfies
        ``predicate(packet)``; an AssertionError saying what came when none did in time."""
        def found():
            for packet in self._received[start:]:
                if packet.kind == kind and (predicate is None or predicate(packet)):
                    return packet
            return None

        with self._lock:
            packet = self._lock.wait_for(found, timeout)
            if packet is None:
                raise AssertionError("the stand-in broker received no %s%s within %gs; it "
                                     "received: %s" % (kind, " that matches" if predicate else "",
                                                       timeout, self._received[start:]))
            return packet

    # -- connections ----------------------------------------------------------------

    def _accept(self, listener, wake):
        while True:
            ready = select.select([listener, wake], [], [])[0]
            if wake in ready:
                return
            try:
                sock, _ = listener.accept()
            except OSError:
                continue
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.settimeout(5.0)  # a client that reads nothing: a write gives up, the link ends
            with self._lock:
                if self._stopping:
                    sock.close()
                    return
                self._accepted += 1
                link = _Link(self._accepted, sock)
                self._links[link.number] = link
                thread = threading.Thread(target=self._serve, args=(link,), daemon=True,
                                          name="mqtt-standin-%d-%d" % (self._port, link.number))
                self._threads.append(thread)
                self._lock.notify_all()
            thread.start()

    def _serve(self, link):
        reason = "reset"
        try:
            reason = self._read(link)
        except ProtocolError as err:
            self._error(link, str(err))
            reason = "protocol error"
        except OSError:
            pass
        except Exception as err:  # a bug in the stand-in: seen by the test, not only a traceback
            self._error(link, "stand-in bug: %s" % type(err).__name__)
            raise
        finally:
            self._end(link, reason)

    def _read(self, link):
        """Handle the link's packets until it ends; why it did."""
        buffer = bytearray()
        while True:
            if not self._unstalled(link):
                return "stopped"
            data = _split(buffer)
            if data is not None:
                del buffer[:len(data)]
                reason = self._handle(link, data)
                if reason:
                    return reason
                continue
            if not self._readable(link):
                with self._lock:
                    if self._stalled:
                        continue
                return "keep-alive"
            with self._lock:
                if self._stalled:
                    continue
                slow = self._slow
            chunk = link.sock.recv(slow[0] if slow else 65536)
            if not chunk:
                return "closed"
            buffer += chunk
            if slow:
                link.closed.wait(slow[1])

    def _unstalled(self, link):
        """Wait out a stall; False when the broker cut the link meanwhile."""
        with self._lock:
            if not self._stalled:
                return True
            self._lock.wait_for(lambda: not self._stalled or link.closed.is_set())
            link.last = time.monotonic()
            return not link.closed.is_set()

    def _readable(self, link):
        """Wait for bytes; False when the keep alive ran out first."""
        while True:
            deadline = link.last + 1.5 * link.keep_alive if link.keep_alive else None
            timeout = None if deadline is None else max(0.0, deadline - time.monotonic())
            if select.select([link.sock], [], [], timeout)[0]:
                return True
            if deadline is not None and time.monotonic() >= link.last + 1.5 * link.keep_alive:
                return False

    def _end(self, link, reason):
        with self._lock:
            reason = link.ending or reason
            session, will = link.session, link.will
            if session is not None and session.link is link:
                session.link = None
            if session is not None and session.clean and self._sessions.get(session.key) is session:
                del self._sessions[session.key]
        _shutdown(link.sock)
        if will is not None and reason != "stopped":
            self._route(*will)
        with self._lock:
            self._links.pop(link.number, None)
            self._closes.append(Closed(link.number, reason, time.monotonic()))
            self._lock.notify_all()
        link.sock.close()

    # -- packets from clients ---------------------------------------------------------

    def _handle(self, link, data):
        """Act on one packet's bytes; the reason to end the link, or None."""
        kind, fields = decode(data)
        link.last = time.monotonic()
        self._record(self._received, kind, fields, link)
        if link.session is None and kind != "CONNECT":
            raise ProtocolError("%s as the first packet, not CONNECT" % kind)
        if kind in ("PUBREC", "PUBREL", "PUBCOMP"):
            raise ProtocolError("%s, of QoS 2, which the stand-in does not support" % kind)
        handler = getattr(self, "_on_" + kind.lower(), None)
        if handler is None:
            raise ProtocolError("%s, which only a server sends" % kind)
        return handler(link, fields)

    def _on_connect(self, link, fields):
        if link.session is not None:
            raise ProtocolError("a second CONNECT")
        if fields["level"] != 4:
            self._error(link, "CONNECT: protocol level %d, not 4" % fields["level"])
            self._send(link, "CONNACK", return_code=1)
            return "protocol error"
        client_id, clean = fields["client_id"], fields["clean_session"]
        with self._lock:
            code = self._refusing
            if not code and self._login is not None:
                code = 0 if self._login == (fields["username"], fields["password"]) else 4
        if not code and not client_id and not clean:
            code = 2
        if code:
            self._send(link, "CONNACK", return_code=code)
            return "refused"
        with self._lock:
            key = client_id or "<connection %d>" % link.number
            for other in list(self._links.values()):
                if other is not link and other.session is not None and other.session.key == key:
                    self._take_over(other)
            session = self._sessions.get(key)
            present = session is not None and not clean and not session.clean
            if not present:
                session = self._sessions[key] = _Session(key, clean)
            link.session, link.keep_alive = session, fields["keep_alive"]
            if fields["will_topic"] is not None:
                link.will = (fields["will_topic"], fields["will_message"], fields["will_qos"],
                             fields["will_retain"])
        self._send(link, "CONNACK", session_present=present)
        with self._lock:
            session.link = link
            again = list(session.unacked.items())
            queued, session.queued = session.queued, []
        for packet_id, (topic, payload, retain) in again:
            self._send(link, "PUBLISH", topic=topic, payload=payload, qos=1, retain=retain,
                       dup=True, packet_id=packet_id)
        for topic, payload, retain in queued:
            self._deliver(session, topic, payload, 1, retain)
        return None

    def _take_over(self, old):
        """Under the lock: cut the link of a client id that connects again."""
        old.ending = old.ending or "taken over"
        old.closed.set()
        if old.session.link is old:
            old.session.link = None
        _shutdown(old.sock)

    def _on_publish(self, link, fields):
        if fields["qos"] == 2:
            raise ProtocolError("PUBLISH at QoS 2, which the stand-in does not support")
        if fields["qos"] == 1:
            with self._lock:
                drop = self._drops > 0
                if drop:
                    self._drops -= 1
            if drop:
                return "no puback"
        self._route(fields["topic"], fields["payload"], fields["qos"], fields["retain"])
        if fields["qos"] == 1:
            self._send(link, "PUBACK", packet_id=fields["packet_id"])
        return None

    def _on_puback(self, link, fields):
        with self._lock:
            link.session.unacked.pop(fields["packet_id"], None)
        return None

    def _on_subscribe(self, link, fields):
        session, granted, retained = link.session, [], []
        with self._lock:
            for topic_filter, qos in fields["topics"]:
                granted.append(min(qos, 1))
                session.subscriptions[topic_filter] = granted[-1]
                retained += [(topic, payload, min(stored_qos, granted[-1]))
                             for topic, (payload, stored_qos) in self._retained.items()
                             if matches(topic_filter, topic)]
        self._send(link, "SUBACK", packet_id=fields["packet_id"], codes=granted)
        for topic, payload, qos in retained:
            self._deliver(session, topic, payload, qos, True)
        return None

    def _on_unsubscribe(self, link, fields):
        with self._lock:
            for topic_filter in fields["topics"]:
                link.session.subscriptions.pop(topic_filter, None)
        self._send(link, "UNSUBACK", packet_id=fields["packet_id"])
        return None

    def _on_pingreq(self, link, fields):
        self._send(link, "PINGRESP")
        return None

    def _on_disconnect(self, link, fields):
        link.will = None
        return "disconnect"

    # -- packets to clients ---------------------------------------------------------

    def _route(self, topic, payload, qos, retain):
        """A message to every matching session; how many it went to."""
        targets = []
        with self._lock:
            if retain and payload:
                self._retained[topic] = (payload, qos)
            elif retain:
                self._retained.pop(topic, None)
            self._lock.notify_all()
            for session in self._sessions.values():
                granted = [g for f, g in session.subscriptions.items() if matches(f, topic)]
                if granted:
                    targets.append((session, min(qos, max(granted))))
        for session, session_qos in targets:
            self._deliver(session, topic, payload, session_qos, False)
        return len(targets)

    def _deliver(self, session, topic, payload, qos, retain):
        with self._lock:
            link, packet_id = session.link, None
            if qos and link is None and not session.clean:
                session.queued.append((topic, payload, retain))
            elif qos and link is not None:
                packet_id = session.next_id()
                session.unacked[packet_id] = (topic, payload, retain)
        if link is not None:
            self._send(link, "PUBLISH", topic=topic, payload=payload, qos=qos, retain=retain,
                       packet_id=packet_id)

    def _send(self, link, kind, **fields):
        data = encode(kind, **fields)
        with link.write_lock:
            with self._lock:
                hold = self._stalled
            if hold or link.held:
                link.held.append((kind, data))
            else:
                self._write(link, kind, data)

    def _write(self, link, kind, data):
        """Under the link's write lock."""
        try:
            link.sock.sendall(data)
        except OSError:
            _shutdown(link.sock)  # its own thread sees the end
            return
        self._record(self._sent, *decode(data), link=link)

    # -- records ----------------------------------------------------------------------

    def _record(self, records, kind, fields, link):
        with self._lock:
            records.append(Packet(kind, fields, time.monotonic(), link.number))
            self._lock.notify_all()

    def _error(self, link, message):
        with self._lock:
            self._errors.append("connection %d: %s" % (link.number, message))
            self._lock.notify_all()


def _shutdown(sock):
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
