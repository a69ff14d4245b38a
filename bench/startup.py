"""The ``startup`` measurement: spawn -> ``webhooks server listening`` on stderr.

Daemon and floor started in turn, after one warm-up run of each: the floor
is spawn -> ``ready`` from a bare interpreter holding the same
standard-library imports. Context: the same start with streamerbrainz/
compiled every time (no .pyc), and SIGTERM -> exit after the first fetch.
"""

import os
import shutil

from bench.figures import median, ms
from bench.harness import REPO_ROOT, Daemon, Floor
from bench.registry import register
from bench.targets import Target

LISTENING = Target("<=", 50, "ms", on="delta", form="{op} floor + {limit}")


@register("startup")
def measure_startup(ctx):
    runs = ctx.args.startup_runs
    stub = ctx.new_stub()
    daemon_times, floor_times, exit_times = [], [], []
    for i in range(runs + 1):  # run 0 warms the page cache and __pycache__, not counted
        floor = None
        try:
            floor = Floor()
            t = floor.wait_ready()
            if i:
                floor_times.append(t - floor.t_spawn)
        finally:
            if floor is not None:
                floor.close()
        daemon = None
        try:
            daemon = Daemon(stub.url, ctx.token_file, level="info")
            t = daemon.wait_listening()
            if i:
                daemon_times.append(t - daemon.t_spawn)
            daemon.wait_state("playing", timeout=10)
            seconds, status = ctx.stop_daemon(daemon, "startup run %d" % i)
            if i and seconds is not None:
                exit_times.append(seconds)
            if i == runs:
                ctx.check_daemon(daemon, "startup")
        finally:
            if daemon is not None:
                daemon.close()
    # The same without the package's bytecode (a copy in a read-only directory):
    # the standard library stays cached, streamerbrainz/ is compiled every time.
    cold_times = []
    if ctx.pycache:
        shutil.rmtree(ctx.pycache + os.path.join(REPO_ROOT, "streamerbrainz"),
                      ignore_errors=True)
        for i in range(max(3, runs // 2)):
            daemon = None
            try:
                daemon = Daemon(stub.url, ctx.token_file, level="info",
                                env={"PYTHONDONTWRITEBYTECODE": "1"})
                cold_times.append(daemon.wait_listening() - daemon.t_spawn)
                daemon.wait_state("playing", timeout=10)
                ctx.stop_daemon(daemon, "startup without bytecode, run %d" % i)
            finally:
                if daemon is not None:
                    daemon.close()
    d, f = median(daemon_times), median(floor_times)
    ctx.note("startup: %d runs each, interleaved, after one warm-up; daemon %s..%s, floor "
             "%s..%s; SIGTERM -> exit after the first fetch: median %s, max %s" % (
                 runs, ms(min(daemon_times)), ms(max(daemon_times)), ms(min(floor_times)),
                 ms(max(floor_times)), ms(median(exit_times)), ms(max(exit_times))))
    ctx.compare("start-up: spawn -> listening (median of %d)" % runs, d * 1000, f * 1000, "ms",
                "%.2f", "%+.1f", LISTENING)
    if cold_times:
        ctx.compare("  same, streamerbrainz/ without .pyc (median of %d)" % len(cold_times),
                    median(cold_times) * 1000, f * 1000, "ms", "%.2f", "%+.1f")
