"""Store URLs for the command line, the demo and the framework settings.

``memory://``, ``sqlite:///relative/file.db``, ``sqlite:////absolute/file.db``,
``redis://host:port/db`` (and ``rediss://``, ``valkey://``; ``redis+cluster://host:port``
for Redis Cluster), ``postgresql://user:password@host:port/db?table=name`` (or
``postgres://``). Libraries should pass store instances;
URLs exist for the places where a person types a string.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from ..exceptions import ConfigurationError


def open_store(url: str, *, asynchronous: bool = False, create: bool = True) -> Any:
    """A store for ``url``, sync by default or its async twin. ``create=False`` never
    makes a new database (a SQLite file must exist, a PostgreSQL table is never created):
    for commands that inspect a store."""
    scheme = urlsplit(url).scheme.lower()
    if scheme == "memory":
        from .memory import AsyncMemoryStore, MemoryStore

        return AsyncMemoryStore() if asynchronous else MemoryStore()
    if scheme == "sqlite":
        rest = url[len("sqlite://"):]
        if not rest.startswith("/") or rest == "/":
            raise ConfigurationError(f"{url!r}: write sqlite:///relative.db or sqlite:////absolute.db")
        path = rest[1:]  # one slash is the separator; a second one makes the path absolute
        from .sqlite import AsyncSQLiteStore, SQLiteStore

        return AsyncSQLiteStore(path, create=create) if asynchronous else SQLiteStore(path, create=create)
    if scheme.removesuffix("+cluster") in ("redis", "rediss", "valkey", "valkeys"):
        try:
            from . import redis as redis_store
        except ImportError as exc:  # pragma: no cover - depends on the install
            raise ConfigurationError(f"{url!r} needs the redis extra: pip install 'tether[redis]'") from exc
        cls = redis_store.AsyncRedisStore if asynchronous else redis_store.RedisStore
        return cls.from_url(url)
    if scheme in ("postgresql", "postgres"):
        try:
            from . import postgres
        except ImportError as exc:  # pragma: no cover - depends on the install
            raise ConfigurationError(f"{url!r} needs the postgres extra: pip install 'tether[postgres]'") from exc
        return (postgres.AsyncPostgresStore if asynchronous else postgres.PostgresStore).from_url(url, create_table=create)
    raise ConfigurationError(f"unknown store URL {url!r}: use memory://, sqlite:///file.db, redis://host:port/db or postgresql://host/db")


__all__ = ["open_store"]
