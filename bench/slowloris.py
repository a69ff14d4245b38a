"""The ``slowloris`` measurement: 500 idle TCP connections, then 200 real webhooks.

The webhooks go one at a time, each on a fresh connection, while the idle
connections are held open; their answer times (p50, p95, max < 1 s) and
the daemon's threads are compared with the floor, the same webhooks to the
same daemon without the idle connections. Then when the daemon cuts the
idle ones, and the same with 500 connections that sent half a request line
(context).
"""

import collections
import selectors
import socket
import time

from bench import clients, proc
from bench.figures import median, ms, p95
from bench.harness import wait_for, wait_stable
from bench.registry import register
from bench.targets import CONTEXT, Target

SLOW_IDLE = 500
SLOW_WEBHOOKS = 200
READ_DEADLINE = 10.0  # the daemon's: a connection that sent nothing in time is closed
PARTIAL_HEAD = b"POST /webhooks/plex HTTP/1.1\r\n"
WORKERS = 32  # the daemon's most worker threads at once

SLOWEST = Target("<", 1, "s", also=("all 200",))
THREADS = Target("<=", WORKERS, on="delta", form="{op} {limit} + {floor}")


def answer_times(port, n):
    """``n`` real webhooks, one at a time, fresh connection each: answer times and statuses."""
    bodies = [clients.webhook(event, "multipart", seed=i)
              for i, event in enumerate(("media.pause", "media.play"))]
    times, statuses = [], collections.Counter()
    for i in range(n):
        content_type, body = bodies[i % 2]
        t0 = time.perf_counter()
        try:
            status = clients.post_once(port, content_type, body, timeout=15)
        except Exception as err:
            status = "error: " + type(err).__name__
        times.append(time.perf_counter() - t0)
        statuses[status] += 1
    return times, statuses


def open_many(port, n, first=b""):
    """Open ``n`` connections (sending ``first`` on each); return ``[(socket, opened at)]``."""
    opened, failures = [], collections.Counter()
    for _ in range(n):
        try:
            sock = socket.create_connection(("127.0.0.1", port), timeout=5)
            if first:
                sock.sendall(first)
        except OSError as err:
            failures[type(err).__name__] += 1
            continue
        opened.append((sock, time.monotonic()))
    return opened, failures


def connection_states(opened):
    """Counter of ``open`` / ``answered`` (bytes waiting) / ``closed`` over the sockets."""
    states = collections.Counter()
    for sock, _ in opened:
        timeout = sock.gettimeout()
        sock.setblocking(False)  # with a timeout, recv would wait for data first
        try:
            data = sock.recv(1, socket.MSG_PEEK)
        except BlockingIOError:
            states["open"] += 1
            continue
        except OSError:
            states["reset"] += 1
            continue
        finally:
            sock.settimeout(timeout)
        states["answered" if data else "closed"] += 1
    return states


def wait_closed(opened, limit):
    """Wait until the daemon closed every socket or ``limit`` seconds pass.

    Returns the seconds from each socket's opening to its close (when seen).
    """
    ages = []
    deadline = time.monotonic() + limit
    with selectors.DefaultSelector() as selector:
        for sock, at in opened:
            selector.register(sock, selectors.EVENT_READ, at)
        while selector.get_map() and time.monotonic() < deadline:
            for key, _ in selector.select(max(0.0, deadline - time.monotonic())):
                try:
                    data = key.fileobj.recv(4096)
                except OSError:
                    data = b""
                if not data:
                    ages.append(time.monotonic() - key.data)
                    selector.unregister(key.fileobj)
    return ages


def close_all(opened):
    for sock, _ in opened:
        try:
            sock.close()
        except OSError:
            pass


@register("slowloris")
def measure_slowloris(ctx):
    n, idle = SLOW_WEBHOOKS, SLOW_IDLE
    before, after = proc.raise_nofile(2 * idle + 256)
    if before != after:
        ctx.note("slowloris: raised this process's RLIMIT_NOFILE from %s to %s" % (before, after))
    stub = ctx.new_stub()
    daemon = ctx.new_daemon(stub)
    wait_stable(lambda: (stub.count, daemon.nlines), 0.5, 10)
    fixed = proc.threads(daemon.pid)
    answer_times(daemon.port, 10)  # warm-up
    wait_stable(lambda: (stub.count, daemon.nlines), 0.3, 10)
    # The floor: the same webhooks without the idle connections.
    floor_times, floor_statuses = answer_times(daemon.port, n)
    wait_stable(lambda: (stub.count, daemon.nlines), 0.3, 10)

    # 1. Idle connections that send nothing.
    base_sockets = proc.open_fds(daemon.pid)[1]
    opened, failures = open_many(daemon.port, idle)
    t_open = time.monotonic()
    wait_for(lambda: proc.open_fds(daemon.pid)[1] >= base_sockets + len(opened), 3)
    fds = proc.open_fds(daemon.pid)
    accepted_after = time.monotonic() - t_open
    with proc.ThreadSampler(daemon.pid, interval=0.005) as sampler:
        times, statuses = answer_times(daemon.port, n)
    elapsed = time.monotonic() - t_open
    during = connection_states(opened)
    fds_after = proc.open_fds(daemon.pid)
    threads_max = max(sampler.samples)
    # How long the daemon lets them idle.
    ages = wait_closed(opened, READ_DEADLINE + 5.0)
    close_all(opened)
    wait_stable(lambda: (stub.count, daemon.nlines), 0.3, 10)

    warns_idle = daemon.levels["WARN"]
    # 2. The same number of connections that sent half a request line.
    partial, partial_failures = open_many(daemon.port, idle, PARTIAL_HEAD)
    t_partial = time.monotonic()
    with proc.ThreadSampler(daemon.pid, interval=0.005) as partial_sampler:
        partial_times, partial_statuses = answer_times(daemon.port, n)
    partial_elapsed = time.monotonic() - t_partial
    partial_states = connection_states(partial)
    close_all(partial)
    wait_for(lambda: proc.threads(daemon.pid) <= fixed, 5)
    wait_stable(lambda: daemon.nlines, 0.3, 5)
    warns_partial = daemon.levels["WARN"] - warns_idle
    limit = proc.nofile_limit(daemon.pid)
    ctx.check_daemon(daemon, "slowloris")
    ctx.stop_daemon(daemon, "slowloris")

    ctx.note("slowloris: %d idle connections opened (%s failed), all accepted by the daemon "
             "%.2f s after the first was opened; then %d webhooks, done %.2f s after the first "
             "was opened (the daemon cuts idle ones after %g s); daemon file descriptors %d "
             "(%d sockets) before the webhooks, %d (%d) after; %d WARN lines; its "
             "RLIMIT_NOFILE %s; connections after the webhooks: %s" % (
                 len(opened), sum(failures.values()) or "none", accepted_after, n, elapsed,
                 READ_DEADLINE, fds[0], fds[1], fds_after[0], fds_after[1], warns_idle, limit,
                 dict(during)))
    ctx.note("slowloris: answers without idle connections %s, with them %s; max %s vs %s" % (
        dict(floor_statuses), dict(statuses), ms(max(floor_times)), ms(max(times))))
    if ages:
        ctx.note("slowloris: the daemon closed %d of %d idle connections, %.2f s .. %.2f s after "
                 "each was opened" % (len(ages), len(opened), min(ages), max(ages)))
    else:
        ctx.note("slowloris: the daemon closed none of the idle connections within %g s"
                 % (READ_DEADLINE + 5))
    ctx.note("slowloris, half a request line (%r) on %d connections (%s failed to open): "
             "after the webhooks %s; webhook answers %s, median %s, max %s, over %.2f s; "
             "daemon threads max %d; the daemon logged %d WARN lines meanwhile" % (
                 PARTIAL_HEAD.decode(), len(partial), sum(partial_failures.values()) or "none",
                 dict(partial_states), dict(sorted(partial_statuses.items(), key=str)),
                 ms(median(partial_times)), ms(max(partial_times)), partial_elapsed,
                 max(partial_sampler.samples), warns_partial))

    for label, pick in (("p50", median), ("p95", p95)):
        ctx.compare("slowloris: webhook answered, %d idle connections, %s (n=%d)" % (
            len(opened), label, n), pick(times) * 1000, pick(floor_times) * 1000, "ms")
    ok = statuses.get(200, 0) == n
    ctx.compare("slowloris: slowest webhook answer (max of %d)" % n, max(times) * 1000,
                max(floor_times) * 1000, "ms", target=SLOWEST, conditions=[ok])
    ctx.row("slowloris: daemon threads during the attack (max)", str(threads_max),
            "%d at rest" % fixed, "%+d" % (threads_max - fixed), THREADS, value=threads_max,
            floor_value=fixed, delta=threads_max - fixed)
    ctx.row("slowloris: idle connections open during the measurement",
            "%d of %d" % (during.get("open", 0), len(opened)), "", "", CONTEXT,
            value=during.get("open", 0))
    ok_partial = partial_statuses.get(200, 0)
    ctx.row("  same, %d connections that sent half a request line: webhooks answered 200"
            % len(partial), "%d of %d" % (ok_partial, n), "%d of %d" % (
                floor_statuses.get(200, 0), n), "", CONTEXT, value=ok_partial,
            floor_value=floor_statuses.get(200, 0))
