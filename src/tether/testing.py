"""Test helpers for tether and for people writing their own stores.

- :class:`FakeClock`: a clock you move by hand.
- :class:`StoreContract`: the one contract suite every store passes. Subclass it in a
  pytest module and provide a ``store`` fixture returning a fresh sync store::

      class TestMyStore(StoreContract):
          @pytest.fixture
          def store(self, tmp_path):
              return MyStore(...)

  Async stores are covered by wrapping them with :class:`SyncOver` in the fixture
  (``SyncOver.per_thread(make)`` for a store whose client belongs to one event loop),
  so one suite checks both twins.
"""

from __future__ import annotations

import asyncio
import threading
from dataclasses import replace
from typing import Any, Callable

from ._policy import Policy
from ._records import Record, hash_token, new_token
from .stores.base import METHODS, StoreBase, StoreSummary


class FakeClock:
    """A clock for tests: starts at ``start`` (Unix seconds) and moves only when told."""

    def __init__(self, start: float = 1_800_000_000.0):
        self.now = float(start)
        self._lock = threading.Lock()

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> float:
        with self._lock:
            self.now += seconds
            return self.now

    def set(self, now: float) -> None:
        self.now = float(now)


class SyncOver:
    """Drive an async store from sync code (the contract suite, a script) on private
    event loops, one per calling thread, so the contract's concurrent tests work too.

    ``SyncOver(store)`` shares one store between those loops: right for a store whose
    state is not tied to a loop (memory, SQLite). ``SyncOver.per_thread(make)`` gives each
    thread its own store as well: an asyncio client's connections belong to the loop that
    opened them (Redis, PostgreSQL), and a store per thread models one app server per
    thread, on the same data.
    """

    def __init__(self, store: Any = None, *, make: Callable[[], Any] | None = None):
        if (store is None) == (make is None):
            raise ValueError("SyncOver takes a store or (per_thread) a factory, not both")
        self._shared = store
        self._make = make
        self._local = threading.local()
        self._all: list[tuple[asyncio.AbstractEventLoop, Any]] = []
        self._lock = threading.Lock()

    @classmethod
    def per_thread(cls, make: Callable[[], Any]) -> SyncOver:
        """Each calling thread gets ``make()``, its own store, on its own loop."""
        return cls(make=make)

    @property
    def async_store(self) -> Any:
        """This thread's store (the shared one, or this thread's own)."""
        return self._mine()[1]

    def _mine(self) -> tuple[asyncio.AbstractEventLoop, Any]:
        mine = getattr(self._local, "mine", None)
        if mine is None:
            store = self._shared if self._make is None else self._make()
            mine = self._local.mine = (asyncio.new_event_loop(), store)
            with self._lock:
                self._all.append(mine)
        return mine

    def __getattr__(self, name: str) -> Any:
        if name not in METHODS or name == "close":
            raise AttributeError(name)

        def call(*args: Any, **kwargs: Any) -> Any:
            loop, store = self._mine()
            return loop.run_until_complete(getattr(store, name)(*args, **kwargs))

        return call

    def close(self) -> None:
        """Close every store on the loop it ran on (the shared one once), then every loop:
        none is left for the garbage collector to close."""
        with self._lock:
            everything, self._all = self._all, []
        self._local = threading.local()
        closed: set[int] = set()
        for loop, store in everything:
            if id(store) not in closed:
                closed.add(id(store))
                loop.run_until_complete(store.close())
            loop.close()
        if not everything and self._shared is not None:
            asyncio.run(self._shared.close())


def make_record(now: float, *, user: str | None = None, data: dict[str, Any] | None = None,
                policy: Policy | None = None) -> Record:
    """A fresh record, as sign-in at ``now`` would create it."""
    meta = (policy or Policy()).start(now, user)
    return Record(hash_token(new_token()), meta, dict(data or {}))


class StoreContract:
    """The behaviour every store must have, as tests: ``touch`` never rewrites data nor
    creates a record, ``sweep`` hands each expired record to exactly one caller, a slow
    request never moves ``last_active`` backwards, and the rest of the contract. Subclass
    it in your own test module and provide a ``store`` fixture."""

    now = 1_800_000_000.0
    policy = Policy(idle_timeout=600, absolute_timeout=3600, warn_before=60)

    def record(self, **kwargs: Any) -> Record:
        return make_record(self.now, policy=self.policy, **kwargs)

    def test_load_missing_is_none(self, store: Any) -> None:
        assert store.load(hash_token(new_token())) is None

    def test_create_then_load_round_trips_data_and_meta(self, store: Any) -> None:
        record = self.record(user="ada", data={"cart": [1, 2], "name": "Ada ✓"})
        assert store.save(record, create=True) is True
        loaded = store.load(record.key)
        assert loaded is not None
        assert loaded.key == record.key
        assert loaded.data == {"cart": [1, 2], "name": "Ada ✓"}
        assert loaded.meta == record.meta

    def test_meta_extras_round_trip_and_survive_updates(self, store: Any) -> None:
        meta = replace(self.policy.start(self.now, "ada"), device="Firefox on Linux", ip="192.0.2.7")
        record = Record(hash_token(new_token()), meta, {"a": 1})
        store.save(record, create=True)
        assert store.load(record.key).meta == meta
        store.touch(record.key, self.policy.touched(meta, self.now + 30))
        store.save(Record(record.key, replace(meta, device=None, ip=None), {"a": 2}))
        loaded = store.load(record.key)
        assert (loaded.meta.device, loaded.meta.ip, loaded.meta.ended) == ("Firefox on Linux", "192.0.2.7", None)
        assert loaded.meta.last_active == self.now + 30
        [claimed] = store.delete_by_user("ada")
        assert claimed.meta.device == "Firefox on Linux"

    def test_tombstone_keeps_its_reason_and_save_never_clears_it(self, store: Any) -> None:
        tomb = Record(hash_token(new_token()), replace(self.policy.start(self.now), ended="revoked"), {})
        store.save(tomb, create=True)
        assert store.load(tomb.key).meta.ended == "revoked"
        # A slow request that loaded the live session writes afterwards: still ended.
        store.save(Record(tomb.key, replace(tomb.meta, ended=None), {"late": True}))
        assert store.load(tomb.key).meta.ended == "revoked"
        assert store.delete(tomb.key).meta.ended == "revoked"

    def test_load_and_touch_slides_only_when_the_policy_wants_it(self, store: Any) -> None:
        record = self.record(user="ada", data={"a": 1})
        store.save(record, create=True)
        early = store.load_and_touch(record.key, self.now + 1, self.policy)  # within the granularity
        assert early is not None and early.meta == record.meta and early.data == {"a": 1}
        later = self.now + 100
        slid = store.load_and_touch(record.key, later, self.policy)
        assert slid is not None and slid.meta == self.policy.touched(record.meta, later)
        assert store.load(record.key).meta == slid.meta
        assert store.load(record.key).data == {"a": 1}

    def test_load_and_touch_never_slides_an_expired_record(self, store: Any) -> None:
        record = self.record()
        store.save(record, create=True)
        late = self.now + self.policy.idle_timeout + 1
        loaded = store.load_and_touch(record.key, late, self.policy)
        assert loaded is not None and loaded.meta == record.meta  # the caller ends it
        assert store.load(record.key).meta == record.meta

    def test_load_and_touch_of_a_missing_key_is_none(self, store: Any) -> None:
        assert store.load_and_touch(hash_token(new_token()), self.now, self.policy) is None
        assert store.count() == 0

    def test_save_without_create_never_resurrects(self, store: Any) -> None:
        record = self.record()
        assert store.save(record) is False
        assert store.load(record.key) is None

    def test_save_updates_data(self, store: Any) -> None:
        record = self.record(data={"a": 1})
        store.save(record, create=True)
        record.data["a"] = 2
        assert store.save(record) is True
        assert store.load(record.key).data == {"a": 2}

    def test_save_never_moves_activity_backwards(self, store: Any) -> None:
        record = self.record(data={"a": 1})
        store.save(record, create=True)
        later = self.policy.touched(record.meta, self.now + 100)
        store.touch(record.key, later)
        # A slow request that loaded the old meta writes its data afterwards.
        store.save(Record(record.key, record.meta, {"a": 2}))
        loaded = store.load(record.key)
        assert loaded.data == {"a": 2}
        assert loaded.meta.last_active == later.last_active
        assert loaded.meta.idle_expires_at == later.idle_expires_at

    def test_touch_writes_meta_only(self, store: Any) -> None:
        record = self.record(data={"draft": "hello"})
        store.save(record, create=True)
        # A concurrent request wrote data after our load; the heartbeat must keep it.
        store.save(Record(record.key, record.meta, {"draft": "hello world"}))
        meta = self.policy.touched(record.meta, self.now + 30)
        assert store.touch(record.key, meta) is True
        loaded = store.load(record.key)
        assert loaded.data == {"draft": "hello world"}
        assert loaded.meta.last_active == self.now + 30
        assert loaded.meta.idle_expires_at == self.now + 30 + self.policy.idle_timeout
        assert loaded.meta.absolute_expires_at == record.meta.absolute_expires_at

    def test_touch_never_creates(self, store: Any) -> None:
        record = self.record()
        assert store.touch(record.key, record.meta) is False
        assert store.load(record.key) is None

    def test_touch_never_moves_backwards(self, store: Any) -> None:
        record = self.record()
        store.save(record, create=True)
        newer = self.policy.touched(record.meta, self.now + 200)
        older = self.policy.touched(record.meta, self.now + 100)
        store.touch(record.key, newer)
        store.touch(record.key, older)
        assert store.load(record.key).meta.last_active == self.now + 200

    def test_delete_claims_once(self, store: Any) -> None:
        record = self.record(data={"x": 1})
        store.save(record, create=True)
        claimed = store.delete(record.key)
        assert claimed is not None and claimed.key == record.key and claimed.data == {"x": 1}
        assert store.delete(record.key) is None
        assert store.load(record.key) is None

    def test_sweep_claims_only_expired_records(self, store: Any) -> None:
        fresh = self.record()
        stale = make_record(self.now - 10_000, policy=self.policy)  # idle expired long ago
        store.save(fresh, create=True)
        store.save(stale, create=True)
        claimed = store.sweep(self.now)
        assert [r.key for r in claimed] == [stale.key]
        assert store.load(stale.key) is None
        assert store.load(fresh.key) is not None
        assert store.sweep(self.now) == []

    def test_sweep_respects_touch(self, store: Any) -> None:
        record = self.record()
        store.save(record, create=True)
        store.touch(record.key, self.policy.touched(record.meta, self.now + 500))
        assert store.sweep(self.now + self.policy.idle_timeout + 1) == []
        assert len(store.sweep(self.now + 500 + self.policy.idle_timeout)) == 1

    def test_sweep_is_bounded_and_ordered(self, store: Any) -> None:
        records = [make_record(self.now - 10_000 - i, policy=self.policy) for i in range(7)]
        for record in records:
            store.save(record, create=True)
        first = store.sweep(self.now, limit=3)
        assert len(first) == 3
        # The longest-expired go first.
        assert [r.key for r in first] == [r.key for r in records[::-1][:3]]
        rest = store.sweep(self.now, limit=100)
        assert {r.key for r in first + rest} == {r.key for r in records}

    def test_absolute_expiry_bounds_sweep(self, store: Any) -> None:
        record = self.record()
        store.save(record, create=True)
        near_end = self.now + self.policy.absolute_timeout - 1
        store.touch(record.key, self.policy.touched(record.meta, near_end))
        assert store.sweep(self.now + self.policy.absolute_timeout - 0.5) == []
        assert len(store.sweep(self.now + self.policy.absolute_timeout)) == 1

    def test_users(self, store: Any) -> None:
        a1 = self.record(user="ada")
        a2 = make_record(self.now + 1, user="ada", policy=self.policy)
        b = self.record(user="bob")
        anon = self.record()
        for record in (a1, a2, b, anon):
            store.save(record, create=True)
        assert [r.key for r in store.list_by_user("ada")] == [a1.key, a2.key]
        assert [r.key for r in store.list_by_user("nobody")] == []
        removed = store.delete_by_user("ada")
        assert {r.key for r in removed} == {a1.key, a2.key}
        assert store.list_by_user("ada") == []
        assert store.load(a1.key) is None
        assert store.load(b.key) is not None and store.load(anon.key) is not None
        assert store.delete_by_user("ada") == []

    def test_count(self, store: Any) -> None:
        assert store.count() == 0
        store.save(self.record(), create=True)
        store.save(self.record(), create=True)
        assert store.count() == 2

    def test_summary_counts_live_users_expiring_and_ended(self, store: Any) -> None:
        assert store.summary(self.now, 600) in (StoreSummary(0, 0, 0, 0), StoreSummary(0, 0, 0, None))
        earlier = self.now - 500  # these expire 100 s from now
        records = [
            self.record(user="ada"), make_record(earlier, user="ada", policy=self.policy),
            make_record(earlier, user="bob", policy=self.policy), self.record(),
            make_record(self.now - 1000, user="cy", policy=self.policy),  # expired, not swept
            Record(hash_token(new_token()), replace(self.policy.start(self.now, "dee"), ended="revoked"), {}),
        ]
        for record in records:
            store.save(record, create=True)
        soon = store.summary(self.now, 200)
        assert (soon.live, soon.users, soon.expiring) == (4, 2, 2)
        assert soon.ended in (2, None)
        assert store.summary(self.now, 600).expiring == 4  # the boundary is included
        later = store.summary(self.now + 100, 0)  # ada's second and bob's have just expired
        assert (later.live, later.users, later.expiring) == (2, 1, 0)
        assert later.ended in (4, None)
        assert store.count() == 6  # counting claims nothing

    def test_concurrent_sweepers_claim_each_record_once(self, store: Any) -> None:
        records = [make_record(self.now - 10_000 - i, policy=self.policy) for i in range(60)]
        for record in records:
            store.save(record, create=True)
        claimed: list[str] = []
        lock = threading.Lock()

        def sweeper() -> None:
            while True:
                batch = store.sweep(self.now, limit=5)
                with lock:
                    claimed.extend(r.key for r in batch)
                if not batch:
                    return

        threads = [threading.Thread(target=sweeper) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(claimed) == sorted(r.key for r in records)


class CountingStore(StoreBase):
    """Wraps a sync store and counts calls per method, to check what a request costs.

    It counts the primitives: ``load_and_touch`` is :class:`StoreBase`'s default over
    them (never the wrapped store's), so a heartbeat reads as one ``load`` and, when due,
    one ``touch``.
    """

    def __init__(self, store: Any):
        self.store = store
        self.calls: dict[str, int] = {}

    def __getattr__(self, name: str) -> Any:
        if name not in METHODS:
            raise AttributeError(name)
        method = getattr(self.store, name)

        def counted(*args: Any, **kwargs: Any) -> Any:
            self.calls[name] = self.calls.get(name, 0) + 1
            return method(*args, **kwargs)

        return counted

    def writes(self) -> int:
        return sum(self.calls.get(n, 0) for n in ("save", "touch", "delete", "delete_by_user", "sweep"))

    def reset(self) -> None:
        self.calls.clear()
__all__ = ["FakeClock", "SyncOver", "StoreContract", "CountingStore", "make_record"]
