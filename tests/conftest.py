from __future__ import annotations

import os
import uuid

import pytest

from tether.stores import MemoryStore, SQLiteStore
from tether.testing import CountingStore, FakeClock

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def need(condition: bool, what: str) -> None:
    """Skip locally when a real part is missing; fail in CI, where it must be there."""
    if not condition:
        if IN_CI:
            pytest.fail(f"{what} is required in CI")
        pytest.skip(f"{what} is not available")


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(scope="session")
def postgres_server():
    """One private PostgreSQL cluster for the whole run (tests/postgres/server.py); tests
    separate by table name."""
    from tests.postgres.server import PostgresServer, bin_dir

    bindir = bin_dir()
    need(bindir is not None, "PostgreSQL (initdb, pg_ctl: apt-get install postgresql)")
    server = PostgresServer(bindir, preload="pg_stat_statements").start()
    yield server
    server.destroy()


@pytest.fixture
def postgres_url(postgres_server) -> str:
    """A store URL with a table of this test's own."""
    return postgres_server.url(table=f"t_{uuid.uuid4().hex[:12]}", timeout="3")


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory):
    """One private redis-server for the whole run (tests separate by key prefix)."""
    from .redis.conftest import REDIS_CLI, REDIS_SERVER, start_server

    need(bool(REDIS_SERVER and REDIS_CLI), "redis-server (apt-get install redis-server)")
    server = start_server(tmp_path_factory.mktemp("redis"))
    yield server
    server.stop()


#: The sync stores every adapter-level suite runs on (real servers for the networked ones).
STORE_KINDS = ("memory", "sqlite", "redis", "postgres")


def make_store(kind: str, request, tmp_path):
    """A fresh sync store of ``kind``; the networked ones on this run's private server."""
    if kind == "memory":
        return MemoryStore()
    if kind == "sqlite":
        return SQLiteStore(tmp_path / "sessions.db")
    if kind == "postgres":
        from tether.stores.postgres import PostgresStore

        return PostgresStore.from_url(request.getfixturevalue("postgres_url"))
    from tether.stores.redis import RedisStore

    server = request.getfixturevalue("redis_server")
    return RedisStore.from_url(server.url, prefix=f"t{uuid.uuid4().hex[:12]}:")


@pytest.fixture(params=STORE_KINDS)
def store(request, tmp_path):
    """A counting sync store: memory, a real SQLite file, a real redis-server or PostgreSQL."""
    inner = make_store(request.param, request, tmp_path)
    yield CountingStore(inner)
    inner.close()
