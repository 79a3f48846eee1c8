"""Store factories shared by the Redis test modules."""

from __future__ import annotations

import asyncio
import threading
from typing import Any, Callable, Coroutine

import redis
import redis.asyncio
import redis.asyncio.cluster
import redis.cluster

from tether.stores.base import METHODS
from tether.stores.redis import AsyncRedisStore, RedisStore

TIMEOUTS = {"socket_timeout": 2.0, "socket_connect_timeout": 2.0}


def sync_client(port: int, **options: Any) -> redis.Redis:
    return redis.Redis(host="127.0.0.1", port=port, **{**TIMEOUTS, **options})


def sync_cluster_client(port: int, **options: Any) -> redis.cluster.RedisCluster:
    return redis.cluster.RedisCluster(host="127.0.0.1", port=port, **{**TIMEOUTS, **options})


def async_client(port: int, **options: Any) -> redis.asyncio.Redis:
    return redis.asyncio.Redis(host="127.0.0.1", port=port, **{**TIMEOUTS, **options})


def async_cluster_client(port: int, **options: Any) -> redis.asyncio.cluster.RedisCluster:
    return redis.asyncio.cluster.RedisCluster(host="127.0.0.1", port=port, **{**TIMEOUTS, **options})


class PerThreadAsync:
    """Drive an :class:`AsyncRedisStore` from sync tests.

    An asyncio Redis client belongs to the event loop that opened its connections, so
    each calling thread gets its own loop and its own store on the same server: like one
    app server per thread. The contract's concurrent tests then model several servers.
    """

    def __init__(self, make: Callable[[], AsyncRedisStore]):
        self._make = make
        self._local = threading.local()
        self._all: list[tuple[asyncio.AbstractEventLoop, AsyncRedisStore]] = []
        self._lock = threading.Lock()

    def _mine(self) -> tuple[asyncio.AbstractEventLoop, AsyncRedisStore]:
        mine = getattr(self._local, "mine", None)
        if mine is None:
            mine = self._local.mine = (asyncio.new_event_loop(), self._make())
            with self._lock:
                self._all.append(mine)
        return mine

    def _run(self, coro: Coroutine[Any, Any, Any]) -> Any:
        loop, _ = self._mine()
        return loop.run_until_complete(coro)

    def __getattr__(self, name: str) -> Any:
        if name not in METHODS or name == "close":
            raise AttributeError(name)
        return lambda *args, **kwargs: self._run(getattr(self._mine()[1], name)(*args, **kwargs))

    def close(self) -> None:
        """Close every thread's client on its own loop (only this thread's loop can run here)."""
        with self._lock:
            everything, self._all = self._all, []
        for loop, store in everything:
            if not loop.is_closed():
                try:
                    loop.run_until_complete(store.client.aclose())
                except RuntimeError:
                    pass
                loop.close()


def sync_store(port: int, prefix: str, **options: Any) -> RedisStore:
    return RedisStore(sync_client(port), prefix=prefix, **options)
