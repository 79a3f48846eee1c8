"""PostgreSQL stores, for several app servers that share one database and no Redis.

Install with the ``tether[postgres]`` extra (psycopg 3 and psycopg_pool); this is the only
module that imports them.

One table (``tether_sessions`` by default, see :func:`schema_sql`): meta as typed columns,
data as ``jsonb``, an index on the expiry and a partial one on the user. Times are Unix
seconds in ``double precision``: the same IEEE doubles Python computes, so a record reads
back exactly as it was written and the database slides a session exactly as
:class:`~tether.Policy` would. The table is created on first use (``IF NOT EXISTS``, under
an advisory lock so that app servers starting together do not race); teams that run
their own migrations print the SQL with ``tether sessions --store URL schema`` and pass
``create_table=False``.

Every operation is one statement on an autocommit connection, so one round trip:

- ``load_and_touch`` is a whole heartbeat: ``UPDATE … RETURNING`` slides the session when
  the policy wants it, and the same statement returns the row as it was otherwise; a
  request inside the granularity writes nothing.
- ``touch`` and ``save`` take ``greatest()`` of the stored and the new activity times in
  the ``UPDATE`` itself, which PostgreSQL evaluates on the latest row version after any
  concurrent writer committed: a heartbeat and a data write never lose each other's
  update, and ``last_active`` never moves backwards. ``touch`` never writes ``data``.
- ``sweep`` claims a bounded batch with ``FOR UPDATE SKIP LOCKED`` and deletes it in the
  same statement: sweepers on several app servers each take different rows, and a row
  is returned to exactly one of them.

Outages: any psycopg error is raised as :class:`~tether.exceptions.StoreUnavailable`
(the protocol answers 503 with Retry-After; nobody is signed out). A statement that fails
because its pooled connection was dead (the server restarted, or ``pg_terminate_backend``)
is retried once, after :meth:`~psycopg_pool.ConnectionPool.check` has replaced the other
dead connections. The retry is safe for every operation: reads repeat; ``touch``,
``save`` and ``load_and_touch`` are idempotent (``greatest()`` of the same times, the same
data); a claim (``delete``, ``sweep``, ``delete_by_user``) that had in fact run returns
nothing the second time, so a record is still never claimed twice. The pool keeps
reconnecting in the background at least every few seconds (``reconnect_timeout`` is
short, and a give-up starts a new attempt), so once the server accepts connections the
next request finds one.
"""

from __future__ import annotations

import re
import threading
from contextlib import suppress
from dataclasses import dataclass
from typing import Any, Callable, Generic, TypeVar
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import psycopg
import psycopg_pool
from psycopg.types.json import Jsonb

from .._policy import Policy
from .._records import Meta, Record
from ..exceptions import ConfigurationError, StoreUnavailable
from .base import StoreSummary

T = TypeVar("T")

DEFAULT_TABLE = "tether_sessions"
#: Seconds a request waits for a pooled connection before it answers 503.
DEFAULT_TIMEOUT = 5.0
DEFAULT_POOL_SIZE = 10
#: Background reconnection gives up (and starts afresh) after this long, which bounds the
#: gap between attempts, so recovery never waits for a long back-off (see the module doc).
RECONNECT_TIMEOUT = 2.0
#: An identifier we never need to quote: a table, optionally schema-qualified. 56
#: characters leave room for the index suffixes within PostgreSQL's 63.
_TABLE_RE = re.compile(r"\A(?:[a-z_][a-z0-9_]{0,62}\.)?[a-z_][a-z0-9_]{0,55}\Z")

_COLUMNS = "key, data, user_id, created_at, last_active, idle_expires_at, absolute_expires_at, device, ip, ended"

_SCHEMA = """\
CREATE TABLE IF NOT EXISTS {table} (
    key                 text PRIMARY KEY,           -- sha256(token), hex; never the token
    data                jsonb NOT NULL,             -- the application's session dict
    user_id             text,                       -- the signed-in principal, if any
    created_at          double precision NOT NULL,  -- times: Unix seconds
    last_active         double precision NOT NULL,
    idle_expires_at     double precision NOT NULL,
    absolute_expires_at double precision NOT NULL,
    expires_at          double precision NOT NULL
        GENERATED ALWAYS AS (least(idle_expires_at, absolute_expires_at)) STORED,
    device              text,                       -- "Firefox on Linux", at sign-in
    ip                  text,                       -- client address at sign-in
    ended               text                        -- a tombstone's reason ("revoked")
);
CREATE INDEX IF NOT EXISTS {expiry_index} ON {table} (expires_at);
CREATE INDEX IF NOT EXISTS {user_index} ON {table} (user_id) WHERE user_id IS NOT NULL;
"""


def validate_table(table: str) -> str:
    """``table`` when it is a plain lower-case identifier (``name`` or ``schema.name``)."""
    if not _TABLE_RE.match(table):
        raise ConfigurationError(
            f"table {table!r}: use a lower-case identifier (letters, digits, _), optionally schema.table"
        )
    return table


def schema_sql(table: str = DEFAULT_TABLE) -> str:
    """The DDL the store runs on first use, for teams that run their own migrations."""
    name = validate_table(table).rpartition(".")[2]
    return _SCHEMA.format(table=table, expiry_index=f"{name}_expiry", user_index=f"{name}_user")


def _record(row: tuple[Any, ...]) -> Record:
    key, data, user, created, last, idle, absolute, device, ip, ended = row
    return Record(key, Meta(created, last, idle, absolute, user, device, ip, ended), data if isinstance(data, dict) else {})


def _first(rows: list[tuple[Any, ...]]) -> Record | None:
    return _record(rows[0]) if rows else None


def _by_expiry(rows: list[tuple[Any, ...]]) -> list[Record]:
    return sorted(map(_record, rows), key=lambda r: r.meta.expires_at)


def _by_created(rows: list[tuple[Any, ...]]) -> list[Record]:
    return sorted(map(_record, rows), key=lambda r: r.meta.created_at)


@dataclass(frozen=True)
class _Statement(Generic[T]):
    """One round trip: a query, its parameters, and how its result becomes the answer.
    Both twins run the same statements; only the driving (await or not) differs."""

    query: str
    params: tuple[Any, ...]
    result: Callable[[list[tuple[Any, ...]], int], T]


def _rows(fn: Callable[[list[tuple[Any, ...]]], T]) -> Callable[[list[tuple[Any, ...]], int], T]:
    return lambda rows, _count: fn(rows)


def _updated(_: list[tuple[Any, ...]], count: int) -> bool:
    return count > 0


class _Statements:
    """The SQL of one table, formatted once."""

    def __init__(self, table: str):
        t = validate_table(table)
        self.table = t
        self.schema = schema_sql(t)
        # The lock id only has to be the same on every app server for this table.
        self.lock_id = int.from_bytes(t.encode()[:8].ljust(8, b"\0"), "big", signed=True)
        self.select = f"SELECT {_COLUMNS} FROM {t} WHERE key = %s"
        self.insert = (
            f"INSERT INTO {t} ({_COLUMNS}) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
            f" ON CONFLICT (key) DO UPDATE SET ({_COLUMNS}) = ROW(EXCLUDED.{_COLUMNS.replace(', ', ', EXCLUDED.')})"
        )
        slide = (
            "last_active = greatest(last_active, %s::float8),"
            " idle_expires_at = greatest(idle_expires_at, %s::float8)"
        )
        self.update = f"UPDATE {t} SET data = %s, user_id = %s, {slide} WHERE key = %s"
        self.touch = f"UPDATE {t} SET {slide} WHERE key = %s"
        # Policy.end_reason is None and Policy.wants_touch, then Policy.touched, in the
        # same float8 arithmetic: the row as slid, or else the row as it was.
        self.load_and_touch = f"""
WITH now AS (SELECT %s::float8 AS now, %s::float8 AS idle, %s::float8 AS granularity),
slid AS (
    UPDATE {t} SET last_active = greatest(last_active, now.now),
        idle_expires_at = least(greatest(idle_expires_at, now.now + now.idle), absolute_expires_at)
    FROM now
    WHERE key = %s AND now.now < absolute_expires_at AND now.now < idle_expires_at
        AND now.now - last_active > 0 AND now.now - last_active >= now.granularity
        AND idle_expires_at < absolute_expires_at
    RETURNING {_COLUMNS}
)
SELECT * FROM slid
UNION ALL SELECT {_COLUMNS} FROM {t} WHERE key = %s AND NOT EXISTS (SELECT FROM slid)"""
        self.delete = f"DELETE FROM {t} WHERE key = %s RETURNING {_COLUMNS}"
        self.sweep = (
            f"DELETE FROM {t} WHERE key IN (SELECT key FROM {t} WHERE expires_at <= %s"
            f" ORDER BY expires_at LIMIT %s FOR UPDATE SKIP LOCKED) RETURNING {_COLUMNS}"
        )
        self.by_user = f"SELECT {_COLUMNS} FROM {t} WHERE user_id = %s ORDER BY created_at, key"
        self.delete_by_user = f"DELETE FROM {t} WHERE user_id = %s RETURNING {_COLUMNS}"
        self.count = f"SELECT count(*) FROM {t}"
        # One pass; "live" is computed once per row and used by three of the four counts.
        self.summary = (
            "SELECT count(*) FILTER (WHERE live), count(DISTINCT user_id) FILTER (WHERE live),"
            " count(*) FILTER (WHERE live AND expires_at <= %s), count(*) FILTER (WHERE NOT live)"
            f" FROM (SELECT user_id, expires_at, expires_at > %s AND ended IS NULL AS live FROM {t}) AS s"
        )

    # -- the contract, as statements -----------------------------------------------------

    def load_(self, key: str) -> _Statement[Record | None]:
        return _Statement(self.select, (key,), _rows(_first))

    def save_(self, record: Record, create: bool) -> _Statement[bool]:
        m = record.meta
        if create:
            params: tuple[Any, ...] = (
                record.key, Jsonb(record.data), m.user, m.created_at, m.last_active, m.idle_expires_at,
                m.absolute_expires_at, m.device, m.ip, m.ended,
            )
            return _Statement(self.insert, params, _updated)
        params = (Jsonb(record.data), m.user, m.last_active, m.idle_expires_at, record.key)
        return _Statement(self.update, params, _updated)

    def touch_(self, key: str, meta: Meta) -> _Statement[bool]:
        return _Statement(self.touch, (meta.last_active, meta.idle_expires_at, key), _updated)

    def load_and_touch_(self, key: str, now: float, policy: Policy) -> _Statement[Record | None]:
        params = (float(now), float(policy.idle_timeout), policy.granularity, key, key)
        return _Statement(self.load_and_touch, params, _rows(_first))

    def delete_(self, key: str) -> _Statement[Record | None]:
        return _Statement(self.delete, (key,), _rows(_first))

    def sweep_(self, now: float, limit: int) -> _Statement[list[Record]]:
        return _Statement(self.sweep, (float(now), int(limit)), _rows(_by_expiry))

    def list_by_user_(self, user: str) -> _Statement[list[Record]]:
        return _Statement(self.by_user, (user,), _rows(_by_created))

    def delete_by_user_(self, user: str) -> _Statement[list[Record]]:
        return _Statement(self.delete_by_user, (user,), _rows(_by_created))

    def count_(self) -> _Statement[int]:
        return _Statement(self.count, (), _rows(lambda rows: int(rows[0][0])))

    def summary_(self, now: float, within: float) -> _Statement[StoreSummary]:
        params = (float(now) + float(within), float(now))
        return _Statement(self.summary, params, _rows(lambda rows: StoreSummary(*(int(n) for n in rows[0]))))


def _unavailable(exc: BaseException) -> StoreUnavailable:
    return StoreUnavailable(f"postgres store: {type(exc).__name__}: {exc}".strip(), retry_after=1)


def _lost_connection(exc: BaseException, conn: Any) -> bool:
    """Did ``exc`` come from a connection that died (so another one may well work)?"""
    return conn is not None and isinstance(exc, psycopg.OperationalError) and bool(conn.broken or conn.closed)


def pool_options(url: str) -> tuple[str, str, dict[str, Any]]:
    """Split a store URL into the libpq conninfo, the table and the pool's options.

    ``?table=`` names the table, ``?pool_size=`` the most connections per app process,
    ``?timeout=`` the seconds a request waits for one; every other query parameter is
    libpq's own (``sslmode``, ``connect_timeout``, ``application_name`` …).
    """
    parts = urlsplit(url)
    scheme = "postgresql" if parts.scheme.lower() in ("postgres", "postgresql") else parts.scheme
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    table = validate_table(query.pop("table", DEFAULT_TABLE))
    try:
        size = int(query.pop("pool_size", DEFAULT_POOL_SIZE))
        timeout = float(query.pop("timeout", DEFAULT_TIMEOUT))
    except ValueError as exc:
        raise ConfigurationError(f"{url!r}: pool_size must be an integer and timeout a number of seconds") from exc
    if size < 1 or not timeout > 0:
        raise ConfigurationError(f"{url!r}: pool_size must be at least 1 and timeout positive")
    query.setdefault("connect_timeout", str(max(1, round(timeout))))
    conninfo = urlunsplit((scheme, parts.netloc, parts.path, urlencode(query), ""))
    options = {
        "min_size": 1, "max_size": size, "timeout": timeout, "reconnect_timeout": RECONNECT_TIMEOUT,
        "kwargs": {"autocommit": True}, "open": False,
    }
    return conninfo, table, options


class _PostgresBase:
    def __init__(self, pool: Any, *, table: str = DEFAULT_TABLE, create_table: bool = True):
        self.pool = pool
        self.table = table
        self._sql = _Statements(table)
        self._ready = not create_table
        self._opened = False

    def schema(self) -> str:
        """The DDL of this store's table (what runs on first use)."""
        return self._sql.schema

    def _schema_statements(self) -> list[str]:
        return [f"SELECT pg_advisory_xact_lock({self._sql.lock_id})", self._sql.schema]


class PostgresStore(_PostgresBase):
    """Sessions in one PostgreSQL table, through a :class:`psycopg_pool.ConnectionPool`.

    The pool's connections must be in autocommit mode (each operation is one atomic
    statement). :meth:`from_url` makes a suitable pool; it opens on first use, so a store
    made before a server forks its workers holds no connection yet.
    """

    def __init__(self, pool: psycopg_pool.ConnectionPool, *, table: str = DEFAULT_TABLE, create_table: bool = True):
        super().__init__(pool, table=table, create_table=create_table)
        self._lock = threading.Lock()

    @classmethod
    def from_url(cls, url: str, *, create_table: bool = True) -> PostgresStore:
        """``postgresql://user:password@host:port/db?table=…`` (``postgres://`` too)."""
        conninfo, table, options = pool_options(url)
        pool = psycopg_pool.ConnectionPool(conninfo, reconnect_failed=_keep_reconnecting, **options)
        return cls(pool, table=table, create_table=create_table)

    def _prepare(self) -> None:
        with self._lock:
            if not self._opened and self.pool.closed:
                self.pool.open()
            self._opened = True
            if not self._ready:
                with self.pool.connection() as conn, conn.transaction():
                    for statement in self._schema_statements():
                        conn.execute(statement)
                self._ready = True

    def _run(self, statement: _Statement[T]) -> T:
        for attempt in (1, 2):
            conn = None
            try:
                if not self._ready or not self._opened:
                    self._prepare()
                with self.pool.connection() as conn:
                    cursor = conn.execute(statement.query, statement.params)
                    rows = cursor.fetchall() if cursor.description is not None else []
                    return statement.result(rows, cursor.rowcount)
            except psycopg.Error as exc:
                if attempt == 2 or not _lost_connection(exc, conn):
                    raise _unavailable(exc) from exc
                self._check()
        raise AssertionError("unreachable")  # pragma: no cover

    def _check(self) -> None:
        with suppress(psycopg.Error):
            self.pool.check()  # replaces the other dead connections before the retry

    def load(self, key: str) -> Record | None:
        return self._run(self._sql.load_(key))

    def save(self, record: Record, *, create: bool = False) -> bool:
        return self._run(self._sql.save_(record, create))

    def touch(self, key: str, meta: Meta) -> bool:
        return self._run(self._sql.touch_(key, meta))

    def load_and_touch(self, key: str, now: float, policy: Policy) -> Record | None:
        """Load, and slide the session when ``policy`` wants activity at ``now`` written:
        one round trip, exactly ``Policy.touched`` when ``end_reason`` is None and
        ``wants_touch`` holds. Returns the record as stored afterwards."""
        return self._run(self._sql.load_and_touch_(key, now, policy))

    def delete(self, key: str) -> Record | None:
        return self._run(self._sql.delete_(key))

    def sweep(self, now: float, limit: int = 100) -> list[Record]:
        return self._run(self._sql.sweep_(now, limit))

    def list_by_user(self, user: str) -> list[Record]:
        return self._run(self._sql.list_by_user_(user))

    def delete_by_user(self, user: str) -> list[Record]:
        return self._run(self._sql.delete_by_user_(user))

    def count(self) -> int:
        return self._run(self._sql.count_())

    def summary(self, now: float, within: float) -> StoreSummary:
        return self._run(self._sql.summary_(now, within))

    def close(self) -> None:
        self.pool.close()


class AsyncPostgresStore(_PostgresBase):
    """The async twin, through a :class:`psycopg_pool.AsyncConnectionPool`. The pool
    belongs to the event loop that first uses the store."""

    def __init__(self, pool: psycopg_pool.AsyncConnectionPool, *, table: str = DEFAULT_TABLE,
                 create_table: bool = True):
        super().__init__(pool, table=table, create_table=create_table)

    @classmethod
    def from_url(cls, url: str, *, create_table: bool = True) -> AsyncPostgresStore:
        """See :meth:`PostgresStore.from_url`."""
        conninfo, table, options = pool_options(url)
        pool = psycopg_pool.AsyncConnectionPool(conninfo, reconnect_failed=_akeep_reconnecting, **options)
        return cls(pool, table=table, create_table=create_table)

    async def _prepare(self) -> None:
        # One event loop: no lock needed beyond the flags (a second task that arrives
        # while the first awaits runs the idempotent DDL again, harmlessly).
        if not self._opened and self.pool.closed:
            await self.pool.open()
        self._opened = True
        if not self._ready:
            async with self.pool.connection() as conn, conn.transaction():
                for statement in self._schema_statements():
                    await conn.execute(statement)
            self._ready = True

    async def _run(self, statement: _Statement[T]) -> T:
        for attempt in (1, 2):
            conn = None
            try:
                if not self._ready or not self._opened:
                    await self._prepare()
                async with self.pool.connection() as conn:
                    cursor = await conn.execute(statement.query, statement.params)
                    rows = await cursor.fetchall() if cursor.description is not None else []
                    return statement.result(rows, cursor.rowcount)
            except psycopg.Error as exc:
                if attempt == 2 or not _lost_connection(exc, conn):
                    raise _unavailable(exc) from exc
                with suppress(psycopg.Error):
                    await self.pool.check()
        raise AssertionError("unreachable")  # pragma: no cover

    async def load(self, key: str) -> Record | None:
        return await self._run(self._sql.load_(key))

    async def save(self, record: Record, *, create: bool = False) -> bool:
        return await self._run(self._sql.save_(record, create))

    async def touch(self, key: str, meta: Meta) -> bool:
        return await self._run(self._sql.touch_(key, meta))

    async def load_and_touch(self, key: str, now: float, policy: Policy) -> Record | None:
        """See :meth:`PostgresStore.load_and_touch`."""
        return await self._run(self._sql.load_and_touch_(key, now, policy))

    async def delete(self, key: str) -> Record | None:
        return await self._run(self._sql.delete_(key))

    async def sweep(self, now: float, limit: int = 100) -> list[Record]:
        return await self._run(self._sql.sweep_(now, limit))

    async def list_by_user(self, user: str) -> list[Record]:
        return await self._run(self._sql.list_by_user_(user))

    async def delete_by_user(self, user: str) -> list[Record]:
        return await self._run(self._sql.delete_by_user_(user))

    async def count(self) -> int:
        return await self._run(self._sql.count_())

    async def summary(self, now: float, within: float) -> StoreSummary:
        return await self._run(self._sql.summary_(now, within))

    async def close(self) -> None:
        await self.pool.close()


def _keep_reconnecting(pool: psycopg_pool.ConnectionPool) -> None:
    """The pool gave up one reconnection attempt: start a fresh one (its back-off starts
    again at one second), so a recovered server is found within about a second."""
    with suppress(psycopg.Error):  # closed meanwhile
        pool.check()


async def _akeep_reconnecting(pool: psycopg_pool.AsyncConnectionPool) -> None:
    with suppress(psycopg.Error):
        await pool.check()


__all__ = ["PostgresStore", "AsyncPostgresStore", "schema_sql", "validate_table", "DEFAULT_TABLE"]
