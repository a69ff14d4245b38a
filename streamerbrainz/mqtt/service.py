"""The MQTT service: the daemon as a Home Assistant device, on a thread of its own.

As a listener (main thread) it turns each change and CamillaDSP status
into messages (``payloads``) and discovery configs (``discovery``) and
puts them in the ``Outbox``; nothing there waits on the network. Its
thread owns the connection: it connects with a last will (availability
``offline``, retained), says ``online``, subscribes to the command
topics, publishes what waits, and sleeps in ``poll`` until a message
waits, the broker sends something, or the keep-alive ping is due: an
idle daemon wakes only for the ping. QoS 1 messages stay in flight until
their PUBACK and go again, with DUP, after a reconnect; every retained
message last sent is sent again after one, so a broker that lost its
store still learns the state. A lost or refused connection is retried
with backoff, its failures summarised. At stop it says ``offline`` and
DISCONNECTs, within the daemon's deadline.

Commands come in on the MQTT thread and go on at once, without waiting:
``control(player, action)`` to the soft transport and ``set_volume`` /
``set_mute`` to CamillaDSP, each a callable the app hands in (None: that
part is not there). Anything else is ignored with one DEBUG line.

Thread ownership: ``_players``, ``_playing``, ``_configs``, ``_offered``
and ``_camilladsp`` are the main thread's (``_configs`` is replaced whole, and
the MQTT thread reads it once at connect); ``connection``, ``_inflight``,
``_shadow``, ``_sent_configs``, ``_next_id`` and the ping times are the
MQTT thread's; ``status`` is a dict the MQTT thread replaces whole and
any thread reads; the outbox has its own lock.
"""

import collections
import json
import math
import select
import socket
import time

from streamerbrainz.core.actions import PlayerStateChanged
from streamerbrainz.core.listener import Listener
from streamerbrainz.lib.log import get_logger
from streamerbrainz.lib.repeats import FailureLog
from streamerbrainz.lib.service import ThreadService
from streamerbrainz.mqtt import discovery, packets, payloads
from streamerbrainz.mqtt.connection import Connection, MQTTError
from streamerbrainz.mqtt.outbox import Outbox

log = get_logger(__name__)

CONNECT_TIMEOUT = 10.0  # TCP, TLS, CONNECT and CONNACK together
SEND_TIMEOUT = 10.0  # a broker that takes no data for this long is dropped
FIRST_BACKOFF, MAX_BACKOFF = 1.0, 60.0
MAX_INFLIGHT = 64  # QoS 1 messages sent and not yet acknowledged
BATCH = 64
STOP_MARGIN = 0.2  # seconds of the daemon's deadline kept for the goodbye
COMMANDS = ("play", "pause", "toggle", "next", "previous", "stop")

Settings = collections.namedtuple(
    "Settings", "broker password tls client_id keepalive discovery hostname version")


class MQTT(ThreadService, Listener):
    """Publishes the players' states to one broker and takes commands from it.

    ``topics`` is a ``topics.Topics``; ``controllable(machine_id)`` says
    whether the soft transport can control a player (it gets buttons).
    """

    name = "mqtt"

    def __init__(self, settings, topics, control=None, set_volume=None, set_mute=None,
                 controllable=lambda machine_id: False, max_volume=None, max_events=1000,
                 clock=time.monotonic):
        super().__init__()
        self.settings = settings
        self.topics = topics
        self.control = control
        self.set_volume = set_volume
        self.set_mute = set_mute
        self.controllable = controllable
        self.max_volume = max_volume
        self.clock = clock
        self._wake_read, self._wake_write = socket.socketpair()
        self._wake_read.setblocking(False)
        self._wake_write.setblocking(False)
        self.outbox = Outbox(max_events, self._signal)
        self.connection = None
        self.about = discovery.device(topics.node, settings.hostname, settings.version)
        self._failures = FailureLog(log)
        self._drops = FailureLog(log)  # the main thread's
        self._stop_by = None
        # the main thread's
        self._players = {}  # machine id -> name, for discovery
        self._playing = set()
        self._configs = {}  # config topic -> payload, as last put
        self._offered = None  # the players and buttons those configs are for
        self._with_camilladsp = False
        self._camilladsp = None  # the status payload last put
        # the MQTT thread's
        self._inflight = collections.OrderedDict()  # packet id -> Message
        self._shadow = collections.OrderedDict()  # topic -> the last retained Message sent
        self._sent_configs = None  # the config topics the broker was last told of
        self._next_id = 0
        self._last_sent = self._ping_sent = None
        self._entities_open = False  # at connect: until the broker's retained list has come
        self._dropped = 0  # events the outbox dropped, not yet said
        self.status = {"connected": False, "error": "", "dropped": 0}

    # -- the listener (main thread) -------------------------------------------------------

    def preload(self, states, followed=(), camilladsp=False):
        """What to say at start: the players known (``states``, machine id -> PlayerState),
        those followed but not yet seen, and whether CamillaDSP is configured."""
        self._with_camilladsp = camilladsp
        for machine_id in followed:
            self._players.setdefault(machine_id, machine_id)
        now = self.clock()
        for machine_id, known in sorted(states.items()):
            change = PlayerStateChanged.from_state(known, None, now)
            self._players[machine_id] = known.player or machine_id
            if known.state == "playing":
                self._playing.add(machine_id)
            self._put(payloads.state(self.topics, change))
        self._put(payloads.any_playing(self.topics, bool(self._playing)))
        self._discover()

    def state_changed(self, change):
        topics = self.topics
        for message in payloads.changed(topics, change):
            self._put(message)
        before = bool(self._playing)
        if change.state == "playing":
            self._playing.add(change.machine_id)
        else:
            self._playing.discard(change.machine_id)
        if bool(self._playing) != before:
            self._put(payloads.any_playing(topics, bool(self._playing)))
        self._players[change.machine_id] = change.player or change.machine_id
        self._discover()

    def camilladsp_changed(self, status):
        message = payloads.camilladsp(self.topics, status)
        if message.payload != self._camilladsp:
            self._camilladsp = message.payload
            self._put(message)

    def _discover(self):
        """Put the discovery configs that changed, and an empty one for each gone."""
        if not self.settings.discovery:
            return
        controllable = frozenset(machine_id for machine_id in self._players
                                 if self.controllable(machine_id))
        offered = (tuple(sorted(self._players.items())), controllable)
        if offered == self._offered:
            return  # the same players, names and buttons: the same configs
        self._offered = offered
        configs = discovery.configs(self.topics, self.about, self._players,
                                    camilladsp=self._with_camilladsp,
                                    controllable=controllable, max_volume=self.max_volume)
        for topic in self._configs.keys() - configs.keys():
            self._put(payloads.Message(topic, b"", 1, True))
        for topic, payload in configs.items():
            if self._configs.get(topic) != payload:
                self._put(payloads.Message(topic, payload, 1, True))
        self._configs = configs

    def _put(self, message):
        if self.outbox.put(message):  # the first drop of a spell: once a minute at most
            self._drops.failed("outbox", self.clock(), "MQTT broker is not taking messages: "
                               "dropping the oldest events until it does (the newest state of "
                               "each player is kept)")

    @property
    def connection_name(self):
        """host:port of the broker, as the log names it."""
        broker = self.settings.broker
        return ("%s:%d" % (broker.host, broker.port) if ":" not in broker.host
                else "[%s]:%d" % (broker.host, broker.port))

    def _signal(self):
        try:
            self._wake_write.send(b"\0")
        except (BlockingIOError, OSError):
            pass  # already signalled, or closing

    # -- the service ----------------------------------------------------------------------

    def wake(self):
        self._signal()

    def stop(self, deadline):
        """Say offline and DISCONNECT, then stop; a stalled broker is cut off in time."""
        self._stop_by = deadline - STOP_MARGIN
        self.stopping.set()
        self.wake()
        if self._thread is None:
            self._close_wake()
            return True
        self._thread.join(max(0.0, self._stop_by - time.monotonic()))
        if self._thread.is_alive():
            connection = self.connection
            if connection is not None:
                connection.abort()
            self._thread.join(max(0.0, deadline - time.monotonic()))
        stopped = not self._thread.is_alive()
        if stopped:
            self._close_wake()
        return stopped

    def _close_wake(self):
        for sock in (self._wake_read, self._wake_write):
            sock.close()

    def run(self):
        backoff = FIRST_BACKOFF
        while not self.stopping.is_set():
            try:
                self._session()
                backoff = FIRST_BACKOFF
            except MQTTError as err:
                self._drop()
                if self.stopping.is_set():
                    return
                self._failed(err)
                if err.kind == "refused":
                    backoff = MAX_BACKOFF
            except Exception:
                log.exception("MQTT service failed; carrying on")
                self._drop()
            if self.stopping.is_set() or self._sleep(backoff):
                return
            backoff = min(backoff * 2, MAX_BACKOFF)

    def _sleep(self, seconds):
        """Wait ``seconds`` or until stopped (True); messages put meanwhile wait in the box."""
        until = time.monotonic() + seconds
        while not self.stopping.is_set():
            left = until - time.monotonic()
            if left <= 0:
                return False
            select.select([self._wake_read], [], [], left)
            self._drain_wake()
        return True

    def _failed(self, err):
        self._failures.failed(err.kind, self.clock(),
                              "MQTT broker not reachable; retrying with backoff",
                              error=str(err))
        self._set_status(connected=False, error=str(err))

    # -- one connection -------------------------------------------------------------------

    def _session(self):
        settings, topics = self.settings, self.topics
        broker = settings.broker
        connection = Connection(broker.host, broker.port, settings.tls,
                                name="MQTT broker " + self.connection_name)
        self.connection = connection
        will = packets.Will(topics.availability, payloads.OFFLINE, 1, True)
        password = settings.password.encode("utf-8") if settings.password else None
        connection.open(packets.connect(settings.client_id, settings.keepalive,
                                        broker.username or None, password, will), CONNECT_TIMEOUT)
        self._last_sent = time.monotonic()
        self._ping_sent = None
        fields = {"broker": self.connection_name}
        if not self._failures.recovered("MQTT connected again", **fields):
            log.info("MQTT connected", **fields)
        self._set_status(connected=True, error="")
        self._send(payloads.availability(topics, True), shadow=False)
        filters = [(topics.player_set, 1)]
        if self.set_volume is not None:
            filters += [(topics.volume_set, 1), (topics.mute_set, 1)]
        if settings.discovery:
            filters.append((topics.entities, 1))
        self._send_packet(packets.subscribe(self._packet_id(), filters))
        self._send_packet(packets.PINGREQ_PACKET)
        self._ping_sent = time.monotonic()
        self._entities_open = settings.discovery
        self._resend()
        while not self.stopping.is_set():
            self._flush()
            self._wait()
        self._goodbye()

    def _wait(self):
        """Sleep until the broker sends, a message waits, or the keep-alive is due."""
        now = time.monotonic()
        keepalive = self.settings.keepalive
        if self._ping_sent is not None:
            due = self._ping_sent + keepalive
        else:
            due = self._last_sent + keepalive
        readable, _, _ = select.select([self.connection.fileno(), self._wake_read], [], [],
                                       max(0.0, due - now))
        if self._wake_read in readable:
            self._drain_wake()
        if self.connection.fileno() in readable or not readable:
            for packet in self.connection.receive():
                self._handle(packet)
        now = time.monotonic()
        if self._ping_sent is not None and now - self._ping_sent >= keepalive:
            raise MQTTError("timeout", "%s: no answer to a ping within %ds"
                            % (self.connection.name, keepalive))
        if self._ping_sent is None and now - self._last_sent >= keepalive:
            self._send_packet(packets.PINGREQ_PACKET)
            self._ping_sent = now

    def _drain_wake(self):
        try:
            while self._wake_read.recv(4096):
                pass
        except (BlockingIOError, OSError):
            pass

    def _handle(self, packet):
        if isinstance(packet, packets.Puback):
            self._inflight.pop(packet.packet_id, None)
        elif isinstance(packet, packets.Pingresp):
            self._ping_sent = None
            if self._entities_open:
                self._entities_open = False
                self._forget_old_entities(())
        elif isinstance(packet, packets.Publish):
            if packet.qos:
                self._send_packet(packets.puback(packet.packet_id))
            self._command(packet)
        elif isinstance(packet, packets.Suback):
            if 0x80 in packet.codes:
                log.warn("MQTT broker refused a subscription: commands may not arrive "
                         "(check the user's ACL)", codes=",".join(map(str, packet.codes)))

    def _command(self, packet):
        topics = self.topics
        text = packet.payload.decode("utf-8", "replace").strip()
        if packet.topic == topics.entities:
            if self._entities_open:
                self._entities_open = False
                self._forget_old_entities(_entity_list(packet.payload))
            return
        if packet.retain:  # stored by the broker, not sent now: never replayed
            log.debug("MQTT retained command ignored", topic=packet.topic)
            return
        if packet.topic == topics.volume_set and self.set_volume is not None:
            volume = _volume(text)
            if volume is None:
                log.debug("MQTT command ignored: not a volume in dB", topic=packet.topic)
                return
            self.set_volume(volume)
            return
        if packet.topic == topics.mute_set and self.set_mute is not None:
            mute = {"on": True, "off": False, "true": True, "false": False}.get(text.lower())
            if mute is None:
                log.debug("MQTT command ignored: not ON or OFF", topic=packet.topic)
                return
            self.set_mute(mute)
            return
        player = topics.commanded(packet.topic)
        action = text.lower()
        if player is None or action not in COMMANDS or self.control is None:
            log.debug("MQTT command ignored", topic=packet.topic, command=text[:32])
            return
        refused = self.control(player, action)
        if refused:
            log.info("MQTT command not taken", player=player, command=action, reason=refused)
        else:
            log.info("MQTT command", player=player, command=action)

    def _forget_old_entities(self, listed):
        """Clear the configs an earlier run published that this one does not offer."""
        current = self._configs  # replaced whole by the main thread, never changed in place
        for topic in sorted(set(listed) - set(current)):
            if topic.startswith(self.topics.discovery + "/"):
                self.outbox.put(payloads.Message(topic, b"", 1, True))
        self._sent_configs = None  # the list goes out with the next flush

    def _flush(self):
        """Send what waits in the outbox, as far as the in-flight window allows."""
        while len(self._inflight) < MAX_INFLIGHT:
            messages, dropped = self.outbox.take(min(BATCH, MAX_INFLIGHT - len(self._inflight)))
            if dropped:
                self._dropped += dropped
                self._set_status(dropped=self.status["dropped"] + dropped)
            if not messages:
                break
            for message in messages:
                self._send(message)
        if self._dropped and not len(self.outbox):
            log.warn("MQTT events dropped while the broker took none", dropped=self._dropped)
            self._dropped = 0
        if self.settings.discovery and not self._entities_open:
            configs = sorted(topic for topic, message in self._shadow.items()
                             if topic.startswith(self.topics.discovery + "/")
                             and message.payload)
            if configs != self._sent_configs:
                self._sent_configs = configs
                self._send(payloads.Message(self.topics.entities,
                                            json.dumps(configs).encode("utf-8"), 1, True))

    def _resend(self):
        """After a reconnect: what was in flight (DUP), then every other retained message."""
        again = set()
        for packet_id, message in list(self._inflight.items()):
            self._send_packet(packets.publish(message.topic, message.payload, message.qos,
                                              message.retain, packet_id, dup=True))
            again.add(message.topic)
        for topic, message in list(self._shadow.items()):
            if topic not in again:
                self._send(message, shadow=False)

    def _send(self, message, shadow=True):
        packet_id = None
        if message.qos:
            packet_id = self._packet_id()
            self._inflight[packet_id] = message
        if message.retain and shadow:
            self._shadow.pop(message.topic, None)
            if message.payload or not message.topic.startswith(self.topics.discovery + "/"):
                self._shadow[message.topic] = message
        self._send_packet(packets.publish(message.topic, message.payload, message.qos,
                                          message.retain, packet_id))

    def _send_packet(self, data):
        self.connection.send(data, time.monotonic() + SEND_TIMEOUT)
        self._last_sent = time.monotonic()

    def _packet_id(self):
        while True:
            self._next_id = self._next_id % packets.MAX_PACKET_ID + 1
            if self._next_id not in self._inflight:
                return self._next_id

    def _goodbye(self):
        """Offline, retained, then DISCONNECT, so Home Assistant knows at once."""
        connection = self.connection
        deadline = min(time.monotonic() + 1.0, self._stop_by or time.monotonic() + 1.0)
        try:
            connection.send(packets.publish(self.topics.availability, payloads.OFFLINE, 0, True),
                            deadline)
            connection.send(packets.DISCONNECT_PACKET, deadline)
        except MQTTError:
            pass
        self._drop()
        log.info("MQTT disconnected")

    def _drop(self):
        connection, self.connection = self.connection, None
        if connection is not None:
            connection.abort()
            connection.close()
        if self.status.get("connected"):
            self._set_status(connected=False)

    def _set_status(self, **fields):
        status = dict(self.status)
        status.update(fields)
        self.status = status


def _volume(text):
    try:
        volume = float(text)
    except ValueError:
        return None
    if not math.isfinite(volume) or not -150.0 <= volume <= 50.0:
        return None
    return volume


def _entity_list(payload):
    try:
        listed = json.loads(payload.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return ()
    if not isinstance(listed, list):
        return ()
    return tuple(topic for topic in listed if isinstance(topic, str))
