"""Redis (and Valkey) stores, for several app servers sharing their sessions.

Install with the ``tether[redis]`` extra; this is the only package that imports ``redis``.
The scripts are in ``_lua``, the keys and the operations (pure) in ``_layout``, the async
twin's per-loop-turn batching in ``_batch``, what both twins share in ``_base``.

Where the keys are, why shards, and how expiry works: ``_layout``.

Round trips: ``load``, ``save``, ``touch``, ``delete`` and ``load_and_touch`` 1 each (an
EVALSHA; one extra SCRIPT LOAD only after Redis lost its script cache); ``sweep``,
``list_by_user``, ``delete_by_user`` and ``summary`` 2 pipelines; ``count`` 1 pipeline. ``load`` runs a
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
from typing import Any, Awaitable, Callable, Generator, TypeVar, cast

import redis
import redis.asyncio
import redis.asyncio.cluster
import redis.asyncio.retry
import redis.cluster
import redis.retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError, ResponseError, SlotNotCoveredError

from ..._policy import Policy
from ..._records import Meta, Record
from ...exceptions import ConfigurationError
from ..base import StoreSummary
from ._base import ERRORS, RedisStoreBase, each_ok, unavailable
from ._batch import Batcher
from ._layout import Call, LoadScripts, run_scripts, unpack

T = TypeVar("T")


class RedisStore(RedisStoreBase):
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
        return redis.retry.Retry(NoBackoff(), 1, supported_errors=(RedisConnectionError,))

    # -- driving ------------------------------------------------------------------------------

    def _drive(self, flow: Generator[Any, Any, T], send: Callable[[list[Call]], list[Any]]) -> T:
        """Run an operation or :func:`run_scripts`: each batch it yields goes to ``send``
        (one round trip), a :class:`LoadScripts` step to SCRIPT LOAD."""
        try:
            step = next(flow)
            while True:
                if isinstance(step, LoadScripts):
                    for script in step.scripts:
                        self.client.script_load(script.text)
                    step = flow.send(None)
                else:
                    step = flow.send(send(step))
        except StopIteration as done:
            return cast(T, done.value)

    def _round_trip(self, batch: list[Call]) -> list[Any]:
        """The results of ``batch``; any error, of the connection or of one call, raised
        as StoreUnavailable."""
        try:
            return each_ok(self._drive(run_scripts(batch), self._pipeline))
        except ERRORS as exc:
            raise unavailable(exc) from exc

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
        return unpack(key, self._round_trip([self._layout.load_and_touch_call(key, now, policy)])[0])

    def delete(self, key: str) -> Record | None:
        return self._drive(self._layout.delete(key), self._round_trip)

    def sweep(self, now: float, limit: int = 100) -> list[Record]:
        return self._drive(self._layout.sweep(now, limit), self._round_trip)

    def list_by_user(self, user: str) -> list[Record]:
        return self._drive(self._layout.list_by_user(user), self._round_trip)

    def delete_by_user(self, user: str) -> list[Record]:
        return self._drive(self._layout.delete_by_user(user), self._round_trip)

    def count(self) -> int:
        return self._drive(self._layout.count(), self._round_trip)

    def summary(self, now: float, within: float) -> StoreSummary:
        return self._drive(self._layout.summary(now, within), self._round_trip)

    def close(self) -> None:
        if self._owns_client:
            try:
                self.client.close()
            except ERRORS:
                pass


class AsyncRedisStore(RedisStoreBase):
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
        return redis.asyncio.retry.Retry(NoBackoff(), 0 if cluster else 1, supported_errors=(RedisConnectionError,))

    def _bind(self) -> asyncio.AbstractEventLoop:
        """Connections belong to the loop that made them. When another loop takes over
        (``asyncio.run`` twice, a test, a script), start from fresh connections."""
        loop = asyncio.get_running_loop()
        if self._loop is loop:
            return loop
        if self._loop is not None:
            reset = getattr(getattr(self.client, "connection_pool", None), "reset", None)
            if reset is None:
                raise ConfigurationError(
                    "this AsyncRedisStore was first used on another event loop; make one store per loop"
                )
            reset()  # drop (never touch) the old loop's connections
        self._loop = loop
        return loop

    # -- driving ------------------------------------------------------------------------------

    async def _drive(self, flow: Generator[Any, Any, T], send: Callable[[list[Call]], Awaitable[list[Any]]]) -> T:
        """As :meth:`RedisStore._drive`."""
        try:
            step = next(flow)
            while True:
                if isinstance(step, LoadScripts):
                    for script in step.scripts:
                        await self.client.script_load(script.text)
                    step = flow.send(None)
                else:
                    step = flow.send(await send(step))
        except StopIteration as done:
            return cast(T, done.value)

    async def _round_trip(self, batch: list[Call]) -> list[Any]:
        """As :meth:`RedisStore._round_trip`; a lone call joins this loop turn's batch."""
        if len(batch) == 1:
            return [await self._submit(batch[0])]
        self._bind()
        try:
            return each_ok(await self._results(batch))
        except ERRORS as exc:
            raise unavailable(exc) from exc

    async def _submit(self, call: Call) -> Any:
        """The result of one call, sent with the others of this loop turn."""
        future = self._batcher.submit(call, self._bind())
        try:
            return await future
        except ERRORS as exc:
            raise unavailable(exc) from exc

    async def _results(self, batch: list[Call]) -> list[Any]:
        """The results of ``batch``, a call's own error as its result (what the batcher
        sends)."""
        return await self._drive(run_scripts(batch), self._pipeline)

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
        dropped = [i for i, result in enumerate(results) if isinstance(result, RedisConnectionError)]
        if dropped:
            for i, result in zip(dropped, await self._node_pipeline([batch[i] for i in dropped])):
                results[i] = result
        return results

    async def _node_pipeline(self, batch: list[Call]) -> list[Any]:
        try:
            return await self._one_pipeline(batch)
        except ERRORS as exc:
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
        return unpack(key, await self._submit(self._layout.load_and_touch_call(key, now, policy)))

    async def delete(self, key: str) -> Record | None:
        return await self._drive(self._layout.delete(key), self._round_trip)

    async def sweep(self, now: float, limit: int = 100) -> list[Record]:
        return await self._drive(self._layout.sweep(now, limit), self._round_trip)

    async def list_by_user(self, user: str) -> list[Record]:
        return await self._drive(self._layout.list_by_user(user), self._round_trip)

    async def delete_by_user(self, user: str) -> list[Record]:
        return await self._drive(self._layout.delete_by_user(user), self._round_trip)

    async def count(self) -> int:
        return await self._drive(self._layout.count(), self._round_trip)

    async def summary(self, now: float, within: float) -> StoreSummary:
        return await self._drive(self._layout.summary(now, within), self._round_trip)

    async def close(self) -> None:
        if self._owns_client:
            try:
                await self.client.aclose()
            except ERRORS:
                pass


__all__ = ["RedisStore", "AsyncRedisStore"]
