"""The ``hooks`` measurement: webhook POST (and the state line) -> an -on-change hook's start.

The hook is a /bin/sh script writing ``"$$ $SB_EVENT"`` to a FIFO the bench
reads on a thread; its first action is timed from the webhook and from the
``Plex state changed`` line, against the floor: the bench spawning the same
hook itself with subprocess.Popen and the runner's arguments (pipes, a new
session, close_fds), interleaved with the changes.
"""

import os
import queue
import subprocess
import threading
import time

from bench import clients
from bench.context import next_toggle
from bench.figures import median, ms, p95
from bench.harness import clean_env, wait_for, wait_stable
from bench.registry import register


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


def reaped(pid):
    """True once ``pid`` is gone from /proc (ended and reaped by its parent)."""
    return not os.path.exists("/proc/%d" % pid)


def spawn_like_the_daemon(argv, env):
    """The floor: start the hook as the daemon's runner does (pipes, own session)."""
    return subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, env=env, start_new_session=True,
                            close_fds=True)


@register("hooks")
def measure_hooks(ctx):
    n, warm = ctx.args.hook_changes, 5
    fifo = os.path.join(ctx.tmpdir, "hook.fifo")
    os.mkfifo(fifo, 0o600)
    hook = os.path.join(ctx.tmpdir, "on-change")
    with open(hook, "w") as handle:
        handle.write('#!/bin/sh\necho "$$ $SB_EVENT" > %s\n' % fifo)
    os.chmod(hook, 0o700)
    reader = FifoLines(fifo)
    ctx.add_cleanup(reader.close)
    stub = ctx.new_stub()
    daemon = ctx.new_daemon(stub, wait_state=False, extra_args=["-on-change", hook])
    daemon.wait_state("playing", timeout=10)
    first = reader.get(10)  # the hook for the start-up change
    wait_for(lambda: reaped(int(first[1].split()[0])), 5, 0.001)
    wait_stable(lambda: (stub.count, daemon.nlines), 0.3, 10)
    reader.drain()
    floor_env = clean_env({"SB_EVENT": "pause", "SB_STATE": "paused"})
    total, spawn, floors, to_line, misses, wrong = [], [], [], [], 0, 0
    state = "playing"
    for i in range(warm + n):
        event, expected = next_toggle(state)
        content_type, body = clients.webhook(event, "multipart", seed=i)
        daemon.drain()
        t0 = time.perf_counter()
        clients.post_once(daemon.port, content_type, body)
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
        wait_for(lambda: reaped(int(pid)), 5, 0.0005)
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
    ctx.stop_daemon(daemon, "hooks")

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
        for stat, pick in (("median", median), ("p95", p95)):
            ctx.compare("hooks: %s, median (n=%d)" % (label, len(values)) if stat == "median"
                        else "  p95", pick(values) * 1000, pick(floors) * 1000, "ms")
