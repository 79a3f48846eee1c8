"""The embedded default store: one SQLite file, WAL, safe with several worker processes.

Each thread gets its own connection. Expiry is an indexed column, so a sweep is a range
scan; ``DELETE … RETURNING`` claims records atomically, so two sweepers (or a sweeper
and a request) never both get the same session. Activity is an ``UPDATE`` of the meta
columns only, guarded so ``last_active`` never moves backwards.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import weakref
from typing import Any, Callable, TypeVar
from urllib.parse import quote

from .._records import Meta, Record, dump_data, load_data
from ..exceptions import ConfigurationError, StoreUnavailable
from .base import StoreBase, StoreSummary, ThreadedAsyncStore

T = TypeVar("T")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS tether_sessions (
    key TEXT PRIMARY KEY,
    data TEXT NOT NULL,
    user TEXT,
    created_at REAL NOT NULL,
    last_active REAL NOT NULL,
    idle_expires_at REAL NOT NULL,
    absolute_expires_at REAL NOT NULL,
    expires_at REAL NOT NULL,
    device TEXT,
    ip TEXT,
    ended TEXT
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS tether_sessions_expiry ON tether_sessions (expires_at);
CREATE INDEX IF NOT EXISTS tether_sessions_user ON tether_sessions (user) WHERE user IS NOT NULL;
"""

_COLUMNS = "key, data, user, created_at, last_active, idle_expires_at, absolute_expires_at, device, ip, ended"
#: Columns added after the first release: a file made by an older tether gains them.
_ADDED_COLUMNS = ("device", "ip", "ended")


class _Connection(sqlite3.Connection):
    """A connection that can be weakly referenced (the base class cannot)."""


def _row_to_record(row: tuple[Any, ...]) -> Record:
    key, data, user, created, last, idle, absolute, device, ip, ended = row
    return Record(key=key, data=load_data(data), meta=Meta(created, last, idle, absolute, user, device, ip, ended))


def _migrate(db: sqlite3.Connection) -> None:
    db.executescript(_SCHEMA)
    present = {row[1] for row in db.execute("PRAGMA table_info(tether_sessions)")}
    for column in _ADDED_COLUMNS:
        if column not in present:
            db.execute(f"ALTER TABLE tether_sessions ADD COLUMN {column} TEXT")


class SQLiteStore(StoreBase):
    """Sessions in one SQLite file.

    ``busy_timeout`` (seconds) is how long a call waits for another process's write lock
    before it gives up with :class:`StoreUnavailable` (the protocol answers 503).
    ``create=False`` opens only a database that already exists and never makes a file or
    directory (a :class:`ConfigurationError` otherwise): for commands that inspect a store,
    where a mistyped path must be an error, not a new empty database.
    """

    def __init__(self, path: str | os.PathLike[str], *, busy_timeout: float = 5.0, create: bool = True):
        self.path = os.fspath(path)
        self.busy_timeout = busy_timeout
        self.create = create
        if not create and not os.path.isfile(self.path):
            raise ConfigurationError(f"no SQLite database at {self.path!r}")
        self._local = threading.local()
        # Weakly held: a thread's connection closes when the thread ends (its local goes).
        self._connections: weakref.WeakSet[_Connection] = weakref.WeakSet()
        self._lock = threading.Lock()
        self._run(_migrate)
        self.close()  # nothing opened here may be inherited by a forked worker

    def _connect(self) -> sqlite3.Connection:
        local = self._local
        db = getattr(local, "db", None)
        if db is None or local.pid != os.getpid():
            # One connection per thread and per process: SQLite forbids using a
            # connection across fork(), e.g. an app loaded before gunicorn forks.
            if not self.create:  # mode=rw: SQLite itself refuses to create the file
                target, uri = f"file:{quote(os.path.abspath(self.path))}?mode=rw", True
            else:
                if self.path != ":memory:" and os.path.dirname(self.path):
                    os.makedirs(os.path.dirname(self.path), exist_ok=True)
                target, uri = self.path, False
            db = sqlite3.connect(
                target, timeout=self.busy_timeout, isolation_level=None, check_same_thread=False,
                factory=_Connection, uri=uri,
            )
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            local.db, local.pid = db, os.getpid()
            with self._lock:
                self._connections.add(db)
        return db

    def _run(self, work: Callable[[sqlite3.Connection], T]) -> T:
        try:
            return work(self._connect())
        except (sqlite3.DatabaseError, OSError) as exc:
            # "database is locked", "unable to open database file", disk I/O errors: the
            # store is unavailable, which is never the same as "the session ended".
            raise StoreUnavailable(f"sqlite store {self.path!r}: {exc}", retry_after=1) from exc

    def load(self, key: str) -> Record | None:
        row = self._run(
            lambda db: db.execute(f"SELECT {_COLUMNS} FROM tether_sessions WHERE key = ?", (key,)).fetchone()
        )
        return None if row is None else _row_to_record(row)

    def save(self, record: Record, *, create: bool = False) -> bool:
        m = record.meta
        data = dump_data(record.data)
        if create:
            self._run(
                lambda db: db.execute(
                    f"INSERT OR REPLACE INTO tether_sessions ({_COLUMNS}, expires_at)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (record.key, data, m.user, m.created_at, m.last_active, m.idle_expires_at,
                     m.absolute_expires_at, m.device, m.ip, m.ended, m.expires_at),
                )
            )
            return True
        cursor = self._run(
            lambda db: db.execute(
                "UPDATE tether_sessions SET data = ?, user = ?,"
                " last_active = max(last_active, ?),"
                " idle_expires_at = max(idle_expires_at, ?),"
                " expires_at = min(max(idle_expires_at, ?), absolute_expires_at)"
                " WHERE key = ?",
                (data, m.user, m.last_active, m.idle_expires_at, m.idle_expires_at, record.key),
            )
        )
        return cursor.rowcount > 0

    def touch(self, key: str, meta: Meta) -> bool:
        cursor = self._run(
            lambda db: db.execute(
                "UPDATE tether_sessions SET"
                " last_active = max(last_active, ?),"
                " idle_expires_at = max(idle_expires_at, ?),"
                " expires_at = min(max(idle_expires_at, ?), absolute_expires_at)"
                " WHERE key = ?",
                (meta.last_active, meta.idle_expires_at, meta.idle_expires_at, key),
            )
        )
        return cursor.rowcount > 0

    def delete(self, key: str) -> Record | None:
        row = self._run(
            lambda db: db.execute(f"DELETE FROM tether_sessions WHERE key = ? RETURNING {_COLUMNS}", (key,)).fetchone()
        )
        return None if row is None else _row_to_record(row)

    def sweep(self, now: float, limit: int = 100) -> list[Record]:
        rows = self._run(
            lambda db: db.execute(
                f"DELETE FROM tether_sessions WHERE key IN (SELECT key FROM tether_sessions"
                f" WHERE expires_at <= ? ORDER BY expires_at LIMIT ?) RETURNING {_COLUMNS}",
                (now, limit),
            ).fetchall()
        )
        # RETURNING gives no order guarantee; report the longest-expired first.
        return sorted((_row_to_record(row) for row in rows), key=lambda r: r.meta.expires_at)

    def list_by_user(self, user: str) -> list[Record]:
        rows = self._run(
            lambda db: db.execute(
                f"SELECT {_COLUMNS} FROM tether_sessions WHERE user = ? ORDER BY created_at", (user,)
            ).fetchall()
        )
        return [_row_to_record(row) for row in rows]

    def delete_by_user(self, user: str) -> list[Record]:
        rows = self._run(
            lambda db: db.execute(f"DELETE FROM tether_sessions WHERE user = ? RETURNING {_COLUMNS}", (user,)).fetchall()
        )
        return sorted((_row_to_record(row) for row in rows), key=lambda r: r.meta.created_at)

    def count(self) -> int:
        return int(self._run(lambda db: db.execute("SELECT count(*) FROM tether_sessions").fetchone()[0]))

    def summary(self, now: float, within: float) -> StoreSummary:
        # One pass over the table; "live" is the same condition in the first three columns.
        row = self._run(
            lambda db: db.execute(
                "SELECT count(CASE WHEN live THEN 1 END), count(DISTINCT CASE WHEN live THEN user END),"
                " count(CASE WHEN live AND expires_at <= ? THEN 1 END), count(CASE WHEN NOT live THEN 1 END)"
                " FROM (SELECT user, expires_at, expires_at > ? AND ended IS NULL AS live FROM tether_sessions)",
                (now + within, now),
            ).fetchone()
        )
        return StoreSummary(*(int(n) for n in row))

    def close(self) -> None:
        with self._lock:
            connections = list(self._connections)
            self._connections = weakref.WeakSet()
        for db in connections:
            db.close()
        self._local = threading.local()


class AsyncSQLiteStore(ThreadedAsyncStore):
    """The async twin: the same file, driven from one worker thread off the event loop."""

    def __init__(self, path: str | os.PathLike[str], *, busy_timeout: float = 5.0, create: bool = True):
        super().__init__(SQLiteStore(path, busy_timeout=busy_timeout, create=create))


__all__ = ["SQLiteStore", "AsyncSQLiteStore"]
