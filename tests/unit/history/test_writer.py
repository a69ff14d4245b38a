"""The history writer beside a real database file: rows for changes, faults survived."""

import os
import sqlite3
import tempfile
import time
import unittest

from streamerbrainz.core.tracker import PlayerState
from streamerbrainz.core.track import Track
from streamerbrainz.history import store as stores
from streamerbrainz.history.writer import HistoryWriter, open_writer
from tests.support import model
from tests.support.daemon import wait_for
from tests.support.logs import captured

T0 = 1_764_000_000.0


def change(state, rating_key="6260", previous="stopped"):
    return model.change(machine_id="pi", state=state, previous_state=previous, player="Office",
                        product="Plexamp", title="Song %s" % rating_key, artist="Artist",
                        album="Album", duration_ms=200_000, rating_key=rating_key,
                        session_key="53", at=T0)


class Wall:
    def __init__(self):
        self.now = T0

    def __call__(self):
        return self.now


class WriterCase(unittest.TestCase):

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="sb-writer-")
        self.wall = Wall()
        manager = captured()
        self.logs = manager.__enter__()
        self.addCleanup(manager.__exit__, None, None, None)

    def writer(self, days=365, start=True):
        writer = HistoryWriter(stores.open_store(self.dir), days, wall=self.wall)
        if start:
            writer.start()
            self.addCleanup(writer.stop, time.monotonic() + 2)
        return writer

    def tell(self, writer, *steps):
        for seconds, item in steps:
            self.wall.now = T0 + seconds
            writer.state_changed(item)

    def finish(self, writer):
        """Stop the writer; the database reopened, as the next daemon would (its Store)."""
        self.assertTrue(writer.stop(time.monotonic() + 2))
        reader = stores.open_store(self.dir)
        self.addCleanup(reader.close)
        return reader

    def test_plays_and_the_last_state_are_rows(self):
        writer = self.writer()
        self.tell(writer, (0, change("playing")), (60, change("paused", previous="playing")),
                  (90, change("playing", previous="paused")),
                  (150, change("playing", rating_key="6261")),
                  (160, change("stopped", rating_key="6261")))
        db = self.finish(writer).connection
        self.assertEqual(db.execute("SELECT title, listened_ms, ended_by, counted FROM plays "
                                    "ORDER BY id").fetchall(),
                         [("Song 6260", 120_000, "track change", 1),
                          ("Song 6261", 10_000, "stop", 0)])
        self.assertEqual(db.execute("SELECT machine_id, state, title FROM players").fetchall(),
                         [("pi", "stopped", "Song 6261")])
        self.assertEqual(writer.status["error"], "")

    def test_idle_ends_a_paused_play(self):
        writer = self.writer()
        self.tell(writer, (0, change("playing")), (40, change("paused", previous="playing")))
        self.wall.now = T0 + 400
        writer.players_idle(None)
        db = self.finish(writer).connection
        self.assertEqual(db.execute("SELECT ended_by, listened_ms FROM plays").fetchall(),
                         [("pause then idle", 40_000)])

    def test_a_play_left_open_goes_on_if_its_track_still_plays_else_ends_at_restart(self):
        writer = self.writer()
        self.tell(writer, (0, change("playing")))
        self.finish(writer).close()  # the lock goes with it
        still = {"pi": PlayerState(machine_id="pi", state="playing", player="Office",
                                   track=Track(title="Song 6260", rating_key="6260",
                                               session_key="53"))}
        again = HistoryWriter(stores.open_store(self.dir), 365, wall=self.wall)
        again.resume(still)
        self.assertEqual(list(again._open), ["pi"])
        again.store.close()
        other = HistoryWriter(stores.open_store(self.dir), 365, wall=self.wall)
        other.resume({})
        self.assertEqual(other._open, {})
        rows = other.store.connection.execute("SELECT ended_by FROM plays").fetchall()
        other.store.close()
        self.assertEqual(rows, [("restart",)])

    def test_a_failed_write_is_one_error_and_the_writer_goes_on(self):
        writer = self.writer(start=False)
        writer.store.connection.execute("DROP TABLE players")
        writer.start()
        self.addCleanup(writer.stop, time.monotonic() + 2)
        self.tell(writer, (0, change("playing")), (1, change("paused", previous="playing")))
        self.assertTrue(self._wait(lambda: writer.status["error"]))
        self.assertIn("no such table: players", writer.status["error"])
        self.assertEqual(len(self.logs.find("history write failed; the daemon goes on without "
                                            "it", "ERROR")), 1)
        self.assertTrue(writer.alive())

    def test_changes_beyond_the_queue_are_dropped_and_counted(self):
        writer = self.writer(start=False)
        for i in range(writer.inbox.maxsize + 7):
            writer.state_changed(change("playing", rating_key=str(i)))
        writer.start()
        self.addCleanup(writer.stop, time.monotonic() + 2)
        self.assertTrue(self._wait(lambda: self.logs.find("history: changes dropped, the "
                                                          "writer fell behind")))
        self.assertEqual(self.logs.find("history: changes dropped, the writer fell behind"),
                         [{"dropped": 7}])

    def test_plays_older_than_the_days_kept_are_pruned(self):
        writer = self.writer(days=1, start=False)
        db = writer.store.connection
        for started in (T0 - 3 * 86400, T0 - 2 * 86400, T0 - 3600):
            db.execute("INSERT INTO plays (machine_id, source, player, product, title, artist, "
                       "album, duration_ms, rating_key, started_at, ended_at) VALUES "
                       "('pi', 'plex', 'Office', 'Plexamp', 't', 'a', 'b', 1, 'k', ?, ?)",
                       (started, started + 10))
        writer._prune(db)
        self.assertEqual(db.execute("SELECT count(*) FROM plays").fetchone()[0], 1)
        self.assertEqual(self.logs.find("history pruned"), [{"plays": 2, "days": 1}])
        writer.store.close()

    def _wait(self, predicate, timeout=5.0):
        return wait_for(predicate, timeout)


class OpenWriterTest(unittest.TestCase):

    def test_a_database_that_fails_at_its_first_read_is_a_store_error_and_unlocked(self):
        directory = tempfile.mkdtemp(prefix="sb-writer-")
        connection = sqlite3.connect(os.path.join(directory, stores.FILE))
        connection.execute("PRAGMA user_version = %d" % stores.SCHEMA_VERSION)  # no tables
        connection.close()
        with self.assertRaises(stores.StoreError) as caught:
            open_writer(directory, 365)
        self.assertEqual(caught.exception.kind, "corrupt")
        self.assertIn("not a StreamerBrainz database (no such table: players)",
                      str(caught.exception))
        stores.open_store(directory).close()  # the lock was let go


if __name__ == "__main__":
    unittest.main()
