"""The ``soak`` measurement: 100,000 requests (10,000 with --quick) while Plex misbehaves.

Eight threads send at 600/s over kept-alive connections, one request in
three malformed (not JSON, truncated multipart, wrong Content-Type, an
oversize Content-Length without a body, a garbage request line, a short
body then a half-close), while the stand-in Plex answers 500, hangs past
-plex-timeout 1, serves malformed XML and answers 401 in turn; then
media.play and media.pause with Plex saying paused. Reports the rate, the
answers by status (as DESIGN says), alive and /healthz, the final state
(/state and the last state line), VmRSS and Threads every 10 %, against a
bare interpreter's RSS sampled at the same moments (the floor).
"""

import collections
import itertools
import json
import threading
import time

from bench import clients, proc
from bench.figures import mib
from bench.harness import (FOREIGN_MACHINE_ID, MACHINE_ID, SESSIONS_XML, ProcessDied, wait_for,
                           wait_stable)
from bench.registry import register
from bench.targets import CONTEXT, Info, Target

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

RATE = Target(">=", 500, "/s")
AS_DESIGNED = Target("==", 0)
ALIVE = Target(also=("alive", "200"))
PAUSED = Target(also=("paused", "paused"), sep="; ")
SPREAD = Target("<=", 1, "MiB")
THREADS = Target("<=", SOAK_SENDERS, on="delta", form="max-min {op} {limit}",
                 also=("end = start",))

PAUSED_XML = SESSIONS_XML.replace(b' state="playing" ', b' state="paused" ')
assert PAUSED_XML != SESSIONS_XML


def soak_cycle():
    """The repeating list of ``(label, malformed, request bytes, half-close)``."""
    valid = []
    for i, (event, form, player) in enumerate(SOAK_VALID):
        content_type, body = clients.webhook(event, form, player or MACHINE_ID, seed=i)
        label = "valid: %s %s%s" % (event or "(empty body)", form if event else "",
                                    " (player not followed)" if player == FOREIGN_MACHINE_ID
                                    else "")
        valid.append((label.rstrip(), False, clients.raw_post(content_type, body), False))
    content_type, good = clients.webhook("media.pause", "multipart", seed=99)
    json_payload = clients.payload("media.pause")
    malformed = [
        ("not JSON", clients.raw_post("application/json",
                                      b'{"event": "media.pause", "Player": {"uuid": '), False),
        # Cut inside the payload part, Content-Length true: no closing boundary.
        ("truncated multipart", clients.raw_post(content_type, good[:len(good) * 2 // 3]),
         False),
        ("wrong content type", clients.raw_post("text/plain", json_payload), False),
        ("oversize Content-Length, no body",
         clients.raw_post("application/json", b"", length=64 * 1024 * 1024), False),
        ("garbage request line", b"\x16\x03\x01 \x00\xff\xfe garbage\r\n", False),
        ("short body, then half-close",
         clients.raw_post("application/json", json_payload[:100], length=4000), True),
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
        return status in (400, clients.NO_STATUS_LINE)
    return status == 400


def status_class(status):
    if isinstance(status, int):
        return "%dxx" % (status // 100)
    if status == clients.NO_STATUS_LINE:
        return status
    return "connection errors"


def soak_flood(ctx, daemon, stub, floor, total, rate):
    """Send ``total`` requests from SOAK_SENDERS threads at ``rate`` a second.

    Returns a dict: answers by (label, status), the samples, the fault
    transitions, the span, and client totals.
    """
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
        result["samples"].append((label, proc.rss_kib(daemon.pid),
                                  proc.threads(daemon.pid), proc.rss_kib(floor.pid),
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
        client = clients.RawClient(daemon.port)
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
    with proc.ThreadSampler(daemon.pid, interval=0.05) as sampler:
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


def player_state(port, machine_id=MACHINE_ID):
    status, document = clients.get_json(port, "/state")
    if status != 200 or not document:
        return None
    for player in document.get("players", []):
        if player.get("machine_id") == machine_id:
            return player.get("state")
    return None


@register("soak")
def measure_soak(ctx):
    total, rate = ctx.args.soak_webhooks, ctx.args.soak_rate
    stub = ctx.new_stub()
    if not callable(getattr(stub, "set_fault", None)):
        raise RuntimeError("the stand-in Plex server has no set_fault()")
    daemon = ctx.new_daemon(stub, extra_args=["-plex-timeout", "1"])
    floor = ctx.new_floor()
    wait_stable(lambda: (stub.count, daemon.nlines), 0.5, 10)
    start_kib, start_threads = proc.rss_kib(daemon.pid), proc.threads(daemon.pid)
    floor_start_kib = proc.rss_kib(floor.pid)
    cpu0 = proc.cpu_ms(daemon.pid)
    fetches0 = stub.count
    flood = soak_flood(ctx, daemon, stub, floor, total, rate)
    cpu = proc.cpu_ms(daemon.pid) - cpu0
    fetches = stub.count - fetches0
    # Let it settle, then the known ending: playing, then media.pause with Plex saying paused.
    wait_stable(lambda: (stub.count, daemon.nlines), 1.0, 30)
    alive_after_flood = daemon.running()
    final = {"play": None, "pause": None, "paused_line": False}
    if alive_after_flood:
        stub.set_sessions(SESSIONS_XML)
        content_type, body = clients.webhook("media.play", "multipart", seed=7)
        final["play"] = clients.post_once(daemon.port, content_type, body)
        wait_for(lambda: player_state(daemon.port) == "playing", 10, 0.02)
        wait_stable(lambda: (stub.count, daemon.nlines), 0.3, 10)
        stub.set_sessions(PAUSED_XML)
        daemon.drain()
        content_type, body = clients.webhook("media.pause", "multipart", seed=8)
        final["pause"] = clients.post_once(daemon.port, content_type, body)
        try:
            daemon.wait_state("paused", timeout=10)
            final["paused_line"] = True
        except (TimeoutError, ProcessDied):
            pass
        wait_stable(lambda: (stub.count, daemon.nlines), 1.0, 15)
    alive = daemon.running()
    health_status, health = clients.get_json(daemon.port, "/healthz") if alive else (None, None)
    state = player_state(daemon.port) if alive else None
    last_line = daemon.last_state[1] if daemon.last_state else ""
    last_paused = " state=paused " in last_line + " " and MACHINE_ID in last_line
    if alive:
        # A worker that has just answered /state is still winding down: let it end.
        wait_stable(lambda: proc.threads(daemon.pid), 0.3, 5)
        flood["samples"].append(("after the final webhooks, quiet",
                                 proc.rss_kib(daemon.pid), proc.threads(daemon.pid),
                                 proc.rss_kib(floor.pid), None))
    levels = dict(daemon.levels)
    ctx.check_daemon(daemon, "soak")
    if alive:
        ctx.stop_daemon(daemon, "soak")
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
        order = ("2xx", "4xx", "5xx", clients.NO_STATUS_LINE, "connection errors")
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
        format(sent, ","), flood["span"], achieved), "paced at %d/s" % rate, "", RATE,
        value=achieved, floor_value=rate, unit="/s", valid=sent == total)
    ctx.row("soak: answers to valid webhooks (2/3)", counts(by_class["valid"]), "", "",
            CONTEXT, value=sum(by_class["valid"].values()))
    ctx.row("soak: answers to malformed requests (1/3)", counts(by_class["malformed"]), "", "",
            CONTEXT, value=sum(by_class["malformed"].values()))
    ctx.row("soak: answers not as DESIGN says (or connection errors)",
            format(sum(unexpected.values()), ","), "0", "", AS_DESIGNED,
            value=sum(unexpected.values()), floor_value=0)
    ctx.row("soak: daemon alive, /healthz", "%s, %s" % ("alive" if alive else "DEAD",
                                                       health_status), "", "",
            ALIVE, conditions=[alive, health_status == 200])
    ctx.row("soak: final state (/state; last state line)", "%s; %s" % (
        state, "paused" if last_paused else "not paused"), "", "", PAUSED,
        conditions=[state == "paused", last_paused])
    ctx.row("soak: RSS after warm-up: first / max / last", "%s / %s / %s" % (
        mib(rss[0]), mib(max(rss)), mib(rss[-1])), mib(floor_rss[0]), "", CONTEXT,
        value=max(rss) / 1024.0, floor_value=floor_rss[0] / 1024.0, unit="MiB")
    floor_spread = (max(floor_rss) - min(floor_rss)) / 1024.0
    ctx.row("soak: RSS spread after warm-up (max - min, %d samples)" % len(rss),
            "%.2f MiB" % (spread / 1024.0), "%.2f MiB" % floor_spread, "", SPREAD,
            value=spread / 1024.0, floor_value=floor_spread, unit="MiB")
    half = [kib for label, kib, *_ in samples if not isinstance(label, int)
            or label >= total // 2]
    growth = (half[-1] - half[0]) / 1024.0
    floor_growth = (floor_rss[-1] - floor_rss[len(floor_rss) - len(half)]) / 1024.0
    ctx.row("soak: RSS growth over the second half (webhook %s -> end)" % format(
        total // 2, ","), "%+.2f MiB" % growth, "%+.2f MiB" % floor_growth, "",
        Info("(context: a step or a leak)"), value=growth, floor_value=floor_growth, unit="MiB")
    ctx.row("soak: threads min / max (every 10%; every 50 ms)", "%d / %d; %d / %d" % (
        min(thr), max(thr), min(fine), max(fine)), "%d at start" % start_threads,
        "%+d" % (max(thr) - min(thr)), THREADS, value=max(thr), floor_value=start_threads,
        delta=max(thr) - min(thr), conditions=[end_threads == start_threads])
