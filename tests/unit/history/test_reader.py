"""Reading the history back: pages newest first, filters, the stats, and a reader that can
neither change the database nor be held up by it."""

import os
import sqlite3
import tempfile
import time
import unittest

from streamerbrainz.history import query as queries
from streamerbrainz.history import rows, store as stores
from streamerbrainz.history.reader import Reader, ReadError, play_json

DAY = 86400.0
NOW = time.mktime((2026, 12, 3, 12, 0, 0, 0, 0, -1))  # local noon


def add_plays(directory, plays):
    """Rows as the writer leaves them: ``plays`` are dicts of the columns that differ."""
    opened = stores.open_store(directory)
    try:
        for play in plays:
            values = dict(dict(machine_id="pi", source="plex", player="Office",
                               product="Plexamp", title="Song", artist="Artist", album="Album",
                               duration_ms=200_000, rating_key="1", listened_ms=200_000,
                               counted=1, completed=1, ended_by="track change"), **play)
            values.setdefault("ended_at", values["started_at"] + values["listened_ms"] / 1000)
            values["day"] = rows.local_day(values["started_at"])
            names = sorted(values)
            opened.connection.execute(
                "INSERT INTO plays (%s) VALUES (%s)" % (", ".join(names), ", ".join("?" * len(
                    names))), [values[name] for name in names])
    finally:
        opened.close()


class ReaderCase(unittest.TestCase):

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="sb-reader-")

    def reader(self, **kwargs):
        reader = Reader(self.dir, **kwargs)
        self.addCleanup(reader.close)
        return reader

    def query(self, text=""):
        return queries.from_url(text, NOW)


class PlaysTest(ReaderCase):

    def setUp(self):
        super().setUp()
        add_plays(self.dir, [dict(started_at=NOW - 3600 * (10 - i), title="Song %d" % i,
                                  machine_id="pi" if i % 2 else "kitchen",
                                  player="Office" if i % 2 else "Kitchen")
                             for i in range(10)])

    def titles(self, text):
        found, more = self.reader().plays(self.query(text))
        return [play["title"] for play in found], more

    def test_newest_first_with_a_cursor_for_the_next_page(self):
        titles, more = self.titles("limit=3")
        self.assertEqual(titles, ["Song 9", "Song 8", "Song 7"])
        self.assertEqual(self.titles("limit=3&before=%d" % more)[0],
                         ["Song 6", "Song 5", "Song 4"])
        self.assertEqual(self.titles("limit=20"), (["Song %d" % i for i in range(9, -1, -1)],
                                                   None))

    def test_a_player_by_its_name_or_its_machine_identifier(self):
        self.assertEqual(self.titles("player=Kitchen")[0], ["Song 8", "Song 6", "Song 4",
                                                            "Song 2", "Song 0"])
        self.assertEqual(self.titles("player=pi&limit=2")[0], ["Song 9", "Song 7"])

    def test_since_and_until(self):
        self.assertEqual(self.titles("since=150m")[0], ["Song 9", "Song 8"])
        self.assertEqual(self.titles("since=5h&until=3h")[0], ["Song 6", "Song 5"])

    def test_the_json_of_a_play_and_of_one_under_way(self):
        add_plays(self.dir, [dict(started_at=NOW, title="Now", ended_at=None, ended_by="",
                                  counted=0, completed=0, listened_ms=5000)])
        found, _ = self.reader().plays(self.query("limit=2"))
        now = play_json(found[0])
        self.assertEqual((now["title"], now["ended_at"], now["counted"], now["listened_ms"]),
                         ("Now", None, False, 5000))
        self.assertTrue(now["started_at"].startswith("2026-12-03T12:00:00.000"),
                        now["started_at"])
        self.assertIs(play_json(found[1])["completed"], True)


class StatsTest(ReaderCase):

    def test_per_day_artist_and_player_with_totals(self):
        add_plays(self.dir, [
            dict(started_at=NOW - DAY, artist="A", listened_ms=100_000),
            dict(started_at=NOW - DAY + 200, artist="B", listened_ms=10_000, counted=0),
            dict(started_at=NOW, artist="B", listened_ms=120_000, machine_id="kitchen",
                 player="Kitchen"),
            dict(started_at=NOW - 40 * DAY, artist="Old", listened_ms=999_000),
        ])
        stats = self.reader().stats(self.query("since=7d"))
        self.assertEqual(stats["totals"], {"plays": 3, "counted": 2, "listened_ms": 230_000})
        self.assertEqual(stats["days"], [
            {"day": "2026-12-02", "plays": 2, "counted": 1, "listened_ms": 110_000},
            {"day": "2026-12-03", "plays": 1, "counted": 1, "listened_ms": 120_000}])
        self.assertEqual([(a["artist"], a["listened_ms"]) for a in stats["artists"]],
                         [("B", 130_000), ("A", 100_000)])
        self.assertEqual([(p["player"], p["plays"]) for p in stats["players"]],
                         [("Kitchen", 1), ("Office", 2)])  # most listened first

    def test_each_grouping_reads_its_index_without_sorting_the_plays(self):
        add_plays(self.dir, [dict(started_at=NOW)])
        reader = self.reader()
        seen = []
        execute = reader.connection.execute

        class Spy:
            def execute(self, sql, args=()):
                if sql.startswith("SELECT") and "GROUP BY" in sql:
                    seen.append(" ".join(row[3] for row in execute("EXPLAIN QUERY PLAN " + sql,
                                                                   args)))
                return execute(sql, args)
        connection, reader.connection = reader.connection, Spy()
        try:
            reader.stats(self.query("since=365d"))
        finally:
            reader.connection = connection
        self.assertEqual(len(seen), 3)
        for plan, index in zip(seen, ("plays_by_day", "plays_by_artist", "plays_by_player")):
            self.assertIn("COVERING INDEX " + index, plan)
            self.assertNotIn("FOR GROUP BY", plan)


class ReadOnlyTest(ReaderCase):

    def test_no_database_is_one_line_and_creates_nothing(self):
        with self.assertRaises(ReadError) as caught:
            Reader(self.dir)
        self.assertEqual(caught.exception.kind, "missing")
        self.assertEqual(str(caught.exception), "%s: no history yet; the daemon keeps one when "
                         "run with -state-dir %s" % (os.path.join(self.dir, stores.FILE),
                                                     self.dir))
        self.assertEqual(os.listdir(self.dir), [])

    def test_a_reader_cannot_write(self):
        add_plays(self.dir, [dict(started_at=NOW)])
        with self.assertRaises(sqlite3.OperationalError) as caught:
            self.reader().connection.execute("DELETE FROM plays")
        self.assertIn("readonly", str(caught.exception))

    def test_a_reader_reads_while_the_writer_holds_a_transaction(self):
        add_plays(self.dir, [dict(started_at=NOW, title="Kept")])
        writer = stores.open_store(self.dir)
        self.addCleanup(writer.close)
        writer.connection.execute("BEGIN IMMEDIATE")
        writer.connection.execute("DELETE FROM plays")
        started = time.monotonic()
        found, _ = self.reader().plays(self.query())
        self.assertLess(time.monotonic() - started, stores.BUSY_TIMEOUT_MS / 1000.0)
        self.assertEqual([play["title"] for play in found], ["Kept"])
        writer.connection.execute("ROLLBACK")

    def test_a_newer_schema_is_refused_with_both_versions(self):
        connection = sqlite3.connect(os.path.join(self.dir, stores.FILE))
        connection.execute("PRAGMA user_version = 99")
        connection.close()
        with self.assertRaises(ReadError) as caught:
            Reader(self.dir)
        self.assertEqual(caught.exception.kind, "newer")
        self.assertIn("(schema 99, this one knows %d)" % stores.SCHEMA_VERSION,
                      str(caught.exception))

    def test_a_query_past_its_deadline_is_interrupted(self):
        add_plays(self.dir, [dict(started_at=NOW + i) for i in range(300)])
        ticks = iter(range(0, 10 ** 6, 10))
        reader = self.reader(deadline=5.0, clock=lambda: next(ticks))
        with self.assertRaises(ReadError) as caught:
            reader.stats(self.query("since=365d"))
        self.assertEqual(caught.exception.kind, "slow")
        self.assertIn("took over 5 s", str(caught.exception))


if __name__ == "__main__":
    unittest.main()
