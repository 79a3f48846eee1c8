"""Store factories shared by the Redis test modules."""

from __future__ import annotations

from typing import Any

import redis
import redis.asyncio
import redis.asyncio.cluster
import redis.cluster

from tether.stores.redis import RedisStore

TIMEOUTS = {"socket_timeout": 2.0, "socket_connect_timeout": 2.0}


def sync_client(port: int, **options: Any) -> redis.Redis:
    return redis.Redis(host="127.0.0.1", port=port, **{**TIMEOUTS, **options})


def sync_cluster_client(port: int, **options: Any) -> redis.cluster.RedisCluster:
    return redis.cluster.RedisCluster(host="127.0.0.1", port=port, **{**TIMEOUTS, **options})


def async_client(port: int, **options: Any) -> redis.asyncio.Redis:
    return redis.asyncio.Redis(host="127.0.0.1", port=port, **{**TIMEOUTS, **options})


def async_cluster_client(port: int, **options: Any) -> redis.asyncio.cluster.RedisCluster:
    return redis.asyncio.cluster.RedisCluster(host="127.0.0.1", port=port, **{**TIMEOUTS, **options})


def sync_store(port: int, prefix: str, **options: Any) -> RedisStore:
    return RedisStore(sync_client(port), prefix=prefix, **options)
