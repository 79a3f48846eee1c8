"""What only the Redis store has to show: round trips, hash slots, TTLs, claims under
concurrency (threads and processes), key isolation, error mapping, URLs."""

from __future__ import annotations

import dataclasses

import asyncio
import json
import multiprocessing
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import redis
import redis.connection
from redis.crc import key_slot

from tether import Policy
from tether._records import Meta, Record
from tether.exceptions import ConfigurationError, StoreUnavailable
from tether.stores.redis import AsyncRedisStore, RedisStore
from tether.stores.redis._layout import pairs as _pairs
from tether.testing import make_record

from .conftest import free_port, wait_until
from .helpers import async_client, sync_client, sync_cluster_client

NOW = 1_800_000_000.0
POLICY = Policy(idle_timeout=600, absolute_timeout=3600, warn_before=60)


def record(now: float = NOW, **kwargs: Any) -> Record:
    return make_record(now, policy=POLICY, **kwargs)


class CountingConnection(redis.connection.Connection):
    """Counts writes to the socket: one per round trip (a pipeline is one write)."""

    sent = 0

    def send_packed_command(self, command: Any, check_health: bool = True) -> None:
        type(self).sent += 1
        super().send_packed_command(command, check_health)


def commandstats(client: redis.Redis) -> dict[str, int]:
    stats = client.info("commandstats")
    return {name.removeprefix("cmdstat_"): int(v["calls"]) for name, v in stats.items()}


def delta(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    changed = {k: after[k] - before.get(k, 0) for k in after if after[k] != before.get(k, 0)}
    changed.pop("info", None)
    return changed


@pytest.fixture
def store(redis_server, prefix):
    store = RedisStore(sync_client(redis_server.port), prefix=prefix)
    yield store
    store.client.close()


@pytest.fixture
def raw(redis_server):
    client = sync_client(redis_server.port, decode_responses=True)
    yield client
    client.close()


@pytest.fixture
def counted(redis_server, prefix):
    pool = redis.ConnectionPool(host="127.0.0.1", port=redis_server.port, connection_class=CountingConnection)
    client = redis.Redis(connection_pool=pool)
    client.ping()  # the connection's own set-up commands are not the store's
    store = RedisStore(client, prefix=prefix)
    yield store
    client.close()


def round_trips(store: RedisStore, call: Any) -> int:
    before = CountingConnection.sent
    call()
    return CountingConnection.sent - before


# -- round trips ---------------------------------------------------------------------------


def test_touch_is_one_round_trip_and_one_script(counted, raw):
    r = record(user="ada")
    counted.save(r, create=True)  # also loads the save script
    meta = POLICY.touched(r.meta, NOW + 30)
    counted.touch(r.key, meta)  # loads the touch script once (NOSCRIPT on a fresh server)
    before = commandstats(raw)
    assert round_trips(counted, lambda: counted.touch(r.key, POLICY.touched(r.meta, NOW + 60))) == 1
    stats = delta(before, commandstats(raw))
    # One client command (EVALSHA); what the script ran inside is counted apart.
    assert stats.pop("evalsha") == 1
    assert set(stats) <= {"hmget", "hset", "zadd", "pexpire"}
    assert counted.load(r.key).meta.last_active == NOW + 60


def test_load_save_delete_are_one_round_trip_each(counted):
    r = record(user="ada", data={"a": 1})
    counted.save(r, create=True)
    counted.delete(r.key)  # both scripts are loaded now
    assert round_trips(counted, lambda: counted.save(r, create=True)) == 1
    assert round_trips(counted, lambda: counted.load(r.key)) == 1
    assert round_trips(counted, lambda: counted.save(Record(r.key, r.meta, {"a": 2}))) == 1
    assert round_trips(counted, lambda: counted.delete(r.key)) == 1


def test_sweep_and_count_are_pipelined_over_shards(counted):
    for i in range(20):
        counted.save(record(NOW - 10_000 - i), create=True)
    counted.sweep(NOW - 20_000)  # nothing due yet
    assert round_trips(counted, counted.count) == 1
    assert round_trips(counted, lambda: counted.sweep(NOW - 20_000)) == 1  # nothing due: one read
    claimed: list[Record] = []
    assert round_trips(counted, lambda: claimed.extend(counted.sweep(NOW))) == 2  # read, claim
    assert len(claimed) == 20


# -- layout --------------------------------------------------------------------------------


def test_all_keys_of_a_session_share_one_hash_slot(store):
    layout = store._layout
    for i in range(500):
        key = f"{i:064x}"
        shard = layout.shard(key)
        slots = {key_slot(k.encode()) for k in (layout.record_key(key), layout.expiry_key(shard), layout.users_key(shard))}
        assert len(slots) == 1


def test_stored_data_is_json_and_meta_is_apart(store, raw):
    r = record(user="ada", data={"cart": [1, 2], "name": "Ada ✓"})
    store.save(r, create=True)
    stored = raw.hgetall(store._layout.record_key(r.key))
    assert json.loads(stored["d"]) == {"cart": [1, 2], "name": "Ada ✓"}
    assert float(stored["la"]) == r.meta.last_active and stored["u"] == "ada"
    with pytest.raises(TypeError):
        store.save(record(data={"x": object()}), create=True)  # never pickled


def test_ttl_is_expiry_plus_grace_and_never_beyond_absolute(redis_server, prefix, raw):
    store = RedisStore(sync_client(redis_server.port), prefix=prefix, ttl_grace=30)
    r = record()
    store.save(r, create=True)
    name = store._layout.record_key(r.key)
    assert 600_000 + 30_000 - 2_000 < raw.pttl(name) <= 600_000 + 30_000 + 1
    # Near the absolute end, activity no longer extends beyond it.
    late = NOW + POLICY.absolute_timeout - 100
    store.touch(r.key, POLICY.touched(r.meta, late))
    assert raw.pttl(name) <= 100_000 + 30_000 + 1
    store.close()


def test_a_session_redis_expired_before_any_sweep_leaves_no_trace(redis_server, prefix, raw):
    store = RedisStore(sync_client(redis_server.port), prefix=prefix, ttl_grace=0)
    meta = Meta(created_at=NOW, last_active=NOW, idle_expires_at=NOW + 0.05, absolute_expires_at=NOW + 10, user="ada")
    gone = Record("k" * 64, meta, {"x": 1})
    kept = record(user="ada")
    store.save(gone, create=True)
    store.save(kept, create=True)
    wait_until(lambda: not raw.exists(store._layout.record_key(gone.key)), 5, "redis to expire the record")
    assert store.load(gone.key) is None
    assert [r.key for r in store.list_by_user("ada")] == [kept.key]
    assert store.count() == 2  # the index still lists it until a sweep
    assert store.sweep(NOW + 1) == []  # nothing to report: the record is gone
    assert store.count() == 1
    assert [r.key for r in store.delete_by_user("ada")] == [kept.key]
    layout = store._layout
    assert sum(raw.zcard(layout.users_key(s)) for s in range(layout.shards)) == 0  # stale entries cleaned
    assert store.touch(gone.key, meta) is False and store.save(gone) is False


def test_prefixes_isolate_stores_on_one_server(redis_server, prefix):
    a = RedisStore(sync_client(redis_server.port), prefix=prefix + "a:")
    b = RedisStore(sync_client(redis_server.port), prefix=prefix + "b:")
    r = record(user="ada")
    a.save(r, create=True)
    assert b.load(r.key) is None and b.count() == 0 and b.list_by_user("ada") == []
    assert b.sweep(NOW + 10**6) == [] and a.count() == 1


@pytest.mark.parametrize("shards", [1, 3, 64])
def test_users_with_look_alike_names_stay_apart(redis_server, prefix, shards):
    store = RedisStore(sync_client(redis_server.port), prefix=prefix, shards=shards)
    users = ["a", "a:b", "1:a", "a;b", "ä", "", "a:", ":a", "a\x00b", "10:aaaaaaaaaa"]
    records = {u: record(user=u) for u in users}
    for r in records.values():
        store.save(r, create=True)
    for user, r in records.items():
        assert [x.key for x in store.list_by_user(user)] == [r.key], user
    assert [x.key for x in store.delete_by_user("a:b")] == [records["a:b"].key]
    assert [x.key for x in store.list_by_user("a")] == [records["a"].key]


def test_changing_the_user_moves_the_session_between_user_indexes(store):
    r = record(user="ada")
    store.save(r, create=True)
    store.save(Record(r.key, dataclasses.replace(r.meta, user="bob"), {}))
    assert store.list_by_user("ada") == [] and [x.key for x in store.list_by_user("bob")] == [r.key]
    store.save(Record(r.key, dataclasses.replace(r.meta, user=None), {}))
    assert store.list_by_user("bob") == [] and store.load(r.key).meta.user is None


def test_sync_and_async_twins_share_sessions(redis_server, prefix, store):
    r = record(user="ada", data={"a": 1})
    store.save(r, create=True)

    async def main() -> Record | None:
        twin = AsyncRedisStore(async_client(redis_server.port), prefix=prefix)
        try:
            assert await twin.touch(r.key, POLICY.touched(r.meta, NOW + 40))
            assert [x.key for x in await twin.list_by_user("ada")] == [r.key]
            return await twin.load(r.key)
        finally:
            await twin.client.aclose()

    loaded = asyncio.run(main())
    assert loaded is not None and loaded.data == {"a": 1} and loaded.meta.last_active == NOW + 40
    assert store.load(r.key).meta.last_active == NOW + 40


# -- claims under concurrency ---------------------------------------------------------------


def test_a_touch_between_sweep_read_and_claim_wins(store):
    """The sweep's claim re-checks expiry: a session slid meanwhile is not ended."""
    r = record(NOW - 700)  # idle-expired at NOW - 100
    store.save(r, create=True)
    op = store._layout.sweep(NOW, 10)
    candidates = store._round_trip(next(op))  # phase 1 sees it due
    store.touch(r.key, POLICY.touched(r.meta, NOW - 150))  # slides it to NOW + 450
    claim = op.send(candidates)
    with pytest.raises(StopIteration) as done:
        op.send(store._round_trip(claim))
    assert done.value.value == []
    assert store.load(r.key) is not None


def test_deletes_and_sweeps_racing_claim_each_record_once(redis_server, prefix):
    records = [record(NOW - 10_000 - i) for i in range(300)]
    setup = RedisStore(sync_client(redis_server.port), prefix=prefix)
    for r in records:
        setup.save(r, create=True)
    stores = [RedisStore(sync_client(redis_server.port), prefix=prefix) for _ in range(6)]

    def deleter(store: RedisStore) -> list[str]:
        return [r.key for r in records[::-1] if store.delete(r.key) is not None]

    def sweeper(store: RedisStore) -> list[str]:
        mine = []
        while batch := store.sweep(NOW, limit=9):
            mine.extend(r.key for r in batch)
        return mine

    with ThreadPoolExecutor(6) as pool:
        futures = [pool.submit(deleter if i % 2 else sweeper, s) for i, s in enumerate(stores)]
        claimed = [k for f in futures for k in f.result()]
    assert sorted(claimed) == sorted(r.key for r in records)
    assert setup.count() == 0


def _sweep_in_lockstep(url: str, prefix: str, now: float, barrier: Any, rounds: int) -> tuple[list[int], list[str]]:
    """Each round: read the due candidates, wait until every process has read them too,
    then claim. Every process sees the same records; the claim decides who gets each."""
    store = RedisStore.from_url(url, prefix=prefix)
    seen: list[int] = []
    mine: list[str] = []
    for _ in range(rounds):
        op = store._layout.sweep(now, 50)
        candidates = store._round_trip(next(op))
        seen.append(sum(len(list(_pairs(c))) for c in candidates))
        barrier.wait()
        try:
            claim = op.send(candidates)
            op.send(store._round_trip(claim))
        except StopIteration as done:
            mine.extend(r.key for r in done.value)
    store.close()
    return seen, mine


def test_concurrent_sweepers_in_several_processes_claim_each_record_once(redis_server, prefix):
    records = [record(NOW - 10_000 - i, user=f"u{i % 5}") for i in range(400)]
    setup = RedisStore(sync_client(redis_server.port), prefix=prefix)
    for r in records:
        setup.save(r, create=True)
    ctx = multiprocessing.get_context("spawn")
    with ctx.Manager() as manager:
        barrier = manager.Barrier(4)
        with ctx.Pool(4) as pool:
            results = pool.starmap(_sweep_in_lockstep, [(redis_server.url, prefix, NOW, barrier, 10)] * 4)
    # In the first round all four processes saw at least 50 due records, the same ones...
    assert all(seen[0] >= 50 for seen, _ in results)
    # ...and yet every record was claimed by exactly one of them.
    claimed = [k for _, keys in results for k in keys]
    assert len(claimed) == len(set(claimed)) == 400
    assert set(claimed) == {r.key for r in records}
    assert setup.count() == 0 and setup.list_by_user("u1") == []


# -- errors and URLs -----------------------------------------------------------------------


def test_redis_errors_never_leak(store, raw):
    r = record()
    raw.set(store._layout.expiry_key(store._layout.shard(r.key)), "not a zset")
    with pytest.raises(StoreUnavailable) as info:
        store.save(r, create=True)
    assert "WRONGTYPE" in str(info.value) or "wrong kind" in str(info.value)


def test_nothing_listening_is_store_unavailable_quickly():
    store = RedisStore.from_url(f"redis://127.0.0.1:{free_port()}/0")
    r = record(user="ada")
    calls = [
        lambda: store.load(r.key), lambda: store.save(r, create=True), lambda: store.touch(r.key, r.meta),
        lambda: store.delete(r.key), lambda: store.sweep(NOW), lambda: store.list_by_user("ada"),
        lambda: store.delete_by_user("ada"), store.count,
    ]
    for call in calls:
        started = time.monotonic()
        with pytest.raises(StoreUnavailable) as info:
            call()
        assert not isinstance(info.value, redis.RedisError)
        assert info.value.retry_after > 0
        assert time.monotonic() - started < 3
    store.close()


def test_from_url_reads_prefix_and_shards(redis_server, prefix):
    store = RedisStore.from_url(f"{redis_server.url}?prefix={prefix}&shards=8")
    assert store._layout.prefix == prefix and store._layout.shards == 8
    r = record()
    store.save(r, create=True)
    assert store.load(r.key) is not None
    valkey = RedisStore.from_url(f"valkey://127.0.0.1:{redis_server.port}/0", prefix=prefix, shards=8)
    assert valkey.load(r.key) is not None
    valkey.close()
    store.close()


def test_from_url_cluster(redis_cluster, prefix):
    store = RedisStore.from_url(f"redis+cluster://127.0.0.1:{redis_cluster.nodes[2].port}?prefix={prefix}")
    assert isinstance(store.client, redis.cluster.RedisCluster)
    r = record()
    store.save(r, create=True)
    assert store.load(r.key) is not None
    store.close()


def test_async_from_url(redis_server, prefix):
    async def main() -> None:
        store = AsyncRedisStore.from_url(redis_server.url, prefix=prefix)
        r = record()
        assert await store.save(r, create=True)
        assert (await store.load(r.key)).key == r.key
        await store.close()

    asyncio.run(main())


@pytest.mark.parametrize(
    "url", ["http://localhost", "memory://", "redis://localhost/0?shards=many"]
)
def test_from_url_refuses_what_it_cannot_read(url):
    with pytest.raises(ConfigurationError):
        RedisStore.from_url(url)


@pytest.mark.parametrize("options", [{"prefix": "a{b}:"}, {"shards": 0}, {"shards": True}, {"ttl_grace": -1}])
def test_bad_options_are_configuration_errors(options):
    with pytest.raises(ConfigurationError):
        RedisStore(redis.Redis(), **options)


# -- cluster -------------------------------------------------------------------------------


def test_cluster_spreads_sessions_over_every_node(redis_cluster, prefix):
    store = RedisStore(sync_cluster_client(redis_cluster.nodes[0].port), prefix=prefix)
    records = [record(NOW - 10_000 - i, user="ada") for i in range(200)]
    for r in records:
        store.save(r, create=True)
    per_node = [int(n.cli("DBSIZE").strip() or 0) for n in redis_cluster.nodes]
    assert all(count > 0 for count in per_node), per_node
    assert len(store.list_by_user("ada")) == 200
    assert store.count() == 200
    claimed = []
    while batch := store.sweep(NOW, limit=33):
        claimed.extend(batch)
    assert len({r.key for r in claimed}) == 200
    store.close()
    store.client.close()


def test_cluster_touch_is_one_round_trip(redis_cluster, prefix):
    store = RedisStore(sync_cluster_client(redis_cluster.nodes[0].port), prefix=prefix)
    r = record()
    store.save(r, create=True)
    store.touch(r.key, r.meta)
    node = next(n for n in redis_cluster.nodes if store.client.get_node_from_key(store._layout.record_key(r.key)).port == n.port)
    node_client = sync_client(node.port)
    before = commandstats(node_client)
    assert store.touch(r.key, POLICY.touched(r.meta, NOW + 30))
    stats = delta(before, commandstats(node_client))
    assert stats.pop("evalsha") == 1 and set(stats) <= {"hmget", "hset", "zadd", "pexpire"}
    node_client.close()
    store.client.close()


def test_many_threads_share_one_sync_store(store):
    records = [record(user="ada") for _ in range(50)]

    def work(r: Record) -> bool:
        store.save(r, create=True)
        return store.touch(r.key, POLICY.touched(r.meta, NOW + 5))

    with ThreadPoolExecutor(8) as pool:
        assert all(pool.map(work, records))
    assert len(store.list_by_user("ada")) == 50


# -- load_and_touch: a heartbeat in one round trip ---------------------------------------------


def _expected(policy: Policy, meta: Meta, now: float) -> Meta:
    if policy.end_reason(meta, now) is None and policy.wants_touch(meta, now):
        return policy.touched(meta, now)
    return meta


@pytest.mark.parametrize("granularity", [0.0, 30.0])
def test_load_and_touch_decides_exactly_as_the_policy(store, granularity):
    import random

    rng = random.Random(4)
    policy = Policy(idle_timeout=600, absolute_timeout=3600, warn_before=60, touch_granularity=granularity)
    for _ in range(300):
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


def test_load_and_touch_is_one_round_trip_and_slides_the_sweep(counted):
    policy = Policy(idle_timeout=600, absolute_timeout=3600, warn_before=60, touch_granularity=0)
    r = record(user="ada")
    counted.save(r, create=True)
    counted.load_and_touch(r.key, NOW + 1, policy)  # the script is loaded now
    assert round_trips(counted, lambda: counted.load_and_touch(r.key, NOW + 100, policy)) == 1
    assert counted.sweep(NOW + 650) == []  # slid to NOW + 700
    assert [x.key for x in counted.sweep(NOW + 700)] == [r.key]


def test_async_load_and_touch(redis_server, prefix):
    policy = Policy(idle_timeout=600, absolute_timeout=3600, warn_before=60, touch_granularity=0)

    async def main() -> None:
        store = AsyncRedisStore(async_client(redis_server.port), prefix=prefix)
        r = record()
        await store.save(r, create=True)
        loaded = await store.load_and_touch(r.key, NOW + 50, policy)
        assert loaded.meta == policy.touched(r.meta, NOW + 50)
        await store.client.aclose()

    asyncio.run(main())


def test_heartbeat_through_the_middleware_is_one_round_trip(counted):
    """The protocol asks for load_and_touch; a writing heartbeat is still one round trip."""
    from tether.testing import FakeClock

    from ..apps import asgi_client

    clock = FakeClock(NOW)
    headers = {"Content-Type": "application/json", "Origin": "http://testserver"}
    with asgi_client(counted, clock, policy=POLICY) as client:
        assert client.post("/login", json={"user": "ada"}).status_code == 200
        client.post("/_tether/heartbeat", content=b"{}", headers=headers)  # scripts loaded
        for step in (1, 100):  # inside the granularity (no write), then past it (a write)
            clock.advance(step)
            before = CountingConnection.sent
            response = client.post("/_tether/heartbeat", content=b"{}", headers=headers)
            assert response.status_code == 200 and "set-cookie" not in response.headers
            assert CountingConnection.sent - before == 1
        assert response.json()["idle_remaining"] == POLICY.idle_timeout
        key = next(iter(counted.list_by_user("ada"))).key
        assert counted.load(key).meta.last_active == clock.now


def test_writing_heartbeat_is_one_round_trip_even_with_zero_granularity(counted):
    """Every heartbeat writes (granularity 0): the store's slide is not repeated."""
    from tether.testing import FakeClock

    from ..apps import asgi_client

    clock = FakeClock(NOW)
    policy = Policy(idle_timeout=600, absolute_timeout=3600, warn_before=60, touch_granularity=0)
    headers = {"Content-Type": "application/json", "Origin": "http://testserver"}
    with asgi_client(counted, clock, policy=policy) as client:
        client.post("/login", json={"user": "ada"})
        client.post("/_tether/heartbeat", content=b"{}", headers=headers)
        clock.advance(5)
        before = CountingConnection.sent
        assert client.post("/_tether/heartbeat", content=b"{}", headers=headers).json()["idle_remaining"] == 600
        assert CountingConnection.sent - before == 1
