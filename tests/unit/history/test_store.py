"""The database file: created and migrated once, locked against a second daemon, refused
with one clear line when it is newer, damaged or cannot be written."""

import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import unittest

from streamerbrainz.history import store
from streamerbrainz.history.store import StoreError
from tests.support.daemon import REPO_ROOT, clean_env


class StoreCase(unittest.TestCase):

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="sb-state-")
        self.path = os.path.join(self.dir, store.FILE)

    def open(self, **kwargs):
        opened = store.open_store(self.dir, **kwargs)
        self.addCleanup(opened.close)
        return opened

    def refused(self, kind, **kwargs):
        with self.assertRaises(StoreError) as caught:
            store.open_store(self.dir, **kwargs)
        self.assertEqual(caught.exception.kind, kind)
        self.assertNotIn("\n", str(caught.exception))
        return str(caught.exception)


class OpenTest(StoreCase):

    def test_a_new_directory_gets_the_schema_in_wal_mode(self):
        opened = self.open()
        connection = opened.connection
        self.assertEqual(connection.execute("PRAGMA user_version").fetchone()[0],
                         store.SCHEMA_VERSION)
        self.assertEqual(connection.execute("PRAGMA journal_mode").fetchone()[0], "wal")
        tables = {row[0] for row in connection.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table'")}
        self.assertLessEqual({"players", "volume", "plays"}, tables)

    def test_each_migration_runs_once(self):
        self.open().close()
        steps = store.MIGRATIONS + (("CREATE TABLE extra (x INTEGER)",),)
        again = self.open(migrations=steps)
        self.assertEqual(again.connection.execute("PRAGMA user_version").fetchone()[0],
                         len(steps))
        again.close()
        self.open(migrations=steps)  # nothing left to run: no "table exists" error

    def test_a_migration_that_fails_leaves_the_file_as_it_was(self):
        self.open().close()
        steps = store.MIGRATIONS + (("CREATE TABLE half (x INTEGER)", "NOT SQL AT ALL"),)
        self.assertIn("not a StreamerBrainz database", self.refused("corrupt",
                                                                    migrations=steps))
        connection = sqlite3.connect(self.path)
        self.addCleanup(connection.close)
        self.assertEqual(connection.execute("PRAGMA user_version").fetchone()[0],
                         store.SCHEMA_VERSION)
        self.assertEqual(connection.execute(
            "SELECT count(*) FROM sqlite_master WHERE name = 'half'").fetchone()[0], 0)


class CloseTest(StoreCase):

    def test_a_clean_close_empties_the_wal_even_beside_a_reader(self):
        opened = self.open()
        opened.connection.execute("INSERT INTO volume (name, value, updated_at) "
                                  "VALUES ('x', 'y', 0)")
        reader = sqlite3.connect("file:%s?mode=ro" % self.path, uri=True)
        self.addCleanup(reader.close)
        self.assertEqual(reader.execute("SELECT value FROM volume").fetchall(), [("y",)])
        self.assertGreater(os.path.getsize(self.path + "-wal"), 0)
        opened.close()
        self.assertEqual(os.path.getsize(self.path + "-wal"), 0)


class UpgradeTest(StoreCase):

    def test_plays_of_the_first_schema_get_their_local_day(self):
        first = self.open(migrations=store.MIGRATIONS[:1])
        started = 1764806400.0  # 2025-12-04 00:00 UTC
        first.connection.execute(
            "INSERT INTO plays (machine_id, source, player, product, title, artist, album, "
            "duration_ms, rating_key, started_at) VALUES ('m', 'plex', 'p', 'Plexamp', 't', "
            "'a', 'b', 1, '1', ?)", (started,))
        first.close()
        connection = self.open().connection
        self.assertEqual(connection.execute("PRAGMA user_version").fetchone()[0], 2)
        self.assertEqual(connection.execute("SELECT day FROM plays").fetchone()[0],
                         time.strftime("%Y-%m-%d", time.localtime(started)))


class RefusedTest(StoreCase):

    def test_a_second_daemon_is_kept_out_until_the_first_closes(self):
        first = store.open_store(self.dir)
        message = self.refused("locked")
        self.assertEqual(message, "%s: another StreamerBrainz uses it; give each daemon its "
                                  "own -state-dir" % self.path)
        first.close()
        self.open()

    def test_the_lock_goes_with_a_holder_killed_by_sigkill(self):
        code = ("import sys, time\nfrom streamerbrainz.history import store\n"
                "store.open_store(sys.argv[1])\nprint('open', flush=True)\ntime.sleep(60)\n")
        holder = subprocess.Popen([sys.executable, "-c", code, self.dir], cwd=REPO_ROOT,
                                  env=clean_env(), stdout=subprocess.PIPE)
        self.addCleanup(holder.wait)
        self.addCleanup(holder.stdout.close)
        self.assertEqual(holder.stdout.readline(), b"open\n")
        self.refused("locked")
        holder.send_signal(signal.SIGKILL)
        holder.wait()
        self.open()

    def test_a_database_from_a_newer_version_is_refused_with_both_versions(self):
        connection = sqlite3.connect(self.path)
        connection.execute("PRAGMA user_version = 99")
        connection.close()
        self.assertEqual(self.refused("newer"),
                         "%s: written by a newer StreamerBrainz (schema 99, this one knows "
                         "%d); upgrade, or move the file away" % (self.path,
                                                                   store.SCHEMA_VERSION))

    def test_a_file_that_is_no_database_is_refused(self):
        with open(self.path, "wb") as handle:
            handle.write(b"this is not sqlite, it is a shopping list\n" * 100)
        message = self.refused("corrupt")
        self.assertTrue(message.startswith("%s: not a StreamerBrainz database" % self.path),
                        message)
        self.assertTrue(message.endswith("move it away and StreamerBrainz starts a new one"))

    def test_a_damaged_database_is_refused_as_damaged(self):
        self.open().close()
        with open(self.path, "r+b") as handle:  # keep the header, scribble over the pages
            handle.seek(100)
            handle.write(b"\xff" * 8000)
        self.assertEqual(self.refused("corrupt").split(": ")[0], self.path)

    def test_after_a_run_that_did_not_close_it_a_damaged_page_is_found_at_start(self):
        opened = self.open()
        opened.connection.executemany(
            "INSERT INTO volume (name, value, updated_at) VALUES (?, ?, 0)",
            (("n%d" % i, "x" * 500) for i in range(200)))
        opened.close()
        size = os.path.getsize(self.path)
        with open(self.path, "r+b") as handle:  # a page in the middle, not the header
            handle.seek(size // 2)
            handle.write(b"\xff" * 4096)
        with open(self.path + "-wal", "wb") as handle:  # what a power cut leaves beside it
            handle.write(b"\0" * 32)
        message = self.refused("corrupt")
        self.assertTrue(message.startswith("%s: the database is damaged" % self.path), message)
        self.assertTrue(message.endswith("move it away and StreamerBrainz starts a new one"))

    def test_a_state_dir_that_cannot_be_written_is_refused(self):
        blocker = os.path.join(self.dir, "not-a-directory")
        with open(blocker, "w") as handle:
            handle.write("x")
        with self.assertRaises(StoreError) as caught:
            store.open_store(blocker)
        self.assertEqual(caught.exception.kind, "unwritable")
        self.assertIn("check -state-dir's owner, mode and free space", str(caught.exception))


if __name__ == "__main__":
    unittest.main()
