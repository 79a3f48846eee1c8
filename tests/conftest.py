from __future__ import annotations

import os

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
    import uuid

    return postgres_server.url(table=f"t_{uuid.uuid4().hex[:12]}", timeout="3")


@pytest.fixture(params=["memory", "sqlite", "postgres"])
def store(request, tmp_path):
    """A counting sync store: memory, a real SQLite file or a real PostgreSQL table."""
    if request.param == "postgres":
        from tether.stores.postgres import PostgresStore

        inner = PostgresStore.from_url(request.getfixturevalue("postgres_url"))
    else:
        inner = MemoryStore() if request.param == "memory" else SQLiteStore(tmp_path / "sessions.db")
    yield CountingStore(inner)
    inner.close()
