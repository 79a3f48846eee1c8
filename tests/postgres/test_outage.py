"""Outages with a real server: stopped, restarted, or its connections killed with
``pg_terminate_backend``. The store raises StoreUnavailable (never psycopg's errors), the
app answers 503 with Retry-After, nobody is signed out, and once the server accepts
connections again the very next request works: no restart, no further failed request."""

from __future__ import annotations

import asyncio
import time
from typing import Any, Callable, Iterator

import psycopg
import pytest
from starlette.testclient import TestClient

from tether import Policy, hash_token
from tether.exceptions import StoreUnavailable
from tether.stores.postgres import AsyncPostgresStore, PostgresStore
from tether.testing import FakeClock, make_record

from ..apps import FACTORIES, starlette_app
from ..conftest import need
from .server import PostgresServer, bin_dir, wait_until

NOW = 1_800_000_000.0
POLICY = Policy(idle_timeout=600, absolute_timeout=3600, warn_before=60)
JSON_POST = {"Content-Type": "application/json", "Origin": "http://testserver"}
APP = "tether-outage"
#: A request waits this long for a connection before it answers 503.
WAIT = 2.0


@pytest.fixture(scope="module")
def server() -> Iterator[PostgresServer]:
    """A cluster of this module's own, which the tests stop and start."""
    bindir = bin_dir()
    need(bindir is not None, "PostgreSQL (initdb, pg_ctl: apt-get install postgresql)")
    own = PostgresServer(bindir).start()
    yield own
    own.destroy()


@pytest.fixture
def url(server: PostgresServer, request) -> str:
    if not server.accepts_connections():  # a failed test left it stopped
        server.start()
    return server.url(table=f"o_{request.node.name[5:25].lower().replace('[', '_').replace(']', '').replace('-', '_')}_{id(request) % 10**6}",
                      timeout=str(WAIT), application_name=APP)


def restart(server: PostgresServer) -> None:
    server.start()
    wait_until(server.accepts_connections, 30, "the server to accept connections")


def every_method(store: Any) -> list[Callable[[], Any]]:
    r = make_record(NOW, policy=POLICY, user="ada")
    return [
        lambda: store.load(r.key), lambda: store.save(r, create=True), lambda: store.save(r),
        lambda: store.touch(r.key, r.meta), lambda: store.load_and_touch(r.key, NOW, POLICY),
        lambda: store.delete(r.key), lambda: store.sweep(NOW), lambda: store.list_by_user("ada"),
        lambda: store.delete_by_user("ada"), store.count,
    ]


def terminate_store_connections(server: PostgresServer) -> int:
    with psycopg.connect(server.url(), autocommit=True) as conn:
        (killed,) = conn.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = %s", (APP,)
        ).fetchone()
    return int(killed)


def test_sync_store_while_down_and_after(server, url):
    store = PostgresStore.from_url(url)
    kept = make_record(NOW, policy=POLICY, user="ada")
    assert store.save(kept, create=True)
    server.stop()
    for call in every_method(store):
        started = time.monotonic()
        with pytest.raises(StoreUnavailable) as raised:
            call()
        assert not isinstance(raised.value, psycopg.Error) and raised.value.retry_after > 0
        assert time.monotonic() - started < WAIT + 2
    restart(server)
    assert store.load(kept.key) == kept  # the first call after the restart already works
    for call in every_method(store):
        call()
    store.close()


def test_async_store_while_down_and_after(server, url):
    async def main() -> None:
        store = AsyncPostgresStore.from_url(url)
        kept = make_record(NOW, policy=POLICY, user="ada")
        assert await store.save(kept, create=True)
        server.stop()
        for call in every_method(store):
            with pytest.raises(StoreUnavailable):
                await call()
        restart(server)
        assert await store.load(kept.key) == kept
        for call in every_method(store):
            await call()
        await store.close()

    asyncio.run(main())


def assert_unavailable(response: Any) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert int(response.headers["retry-after"]) > 0
    assert "set-cookie" not in response.headers  # nobody is told "ended"
    assert "Traceback" not in response.text


def _outage_then_recovery(server: PostgresServer, store: Any, client: Any) -> None:
    assert client.post("/login", json={"user": "ada"}).status_code == 200
    token = client.cookies.get("tether")
    assert client.post("/_tether/heartbeat", content=b"{}", headers=JSON_POST).status_code == 200

    server.stop()
    assert_unavailable(client.post("/_tether/heartbeat", content=b"{}", headers=JSON_POST))
    assert_unavailable(client.get("/_tether/status"))
    assert client.cookies.get("tether") == token

    restart(server)
    response = client.post("/_tether/heartbeat", content=b"{}", headers=JSON_POST)
    assert response.status_code == 200 and response.json()["state"] == "active"
    assert client.get("/whoami").json()["user"] == "ada"
    assert client.cookies.get("tether") == token

    # The server kills every connection of the app: the retry makes it invisible.
    assert terminate_store_connections(server) > 0
    response = client.post("/_tether/heartbeat", content=b"{}", headers=JSON_POST)
    assert response.status_code == 200 and response.json()["state"] == "active"

    # Restarted between two requests: the next one works at once.
    server.stop()
    restart(server)
    assert client.get("/whoami").json()["user"] == "ada"
    assert client.post("/_tether/heartbeat", content=b"{}", headers=JSON_POST).status_code == 200


@pytest.mark.parametrize("adapter", sorted(FACTORIES))
def test_every_adapter_answers_503_and_recovers_with_the_session_intact(server, url, adapter):
    clock = FakeClock(NOW)
    ended: list[str] = []
    store = PostgresStore.from_url(url)
    with FACTORIES[adapter](store, clock, policy=POLICY, on_end=lambda record, reason: ended.append(reason)) as client:
        _outage_then_recovery(server, store, client)
        token = client.cookies.get("tether")
    assert store.load(hash_token(token)).meta.user == "ada"
    assert ended == []
    store.close()


def test_asgi_with_the_async_store_answers_503_and_recovers(server, url):
    clock = FakeClock(NOW)
    store = AsyncPostgresStore.from_url(url)
    with TestClient(starlette_app(store, clock, policy=POLICY), base_url="http://testserver") as client:
        _outage_then_recovery(server, store, client)
        assert client.get("/whoami").json()["user"] == "ada"
    check = PostgresStore.from_url(url)
    assert [r.meta.user for r in check.list_by_user("ada")] == ["ada"]
    check.close()


def test_a_killed_connection_in_the_middle_of_a_sweep_claims_nothing_twice(server, url):
    store = PostgresStore.from_url(url)
    records = [make_record(NOW - 10_000 - i, policy=POLICY) for i in range(30)]
    for record in records:
        store.save(record, create=True)
    claimed = [r.key for r in store.sweep(NOW, limit=10)]
    assert terminate_store_connections(server) > 0
    while batch := store.sweep(NOW, limit=10):
        claimed += [r.key for r in batch]
    assert sorted(claimed) == sorted(r.key for r in records)
    store.close()
