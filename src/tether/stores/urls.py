"""Store URLs for the command line, the demo and the framework settings.

``memory://``, ``sqlite:///relative/file.db``, ``sqlite:////absolute/file.db``,
``redis://host:port/db`` (and ``rediss://``, ``valkey://``; ``redis+cluster://host:port``
for Redis Cluster), ``postgresql://user:password@host:port/db?table=name`` (or
``postgres://``), ``cookie:`` (signed-cookie mode). Libraries should pass store instances;
URLs exist for the places where a person types a string.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from ..exceptions import ConfigurationError


def open_store(url: str, *, asynchronous: bool = False, create: bool = True, secret_key: Any = None) -> Any:
    """A store for ``url``, sync by default or its async twin.

    ``create=False`` never makes a new database (a SQLite file must exist, a PostgreSQL
    table is never created): for commands that inspect a store. ``cookie:`` is
    signed-cookie mode (key: ``secret_key``, else ``TETHER_SECRET_KEY``);
    ``cookie:<store URL>`` adds that store as its revocation store, e.g.
    ``cookie:sqlite:///revoked.db``.
    """
    scheme = urlsplit(url).scheme.lower()
    if scheme == "cookie":
        try:
            from .cookie import SignedCookieStore
        except ImportError as exc:
            raise ConfigurationError(f"{url!r} needs the cookie extra: pip install 'tether[cookie]'") from exc

        rest = url[len("cookie:"):].removeprefix("//") if url.startswith("cookie://") else url[len("cookie:"):]
        # Sync, always: the cookie store hands it to the runtime, which runs it off the loop.
        revocations = open_store(rest, create=create) if rest else None
        return SignedCookieStore(secret_key, revocations=revocations)
    if secret_key is not None:
        raise ConfigurationError("secret_key is a setting of signed-cookie mode: use the store URL cookie:")
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
    raise ConfigurationError(
        f"unknown store URL {url!r}: use memory://, sqlite:///file.db, redis://host:port/db, postgresql://host/db or cookie:"
    )


__all__ = ["open_store"]
