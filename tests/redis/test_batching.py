"""AsyncRedisStore's coalescing (b34350b): the one-call operations (load, save, touch,
load_and_touch, delete) that tasks issue in the same turn of the event loop go to Redis as
one pipeline on the next turn. Shown here with real servers, by what callers observe:

* every caller gets its own result, equal to what the same calls give one by one, in
  fewer round trips than calls (standalone, decoded replies, RESP3, cluster);
* an error of one call (WRONGTYPE under its key) fails that caller only;
* a lost script cache is reloaded and every call runs exactly once (one claim per record);
* cancelling a caller, pending or in flight, leaves the others' results and no
  unretrieved exception behind;
* an outage fails every caller of the batch with StoreUnavailable (on a cluster only the
  callers whose keys live on the dead node), and the same store works after the restart;
* one store used from two event loops one after the other.

Every test runs its loop with an exception handler that records what asyncio would log
("Task exception was never retrieved", "Future exception was never retrieved", ...) and
fails on any of it. Waits are event driven; ``next_turn`` yields exactly one turn of the
loop (documented asyncio FIFO scheduling), never "sleep and hope".
"""

from __future__ import annotations

import asyncio
import gc
import time
from dataclasses import dataclass
from typing import Any, Awaitable, Callable, Coroutine, TypeVar

import pytest
import redis
import redis.asyncio
import redis.asyncio.cluster
import redis.asyncio.connection
import redis.cluster

from tether import Policy
from tether._records import Record
from tether.exceptions import StoreUnavailable, TetherError
from tether.stores.redis import AsyncRedisStore, RedisStore
from tether.testing import make_record

from .helpers import TIMEOUTS, sync_client, sync_cluster_client

T = TypeVar("T")

NOW = 1_800_000_000.0
POLICY = Policy(idle_timeout=600, absolute_timeout=3600, warn_before=60)
SLIDING = Policy(idle_timeout=600, absolute_timeout=3600, warn_before=60, touch_granularity=0)
SHARDS = 8


def record(now: float = NOW, **kwargs: Any) -> Record:
    return make_record(now, policy=POLICY, **kwargs)


def missing_key(i: int) -> str:
    return f"{i:064x}"[::-1]  # a key no record has (real keys are sha256 of random tokens)


# -- harness ---------------------------------------------------------------------------------


class CountingConnection(redis.asyncio.connection.Connection):
    """Counts writes to the socket: one per round trip (a pipeline is one write).
    ``after_send`` (when set) is called once a command or pipeline is on the wire."""

    sent = 0
    after_send: Callable[[], None] | None = None

    async def send_packed_command(self, command: Any, check_health: bool = True) -> None:
        type(self).sent += 1
        await super().send_packed_command(command, check_health)
        hook = type(self).after_send
        if hook is not None:
            hook()


def run(main: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run ``main()`` on a fresh loop; fail on anything the loop would have logged."""
    problems: list[dict[str, Any]] = []
    with asyncio.Runner() as runner:
        runner.get_loop().set_exception_handler(lambda _loop, context: problems.append(context))
        result = runner.run(main())
        gc.collect()  # "Future exception was never retrieved" is reported when one is freed
    gc.collect()
    assert not problems, [(c.get("message"), repr(c.get("exception"))) for c in problems]
    return result


async def next_turn() -> None:
    """Yield exactly one turn: tasks created before this call run their first step (and
    register their calls) before we resume, and the batch they scheduled is flushed only
    in the turn after that (asyncio's ready queue is FIFO)."""
    await asyncio.sleep(0)


def pending_calls(store: AsyncRedisStore) -> int:
    pending = store._batcher.pending
    return 0 if pending is None else len(pending[1])


def test_the_harness_sees_an_unretrieved_exception():
    async def main() -> None:
        future = asyncio.get_running_loop().create_future()
        future.set_exception(RuntimeError("nobody looks"))

    with pytest.raises(AssertionError, match="never retrieved"):
        run(main)


# -- where the stores run: standalone (three client flavours) and cluster -------------------------


@dataclass
class Target:
    make_async: Callable[[], Awaitable[AsyncRedisStore]]  # in the loop that will use it
    ref: RedisStore  # the sync twin, on another prefix: the "one by one" reference
    raw: Any  # decoded sync client for inspecting keys
    max_round_trips: int  # one pipeline per node


@pytest.fixture(params=["standalone", "decoded", "resp3", "cluster"])
def target(request, prefix):
    options: dict[str, Any] = {"decoded": {"decode_responses": True}, "resp3": {"protocol": 3}}.get(request.param, {})
    if request.param == "cluster":
        port = request.getfixturevalue("redis_cluster").nodes[0].port

        async def make_async() -> AsyncRedisStore:
            # The async cluster client takes no connection_class: its nodes do.
            client = redis.asyncio.cluster.RedisCluster(host="127.0.0.1", port=port, **TIMEOUTS)
            await client.initialize()
            for node in client.get_nodes():
                node.connection_class = CountingConnection
                for connection in node._connections:
                    connection.__class__ = CountingConnection
            return AsyncRedisStore(client, prefix=prefix, shards=SHARDS)

        ref_client, raw = sync_cluster_client(port), sync_cluster_client(port, decode_responses=True)
        nodes = 3
    else:
        port = request.getfixturevalue("redis_server").port

        async def make_async() -> AsyncRedisStore:
            pool = redis.asyncio.ConnectionPool(
                host="127.0.0.1", port=port, connection_class=CountingConnection, **TIMEOUTS, **options)
            return AsyncRedisStore(redis.asyncio.Redis(connection_pool=pool), prefix=prefix, shards=SHARDS)

        ref_client, raw = sync_client(port, **options), sync_client(port, decode_responses=True)
        nodes = 1
    ref = RedisStore(ref_client, prefix=prefix + "ref:", shards=SHARDS)
    yield Target(make_async, ref, raw, nodes)
    ref_client.close()
    raw.close()


def snapshot(raw: Any, store: AsyncRedisStore | RedisStore, keys: list[str]) -> dict[str, Any]:
    """Everything Redis holds for these keys: records, TTL set or not, both indexes."""
    layout = store._layout
    state: dict[str, Any] = {}
    for key in keys:
        name = layout.record_key(key)
        state[key] = (raw.hgetall(name), raw.pttl(name) > 0 if raw.exists(name) else None)
    for shard in range(layout.shards):
        state[f"exp{shard}"] = raw.zrange(layout.expiry_key(shard), 0, -1, withscores=True)
        state[f"usr{shard}"] = raw.zrange(layout.users_key(shard), 0, -1)
    return state


async def warm_up(store: AsyncRedisStore) -> None:
    """Connections open and every script cached on every node, so that a measured batch
    is the batch alone (calls on keys no record has: nothing changes)."""
    keys = [missing_key(10_000 + i) for i in range(40)]
    r = record()
    for _ in range(2):
        await asyncio.gather(*(op(store) for k in keys for op in (
            lambda s: s.load(k), lambda s: s.touch(k, r.meta), lambda s: s.load_and_touch(k, NOW, POLICY),
            lambda s: s.delete(k), lambda s: s.save(Record(k, r.meta, {})),
        )))


Op = Callable[[Any], Any]  # store -> result (sync store) or awaitable (async store)


def independent_ops(group: int, existing: list[Record], fresh: Record) -> list[Op]:
    """Ten calls of every kind on ten different keys."""
    a, b, c, d, e, f = existing
    gone = missing_key(group)
    return [
        lambda s: s.load(a.key),
        lambda s: s.touch(b.key, POLICY.touched(b.meta, NOW + 30)),
        lambda s: s.load_and_touch(c.key, NOW + 40, SLIDING),
        lambda s: s.delete(d.key),
        lambda s: s.save(Record(e.key, e.meta, {"v": group, "e": "✓"})),
        lambda s: s.save(fresh, create=True),
        lambda s: s.load(gone),
        lambda s: s.touch(missing_key(group + 100), f.meta),
        lambda s: s.delete(missing_key(group + 200)),
        lambda s: s.load_and_touch(f.key, NOW + 5, POLICY),  # inside the granularity: no write
    ]


def same_key_ops(s1: Record, s2: Record) -> list[Op]:
    """Calls on two keys, in an order where the answers depend on the order."""
    moved = Record(s1.key, POLICY.touched(s1.meta, NOW + 10), {"n": 1})
    return [
        lambda s: s.load(s1.key),
        lambda s: s.touch(s1.key, POLICY.touched(s1.meta, NOW + 10)),
        lambda s: s.load_and_touch(s1.key, NOW + 20, SLIDING),
        lambda s: s.save(moved),
        lambda s: s.touch(s1.key, POLICY.touched(s1.meta, NOW + 5)),  # older: must not go back
        lambda s: s.load(s1.key),
        lambda s: s.delete(s1.key),
        lambda s: s.delete(s1.key),
        lambda s: s.load(s1.key),
        lambda s: s.touch(s1.key, s1.meta),
        lambda s: s.save(moved),
        lambda s: s.save(s1, create=True),
        lambda s: s.load_and_touch(s1.key, NOW + 30, SLIDING),
        lambda s: s.save(s2, create=True),
        lambda s: s.save(Record(s2.key, s2.meta, {"x": [1, 2]})),
        lambda s: s.load(s2.key),
        lambda s: s.delete(s2.key),
        lambda s: s.delete(s2.key),
        lambda s: s.load_and_touch(s2.key, NOW + 1, SLIDING),
    ]


def test_fifty_concurrent_calls_get_their_own_results_in_one_pipeline(target):
    groups = [[record(user=u, data={"g": g, "i": i}) for i, u in enumerate(["ada", None, "bob", "ada", "c:d", None])]
              for g in range(5)]
    fresh = [record(user="new", data={"fresh": g}) for g in range(5)]
    ops = [op for g in range(5) for op in independent_ops(g, groups[g], fresh[g])]
    assert len(ops) == 50
    keys = [r.key for rs in groups for r in rs] + [r.key for r in fresh]

    for rs in groups:
        for r in rs:
            target.ref.save(r, create=True)
    expected = [op(target.ref) for op in ops]  # one by one, on the twin

    async def main() -> tuple[list[Any], dict[str, Any], int]:
        store = await target.make_async()
        try:
            await warm_up(store)
            await asyncio.gather(*(store.save(r, create=True) for rs in groups for r in rs))
            before = CountingConnection.sent
            results = await asyncio.gather(*(op(store) for op in ops))
            trips = CountingConnection.sent - before
            return results, snapshot(target.raw, store, keys), trips
        finally:
            await store.client.aclose()

    results, state, trips = run(main)
    assert results == expected
    # Spot checks that the reference itself did something: a record, a claim, misses.
    assert isinstance(results[0], Record) and results[0].key == groups[0][0].key
    assert results[3] is not None and results[3].key == groups[0][3].key
    assert results[6:9] == [None, False, None]
    assert state == snapshot(target.raw, target.ref, keys)
    assert 1 <= trips <= target.max_round_trips, trips


def test_calls_on_the_same_keys_run_in_the_order_they_were_made(target):
    s1, s2 = record(user="ada", data={"a": 1}), record(user="bob")
    ops = same_key_ops(s1, s2)
    target.ref.save(s1, create=True)
    expected = [op(target.ref) for op in ops]

    async def main() -> tuple[list[Any], dict[str, Any], int]:
        store = await target.make_async()
        try:
            await warm_up(store)
            await store.save(s1, create=True)
            before = CountingConnection.sent
            results = await asyncio.gather(*(op(store) for op in ops))
            trips = CountingConnection.sent - before
            return results, snapshot(target.raw, store, [s1.key, s2.key]), trips
        finally:
            await store.client.aclose()

    results, state, trips = run(main)
    assert results == expected
    assert [type(r).__name__ for r in (results[6], results[7], results[16], results[17])] == [
        "Record", "NoneType", "Record", "NoneType"]  # each delete claims once
    assert results[4] is True and results[5].meta.last_active == NOW + 20  # an older touch never goes back
    assert state == snapshot(target.raw, target.ref, [s1.key, s2.key])
    assert 1 <= trips <= min(2, target.max_round_trips)  # two keys: at most two nodes


# -- errors of one call ------------------------------------------------------------------------


def test_an_error_of_one_call_fails_that_caller_only(target):
    """A record key holding a string (WRONGTYPE for HMGET/HGETALL in the scripts): that
    caller gets StoreUnavailable naming the Redis error; its neighbours in the batch get
    their results. Same as the sync store (test_redis_errors_never_leak)."""
    good = [record(user="ada", data={"i": i}) for i in range(5)]
    bad = record(user="ada")

    async def main() -> tuple[list[Any], list[Any], Any, int]:
        store = await target.make_async()
        try:
            await warm_up(store)
            for r in good:
                await store.save(r, create=True)
            target.raw.set(store._layout.record_key(bad.key), "not a hash")
            calls = [
                store.load(bad.key), store.load(good[0].key),
                store.touch(bad.key, bad.meta), store.touch(good[1].key, POLICY.touched(good[1].meta, NOW + 30)),
                store.load_and_touch(bad.key, NOW + 40, SLIDING), store.load_and_touch(good[2].key, NOW + 40, SLIDING),
                store.delete(bad.key), store.delete(good[3].key),
                store.save(bad, create=True), store.save(Record(good[4].key, good[4].meta, {"v": 2})),
                store.save(bad),
            ]
            before = CountingConnection.sent
            results = await asyncio.gather(*calls, return_exceptions=True)
            trips = CountingConnection.sent - before
            lone = await asyncio.gather(store.load(bad.key), return_exceptions=True)  # a plain command
            after = [await store.load(r.key) for r in good]
            return results, after, lone[0], trips
        finally:
            await store.client.aclose()

    results, after, lone, trips = run(main)
    failed, ok = results[0::2], results[1::2]
    for error in [*failed, lone]:
        assert isinstance(error, StoreUnavailable), repr(error)
        assert isinstance(error, TetherError) and not isinstance(error, redis.RedisError)
        assert "WRONGTYPE" in str(error) and error.retry_after > 0
        assert isinstance(error.__cause__, redis.ResponseError)
    assert ok[0] == good[0]
    assert ok[1] is True and ok[2].meta.last_active == NOW + 40
    assert ok[3] == good[3] and ok[4] is True
    assert after[0] == good[0] and after[1].meta.last_active == NOW + 30 and after[3] is None
    assert after[4].data == {"v": 2}
    assert 1 <= trips <= target.max_round_trips


# -- the script cache lost -----------------------------------------------------------------------


def commandstats(client: redis.Redis) -> dict[str, int]:
    stats = client.info("commandstats")
    return {name.removeprefix("cmdstat_"): int(v["calls"]) for name, v in stats.items()}


def delta(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    return {k: after[k] - before.get(k, 0) for k in after if after[k] != before.get(k, 0)}


def test_a_flushed_script_cache_is_reloaded_and_every_call_runs_once(own_redis_server, prefix):
    """SCRIPT FLUSH (scripts, not data) on the test's own server: the next batch fails
    NOSCRIPT, reloads the scripts and runs only those calls again. Counted on the server:
    a write is applied once (one PEXPIRE per writing script), a record is claimed once."""
    raw = sync_client(own_redis_server.port)
    k1, k2, k3, k4, k5, k7 = (record(user="ada", data={"i": i}) for i in range(6))
    new = record(user="bob")

    async def main() -> tuple[list[Any], dict[str, int], list[Any], dict[str, int], list[Any]]:
        pool = redis.asyncio.ConnectionPool(host="127.0.0.1", port=own_redis_server.port,
                                            connection_class=CountingConnection, **TIMEOUTS)
        store = AsyncRedisStore(redis.asyncio.Redis(connection_pool=pool), prefix=prefix, shards=SHARDS)
        try:
            await warm_up(store)
            for r in (k1, k2, k3, k4, k5, k7):
                assert await store.save(r, create=True)
            raw.script_flush()
            before = commandstats(raw)
            results = await asyncio.gather(
                store.delete(k1.key), store.delete(k1.key),
                store.touch(k2.key, POLICY.touched(k2.meta, NOW + 30)),
                store.load_and_touch(k3.key, NOW + 50, SLIDING),
                store.save(Record(k4.key, k4.meta, {"v": 4})),
                store.load(k5.key),
                store.save(new, create=True),
                store.delete(k7.key),
                store.delete(k7.key),
            )
            batch = delta(before, commandstats(raw))
            state = [await store.load(r.key) for r in (k1, k2, k3, k4, k5, k7, new)]
            # The lone-call path (a plain command) after a flush too.
            raw.script_flush()
            before = commandstats(raw)
            lone = [await store.touch(k2.key, POLICY.touched(k2.meta, NOW + 60))]
            lone_stats = delta(before, commandstats(raw))
            lone.append(await store.load(k2.key))
            return results, batch, state, lone_stats, lone
        finally:
            await store.client.aclose()

    try:
        results, batch, state, lone_stats, lone = run(main)
    finally:
        raw.close()
    claims = [results[0], results[1]]
    assert sum(r is not None for r in claims) == 1 and next(r for r in claims if r) == k1
    assert sum(r is not None for r in results[7:9]) == 1
    assert results[2:7] == [True, state[2], True, k5, True]
    assert state[0] is None and state[5] is None
    assert state[1].meta.last_active == NOW + 30 and state[2].meta.last_active == NOW + 50
    assert state[3].data == {"v": 4} and state[6] == new
    assert batch.get("script|load") == 4  # each script once: load_and_touch (also the load), save, touch, claim
    assert batch.get("pexpire") == 4  # touch, load_and_touch (slid), two saves: once each
    assert batch.get("del") == 2  # k1 and k7, claimed once each
    assert lone[0] is True and lone[1].meta.last_active == NOW + 60
    assert lone_stats.get("script|load") == 1 and lone_stats.get("pexpire") == 1


# -- cancellation --------------------------------------------------------------------------------


@pytest.fixture
def counted_store_factory(redis_server, prefix) -> Callable[[], AsyncRedisStore]:
    def make() -> AsyncRedisStore:
        pool = redis.asyncio.ConnectionPool(host="127.0.0.1", port=redis_server.port,
                                            connection_class=CountingConnection, **TIMEOUTS)
        return AsyncRedisStore(redis.asyncio.Redis(connection_pool=pool), prefix=prefix, shards=SHARDS)

    yield make
    CountingConnection.after_send = None


def test_cancelling_a_caller_whose_batch_is_pending(counted_store_factory):
    rs = [record(user="ada", data={"i": i}) for i in range(6)]

    async def main() -> tuple[list[Any], Any, Any, int]:
        store = counted_store_factory()
        try:
            await warm_up(store)
            for r in rs:
                await store.save(r, create=True)
            tasks = [
                asyncio.create_task(store.load(rs[0].key)),
                asyncio.create_task(store.touch(rs[1].key, POLICY.touched(rs[1].meta, NOW + 30))),
                asyncio.create_task(store.delete(rs[2].key)),  # the one cancelled
                asyncio.create_task(store.load_and_touch(rs[3].key, NOW + 40, SLIDING)),
                asyncio.create_task(store.save(Record(rs[4].key, rs[4].meta, {"v": 2}))),
                asyncio.create_task(store.delete(rs[5].key)),
            ]
            await next_turn()
            assert pending_calls(store) == 6  # registered, not sent yet
            before = CountingConnection.sent
            tasks[2].cancel()
            results = await asyncio.gather(*tasks, return_exceptions=True)
            trips = CountingConnection.sent - before
            assert isinstance(results[2], asyncio.CancelledError) and tasks[2].cancelled()
            return results, await store.load(rs[2].key), await store.load(rs[1].key), trips
        finally:
            await store.client.aclose()

    results, cancelled_key, touched, trips = run(main)
    assert results[0] == rs[0] and results[1] is True and results[3].meta.last_active == NOW + 40
    assert results[4] is True and results[5] == rs[5]
    assert touched.meta.last_active == NOW + 30
    assert trips == 1
    # A call cancelled before its batch left still goes with it (as a plain command would
    # already have been written): its delete ran, though nobody received the record.
    # Either outcome is coherent; this pins what the store does today.
    assert cancelled_key is None


def test_cancelling_a_caller_whose_batch_is_in_flight(counted_store_factory):
    rs = [record(data={"i": i}) for i in range(4)]

    async def main() -> tuple[list[Any], Any]:
        store = counted_store_factory()
        try:
            await warm_up(store)
            for r in rs:
                await store.save(r, create=True)
            on_wire = asyncio.Event()
            CountingConnection.after_send = on_wire.set
            tasks = [
                asyncio.create_task(store.load(rs[0].key)),
                asyncio.create_task(store.touch(rs[1].key, POLICY.touched(rs[1].meta, NOW + 30))),  # cancelled
                asyncio.create_task(store.load_and_touch(rs[2].key, NOW + 40, SLIDING)),
                asyncio.create_task(store.delete(rs[3].key)),
            ]
            await on_wire.wait()  # the pipeline is written; its replies are not read yet
            CountingConnection.after_send = None
            tasks[1].cancel()
            results = await asyncio.gather(*tasks, return_exceptions=True)
            assert tasks[1].cancelled()
            return results, await store.load(rs[1].key)
        finally:
            await store.client.aclose()

    results, touched = run(main)
    assert isinstance(results[1], asyncio.CancelledError)
    assert results[0] == rs[0] and results[2].meta.last_active == NOW + 40 and results[3] == rs[3]
    assert touched.meta.last_active == NOW + 30  # it was on the wire: it ran


def test_cancelling_every_caller_of_a_batch_leaves_nothing_behind(counted_store_factory):
    r = record()

    async def main() -> Any:
        store = counted_store_factory()
        try:
            await warm_up(store)
            await store.save(r, create=True)
            on_wire = asyncio.Event()
            CountingConnection.after_send = on_wire.set
            tasks = [asyncio.create_task(store.load(r.key)) for _ in range(5)]
            await on_wire.wait()
            CountingConnection.after_send = None
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            assert all(t.cancelled() for t in tasks)
            await asyncio.gather(*store._batcher.sending)  # the batch still completes, quietly
            return await store.load(r.key)
        finally:
            await store.client.aclose()

    assert run(main) == r


# -- outages -------------------------------------------------------------------------------------


def mixed_calls(store: AsyncRedisStore, rs: list[Record]) -> list[Awaitable[Any]]:
    return [
        store.load(rs[0].key), store.touch(rs[1].key, POLICY.touched(rs[1].meta, NOW + 30)),
        store.load_and_touch(rs[2].key, NOW + 40, SLIDING), store.delete(rs[3].key),
        store.save(rs[4], create=True), store.save(rs[5]),
    ]


def test_redis_dying_under_a_pending_batch_fails_every_caller_and_the_store_recovers(own_redis_server, prefix):
    rs = [record(user="ada", data={"i": i}) for i in range(6)]

    async def main() -> None:
        store = AsyncRedisStore.from_url(own_redis_server.url, prefix=prefix, shards=SHARDS)
        try:
            await warm_up(store)
            for r in rs:
                await store.save(r, create=True)
            tasks = [asyncio.create_task(c) for c in mixed_calls(store, rs)]
            tasks.append(asyncio.create_task(store.load(rs[0].key)))  # cancelled: its failure must stay quiet
            await next_turn()
            assert pending_calls(store) == 7
            own_redis_server.stop()  # between the calls and their pipeline
            tasks[-1].cancel()
            started = time.monotonic()
            results = await asyncio.gather(*tasks, return_exceptions=True)
            assert time.monotonic() - started < 3
            assert tasks[-1].cancelled()
            for result in results[:-1]:
                assert isinstance(result, StoreUnavailable), repr(result)
                assert result.retry_after > 0

            # Issued while it is down: a batch and a lone call.
            results = await asyncio.gather(*mixed_calls(store, rs), return_exceptions=True)
            assert all(isinstance(x, StoreUnavailable) for x in results), results
            with pytest.raises(StoreUnavailable):
                await store.load(rs[0].key)

            own_redis_server.start()  # same port; no data, no scripts
            results = await asyncio.gather(*mixed_calls(store, rs))
            assert results == [None, False, None, None, True, False]
            fresh = [record(user="bob") for _ in range(10)]
            assert await asyncio.gather(*(store.save(r, create=True) for r in fresh)) == [True] * 10
            loaded = await asyncio.gather(*(store.load_and_touch(r.key, NOW + 9, SLIDING) for r in fresh))
            assert [x.meta.last_active for x in loaded] == [NOW + 9] * 10
            assert await store.load(rs[4].key) == rs[4]
            assert len(await store.list_by_user("bob")) == 10
        finally:
            await store.close()

    run(main)


def partial_coverage(cluster: Any) -> None:
    """Let the live nodes keep serving their slots while one node is down."""
    for node in cluster.nodes:
        assert node.cli("CONFIG", "SET", "cluster-require-full-coverage", "no").strip() == "OK"


def test_cluster_batches_after_a_script_flush_and_a_node_restart(own_redis_cluster, prefix):
    """Own cluster: SCRIPT FLUSH and a stopped node touch nothing shared."""
    cluster = own_redis_cluster
    partial_coverage(cluster)
    rs = [record(user="ada", data={"i": i}) for i in range(40)]
    victim = cluster.nodes[2]

    async def main() -> None:
        store = AsyncRedisStore.from_url(f"redis+cluster://127.0.0.1:{cluster.nodes[0].port}?prefix={prefix}")
        try:
            assert await asyncio.gather(*(store.save(r, create=True) for r in rs)) == [True] * 40
            dead = [r for r in rs if store.client.get_node_from_key(store._layout.record_key(r.key)).port == victim.port]
            assert 0 < len(dead) < 40

            for node in cluster.nodes:
                node.cli("SCRIPT", "FLUSH")
            touched = await asyncio.gather(*(store.touch(r.key, POLICY.touched(r.meta, NOW + 30)) for r in rs))
            assert touched == [True] * 40
            deleted = await asyncio.gather(*(store.delete(r.key) for r in rs[:10] for _ in range(2)))
            assert [x is not None for x in deleted] == [True, False] * 10  # each claimed once, in order
            for r, x in zip(rs[:10], deleted[0::2]):
                assert x.key == r.key and x.meta.last_active == NOW + 30

            victim.stop()
            for _ in range(2):
                loaded = await asyncio.gather(*(store.load(r.key) for r in dead), return_exceptions=True)
                assert all(isinstance(x, StoreUnavailable) for x in loaded), loaded

            victim.start()  # same port and nodes.conf: it rejoins with its slots, without data
            await asyncio.to_thread(cluster.wait_ok)
            loaded = await asyncio.gather(*(store.load(r.key) for r in rs[10:]))
            for r, x in zip(rs[10:], loaded):
                assert (x is None) if r in dead else (x.meta.last_active == NOW + 30)
            assert await asyncio.gather(*(store.save(r, create=True) for r in rs)) == [True] * 40
        finally:
            await store.close()

    run(main)


def test_cluster_node_down_fails_only_the_callers_on_that_node(own_redis_cluster, prefix):
    cluster = own_redis_cluster
    partial_coverage(cluster)
    rs = [record(data={"i": i}) for i in range(30)]
    victim = cluster.nodes[2]

    async def main() -> list[list[str]]:
        store = AsyncRedisStore.from_url(f"redis+cluster://127.0.0.1:{cluster.nodes[0].port}?prefix={prefix}")
        try:
            assert await asyncio.gather(*(store.save(r, create=True) for r in rs)) == [True] * 30
            on_victim = [store.client.get_node_from_key(store._layout.record_key(r.key)).port == victim.port
                         for r in rs]
            assert 0 < sum(on_victim) < 30
            # Every node has the load script cached: its NOSCRIPT reload (SCRIPT LOAD goes
            # to every primary) is not what this test is about.
            assert await asyncio.gather(*(store.load(r.key) for r in rs)) == rs
            victim.stop()
            # Lone calls to the healthy nodes work: what the batch must not take away.
            for r, dead in zip(rs, on_victim):
                if not dead:
                    assert await store.load(r.key) == r
            wrong = []
            for attempt in range(3):  # the first batch may still find the old connection
                loaded = await asyncio.gather(*(store.load(r.key) for r in rs), return_exceptions=True)
                for r, dead, x in zip(rs, on_victim, loaded):
                    if dead and not isinstance(x, StoreUnavailable) or not dead and x != r:
                        wrong.append(f"batch {attempt}: {'dead' if dead else 'live'} node -> {x!r}"[:160])
            return wrong
        finally:
            await store.close()

    assert run(main) == []


# -- more than one event loop ----------------------------------------------------------------------


def outcome(call: Callable[[], Any]) -> Any:
    try:
        return call()
    except TetherError as exc:  # a clear error is acceptable; anything else is not
        return exc


@pytest.mark.parametrize("batched", [False, True], ids=["lone", "batched"])
def test_one_store_used_by_two_event_loops_in_turn(redis_server, prefix, batched):
    """As a CLI or a test may do: asyncio.run twice with one store. Acceptable: it works,
    or it fails with a clear TetherError (ConfigurationError/StoreUnavailable)."""
    store = AsyncRedisStore.from_url(redis_server.url, prefix=prefix, shards=SHARDS)
    r = record(user="ada")
    assert asyncio.run(store.save(r, create=True)) is True

    async def load() -> Any:
        if batched:
            return await asyncio.gather(store.load(r.key), store.load_and_touch(r.key, NOW + 5, SLIDING))
        return [await store.load(r.key)]

    try:
        for _ in range(3):
            result = outcome(lambda: asyncio.run(load()))
            # It works: the store starts from fresh connections on each new loop.
            assert not isinstance(result, TetherError), result
            assert result[0].key == r.key and result[0].meta.created_at == r.meta.created_at
    finally:
        try:
            asyncio.run(store.close())
        except RuntimeError:
            pass


def test_a_store_per_event_loop_works(redis_server, prefix):
    """What works today: one store (one client) per loop, on the same sessions."""
    r = record(user="ada")

    async def save() -> bool:
        store = AsyncRedisStore.from_url(redis_server.url, prefix=prefix, shards=SHARDS)
        try:
            return await store.save(r, create=True)
        finally:
            await store.close()

    async def load() -> list[Any]:
        store = AsyncRedisStore.from_url(redis_server.url, prefix=prefix, shards=SHARDS)
        try:
            return await asyncio.gather(store.load(r.key), store.load(r.key))
        finally:
            await store.close()

    assert run(save) is True
    assert run(load) == [r, r]
    assert run(load) == [r, r]
