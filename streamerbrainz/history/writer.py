"""The history writer: each change into the database, on a thread of its own.

As a listener (main thread) it only puts the change on a bounded queue:
the main loop never waits for the disk. Its thread owns the ``Store``
(handed over once, before ``start``): it keeps each player's last state,
opens a play row when a track starts and closes it when the play ends
(``history.plays``), commits what one wake-up found in one transaction,
and prunes plays older than ``-history-days`` once a day, a few hundred
rows per transaction so that no write waits long behind it. A write that
fails (a full disk) is one ERROR line (repeats counted) and the daemon goes
on; ``status`` says so for ``/healthz``.

Thread ownership: ``_open`` (machine id to its play under way and its row
id) and the store are the writer thread's; ``_dropped`` is counted by the
main thread and read by the writer under ``_lock``; ``status`` is replaced
whole by the writer and read by any thread.
"""

import queue
import sqlite3
import threading
import time

from streamerbrainz.core.listener import Listener
from streamerbrainz.history import plays, rows
from streamerbrainz.history import store as stores
from streamerbrainz.lib.log import get_logger
from streamerbrainz.lib.repeats import FailureLog
from streamerbrainz.lib.service import ThreadService

log = get_logger(__name__)

QUEUE_SIZE = 1024
PRUNE_EVERY = 86400.0
PRUNE_BATCH = 500
STOP = object()


def open_writer(directory, days):
    """``(writer, the players' last states, what CamillaDSP held)`` for ``directory``.

    Opens the database (``store.open_store``), reads what the last run
    left and resumes its open plays; any failure is a ``StoreError``.
    """
    opened = stores.open_store(directory)
    try:
        now = time.monotonic()
        connection = opened.connection
        known = {}
        for row in connection.execute(rows.SELECT_PLAYERS + " WHERE source = 'plex'"):
            state = rows.player_state(row, now)
            known[state.machine_id] = state
        volume = connection.execute(
            "SELECT value FROM volume WHERE name = 'camilladsp'").fetchone()
        writer = HistoryWriter(opened, days)
        writer.resume(known)
    except sqlite3.Error as err:
        opened.close()
        raise stores.classify(opened.path, err) from None
    except BaseException:
        opened.close()
        raise
    return writer, known, volume[0] if volume is not None else None


class HistoryWriter(ThreadService, Listener):
    """Writes changes to ``store`` (an open ``history.store.Store``), keeping ``days`` of plays."""

    name = "history"

    def __init__(self, store, days, wall=time.time, clock=time.monotonic):
        ThreadService.__init__(self)
        self.store = store
        self.days = days
        self.wall = wall
        self.clock = clock
        self.inbox = queue.Queue(QUEUE_SIZE)
        self.status = {"enabled": True, "path": store.path, "error": "", "writes": 0}
        self._open = {}
        self._lock = threading.Lock()
        self._dropped = 0
        self._failures = FailureLog(log)
        self._prune_at = clock()

    # -- the listener (main thread) --------------------------------------------

    def state_changed(self, change):
        self._put(("change", change, self.wall()))

    def players_idle(self, last):
        self._put(("idle", None, self.wall()))

    def remember_volume(self, text):
        """Keep what CamillaDSP's service holds down (any thread): the last one wins."""
        self._put(("volume", text, self.wall()))

    def _put(self, item):
        try:
            self.inbox.put_nowait(item)
        except queue.Full:
            with self._lock:
                self._dropped += 1

    # -- the service -------------------------------------------------------------

    def resume(self, states):
        """Plays left open by the last run: kept when their player still plays that track.

        ``states`` are the players' states loaded at start. Called before ``start``.
        """
        connection = self.store.connection
        now = self.wall()
        for row in connection.execute(rows.SELECT_OPEN).fetchall():
            state = states.get(row[1])
            playing = state is not None and state.state == plays.PLAYING
            row_id, play = rows.open_play(row, now if playing else None)
            if state is not None and state.track.identity() == play.identity:
                self._open[play.machine_id] = (play, row_id)
            else:
                connection.execute(rows.UPDATE_PLAY,
                                   rows.play_update(plays.restart(play, now), row_id))

    def wake(self):
        try:
            self.inbox.put_nowait(STOP)
        except queue.Full:
            pass  # the thread has work queued, so it wakes and sees stopping

    def run(self):
        try:
            while True:
                batch = self._next_batch()
                if batch is None:
                    return
                try:
                    self._write(batch)
                except Exception:
                    log.exception("history writer failed; carrying on")
        finally:
            self.store.close()

    def _next_batch(self):
        timeout = max(0.0, self._prune_at - self.clock())
        try:
            batch = [self.inbox.get(timeout=timeout)]
        except queue.Empty:
            batch = []
        while True:
            try:
                batch.append(self.inbox.get_nowait())
            except queue.Empty:
                break
        stopping = self.stopping.is_set() or any(item is STOP for item in batch)
        batch = [item for item in batch if item is not STOP]
        if stopping:
            if batch:
                self._write(batch)  # what was queued before the stop is kept
            return None
        return batch

    def _write(self, batch):
        with self._lock:
            dropped, self._dropped = self._dropped, 0
        if dropped:
            log.warn("history: changes dropped, the writer fell behind", dropped=dropped)
        connection = self.store.connection
        try:
            connection.execute("BEGIN")
            for kind, change, at in batch:
                if kind == "change":
                    self._change(connection, change, at)
                elif kind == "volume":
                    connection.execute("INSERT OR REPLACE INTO volume (name, value, updated_at) "
                                       "VALUES ('camilladsp', ?, ?)", (change, at))
                else:
                    self._idle(connection, at)
            connection.execute("COMMIT")
        except sqlite3.Error as err:
            self._rollback(connection)
            self._failed(err)
            return
        self.status = dict(self.status, writes=self.status["writes"] + len(batch), error="")
        self._failures.recovered("history writes again", path=self.store.path)
        if self.clock() >= self._prune_at:
            self._prune(connection)

    def _change(self, connection, change, at):
        connection.execute(rows.UPSERT_PLAYER, rows.player_row(change, at))
        play, row_id = self._open.pop(change.machine_id, (None, None))
        ended, now = plays.advance(play, change, at)
        if ended is not None:
            connection.execute(rows.UPDATE_PLAY, rows.play_update(ended, row_id))
        if now is None:
            return
        if now.started_at != (play.started_at if play is not None else None) or ended:
            row_id = connection.execute(rows.INSERT_PLAY, rows.play_row(now)).lastrowid
        elif now.listened_ms != play.listened_ms:
            connection.execute(rows.UPDATE_PLAY, rows.play_update(now, row_id))
        self._open[change.machine_id] = (now, row_id)

    def _idle(self, connection, at):
        for machine_id, (play, row_id) in list(self._open.items()):
            ended, _ = plays.idle(play, at)
            if ended is not None:
                connection.execute(rows.UPDATE_PLAY, rows.play_update(ended, row_id))
                del self._open[machine_id]

    def _prune(self, connection):
        """Delete plays older than ``days``, a batch per transaction."""
        self._prune_at = self.clock() + PRUNE_EVERY
        before = self.wall() - self.days * 86400.0
        deleted = 0
        try:
            while not self.stopping.is_set():
                cursor = connection.execute(
                    "DELETE FROM plays WHERE id IN (SELECT id FROM plays WHERE started_at < ? "
                    "AND ended_at IS NOT NULL LIMIT %d)" % PRUNE_BATCH, (before,))
                deleted += cursor.rowcount
                if cursor.rowcount < PRUNE_BATCH:
                    break
        except sqlite3.Error as err:
            self._failed(err)
            return
        if deleted:
            log.info("history pruned", plays=deleted, days=self.days)

    def _rollback(self, connection):
        try:
            connection.execute("ROLLBACK")
        except sqlite3.Error:
            pass

    def _failed(self, err):
        fields = {}
        if any(words in str(err) for words in ("disk I/O", "full", "readonly")):
            fields["fix"] = "check the disk's free space and health"
        self._failures.failed("write", self.clock(), "history write failed; the daemon goes on "
                              "without it", level="error", path=self.store.path,
                              error=str(err), **fields)
        self.status = dict(self.status, error=str(err))
