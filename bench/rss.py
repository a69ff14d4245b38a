"""The ``rss`` measurement: VmRSS after start and after many webhooks.

A mix of webhooks (every body shape, a player not followed, a dropped
event, an empty body) from three threads on fresh connections and one on a
kept-alive connection; VmRSS after start, after 2,000 and after 10,000
(400 and 2,000 with --quick), against the floor, a bare interpreter
holding the same standard-library imports, started beside it.
"""

import collections
import itertools
import threading
import time

from bench import clients, proc
from bench.figures import mib
from bench.harness import FOREIGN_MACHINE_ID, MACHINE_ID, wait_stable
from bench.registry import register
from bench.targets import Target

AFTER_ALL = Target("<=", 4, "MiB", on="delta", form="{op} floor + {limit}")
GROWTH = Target("<", 0.5, "MiB")

MIX = (
    ("media.pause", "multipart", MACHINE_ID),
    ("media.play", "multipart+thumb", MACHINE_ID),
    ("media.pause", "json", MACHINE_ID),
    ("media.resume", "form", MACHINE_ID),
    ("library.new", "multipart", MACHINE_ID),       # acknowledged, dropped
    ("media.play", "multipart", FOREIGN_MACHINE_ID),  # a player we do not follow
    ("media.stop", "multipart", MACHINE_ID),
    ("", "empty", None),                            # a manual "look again"
    ("media.play", "multipart", MACHINE_ID),
    ("media.pause", "multipart+thumb", MACHINE_ID),
)


def send_many(port, count, fresh_threads=3, keep_alive_threads=1):
    """Send ``count`` webhooks from the MIX, shared among client threads as they go.

    Most threads open a fresh connection per webhook (as Plex does); the
    others keep theirs alive. A 503 is retried after 20 ms.
    """
    bodies = [clients.webhook(event, form, player or MACHINE_ID, seed=i)
              for i, (event, form, player) in enumerate(MIX)]
    tickets = itertools.count()
    statuses = collections.Counter()
    lock = threading.Lock()
    totals = {"resends": 0, "connections": 0, "busy_retries": 0, "errors": 0,
              "keep_alive_sent": 0}

    def worker(keep_alive):
        client = clients.KeepAliveClient(port) if keep_alive else None
        local = collections.Counter()
        busy = errors = sent = 0
        try:
            while True:
                i = next(tickets)
                if i >= count:
                    break
                content_type, body = bodies[i % len(bodies)]
                for _ in range(50):
                    try:
                        if client is not None:
                            status = client.post(content_type, body)
                        else:
                            status = clients.post_once(port, content_type, body)
                    except Exception:
                        errors += 1
                        if client is not None:
                            client.close()
                        status = "error"
                        break
                    if status != 503:
                        break
                    busy += 1
                    time.sleep(0.02)
                local[status] += 1
                sent += 1
        finally:
            with lock:
                statuses.update(local)
                totals["busy_retries"] += busy
                totals["errors"] += errors
                if client is not None:
                    client.close()
                    totals["resends"] += client.resends
                    totals["connections"] += client.connections
                    totals["keep_alive_sent"] += sent

    workers = [threading.Thread(target=worker, args=(False,), daemon=True)
               for _ in range(fresh_threads)]
    workers += [threading.Thread(target=worker, args=(True,), daemon=True)
                for _ in range(keep_alive_threads)]
    t0 = time.perf_counter()
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return time.perf_counter() - t0, statuses, totals


@register("rss")
def measure_rss(ctx):
    first, total = ctx.args.rss_counts
    stub = ctx.new_stub()
    daemon = ctx.new_daemon(stub)
    floor = ctx.new_floor()

    def quiesce():
        return wait_stable(lambda: (stub.count, daemon.nlines, stub.in_flight), 0.5, 60)[1]

    quiesce()
    floor_kib = proc.rss_kib(floor.pid)
    start_kib = proc.rss_kib(daemon.pid)
    start_threads = proc.proc_status(daemon.pid)["Threads"]
    marks = []
    sent = 0
    fetch_base, lines_base = stub.count, daemon.nlines
    cpu0 = proc.cpu_ms(daemon.pid)
    for target in (first, total):
        seconds, statuses, totals = send_many(daemon.port, target - sent)
        settled = quiesce()
        marks.append((target, proc.rss_kib(daemon.pid), seconds, statuses, totals, settled,
                      proc.proc_status(daemon.pid)["Threads"], sent))
        sent = target
    cpu = proc.cpu_ms(daemon.pid) - cpu0
    floor_end_kib = proc.rss_kib(floor.pid)
    hwm_kib = proc.status_kib(daemon.pid, "VmHWM")
    fetches, lines = stub.count - fetch_base, daemon.nlines - lines_base
    daemon.drain()
    ctx.check_daemon(daemon, "rss")
    ctx.stop_daemon(daemon, "rss")
    floor.close()

    for target, kib, seconds, statuses, totals, settled, threads, begin in marks:
        ctx.note("rss: webhooks %d..%d sent in %.1f s, answers %s; %d of them over %d "
                 "kept-alive connection(s), %d resent because the daemon closed a kept-alive "
                 "connection unannounced; %d retried after 503, %d client errors; daemon "
                 "threads afterwards %s (at start %s)%s"
                 % (begin + 1, target, seconds, dict(sorted(statuses.items(), key=str)),
                    totals["keep_alive_sent"], totals["connections"], totals["resends"],
                    totals["busy_retries"], totals["errors"], threads, start_threads,
                    "" if settled else "; not quiet within 60 s"))
    ctx.note("rss: %d fetches and %d log lines for %d webhooks; daemon CPU %.2f ms per "
             "webhook; peak VmHWM %s; floor RSS %s at start, %s at the end" % (
                 fetches, lines, total, cpu / total, mib(hwm_kib), mib(floor_kib),
                 mib(floor_end_kib)))
    (n1, kib1, *_), (n2, kib2, *_) = marks
    floor_mib = floor_kib / 1024.0
    ctx.compare("RSS after start", start_kib / 1024.0, floor_mib, "MiB", "%.1f", "%+.1f")
    ctx.compare("RSS after %s webhooks" % format(n1, ","), kib1 / 1024.0, floor_mib, "MiB",
                "%.1f", "%+.1f")
    ctx.compare("RSS after %s webhooks" % format(n2, ","), kib2 / 1024.0, floor_mib, "MiB",
                "%.1f", "%+.1f", AFTER_ALL)
    growth, floor_growth = (kib2 - kib1) / 1024.0, (floor_end_kib - floor_kib) / 1024.0
    ctx.row("RSS growth %s -> %s webhooks" % (format(n1, ","), format(n2, ",")),
            "%+.2f MiB" % growth, "%+.2f MiB" % floor_growth, "", GROWTH, value=growth,
            floor_value=floor_growth, unit="MiB")
