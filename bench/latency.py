"""The ``latency`` measurement: webhook POST -> the daemon's ``Plex state changed`` line.

Alternating media.pause/media.play webhooks, one at a time on a fresh
connection each, as multipart (PMS's shape) and as application/json; the
moment the state line arrives on stderr is compared with the floor, an
in-process urllib GET of /status/sessions + ElementTree parse from the same
stand-in Plex, interleaved with the webhooks. Context rows: the answer time
on a fresh and on a kept-alive connection against a bare stdlib HTTP server.
"""

import collections
import time
import urllib.request
import xml.etree.ElementTree as ElementTree

from bench import clients, proc
from bench.context import next_toggle
from bench.figures import median, ms, p95
from bench.harness import MACHINE_ID, TOKEN
from bench.registry import register
from bench.targets import Target

MEDIAN = Target("<=", 2, "ms", on="delta", form="overhead {op} {limit}")
P95 = Target("<=", 5, "ms", on="delta", form="overhead {op} {limit}")
WARM = 10


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
        content_type, body = clients.webhook(event, form, seed=i)
        daemon.drain()
        t0 = time.perf_counter()
        status = clients.post_once(daemon.port, content_type, body)
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


def fresh_round_trip(port):
    content_type, body = clients.webhook("library.new", "multipart")
    t0 = time.perf_counter()
    status = clients.post_once(port, content_type, body)
    if status != 200:
        raise AssertionError("answer %s" % status)
    return time.perf_counter() - t0


def keep_alive_round_trips(port, count):
    """Round trips of ``count`` webhooks on one kept-alive connection (the first not counted).

    ``library.new`` is acknowledged and dropped, so this times the HTTP path alone.
    """
    content_type, body = clients.webhook("library.new", "multipart")
    client = clients.KeepAliveClient(port)
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


@register("latency")
def measure_latency(ctx):
    n = ctx.args.webhooks
    warm = WARM
    stub = ctx.new_stub()
    daemon = ctx.new_daemon(stub)
    cpu0 = proc.cpu_ms(daemon.pid)
    times, statuses, misses, state = timed_webhooks(daemon, stub, "multipart", n, warm,
                                                    "playing")
    cpu = proc.cpu_ms(daemon.pid) - cpu0
    json_times, json_statuses, json_misses, state = timed_webhooks(
        daemon, stub, "json", n, warm, state)
    keep_alive = keep_alive_round_trips(daemon.port, ctx.args.keepalive_requests)
    ctx.check_daemon(daemon, "latency")
    ctx.stop_daemon(daemon, "latency")
    floor_server = ctx.new_floor_server()
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
    for label, pick, target in (("median", median, MEDIAN), ("p95", p95, P95)):
        ctx.compare("webhook -> state line, %s (n=%d)" % (label, len(lat)),
                    pick(lat) * 1000, pick(floor) * 1000, "ms", target=target)
    ctx.compare("  same, application/json body, median", median(json_times["lat"]) * 1000,
                median(json_times["floor"]) * 1000, "ms")
    ctx.compare("webhook answered, fresh connection, median", median(times["answered"]) * 1000,
                median(floor_fresh) * 1000, "ms")
    ctx.compare("webhook answered, kept-alive connection, median", median(keep_alive) * 1000,
                median(floor_keep_alive) * 1000, "ms")
