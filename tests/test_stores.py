"""The one store contract suite, run against every built-in store, sync and async."""

from __future__ import annotations

import pytest

from tether.stores import AsyncMemoryStore, AsyncSQLiteStore, MemoryStore, SQLiteStore
from tether.testing import StoreContract, SyncOver


class TestMemoryStore(StoreContract):
    @pytest.fixture
    def store(self):
        return MemoryStore()


class TestAsyncMemoryStore(StoreContract):
    @pytest.fixture
    def store(self):
        store = SyncOver(AsyncMemoryStore())
        yield store
        store.close()


class TestSQLiteStore(StoreContract):
    @pytest.fixture
    def store(self, tmp_path):
        store = SQLiteStore(tmp_path / "sessions.db")
        yield store
        store.close()


class TestAsyncSQLiteStore(StoreContract):
    @pytest.fixture
    def store(self, tmp_path):
        store = SyncOver(AsyncSQLiteStore(tmp_path / "sessions.db"))
        yield store
        store.close()
