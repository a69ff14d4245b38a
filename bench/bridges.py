"""The ``bridges`` measurement: other sources' bridges, the handover to Spotify, and quiet.

- bridge start: ``python -m streamerbrainz librespot-event`` spawned with
  librespot's variables (alternating ``playing``/``paused``), from the
  spawn to the daemon's ``Spotify state changed`` line and to the bridge's
  exit, against the floor: a bare ``python3 -c pass`` spawned and reaped
  the same way, interleaved; then the bridge with the daemon down.
- handover: the stand-in Plexamp plays, Spotify starts (``POST
  /sources/spotify`` with ``PLAYER_EVENT=playing``, what the bridge sends):
  from the POST to the ``pause`` the stand-in Plexamp receives, without
  CamillaDSP and with it (the soft pause fades out first over
  ``-camilladsp-fade-out-ms``).
- quiet: wake-ups over an idle window with every source configured (Plex,
  CamillaDSP, the bridges' route, the soft transport and the handover for a
  -local-player Plexamp), per thread; then the same with the Plexamp at
  -plexamp-url, whose timeline long poll Plexamp answers about every second.
"""

import json
import subprocess
import sys
import threading
import time

from bench import clients, proc
from bench.figures import median, ms, p95
from bench.harness import MACHINE_ID, REPO_ROOT, clean_env, wait_stable
from bench.registry import register
from bench.targets import CONTEXT, Target
from tests.support.camilladsp import StandInCamillaDSP
from tests.support.sources import PlexampStub

START = Target("<=", 30, "ms", on="delta", form="{op} floor + {limit}")
RUN = Target("<=", 20, "ms", on="delta", form="{op} floor + {limit}")
DOWN = Target("<=", 3000, "ms", form="{op} the bridge's timeout (3 s)")
HANDOVER = Target("<=", 5, "ms")
FADE_MS = 1000
HANDOVER_FADE = Target("<=", FADE_MS + 10, "ms", form="{op} the fade (1000 ms) + 10 ms")
QUIET = Target("<=", 1, "/5 s", form="{op} 1 per 5 s")


def spawn(argv, env):
    """Start ``argv`` and wait for its exit; return (t started, t exited, status, stderr)."""
    t0 = time.perf_counter()
    child = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE, env=env, cwd=REPO_ROOT)
    _, err = child.communicate(timeout=10)
    return t0, time.perf_counter(), child.returncode, err


def bridge_env(event, port):
    return clean_env({"PLAYER_EVENT": event, "TRACK_ID": "6rqhFgbbKwnb9MLmUQDhG6",
                      "POSITION_MS": "1000", "STREAMERBRAINZ_URL": "http://127.0.0.1:%d" % port})


def measure_bridge(ctx, n, warm=5):
    daemon = ctx.new_daemon(None, wait_state=False, machine_id="", watch_id="spotify")
    floor_env = clean_env()
    to_line, runs, floors, statuses, stderr = [], [], [], set(), 0
    state = "paused"
    for i in range(warm + n):
        state = "playing" if state == "paused" else "paused"
        daemon.drain()
        t0, t_exit, status, err = spawn([sys.executable, "-m", "streamerbrainz",
                                         "librespot-event"], bridge_env(state, daemon.port))
        t_line, _ = daemon.wait_line(lambda line: "Spotify state changed" in line
                                     and " state=%s " % state in line, 5)
        f0, f_exit, _, _ = spawn([sys.executable, "-c", "pass"], floor_env)
        statuses.add(status)
        stderr += bool(err)
        if i >= warm:
            to_line.append(t_line - t0)
            runs.append(t_exit - t0)
            floors.append(f_exit - f0)
    ctx.check_daemon(daemon, "bridges")
    port = daemon.port
    ctx.stop_daemon(daemon, "bridges")
    down = [spawn([sys.executable, "-m", "streamerbrainz", "librespot-event"],
                  bridge_env("playing", port)) for _ in range(5)]
    return to_line, runs, floors, statuses, stderr, down


def post_source(port, variables):
    """What the librespot bridge sends: ``POST /sources/spotify``; returns the status."""
    body = json.dumps({"librespot": variables}).encode()
    return clients.post_once(port, "application/json", body, timeout=5,
                             path="/sources/spotify")


def measure_handover(ctx, n, fade):
    plexamp = PlexampStub(hold=1.0)
    plexamp.start()
    ctx.add_cleanup(plexamp.stop)
    args = ["-plexamp-url", plexamp.url]
    if fade:
        dsp = StandInCamillaDSP(volume=-20.0).start()
        ctx.add_cleanup(dsp.stop)
        args += ["-camilladsp-url", dsp.url, "-camilladsp-fade-out-ms", str(FADE_MS)]
    daemon = ctx.new_daemon(None, wait_state=False, machine_id="", extra_args=args)
    times = []
    for i in range(n):
        daemon.drain()
        plexamp.set_timeline("playing", 1000, 200000, "6260", "Song", "Artist", "Album")
        daemon.wait_line(lambda line: "Plex state changed state=playing" in line, 5)
        before = len(plexamp.commands("pause"))
        t0 = time.monotonic()
        post_source(daemon.port, {"PLAYER_EVENT": "playing"})
        if not plexamp.wait_for_command("pause", before + 1, timeout=5):
            raise AssertionError("no pause reached the stand-in Plexamp within 5 s")
        times.append(plexamp.commands("pause")[-1].at - t0)
        daemon.wait_line(lambda line: "Plexamp pause done" in line, 5)
        post_source(daemon.port, {"PLAYER_EVENT": "stopped"})
        daemon.wait_line(lambda line: "Spotify state changed state=stopped" in line, 5)
    ctx.check_daemon(daemon, "bridges handover")
    ctx.stop_daemon(daemon, "bridges handover")
    return times


def measure_quiet(ctx, window, with_plexamp):
    """Context switches over an idle window with every source configured, per thread.

    With ``with_plexamp`` the soft transport drives the Plexamp at
    -plexamp-url (whose timeline is long-polled); without, a -local-player
    Plexamp known from Plex's sessions (no poll).
    """
    dsp = StandInCamillaDSP(volume=-20.0).start()
    ctx.add_cleanup(dsp.stop)
    stub = ctx.new_stub()
    args = ["-camilladsp-url", dsp.url]
    polls = None
    if with_plexamp:
        plexamp = PlexampStub(hold=1.0)
        plexamp.start()
        ctx.add_cleanup(plexamp.stop)
        args += ["-plexamp-url", plexamp.url]
    else:
        args += ["-local-player", MACHINE_ID]
    daemon = ctx.new_daemon(stub, extra_args=args)
    wait_stable(lambda: daemon.nlines, 1.0, 10)
    before = proc.task_switches(daemon.pid)
    polls_before = plexamp.polls if with_plexamp else 0
    threading.Event().wait(window)
    total, per_thread, _ = proc.switch_delta(before, proc.task_switches(daemon.pid))
    if with_plexamp:
        polls = plexamp.polls - polls_before
    label = "bridges quiet%s" % (" (-plexamp-url)" if with_plexamp else "")
    ctx.check_daemon(daemon, label)
    ctx.stop_daemon(daemon, label)
    return total, per_thread, polls


@register("bridges")
def measure_bridges(ctx):
    n = 10 if ctx.args.quick else 40
    to_line, runs, floors, statuses, stderr, down = measure_bridge(ctx, n)
    plain = measure_handover(ctx, 5 if ctx.args.quick else 20, fade=False)
    faded = measure_handover(ctx, 3 if ctx.args.quick else 10, fade=True)
    window = ctx.args.idle_seconds
    wakes, per_thread, _ = measure_quiet(ctx, window, with_plexamp=False)
    amp_wakes, amp_threads, polls = measure_quiet(ctx, window, with_plexamp=True)

    down_ms = [(t1 - t0) * 1000 for t0, t1, _, _ in down]
    ctx.note("bridges: %d librespot-event runs timed after 5 warm-up, exit statuses %s, %d "
             "with anything on stderr; floor (python3 -c pass, spawned and reaped the same "
             "way) min %s max %s; with the daemon down: exit statuses %s, stderr %r" % (
                 len(runs), sorted(statuses), stderr, ms(min(floors)), ms(max(floors)),
                 sorted({status for _, _, status, _ in down}),
                 down[0][3].decode("utf-8", "replace").strip()[:160]))
    def busy(threads):
        return ", ".join("%s: %d" % (name, delta) for _, (name, delta, _) in
                         sorted(threads.items()) if delta) or "none"
    ctx.note("bridges: quiet windows of %g s with Plex, CamillaDSP, the bridges' route, the "
             "soft transport and the handover: with a -local-player Plexamp (known from Plex's "
             "sessions) context switches per thread: %s; with the Plexamp at -plexamp-url "
             "instead: %d timeline polls answered (the stand-in holds each 1 s, as Plexamp "
             "does: it paces its own long poll), per thread: %s" % (
                 window, busy(per_thread), polls, busy(amp_threads)))
    ctx.compare("bridges: librespot-event spawn -> state line, median (n=%d)" % len(to_line),
                median(to_line) * 1000, median(floors) * 1000, "ms", target=START)
    ctx.compare("bridges: librespot-event run (spawn -> exit), median", median(runs) * 1000,
                median(floors) * 1000, "ms", target=RUN)
    ctx.compare("  p95", p95(runs) * 1000, p95(floors) * 1000, "ms")
    ctx.row("bridges: librespot-event with the daemon down, max (n=%d)" % len(down),
            ms(max(down_ms) / 1000), "", "", DOWN, value=max(down_ms), unit="ms",
            valid=all(status == 0 for _, _, status, _ in down))
    ctx.row("bridges: Spotify starts -> Plexamp pause on the wire, median (n=%d)" % len(plain),
            ms(median(plain)), "", "", HANDOVER, value=median(plain) * 1000, unit="ms")
    ctx.row("  p95", ms(p95(plain)), "", "", CONTEXT, value=p95(plain) * 1000, unit="ms")
    ctx.row("bridges: the same with a %d ms fade-out, median (n=%d)" % (FADE_MS, len(faded)),
            ms(median(faded)), "", "", HANDOVER_FADE, value=median(faded) * 1000, unit="ms")
    ctx.row("bridges: idle %ds, every source configured: wake-ups" % round(window),
            "%d (%.2f per 5 s)" % (wakes, wakes * 5.0 / window), "", "", QUIET,
            value=wakes * 5.0 / window)
    # The Plexamp timeline's long poll answers about every second (Plexamp decides, not
    # the daemon): context, with what every other thread did apart.
    busiest = max((delta for _, (_, delta, _) in amp_threads.items()), default=0)
    ctx.row("  with -plexamp-url instead (its long poll: %d answers)" % polls,
            "%d (%.2f per 5 s)" % (amp_wakes, amp_wakes * 5.0 / window), "", "", CONTEXT,
            value=amp_wakes * 5.0 / window)
    rest = amp_wakes - busiest
    ctx.row("  every thread but the Plexamp poll's",
            "%d (%.2f per 5 s)" % (rest, rest * 5.0 / window), "", "", QUIET,
            value=rest * 5.0 / window)
