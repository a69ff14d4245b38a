"""StreamerBrainz benchmark: ``python -m bench`` or ``python bench/run.py``.

Runs the real daemon (``python -m streamerbrainz``) as a subprocess beside a
stand-in Plex server and prints one table. Every figure stands beside a
floor measured in the same run, with its target and PASS or MISS. These are
measurements, not tests: the exit status is 0 even when a target is missed
(2 for a usage error, 1 when the benchmark itself could not run).

Measurements (``--only`` takes these names, comma-separated):

  latency  webhook POST -> the daemon's ``Plex state changed`` line on stderr,
           against an in-process urllib GET of /status/sessions + ElementTree parse
  burst    100 concurrent webhooks while Plex answers in 30 ms: fetches caused,
           fetches in flight at once, span; against a bare stdlib HTTP server
  rss      VmRSS after start, after 2,000 and after 10,000 webhooks, against a
           bare interpreter holding the same standard-library imports
  startup  spawn -> ``webhooks server listening``, against spawn -> ``ready``
           from that bare interpreter
  idle     CPU time and wake-ups over a quiet window, then SIGTERM -> exit
"""

import argparse
import collections
import http.client
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import urllib.request
import xml.etree.ElementTree as ElementTree

# The repository root, so that ``python bench/run.py`` finds ``bench`` and
# ``tests.support`` (for the stand-in Plex server) as ``python -m bench`` does.
_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

from bench import support  # noqa: E402
from bench.support import (FOREIGN_MACHINE_ID, MACHINE_ID, SESSIONS_XML, TOKEN,  # noqa: E402
                           median, percentile)

MEASUREMENTS = ("latency", "burst", "rss", "startup", "idle")

PASS, MISS, INFO, ERROR = "PASS", "MISS", "info", "ERROR"

Row = collections.namedtuple("Row", "metric daemon floor overhead target result")


def ms(seconds):
    return "%.2f ms" % (seconds * 1000.0)


def mib(kib):
    return "%.1f MiB" % (kib / 1024.0)


def verdict(ok):
    return PASS if ok else MISS


class Context:
    def __init__(self, args, stub_class, token_file, pycache=None):
        self.args = args
        self.pycache = pycache
        self.stub_class = stub_class
        self.token_file = token_file
        self.rows = []
        self.notes = []
        self.stops = []  # (label, seconds or None, exit status) for every SIGTERM sent
        self._cleanups = []

    def row(self, *fields):
        self.rows.append(Row(*fields))

    def note(self, text):
        self.notes.append(text)

    def new_stub(self):
        stub = self.stub_class(TOKEN)
        stub.start()
        self._cleanups.append(stub.stop)
        stub.set_sessions(SESSIONS_XML)
        return stub

    def new_daemon(self, stub, wait_state=True):
        daemon = support.Daemon(stub.url, self.token_file, level="info")
        self._cleanups.append(daemon.close)
        daemon.start()
        daemon.wait_listening()
        if wait_state:
            daemon.wait_state("playing", timeout=10)  # the fetch at start-up
        return daemon

    def new_floor(self):
        floor = support.Floor()
        self._cleanups.append(floor.close)
        floor.start()
        floor.wait_ready()
        return floor

    def cleanup(self):
        while self._cleanups:
            action = self._cleanups.pop()
            try:
                action()
            except Exception as err:  # keep cleaning up
                self.note("cleanup failed: %s: %s" % (type(err).__name__, err))

    def check_daemon(self, daemon, label):
        """Note anything the daemon complained about."""
        if daemon.complaints:
            shown = daemon.complaints[:5]
            more = len(daemon.complaints) - len(shown)
            self.note("%s: the daemon logged %d WARN/ERROR line(s)%s:\n      %s" % (
                label, len(daemon.complaints), " (first 5)" if more > 0 else "",
                "\n      ".join(line[:300] for line in shown)))


def stop_daemon(ctx, daemon, label):
    """SIGTERM and wait up to 5 s (then SIGKILL); record how it went."""
    seconds, status = daemon.terminate(timeout=5.0)
    ctx.stops.append((label, seconds, status))
    if seconds is None or status != 0:
        last = [line for line in daemon.tail if line][-1:] or ["(nothing)"]
        ctx.note("%s: SIGTERM -> %s, exit status %s; last log line: %s" % (
            label, "no exit within 5 s (killed)" if seconds is None else ms(seconds), status,
            last[0][:200]))
    return seconds, status


def next_toggle(current):
    """The webhook that changes the state, and the state it should produce."""
    if current == "playing":
        return "media.pause", "paused"
    return "media.play", "playing"


# -- 1. latency -----------------------------------------------------------------


def floor_fetch(opener, url):
    request = urllib.request.Request(url, headers={"X-Plex-Token": TOKEN,
                                                   "Accept": "application/xml"})
    with opener.open(request, timeout=5) as answer:
        data = answer.read()
    root = ElementTree.fromstring(data)
    found = 0
    for item in root:
        player = item.find("Player")
        if player is not None and player.get("machineIdentifier") == MACHINE_ID:
            found += 1
    if not found:
        raise AssertionError("the stand-in did not serve a session for the player")


def timed_webhooks(daemon, stub, form, n, warm, state):
    """Send ``warm + n`` state-changing webhooks one at a time; time the last ``n``.

    Returns a dict of lists (``lat``, ``floor``, ``answered``), the answer
    counts, the number of webhooks with no state line, and the final state.
    """
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    url = stub.url + "/status/sessions"
    times = {"lat": [], "floor": [], "answered": []}
    statuses = collections.Counter()
    misses = 0
    for i in range(warm + n):
        event, expected = next_toggle(state)
        content_type, body = support.webhook(event, form, seed=i)
        daemon.drain()
        t0 = time.perf_counter()
        status = support.post_once(daemon.port, content_type, body)
        t_answer = time.perf_counter()
        statuses[status] += 1
        try:
            t1, _ = daemon.wait_state(expected, timeout=5)
        except TimeoutError:
            misses += 1
            continue
        finally:
            state = expected
        # The floor, interleaved so both see the same machine conditions.
        t2 = time.perf_counter()
        floor_fetch(opener, url)
        t3 = time.perf_counter()
        if i >= warm:
            times["lat"].append(t1 - t0)
            times["floor"].append(t3 - t2)
            times["answered"].append(t_answer - t0)
    return times, statuses, misses, state


def measure_latency(ctx):
    n = ctx.args.webhooks
    warm = 10
    stub = ctx.new_stub()
    daemon = ctx.new_daemon(stub)
    cpu0 = support.cpu_ms(daemon.pid)
    times, statuses, misses, state = timed_webhooks(daemon, stub, "multipart", n, warm,
                                                    "playing")
    cpu = support.cpu_ms(daemon.pid) - cpu0
    json_times, json_statuses, json_misses, state = timed_webhooks(
        daemon, stub, "json", n, warm, state)
    keep_alive = keep_alive_round_trips(daemon.port, ctx.args.keepalive_requests)
    ctx.check_daemon(daemon, "latency")
    stop_daemon(ctx, daemon, "latency")
    floor_server = support.FloorServer()
    ctx._cleanups.append(floor_server.close)
    floor_server.start()
    floor_server.wait_listening()
    floor_fresh = [fresh_round_trip(floor_server.port) for _ in range(len(times["answered"]))]
    floor_keep_alive = keep_alive_round_trips(floor_server.port, ctx.args.keepalive_requests)
    floor_server.close()

    lat, floor = times["lat"], times["floor"]
    for label, counts, missed in (("multipart", statuses, misses),
                                  ("json", json_statuses, json_misses)):
        if missed or set(counts) != {200}:
            ctx.note("latency (%s): answers %s; %d webhook(s) produced no state line within "
                     "5 s" % (label, dict(counts), missed))
    ctx.note("latency: %d timed webhooks per body shape (alternating media.pause/media.play, "
             "fresh connection each) after %d warm-up; multipart: daemon min %s max %s, "
             "floor min %s max %s" % (len(lat), warm, ms(min(lat)), ms(max(lat)),
                                      ms(min(floor)), ms(max(floor))))
    ctx.note("latency: daemon CPU %.2f ms per multipart webhook (utime+stime over %d webhooks; "
             "HTTP, parsing, the fetch and two log lines)" % (cpu / (warm + n), warm + n))
    for label, pick, target in (("median", median, 0.002),
                                ("p95", lambda v: percentile(v, 95), 0.005)):
        d, f = pick(lat), pick(floor)
        ctx.row("webhook -> state line, %s (n=%d)" % (label, len(lat)), ms(d), ms(f),
                "%+.2f ms" % ((d - f) * 1000), "overhead <= %d ms" % (target * 1000),
                verdict(d - f <= target))
    d, f = median(json_times["lat"]), median(json_times["floor"])
    ctx.row("  same, application/json body, median", ms(d), ms(f),
            "%+.2f ms" % ((d - f) * 1000), "(context)", INFO)
    d, f = median(times["answered"]), median(floor_fresh)
    ctx.row("webhook answered, fresh connection, median", ms(d), ms(f),
            "%+.2f ms" % ((d - f) * 1000), "(context)", INFO)
    d, f = median(keep_alive), median(floor_keep_alive)
    ctx.row("webhook answered, kept-alive connection, median",
            ms(d), ms(f), "%+.2f ms" % ((d - f) * 1000), "(context)", INFO)


def fresh_round_trip(port):
    content_type, body = support.webhook("library.new", "multipart")
    t0 = time.perf_counter()
    status = support.post_once(port, content_type, body)
    if status != 200:
        raise AssertionError("answer %s" % status)
    return time.perf_counter() - t0


def keep_alive_round_trips(port, count):
    """Round trips of ``count`` webhooks on one kept-alive connection (the first not counted).

    ``library.new`` is acknowledged and dropped, so this times the HTTP path alone.
    """
    content_type, body = support.webhook("library.new", "multipart")
    client = support.KeepAliveClient(port)
    times = []
    try:
        for i in range(count + 1):
            t0 = time.perf_counter()
            status = client.post(content_type, body)
            if status != 200:
                raise AssertionError("answer %s" % status)
            if i:
                times.append(time.perf_counter() - t0)
    finally:
        client.close()
    return times


# -- 2. burst -------------------------------------------------------------------


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
            status = support.post_once(port, content_type, body, connection=conn)
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


def measure_burst(ctx):
    n, delay, repeats = 100, 0.030, ctx.args.bursts
    events = [support.webhook(e, "multipart", seed=i)
              for i, e in enumerate(("media.pause", "media.play"))]
    # The floor: the same bursts against a bare ThreadingHTTPServer.
    floor_server = support.FloorServer()
    ctx._cleanups.append(floor_server.close)
    floor_server.start()
    floor_server.wait_listening()
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
        support.wait_stable(lambda: (stub.count, getattr(stub, "in_flight", 0)), 0.3, 10)
        before = stub.count
        cpu0 = support.cpu_ms(daemon.pid)
        span, statuses = fire_burst(daemon.port, n, events)
        cpu = support.cpu_ms(daemon.pid) - cpu0
        (after, in_flight), settled = support.wait_stable(
            lambda: (stub.count, getattr(stub, "in_flight", 0)), quiet=10 * delay, timeout=15)
        fetches = after - before
        bound = span / delay + 2
        runs.append((fetches, bound, span, statuses, settled and in_flight == 0, cpu))
    max_in_flight = stub.max_in_flight
    stub.set_delay(0)
    ctx.check_daemon(daemon, "burst")
    stop_daemon(ctx, daemon, "burst")

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
            "", "== 1", verdict(max_in_flight == 1))
    ctx.row("burst: fetches caused by %d webhooks%s" % (n, " (worst of %d)" % repeats
                                                         if repeats > 1 else ""),
            str(fetches), "span/30ms = %.1f" % (span / delay), "%+.1f" % (fetches - span / delay),
            "<= span/30ms + 2", verdict(fetches <= bound))
    spans = [run[2] for run in runs]
    d, f = median(spans), median(floor_spans)
    ctx.row("burst: span, first send -> last answer%s" % (" (median of %d)" % repeats
                                                          if repeats > 1 else ""),
            ms(d), ms(f), "x%.2f" % (d / f) if f else "", "(context)", INFO)
    if refused:
        ctx.row("burst: webhooks not answered 200 (worst run)", str(refused), "0",
                "", "(context)", INFO)


# -- 3. RSS ---------------------------------------------------------------------

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
    import itertools
    bodies = [support.webhook(event, form, player or MACHINE_ID, seed=i)
              for i, (event, form, player) in enumerate(MIX)]
    tickets = itertools.count()
    statuses = collections.Counter()
    lock = threading.Lock()
    totals = {"resends": 0, "connections": 0, "busy_retries": 0, "errors": 0,
              "keep_alive_sent": 0}

    def worker(keep_alive):
        client = support.KeepAliveClient(port) if keep_alive else None
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
                            status = support.post_once(port, content_type, body)
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


def measure_rss(ctx):
    first, total = ctx.args.rss_counts
    stub = ctx.new_stub()
    daemon = ctx.new_daemon(stub)
    floor = ctx.new_floor()

    def quiesce():
        return support.wait_stable(lambda: (stub.count, daemon.nlines,
                                            getattr(stub, "in_flight", 0)), 0.5, 60)[1]

    quiesce()
    floor_kib = support.rss_kib(floor.pid)
    start_kib = support.rss_kib(daemon.pid)
    start_threads = support.proc_status(daemon.pid)["Threads"]
    marks = []
    sent = 0
    fetch_base, lines_base = stub.count, daemon.nlines
    cpu0 = support.cpu_ms(daemon.pid)
    for target in (first, total):
        seconds, statuses, totals = send_many(daemon.port, target - sent)
        settled = quiesce()
        marks.append((target, support.rss_kib(daemon.pid), seconds, statuses, totals, settled,
                      support.proc_status(daemon.pid)["Threads"], sent))
        sent = target
    cpu = support.cpu_ms(daemon.pid) - cpu0
    floor_end_kib = support.rss_kib(floor.pid)
    hwm_kib = support.status_kib(daemon.pid, "VmHWM")
    fetches, lines = stub.count - fetch_base, daemon.nlines - lines_base
    daemon.drain()
    ctx.check_daemon(daemon, "rss")
    stop_daemon(ctx, daemon, "rss")
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
    ctx.row("RSS after start", mib(start_kib), mib(floor_kib),
            "%+.1f MiB" % ((start_kib - floor_kib) / 1024.0), "(context)", INFO)
    ctx.row("RSS after %s webhooks" % format(n1, ","), mib(kib1), mib(floor_kib),
            "%+.1f MiB" % ((kib1 - floor_kib) / 1024.0), "(context)", INFO)
    ctx.row("RSS after %s webhooks" % format(n2, ","), mib(kib2), mib(floor_kib),
            "%+.1f MiB" % ((kib2 - floor_kib) / 1024.0), "<= floor + 4 MiB",
            verdict(kib2 - floor_kib <= 4 * 1024))
    ctx.row("RSS growth %s -> %s webhooks" % (format(n1, ","), format(n2, ",")),
            "%+.2f MiB" % ((kib2 - kib1) / 1024.0),
            "%+.2f MiB" % ((floor_end_kib - floor_kib) / 1024.0), "", "< 0.5 MiB",
            verdict(kib2 - kib1 < 512))


# -- 4. start-up ------------------------------------------------------------------


def measure_startup(ctx):
    runs = ctx.args.startup_runs
    stub = ctx.new_stub()
    daemon_times, floor_times, exit_times = [], [], []
    for i in range(runs + 1):  # run 0 warms the page cache and __pycache__, not counted
        floor = support.Floor()
        try:
            floor.start()
            t = floor.wait_ready()
            if i:
                floor_times.append(t - floor.t_spawn)
        finally:
            floor.close()
        daemon = support.Daemon(stub.url, ctx.token_file, level="info")
        try:
            daemon.start()
            t = daemon.wait_listening()
            if i:
                daemon_times.append(t - daemon.t_spawn)
            daemon.wait_state("playing", timeout=10)
            seconds, status = stop_daemon(ctx, daemon, "startup run %d" % i)
            if i and seconds is not None:
                exit_times.append(seconds)
            if i == runs:
                ctx.check_daemon(daemon, "startup")
        finally:
            daemon.close()
    # The same without the package's bytecode (a copy in a read-only directory):
    # the standard library stays cached, streamerbrainz/ is compiled every time.
    cold_times = []
    if ctx.pycache:
        shutil.rmtree(ctx.pycache + os.path.join(support.ROOT, "streamerbrainz"),
                      ignore_errors=True)
        for i in range(max(3, runs // 2)):
            daemon = support.Daemon(stub.url, ctx.token_file, level="info",
                                    env={"PYTHONDONTWRITEBYTECODE": "1"})
            try:
                daemon.start()
                cold_times.append(daemon.wait_listening() - daemon.t_spawn)
                daemon.wait_state("playing", timeout=10)
                stop_daemon(ctx, daemon, "startup without bytecode, run %d" % i)
            finally:
                daemon.close()
    d, f = median(daemon_times), median(floor_times)
    ctx.note("startup: %d runs each, interleaved, after one warm-up; daemon %s..%s, floor "
             "%s..%s; SIGTERM -> exit after the first fetch: median %s, max %s" % (
                 runs, ms(min(daemon_times)), ms(max(daemon_times)), ms(min(floor_times)),
                 ms(max(floor_times)), ms(median(exit_times)), ms(max(exit_times))))
    ctx.row("start-up: spawn -> listening (median of %d)" % runs, ms(d), ms(f),
            "%+.1f ms" % ((d - f) * 1000), "<= floor + 50 ms", verdict(d - f <= 0.050))
    if cold_times:
        c = median(cold_times)
        ctx.row("  same, streamerbrainz/ without .pyc (median of %d)" % len(cold_times),
                ms(c), ms(f), "%+.1f ms" % ((c - f) * 1000), "(context)", INFO)


# -- 5. idle ----------------------------------------------------------------------


def measure_idle(ctx):
    window = ctx.args.idle_seconds
    stub = ctx.new_stub()
    daemon = ctx.new_daemon(stub)
    floor = ctx.new_floor()
    # Let start-up settle: the first fetch is done and nothing has been logged for 1 s.
    support.wait_stable(lambda: (daemon.nlines, stub.count), 1.0, 10)
    fetches_before, lines_before = stub.count, daemon.nlines
    samples = {}
    for name, proc in (("daemon", daemon), ("floor", floor)):
        samples[name] = (support.cpu_ms(proc.pid), support.task_switches(proc.pid))
    t0 = time.monotonic()
    threading.Event().wait(window)
    elapsed = time.monotonic() - t0
    figures = {}
    for name, proc in (("daemon", daemon), ("floor", floor)):
        cpu0, sw0 = samples[name]
        cpu1, sw1 = support.cpu_ms(proc.pid), support.task_switches(proc.pid)
        total, per_thread, gone = support.switch_delta(sw0, sw1)
        figures[name] = (cpu1 - cpu0, total, per_thread, gone, len(sw1))
    fetches_idle, lines_idle = stub.count - fetches_before, daemon.nlines - lines_before
    daemon_exit, daemon_status = daemon.terminate(timeout=5.0)
    floor_exit, floor_status = floor.terminate(timeout=5.0)
    ctx.check_daemon(daemon, "idle")

    d_cpu, d_wake, d_threads, d_gone, d_n = figures["daemon"]
    f_cpu, f_wake, _, _, f_n = figures["floor"]
    busy = ["tid %d (%s%s): %d" % (tid, name, ", new" if new else "", delta)
            for tid, (name, delta, new) in sorted(d_threads.items()) if delta]
    ctx.note("idle: %.1f s window; daemon has %d threads%s; %d fetch(es) and %d log line(s) "
             "during the window; wake-ups per thread: %s" % (
                 elapsed, d_n, " (%d ended during the window)" % len(d_gone) if d_gone else "",
                 fetches_idle, lines_idle, ", ".join(busy) or "none"))

    def rate(count):
        if not count:
            return "%d (0/s)" % count
        return "%d (%.2f/s, every %.1f s)" % (count, count / elapsed, elapsed / count)

    allowed = int(window // 5)
    ctx.row("idle %ds: wake-ups (context switches)" % round(window), rate(d_wake), rate(f_wake),
            "%+d" % (d_wake - f_wake), "<= 1 per 5 s (<= %d)" % allowed,
            verdict(d_wake <= allowed))
    ctx.row("idle %ds: CPU time (utime+stime)" % round(window), "%.0f ms" % d_cpu,
            "%.0f ms" % f_cpu, "%+.0f ms" % (d_cpu - f_cpu), "(context)", INFO)
    ctx.row("SIGTERM -> exit (after idle)",
            "no exit in 5 s" if daemon_exit is None else "%s, status %s" % (ms(daemon_exit),
                                                                            daemon_status),
            "no exit" if floor_exit is None else "%s, status %s" % (ms(floor_exit),
                                                                    floor_status),
            "", "< 2 s, status 0",
            verdict(daemon_exit is not None and daemon_exit < 2.0 and daemon_status == 0))


# -- table and main -----------------------------------------------------------------


def print_table(rows, out):
    header = Row("metric", "daemon", "floor", "overhead/ratio", "target", "result")
    table = [header] + list(rows)
    widths = [max(len(str(row[i])) for row in table) for i in range(len(header))]

    def line(row):
        return " | ".join(str(cell).ljust(widths[i]) for i, cell in enumerate(row)).rstrip()

    out.write(line(header) + "\n")
    out.write("-+-".join("-" * w for w in widths) + "\n")
    for row in rows:
        out.write(line(row) + "\n")


def warm_up(ctx):
    """Start the floor and the daemon once each, so that both find their bytecode cached."""
    floor = ctx.new_floor()
    floor.close()
    stub = ctx.new_stub()
    daemon = ctx.new_daemon(stub)
    content_type, body = support.webhook("media.pause", "multipart")
    support.post_once(daemon.port, content_type, body)
    daemon.wait_state("paused")
    stop_daemon(ctx, daemon, "warm-up")


def describe_code():
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=support.ROOT,
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                              universal_newlines=True, timeout=5).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "streamerbrainz"],
                               cwd=support.ROOT, stdout=subprocess.PIPE,
                               stderr=subprocess.DEVNULL, universal_newlines=True,
                               timeout=5).stdout.strip()
        return head + (" + uncommitted changes in streamerbrainz/" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def parse_args(argv):
    parser = argparse.ArgumentParser(
        prog="python -m bench", description="Measure the StreamerBrainz daemon against floors "
        "measured in the same run.")
    parser.add_argument("--quick", action="store_true",
                        help="fewer iterations and a 5 s idle window, for a smoke run")
    parser.add_argument("--only", default="",
                        help="comma-separated subset of: " + ", ".join(MEASUREMENTS))
    parser.add_argument("--idle-seconds", type=float, default=None,
                        help="length of the idle window (default 30, 5 with --quick)")
    parser.add_argument("--bytecode", choices=("cache", "inherit"), default="cache",
                        help="cache: every subprocess keeps .pyc files in a temporary "
                        "PYTHONPYCACHEPREFIX, warmed before measuring (default); inherit: "
                        "leave PYTHONDONTWRITEBYTECODE and friends as the environment has them")
    parser.add_argument("--stub", choices=("auto", "tests", "bench"), default="auto",
                        help="which stand-in Plex server to use (default: the tests' one "
                        "when it is there)")
    args = parser.parse_args(argv)
    only = [name.strip() for name in args.only.split(",") if name.strip()]
    unknown = [name for name in only if name not in MEASUREMENTS]
    if unknown:
        parser.error("--only: unknown measurement(s) %s; choose from %s"
                     % (", ".join(unknown), ", ".join(MEASUREMENTS)))
    args.selected = only or list(MEASUREMENTS)
    if args.idle_seconds is None:
        args.idle_seconds = 5.0 if args.quick else 30.0
    if args.idle_seconds <= 0:
        parser.error("--idle-seconds: must be more than 0")
    args.webhooks = 50 if args.quick else 300
    args.keepalive_requests = 10 if args.quick else 30
    args.bursts = 1 if args.quick else 3
    args.rss_counts = (400, 2000) if args.quick else (2000, 10000)
    args.startup_runs = 3 if args.quick else 10
    return args


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if not sys.platform.startswith("linux") or not os.path.isdir("/proc/self/task"):
        print("bench: needs Linux /proc (VmRSS, context switches)", file=sys.stderr)
        return 1
    out = sys.stdout
    stub_class, stub_origin = support.load_stub_class(args.stub)
    try:
        from streamerbrainz import __version__ as version
    except Exception:
        version = "?"
    out.write("StreamerBrainz %s (%s) benchmark\n" % (version, describe_code()))
    out.write("Python %s (%s) %s; %s %s, nproc=%d; stand-in Plex: %s; bytecode: %s%s\n" % (
        platform.python_version(), platform.python_implementation(), sys.executable,
        platform.system(), platform.machine(), os.cpu_count() or 0, stub_origin,
        "cached in a temporary PYTHONPYCACHEPREFIX" if args.bytecode == "cache"
        else "as the environment says", "; --quick" if args.quick else ""))
    out.write("load average at start: %s (other work on the machine skews every figure)\n"
              % " ".join("%.2f" % x for x in os.getloadavg()))
    out.flush()

    measures = {"latency": measure_latency, "burst": measure_burst, "rss": measure_rss,
                "startup": measure_startup, "idle": measure_idle}
    tmpdir = tempfile.mkdtemp(prefix="sbz-bench-")
    ctx = None
    try:
        token_file = os.path.join(tmpdir, "plex-token")
        with open(token_file, "w") as handle:
            handle.write(TOKEN + "\n")
        os.chmod(token_file, 0o600)
        pycache = None
        if args.bytecode == "cache":
            pycache = os.path.join(tmpdir, "pycache")
            support.use_bytecode_cache(pycache)
        ctx = Context(args, stub_class, token_file, pycache)
        if pycache:
            out.write("  warming the bytecode cache ...\n")
            out.flush()
            try:
                warm_up(ctx)
            except Exception as err:
                ctx.note("warm-up failed: %s: %s" % (type(err).__name__, err))
            finally:
                ctx.cleanup()
        for name in args.selected:
            t0 = time.perf_counter()
            out.write("  running %s ...\n" % name)
            out.flush()
            try:
                measures[name](ctx)
            except Exception as err:
                ctx.row(name, "failed", "", "", "", ERROR)
                ctx.note("%s failed: %s: %s\n%s" % (name, type(err).__name__, err,
                                                     traceback.format_exc()))
            finally:
                ctx.cleanup()
            out.write("  %s done in %.1f s\n" % (name, time.perf_counter() - t0))
            out.flush()
    except KeyboardInterrupt:
        out.write("interrupted\n")
    finally:
        if ctx is not None:
            ctx.cleanup()
        shutil.rmtree(tmpdir, ignore_errors=True)
    if ctx is None:
        return 1

    if ctx.stops:
        done = [seconds for _, seconds, status in ctx.stops if seconds is not None]
        hung = [label for label, seconds, _ in ctx.stops if seconds is None]
        bad = [label for label, seconds, status in ctx.stops
               if seconds is not None and status != 0]
        ctx.row("SIGTERM -> exit, each daemon stopped in this run (%d)" % len(ctx.stops),
                "max %s%s%s" % (ms(max(done)) if done else "-",
                                "; %d never exited" % len(hung) if hung else "",
                                "; %d non-zero" % len(bad) if bad else ""),
                "", "", "< 2 s, status 0",
                verdict(not hung and not bad and max(done or [0]) < 2.0))
    out.write("\n")
    print_table(ctx.rows, out)
    if ctx.notes:
        out.write("\nNotes:\n")
        for note in ctx.notes:
            out.write("  - " + note.rstrip() + "\n")
    out.write("\nload average at the end: %s\n" % " ".join("%.2f" % x for x in os.getloadavg()))
    misses = sum(1 for row in ctx.rows if row.result in (MISS, ERROR))
    out.write("\n%d of %d targets met%s\n" % (
        sum(1 for row in ctx.rows if row.result == PASS),
        sum(1 for row in ctx.rows if row.result in (PASS, MISS, ERROR)),
        "" if not misses else "; %d MISS/ERROR (measurements, not tests: exit status 0)"
        % misses))
    return 0


if __name__ == "__main__":
    sys.exit(main())
