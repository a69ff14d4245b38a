"""Reading what played: a read-only connection of its own, and the queries behind
``/history``, ``/history/stats`` and ``streamerbrainz history``.

A reader never touches the writer's connection. It opens the file read-only
(``mode=ro``): it can neither change the database nor create one, and in WAL
mode it neither waits for the writer nor makes it wait. Every query runs
within ``DEADLINE`` (SQLite's progress handler interrupts it), so a reader
cannot keep an HTTP worker long. What goes wrong is a ``ReadError`` whose
text names the file and the fix.
"""

import os
import sqlite3
import time
import urllib.parse

from streamerbrainz.history import rows, store
from streamerbrainz.lib import timefmt

DEADLINE = 2.0
TOP = 20  # artists and players in the stats

PLAY_FIELDS = ("id", "started_at", "ended_at", "listened_ms", "completed", "counted",
               "ended_by", "title", "artist", "album", "duration_ms", "rating_key", "player",
               "machine_id", "source", "product")
SELECT_PLAYS = "SELECT %s FROM plays" % ", ".join(PLAY_FIELDS)


class ReadError(Exception):
    """The history cannot be read: ``kind`` is missing, unreadable, newer, corrupt or slow."""

    def __init__(self, kind, message):
        super().__init__(message)
        self.kind = kind


class Reader:
    """A read-only connection to the database in ``directory``; one thread uses it."""

    def __init__(self, directory, deadline=DEADLINE, clock=time.monotonic):
        self.path = os.path.join(directory, store.FILE)
        self.deadline = deadline
        self.clock = clock
        self._until = 0.0
        if not os.path.isfile(self.path):
            raise ReadError("missing", "%s: no history yet; the daemon keeps one when run "
                                       "with -state-dir %s" % (self.path, directory))
        try:
            self.connection = sqlite3.connect(
                "file:%s?mode=ro" % urllib.parse.quote(self.path), uri=True,
                timeout=store.BUSY_TIMEOUT_MS / 1000.0, check_same_thread=False)
        except sqlite3.Error as err:
            raise self._failure(err) from None
        self.connection.set_progress_handler(self._late, 1000)
        try:
            version = self._one("PRAGMA user_version")[0]
        except ReadError:
            self.close()
            raise
        if version > store.SCHEMA_VERSION:
            self.close()
            raise ReadError("newer", "%s: written by a newer StreamerBrainz (schema %d, this "
                                     "one knows %d); upgrade it" % (self.path, version,
                                                                   store.SCHEMA_VERSION))
        if version == 0:
            self.close()
            raise ReadError("missing", "%s: no history yet (an empty database)" % self.path)

    def close(self):
        self.connection.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def plays(self, query, counted_only=False):
        """``(plays as dicts newest first, the next page's cursor or None)`` for a Query."""
        where, args = self._where(query)
        if query.before is not None:
            where.append("id < ?")
            args.append(query.before)
        if counted_only:
            where.append("counted = 1")
        sql = SELECT_PLAYS + _clause(where) + " ORDER BY id DESC"
        if query.limit:
            sql += " LIMIT %d" % query.limit
        found = [dict(zip(PLAY_FIELDS, row)) for row in self._all(sql, args)]
        more = query.limit and len(found) == query.limit
        return found, (found[-1]["id"] if more else None)

    def stats(self, query):
        """Plays, counted plays and listening time in all, per day, per artist, per player.

        Each grouping reads one index in its own order (``plays_by_day``,
        ``plays_by_artist``, ``plays_by_player``): no sorting of the plays.
        """
        where, args = self._where(query)
        sums = "count(*), coalesce(sum(counted), 0), coalesce(sum(listened_ms), 0)"
        day_where, day_args = list(where), list(args)
        if query.since is not None:
            day_where.append("day >= ?")
            day_args.append(rows.local_day(query.since))
        days = self._all("SELECT day, %s FROM plays%s GROUP BY day ORDER BY day"
                         % (sums, _clause(day_where)), day_args)
        artists = self._all("SELECT artist, %s FROM plays%s GROUP BY artist "
                            "ORDER BY 4 DESC, 2 DESC LIMIT %d" % (sums, _clause(where), TOP),
                            args)
        players = self._all("SELECT machine_id, max(player), %s FROM plays%s GROUP BY "
                            "machine_id ORDER BY 5 DESC, 3 DESC LIMIT %d"
                            % (sums, _clause(where), TOP), args)
        return {
            "since": timefmt.iso(query.since), "until": timefmt.iso(query.until),
            "totals": _sums([sum(row[i] for row in days) for i in (1, 2, 3)]),
            "days": [dict(day=row[0], **_sums(row[1:])) for row in days],
            "artists": [dict(artist=row[0], **_sums(row[1:])) for row in artists],
            "players": [dict(machine_id=row[0], player=row[1], **_sums(row[2:]))
                        for row in players],
        }

    @staticmethod
    def _where(query):
        where, args = [], []
        if query.player:
            where.append("(machine_id = ? OR player = ?)")
            args += [query.player, query.player]
        if query.since is not None:
            where.append("started_at >= ?")
            args.append(query.since)
        if query.until is not None:
            where.append("started_at < ?")
            args.append(query.until)
        return where, args

    def _one(self, sql, args=()):
        return self._run(lambda: self.connection.execute(sql, args).fetchone())

    def _all(self, sql, args=()):
        return self._run(lambda: self.connection.execute(sql, args).fetchall())

    def _run(self, work):
        self._until = self.clock() + self.deadline
        try:
            return work()
        except sqlite3.Error as err:
            raise self._failure(err) from None

    def _late(self):
        return self.clock() > self._until  # true interrupts the query

    def _failure(self, err):
        text = str(err)
        if "interrupted" in text:
            return ReadError("slow", "%s: the query took over %g s; ask for a shorter range"
                             % (self.path, self.deadline))
        if "unable to open" in text or "readonly" in text or "locked" in text:
            return ReadError("unreadable", "%s: cannot read (%s); run as the daemon's user, "
                                           "or give -state-dir" % (self.path, text))
        return ReadError("corrupt", "%s: cannot read the history (%s)" % (self.path, text))


def play_json(play):
    """A play as ``/history`` answers it: times in ISO 8601, flags as booleans."""
    return dict(play, started_at=timefmt.iso(play["started_at"]),
                ended_at=timefmt.iso(play["ended_at"]) if play["ended_at"] else None,
                completed=bool(play["completed"]), counted=bool(play["counted"]))


def _clause(where):
    return " WHERE " + " AND ".join(where) if where else ""


def _sums(row):
    return {"plays": row[0], "counted": row[1], "listened_ms": row[2]}
