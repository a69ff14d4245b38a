"""The ``history`` measurement: the memory in ``-state-dir`` against what SQLite alone costs.

A database of 100,000 plays is built once per run (``history.store.open_store``
and one transaction of INSERTs: plays over the last 365 days on 3 players,
2,000 artists, 5,000 albums, tracks of 2 to 7 minutes, each heard for a
random time and counted by the scrobble rule, ``day`` from
``rows.local_day``), then closed so that no -wal is left. The daemon runs
with ``-state-dir`` on a copy of it, beside one without ``-state-dir``:

- commit: each pause/play webhook, from the ``Plex state changed`` line to
  the moment its change (the player's row) is visible to a read-only
  connection of the bench (``PRAGMA data_version`` polled every 0.2 ms),
  against the floor: one INSERT + COMMIT of a play row by the bench into a
  scratch database opened by ``store.open_store`` (the same pragmas, the
  same disk), interleaved;
- latency: webhook POST -> state line (as bench/latency.py times it) with
  history and without, interleaved;
- reading: ``GET /history?limit=50`` and ``GET /history/stats?since=365d``
  over HTTP, against the same queries in-process with
  ``history.reader.Reader``, interleaved; the file's size per 10,000 plays;
- start-up: spawn -> ``webhooks server listening`` on a fresh copy of the
  100,000-play database against an empty new directory, interleaved, after
  one warm-up of each;
- memory: VmRSS with history (the 100,000 plays) and without, after start
  and after the same pause/play changes (2,000; 400 with --quick), one at a
  time, interleaved.
"""

import json
import os
import random
import shutil
import sqlite3
import tempfile
import time
import urllib.parse

from bench import clients, proc
from bench.context import next_toggle
from bench.figures import median, mib, ms, p95
from bench.harness import MACHINE_ID, Daemon, wait_stable
from bench.registry import register
from bench.targets import CONTEXT, Target
from streamerbrainz.history import plays as playrules
from streamerbrainz.history import query as queries
from streamerbrainz.history import rows, store
from streamerbrainz.history.reader import Reader

# The commit itself (no fsync in WAL with synchronous=NORMAL) is tens of
# microseconds; the daemon adds a queue, a thread's wake-up, the player's
# upsert and the play's update, and the bench's 0.2 ms polling.
COMMIT = Target("<=", 2, "ms", on="delta", form="{op} floor + {limit}")
# The state line is written before the listeners hear of the change, so the
# history can only show through the writer thread competing for the GIL with
# the next webhook. The medians of a few hundred webhooks on one machine move
# by 0.1-0.3 ms from run to run; 0.5 ms is "unchanged within noise".
UNCHANGED = Target("<=", 0.5, "ms", on="delta", form="{op} without + {limit}")
PLAYS_PAGE = Target("<=", 10, "ms")
STATS_YEAR = Target("<=", 100, "ms")
STARTUP = Target("<=", 50, "ms", on="delta", form="{op} empty + {limit}")
RSS_BESIDE = Target("<=", 2, "MiB", on="delta", form="{op} without + {limit}")

PLAYS = 100000
ARTISTS = 2000
ALBUMS = 5000
DAYS = 365
MARGIN_S = 3600.0  # the oldest play an hour inside -history-days (365): none pruned at start
PLAYERS = (("bench-office-7f3c", "Office", "Plexamp"),
           ("bench-kitchen-19ab", "Kitchen", "Plexamp"),
           ("bench-phone-c2d4", "Phone", "Plex for Android"))
POLL_S = 0.0002
WARM = 10
PLAYS_PATH = "/history?limit=50"
STATS_PATH = "/history/stats?since=365d"

_PLAY_COLUMNS = rows.PLAY_COLUMNS + ("ended_at", "listened_ms", "completed", "counted",
                                     "ended_by")
_INSERT_ENDED = "INSERT INTO plays (%s) VALUES (%s)" % (
    ", ".join(_PLAY_COLUMNS), ", ".join("?" * len(_PLAY_COLUMNS)))


def made_plays(count, now, seed=1):
    """``count`` ended plays (rows for _INSERT_ENDED), oldest first, the same for the same seed."""
    rng = random.Random(seed)
    first, last = now - DAYS * 86400 + MARGIN_S, now - 600
    for started in sorted(rng.uniform(first, last) for _ in range(count)):
        album = rng.randrange(ALBUMS)
        track = rng.randrange(1, 13)
        duration = 120000 + (album * 7919 + track * 104729) % 300001  # 2 to 7 minutes
        if rng.random() < 0.7:
            listened = int(duration * rng.uniform(0.95, 1.0))  # heard to its end
        else:
            listened = rng.randrange(duration)  # skipped
        machine_id, player, product = PLAYERS[rng.randrange(len(PLAYERS))]
        yield (machine_id, "plex", player, product, "Track %d" % track,
               "Artist %d" % (album % ARTISTS), "Album %d" % album, duration,
               str(100000 + album * 16 + track), started, rows.local_day(started),
               started + listened / 1000.0, listened,
               int(listened >= duration * playrules.COMPLETE_SHARE),
               int(playrules.counts(listened, duration)),
               playrules.TRACK_CHANGE if rng.random() < 0.9 else playrules.STOP)


def build_database(directory, count=PLAYS):
    """The database of ``count`` plays in ``directory``, closed; its path."""
    opened = store.open_store(directory)
    try:
        connection = opened.connection
        connection.execute("BEGIN")
        connection.executemany(_INSERT_ENDED, made_plays(count, time.time()))
        connection.execute("COMMIT")
    finally:
        opened.close()
    if os.path.exists(opened.path + "-wal"):
        raise AssertionError("%s-wal left after closing the store" % opened.path)
    return opened.path


def new_dir(ctx, prefix):
    directory = tempfile.mkdtemp(prefix=prefix, dir=ctx.tmpdir)
    ctx.add_cleanup(lambda: shutil.rmtree(directory, ignore_errors=True))
    return directory


def copy_of(ctx, path, prefix):
    """A new directory holding a copy of the database at ``path`` (the file alone).

    The copy is flushed to the disk before it is used: a daemon started on
    it does not share the disk with the writeback of its 27 MB.
    """
    directory = new_dir(ctx, prefix)
    copy = os.path.join(directory, store.FILE)
    shutil.copyfile(path, copy)
    fd = os.open(copy, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    return directory


def state_dir(directory):
    return ["-state-dir", directory]


class Watch:
    """A read-only connection to a daemon's database: when a player's new state shows."""

    def __init__(self, path):
        self.connection = sqlite3.connect("file:%s?mode=ro" % urllib.parse.quote(path),
                                          uri=True, isolation_level=None)
        self.version = self._version()
        self.polls = 0

    def _version(self):
        return self.connection.execute("PRAGMA data_version").fetchone()[0]

    def wait(self, state, timeout=5.0):
        """The perf_counter of the first poll that sees the followed player ``state``."""
        deadline = time.perf_counter() + timeout
        while True:
            version = self._version()
            t = time.perf_counter()
            self.polls += 1
            if version != self.version:  # another connection committed
                self.version = version
                row = self.connection.execute("SELECT state FROM players WHERE machine_id = ?",
                                              (MACHINE_ID,)).fetchone()
                if row is not None and row[0] == state:
                    return t
            if t > deadline:
                raise TimeoutError("the daemon's database did not show state=%s within %g s"
                                   % (state, timeout))
            time.sleep(POLL_S)

    def close(self):
        self.connection.close()


def change(daemon, state, seed, watch=None):
    """Toggle ``state``; return (t posted, t state line, t committed or None, new state)."""
    event, expected = next_toggle(state)
    content_type, body = clients.webhook(event, "multipart", seed=seed)
    daemon.drain()
    t0 = time.perf_counter()
    clients.post_once(daemon.port, content_type, body)
    t_commit = watch.wait(expected) if watch is not None else None
    t1, _ = daemon.wait_state(expected, timeout=5)
    return t0, t1, t_commit, expected


class FloorWrites:
    """The bench's own scratch database: one play row INSERTed and COMMITted, timed."""

    def __init__(self, directory):
        self.store = store.open_store(directory)
        self.row = rows.play_row(playrules.Play(
            MACHINE_ID, "plex", "Office", "Plexamp", "Once in a Lifetime", "Talking Heads",
            "Once in a Lifetime: The Best Of", 259000, "6260", ("6260", "53"), time.time()))

    def insert(self):
        connection = self.store.connection
        t0 = time.perf_counter()
        connection.execute("BEGIN")
        connection.execute(rows.INSERT_PLAY, self.row)
        connection.execute("COMMIT")
        return time.perf_counter() - t0

    def close(self):
        self.store.close()


def measure_changes(with_history, without, watch, floor, n):
    """``WARM + n`` rounds: a polled change and the floor's write, then one change to each.

    The two plain changes go in turns, one daemon first, then the other;
    without also gets an untimed change so that both daemons see as many.
    """
    commit, floors, to_commit, lat_with, lat_without = [], [], [], [], []
    states = {"with": "playing", "without": "playing"}
    pair = (("with", with_history, lat_with), ("without", without, lat_without))
    for i in range(WARM + n):
        t0, t1, t_commit, states["with"] = change(with_history, states["with"], i, watch)
        _, _, _, states["without"] = change(without, states["without"], i)
        floor_s = floor.insert()
        for name, daemon, latencies in pair if i % 2 else pair[::-1]:
            w0, w1, _, states[name] = change(daemon, states[name], i)
            if i >= WARM:
                latencies.append(w1 - w0)
        if i >= WARM:
            commit.append(t_commit - t1)
            to_commit.append(t_commit - t0)
            floors.append(floor_s)
    return commit, floors, to_commit, lat_with, lat_without, states


def more_changes(with_history, without, states, count):
    """``count`` more changes to each daemon, one at a time, interleaved."""
    for i in range(count):
        _, _, _, states["with"] = change(with_history, states["with"], i)
        _, _, _, states["without"] = change(without, states["without"], i)


def floor_read(directory, what, query_string):
    """The same query in-process: a Reader of its own, as each request opens one."""
    t0 = time.perf_counter()
    query = queries.from_url(query_string, time.time())
    with Reader(directory) as reader:
        if what == "stats":
            reader.stats(query)
        else:
            reader.plays(query)
    return time.perf_counter() - t0


def measure_reads(port, directory, n):
    """``n`` timed GETs of each path (after one of each untimed), the Reader's between."""
    times = {"plays": [], "stats": [], "plays floor": [], "stats floor": []}
    answers = {}
    for i in range(n + 1):
        for what, path in (("plays", PLAYS_PATH), ("stats", STATS_PATH)):
            t0 = time.perf_counter()
            status, body = clients.http_get(port, path)
            t = time.perf_counter() - t0
            answers[what] = (status, body)
            floor_s = floor_read(directory, what, path.partition("?")[2])
            if i:
                times[what].append(t)
                times[what + " floor"].append(floor_s)
    return times, answers


def read_problems(answers, plays_at_least):
    """What looks wrong in the last answers (empty when they are what was asked)."""
    problems = []
    for what, (status, body) in sorted(answers.items()):
        if status != 200:
            problems.append("%s: status %s: %s" % (what, status, body[:200]))
            continue
        document = json.loads(body.decode("utf-8"))
        if what == "plays" and len(document.get("plays", ())) != 50:
            problems.append("plays: %d plays, not 50" % len(document.get("plays", ())))
        if what == "stats" and document["totals"]["plays"] < plays_at_least:
            problems.append("stats: totals %s, fewer than %d plays"
                            % (document["totals"], plays_at_least))
    return problems


def start_once(ctx, stub, directory, label):
    """Spawn -> listening of one daemon on ``directory``; stopped, its -wal checked."""
    daemon = None
    try:
        daemon = Daemon(stub.url, ctx.token_file, level="info", extra_args=state_dir(directory))
        seconds = daemon.wait_listening() - daemon.t_spawn
        daemon.wait_state("playing", timeout=10)
        ctx.stop_daemon(daemon, label)
        ctx.check_daemon(daemon, label)
        wal_left = os.path.exists(os.path.join(directory, store.FILE + "-wal"))
        return seconds, wal_left
    finally:
        if daemon is not None:
            daemon.close()


def measure_startup(ctx, stub, master, runs):
    """``runs`` starts on a copy of the 100,000 plays and on an empty directory, interleaved."""
    big, empty, wal_left = [], [], []
    for i in range(runs + 1):  # run 0 warms each, not counted
        order = (("big", master), ("empty", None))
        for kind, source in order if i % 2 else order[::-1]:
            if source is not None:
                directory = copy_of(ctx, source, "history-start-")
            else:
                directory = new_dir(ctx, "history-empty-")
            seconds, left = start_once(ctx, stub, directory,
                                       "history start-up (%s) run %d" % (kind, i))
            shutil.rmtree(directory, ignore_errors=True)
            if left:
                wal_left.append("%s run %d" % (kind, i))
            if i:
                (big if kind == "big" else empty).append(seconds)
    return big, empty, wal_left


@register("history")
def measure_history(ctx):
    quick = ctx.args.quick
    n = 50 if quick else 200
    total = ctx.args.rss_counts[0]  # changes to each daemon before the second RSS
    reads = 10 if quick else 30
    stub = ctx.new_stub()

    t0 = time.perf_counter()
    master = build_database(new_dir(ctx, "history-master-"))
    build_s = time.perf_counter() - t0
    size = os.path.getsize(master)

    directory = copy_of(ctx, master, "history-daemon-")
    with_history = ctx.new_daemon(stub, extra_args=state_dir(directory))
    without = ctx.new_daemon(stub, env={"STATE_DIRECTORY": ""})
    for daemon in (with_history, without):
        wait_stable(lambda: daemon.nlines, 0.5, 10)
    rss_start = (proc.rss_kib(with_history.pid), proc.rss_kib(without.pid))

    watch = Watch(os.path.join(directory, store.FILE))
    floor = FloorWrites(new_dir(ctx, "history-floor-"))
    try:
        commit, floors, to_commit, lat_with, lat_without, states = measure_changes(
            with_history, without, watch, floor, n)
    finally:
        watch.close()
        floor.close()
    sent = 2 * (WARM + n)
    if total > sent:
        more_changes(with_history, without, states, total - sent)
    sent = max(total, sent)
    for daemon in (with_history, without):
        wait_stable(lambda: daemon.nlines, 0.5, 30)
    rss_end = (proc.rss_kib(with_history.pid), proc.rss_kib(without.pid))

    times, answers = measure_reads(with_history.port, directory, reads)
    rss_read = proc.rss_kib(with_history.pid)
    problems = read_problems(answers, PLAYS)
    _, health = clients.get_json(with_history.port, "/healthz")
    history_status = (health or {}).get("history", {})
    ctx.check_daemon(with_history, "history")
    ctx.check_daemon(without, "history (without)")
    ctx.stop_daemon(with_history, "history")
    ctx.stop_daemon(without, "history (without)")
    if os.path.exists(os.path.join(directory, store.FILE + "-wal")):
        ctx.note("history: a -wal was left beside the database after SIGTERM (the next start "
                 "runs quick_check)")

    big, empty, wal_left = measure_startup(ctx, stub, master, ctx.args.startup_runs)

    ctx.note("history: %s plays built in %.1f s (%s, %s per 10,000 plays); the daemon's "
             "database is a copy of it, the floor's a scratch one in the same temporary "
             "directory (%s)" % (format(PLAYS, ","), build_s, mib(size / 1024.0),
                                 mib(size / 10240.0), ctx.tmpdir))
    ctx.note("history: %d timed changes (alternating media.pause/media.play) after %d warm-up; "
             "the change is committed when the bench's read-only connection sees PRAGMA "
             "data_version move and the player's row in the new state (polled every %g ms, "
             "%d polls); the state line is stamped when the bench reads it from the daemon's "
             "stderr pipe; state line -> committed min %s max %s; webhook -> committed median "
             "%s; floor (BEGIN, rows.INSERT_PLAY, COMMIT on a store.open_store connection) "
             "min %s max %s; /healthz says history %s" % (
                 len(commit), WARM, POLL_S * 1000, watch.polls, ms(min(commit)),
                 ms(max(commit)), ms(median(to_commit)), ms(min(floors)), ms(max(floors)),
                 history_status))
    ctx.note("history: webhook -> state line, %d webhooks each, interleaved: with -state-dir "
             "min %s max %s, without min %s max %s" % (
                 len(lat_with), ms(min(lat_with)), ms(max(lat_with)), ms(min(lat_without)),
                 ms(max(lat_without))))
    ctx.note("history: %d GETs of %s and of %s, fresh connection each, after one of each; "
             "the floor opens a Reader per query as the daemon does, without HTTP or JSON; "
             "max %s and %s; RSS with history after them %s%s" % (
                 reads, PLAYS_PATH, STATS_PATH, ms(max(times["plays"])),
                 ms(max(times["stats"])), mib(rss_read),
                 "; problems: " + "; ".join(problems) if problems else ""))
    ctx.note("history: start-up %d runs each, interleaved, after one warm-up; a fresh copy of "
             "the database (no -wal, so no quick_check) each run: %s..%s; an empty new "
             "directory (the schema created): %s..%s%s" % (
                 len(big), ms(min(big)), ms(max(big)), ms(min(empty)), ms(max(empty)),
                 "; -wal left after SIGTERM: " + ", ".join(wal_left) if wal_left else ""))

    ctx.compare("history: change -> its row committed, median (n=%d)" % len(commit),
                median(commit) * 1000, median(floors) * 1000, "ms", target=COMMIT)
    ctx.compare("  p95", p95(commit) * 1000, p95(floors) * 1000, "ms")
    ctx.compare("history: webhook -> state line, with vs without, median (n=%d)"
                % len(lat_with), median(lat_with) * 1000, median(lat_without) * 1000, "ms",
                target=UNCHANGED)
    for what, path, target in (("plays", PLAYS_PATH, PLAYS_PAGE),
                               ("stats", STATS_PATH, STATS_YEAR)):
        ctx.compare("history: GET %s, 100k plays, median (n=%d)" % (path, len(times[what])),
                    median(times[what]) * 1000, median(times[what + " floor"]) * 1000, "ms",
                    target=target, valid=not problems)
    ctx.row("history: database size per 10,000 plays", mib(size / 10240.0), "", "", CONTEXT,
            value=size / 10240.0 / 1024.0, unit="MiB")
    ctx.compare("history: start-up, 100k plays vs empty, spawn -> listening (median of %d)"
                % len(big), median(big) * 1000, median(empty) * 1000, "ms", "%.2f", "%+.1f",
                STARTUP)
    ctx.compare("history: RSS after start, with (100k plays) vs without",
                rss_start[0] / 1024.0, rss_start[1] / 1024.0, "MiB", "%.1f", "%+.1f")
    ctx.compare("history: RSS after %s changes, with vs without" % format(sent, ","),
                rss_end[0] / 1024.0, rss_end[1] / 1024.0, "MiB", "%.1f", "%+.1f", RSS_BESIDE)
