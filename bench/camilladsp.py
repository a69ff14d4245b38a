"""The ``camilladsp`` measurement: the volume following the music, against a stand-in CamillaDSP.

The daemon runs with ``-camilladsp-pause mute`` beside the tests' stand-in
CamillaDSP (tests/support/camilladsp.py, in the bench's process), which
stamps every command it receives with ``time.monotonic()``:

- reaction: each webhook that pauses or plays the followed player, from
  the ``Plex state changed`` line to the first command CamillaDSP receives
  (the read of the volume before any change), against the floor: the bench
  itself sending one masked frame to the same stand-in over its own
  connection, interleaved;
- quiet: wake-ups (context switches of every thread) over an idle window
  while connected and playing (nothing held), and while holding the volume
  down (the capture read every 5 s);
- fades: with ``-camilladsp-fade-in-ms 2000``, each step's lateness
  against its planned time (the unmute's arrival + 0.2 s per step), and the
  wake-ups in the second after each fade;
- memory: VmRSS of a daemon with CamillaDSP and one without, each given the
  same pause/play changes one at a time, interleaved.
"""

import threading
import time

from bench import clients, proc
from bench.context import next_toggle
from bench.figures import median, mib, ms, p95
from bench.harness import MACHINE_ID, wait_stable
from bench.registry import register
from bench.targets import CONTEXT, Target
from streamerbrainz.lib.websocket import WebSocket
from tests.support.camilladsp import StandInCamillaDSP

USER_DB = -20.0
FADE_MS = 2000
STEP_S = 0.2  # the service's step (camilladsp/policy.py STEP_S)
PROBE_EVERY = 5.0  # the service's capture read while holding (camilladsp/service.py)
AFTER_FADE_S = 1.0  # the window after each fade that should see no wake-up
SETTLE_S = 0.2  # first, the last step's reply and its status reach the main loop

REACTION = Target("<=", 1, "ms", on="delta", form="{op} floor + {limit}")
LATENESS = Target("<=", 10, "ms")
NO_WAKE = Target("==", 0)
QUIET = Target("<=", 1, "/5 s", form="{op} 1 per 5 s")
RSS_BESIDE = Target("<=", 1, "MiB", on="delta", form="{op} without + {limit}")
GROWTH = Target("<", 0.5, "MiB")


def dsp_args(dsp, fade_ms):
    return ["-camilladsp-url", dsp.url, "-local-player", MACHINE_ID,
            "-camilladsp-pause", "mute", "-camilladsp-fade-in-ms", str(fade_ms)]


def start_dsp(ctx):
    dsp = StandInCamillaDSP(volume=USER_DB).start()
    ctx.add_cleanup(dsp.stop)
    return dsp


def connected(daemon, dsp):
    """Wait until the daemon connected to the stand-in and both went quiet."""
    if not dsp.wait_for_connections(1, timeout=10):
        raise TimeoutError("the daemon did not connect to the stand-in CamillaDSP in 10 s")
    wait_stable(lambda: (daemon.nlines, dsp.command_count), 0.5, 10)


def change(daemon, state, seed):
    """Send the webhook that toggles ``state``; return (t posted, t state line, new state)."""
    event, expected = next_toggle(state)
    content_type, body = clients.webhook(event, "multipart", seed=seed)
    daemon.drain()
    t0 = time.perf_counter()
    clients.post_once(daemon.port, content_type, body)
    t1, _ = daemon.wait_state(expected, timeout=5)
    return t0, t1, expected


def floor_frame(socket_, dsp):
    """One masked frame from the bench to the stand-in: send -> the stand-in's stamp."""
    after = dsp.command_count
    t0 = time.monotonic()
    socket_.send_text('"GetVolume"')
    command = dsp.wait_for_command("GetVolume", after=after)
    socket_.receive(time.monotonic() + 5)
    return command.at - t0


def quiet_window(daemon, seconds):
    """Context switches of every daemon thread over ``seconds`` of nothing to do."""
    before = proc.task_switches(daemon.pid)
    threading.Event().wait(seconds)
    total, _, _ = proc.switch_delta(before, proc.task_switches(daemon.pid))
    return total


def per_5s(count, seconds):
    return count * PROBE_EVERY / seconds


def measure_reaction(ctx, daemon, dsp, n, warm=10):
    """State line -> first command, and the floor, for ``warm + n`` changes (last n kept)."""
    floor_socket = WebSocket.connect(dsp.url, 5)
    ctx.add_cleanup(lambda: floor_socket.close(1))
    reaction, floors, to_set, to_line = [], [], [], []
    state = "playing"
    for i in range(warm + n):
        after = dsp.command_count
        t0, t1, state = change(daemon, state, i)
        first = dsp.wait_for_command(lambda c: True, after=after)
        muted = dsp.wait_for_command("SetMute", after=after)
        floor = floor_frame(floor_socket, dsp)
        if i >= warm:
            # perf_counter and monotonic are the same clock on Linux (CLOCK_MONOTONIC).
            reaction.append(first.at - t1)
            to_set.append(muted.at - t1)
            to_line.append(t1 - t0)
            floors.append(floor)
    return reaction, floors, to_set, to_line, state


def measure_fades(ctx, stub, count):
    """``count`` pause/play pairs with a 2 s fade-in: step lateness, wake-ups after each fade."""
    dsp = start_dsp(ctx)
    daemon = ctx.new_daemon(stub, extra_args=dsp_args(dsp, FADE_MS))
    connected(daemon, dsp)
    lateness, wakes, steps_seen = [], [], []
    state = "playing"
    for i in range(2 * count):
        after = dsp.command_count
        _, _, state = change(daemon, state, i)
        if state == "paused":
            dsp.wait_for_command("SetMute", after=after)
            continue
        last = dsp.wait_for_command(lambda c: c.name == "SetVolume"
                                    and abs(c.argument - USER_DB) < 0.01,
                                    after=after, timeout=FADE_MS / 1000.0 + 5)
        commands = dsp.commands()[after:]
        unmute = next(c for c in commands if c.name == "SetMute")
        steps = [c for c in commands if c.name == "SetVolume" and c.at > unmute.at]
        steps_seen.append(len(steps))
        lateness += [c.at - (unmute.at + STEP_S * k) for k, c in enumerate(steps, 1)]
        if last is steps[-1]:
            threading.Event().wait(SETTLE_S)
            wakes.append(quiet_window(daemon, AFTER_FADE_S))
    ctx.check_daemon(daemon, "camilladsp fades")
    ctx.stop_daemon(daemon, "camilladsp fades")
    return lateness, wakes, steps_seen


def measure_memory(ctx, with_dsp, without, dsp, marks):
    """The same changes to both daemons, one at a time, interleaved: RSS at each mark."""
    states = {"with": "playing", "without": "playing"}
    rss = []
    sent = 0
    for mark in marks:
        for i in range(sent, mark):
            after = dsp.command_count
            _, _, states["with"] = change(with_dsp, states["with"], i)
            dsp.wait_for_command("SetMute", after=after)
            _, _, states["without"] = change(without, states["without"], i)
        sent = mark
        for daemon in (with_dsp, without):
            wait_stable(lambda: daemon.nlines, 0.5, 30)
        rss.append((proc.rss_kib(with_dsp.pid), proc.rss_kib(without.pid)))
    return rss


@register("camilladsp")
def measure_camilladsp(ctx):
    quick = ctx.args.quick
    window = ctx.args.idle_seconds
    first, total = ctx.args.rss_counts
    stub = ctx.new_stub()
    dsp = start_dsp(ctx)
    with_dsp = ctx.new_daemon(stub, extra_args=dsp_args(dsp, 0))
    connected(with_dsp, dsp)
    without = ctx.new_daemon(stub)
    for daemon in (with_dsp, without):
        wait_stable(lambda: daemon.nlines, 0.5, 10)
    rss_start = (proc.rss_kib(with_dsp.pid), proc.rss_kib(without.pid))

    reaction, floors, to_set, to_line, state = measure_reaction(
        ctx, with_dsp, dsp, ctx.args.webhooks)
    if state != "playing":
        change(with_dsp, state, 0)
    wait_stable(lambda: (with_dsp.nlines, dsp.command_count), 0.5, 10)
    playing_wakes = quiet_window(with_dsp, window)
    after = dsp.command_count
    change(with_dsp, "playing", 1)
    dsp.wait_for_command("SetMute", after=after)
    wait_stable(lambda: with_dsp.nlines, 0.5, 10)
    probes_before = len(dsp.commands_named("GetCaptureSignalPeakSinceLast",
                                           "GetCaptureSignalPeak"))
    holding_wakes = quiet_window(with_dsp, window)
    probes = len(dsp.commands_named("GetCaptureSignalPeakSinceLast",
                                    "GetCaptureSignalPeak")) - probes_before
    change(with_dsp, "paused", 2)

    rss = measure_memory(ctx, with_dsp, without, dsp, (first, total))
    ctx.check_daemon(with_dsp, "camilladsp")
    ctx.check_daemon(without, "camilladsp (without)")
    ctx.stop_daemon(with_dsp, "camilladsp")
    ctx.stop_daemon(without, "camilladsp (without)")

    lateness, fade_wakes, steps_seen = measure_fades(ctx, stub, 3 if quick else 10)

    ctx.note("camilladsp: %d timed changes (alternating media.pause/media.play, -camilladsp-pause "
             "mute, no fade) after 10 warm-up; webhook -> state line median %s; state line -> "
             "first command min %s max %s; floor (a masked frame from the bench over its own "
             "connection to the same stand-in) min %s max %s; the state line is stamped when "
             "the bench reads it from the daemon's stderr pipe" % (
                 len(reaction), ms(median(to_line)), ms(min(reaction)), ms(max(reaction)),
                 ms(min(floors)), ms(max(floors))))
    ctx.note("camilladsp: fades of %d ms, steps after the unmute per fade %s; lateness min %s "
             "max %s; wake-ups in the %g s from %g s after each fade's last step: %s" % (
                 FADE_MS, steps_seen, ms(min(lateness)), ms(max(lateness)), AFTER_FADE_S,
                 SETTLE_S, fade_wakes))
    ctx.note("camilladsp: %d capture read(s) in the %g s holding window; RSS with/without "
             "CamillaDSP at start %s / %s" % (probes, window, mib(rss_start[0]),
                                                mib(rss_start[1])))

    ctx.compare("camilladsp: state line -> first command, median (n=%d)" % len(reaction),
                median(reaction) * 1000, median(floors) * 1000, "ms", target=REACTION)
    ctx.compare("  p95", p95(reaction) * 1000, p95(floors) * 1000, "ms")
    ctx.compare("  state line -> SetMute, median", median(to_set) * 1000,
                median(floors) * 1000, "ms")
    ctx.row("camilladsp: fade step lateness, p95 (n=%d)" % len(lateness),
            ms(p95(lateness)), "", "", LATENESS, value=p95(lateness) * 1000, unit="ms")
    ctx.row("camilladsp: wake-ups in %g s after each fade (sum of %d)" % (
        AFTER_FADE_S, len(fade_wakes)), str(sum(fade_wakes)), "", "", NO_WAKE,
        value=sum(fade_wakes), valid=bool(fade_wakes))
    ctx.row("camilladsp: idle %ds connected, playing: wake-ups" % round(window),
            "%d (%.2f per 5 s)" % (playing_wakes, per_5s(playing_wakes, window)), "", "",
            QUIET, value=per_5s(playing_wakes, window))
    ctx.row("camilladsp: idle %ds holding: capture reads (the only wake-ups)" % round(window),
            "%d (%.2f per 5 s; %d context switches)" % (probes, per_5s(probes, window),
                                                          holding_wakes),
            "", "", QUIET, value=per_5s(probes, window),
            # a read is two switches (woken by its timer, then by the reply); any more
            # means something else woke, and the row is a MISS
            valid=holding_wakes <= 2 * probes + 1)
    (with1, without1), (with2, without2) = rss
    for n, (w, wo) in ((first, rss[0]), (total, rss[1])):
        ctx.compare("camilladsp: RSS after %s changes, with vs without" % format(n, ","),
                    w / 1024.0, wo / 1024.0, "MiB", "%.1f", "%+.1f",
                    RSS_BESIDE if n == total else CONTEXT)
    growth = (with2 - with1) / 1024.0
    ctx.row("camilladsp: RSS growth %s -> %s changes, with" % (format(first, ","),
                                                               format(total, ",")),
            "%+.2f MiB" % growth, "%+.2f MiB" % ((without2 - without1) / 1024.0), "", GROWTH,
            value=growth, floor_value=(without2 - without1) / 1024.0, unit="MiB")
