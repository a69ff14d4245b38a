"""The ``sources`` measurement: a change at each trigger source -> ``Plex state changed``.

Three sources, one daemon each: a webhook POST; a ``playing`` event on
Plex's notification stream (-plex-notifications, no webhooks; timed from
the moment the stand-in writes the event to the socket); and a Plexamp
timeline change (-plexamp-url alone, long poll, no Plex server). Each is
compared with the floor, one fetch + parse from the same stand-in (a GET
of /status/sessions, or of /player/timeline/poll not held, for Plexamp).
"""

import queue
import time
import urllib.request
import xml.etree.ElementTree as ElementTree

from bench.figures import median, ms, p95
from bench.harness import MACHINE_ID, SESSIONS_XML, TOKEN, wait_stable
from bench.latency import WARM, floor_fetch, timed_webhooks
from bench.registry import register
from bench.targets import CONTEXT, Info


class _StampedWriter:
    """Wraps a handler's ``wfile``: stamps every write of a ``playing`` event."""

    def __init__(self, raw, stamps):
        self._raw = raw
        self._stamps = stamps

    def write(self, data):
        if b"event: playing" in data:
            self._stamps.put((time.perf_counter(), bytes(data)))
        return self._raw.write(data)

    def __getattr__(self, name):
        return getattr(self._raw, name)


def load_source_stubs():
    """``(TimedNotifyingStub class, the module)`` from tests/support/sources.py.

    The notification stand-in is the tests' one with its stream's ``wfile``
    wrapped, so that the moment each ``playing`` event is written to the
    socket lands in its ``writes`` queue. Raises ImportError when the tests'
    stand-ins are not there.
    """
    from tests.support import sources as module

    class TimedNotifyingStub(module.NotifyingPlexStub):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.writes = queue.Queue()

        def _stream(self, handler):
            handler.wfile = _StampedWriter(handler.wfile, self.writes)
            return super()._stream(handler)

    return TimedNotifyingStub, module



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


@register("sources")
def measure_sources(ctx):
    n, warm = ctx.args.source_changes, WARM
    try:
        notifying_class, module = load_source_stubs()
    except ImportError as err:
        ctx.row("sources", "skipped", "", "", Info("needs tests/support/sources.py"))
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
    ctx.stop_daemon(daemon, "sources (webhook)")

    # 2. Plex's notification stream, no webhooks.
    stub = notifying_class(TOKEN, sessions=SESSIONS_XML)
    stub.start()
    ctx.add_cleanup(stub.stop)
    daemon = ctx.new_daemon(stub, extra_args=["-plex-notifications"])
    if not stub.wait_for_streams(1, 10):
        raise RuntimeError("the daemon did not open the notification stream")
    wait_stable(lambda: (stub.count, daemon.nlines), 0.5, 10)
    lat, floors, misses = timed_notifications(daemon, stub, module.play_notification, n, warm,
                                              floor_fetch)
    results.append(("notifications", "notification written -> state line", lat, floors,
                    misses, "%d stream(s) opened, %d session requests (the daemon's and "
                    "the floor's)" % (stub.stream_count, stub.count)))
    ctx.check_daemon(daemon, "sources (notifications)")
    ctx.stop_daemon(daemon, "sources (notifications)")

    # 3. Plexamp's timeline long poll, and no Plex server at all.
    amp = module.start_plexamp(ctx, hold=1.0)
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
    ctx.stop_daemon(daemon, "sources (Plexamp)")

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
        for stat, pick in (("median", median), ("p95", p95)):
            first = stat == "median"
            target = CONTEXT if name == "webhook POST" else Info(
                "(context; webhook %s)" % ms(pick(results[0][2])))
            ctx.compare(("sources: %s, %s (n=%d)" % (label, stat, len(lat))) if first else
                        "  p95", pick(lat) * 1000, pick(floors) * 1000, "ms", target=target)
