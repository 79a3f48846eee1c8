"""The shared store contract (tether.testing.StoreContract) against real Redis and a real
three-node Redis Cluster, sync and async."""

from __future__ import annotations

import pytest

from tether.stores.redis import AsyncRedisStore, RedisStore
from tether.testing import StoreContract, SyncOver

from .helpers import async_client, async_cluster_client, sync_client, sync_cluster_client


class TestRedisStore(StoreContract):
    @pytest.fixture
    def store(self, redis_server, prefix):
        store = RedisStore(sync_client(redis_server.port), prefix=prefix)
        yield store
        store.client.close()


class TestRedisStoreDecodedResponses(StoreContract):
    """A client made with ``decode_responses=True`` (str replies) works the same."""

    @pytest.fixture
    def store(self, redis_server, prefix):
        store = RedisStore(sync_client(redis_server.port, decode_responses=True), prefix=prefix, shards=4)
        yield store
        store.client.close()


class TestRedisStoreResp3(StoreContract):
    @pytest.fixture
    def store(self, redis_server, prefix):
        store = RedisStore(sync_client(redis_server.port, protocol=3), prefix=prefix, shards=1)
        yield store
        store.client.close()


class TestAsyncRedisStore(StoreContract):
    @pytest.fixture
    def store(self, redis_server, prefix):
        store = SyncOver.per_thread(lambda: AsyncRedisStore(async_client(redis_server.port), prefix=prefix, owns_client=True))
        yield store
        store.close()


class TestRedisClusterStore(StoreContract):
    @pytest.fixture
    def store(self, redis_cluster, prefix):
        store = RedisStore(sync_cluster_client(redis_cluster.nodes[0].port), prefix=prefix)
        yield store
        store.client.close()


class TestAsyncRedisClusterStore(StoreContract):
    @pytest.fixture
    def store(self, redis_cluster, prefix):
        port = redis_cluster.nodes[1].port
        store = SyncOver.per_thread(lambda: AsyncRedisStore(async_cluster_client(port), prefix=prefix, owns_client=True))
        yield store
        store.close()
