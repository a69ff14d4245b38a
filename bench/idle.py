"""The ``idle`` measurement: CPU time and wake-ups over a quiet window, then SIGTERM -> exit.

Once start-up has settled, the daemon's context switches (every thread's,
from /proc) and CPU time over the window (30 s, 5 s with --quick) against
the floor, a bare interpreter with the same standard-library imports
waiting beside it; then how long SIGTERM takes to end each.
"""

import threading
import time

from bench import proc
from bench.figures import ms
from bench.harness import wait_stable
from bench.registry import register
from bench.targets import STOPPED, Target

WAKE_EVERY = 5.0  # seconds: at most one wake-up per this much idle time


@register("idle")
def measure_idle(ctx):
    window = ctx.args.idle_seconds
    stub = ctx.new_stub()
    daemon = ctx.new_daemon(stub)
    floor = ctx.new_floor()
    # Let start-up settle: the first fetch is done and nothing has been logged for 1 s.
    wait_stable(lambda: (daemon.nlines, stub.count), 1.0, 10)
    fetches_before, lines_before = stub.count, daemon.nlines
    samples = {}
    for name, process in (("daemon", daemon), ("floor", floor)):
        samples[name] = (proc.cpu_ms(process.pid), proc.task_switches(process.pid))
    t0 = time.monotonic()
    threading.Event().wait(window)
    elapsed = time.monotonic() - t0
    figures = {}
    for name, process in (("daemon", daemon), ("floor", floor)):
        cpu0, sw0 = samples[name]
        cpu1, sw1 = proc.cpu_ms(process.pid), proc.task_switches(process.pid)
        total, per_thread, gone = proc.switch_delta(sw0, sw1)
        figures[name] = (cpu1 - cpu0, total, per_thread, gone, len(sw1))
    fetches_idle, lines_idle = stub.count - fetches_before, daemon.nlines - lines_before
    daemon_exit, daemon_status = daemon.sigterm(timeout=5.0)
    floor_exit, floor_status = floor.sigterm(timeout=5.0)
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

    wakes = Target("<=", int(window // WAKE_EVERY),
                   form="{op} 1 per %g s ({op} {limit})" % WAKE_EVERY)
    ctx.row("idle %ds: wake-ups (context switches)" % round(window), rate(d_wake), rate(f_wake),
            "%+d" % (d_wake - f_wake), wakes, value=d_wake, floor_value=f_wake,
            delta=d_wake - f_wake)
    ctx.compare("idle %ds: CPU time (utime+stime)" % round(window), d_cpu, f_cpu, "ms",
                "%.0f", "%+.0f")
    ctx.row("SIGTERM -> exit (after idle)",
            "no exit in 5 s" if daemon_exit is None else "%s, status %s" % (ms(daemon_exit),
                                                                            daemon_status),
            "no exit" if floor_exit is None else "%s, status %s" % (ms(floor_exit),
                                                                    floor_status),
            "", STOPPED, value=None if daemon_exit is None else daemon_exit * 1000,
            floor_value=None if floor_exit is None else floor_exit * 1000, unit="ms",
            conditions=[daemon_status == 0], valid=daemon_exit is not None)
