"""Outages with real servers: Redis stopped (or frozen) -> StoreUnavailable and 503, never
"ended"; Redis back on the same port -> the same store instance and app work again."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from typing import Any, Callable

import pytest
from starlette.testclient import TestClient

from tether import Policy, hash_token
from tether.exceptions import StoreUnavailable
from tether.stores.redis import AsyncRedisStore, RedisStore
from tether.testing import FakeClock, make_record

from ..apps import starlette_app

NOW = 1_800_000_000.0
POLICY = Policy(idle_timeout=600, absolute_timeout=3600, warn_before=60)
JSON_POST = {"Content-Type": "application/json", "Origin": "http://testserver"}


def every_method(store: Any) -> list[Callable[[], Any]]:
    r = make_record(NOW, policy=POLICY, user="ada")
    return [
        lambda: store.load(r.key), lambda: store.save(r, create=True), lambda: store.save(r),
        lambda: store.touch(r.key, r.meta), lambda: store.delete(r.key), lambda: store.sweep(NOW),
        lambda: store.list_by_user("ada"), lambda: store.delete_by_user("ada"), store.count,
    ]


def expired_records(n: int) -> list[Any]:
    return [make_record(NOW - 10_000 - i, policy=POLICY) for i in range(n)]


def test_sync_store_survives_a_redis_restart(own_redis_server, prefix):
    store = RedisStore.from_url(own_redis_server.url, prefix=prefix)
    for r in expired_records(5):
        store.save(r, create=True)
    assert len(store.sweep(NOW)) == 5

    own_redis_server.stop()
    for call in every_method(store):
        started = time.monotonic()
        with pytest.raises(StoreUnavailable):
            call()
        assert time.monotonic() - started < 3

    own_redis_server.start()  # same port, empty data, empty script cache
    records = expired_records(20)  # spread over several shards: a pipelined claim
    for r in records:
        assert store.save(r, create=True)
    assert store.touch(records[0].key, records[0].meta)
    assert {r.key for r in store.sweep(NOW)} == {r.key for r in records}
    store.close()


def test_async_store_survives_a_redis_restart(own_redis_server, prefix):
    async def main() -> None:
        store = AsyncRedisStore.from_url(own_redis_server.url, prefix=prefix)
        r = make_record(NOW, policy=POLICY, user="ada")
        assert await store.save(r, create=True)
        own_redis_server.stop()
        for call in every_method(store):
            with pytest.raises(StoreUnavailable):
                await call()
        own_redis_server.start()
        records = expired_records(20)
        for each in records:
            assert await store.save(each, create=True)
        assert await store.touch(records[0].key, records[0].meta)
        assert {x.key for x in await store.sweep(NOW)} == {x.key for x in records}
        await store.close()

    asyncio.run(main())


def assert_unavailable(response: Any) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["content-type"] == "application/json"
    assert int(response.headers["retry-after"]) > 0
    assert "set-cookie" not in response.headers  # nobody is told "ended"
    assert "Traceback" not in response.text


@pytest.mark.skipif(not hasattr(signal, "SIGSTOP"), reason="needs SIGSTOP")
def test_app_answers_503_while_redis_hangs_and_resumes_with_the_session_intact(own_redis_server, prefix):
    clock = FakeClock(NOW)
    # from_url: short timeouts and one retry, so each request waits about a second.
    store = AsyncRedisStore.from_url(own_redis_server.url, prefix=prefix, socket_timeout=0.5, socket_connect_timeout=0.5)
    app = starlette_app(store, clock, policy=POLICY)
    with TestClient(app, base_url="http://testserver") as client:
        assert client.post("/login", json={"user": "ada"}).status_code == 200
        token = client.cookies.get("tether")
        clock.advance(100)
        assert client.post("/_tether/heartbeat", content=b"{}", headers=JSON_POST).status_code == 200

        os.kill(own_redis_server.process.pid, signal.SIGSTOP)  # hung: connections time out
        try:
            clock.advance(100)
            assert_unavailable(client.post("/_tether/heartbeat", content=b"{}", headers=JSON_POST))
            assert_unavailable(client.get("/_tether/status"))
            assert_unavailable(client.get("/whoami"))
        finally:
            os.kill(own_redis_server.process.pid, signal.SIGCONT)

        response = client.post("/_tether/heartbeat", content=b"{}", headers=JSON_POST)
        assert response.status_code == 200 and response.json()["state"] == "active"
        assert client.get("/whoami").json()["user"] == "ada"
        assert client.cookies.get("tether") == token


def test_app_answers_503_while_redis_is_down_and_recovers_without_restart(own_redis_server, prefix):
    clock = FakeClock(NOW)
    store = RedisStore.from_url(own_redis_server.url, prefix=prefix)  # sync: run off the loop
    ended: list[tuple[str, str]] = []
    app = starlette_app(store, clock, policy=POLICY, on_end=lambda record, reason: ended.append((record.key, reason)))
    with TestClient(app, base_url="http://testserver") as client:
        assert client.post("/login", json={"user": "ada"}).status_code == 200
        token = client.cookies.get("tether")

        own_redis_server.stop()
        assert_unavailable(client.post("/_tether/heartbeat", content=b"{}", headers=JSON_POST))
        assert_unavailable(client.get("/_tether/status"))
        assert_unavailable(client.get("/whoami"))
        assert_unavailable(client.post("/login", json={"user": "bob"}))
        assert client.cookies.get("tether") == token

        own_redis_server.start()  # test servers keep no data: the old session is gone
        response = client.post("/_tether/heartbeat", content=b"{}", headers=JSON_POST)
        assert response.status_code == 401 and response.json()["reason"] == "none"
        assert client.post("/login", json={"user": "bob"}).status_code == 200
        assert client.post("/_tether/heartbeat", content=b"{}", headers=JSON_POST).status_code == 200
        assert [r.meta.user for r in store.list_by_user("bob")] == ["bob"]
        assert store.load(hash_token(client.cookies.get("tether"))) is not None
    store.close()


def test_cluster_node_outage_and_return(own_redis_cluster, prefix):
    cluster = own_redis_cluster
    store = RedisStore.from_url(f"redis+cluster://127.0.0.1:{cluster.nodes[0].port}?prefix={prefix}")
    records = expired_records(60)
    for r in records:
        store.save(r, create=True)
    victim = cluster.nodes[2]
    on_victim = [r for r in records if store.client.get_node_from_key(store._layout.record_key(r.key)).port == victim.port]
    assert on_victim  # 64 shards spread over three nodes

    victim.stop()
    started = time.monotonic()
    with pytest.raises(StoreUnavailable):
        store.load(on_victim[0].key)
    with pytest.raises(StoreUnavailable):
        store.sweep(NOW)  # a sweep reads every shard, so it needs every node
    assert time.monotonic() - started < 15

    victim.start()  # same port and nodes.conf: it rejoins with its slots, without data
    cluster.wait_ok()
    fresh = expired_records(10)
    for r in fresh:
        assert store.save(r, create=True)
    swept = {r.key for r in store.sweep(NOW, limit=1000)}
    assert {r.key for r in fresh} <= swept
    assert swept <= {r.key for r in records + fresh}
    store.close()


@pytest.mark.parametrize("twin", [RedisStore, AsyncRedisStore], ids=["sync", "async"])
def test_the_first_request_after_a_redis_restart_succeeds(own_redis_server, prefix, twin):
    """Issue 8 fault 4: the pooled connections a restarted Redis closed cost no request.
    The data is saved to the server's RDB file first, so the session survives the restart
    and the first heartbeat after it must be a 200 (it was a 503 on the async twin)."""
    clock = FakeClock(NOW)
    store = twin.from_url(own_redis_server.url, prefix=prefix)
    with TestClient(starlette_app(store, clock, policy=POLICY), base_url="http://testserver") as client:
        assert client.post("/login", json={"user": "ada"}).status_code == 200
        clock.advance(100)
        assert client.post("/_tether/heartbeat", content=b"{}", headers=JSON_POST).status_code == 200
        assert own_redis_server.cli("SAVE").strip() == "OK"
        own_redis_server.stop()
        own_redis_server.start()  # same port; the data from the RDB file, no scripts
        clock.advance(100)
        response = client.post("/_tether/heartbeat", content=b"{}", headers=JSON_POST)
        assert response.status_code == 200, response.text
        assert response.json()["idle_remaining"] == POLICY.idle_timeout
        assert client.get("/whoami").json()["user"] == "ada"
