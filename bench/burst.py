"""The ``burst`` measurement: 100 concurrent webhooks while Plex answers in 30 ms.

Counts the session fetches the burst causes (at most one per 30 ms of the
burst's span, plus 2) and how many are in flight at once (one), and times
the span from the first send to the last answer against the same bursts
sent to a bare stdlib ThreadingHTTPServer (the floor).
"""

import collections
import http.client
import threading
import time

from bench import clients, proc
from bench.figures import median, ms
from bench.harness import wait_stable
from bench.registry import register
from bench.targets import CONTEXT, Target

N = 100
PLEX_DELAY = 0.030  # seconds the stand-in Plex takes to answer

IN_FLIGHT = Target("==", 1)
FETCHES = Target("<=", 2, on="delta", form="{op} span/%gms + {limit}" % (PLEX_DELAY * 1000))


def fire_burst(port, n, events):
    """``n`` POSTs from ``n`` threads, connected first, released together by a Barrier."""
    barrier = threading.Barrier(n)
    results = [None] * n

    def worker(i):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=15)
        content_type, body = events[i % len(events)]
        try:
            conn.connect()
        except OSError as err:
            barrier.wait()
            results[i] = (None, None, "connect:" + type(err).__name__)
            return
        barrier.wait()
        t_send = time.perf_counter()
        try:
            status = clients.post_once(port, content_type, body, connection=conn)
        except Exception as err:
            status = type(err).__name__
        results[i] = (t_send, time.perf_counter(), status)

    threads = [threading.Thread(target=worker, args=(i,), name="burst-%d" % i, daemon=True)
               for i in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    sends = [r[0] for r in results if r and r[0] is not None]
    answers = [r[1] for r in results if r and r[1] is not None]
    statuses = collections.Counter(r[2] if r else "no result" for r in results)
    span = max(answers) - min(sends) if sends and answers else float("nan")
    return span, statuses


@register("burst")
def measure_burst(ctx):
    n, delay, repeats = N, PLEX_DELAY, ctx.args.bursts
    events = [clients.webhook(e, "multipart", seed=i)
              for i, e in enumerate(("media.pause", "media.play"))]
    # The floor: the same bursts against a bare ThreadingHTTPServer.
    floor_server = ctx.new_floor_server()
    floor_spans = []
    for _ in range(repeats):
        span, statuses = fire_burst(floor_server.port, n, events)
        floor_spans.append(span)
        if set(statuses) != {200}:
            ctx.note("burst floor: answers %s" % dict(statuses))
    floor_server.close()

    stub = ctx.new_stub()
    daemon = ctx.new_daemon(stub)
    stub.set_delay(delay)
    runs = []
    for _ in range(repeats):
        wait_stable(lambda: (stub.count, stub.in_flight), 0.3, 10)
        before = stub.count
        cpu0 = proc.cpu_ms(daemon.pid)
        span, statuses = fire_burst(daemon.port, n, events)
        cpu = proc.cpu_ms(daemon.pid) - cpu0
        (after, in_flight), settled = wait_stable(
            lambda: (stub.count, stub.in_flight), quiet=10 * delay, timeout=15)
        fetches = after - before
        bound = span / delay + 2
        runs.append((fetches, bound, span, statuses, settled and in_flight == 0, cpu))
    max_in_flight = stub.max_in_flight
    stub.set_delay(0)
    ctx.check_daemon(daemon, "burst")
    ctx.stop_daemon(daemon, "burst")

    for i, (fetches, bound, span, statuses, settled, cpu) in enumerate(runs):
        ctx.note("burst %d: %d webhooks, answers %s, span %s (floor %s), fetches %d "
                 "(bound %.1f), daemon CPU during the span %.0f ms%s" % (
                     i + 1, n, dict(sorted(statuses.items(), key=str)), ms(span),
                     ms(floor_spans[i]), fetches, bound, cpu,
                     "" if settled else ", fetch count still moving at the deadline"))
    worst = max(runs, key=lambda run: run[0] - run[1])
    fetches, bound, span, statuses = worst[:4]
    refused = sum(c for s, c in statuses.items() if s != 200)
    ctx.row("burst: fetches in flight at once (max)", str(max_in_flight), "1 (one at a time)",
            "", IN_FLIGHT, value=max_in_flight, floor_value=1)
    allowed = span / delay
    ctx.row("burst: fetches caused by %d webhooks%s" % (n, " (worst of %d)" % repeats
                                                         if repeats > 1 else ""),
            str(fetches), "span/%gms = %.1f" % (delay * 1000, allowed),
            "%+.1f" % (fetches - allowed), FETCHES, value=fetches, floor_value=allowed,
            delta=fetches - allowed)
    spans = [run[2] for run in runs]
    d, f = median(spans), median(floor_spans)
    ctx.row("burst: span, first send -> last answer%s" % (" (median of %d)" % repeats
                                                          if repeats > 1 else ""),
            ms(d), ms(f), "x%.2f" % (d / f) if f else "", CONTEXT, value=d * 1000,
            floor_value=f * 1000, delta=d / f if f else None, unit="ms")
    if refused:
        ctx.row("burst: webhooks not answered 200 (worst run)", str(refused), "0",
                "", CONTEXT, value=refused, floor_value=0)
