"""The ``hostile`` measurement: the worst attacks at once beside real webhooks.

For 30 s (8 s with --quick) attacker threads hit one daemon with default
settings: 1 MiB bodies to an unknown path and to the webhook path, bodies
of nothing but multipart boundaries, requests without a version, heads
that wait for ``100 Continue``, uploads at a trickle, ambiguous framing,
and POSTs from 200 source addresses outside ``-webhooks-allow``; beside
them, ten real webhooks a second from the allowed address. Reports peak
RSS, CPU per second, the real webhooks' answer p50/p99 and how many got
anything but 200, and the cost of one boundary body alone on a quiet
daemon, against the budget in the README.
"""

import socket
import threading
import time

from bench import support
from bench.support import median, percentile

MIB = 1024 * 1024
BOMB = b"--XyZ\r\n\r\n" * (8 * MIB // 9)
WEBHOOK_RATE = 10.0


def _head(path, length, extra=b"", content_type=b"application/json"):
    return (b"POST " + path + b" HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: " + content_type
            + b"\r\nContent-Length: %d\r\n" % length + extra + b"\r\n")


def _exchange(port, data, source="127.0.0.1", hold=0.0, stop=None, timeout=5.0):
    """Send ``data`` (then wait ``hold`` s or until ``stop``) and read the status; 0 on failure."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout)
            sock.bind((source, 0))
            sock.connect(("127.0.0.1", port))
            try:
                sock.sendall(data)
            except OSError:
                pass
            if hold and stop is not None:
                stop.wait(hold)
            answer = sock.recv(64)
            parts = answer.split(b" ", 2)
            return int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0
    except OSError:
        return 0


def _trickle(port, stop):
    """An upload of 4 MiB announced, sent a few bytes a second."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.settimeout(15)
            sock.connect(("127.0.0.1", port))
            sock.sendall(_head(b"/webhooks/plex", 4 * MIB))
            while not stop.wait(0.3):
                sock.sendall(b"a")
    except OSError:
        pass


def _attacks(port):
    """``(name, one attack)`` pairs; each attack runs once per call until the end."""
    big = b"a" * MIB
    bomb = _head(b"/webhooks/plex", len(BOMB), content_type=b"multipart/form-data; "
                 b"boundary=XyZ") + BOMB
    framing = [b"POST /webhooks/plex HTTP/1.1\r\nContent-Length: 0\r\nContent-Length: 9\r\n\r\n",
               b"POST /webhooks/plex HTTP/1.1\r\nTransfer-Encoding : chunked\r\n\r\n",
               b"POST /webhooks/plex HTTP/1.1\r\nNo colon here\r\n\r\n"]
    counter = iter(range(10 ** 9))

    def source():
        return "127.0.0.%d" % (2 + next(counter) % 200)

    return [
        ("1 MiB body, unknown path", lambda stop: _exchange(port, _head(b"/nowhere", MIB) + big)),
        ("1 MiB body, webhook path", lambda stop: _exchange(port, _head(b"/webhooks/plex", MIB)
                                                            + big)),
        ("8 MiB of boundaries", lambda stop: _exchange(port, bomb, timeout=15)),
        ("no version, then nothing", lambda stop: _exchange(port, b"GET /x", hold=3, stop=stop)),
        ("Expect: 100-continue, no body", lambda stop: _exchange(
            port, _head(b"/webhooks/plex", 4096, b"Expect: 100-continue\r\n"), hold=3,
            stop=stop)),
        ("upload at a trickle", lambda stop: _trickle(port, stop)),
        ("ambiguous framing", lambda stop: [_exchange(port, f) for f in framing]),
        ("refused source address", lambda stop: _exchange(port, _head(b"/webhooks/plex", 2)
                                                          + b"{}", source=source())),
    ]


def _attacker(attack, stop, counts, name, lock):
    while not stop.is_set():
        attack(stop)
        with lock:
            counts[name] = counts.get(name, 0) + 1


def _real_webhooks(port, stop, results):
    """Real webhooks at WEBHOOK_RATE, each on a fresh connection: (answer time, status)."""
    events = ("media.play", "media.pause")
    i = 0
    next_at = time.monotonic()
    while not stop.is_set():
        content_type, body = support.webhook(events[i % 2], "multipart+thumb", seed=i)
        t0 = time.monotonic()
        try:
            status = support.post_once(port, content_type, body, timeout=5.0)
        except OSError:
            status = 0
        results.append((time.monotonic() - t0, status))
        i += 1
        next_at += 1.0 / WEBHOOK_RATE
        stop.wait(max(0.0, next_at - time.monotonic()))


def _cpu_of_one_bomb(ctx, stub):
    """CPU ms the daemon spends on one boundary body on a quiet daemon, beside a real webhook."""
    daemon = ctx.new_daemon(stub)
    support.wait_stable(lambda: (stub.count, daemon.nlines), 0.3, 10)
    content_type, body = support.webhook("media.pause", "multipart+thumb")
    costs = {"webhook": [], "bomb": []}
    request = _head(b"/webhooks/plex", len(BOMB), content_type=b"multipart/form-data; "
                    b"boundary=XyZ") + BOMB
    for _ in range(5):
        before = support.cpu_ms(daemon.pid)
        support.post_once(daemon.port, content_type, body)
        support.wait_stable(lambda: (stub.count, daemon.nlines), 0.2, 5)
        costs["webhook"].append(support.cpu_ms(daemon.pid) - before)
        before = support.cpu_ms(daemon.pid)
        _exchange(daemon.port, request, timeout=15)
        support.wait_stable(lambda: daemon.nlines, 0.2, 5)
        costs["bomb"].append(support.cpu_ms(daemon.pid) - before)
    return daemon, costs


def measure_hostile(ctx, stop_daemon, row_verdict, ms, info):
    seconds = 8.0 if ctx.args.quick else 30.0
    before, after = support.raise_nofile(4096)
    if before != after:
        ctx.note("hostile: raised this process's RLIMIT_NOFILE from %s to %s" % (before, after))
    floor = ctx.new_floor()
    floor_kib = support.rss_kib(floor.pid)
    stub = ctx.new_stub()

    quiet, costs = _cpu_of_one_bomb(ctx, stub)
    stop_daemon(ctx, quiet, "hostile (quiet)")

    daemon = ctx.new_daemon(stub, extra_args=["-webhooks-allow", "127.0.0.1/32"])
    support.wait_stable(lambda: (stub.count, daemon.nlines), 0.3, 10)
    warn_before = daemon.levels["WARN"]
    cpu_before = support.cpu_ms(daemon.pid)
    stop = threading.Event()
    lock = threading.Lock()
    counts = {}
    results = []
    threads = []
    for name, attack in _attacks(daemon.port):
        copies = 32 if name in ("no version, then nothing", "Expect: 100-continue, no body",
                                "upload at a trickle") else 4
        for _ in range(copies):
            threads.append(threading.Thread(target=_attacker, daemon=True,
                                            args=(attack, stop, counts, name, lock)))
    threads.append(threading.Thread(target=_real_webhooks, args=(daemon.port, stop, results),
                                    daemon=True))
    peak_kib = 0
    t0 = time.monotonic()
    for thread in threads:
        thread.start()
    while time.monotonic() - t0 < seconds:
        peak_kib = max(peak_kib, support.rss_kib(daemon.pid))
        stop.wait(0.25)
    stop.set()
    elapsed = time.monotonic() - t0
    cpu = support.cpu_ms(daemon.pid) - cpu_before
    for thread in threads:
        thread.join(20)
    stuck = sum(thread.is_alive() for thread in threads)
    hwm_kib = support.status_kib(daemon.pid, "VmHWM")
    alive = daemon.popen.poll() is None
    try:
        health = support.http_get(daemon.port, "/healthz")[0]
    except OSError:
        health = 0
    warns = daemon.levels["WARN"] - warn_before
    ctx.check_daemon(daemon, "hostile")
    stop_daemon(ctx, daemon, "hostile")

    times = [t for t, _ in results]
    bad = sum(1 for _, status in results if status != 200)
    if bad:
        ctx.note("hostile: real webhooks answered other than 200: %s" % sorted(
            status for _, status in results if status != 200))
    attacks = sum(counts.values())
    ctx.note("hostile: %.1f s of attacks, %d hostile requests (%s); %d real webhooks; "
             "%d attacker threads still running after the window" % (
                 elapsed, attacks, ", ".join("%s %d" % kv for kv in sorted(counts.items())),
                 len(results), stuck))
    ctx.row("hostile: peak RSS (VmHWM, sampled max %s)" % support_mib(peak_kib),
            support_mib(hwm_kib), support_mib(floor_kib) + " bare",
            "%+.1f MiB" % ((hwm_kib - floor_kib) / 1024.0), "< 64 MiB",
            row_verdict(hwm_kib < 64 * 1024))
    ctx.row("hostile: daemon CPU per second of attack", "%.0f ms/s" % (cpu / elapsed), "",
            "%.2f ms per hostile request" % (cpu / max(attacks, 1)), "(context)", info)
    bomb, webhook = median(costs["bomb"]), median(costs["webhook"])
    ctx.row("hostile: CPU for one 8 MiB boundary body, quiet daemon (median of 5)",
            "%.1f ms" % bomb, "%.1f ms real webhook" % webhook, "x%.1f" % (bomb / max(webhook, 1)),
            "< 100 ms", row_verdict(bomb < 100))
    if times:
        ctx.row("hostile: real webhooks answered, p50 / p99 (n=%d)" % len(times),
                "%s / %s" % (ms(median(times)), ms(percentile(times, 99))), "", "",
                "p99 < 1 s", row_verdict(percentile(times, 99) < 1.0))
    ctx.row("hostile: real webhooks answered anything but 200", "%d of %d" % (bad, len(results)),
            "", "", "0", row_verdict(bad == 0 and bool(results)))
    ctx.row("hostile: WARN lines during the attack", str(warns), "", "", "(summarised)", info)
    ctx.row("hostile: alive and /healthz after", "%s, %s" % ("alive" if alive else "DEAD",
                                                             health), "", "", "alive, 200",
            row_verdict(alive and health == 200))


def support_mib(kib):
    return "%.1f MiB" % (kib / 1024.0)
