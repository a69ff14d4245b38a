"""The ``mqtt`` measurement: a change -> its PUBLISH at a subscriber, a stalled broker, idle.

The daemon runs with ``-mqtt-url`` beside the stand-in Plex; the bench
talks MQTT itself through ``RawMQTT`` below (``streamerbrainz.mqtt.packets``
over a plain socket, read with select as soon as bytes arrive):

- publish: the real broker (tests/support/mosquitto.py) when
  ``find_mosquitto()`` finds one, else the stand-in (tests/support/
  mqttbroker.py; a note says which). Each pause/play webhook (200, 50 with
  --quick, after 10 warm-up) is timed from the daemon's ``Plex state
  changed`` line (stamped when the bench reads it from stderr) to the
  moment the bench's subscriber receives the PUBLISH of
  ``streamerbrainz/<node>/<player>/state`` in the new state. The floor,
  interleaved: the bench's own PUBLISH of a payload as long, at the same
  QoS 1 and retained, on a second connection to the same broker, from just
  before ``sendall`` to the moment the same subscriber receives it.
- stall: the stand-in broker is ``stall()``-ed once the daemon is connected
  and 10,000 changes (2,000 with --quick) go in, one webhook at a time on a
  kept-alive connection, each waited for (its state line) so that none is
  folded into another, the last one with a new title; the same changes go,
  interleaved, to a daemon without MQTT (the floor). VmRSS and Threads
  from /proc before the stall, halfway, after the changes and after
  ``resume()``; then how long after ``resume()`` the broker's retained
  state holds the last change's state and title.
- idle: two daemons connected to stand-in brokers of their own, one with
  ``-mqtt-keepalive 5`` and one with the default 60, and one without MQTT
  (the floor), idle over the same window (30 s, 5 s with --quick): their
  context switches (every thread's, as bench/idle.py counts wake-ups) and
  the PINGREQs each broker received in the window.
"""

import collections
import json
import os
import select
import socket
import threading
import time
import unittest

from bench import clients, proc
from bench.context import next_toggle
from bench.figures import median, mib, ms, p95
from bench.harness import MACHINE_ID, SESSIONS_XML, wait_stable
from bench.registry import register
from bench.targets import Info, Target
from streamerbrainz.mqtt import packets
from streamerbrainz.mqtt import topics as mqtt_topics
from tests.support import mosquitto
from tests.support.mqttbroker import StandInBroker

USER, PASSWORD = "streamerbrainz", "bench-mqtt-pa55"
NODE = mqtt_topics.node_id(socket.gethostname())
STATE_TOPIC = mqtt_topics.Topics("streamerbrainz", NODE).state(MACHINE_ID)
FLOOR_TOPIC = "sbz-bench/floor/state"
WARM = 10
BENCH_KEEPALIVE = 600  # the bench's own connections: no ping during a measurement
IDLE_KEEPALIVE = 5
RESUME_WAIT_S = 30.0  # how long the bench waits for the newest state after resume()
LAST_TITLE = "Road to Nowhere"
LAST_XML = SESSIONS_XML.replace(b' title="Once in a Lifetime" ',
                                (' title="%s" ' % LAST_TITLE).encode("utf-8"))

# One hop more than the floor's (the daemon's MQTT thread woken by the
# listener, then its send): a millisecond at most on top of the broker's.
PUBLISH_ON_WIRE = Target("<=", 1, "ms", on="delta", form="{op} floor + {limit}")
NO_GROWTH = Target("<=", 0, on="delta", form="growth {op} {limit}")
NEWEST_AFTER_RESUME = Target("<=", 5, "s", form="reached, {op} {limit} after resume()")
OUTBOX = Info("(context: outbox <= 1,000 events + newest retained per topic)")


# -- the bench's own MQTT client -------------------------------------------------------


class RawMQTT:
    """One MQTT 3.1.1 connection of the bench's, on a plain socket read with select.

    Every packet is queued with the ``time.perf_counter()`` of the ``recv``
    that completed it; ``next`` returns the first queued (or next arriving)
    packet that matches, dropping those before it.
    """

    def __init__(self, port, client_id, user=USER, password=PASSWORD, timeout=5.0):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.decoder = packets.Decoder(limit=1024 * 1024)
        self.pending = collections.deque()
        try:
            self.sock.sendall(packets.connect(client_id, BENCH_KEEPALIVE, user,
                                              password.encode("utf-8") if password else None))
            _, connack = self.next(lambda packet: True, timeout)
            if not isinstance(connack, packets.Connack) or connack.code:
                raise AssertionError("the broker answered the bench's CONNECT with %r"
                                     % (connack,))
        except BaseException:
            self.sock.close()
            raise

    def _read(self, deadline):
        """Wait for bytes until ``deadline`` (perf_counter); False when none came by then."""
        left = deadline - time.perf_counter()
        if left <= 0 or not select.select([self.sock], [], [], left)[0]:
            return False
        data = self.sock.recv(65536)
        t = time.perf_counter()
        if not data:
            raise ConnectionError("the broker closed the bench's MQTT connection")
        for packet in self.decoder.feed(data):
            self.pending.append((t, packet))
        return True

    def next(self, predicate, timeout=5.0):
        """``(arrival time, packet)`` of the first packet for which ``predicate`` holds."""
        deadline = time.perf_counter() + timeout
        while True:
            while self.pending:
                t, packet = self.pending.popleft()
                if predicate(packet):
                    return t, packet
            if not self._read(deadline):
                raise TimeoutError("no matching MQTT packet within %g s" % timeout)

    def subscribe(self, topic_filters, timeout=5.0):
        self.sock.sendall(packets.subscribe(1, [(f, 0) for f in topic_filters]))
        _, suback = self.next(lambda packet: isinstance(packet, packets.Suback), timeout)
        if 0x80 in suback.codes:
            raise AssertionError("the broker refused the bench's subscription: %r" % (suback,))

    def close(self):
        try:
            self.sock.sendall(packets.DISCONNECT_PACKET)
        except OSError:
            pass
        self.sock.close()


def live_state(expected):
    """A predicate: a live (not retained) PUBLISH of the player's state in ``expected``."""
    def match(packet):
        return (isinstance(packet, packets.Publish) and packet.topic == STATE_TOPIC
                and not packet.retain and json.loads(packet.payload)["state"] == expected)
    return match


# -- brokers and daemons ---------------------------------------------------------------


def start_broker(ctx):
    """The broker of the publish measurement: ``(port, what it is, stop)``.

    mosquitto when it is installed (with mosquitto_passwd for its users),
    else the stand-in; both want USER and PASSWORD.
    """
    why = "mosquitto is not installed"
    if mosquitto.find_mosquitto() is not None:
        try:
            broker = mosquitto.Mosquitto(users={USER: PASSWORD})
        except unittest.SkipTest as err:
            why = str(err)
        else:
            ctx.add_cleanup(broker.close)
            broker.start()
            ctx.add_cleanup(broker.stop)
            version = [line.split("mosquitto version ", 1)[1].split()[0]
                       for line in broker.log().splitlines() if "mosquitto version " in line]
            return broker.port, "mosquitto %s (%s)" % (version[0] if version else "?",
                                                       broker.binary), broker.stop
    standin = new_standin(ctx)
    return (standin.port, "the stand-in broker, tests/support/mqttbroker.py (%s)" % why,
            standin.stop)


def new_standin(ctx):
    broker = StandInBroker()
    broker.require_login(USER, PASSWORD)
    broker.start()
    ctx.add_cleanup(broker.stop)
    return broker


def password_file(ctx):
    path = os.path.join(ctx.tmpdir, "mqtt-password")
    with open(path, "w") as handle:
        handle.write(PASSWORD + "\n")
    os.chmod(path, 0o600)
    return path


def mqtt_daemon(ctx, stub, port, secret, keepalive=None):
    """A daemon publishing to the broker on ``port``, once it says it is connected."""
    args = ["-mqtt-url", "mqtt://%s@127.0.0.1:%d" % (USER, port), "-mqtt-password-file", secret]
    if keepalive is not None:
        args += ["-mqtt-keepalive", str(keepalive)]
    daemon = ctx.new_daemon(stub, extra_args=args)
    daemon.wait_for_line("MQTT connected", timeout=15)
    return daemon


def check_daemon(ctx, daemon, label, expected=()):
    """Note the WARN/ERROR lines, those holding one of ``expected`` counted apart."""
    foreseen = [line for line in daemon.complaints if any(text in line for text in expected)]
    others = [line for line in daemon.complaints if line not in foreseen]
    if foreseen:
        ctx.note("%s: %d WARN line(s), as expected (first 3):\n      %s" % (
            label, len(foreseen), "\n      ".join(line[:200] for line in foreseen[:3])))
    if others:
        ctx.note("%s: the daemon logged %d other WARN/ERROR line(s) (first 5):\n      %s" % (
            label, len(others), "\n      ".join(line[:300] for line in others[:5])))


# -- 1. a change -> its PUBLISH at a subscriber ------------------------------------------


def timed_change(daemon, sub, state, seed):
    """Toggle ``state``; return (t posted, t state line, t PUBLISH received, new state)."""
    event, expected = next_toggle(state)
    content_type, body = clients.webhook(event, "multipart", seed=seed)
    daemon.drain()
    t0 = time.perf_counter()
    clients.post_once(daemon.port, content_type, body)
    t_publish, _ = sub.next(live_state(expected), 5)
    t_line, _ = daemon.wait_state(expected, timeout=5)
    return t0, t_line, t_publish, expected


def floor_publish(pub, sub, i, size):
    """The bench's own PUBLISH (QoS 1, retained, ``size`` bytes) -> received by ``sub``."""
    tag = b"%08d" % i
    data = packets.publish(FLOOR_TOPIC, tag.ljust(size, b"."), 1, True, i % 65535 + 1)
    t0 = time.perf_counter()
    pub.sock.sendall(data)
    t1, _ = sub.next(lambda packet: isinstance(packet, packets.Publish)
                     and packet.topic == FLOOR_TOPIC and packet.payload[:8] == tag, 5)
    pub.next(lambda packet: isinstance(packet, packets.Puback), 5)
    return t1 - t0


def measure_publish(ctx, stub, secret, n):
    port, broker_name, stop_broker = start_broker(ctx)
    daemon = mqtt_daemon(ctx, stub, port, secret)
    sub = RawMQTT(port, "sbz-bench-sub-%d" % os.getpid())
    ctx.add_cleanup(sub.close)
    pub = RawMQTT(port, "sbz-bench-pub-%d" % os.getpid())
    ctx.add_cleanup(pub.close)
    sub.subscribe([STATE_TOPIC, FLOOR_TOPIC])
    # The retained state, sent with the SUBACK: the daemon has published it, and the
    # floor's payload is as long.
    _, retained = sub.next(lambda packet: isinstance(packet, packets.Publish)
                           and packet.topic == STATE_TOPIC, 10)
    size = len(retained.payload)
    wait_stable(lambda: daemon.nlines, 0.5, 10)
    on_wire, floors, from_webhook, to_line = [], [], [], []
    state = "playing"
    cpu0 = proc.cpu_ms(daemon.pid)
    for i in range(WARM + n):
        t0, t_line, t_publish, state = timed_change(daemon, sub, state, i)
        floor_s = floor_publish(pub, sub, i, size)
        if i >= WARM:
            on_wire.append(t_publish - t_line)
            floors.append(floor_s)
            from_webhook.append(t_publish - t0)
            to_line.append(t_line - t0)
    cpu = proc.cpu_ms(daemon.pid) - cpu0
    check_daemon(ctx, daemon, "mqtt publish")
    ctx.stop_daemon(daemon, "mqtt publish")
    sub.close()
    pub.close()
    stop_broker()
    early = sum(1 for x in on_wire if x < 0)
    ctx.note("mqtt publish: broker %s; %d timed pause/play webhooks after %d warm-up, one at "
             "a time, each followed by the floor's PUBLISH (%d bytes, QoS 1, retained, as the "
             "daemon's state); subscriber at QoS 0 on the state topic and the floor's" % (
                 broker_name, len(on_wire), WARM, size))
    ctx.note("mqtt publish: state line -> PUBLISH min %s max %s (%d of %d PUBLISHes arrived "
             "before the bench had read the state line); floor min %s max %s; webhook -> "
             "state line median %s, webhook -> PUBLISH median %s; daemon CPU %.2f ms per "
             "change (webhook, fetch, log lines, MQTT)" % (
                 ms(min(on_wire)), ms(max(on_wire)), early, len(on_wire), ms(min(floors)),
                 ms(max(floors)), ms(median(to_line)), ms(median(from_webhook)),
                 cpu / (WARM + n)))
    ctx.compare("mqtt: state line -> PUBLISH of .../state at a subscriber, median (n=%d)"
                % len(on_wire), median(on_wire) * 1000, median(floors) * 1000, "ms",
                target=PUBLISH_ON_WIRE)
    ctx.compare("  p95", p95(on_wire) * 1000, p95(floors) * 1000, "ms")


# -- 2. the broker stalled ---------------------------------------------------------------


class Changer:
    """Pause/play webhooks to one daemon on a kept-alive connection, each one waited for."""

    def __init__(self, daemon):
        self.daemon = daemon
        self.state = "playing"
        self.client = None
        self.misses = 0
        self.answers = collections.Counter()
        self.last_line = None

    def change(self, seed):
        if self.client is None:
            self.client = clients.KeepAliveClient(self.daemon.port)
        event, expected = next_toggle(self.state)
        content_type, body = clients.webhook(event, "multipart", seed=seed)
        self.daemon.drain()
        self.answers[self.client.post(content_type, body)] += 1
        try:
            _, self.last_line = self.daemon.wait_state(expected, timeout=5)
        except TimeoutError:
            self.misses += 1
        self.state = expected

    def close(self):
        if self.client is not None:
            self.client.close()
            self.client = None


def settle(daemon, broker=None):
    """Wait until the log (and what the broker received) and the thread count are still."""
    wait_stable(lambda: (daemon.nlines, len(broker.received) if broker else 0), 0.5, 30)
    wait_stable(lambda: proc.threads(daemon.pid), 0.3, 10)


def sample(daemon):
    """``(VmRSS KiB, threads)``."""
    status = proc.proc_status(daemon.pid)
    return int(status["VmRSS"].split()[0]), int(status["Threads"])


def newest_state(broker):
    payload = broker.retained.get(STATE_TOPIC)
    if not payload:
        return False
    document = json.loads(payload)
    return document.get("state") == "playing" and document.get("title") == LAST_TITLE


def measure_stall(ctx, stub, secret, count):
    broker = new_standin(ctx)
    daemon = mqtt_daemon(ctx, stub, broker.port, secret)
    plain = ctx.new_daemon(stub)
    changers = (Changer(daemon), Changer(plain))
    for i in range(WARM):  # the broker taking them: the normal path allocated before "before"
        for changer in changers:
            changer.change(i)
    for changer in changers:
        changer.close()
    settle(daemon, broker)
    settle(plain)
    marks = {"before": (sample(daemon), sample(plain))}
    connections = broker.connections()
    broker.stall()
    t0 = time.perf_counter()
    with proc.ThreadSampler(daemon.pid, 0.05) as threads_seen:
        for i in range(count):
            if i == count - 1:
                stub.set_sessions(LAST_XML)  # the last change: a new title too
            for changer in changers:
                changer.change(WARM + i)
            if i + 1 == count // 2:
                marks["half"] = (sample(daemon), sample(plain))
    sent_s = time.perf_counter() - t0
    for changer in changers:
        changer.close()
    settle(daemon)
    settle(plain)
    marks["after"] = (sample(daemon), sample(plain))
    stall_s = time.perf_counter() - t0
    received_before = len(broker.received)
    t_resume = time.monotonic()
    broker.resume()
    reached = broker.wait_for(newest_state, RESUME_WAIT_S)
    resume_s = time.monotonic() - t_resume
    settle(daemon, broker)
    marks["resumed"] = (sample(daemon), sample(plain))
    _, health = clients.get_json(daemon.port, "/healthz")
    last_title_line = LAST_TITLE in (changers[0].last_line or "")
    received = broker.received[received_before:]
    states_after = sum(1 for p in received if p.kind == "PUBLISH"
                       and p.fields["topic"] == STATE_TOPIC)
    closes = broker.closes
    check_daemon(ctx, daemon, "mqtt stall", expected=("MQTT broker is not taking messages",
                                                      "MQTT events dropped"))
    check_daemon(ctx, plain, "mqtt stall (without MQTT)")
    ctx.stop_daemon(daemon, "mqtt stall")
    ctx.stop_daemon(plain, "mqtt stall (without MQTT)")

    (rss0, thr0), (prss0, pthr0) = marks["before"]
    (rss_h, _), (prss_h, _) = marks["half"]
    (rss1, thr1), (prss1, pthr1) = marks["after"]
    (rss2, thr2), (prss2, pthr2) = marks["resumed"]
    ctx.note("mqtt stall: the stand-in broker stalled (reads, answers and sends nothing) "
             "with the daemon connected (%d connection); %s changes sent to each daemon, "
             "interleaved, one webhook at a time on a kept-alive connection, each waited for "
             "(its state line), in %.1f s (%.0f changes/s per daemon; webhooks are fast "
             "enough, no other path needed); stall %.1f s in all; answers %s / %s; no state "
             "line for %d / %d; last state line has the new title: %s" % (
                 connections, format(count, ","), sent_s, count / sent_s, stall_s,
                 dict(changers[0].answers), dict(changers[1].answers), changers[0].misses,
                 changers[1].misses, last_title_line))
    ctx.note("mqtt stall: VmRSS with MQTT %s before, %s at %s, %s after, %s after resume(); "
             "without MQTT %s, %s, %s, %s; second half growth %+.2f MiB with, %+.2f MiB "
             "without; threads with MQTT %d before, max %d during, %d after, %d after resume; "
             "without %d, %d, %d" % (
                 mib(rss0), mib(rss_h), format(count // 2, ","), mib(rss1), mib(rss2),
                 mib(prss0), mib(prss_h), mib(prss1), mib(prss2), (rss1 - rss_h) / 1024.0,
                 (prss1 - prss_h) / 1024.0, thr0, max(threads_seen.samples or [thr0]), thr1,
                 thr2, pthr0, pthr1, pthr2))
    ctx.note("mqtt stall: after resume() the broker received %d packets (%d PUBLISHes of the "
             "state topic); connections closed meanwhile: %s; /healthz mqtt: %s" % (
                 len(received), states_after, [c.reason for c in closes] or "none",
                 (health or {}).get("mqtt")))
    growth, floor_growth = (rss1 - rss0) / 1024.0, (prss1 - prss0) / 1024.0
    ctx.row("mqtt stall: RSS growth over %s changes, broker stalled (vs without MQTT)"
            % format(count, ","), "%.1f -> %.1f MiB (%+.2f)" % (rss0 / 1024.0, rss1 / 1024.0,
                                                               growth),
            "%.1f -> %.1f MiB (%+.2f)" % (prss0 / 1024.0, prss1 / 1024.0, floor_growth),
            "%+.2f MiB" % (growth - floor_growth), OUTBOX, value=growth,
            floor_value=floor_growth, delta=growth - floor_growth, unit="MiB")
    ctx.row("mqtt stall: threads before -> after the changes -> after resume()",
            "%d -> %d -> %d" % (thr0, thr1, thr2), "%d -> %d -> %d" % (pthr0, pthr1, pthr2),
            "%+d" % (max(thr1, thr2) - thr0), NO_GROWTH, value=max(thr1, thr2),
            floor_value=thr0, delta=max(thr1, thr2) - thr0)
    ctx.row("mqtt stall: newest state (last change's state and title) at the broker",
            "yes, %s after resume()" % ms(resume_s) if reached else
            "no, not within %g s" % RESUME_WAIT_S, "", "", NEWEST_AFTER_RESUME,
            value=resume_s * 1000 if reached else None, unit="ms", valid=bool(reached))


# -- 3. idle with MQTT connected -------------------------------------------------------


def measure_idle(ctx, stub, secret, window):
    brokers = {"5": new_standin(ctx), "60": new_standin(ctx)}
    daemons = {"5": mqtt_daemon(ctx, stub, brokers["5"].port, secret, IDLE_KEEPALIVE),
               "60": mqtt_daemon(ctx, stub, brokers["60"].port, secret),  # the default, 60
               "without": ctx.new_daemon(stub)}
    wait_stable(lambda: (tuple(d.nlines for d in daemons.values()), stub.count), 1.0, 15)
    before = {name: (proc.cpu_ms(d.pid), proc.task_switches(d.pid))
              for name, d in daemons.items()}
    t0 = time.monotonic()
    threading.Event().wait(window)
    t1 = time.monotonic()
    after = {name: (proc.cpu_ms(d.pid), proc.task_switches(d.pid))
             for name, d in daemons.items()}
    elapsed = t1 - t0
    figures = {}
    for name in daemons:
        total, per_thread, gone = proc.switch_delta(before[name][1], after[name][1])
        figures[name] = (total, after[name][0] - before[name][0], per_thread, gone)
    pings = {name: [p for p in broker.received if p.kind == "PINGREQ" and t0 <= p.at <= t1]
             for name, broker in brokers.items()}
    closes = {name: broker.closes for name, broker in brokers.items()}
    for name, daemon in daemons.items():
        check_daemon(ctx, daemon, "mqtt idle (%s)" % name)
        ctx.stop_daemon(daemon, "mqtt idle (%s)" % (
            "-mqtt-keepalive " + name if name != "without" else "without MQTT"))

    def per_thread(name):
        return ", ".join("%s: %d" % (thread, delta) for _, (thread, delta, _) in
                         sorted(figures[name][2].items()) if delta) or "none"

    floor_wakes, floor_cpu = figures["without"][:2]
    ctx.note("mqtt idle: %.1f s window, three daemons side by side (stand-in brokers of their "
             "own); wake-ups per thread: keepalive 5: %s; keepalive 60: %s; without MQTT: %s; "
             "CPU %.0f / %.0f / %.0f ms; connections the brokers closed: %s" % (
                 elapsed, per_thread("5"), per_thread("60"), per_thread("without"),
                 figures["5"][1], figures["60"][1], floor_cpu,
                 {name: [c.reason for c in found] for name, found in closes.items()}))
    if elapsed < 60:
        ctx.note("mqtt idle: with the default -mqtt-keepalive 60 no ping falls in a %.0f s "
                 "window (the first is due 60 s after the last packet sent): that row is "
                 "MQTT connected and quiet (--idle-seconds 60 or more to see its pings)"
                 % elapsed)
    for name in ("5", "60"):
        wakes, cpu = figures[name][:2]
        count = len(pings[name])
        extra = wakes - floor_wakes
        target = Target("<=", 2 * count, on="delta",
                        form="{op} without + 2 per PINGREQ ({op} +{limit})")
        ctx.row("mqtt idle %ds, -mqtt-keepalive %s: wake-ups, %d PINGREQ(s) in the window"
                % (round(elapsed), name, count),
                "%d (%.2f/s)" % (wakes, wakes / elapsed),
                "%d (%.2f/s) without MQTT" % (floor_wakes, floor_wakes / elapsed),
                "%+d (%s per PINGREQ)" % (extra, "%.1f" % (extra / count) if count else "-"),
                target, value=wakes, floor_value=floor_wakes, delta=extra)


@register("mqtt")
def measure_mqtt(ctx):
    quick = ctx.args.quick
    stub = ctx.new_stub()
    secret = password_file(ctx)
    measure_publish(ctx, stub, secret, 50 if quick else 200)
    measure_stall(ctx, stub, secret, 2000 if quick else 10000)
    stub.set_sessions(SESSIONS_XML)
    measure_idle(ctx, stub, secret, ctx.args.idle_seconds)
