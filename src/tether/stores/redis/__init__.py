"""Redis (and Valkey) stores, for several app servers sharing their sessions.

Install with the ``tether[redis]`` extra; this is the only package that imports ``redis``.
The scripts are in ``_lua``, the keys and the operations (pure) in ``_layout``, the async
twin's per-loop-turn batching in ``_batch``.

Key layout (prefix ``tether:`` by default)::

    tether:{N}:r:<key>   hash    d (data, JSON), c, la, ie, ae (meta, repr floats), u (user),
                                 dv, ip (device and address at sign-in), en (a tombstone's reason)
    tether:{N}:exp       zset    member <key>, score = min(idle, absolute expiry)
    tether:{N}:usr       zset    member "<len(user)>:<user>:<key>", score 0 (lexical index)

``N`` is the session's *shard*, ``crc32(key) % shards``. The shard number is the hash tag,
so a session's record and its entries in both indexes always live in one hash slot, on
Redis Cluster too. That is what lets every write be one atomic Lua script: the record and
its index entries can never disagree, and a claim (delete, sweep) is exactly-once.

Why shards and not one index, or one index per slot: one expiry zset would put every
session in one slot (one cluster node); an index per cluster slot (16384 keys) would make
a sweep scan them all. ``shards`` (default 64) spreads sessions over that many slots
(raise it for clusters with many primaries), and a sweep, ``count`` or
``list_by_user`` is one pipelined read over the shards (one round trip per node), then
one pipelined claim. ``shards`` and ``prefix`` must be the same on every app server and
must not change while sessions live: they decide where a session is found.

Expiry: the record carries a Redis TTL of ``expires_at - last_active + ttl_grace``,
counted on Redis' own clock (app servers' clock skew, and fake clocks in tests, cannot
delete a live session early). Sweeping is driven by the expiry index, not by Redis'
deletion: the grace (default 300 s) leaves an ended session in place long enough for a
sweeper to claim it and fire ``on_end``. Redis' TTL is the safety net that frees memory
when no sweeper runs at all; a session lost that way gets no ``on_end`` (its stale index
entries are cleaned up by the next sweep).

Round trips: ``load``, ``save``, ``touch``, ``delete`` and ``load_and_touch`` 1 each (an
EVALSHA; one extra SCRIPT LOAD only after Redis lost its script cache); ``sweep``,
``list_by_user`` and ``delete_by_user`` 2 pipelines; ``count`` 1 pipeline. ``load`` runs a
script too, so that the reply is one string: parsing a hash reply costs redis-py (without
hiredis) more CPU than the rest of a heartbeat. ``load_and_touch`` is a whole heartbeat,
load plus the policy's touch, in that same script.

:class:`AsyncRedisStore` sends the one-call operations that tasks make in the same turn of
the event loop together, as one pipeline: redis-py's per-command cost (pool checkout,
retry wrapper, instrumentation, one write and one read) is paid once for all of them.
Each call keeps its own result and its own error.

URLs (:meth:`RedisStore.from_url`): ``redis://host:port/db``, ``rediss://``, ``unix://``,
``valkey://`` / ``valkeys://``; Redis Cluster with ``redis+cluster://host:port`` or
``?cluster=1``; ``?prefix=`` and ``?shards=`` set the store options.

Every Redis error (down, timeout, cluster reconfiguring) is raised as
:class:`~tether.exceptions.StoreUnavailable`. redis-py reconnects on the next call, so the
same store instance works again as soon as Redis is back; a client made by ``from_url``
also retries a dropped connection once (a pooled connection that a restarted Redis closed
costs no request; why each script may be retried is in ``_lua``). On Redis Cluster the
async twin sends a batch as one pipeline per node, so a dead node fails only the calls
whose keys live on it.
"""

from __future__ import annotations

import asyncio
from typing import Any, TypeVar
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import redis
import redis.asyncio
import redis.asyncio.cluster
import redis.asyncio.retry
import redis.cluster
import redis.retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError, RedisClusterException, RedisError, ResponseError, SlotNotCoveredError

from ..._policy import Policy
from ..._records import Meta, Record
from ...exceptions import ConfigurationError, StoreUnavailable
from ._batch import Batcher
from ._layout import Call, Layout, LoadScripts, Op, run_scripts, unpack

T = TypeVar("T")

DEFAULT_PREFIX = "tether:"
DEFAULT_SHARDS = 64
DEFAULT_TTL_GRACE = 300.0

_ERRORS = (RedisError, RedisClusterException, OSError)


def _unavailable(exc: BaseException) -> StoreUnavailable:
    return StoreUnavailable(f"redis store unavailable: {type(exc).__name__}: {exc}", retry_after=2)


def _each_ok(results: list[Any]) -> list[Any]:
    """``results`` when no call failed; the first call's error as StoreUnavailable."""
    for result in results:
        if isinstance(result, BaseException):
            raise _unavailable(result) from result
    return results


def _client_options(url: str, options: dict[str, Any]) -> tuple[str, bool, dict[str, Any], dict[str, Any]]:
    """Split a store URL into redis-py's URL, cluster flag, store options and client options.

    ``redis://``, ``rediss://``, ``unix://`` as redis-py reads them; ``valkey://`` and
    ``valkeys://`` as aliases; a ``+cluster`` scheme suffix (``redis+cluster://``) or
    ``?cluster=1`` for Redis Cluster; ``?prefix=`` and ``?shards=`` for the store.
    """
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    cluster = scheme.endswith("+cluster")
    scheme = scheme.removesuffix("+cluster")
    scheme = {"valkey": "redis", "valkeys": "rediss"}.get(scheme, scheme)
    if scheme not in ("redis", "rediss", "unix"):
        raise ConfigurationError(f"not a redis store URL: {url!r}")
    store: dict[str, Any] = {}
    query = []
    for name, value in parse_qsl(parts.query, keep_blank_values=True):
        if name == "prefix":
            store["prefix"] = value
        elif name == "shards":
            try:
                store["shards"] = int(value)
            except ValueError:
                raise ConfigurationError(f"shards in {url!r} must be an integer") from None
        elif name == "cluster":
            cluster = value.lower() in ("1", "true", "yes", "on")
        else:
            query.append((name, value))
    # Fail fast so that a heartbeat answers 503 quickly while Redis is away; the browser
    # retries with back-off.
    client = {"socket_timeout": 2.0, "socket_connect_timeout": 2.0, **options}
    return urlunsplit((scheme, parts.netloc, parts.path, urlencode(query), parts.fragment)), cluster, store, client


S = TypeVar("S", bound="_RedisStoreBase")


class _RedisStoreBase:
    """What both twins share: the key layout and how a store is made from a URL."""

    def __init__(
        self,
        client: Any,
        *,
        prefix: str = DEFAULT_PREFIX,
        shards: int = DEFAULT_SHARDS,
        ttl_grace: float = DEFAULT_TTL_GRACE,
        owns_client: bool = False,
    ):
        self.client = client
        self._layout = Layout(prefix, shards, ttl_grace)
        self._owns_client = owns_client

    @staticmethod
    def _client_class(cluster: bool) -> Any:
        raise NotImplementedError

    @staticmethod
    def _retry(cluster: bool) -> Any:
        """redis-py's retry policy for a client ``from_url`` makes, of the twin's own kind
        (an async client needs ``redis.asyncio.retry.Retry``: given the sync class, it
        never retries). One immediate retry of a ``ConnectionError``: a pooled connection
        that a restarted Redis closed fails before Redis reads the command, and the new
        connection runs it; ``_lua`` says why each script may run twice. Timeouts are not
        retried: a hung Redis would make every request wait twice before its 503."""
        raise NotImplementedError

    @classmethod
    def from_url(cls: type[S], url: str, *, prefix: str | None = None, shards: int | None = None,
                 ttl_grace: float = DEFAULT_TTL_GRACE, **client_options: Any) -> S:
        """A store on a client made from ``url`` (see the module notes for the forms); no
        connection is made until first use."""
        redis_url, cluster, store, options = _client_options(url, client_options)
        options.setdefault("retry", cls._retry(cluster))
        client = cls._client_class(cluster).from_url(redis_url, **options)
        return cls(client, prefix=store.get("prefix", DEFAULT_PREFIX) if prefix is None else prefix,
                   shards=store.get("shards", DEFAULT_SHARDS) if shards is None else shards,
                   ttl_grace=ttl_grace, owns_client=True)


class RedisStore(_RedisStoreBase):
    """Sessions in Redis, Valkey or Redis Cluster, through a redis-py client you pass in
    (``redis.Redis`` or ``redis.cluster.RedisCluster``).

    The client is yours: :meth:`close` closes it only when :meth:`from_url` made it.
    Give it timeouts (``socket_timeout``) and few retries, or a heartbeat waits for them
    before it can answer 503.
    """

    @staticmethod
    def _client_class(cluster: bool) -> Any:
        return redis.cluster.RedisCluster if cluster else redis.Redis

    @staticmethod
    def _retry(cluster: bool) -> Any:
        return redis.retry.Retry(NoBackoff(), 1, supported_errors=(ConnectionError,))

    # -- driving ------------------------------------------------------------------------------

    def _drive(self, op: Op[T]) -> T:
        """Run an operation: each batch it yields is one round trip."""
        try:
            batch = next(op)
            while True:
                batch = op.send(self._round_trip(batch))
        except StopIteration as done:
            return done.value  # type: ignore[no-any-return]

    def _round_trip(self, batch: list[Call]) -> list[Any]:
        """The results of ``batch``; any error, of the connection or of one call, raised
        as StoreUnavailable."""
        try:
            return _each_ok(self._results(batch))
        except _ERRORS as exc:
            raise _unavailable(exc) from exc

    def _results(self, batch: list[Call]) -> list[Any]:
        """Drive :func:`run_scripts`: a call's own error is its result."""
        flow = run_scripts(batch)
        try:
            step = next(flow)
            while True:
                if isinstance(step, LoadScripts):
                    for script in step.scripts:
                        self.client.script_load(script.text)
                    step = flow.send(None)
                else:
                    step = flow.send(self._pipeline(step))
        except StopIteration as done:
            return done.value  # type: ignore[no-any-return]

    def _pipeline(self, batch: list[Call]) -> list[Any]:
        """One round trip: a lone call as a plain command, more as a pipeline."""
        if len(batch) == 1:
            try:
                return [self.client.execute_command(*batch[0].wire)]
            except ResponseError as exc:
                return [exc]
        pipe = self.client.pipeline(transaction=False)
        for call in batch:
            pipe.execute_command(*call.wire)
        return list(pipe.execute(raise_on_error=False))

    # -- the contract ---------------------------------------------------------------------------

    def load(self, key: str) -> Record | None:
        return unpack(key, self._round_trip([self._layout.load_call(key)])[0])

    def save(self, record: Record, *, create: bool = False) -> bool:
        return bool(self._round_trip([self._layout.save_call(record, create)])[0])

    def touch(self, key: str, meta: Meta) -> bool:
        return bool(self._round_trip([self._layout.touch_call(key, meta)])[0])

    def load_and_touch(self, key: str, now: float, policy: Policy) -> Record | None:
        """``load`` then, if the session is alive at ``now`` and ``policy.wants_touch``,
        ``touch`` with ``policy.touched``: a heartbeat in one round trip instead of two.
        Returns the record as stored afterwards."""
        call = self._layout.load_and_touch_call(key, now, policy.idle_timeout, policy.granularity)
        return unpack(key, self._round_trip([call])[0])

    def delete(self, key: str) -> Record | None:
        return self._drive(self._layout.delete(key))

    def sweep(self, now: float, limit: int = 100) -> list[Record]:
        return self._drive(self._layout.sweep(now, limit))

    def list_by_user(self, user: str) -> list[Record]:
        return self._drive(self._layout.list_by_user(user))

    def delete_by_user(self, user: str) -> list[Record]:
        return self._drive(self._layout.delete_by_user(user))

    def count(self) -> int:
        return self._drive(self._layout.count())

    def close(self) -> None:
        if self._owns_client:
            try:
                self.client.close()
            except _ERRORS:
                pass


class AsyncRedisStore(_RedisStoreBase):
    """The async twin of :class:`RedisStore`, on ``redis.asyncio`` (``Redis`` or
    ``cluster.RedisCluster``). Same keys and scripts: both can serve the same sessions.

    The one-call operations that tasks make in one turn of the event loop share one round
    trip (see ``_batch``)."""

    def __init__(self, client: Any, **options: Any):
        super().__init__(client, **options)
        self._cluster = isinstance(client, redis.asyncio.cluster.RedisCluster)
        self._batcher = Batcher(self._results)
        self._loop: asyncio.AbstractEventLoop | None = None

    @staticmethod
    def _client_class(cluster: bool) -> Any:
        return redis.asyncio.cluster.RedisCluster if cluster else redis.asyncio.Redis

    @staticmethod
    def _retry(cluster: bool) -> Any:
        # No retry in the async cluster client: the store retries per node instead (see
        # _node_round_trip).
        return redis.asyncio.retry.Retry(NoBackoff(), 0 if cluster else 1, supported_errors=(ConnectionError,))

    def _bind(self) -> None:
        """Connections belong to the loop that made them. When another loop takes over
        (``asyncio.run`` twice, a test, a script), start from fresh connections."""
        loop = asyncio.get_running_loop()
        if self._loop is loop:
            return
        if self._loop is not None:
            reset = getattr(getattr(self.client, "connection_pool", None), "reset", None)
            if reset is None:
                raise ConfigurationError(
                    "this AsyncRedisStore was first used on another event loop; make one store per loop"
                )
            reset()  # drop (never touch) the old loop's connections
        self._loop = loop

    # -- driving ------------------------------------------------------------------------------

    async def _drive(self, op: Op[T]) -> T:
        """Run an operation: each batch it yields is one round trip."""
        try:
            batch = next(op)
            while True:
                batch = op.send(await self._round_trip(batch))
        except StopIteration as done:
            return done.value  # type: ignore[no-any-return]

    async def _round_trip(self, batch: list[Call]) -> list[Any]:
        """As :meth:`RedisStore._round_trip`; a lone call joins this loop turn's batch."""
        if len(batch) == 1:
            return [await self._submit(batch[0])]
        self._bind()
        try:
            return _each_ok(await self._results(batch))
        except _ERRORS as exc:
            raise _unavailable(exc) from exc

    async def _submit(self, call: Call) -> Any:
        """The result of one call, sent with the others of this loop turn."""
        self._bind()
        try:
            return await self._batcher.submit(call)
        except _ERRORS as exc:
            raise _unavailable(exc) from exc

    async def _results(self, batch: list[Call]) -> list[Any]:
        """Drive :func:`run_scripts`: a call's own error is its result."""
        flow = run_scripts(batch)
        try:
            step = next(flow)
            while True:
                if isinstance(step, LoadScripts):
                    for script in step.scripts:
                        await self.client.script_load(script.text)
                    step = flow.send(None)
                else:
                    step = flow.send(await self._pipeline(step))
        except StopIteration as done:
            return done.value  # type: ignore[no-any-return]

    async def _pipeline(self, batch: list[Call]) -> list[Any]:
        """One round trip: a lone call as a plain command, more as a pipeline; on a
        cluster one pipeline per node, concurrently (see :meth:`_node_round_trip`)."""
        if not self._cluster:
            if len(batch) == 1:
                try:
                    return [await self.client.execute_command(*batch[0].wire)]
                except ResponseError as exc:
                    return [exc]
            return await self._one_pipeline(batch)
        groups = self._by_node(batch)
        replies = await asyncio.gather(*(self._node_round_trip([batch[i] for i in group]) for group in groups))
        results: list[Any] = [None] * len(batch)
        for group, reply in zip(groups, replies):
            for i, result in zip(group, reply):
                results[i] = result
        return results

    def _by_node(self, batch: list[Call]) -> list[list[int]]:
        """The positions of ``batch`` grouped by the cluster node that serves their keys
        (one group for the keys whose slot the client does not know yet)."""
        groups: dict[str | None, list[int]] = {}
        for i, call in enumerate(batch):
            try:
                node: str | None = self.client.get_node_from_key(call.key).name
            except SlotNotCoveredError:
                node = None
            groups.setdefault(node, []).append(i)
        return list(groups.values())

    async def _node_round_trip(self, batch: list[Call]) -> list[Any]:
        """The results of one cluster node's calls, an error of that node as each call's
        result: a node that is down fails only the calls whose keys live on it (one
        redis-py cluster pipeline fails whole, and its retry closes every node's
        connections, also those other calls are using: why ``from_url`` gives the async
        cluster client no retry). A call whose connection dropped (a pooled connection
        that a restarted node closed) is sent once more, here: safe for every script
        (``_lua``)."""
        results = await self._node_pipeline(batch)
        dropped = [i for i, result in enumerate(results) if isinstance(result, ConnectionError)]
        if dropped:
            for i, result in zip(dropped, await self._node_pipeline([batch[i] for i in dropped])):
                results[i] = result
        return results

    async def _node_pipeline(self, batch: list[Call]) -> list[Any]:
        try:
            return await self._one_pipeline(batch)
        except _ERRORS as exc:
            return [exc] * len(batch)

    async def _one_pipeline(self, batch: list[Call]) -> list[Any]:
        pipe = self.client.pipeline(transaction=False)
        for call in batch:
            pipe.execute_command(*call.wire)
        return list(await pipe.execute(raise_on_error=False))

    # -- the contract ---------------------------------------------------------------------------

    async def load(self, key: str) -> Record | None:
        return unpack(key, await self._submit(self._layout.load_call(key)))

    async def save(self, record: Record, *, create: bool = False) -> bool:
        return bool(await self._submit(self._layout.save_call(record, create)))

    async def touch(self, key: str, meta: Meta) -> bool:
        return bool(await self._submit(self._layout.touch_call(key, meta)))

    async def load_and_touch(self, key: str, now: float, policy: Policy) -> Record | None:
        """See :meth:`RedisStore.load_and_touch`."""
        call = self._layout.load_and_touch_call(key, now, policy.idle_timeout, policy.granularity)
        return unpack(key, await self._submit(call))

    async def delete(self, key: str) -> Record | None:
        return await self._drive(self._layout.delete(key))

    async def sweep(self, now: float, limit: int = 100) -> list[Record]:
        return await self._drive(self._layout.sweep(now, limit))

    async def list_by_user(self, user: str) -> list[Record]:
        return await self._drive(self._layout.list_by_user(user))

    async def delete_by_user(self, user: str) -> list[Record]:
        return await self._drive(self._layout.delete_by_user(user))

    async def count(self) -> int:
        return await self._drive(self._layout.count())

    async def close(self) -> None:
        if self._owns_client:
            try:
                await self.client.aclose()
            except _ERRORS:
                pass


__all__ = ["RedisStore", "AsyncRedisStore"]
