"""The database in ``-state-dir``: opened, locked, migrated; every failure one clear line.

One file, ``streamerbrainz.sqlite3``, in WAL mode with ``synchronous=NORMAL``
(a power cut loses at most the last commits, never the file) and a busy
timeout; after a run that did not close it, ``quick_check`` first. ``PRAGMA user_version`` says which schema it holds: each step of
``MIGRATIONS`` runs once, in order, in its own transaction, and a file
written by a newer StreamerBrainz is refused. A lock file beside it keeps a
second daemon out (``flock``: the kernel lets go when the holder dies, even
by ``kill -9``). What can go wrong is a ``StoreError`` whose text names the
file and the fix. ``app.parts`` opens it at start (with ``-state-dir``).
"""

import errno
import fcntl
import os
import sqlite3

FILE = "streamerbrainz.sqlite3"
BUSY_TIMEOUT_MS = 2000
CACHE_KIB = 256

# One list of statements per schema version; never change a step once released.
MIGRATIONS = (
    (
        """CREATE TABLE players (
            machine_id TEXT PRIMARY KEY, source TEXT NOT NULL, state TEXT NOT NULL,
            title TEXT NOT NULL, artist TEXT NOT NULL, album TEXT NOT NULL,
            duration_ms INTEGER NOT NULL, position_ms INTEGER NOT NULL,
            rating_key TEXT NOT NULL, session_key TEXT NOT NULL, media_type TEXT NOT NULL,
            player TEXT NOT NULL, product TEXT NOT NULL,
            since REAL NOT NULL, updated_at REAL NOT NULL)""",
        """CREATE TABLE volume (
            name TEXT PRIMARY KEY, value TEXT NOT NULL, updated_at REAL NOT NULL)""",
        """CREATE TABLE plays (
            id INTEGER PRIMARY KEY, machine_id TEXT NOT NULL, source TEXT NOT NULL,
            player TEXT NOT NULL, product TEXT NOT NULL, title TEXT NOT NULL,
            artist TEXT NOT NULL, album TEXT NOT NULL, duration_ms INTEGER NOT NULL,
            rating_key TEXT NOT NULL, started_at REAL NOT NULL, ended_at REAL,
            listened_ms INTEGER NOT NULL DEFAULT 0, completed INTEGER NOT NULL DEFAULT 0,
            counted INTEGER NOT NULL DEFAULT 0, ended_by TEXT NOT NULL DEFAULT '')""",
        "CREATE INDEX plays_by_start ON plays (started_at)",
        "CREATE INDEX plays_by_player ON plays (machine_id, started_at)",
    ),
    (
        # The local day of each play, and indexes that answer /history/stats
        # from the index alone, in the order of its groups; open plays found
        # at start without reading the others.
        "ALTER TABLE plays ADD COLUMN day TEXT NOT NULL DEFAULT ''",
        "UPDATE plays SET day = date(started_at, 'unixepoch', 'localtime')",
        "DROP INDEX plays_by_player",
        "CREATE INDEX plays_by_player ON plays (machine_id, started_at, counted, listened_ms, "
        "player)",
        "CREATE INDEX plays_by_day ON plays (day, started_at, counted, listened_ms)",
        "CREATE INDEX plays_by_artist ON plays (artist, started_at, counted, listened_ms)",
        "CREATE INDEX plays_open ON plays (id) WHERE ended_at IS NULL",
    ),
)
SCHEMA_VERSION = len(MIGRATIONS)


class StoreError(Exception):
    """The database cannot be used: ``kind`` is locked, newer, corrupt or unwritable."""

    def __init__(self, kind, message):
        super().__init__(message)
        self.kind = kind


class Store:
    """An open, locked, migrated database; one thread at a time uses ``connection``."""

    def __init__(self, path, connection, lock):
        self.path = path
        self.connection = connection
        self._lock = lock

    def close(self):
        """Close the connection, then let go of the lock; a second call does nothing.

        The WAL is emptied first, even when a reader still has the file open,
        so that the next start knows this one ended cleanly.
        """
        lock, self._lock = self._lock, None
        if lock is None:
            return
        try:
            try:
                self.connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            except sqlite3.Error:
                pass  # a reader mid-query, a full disk: the next start checks the file
            self.connection.close()
        finally:
            os.close(lock)  # the lock goes with its file descriptor


def open_store(directory, migrations=MIGRATIONS):
    """Open (creating and migrating) the database in ``directory``; StoreError on failure."""
    path = os.path.join(directory, FILE)
    lock = _lock(path)
    try:
        # A WAL left with frames in it means the last run did not close the
        # database (a power cut, kill -9): check it then, not on every start.
        unclean = _size(path + "-wal") > 0
        connection = _connect(path)
        try:
            _migrate(path, connection, migrations, check=unclean)
        except BaseException:
            connection.close()
            raise
    except BaseException:
        os.close(lock)
        raise
    return Store(path, connection, lock)


def _size(path):
    try:
        return os.path.getsize(path)
    except OSError:
        return 0


def _lock(path):
    try:
        fd = os.open(path + ".lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    except OSError as err:
        raise _unwritable(path, err) from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as err:
        os.close(fd)
        if err.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
            raise StoreError("locked", "%s: another StreamerBrainz uses it; give each daemon "
                                       "its own -state-dir" % path) from None
        raise _unwritable(path, err) from None
    return fd


def _connect(path):
    try:
        # Opened on the main thread at start, then owned by the writer's thread alone.
        connection = sqlite3.connect(path, timeout=BUSY_TIMEOUT_MS / 1000.0,
                                     isolation_level=None, check_same_thread=False)
    except sqlite3.DatabaseError as err:
        raise classify(path, err) from None
    try:
        connection.execute("PRAGMA busy_timeout = %d" % BUSY_TIMEOUT_MS)
        mode = connection.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        connection.execute("PRAGMA synchronous = NORMAL")
        # The writer touches a few pages per change: a small cache, not SQLite's 2 MiB.
        connection.execute("PRAGMA cache_size = -%d" % CACHE_KIB)
    except sqlite3.DatabaseError as err:
        connection.close()
        raise classify(path, err) from None
    if mode.lower() != "wal":
        connection.close()
        raise StoreError("unwritable", "%s: cannot use WAL mode (journal_mode is %s); "
                                       "put -state-dir on a local file system" % (path, mode))
    return connection


def _migrate(path, connection, migrations, check=True):
    try:
        version = connection.execute("PRAGMA user_version").fetchone()[0]
        if version > len(migrations):
            raise StoreError("newer", "%s: written by a newer StreamerBrainz (schema %d, this "
                                      "one knows %d); upgrade, or move the file away"
                             % (path, version, len(migrations)))
        if check and version and connection.execute("PRAGMA quick_check").fetchone()[0] != "ok":
            raise StoreError("corrupt", "%s: the database is damaged (quick_check); move it "
                                        "away and StreamerBrainz starts a new one" % path)
        for number in range(version + 1, len(migrations) + 1):
            connection.execute("BEGIN IMMEDIATE")
            try:
                for statement in migrations[number - 1]:
                    connection.execute(statement)
                connection.execute("PRAGMA user_version = %d" % number)
                connection.execute("COMMIT")
            except BaseException:
                connection.execute("ROLLBACK")
                raise
    except sqlite3.DatabaseError as err:
        raise classify(path, err) from None


def classify(path, err):
    """The StoreError for a ``sqlite3`` error on the database at ``path``."""
    text = str(err)
    if isinstance(err, sqlite3.OperationalError) and any(
            words in text for words in ("readonly", "unable to open", "disk I/O",
                                        "disk is full")):
        return StoreError("unwritable", "%s: cannot write (%s); check -state-dir's owner, "
                                        "mode and free space" % (path, text))
    if "malformed" in text:
        return StoreError("corrupt", "%s: the database is damaged (%s); move it away and "
                                     "StreamerBrainz starts a new one" % (path, text))
    return StoreError("corrupt", "%s: not a StreamerBrainz database (%s); move it away and "
                                 "StreamerBrainz starts a new one" % (path, text))


def _unwritable(path, err):
    return StoreError("unwritable", "%s: cannot write (%s); check -state-dir's owner, mode "
                                    "and free space" % (path, err.strerror or err))
