"""What the bench reads from /proc that tests/support/procstat.py does not.

CPU time comes from procstat (``cpu_seconds``); the rest (the whole
``status`` file, threads, context switches, file descriptors, limits) is
the bench's own.
"""

import os
import threading

from tests.support import procstat


def proc_status(pid, tid=None):
    """``/proc/PID/status`` (or a thread's) as ``{key: value}``."""
    path = "/proc/%d/status" % pid if tid is None else "/proc/%d/task/%d/status" % (pid, tid)
    fields = {}
    with open(path) as handle:
        for line in handle:
            key, _, value = line.partition(":")
            fields[key] = value.strip()
    return fields


def rss_kib(pid):
    return int(proc_status(pid)["VmRSS"].split()[0])


def status_kib(pid, key):
    value = proc_status(pid).get(key)
    return int(value.split()[0]) if value else 0


def threads(pid):
    return int(proc_status(pid)["Threads"])


def cpu_ms(pid):
    """utime + stime of the whole process (every thread, live or gone), in ms."""
    return procstat.cpu_seconds(pid) * 1000.0


def open_fds(pid):
    """How many file descriptors ``pid`` has open, and how many of them are sockets."""
    total = sockets = 0
    directory = "/proc/%d/fd" % pid
    for name in os.listdir(directory):
        total += 1
        try:
            if os.readlink(os.path.join(directory, name)).startswith("socket:"):
                sockets += 1
        except OSError:
            pass
    return total, sockets


def nofile_limit(pid):
    """The soft ``Max open files`` of ``pid`` as /proc/PID/limits says."""
    with open("/proc/%d/limits" % pid) as handle:
        for line in handle:
            if line.startswith("Max open files"):
                return line.split()[3]
    return "?"


def raise_nofile(wanted):
    """Raise this process's soft RLIMIT_NOFILE to ``wanted`` (within the hard limit).

    Returns ``(before, after)``.
    """
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        new = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (new, hard))
        return soft, new
    return soft, soft


class Sampler:
    """Reads something of a process every ``interval`` seconds on a thread, until the ``with`` ends.

    Subclasses implement ``sample()``; a process gone (or a /proc file that
    no longer parses) ends the sampling.
    """

    def __init__(self, pid, interval=0.01):
        self.pid = pid
        self.interval = interval
        self.samples = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bench-sampler", daemon=True)

    def sample(self):
        raise NotImplementedError

    def _run(self):
        while True:
            try:
                self.samples.append(self.sample())
            except (OSError, KeyError, ValueError):
                return
            if self._stop.wait(self.interval):
                return

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(2)


class ThreadSampler(Sampler):
    """The ``Threads:`` count of a process."""

    def sample(self):
        return threads(self.pid)


def task_switches(pid):
    """``{tid: (voluntary, nonvoluntary, name)}`` for every thread of ``pid``."""
    result = {}
    for name in os.listdir("/proc/%d/task" % pid):
        tid = int(name)
        try:
            status = proc_status(pid, tid)
        except OSError:
            continue  # the thread ended between listdir and open
        result[tid] = (int(status.get("voluntary_ctxt_switches", 0)),
                       int(status.get("nonvoluntary_ctxt_switches", 0)),
                       status.get("Name", "?"))
    return result


def switch_delta(before, after):
    """Total context switches between two ``task_switches`` samples, and per thread."""
    total = 0
    per_thread = {}
    for tid, (vol, nonvol, name) in after.items():
        old = before.get(tid, (0, 0, name))
        delta = (vol - old[0]) + (nonvol - old[1])
        per_thread[tid] = (name, delta, tid not in before)
        total += delta
    gone = [tid for tid in before if tid not in after]
    return total, per_thread, gone
