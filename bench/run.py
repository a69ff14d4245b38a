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
  soak     100,000 requests (10,000 with --quick) at 600/s from 8 threads over
           kept-alive connections, one in three malformed (not JSON, truncated
           multipart, wrong Content-Type, oversize Content-Length without a body,
           a garbage request line, a short body then a half-close), while the
           stand-in Plex answers 500, hangs past -plex-timeout 1, serves
           malformed XML and answers 401 in turn; then media.play and
           media.pause with Plex saying paused. Rate, answers by status, alive
           and /healthz, the final state (/state and the last state line), VmRSS
           and Threads every 10 % (RSS spread after warm-up <= 1 MiB), against a
           bare interpreter's RSS
  slowloris  500 idle TCP connections held open, then 200 real webhooks one at
           a time: answer times (p50, p95, max < 1 s) and the daemon's threads,
           against the same webhooks without the idle connections; when the
           daemon cuts the idle ones; then the same with 500 connections that
           sent half a request line (context)
  sources  state change at the source -> ``Plex state changed`` line for a
           webhook POST, a ``playing`` event on Plex's notification stream
           (-plex-notifications; timed from the write of the event) and a
           Plexamp timeline change (-plexamp-url alone, long poll), against one
           fetch + parse from the same stand-in
  hooks    webhook POST (and the state line) -> an -on-change hook's first
           action (a /bin/sh script writing to a FIFO the bench reads), against
           the bench spawning the same hook with subprocess.Popen
  hostile  30 s (8 s with --quick; --hostile-seconds N) of the worst attacks
           at once against one daemon with default settings and
           -webhooks-allow 127.0.0.1/32 (600
           connections at once each sending 1 MiB to an unknown path or the
           webhook path, 8 MiB bodies of multipart boundaries, 32 requests
           without a version, 32 heads waiting for 100 Continue, 32 uploads at a
           trickle, ambiguous framing, POSTs from 248 refused source addresses)
           beside 10 real webhooks a second, each on a fresh connection with a
           5 s timeout; VmRSS, VmHWM and CPU sampled every 0.25 s. Peak RSS
           against a bare interpreter (< 64 MiB), CPU per second and per hostile
           request, the costliest hostile request alone on a quiet daemon
           against a real webhook's (< 100 ms), the real webhooks' p50/p99
           (< 1 s) and non-200 count (0), the last one's state applied, WARN
           lines, alive and /healthz after, attacker threads all stopped

The stand-ins come from tests/support/ (plexstub.py; sources.py for the
notification stream and Plexamp), the same ones the end-to-end tests use.
"""

import argparse
import collections
import http.client
import json
import os
import platform
import queue
import shutil
import socket
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

from bench import hostile, support  # noqa: E402
from bench.support import (FOREIGN_MACHINE_ID, MACHINE_ID, SESSIONS_XML, TOKEN,  # noqa: E402
                           median, percentile)

MEASUREMENTS = ("latency", "burst", "rss", "startup", "idle", "soak", "slowloris", "sources",
                "hooks", "hostile")

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
        self.tmpdir = os.path.dirname(token_file)
        self._cleanups = []

    def row(self, *fields):
        self.rows.append(Row(*fields))

    def note(self, text):
        self.notes.append(text)

    def add_cleanup(self, action):
        self._cleanups.append(action)

    def new_stub(self):
        stub = self.stub_class(TOKEN)
        stub.start()
        self._cleanups.append(stub.stop)
        stub.set_sessions(SESSIONS_XML)
        return stub

    def new_daemon(self, stub, wait_state=True, **kwargs):
        daemon = support.Daemon(stub.url if stub is not None else None, self.token_file,
                                level="info", **kwargs)
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


# -- 6. soak ----------------------------------------------------------------------

# What the soak sends: valid webhooks (two in three) in the shapes Plex and
# its imitators use, then malformed requests (one in three).
SOAK_VALID = (
    ("media.pause", "multipart", MACHINE_ID),
    ("media.play", "multipart+thumb", MACHINE_ID),
    ("library.new", "multipart", MACHINE_ID),        # acknowledged, dropped
    ("media.pause", "json", MACHINE_ID),
    ("media.resume", "form", MACHINE_ID),
    ("media.play", "multipart", FOREIGN_MACHINE_ID),  # a player we do not follow
    ("media.stop", "multipart", MACHINE_ID),
    ("", "empty", None),                             # a manual "look again"
    ("media.play", "multipart", MACHINE_ID),
    ("media.pause", "multipart+thumb", MACHINE_ID),
    ("media.play", "json", MACHINE_ID),
    ("media.resume", "multipart", MACHINE_ID),
)

# Plex faults, as fractions of the webhooks sent: (from, to, fault).
SOAK_FAULTS = ((0.15, 0.23, "500"), (0.35, 0.43, "hang"), (0.55, 0.63, "malformed"),
               (0.75, 0.83, "401"))
SOAK_FAULT_NAMES = {"500": "500 answers", "hang": "hang (no answer, > -plex-timeout 1)",
                    "malformed": "malformed XML", "401": "401 token rejected"}
SOAK_SENDERS = 8
SOAK_SAMPLES = 10

PAUSED_XML = SESSIONS_XML.replace(b' state="playing" ', b' state="paused" ')
assert PAUSED_XML != SESSIONS_XML


def soak_cycle():
    """The repeating list of ``(label, malformed, request bytes, half-close)``."""
    valid = []
    for i, (event, form, player) in enumerate(SOAK_VALID):
        content_type, body = support.webhook(event, form, player or MACHINE_ID, seed=i)
        label = "valid: %s %s%s" % (event or "(empty body)", form if event else "",
                                    " (player not followed)" if player == FOREIGN_MACHINE_ID
                                    else "")
        valid.append((label.rstrip(), False, support.raw_post(content_type, body), False))
    content_type, good = support.webhook("media.pause", "multipart", seed=99)
    json_payload = support.payload("media.pause")
    malformed = [
        ("not JSON", support.raw_post("application/json",
                                      b'{"event": "media.pause", "Player": {"uuid": '), False),
        # Cut inside the payload part, Content-Length true: no closing boundary.
        ("truncated multipart", support.raw_post(content_type, good[:len(good) * 2 // 3]),
         False),
        ("wrong content type", support.raw_post("text/plain", json_payload), False),
        ("oversize Content-Length, no body",
         support.raw_post("application/json", b"", length=64 * 1024 * 1024), False),
        ("garbage request line", b"\x16\x03\x01 \x00\xff\xfe garbage\r\n", False),
        ("short body, then half-close",
         support.raw_post("application/json", json_payload[:100], length=4000), True),
    ]
    cycle = []
    for j, bad in enumerate(malformed):
        cycle += [valid[2 * j], valid[2 * j + 1], (bad[0], True) + bad[1:]]
    return cycle


# The answers each kind of request may get; anything else is reported.
def soak_expected(label, status):
    if label.startswith("valid"):
        return status in (200, 503)  # 503: the trigger queue is full (DESIGN §5)
    if label == "oversize Content-Length, no body":
        return status == 413
    if label == "garbage request line":
        # http.server answers a request line it cannot parse as HTTP/0.9 would:
        # the body alone, no status line.
        return status in (400, support.NO_STATUS_LINE)
    return status == 400


def status_class(status):
    if isinstance(status, int):
        return "%dxx" % (status // 100)
    if status == support.NO_STATUS_LINE:
        return status
    return "connection errors"


def soak_flood(ctx, daemon, stub, floor, total, rate):
    """Send ``total`` requests from SOAK_SENDERS threads at ``rate`` a second.

    Returns a dict: answers by (label, status), the samples, the fault
    transitions, the span, and client totals.
    """
    import itertools
    cycle = soak_cycle()
    tickets = itertools.count()
    every = max(1, total // SOAK_SAMPLES)
    events = collections.defaultdict(list)
    for start, end, fault in SOAK_FAULTS:
        events[int(start * total)].append(("fault", fault))
        events[int(end * total)].append(("fault", None))
    for k in range(1, SOAK_SAMPLES):
        events[k * every].append(("sample", k * every))
    result = {"answers": collections.Counter(), "samples": [], "faults": [],
              "connections": 0, "late": 0}
    lock = threading.Lock()
    t0 = time.perf_counter() + 0.05

    def sample(label):
        result["samples"].append((label, support.rss_kib(daemon.pid),
                                  support.threads(daemon.pid), support.rss_kib(floor.pid),
                                  time.perf_counter() - t0))

    def on_ticket(i):
        for kind, value in events.get(i, ()):
            if kind == "fault":
                stub.set_fault(value)
                result["faults"].append((value, i, time.perf_counter() - t0, stub.count))
            else:
                sample(value)
                daemon.drain()  # the lines are not needed; keep the queue short

    def sender():
        client = support.RawClient(daemon.port)
        local = collections.Counter()
        late = 0
        sleep, now = time.sleep, time.perf_counter
        try:
            while True:
                i = next(tickets)
                if i >= total:
                    break
                wait = t0 + i / rate - now()
                if wait > 0:
                    sleep(wait)
                elif wait < -0.5:
                    late += 1
                if i in events:
                    on_ticket(i)
                label, _, data, half_close = cycle[i % len(cycle)]
                local[(label, client.send(data, half_close))] += 1
        finally:
            client.close()
            with lock:
                result["answers"].update(local)
                result["connections"] += client.connections
                result["late"] += late

    threads = [threading.Thread(target=sender, name="soak-%d" % n, daemon=True)
               for n in range(SOAK_SENDERS)]
    with support.ThreadSampler(daemon.pid, interval=0.05) as sampler:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        result["span"] = time.perf_counter() - t0
        stub.set_fault(None)
        sample("end of the flood")
    result["fine_threads"] = sampler.samples
    result["t0"] = t0
    return result


def get_json(port, path):
    status, body = support.http_get(port, path)
    try:
        return status, json.loads(body.decode("utf-8"))
    except ValueError:
        return status, None


def player_state(port, machine_id=MACHINE_ID):
    status, document = get_json(port, "/state")
    if status != 200 or not document:
        return None
    for player in document.get("players", []):
        if player.get("machine_id") == machine_id:
            return player.get("state")
    return None


def measure_soak(ctx):
    total, rate = ctx.args.soak_webhooks, ctx.args.soak_rate
    stub = ctx.new_stub()
    if not callable(getattr(stub, "set_fault", None)):
        raise RuntimeError("the stand-in Plex server has no set_fault()")
    daemon = ctx.new_daemon(stub, extra_args=["-plex-timeout", "1"])
    floor = ctx.new_floor()
    support.wait_stable(lambda: (stub.count, daemon.nlines), 0.5, 10)
    start_kib, start_threads = support.rss_kib(daemon.pid), support.threads(daemon.pid)
    floor_start_kib = support.rss_kib(floor.pid)
    cpu0 = support.cpu_ms(daemon.pid)
    fetches0 = stub.count
    flood = soak_flood(ctx, daemon, stub, floor, total, rate)
    cpu = support.cpu_ms(daemon.pid) - cpu0
    fetches = stub.count - fetches0
    # Let it settle, then the known ending: playing, then media.pause with Plex saying paused.
    support.wait_stable(lambda: (stub.count, daemon.nlines), 1.0, 30)
    alive_after_flood = daemon.popen.poll() is None
    final = {"play": None, "pause": None, "paused_line": False}
    if alive_after_flood:
        stub.set_sessions(SESSIONS_XML)
        content_type, body = support.webhook("media.play", "multipart", seed=7)
        final["play"] = support.post_once(daemon.port, content_type, body)
        support.wait_until(lambda: player_state(daemon.port) == "playing", 10, 0.02)
        support.wait_stable(lambda: (stub.count, daemon.nlines), 0.3, 10)
        stub.set_sessions(PAUSED_XML)
        daemon.drain()
        content_type, body = support.webhook("media.pause", "multipart", seed=8)
        final["pause"] = support.post_once(daemon.port, content_type, body)
        try:
            daemon.wait_state("paused", timeout=10)
            final["paused_line"] = True
        except (TimeoutError, support.ProcessDied):
            pass
        support.wait_stable(lambda: (stub.count, daemon.nlines), 1.0, 15)
    alive = daemon.popen.poll() is None
    health_status, health = get_json(daemon.port, "/healthz") if alive else (None, None)
    state = player_state(daemon.port) if alive else None
    last_line = daemon.last_state[1] if daemon.last_state else ""
    last_paused = " state=paused " in last_line + " " and MACHINE_ID in last_line
    if alive:
        # A worker that has just answered /state is still winding down: let it end.
        support.wait_stable(lambda: support.threads(daemon.pid), 0.3, 5)
        flood["samples"].append(("after the final webhooks, quiet",
                                 support.rss_kib(daemon.pid), support.threads(daemon.pid),
                                 support.rss_kib(floor.pid), None))
    levels = dict(daemon.levels)
    ctx.check_daemon(daemon, "soak")
    if alive:
        stop_daemon(ctx, daemon, "soak")
    floor.close()

    # -- figures
    answers = flood["answers"]
    by_class = {"valid": collections.Counter(), "malformed": collections.Counter()}
    unexpected = collections.Counter()
    per_label = collections.defaultdict(collections.Counter)
    for (label, status), count in answers.items():
        group = "valid" if label.startswith("valid") else "malformed"
        by_class[group][status_class(status)] += count
        per_label[label][status] += count
        if not soak_expected(label, status):
            unexpected[(label, status)] += count
    sent = sum(answers.values())
    achieved = sent / flood["span"]
    samples = flood["samples"]
    after = samples  # every sample is at or after the first 10 % (the warm-up)
    rss = [kib for _, kib, *_ in after]
    thr = [n for _, _, n, *_ in after]
    floor_rss = [kib for _, _, _, kib, _ in after]
    spread = max(rss) - min(rss)
    fine = flood["fine_threads"] or thr
    end_threads = samples[-1][2]

    def counts(counter):
        order = ("2xx", "4xx", "5xx", support.NO_STATUS_LINE, "connection errors")
        return ", ".join("%s %s" % (key, format(counter[key], ",")) for key in order
                         if counter.get(key))

    ctx.note("soak: %s requests from %d threads over kept-alive connections (reopened when the "
             "daemon closes them: %s connections in all), paced at %d/s: sent in %.1f s = "
             "%.0f/s; %d requests started more than 0.5 s late; one in three malformed "
             "(6 kinds), the valid ones in %d shapes" % (
                 format(sent, ","), SOAK_SENDERS, format(flood["connections"], ","), rate,
                 flood["span"], achieved, flood["late"], len(SOAK_VALID)))
    transitions = flood["faults"]
    for start, end, fault in SOAK_FAULTS:
        on = [t for t in transitions if t[0] == fault]
        off = [t for t in transitions if t[0] is None and t[1] == int(end * total)]
        if on and off:
            ctx.note("soak: Plex %s from webhook %s to %s, %.1f s .. %.1f s (%.1f s), %d "
                     "session requests" % (
                         SOAK_FAULT_NAMES[fault], format(on[0][1], ","), format(off[0][1], ","),
                         on[0][2], off[0][2], off[0][2] - on[0][2], off[0][3] - on[0][3]))
    ctx.note("soak: %d session requests in all (%.2f per valid webhook); daemon CPU %.2f ms per "
             "request; daemon log lines by level %s" % (
                 fetches, fetches / max(1, sum(by_class["valid"].values())), cpu / max(1, sent),
                 dict(sorted(levels.items()))))
    for label in sorted(per_label, key=lambda l: (not l.startswith("valid"), l)):
        ctx.note("soak answers, %s: %s" % (label, dict(sorted(per_label[label].items(),
                                                                key=str))))
    ctx.note("soak: RSS (daemon / bare interpreter) and threads at start %s / %s, %d; then %s" % (
        mib(start_kib), mib(floor_start_kib), start_threads, "; ".join(
            "%s: %s / %s, %d" % ("webhook %s" % format(label, ",") if isinstance(label, int)
                                 else label, mib(kib), mib(fkib), n)
            for label, kib, n, fkib, _ in samples)))
    ctx.note("soak: final webhooks: media.play answered %s, media.pause answered %s (the "
             "stand-in serving the session paused); state line for paused %s; /healthz %s %s; "
             "/state says %s; last state line: %s" % (
                 final["play"], final["pause"], "seen" if final["paused_line"] else "NOT seen",
                 health_status, json.dumps((health or {}).get("last_fetch")), state,
                 last_line[last_line.find("Plex state changed"):][:160] or "(none)"))
    if unexpected:
        ctx.note("soak: unexpected answers: %s" % "; ".join(
            "%s -> %s x%d" % (label, status, count)
            for (label, status), count in sorted(unexpected.items(), key=str)))

    ctx.row("soak: requests sent, rate", "%s in %.0f s = %.0f/s" % (
        format(sent, ","), flood["span"], achieved), "paced at %d/s" % rate, "",
        ">= 500/s", verdict(achieved >= 500 and sent == total))
    ctx.row("soak: answers to valid webhooks (2/3)", counts(by_class["valid"]), "", "",
            "(context)", INFO)
    ctx.row("soak: answers to malformed requests (1/3)", counts(by_class["malformed"]), "", "",
            "(context)", INFO)
    ctx.row("soak: answers not as DESIGN says (or connection errors)",
            format(sum(unexpected.values()), ","), "0", "", "== 0",
            verdict(not unexpected))
    ctx.row("soak: daemon alive, /healthz", "%s, %s" % ("alive" if alive else "DEAD",
                                                       health_status), "", "",
            "alive, 200", verdict(alive and health_status == 200))
    ctx.row("soak: final state (/state; last state line)", "%s; %s" % (
        state, "paused" if last_paused else "not paused"), "", "", "paused; paused",
        verdict(state == "paused" and last_paused))
    ctx.row("soak: RSS after warm-up: first / max / last", "%s / %s / %s" % (
        mib(rss[0]), mib(max(rss)), mib(rss[-1])), mib(floor_rss[0]), "", "(context)", INFO)
    ctx.row("soak: RSS spread after warm-up (max - min, %d samples)" % len(rss),
            "%.2f MiB" % (spread / 1024.0),
            "%.2f MiB" % ((max(floor_rss) - min(floor_rss)) / 1024.0), "", "<= 1 MiB",
            verdict(spread <= 1024))
    half = [kib for label, kib, *_ in samples if not isinstance(label, int)
            or label >= total // 2]
    ctx.row("soak: RSS growth over the second half (webhook %s -> end)" % format(
        total // 2, ","), "%+.2f MiB" % ((half[-1] - half[0]) / 1024.0),
        "%+.2f MiB" % ((floor_rss[-1] - floor_rss[len(floor_rss) - len(half)]) / 1024.0), "",
        "(context: a step or a leak)", INFO)
    ctx.row("soak: threads min / max (every 10%; every 50 ms)", "%d / %d; %d / %d" % (
        min(thr), max(thr), min(fine), max(fine)), "%d at start" % start_threads,
        "%+d" % (max(thr) - min(thr)),
        "max-min <= %d, end = start" % SOAK_SENDERS,
        verdict(max(thr) - min(thr) <= SOAK_SENDERS and end_threads == start_threads))


# -- 7. slowloris -------------------------------------------------------------------

SLOW_IDLE = 500
SLOW_WEBHOOKS = 200
READ_DEADLINE = 10.0  # the daemon's: a connection that sent nothing in time is closed
PARTIAL_HEAD = b"POST /webhooks/plex HTTP/1.1\r\n"


def answer_times(port, n):
    """``n`` real webhooks, one at a time, fresh connection each: answer times and statuses."""
    bodies = [support.webhook(event, "multipart", seed=i)
              for i, event in enumerate(("media.pause", "media.play"))]
    times, statuses = [], collections.Counter()
    for i in range(n):
        content_type, body = bodies[i % 2]
        t0 = time.perf_counter()
        try:
            status = support.post_once(port, content_type, body, timeout=15)
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
    import selectors
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


def measure_slowloris(ctx):
    n, idle = SLOW_WEBHOOKS, SLOW_IDLE
    before, after = support.raise_nofile(2 * idle + 256)
    if before != after:
        ctx.note("slowloris: raised this process's RLIMIT_NOFILE from %s to %s" % (before, after))
    stub = ctx.new_stub()
    daemon = ctx.new_daemon(stub)
    support.wait_stable(lambda: (stub.count, daemon.nlines), 0.5, 10)
    fixed = support.threads(daemon.pid)
    answer_times(daemon.port, 10)  # warm-up
    support.wait_stable(lambda: (stub.count, daemon.nlines), 0.3, 10)
    # The floor: the same webhooks without the idle connections.
    floor_times, floor_statuses = answer_times(daemon.port, n)
    support.wait_stable(lambda: (stub.count, daemon.nlines), 0.3, 10)

    # 1. Idle connections that send nothing.
    base_sockets = support.open_fds(daemon.pid)[1]
    opened, failures = open_many(daemon.port, idle)
    t_open = time.monotonic()
    support.wait_until(lambda: support.open_fds(daemon.pid)[1] >= base_sockets + len(opened), 3)
    fds = support.open_fds(daemon.pid)
    accepted_after = time.monotonic() - t_open
    with support.ThreadSampler(daemon.pid, interval=0.005) as sampler:
        times, statuses = answer_times(daemon.port, n)
    elapsed = time.monotonic() - t_open
    during = connection_states(opened)
    fds_after = support.open_fds(daemon.pid)
    threads_max = max(sampler.samples)
    # How long the daemon lets them idle.
    ages = wait_closed(opened, READ_DEADLINE + 5.0)
    close_all(opened)
    support.wait_stable(lambda: (stub.count, daemon.nlines), 0.3, 10)

    warns_idle = daemon.levels["WARN"]
    # 2. The same number of connections that sent half a request line.
    partial, partial_failures = open_many(daemon.port, idle, PARTIAL_HEAD)
    t_partial = time.monotonic()
    with support.ThreadSampler(daemon.pid, interval=0.005) as partial_sampler:
        partial_times, partial_statuses = answer_times(daemon.port, n)
    partial_elapsed = time.monotonic() - t_partial
    partial_states = connection_states(partial)
    close_all(partial)
    support.wait_until(lambda: support.threads(daemon.pid) <= fixed, 5)
    support.wait_stable(lambda: daemon.nlines, 0.3, 5)
    warns_partial = daemon.levels["WARN"] - warns_idle
    limit = support.nofile_limit(daemon.pid)
    ctx.check_daemon(daemon, "slowloris")
    stop_daemon(ctx, daemon, "slowloris")

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

    for label, pick in (("p50", median), ("p95", lambda v: percentile(v, 95))):
        d, f = pick(times), pick(floor_times)
        ctx.row("slowloris: webhook answered, %d idle connections, %s (n=%d)" % (
            len(opened), label, n), ms(d), ms(f), "%+.2f ms" % ((d - f) * 1000), "(context)",
            INFO)
    ok = statuses.get(200, 0) == n
    ctx.row("slowloris: slowest webhook answer (max of %d)" % n, ms(max(times)),
            ms(max(floor_times)), "%+.2f ms" % ((max(times) - max(floor_times)) * 1000),
            "< 1 s, all 200", verdict(max(times) < 1.0 and ok))
    ctx.row("slowloris: daemon threads during the attack (max)", str(threads_max),
            "%d at rest" % fixed, "%+d" % (threads_max - fixed), "<= 32 + %d" % fixed,
            verdict(threads_max <= 32 + fixed))
    ctx.row("slowloris: idle connections open during the measurement",
            "%d of %d" % (during.get("open", 0), len(opened)), "", "", "(context)", INFO)
    ok_partial = partial_statuses.get(200, 0)
    ctx.row("  same, %d connections that sent half a request line: webhooks answered 200"
            % len(partial), "%d of %d" % (ok_partial, n), "%d of %d" % (
                floor_statuses.get(200, 0), n), "", "(context)", INFO)


# -- 8. sources ---------------------------------------------------------------------


def floor_plexamp(opener, url):
    """The floor beside the Plexamp row: one timeline GET (not held) and its parse."""
    with opener.open(url + "/player/timeline/poll?type=music&commandID=1", timeout=5) as answer:
        data = answer.read()
    root = ElementTree.fromstring(data)
    if not any(t.get("type") == "music" for t in root.iter("Timeline")):
        raise AssertionError("the Plexamp stand-in served no music timeline")


def timed_notifications(daemon, stub, play_notification, n, warm, floor):
    """Alternate paused/playing notifications: event written -> state line, and the floor."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    url = stub.url + "/status/sessions"
    lat, floors, misses = [], [], 0
    state = "playing"
    for i in range(warm + n):
        target = "paused" if state == "playing" else "playing"
        daemon.drain()
        while not stub.writes.empty():
            stub.writes.get_nowait()
        stub.notify(play_notification(MACHINE_ID, target, view_offset=30496 + i))
        try:
            t1, _ = daemon.wait_state(target, timeout=5)
            t0, _ = stub.writes.get(timeout=5)
        except (TimeoutError, queue.Empty):
            misses += 1
            continue
        finally:
            state = target
        t2 = time.perf_counter()
        floor(opener, url)
        t3 = time.perf_counter()
        if i >= warm:
            lat.append(t1 - t0)
            floors.append(t3 - t2)
    return lat, floors, misses


def timed_plexamp(daemon, amp, n, warm):
    """Alternate playing/paused timelines: the change -> state line, and the floor."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    lat, floors, misses = [], [], 0
    state = "stopped"
    for i in range(warm + n):
        target = "playing" if state != "playing" else "paused"
        daemon.drain()
        t0 = time.perf_counter()
        amp.set_timeline(target, 30496 + i, 259560, "6260", "Once in a Lifetime",
                         "Talking Heads", "Once in a Lifetime: The Best Of")
        try:
            t1, _ = daemon.wait_state(target, timeout=5)
        except TimeoutError:
            misses += 1
            continue
        finally:
            state = target
        t2 = time.perf_counter()
        floor_plexamp(opener, amp.url)
        t3 = time.perf_counter()
        if i >= warm:
            lat.append(t1 - t0)
            floors.append(t3 - t2)
    return lat, floors, misses


def measure_sources(ctx):
    n, warm = ctx.args.source_changes, 10
    try:
        notifying_class, plexamp_class, module = support.load_source_stubs()
    except ImportError as err:
        ctx.row("sources", "skipped", "", "", "needs tests/support/sources.py", INFO)
        ctx.note("sources: skipped: the notification-stream and Plexamp stand-ins could not "
                 "be imported (%s)" % err)
        return
    results = []
    # 1. Webhooks, as the latency measurement sends them.
    stub = ctx.new_stub()
    daemon = ctx.new_daemon(stub)
    times, statuses, misses, _ = timed_webhooks(daemon, stub, "multipart", n, warm, "playing")
    results.append(("webhook POST", "webhook POST -> state line", times["lat"],
                    times["floor"], misses, "answers %s" % dict(statuses)))
    ctx.check_daemon(daemon, "sources (webhook)")
    stop_daemon(ctx, daemon, "sources (webhook)")

    # 2. Plex's notification stream, no webhooks.
    stub = notifying_class(TOKEN, sessions=SESSIONS_XML)
    stub.start()
    ctx._cleanups.append(stub.stop)
    daemon = ctx.new_daemon(stub, extra_args=["-plex-notifications"])
    if not stub.wait_for_streams(1, 10):
        raise RuntimeError("the daemon did not open the notification stream")
    support.wait_stable(lambda: (stub.count, daemon.nlines), 0.5, 10)
    lat, floors, misses = timed_notifications(daemon, stub, module.play_notification, n, warm,
                                              floor_fetch)
    results.append(("notifications", "notification written -> state line", lat, floors,
                    misses, "%d stream(s) opened, %d session requests (the daemon's and "
                    "the floor's)" % (stub.stream_count, stub.count)))
    ctx.check_daemon(daemon, "sources (notifications)")
    stop_daemon(ctx, daemon, "sources (notifications)")

    # 3. Plexamp's timeline long poll, and no Plex server at all.
    amp = plexamp_class(hold=1.0)
    amp.start()
    ctx._cleanups.append(amp.stop)
    daemon = ctx.new_daemon(None, wait_state=False, machine_id=None,
                            watch_id=module.PLEXAMP_MACHINE_ID,
                            extra_args=["-plexamp-url", amp.url])
    daemon.wait_line(lambda line: "Plexamp connected" in line, 10)
    if not amp.wait_for_polls(2, 10):
        raise RuntimeError("the daemon does not poll the Plexamp stand-in")
    polls0 = amp.polls
    lat, floors, misses = timed_plexamp(daemon, amp, n, warm)
    results.append(("Plexamp poll", "timeline change -> state line", lat, floors, misses,
                    "%d polls by the daemon during the changes (the stand-in holds each up to "
                    "1 s)" % (amp.polls - polls0 - (warm + n - misses))))
    ctx.check_daemon(daemon, "sources (Plexamp)")
    stop_daemon(ctx, daemon, "sources (Plexamp)")

    webhook_median = median(results[0][2])
    for name, label, lat, floors, misses, extra in results:
        ctx.note("sources, %s: %d changes timed after %d warm-up, %d with no state line within "
                 "5 s; min %s max %s; floor min %s; %s%s" % (
                     name, len(lat), warm, misses, ms(min(lat)), ms(max(lat)), ms(min(floors)),
                     extra, "" if name == "webhook POST" else "; median %+.2f ms against the "
                     "webhook row" % ((median(lat) - webhook_median) * 1000)))
    ctx.note("sources: the floor beside the webhook and notification rows is one urllib GET of "
             "/status/sessions + ElementTree parse from the same stand-in; beside the Plexamp "
             "row, one GET of /player/timeline/poll (not held) + parse from the Plexamp "
             "stand-in. The Plexamp row has no Plex server: the timeline alone decides")
    for name, label, lat, floors, misses, extra in results:
        for stat, pick in (("median", median), ("p95", lambda v: percentile(v, 95))):
            d, f = pick(lat), pick(floors)
            first = stat == "median"
            ctx.row(("sources: %s, %s (n=%d)" % (label, stat, len(lat))) if first else
                    "  p95", ms(d), ms(f), "%+.2f ms" % ((d - f) * 1000),
                    "(context)" if name == "webhook POST" else
                    "(context; webhook %s)" % ms(pick(results[0][2])), INFO)


# -- 9. hooks -----------------------------------------------------------------------


class FifoLines:
    """Reads lines from a FIFO on a thread, stamping each with ``perf_counter()``.

    The FIFO is opened read-write, so that it never reports end-of-file
    between writers.
    """

    def __init__(self, path):
        self.path = path
        self.fd = os.open(path, os.O_RDWR)
        self.lines = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="bench-fifo", daemon=True)
        self._thread.start()

    def _run(self):
        pending = b""
        while True:
            data = os.read(self.fd, 4096)
            t = time.perf_counter()
            if not data:
                return
            pending += data
            while b"\n" in pending:
                line, pending = pending.split(b"\n", 1)
                if line == b"quit":
                    return
                self.lines.put((t, line.decode("ascii", "replace")))

    def get(self, timeout):
        return self.lines.get(timeout=timeout)

    def drain(self):
        while not self.lines.empty():
            self.lines.get_nowait()

    def close(self):
        os.write(self.fd, b"quit\n")
        self._thread.join(2)
        os.close(self.fd)


def process_gone(pid):
    return not os.path.exists("/proc/%d" % pid)


def spawn_like_the_daemon(argv, env):
    """The floor: start the hook as the daemon's runner does (pipes, own session)."""
    return subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, env=env, start_new_session=True,
                            close_fds=True)


def measure_hooks(ctx):
    n, warm = ctx.args.hook_changes, 5
    fifo = os.path.join(ctx.tmpdir, "hook.fifo")
    os.mkfifo(fifo, 0o600)
    hook = os.path.join(ctx.tmpdir, "on-change")
    with open(hook, "w") as handle:
        handle.write('#!/bin/sh\necho "$$ $SB_EVENT" > %s\n' % fifo)
    os.chmod(hook, 0o700)
    reader = FifoLines(fifo)
    ctx._cleanups.append(reader.close)
    stub = ctx.new_stub()
    daemon = ctx.new_daemon(stub, wait_state=False, extra_args=["-on-change", hook])
    daemon.wait_state("playing", timeout=10)
    first = reader.get(10)  # the hook for the start-up change
    support.wait_until(lambda: process_gone(int(first[1].split()[0])), 5, 0.001)
    support.wait_stable(lambda: (stub.count, daemon.nlines), 0.3, 10)
    reader.drain()
    floor_env = dict(support.clean_env(), SB_EVENT="pause", SB_STATE="paused")
    total, spawn, floors, to_line, misses, wrong = [], [], [], [], 0, 0
    state = "playing"
    for i in range(warm + n):
        event, expected = next_toggle(state)
        content_type, body = support.webhook(event, "multipart", seed=i)
        daemon.drain()
        t0 = time.perf_counter()
        support.post_once(daemon.port, content_type, body)
        try:
            t1, _ = daemon.wait_state(expected, timeout=5)
            t2, line = reader.get(5)
        except (TimeoutError, queue.Empty):
            misses += 1
            state = expected
            reader.drain()
            continue
        state = expected
        pid, _, hook_event = line.partition(" ")
        if hook_event != {"paused": "pause", "playing": "play"}[expected]:
            wrong += 1
        # The daemon's runner runs one hook at a time: wait until it reaped this one.
        support.wait_until(lambda: process_gone(int(pid)), 5, 0.0005)
        # The floor, interleaved: the bench spawns the same hook the same way.
        t3 = time.perf_counter()
        process = spawn_like_the_daemon([hook], floor_env)
        t4, _ = reader.get(5)
        process.stdout.read()
        process.stdout.close()
        process.wait()
        if i >= warm:
            total.append(t2 - t0)
            spawn.append(t2 - t1)
            to_line.append(t1 - t0)
            floors.append(t4 - t3)
    ctx.check_daemon(daemon, "hooks")
    stop_daemon(ctx, daemon, "hooks")

    ctx.note("hooks: %d changes timed after %d warm-up (alternating media.pause/media.play, "
             "-on-change a /bin/sh script that writes \"$$ $SB_EVENT\" to a FIFO the bench "
             "reads on a thread); %d with no state line or hook line within 5 s, %d with the "
             "wrong SB_EVENT; webhook -> hook min %s max %s; floor (Popen with the runner's "
             "arguments: pipes, new session, close_fds) min %s max %s; webhook -> state line "
             "median %s in this run (the rest is the hook runner)" % (
                 len(total), warm, misses, wrong, ms(min(total)), ms(max(total)),
                 ms(min(floors)), ms(max(floors)), ms(median(to_line))))
    for label, values in (("webhook POST -> hook started", total),
                          ("state line -> hook started", spawn)):
        for stat, pick in (("median", median), ("p95", lambda v: percentile(v, 95))):
            d, f = pick(values), pick(floors)
            ctx.row("hooks: %s, median (n=%d)" % (label, len(values)) if stat == "median"
                    else "  p95", ms(d), ms(f), "%+.2f ms" % ((d - f) * 1000), "(context)",
                    INFO)


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
    parser.add_argument("--hostile-seconds", type=float, default=None,
                        help="length of the hostile window (default 30, 8 with --quick)")
    parser.add_argument("--bytecode", choices=("cache", "inherit"), default="cache",
                        help="cache: every subprocess keeps .pyc files in a temporary "
                        "PYTHONPYCACHEPREFIX, warmed before measuring (default); inherit: "
                        "leave PYTHONDONTWRITEBYTECODE and friends as the environment has them")
    parser.add_argument("--soak-webhooks", type=int, default=None,
                        help="requests the soak sends (default 100,000, 10,000 with --quick)")
    parser.add_argument("--soak-rate", type=float, default=600.0,
                        help="requests per second the soak paces itself at (default 600)")
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
    if args.hostile_seconds is None:
        args.hostile_seconds = 8.0 if args.quick else 30.0
    if not 1 <= args.hostile_seconds <= 3600:
        parser.error("--hostile-seconds: from 1 to 3600")
    args.webhooks = 50 if args.quick else 300
    args.keepalive_requests = 10 if args.quick else 30
    args.bursts = 1 if args.quick else 3
    args.rss_counts = (400, 2000) if args.quick else (2000, 10000)
    args.startup_runs = 3 if args.quick else 10
    if args.soak_webhooks is None:
        args.soak_webhooks = 10000 if args.quick else 100000
    if args.soak_webhooks < 100 or args.soak_rate <= 0:
        parser.error("--soak-webhooks: at least 100; --soak-rate: more than 0")
    args.source_changes = 50 if args.quick else 100
    args.hook_changes = 50 if args.quick else 150
    return args


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if not sys.platform.startswith("linux") or not os.path.isdir("/proc/self/task"):
        print("bench: needs Linux /proc (VmRSS, context switches)", file=sys.stderr)
        return 1
    out = sys.stdout
    stub_class, stub_origin = support.load_stub_class()
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
                "startup": measure_startup, "idle": measure_idle, "soak": measure_soak,
                "slowloris": measure_slowloris, "sources": measure_sources,
                "hooks": measure_hooks,
                "hostile": lambda ctx: hostile.measure_hostile(ctx, stop_daemon, verdict, ms,
                                                               INFO)}
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
