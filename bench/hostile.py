"""The ``hostile`` measurement: the worst attacks at once beside real webhooks.

For 30 s (8 s with --quick; --hostile-seconds sets it) attacker threads hit
one daemon with default settings (plus ``-webhooks-allow 127.0.0.1/32``):
600 connections at once each announcing and sending 1 MiB to an unknown
path or to the webhook path, 8 MiB bodies of nothing but multipart
boundaries, requests without a version, heads that wait for ``100
Continue`` (within and over the body limit), uploads at a trickle,
ambiguous framing, and POSTs from 248 source addresses outside the allow
list; beside them, ten real webhooks a second from the allowed address,
each on a fresh connection, from a process of their own. The daemon's
VmRSS, VmHWM and CPU time are sampled every 0.25 s. Reports peak RSS
against a bare interpreter (the floor; the target is the budget, < 64 MiB),
CPU per second, the real webhooks' answer p50/p99 and how many got anything
but 200, whether the last one's state was applied, the WARN lines, and the
CPU of each hostile request alone on a quiet daemon against a real
webhook's (the floor of that row).

Every socket has a timeout, every thread is joined against one deadline, and
the attackers stop at the end of the window.
"""

import collections
import errno
import http.client
import json
import os
import selectors
import socket
import subprocess
import sys
import threading
import time

if __name__ == "__main__":  # run as ``python -m bench.hostile stream PORT UNTIL``
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench import clients, proc  # noqa: E402
from bench.figures import median, mib, ms, percentile  # noqa: E402
from bench.harness import REPO_ROOT, clean_env, wait_for, wait_stable  # noqa: E402
from bench.registry import register  # noqa: E402
from bench.targets import CONTEXT, Info, Target  # noqa: E402
from tests.support.procstat import BUDGET_RSS_MIB  # noqa: E402

MIB = 1024 * 1024
BOMB = b"--XyZ\r\n\r\n" * (8 * MIB // 9)  # just under the 8 MiB body limit
BOMB_TYPE = b"multipart/form-data; boundary=XyZ"
WEBHOOK_RATE = 10.0  # real webhooks a second
WEBHOOK_TIMEOUT = 5.0
FLOOD = 600  # connections at once, each with a 1 MiB body (fewer if the fd limit says so)
FLOOD_DEADLINE = 10.0  # a flood connection not answered by then is dropped and replaced
HOLDERS = 32  # connections for each kind that holds a slot with nothing
HOLD = 3.0  # seconds each of those holds its connection (unless answered)
TRICKLES = 32
BOMBERS = 4
SOURCES = ["127.0.0.%d" % i for i in range(2, 250)]
SAMPLE = 0.25
FETCH_DEADLINE = 15.0  # 3 x the default -plex-timeout 5
JOIN_DEADLINE = 20.0
QUIET_REPEAT = 20  # each case alone, in a row: CPU time ticks in 10 ms

PEAK_RSS = Target("<", BUDGET_RSS_MIB, "MiB")  # the budget, as the hostile tests read it
REQUEST_CPU = Target("<", 100, "ms")
ANSWERED = Target("<", 1, "s", form="p99 {op} {limit}")
NONE_REFUSED = Target("==", 0, form="{limit}")
STATE_APPLIED = Target("<", FETCH_DEADLINE, "s")
ALIVE = Target(also=("alive", "200"))
STOPPED = Target("==", 0, form="{limit} after %g s" % JOIN_DEADLINE)


def _head(path, length, extra=b"", content_type=b"application/json"):
    return (b"POST " + path + b" HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: " + content_type
            + b"\r\nContent-Length: %d\r\n" % length + extra + b"\r\n")


def status_of(answer):
    """The final status in the bytes of an answer (a ``100 Continue`` skipped); None if none."""
    while answer.startswith(b"HTTP/1."):
        parts = answer.split(b" ", 2)
        if len(parts) < 2 or not parts[1].isdigit():
            return None
        status = int(parts[1])
        if status != 100:
            return status
        end = answer.find(b"\r\n\r\n")
        if end < 0:
            return None
        answer = answer[end + 4:]
    return None


def _connect(port, source="127.0.0.1", timeout=5.0):
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.settimeout(timeout)
        sock.bind((source, 0))
        sock.connect(("127.0.0.1", port))
    except OSError:
        sock.close()
        raise
    return sock


def _read_answer(sock, until, stop=None):
    """Read until a final status, the peer closes, ``until`` passes or ``stop`` is set.

    Returns the status, ``"closed"`` or ``"held"`` (still open, no final answer).
    """
    answer = b""
    while True:
        remaining = until - time.monotonic()
        if remaining <= 0 or (stop is not None and stop.is_set()):
            return "100, then held" if answer.startswith(b"HTTP/1.1 100") else "held"
        sock.settimeout(min(remaining, SAMPLE))
        try:
            chunk = sock.recv(4096)
        except socket.timeout:
            continue
        except OSError:
            return status_of(answer) or "reset"
        if not chunk:
            return status_of(answer) or "closed"
        answer += chunk
        status = status_of(answer)
        if status is not None:
            return status


def _exchange(port, data, source="127.0.0.1", timeout=5.0):
    """Send ``data`` and read the answer's status, all within ``timeout``; an error name on
    failure."""
    until = time.monotonic() + timeout
    try:
        with _connect(port, source, timeout) as sock:
            try:
                sock.settimeout(max(0.01, until - time.monotonic()))
                sock.sendall(data)
            except OSError:
                pass  # the daemon may answer and close before it has read everything
            return _read_answer(sock, until)
    except OSError as err:
        return type(err).__name__


def _hold(port, data, stop):
    """Send ``data`` and nothing more; keep the connection HOLD s unless answered first."""
    try:
        with _connect(port) as sock:
            sock.sendall(data)
            return _read_answer(sock, time.monotonic() + HOLD, stop)
    except OSError as err:
        return type(err).__name__


def _trickle(port, stop):
    """An upload of 4 MiB announced, sent one byte every 0.3 s until cut off or stopped."""
    try:
        with _connect(port) as sock:
            sock.sendall(_head(b"/webhooks/plex", 4 * MIB))
            sock.setblocking(False)
            while not stop.wait(0.3):
                try:
                    answer = sock.recv(4096)
                except BlockingIOError:
                    sock.send(b"a")
                    continue
                return status_of(answer) or "closed"
            return "held"
    except OSError as err:
        return type(err).__name__


class Flood:
    """Up to ``n`` connections at once from one thread, each sending one of ``requests``
    (head and 1 MiB body) and reading the answer; each one finished is replaced."""

    def __init__(self, port, n, requests):
        self.port = port
        self.n = n
        self.requests = [memoryview(r) for r in requests]
        self.outcomes = {}  # request index -> Counter of outcomes
        self.peak = 0
        self._next = 0

    def _open(self, selector, conns):
        """Open one more connection; False when no socket could be made (fd limit)."""
        index = self._next % len(self.requests)
        self._next += 1
        try:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        except OSError as err:
            self._count(index, type(err).__name__)
            return False
        sock.setblocking(False)
        if sock.connect_ex(("127.0.0.1", self.port)) not in (0, errno.EINPROGRESS):
            sock.close()
            self._count(index, "connect failed")
            return True
        conns[sock] = [index, 0, time.monotonic(), b""]
        selector.register(sock, selectors.EVENT_READ | selectors.EVENT_WRITE)
        return True

    def _count(self, index, outcome):
        self.outcomes.setdefault(index, collections.Counter())[outcome] += 1

    def _finish(self, selector, conns, sock, outcome):
        index = conns.pop(sock)[0]
        selector.unregister(sock)
        sock.close()
        self._count(index, outcome)

    def _step(self, selector, conns, sock, mask):
        conn = conns[sock]
        index, sent, _, answer = conn
        if mask & selectors.EVENT_READ:
            try:
                chunk = sock.recv(4096)
            except BlockingIOError:
                chunk = None
            except OSError:
                return self._finish(selector, conns, sock, status_of(answer) or "reset")
            if chunk == b"":
                return self._finish(selector, conns, sock, status_of(answer) or "closed")
            if chunk:
                conn[3] = answer = answer + chunk
                if status_of(answer) is not None:
                    return self._finish(selector, conns, sock, status_of(answer))
        request = self.requests[index]
        if mask & selectors.EVENT_WRITE and sent < len(request):
            try:
                conn[1] = sent = sent + sock.send(request[sent:sent + 262144])
            except BlockingIOError:
                pass
            except OSError:
                return self._finish(selector, conns, sock, "reset")
            if sent >= len(request):
                selector.modify(sock, selectors.EVENT_READ)

    def run(self, stop):
        selector = selectors.DefaultSelector()
        conns = {}
        try:
            while not stop.is_set():
                while len(conns) < self.n and self._open(selector, conns):
                    pass
                self.peak = max(self.peak, len(conns))
                for key, mask in selector.select(0.05):
                    if key.fileobj in conns:
                        self._step(selector, conns, key.fileobj, mask)
                now = time.monotonic()
                for sock in [s for s, c in conns.items() if now - c[2] > FLOOD_DEADLINE]:
                    self._finish(selector, conns, sock, "no answer in %g s" % FLOOD_DEADLINE)
        finally:
            for sock in list(conns):
                sock.close()
            selector.close()


def _attacks(port):
    """``(name, copies, one attack)``: each copy runs its attack again until the end.

    An attack returns the outcome of each request it made (a status or what happened).
    """
    bomb = _head(b"/webhooks/plex", len(BOMB), content_type=BOMB_TYPE) + BOMB
    framing = [b"POST /webhooks/plex HTTP/1.1\r\nContent-Length: 0\r\nContent-Length: 9\r\n\r\n",
               b"POST /webhooks/plex HTTP/1.1\r\nTransfer-Encoding : chunked\r\n\r\n",
               b"POST /webhooks/plex HTTP/1.1\r\nNo colon here\r\n\r\n"]
    expect = b"Expect: 100-continue\r\n"
    sources = iter(range(10 ** 9))

    def refused(stop):
        source = SOURCES[next(sources) % len(SOURCES)]
        return [_exchange(port, _head(b"/webhooks/plex", 2) + b"{}", source=source)]

    return [
        ("8 MiB of boundaries", BOMBERS, lambda stop: [_exchange(port, bomb, timeout=15)]),
        ("GET /x, no version, then nothing", HOLDERS,
         lambda stop: [_hold(port, b"GET /x", stop)]),
        ("Expect: 100-continue, 4 MiB announced, no body", HOLDERS,
         lambda stop: [_hold(port, _head(b"/webhooks/plex", 4 * MIB, expect), stop)]),
        ("Expect: 100-continue, 16 MiB announced, no body", 4,
         lambda stop: [_hold(port, _head(b"/webhooks/plex", 16 * MIB, expect), stop)]),
        ("upload of 4 MiB at a trickle", TRICKLES, lambda stop: [_trickle(port, stop)]),
        ("ambiguous framing", 2, lambda stop: [_exchange(port, f) for f in framing]),
        ("POST from a refused source address", 4, refused),
    ]


def _attacker(attack, stop, outcomes, lock):
    while not stop.is_set():
        got = attack(stop)
        with lock:
            outcomes.update(got)


class WebhookStream:
    """Real webhooks at WEBHOOK_RATE from 127.0.0.1, each on its own connection and thread,
    so that one slow answer does not delay the next."""

    def __init__(self, port):
        self.port = port
        self.results = []  # (answered at, seconds, status, event, seconds to connect)
        self.threads = []
        self._lock = threading.Lock()

    def _one(self, event, seed):
        content_type, body = clients.webhook(event, "multipart+thumb", seed=seed)
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=WEBHOOK_TIMEOUT)
        t0 = time.monotonic()
        connected = None
        try:
            conn.connect()
            connected = time.monotonic() - t0
            status = clients.post_once(self.port, content_type, body, connection=conn)
        except (OSError, http.client.HTTPException) as err:
            status = type(err).__name__
        finally:
            conn.close()
        t1 = time.monotonic()
        with self._lock:
            self.results.append((t1, t1 - t0, status, event, connected))

    def run(self, stop):
        events = ("media.play", "media.pause")
        next_at = time.monotonic()
        i = 0
        while not stop.is_set():
            thread = threading.Thread(target=self._one, args=(events[i % 2], i), daemon=True)
            thread.start()
            self.threads.append(thread)
            i += 1
            next_at += 1.0 / WEBHOOK_RATE
            stop.wait(max(0.0, next_at - time.monotonic()))


def stream_main(port, until):
    """The real webhooks until ``until`` (time.monotonic(), the same clock in every process
    on Linux), in a process of their own so that the attackers' threads do not slow the
    client down; prints the results as JSON lines."""
    stream = WebhookStream(port)
    stop = threading.Event()
    runner = threading.Thread(target=stream.run, args=(stop,), daemon=True)
    runner.start()
    stop.wait(max(0.0, until - time.monotonic()))
    stop.set()
    deadline = time.monotonic() + WEBHOOK_TIMEOUT + 2
    runner.join(max(0.0, deadline - time.monotonic()))
    stuck = join_all(list(stream.threads), deadline)
    for result in list(stream.results):
        print(json.dumps(result))
    print(json.dumps({"stuck": stuck}))
    sys.stdout.flush()
    return 0


class StreamProcess:
    """``stream_main`` in a subprocess; ``results()`` waits for it within a deadline."""

    def __init__(self, port, until):
        self.until = until
        self.popen = subprocess.Popen(
            [sys.executable, "-m", "bench.hostile", "stream", str(port), repr(until)],
            cwd=REPO_ROOT, env=clean_env(), stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    def results(self):
        """``(results, stuck threads, error text or "")``."""
        try:
            out, err = self.popen.communicate(
                timeout=max(0.0, self.until - time.monotonic()) + JOIN_DEADLINE)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            out, err = self.popen.communicate(timeout=5)
            return [], 1, "the webhook stream did not end; killed"
        results, stuck = [], 0
        for line in out.decode("utf-8", "replace").splitlines():
            item = json.loads(line)
            if isinstance(item, dict):
                stuck = item["stuck"]
            else:
                results.append(tuple(item))
        error = "" if self.popen.returncode == 0 else err.decode("utf-8", "replace")[-500:]
        return results, stuck, error

    def close(self):
        if self.popen.poll() is None:
            self.popen.kill()
            self.popen.wait(5)
        for pipe in (self.popen.stdout, self.popen.stderr):
            pipe.close()


class Sampler(proc.Sampler):
    """VmRSS, VmHWM and CPU ms of ``pid`` every SAMPLE s."""

    def __init__(self, pid):
        super().__init__(pid, SAMPLE)

    def sample(self):
        """(monotonic, rss KiB, hwm KiB, cpu ms)"""
        status = proc.proc_status(self.pid)
        return (time.monotonic(), int(status["VmRSS"].split()[0]),
                int(status["VmHWM"].split()[0]), proc.cpu_ms(self.pid))

    def peak_cpu_per_second(self):
        """The most CPU ms the daemon used in any window of about 1 s."""
        best = 0.0
        step = max(1, int(round(1.0 / SAMPLE)))
        for (t0, _, _, c0), (t1, _, _, c1) in zip(self.samples, self.samples[step:]):
            best = max(best, (c1 - c0) / max(t1 - t0, 1e-3))
        return best


def listen_drops():
    """The kernel's TcpExt ListenOverflows + ListenDrops (every socket on the machine)."""
    try:
        with open("/proc/net/netstat") as handle:
            lines = handle.read().splitlines()
    except OSError:
        return None
    for names, values in zip(lines[::2], lines[1::2]):
        if names.startswith("TcpExt:"):
            fields = dict(zip(names.split()[1:], values.split()[1:]))
            return int(fields.get("ListenOverflows", 0)) + int(fields.get("ListenDrops", 0))
    return None


def _series(samples, t0, seconds, parts=10):
    """The highest VmRSS (MiB) in each tenth of the window."""
    peaks = [0] * parts
    for t, rss, _, _ in samples:
        index = int((t - t0) / seconds * parts)
        if 0 <= index < parts:
            peaks[index] = max(peaks[index], rss)
    return " ".join("%.0f" % (kib / 1024.0) for kib in peaks)


def join_all(threads, deadline):
    """Join every thread against one shared deadline; return how many are still running."""
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    return sum(thread.is_alive() for thread in threads)


def _quiet_costs(ctx, stub, repeat=QUIET_REPEAT):
    """CPU ms per request of each hostile request alone on a quiet daemon, and of a real
    webhook (with the fetch it causes): ``{case: ms}``. Each case runs ``repeat`` times in
    a row and the total is divided."""
    daemon = ctx.new_daemon(stub, extra_args=["-webhooks-allow", "127.0.0.1/32"])
    wait_stable(lambda: (stub.count, daemon.nlines), 0.3, 10)
    content_type, body = clients.webhook("media.pause", "multipart+thumb")
    big = b"a" * MIB
    cases = [
        ("8 MiB of boundaries", lambda: _exchange(daemon.port, _head(
            b"/webhooks/plex", len(BOMB), content_type=BOMB_TYPE) + BOMB, timeout=15)),
        ("1 MiB body, unknown path", lambda: _exchange(daemon.port, _head(b"/nowhere", MIB)
                                                       + big)),
        ("1 MiB body, webhook path", lambda: _exchange(daemon.port, _head(
            b"/webhooks/plex", MIB) + big)),
        ("Expect, 16 MiB announced", lambda: _exchange(daemon.port, _head(
            b"/webhooks/plex", 16 * MIB, b"Expect: 100-continue\r\n"), timeout=2)),
        ("POST from a refused source", lambda: _exchange(
            daemon.port, _head(b"/webhooks/plex", 2) + b"{}", source="127.0.0.9")),
    ]
    costs, outcomes = {}, {}

    def real():
        status = clients.post_once(daemon.port, content_type, body, timeout=WEBHOOK_TIMEOUT)
        wait_stable(lambda: (stub.count, daemon.nlines), 0.1, 5)
        return status

    for name, run in [("real webhook", real)] + cases:
        wait_stable(lambda: daemon.nlines, 0.1, 5)
        before = proc.cpu_ms(daemon.pid)
        outcomes[name] = collections.Counter(run() for _ in range(repeat))
        wait_stable(lambda: daemon.nlines, 0.1, 5)
        costs[name] = (proc.cpu_ms(daemon.pid) - before) / repeat
    return daemon, costs, outcomes


def _describe(counter):
    return ", ".join("%s x%d" % (k, v) for k, v in sorted(counter.items(), key=lambda kv: -kv[1]))


def _last_state_applied(daemon, results):
    """Wait up to FETCH_DEADLINE for the state of the last real webhook answered 200.

    Returns ``(expected state or None, seconds waited or None when never)``.
    """
    answered = [r for r in results if r[2] == 200]
    if not answered:
        return None, None
    expected = "paused" if max(answered)[3] == "media.pause" else "playing"
    needle = " state=%s " % expected
    t0 = time.monotonic()
    ok = wait_for(lambda: daemon.last_state is not None
                            and needle in daemon.last_state[1] + " ", FETCH_DEADLINE)
    return expected, (time.monotonic() - t0) if ok else None


def _window(ctx, daemon, seconds, flood_n):
    """Every attack at once for ``seconds`` beside the real webhooks; the figures as a dict.

    The attackers are told to stop at the end of the window, or at once if anything fails.
    """
    stop = threading.Event()
    lock = threading.Lock()
    outcomes = {}
    threads = []
    for name, copies, attack in _attacks(daemon.port):
        outcomes[name] = collections.Counter()
        for _ in range(copies):
            threads.append(threading.Thread(target=_attacker, daemon=True,
                                            args=(attack, stop, outcomes[name], lock)))
    flood = Flood(daemon.port, flood_n, [_head(b"/nowhere", MIB) + b"a" * MIB,
                                         _head(b"/webhooks/plex", MIB) + b"a" * MIB])
    threads.append(threading.Thread(target=flood.run, args=(stop,), daemon=True))
    got = {"threads": len(threads)}
    try:
        with Sampler(daemon.pid) as sampler:
            t0 = time.monotonic()
            stream = StreamProcess(daemon.port, t0 + seconds)
            ctx.add_cleanup(stream.close)
            cpu_before = proc.cpu_ms(daemon.pid)
            drops_before = listen_drops()
            for thread in threads:
                thread.start()
            stop.wait(max(0.0, seconds - (time.monotonic() - t0)))
            stop.set()
            got["cpu"] = proc.cpu_ms(daemon.pid) - cpu_before
            drops = listen_drops()
            got["drops"] = None if None in (drops, drops_before) else drops - drops_before
            got["elapsed"] = time.monotonic() - t0
            got["stuck"] = join_all(threads, time.monotonic() + JOIN_DEADLINE)
            got["results"], stream_stuck, got["stream_error"] = stream.results()
            got["stuck"] += stream_stuck
    finally:
        stop.set()
    got["peak_rss"] = max([sample[1] for sample in sampler.samples] or [0])
    got["rss_series"] = _series(sampler.samples, t0, seconds)
    got["peak_cpu"] = sampler.peak_cpu_per_second()
    for index, name in enumerate(("1 MiB body, unknown path", "1 MiB body, webhook path")):
        outcomes[name + " (%d connections at once)" % flood_n] = flood.outcomes.get(
            index, collections.Counter())
    got["outcomes"] = outcomes
    got["flood_peak"] = flood.peak
    return got


@register("hostile")
def measure_hostile(ctx):
    seconds = ctx.args.hostile_seconds
    floor = ctx.new_floor()
    floor_kib = proc.rss_kib(floor.pid)
    stub = ctx.new_stub()

    quiet, costs, quiet_outcomes = _quiet_costs(ctx, stub)
    ctx.stop_daemon(quiet, "hostile (quiet)")

    daemon = ctx.new_daemon(stub, extra_args=["-webhooks-allow", "127.0.0.1/32"])
    wait_stable(lambda: (stub.count, daemon.nlines), 0.3, 10)
    # Raised after the daemon started, so that it keeps the limit it would have had.
    import resource
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    before, after = proc.raise_nofile(hard if hard != resource.RLIM_INFINITY else 65536)
    if before != after:
        ctx.note("hostile: raised this process's RLIMIT_NOFILE from %s to %s" % (before, after))
    flood_n = max(50, min(FLOOD, int(after) - 400))
    rest_kib = proc.rss_kib(daemon.pid)
    warn_before = daemon.levels["WARN"]

    got = _window(ctx, daemon, seconds, flood_n)
    results = got["results"]
    if got["stream_error"]:
        ctx.note("hostile: the webhook stream process failed: %s" % got["stream_error"])
    hwm_kib = proc.status_kib(daemon.pid, "VmHWM")
    expected, applied = _last_state_applied(daemon, results)
    alive = daemon.running()
    try:
        health = clients.http_get(daemon.port, "/healthz")[0]
    except (OSError, http.client.HTTPException) as err:
        health = type(err).__name__
    wait_stable(lambda: daemon.nlines, 0.3, 5)
    warns = daemon.levels["WARN"] - warn_before
    daemon_limit = proc.nofile_limit(daemon.pid)
    ctx.check_daemon(daemon, "hostile")
    ctx.stop_daemon(daemon, "hostile")

    outcomes = got["outcomes"]
    hostile_requests = sum(sum(c.values()) for c in outcomes.values())
    times = [r[1] for r in results]
    statuses = collections.Counter(r[2] for r in results)
    bad = len(results) - statuses.get(200, 0)
    connects = [r[4] for r in results if r[4] is not None]
    ctx.note("hostile: %.1f s of attacks from %d threads, %d hostile requests, %d real webhooks "
             "(answers %s; connect p50 %s, p99 %s, max %s; the kernel dropped %s SYNs or "
             "connections at a full listen queue meanwhile, machine-wide); the flood held up "
             "to %d connections at once; %d threads still running %g s after the window; the "
             "daemon's RLIMIT_NOFILE %s" % (
                 got["elapsed"], got["threads"], hostile_requests, len(results),
                 _describe(statuses), ms(median(connects)), ms(percentile(connects, 99)),
                 ms(max(connects or [0])), "?" if got["drops"] is None else got["drops"],
                 got["flood_peak"], got["stuck"], JOIN_DEADLINE, daemon_limit))
    ctx.note("hostile: highest VmRSS in each tenth of the window (MiB): %s" % got["rss_series"])
    for name, counter in outcomes.items():
        ctx.note("hostile: %s: %d, answered %s" % (name, sum(counter.values()),
                                                    _describe(counter) or "-"))
    ctx.note("hostile, quiet daemon, %d of each alone in a row, CPU per request: %s" % (
        QUIET_REPEAT, "; ".join("%s %.1f ms (%s)" % (name, costs[name],
                                                     _describe(quiet_outcomes[name]))
                                for name in costs)))

    ctx.row("hostile: peak RSS (VmHWM; sampled VmRSS max %s, %s at rest)" % (
        mib(got["peak_rss"]), mib(rest_kib)), mib(hwm_kib), mib(floor_kib) + " bare",
        "%+.1f MiB" % ((hwm_kib - floor_kib) / 1024.0), PEAK_RSS, value=hwm_kib / 1024.0,
        floor_value=floor_kib / 1024.0, delta=(hwm_kib - floor_kib) / 1024.0, unit="MiB",
        valid=hwm_kib > 0)
    ctx.row("hostile: daemon CPU per second of attack (peak 1 s: %.0f ms)" % got["peak_cpu"],
            "%.0f ms/s" % (got["cpu"] / got["elapsed"]), "", "%.2f ms per hostile request" % (
                got["cpu"] / max(hostile_requests, 1)), CONTEXT,
            value=got["cpu"] / got["elapsed"], delta=got["cpu"] / max(hostile_requests, 1),
            unit="ms/s")
    costliest = max((name for name in costs if name != "real webhook"), key=costs.get)
    ratio = costs[costliest] / max(costs["real webhook"], 0.5)
    ctx.row("hostile: CPU of the costliest hostile request alone (%s; mean of %d)" % (
        costliest, QUIET_REPEAT), "%.1f ms" % costs[costliest],
        "%.1f ms real webhook" % costs["real webhook"], "x%.1f" % ratio, REQUEST_CPU,
        value=costs[costliest], floor_value=costs["real webhook"], delta=ratio, unit="ms")
    if times:
        p99 = percentile(times, 99)
        ctx.row("hostile: real webhooks answered, p50 / p99 (n=%d; max %s)" % (
            len(times), ms(max(times))), "%s / %s" % (ms(median(times)), ms(p99)), "", "",
            ANSWERED, value=p99 * 1000, unit="ms")
    ctx.row("hostile: real webhooks answered anything but 200", "%d of %d" % (bad, len(results)),
            "", "", NONE_REFUSED, value=bad, valid=bool(results))
    ctx.row("hostile: last real webhook's state in the log (waited after the window)",
            "%s, %s" % (expected, ms(applied)) if applied is not None
            else "%s: never" % expected, "", "", STATE_APPLIED,
            value=None if applied is None else applied * 1000, unit="ms")
    ctx.row("hostile: WARN lines during the attack", str(warns), "", "",
            Info("(summarised)"), value=warns)
    ctx.row("hostile: alive and /healthz after", "%s, %s" % ("alive" if alive else "DEAD",
                                                             health), "", "", ALIVE,
            conditions=[alive, health == 200])
    ctx.row("hostile: attacker threads stopped at the end", "%d running" % got["stuck"], "", "",
            STOPPED, value=got["stuck"])


if __name__ == "__main__":
    if len(sys.argv) != 4 or sys.argv[1] != "stream":
        sys.exit("usage: python -m bench.hostile stream PORT UNTIL (time.monotonic())")
    sys.exit(stream_main(int(sys.argv[2]), float(sys.argv[3])))
