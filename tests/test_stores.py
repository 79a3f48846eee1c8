"""The one store contract suite, run against every built-in store, sync and async."""

from __future__ import annotations

from typing import Any

import pytest

from tether import Meta, Record
from tether.stores import AsyncMemoryStore, AsyncSQLiteStore, MemoryStore, SQLiteStore
from tether.testing import StoreContract, SyncOver


class TestMemoryStore(StoreContract):
    @pytest.fixture
    def store(self):
        return MemoryStore()

    def test_records_share_nothing_mutable_with_callers(self, store):
        """Data is copied in and out as a real store would (scalars as they are, lists
        and dicts copied): a caller mutating its dict never changes what is stored."""
        data = {"user": "ada", "n": 1, "cart": [1, {"id": 2}], "prefs": {"dark": True}}
        store.save(Record("k", Meta(1.0, 1.0, 2.0, 3.0), data), create=True)
        data["cart"].append(3)
        data["prefs"]["dark"] = False
        loaded = store.load("k")
        assert loaded.data == {"user": "ada", "n": 1, "cart": [1, {"id": 2}], "prefs": {"dark": True}}
        loaded.data["cart"][1]["id"] = 9
        loaded.data["user"] = "bob"
        assert store.load("k").data == {"user": "ada", "n": 1, "cart": [1, {"id": 2}], "prefs": {"dark": True}}


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


def test_sync_over_per_thread_gives_each_thread_its_own_store_and_closes_each_once():
    import threading

    made: list[Any] = []

    class Tracked(AsyncMemoryStore):
        closed = 0

        async def close(self) -> None:
            type(self).closed += 1

    def make() -> Tracked:
        made.append(Tracked())
        return made[-1]

    driver = SyncOver.per_thread(make)
    seen = []
    for _ in range(2):
        thread = threading.Thread(target=lambda: seen.append(driver.async_store))
        thread.start()
        thread.join()
    assert driver.count() == 0  # this thread's store: a third one
    assert len(made) == 3 and len({id(s) for s in seen}) == 2
    driver.close()
    assert Tracked.closed == 3


def test_sync_over_takes_a_store_or_a_factory():
    with pytest.raises(ValueError):
        SyncOver()
    with pytest.raises(ValueError):
        SyncOver(AsyncMemoryStore(), make=AsyncMemoryStore)
