"""The shared store contract on PostgreSQL, sync and async, plus what is PostgreSQL's own:
``load_and_touch`` decided exactly as the policy, one round trip per operation, the
schema and the URL options."""

from __future__ import annotations

import random
import subprocess
import sys

import psycopg
import pytest

from tether import Policy
from tether.exceptions import ConfigurationError
from tether.stores.postgres import AsyncPostgresStore, PostgresStore, pool_options, schema_sql
from tether.stores.urls import open_store
from tether.testing import StoreContract, SyncOver, make_record


NOW = 1_800_000_000.0


class TestPostgresStore(StoreContract):
    @pytest.fixture
    def store(self, postgres_url):
        store = PostgresStore.from_url(postgres_url)
        yield store
        store.close()


class TestAsyncPostgresStore(StoreContract):
    @pytest.fixture
    def store(self, postgres_url):
        store = SyncOver.per_thread(lambda: AsyncPostgresStore.from_url(postgres_url))
        yield store
        store.close()


@pytest.fixture(params=["sync", "async"])
def store(request, postgres_url):
    made = PostgresStore.from_url(postgres_url) if request.param == "sync" else SyncOver.per_thread(
        lambda: AsyncPostgresStore.from_url(postgres_url)
    )
    yield made
    made.close()


def _expected(policy: Policy, meta, now: float):
    if policy.end_reason(meta, now) is None and policy.wants_touch(meta, now):
        return policy.touched(meta, now)
    return meta


@pytest.mark.parametrize("granularity", [0.0, 30.0])
def test_load_and_touch_decides_exactly_as_the_policy(store, granularity):
    """Random sessions and moments around every boundary: the database's float8
    arithmetic gives the very same meta as Policy.touched, bit for bit."""
    rng = random.Random(12)
    policy = Policy(idle_timeout=600, absolute_timeout=3600, warn_before=60, touch_granularity=granularity)
    for _ in range(150):
        start = NOW + rng.uniform(-5000, 5000)
        r = make_record(start, policy=policy, user=rng.choice([None, "ada", "a:b"]), data={"n": rng.random()})
        store.save(r, create=True)
        meta = r.meta
        for _ in range(4):
            now = start + rng.choice([rng.uniform(0, 4000), rng.uniform(0, 40), 3600 - rng.uniform(0, 700), 600.0, 0.0])
            loaded = store.load_and_touch(r.key, now, policy)
            meta = _expected(policy, meta, now)
            assert loaded is not None and loaded.meta == meta and loaded.data == r.data, (now, meta, loaded)
            assert store.load(r.key).meta == meta
        store.delete(r.key)
    assert store.load_and_touch("missing", NOW, policy) is None


def _statements(server, table: str) -> int:
    """Statements on ``table`` the server has executed (pg_stat_statements)."""
    with psycopg.connect(server.url(), autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        row = conn.execute(
            "SELECT coalesce(sum(calls), 0) FROM pg_stat_statements WHERE query LIKE %s", (f"%{table}%",)
        ).fetchone()
    return int(row[0])


def test_every_operation_is_one_round_trip_and_a_quiet_heartbeat_writes_nothing(postgres_server, postgres_url):
    table = pool_options(postgres_url)[1]
    store = PostgresStore.from_url(postgres_url)
    policy = Policy(idle_timeout=600, absolute_timeout=3600, warn_before=60)  # granularity 30 s
    r = make_record(NOW, policy=policy, user="ada", data={"a": 1})
    store.save(r, create=True)  # the table is created here
    before = _statements(postgres_server, table)
    operations = [
        lambda: store.load(r.key),
        lambda: store.load_and_touch(r.key, NOW + 5, policy),
        lambda: store.load_and_touch(r.key, NOW + 100, policy),
        lambda: store.touch(r.key, policy.touched(r.meta, NOW + 200)),
        lambda: store.save(r),
        lambda: store.list_by_user("ada"),
        lambda: store.count(),
        lambda: store.sweep(NOW),
        lambda: store.delete(r.key),
    ]
    for operation in operations:
        operation()
    assert _statements(postgres_server, table) - before == len(operations)
    with psycopg.connect(postgres_server.url(), autocommit=True) as conn:
        r2 = make_record(NOW, policy=policy)
        store.save(r2, create=True)
        xmin = conn.execute(f"SELECT xmin::text FROM {table} WHERE key = %s", (r2.key,)).fetchone()
        assert store.load_and_touch(r2.key, NOW + 5, policy).meta == r2.meta  # inside the granularity
        assert conn.execute(f"SELECT xmin::text FROM {table} WHERE key = %s", (r2.key,)).fetchone() == xmin
        store.load_and_touch(r2.key, NOW + 40, policy)  # past it: one write
        assert conn.execute(f"SELECT xmin::text FROM {table} WHERE key = %s", (r2.key,)).fetchone() != xmin
    store.close()


def test_the_table_is_what_schema_sql_prints(postgres_server, postgres_url):
    table = pool_options(postgres_url)[1]
    store = PostgresStore.from_url(postgres_url)
    assert store.count() == 0
    with psycopg.connect(postgres_server.url(), autocommit=True) as conn:
        columns = dict(conn.execute(
            "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = %s", (table,)
        ).fetchall())
        indexes = {row[0] for row in conn.execute("SELECT indexname FROM pg_indexes WHERE tablename = %s", (table,))}
    assert columns == {
        "key": "text", "data": "jsonb", "user_id": "text", "created_at": "double precision",
        "last_active": "double precision", "idle_expires_at": "double precision",
        "absolute_expires_at": "double precision", "expires_at": "double precision",
        "device": "text", "ip": "text", "ended": "text",
    }
    assert indexes == {f"{table}_pkey", f"{table}_expiry", f"{table}_user"}
    assert f"CREATE TABLE IF NOT EXISTS {table} (" in store.schema() == schema_sql(table)
    store.close()


def test_a_schema_applied_by_hand_is_used_as_is(postgres_server, postgres_url):
    """Teams running their own migrations apply the printed SQL and turn creation off."""
    table = pool_options(postgres_url)[1]
    printed = subprocess.run(
        [sys.executable, "-m", "tether", "sessions", "--store", postgres_url, "schema"],
        capture_output=True, text=True, timeout=60,
    )
    assert printed.returncode == 0 and printed.stdout == schema_sql(table)
    with psycopg.connect(postgres_server.url(), autocommit=True) as conn:
        conn.execute(printed.stdout)
    store = PostgresStore.from_url(postgres_url, create_table=False)
    store.save(make_record(NOW), create=True)
    assert store.count() == 1
    store.close()


def test_without_the_table_and_without_creating_it_is_unavailable_not_a_crash(postgres_url):
    from tether.exceptions import StoreUnavailable

    store = PostgresStore.from_url(postgres_url, create_table=False)
    with pytest.raises(StoreUnavailable):
        store.load("k")
    store.close()


def test_urls():
    conninfo, table, options = pool_options("postgres://u:p@db:5433/app?table=app.sessions&sslmode=require&pool_size=4&timeout=2")
    assert table == "app.sessions"
    assert conninfo.startswith("postgresql://u:p@db:5433/app?") and "sslmode=require" in conninfo
    assert "connect_timeout=2" in conninfo and "table" not in conninfo and "pool_size" not in conninfo
    assert (options["max_size"], options["timeout"]) == (4, 2.0)
    assert pool_options("postgresql://db/app")[1] == "tether_sessions"
    assert isinstance(open_store("postgresql://db/app"), PostgresStore)
    assert isinstance(open_store("postgres://db/app", asynchronous=True), AsyncPostgresStore)
    for bad in ("postgresql://db/app?table=Sessions", "postgresql://db/app?table=a;drop", "postgresql://db/app?table=",
                "postgresql://db/app?pool_size=0", "postgresql://db/app?timeout=soon"):
        with pytest.raises(ConfigurationError):
            pool_options(bad)
