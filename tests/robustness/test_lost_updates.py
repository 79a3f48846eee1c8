"""Lost updates: concurrent data writes and heartbeats, on every store, through every adapter.

Several signed-in sessions at once; per session one writer adds a new key per request
(``POST /data``) while two threads beat and one loads pages, and a ticker moves the shared
FakeClock on past the touch granularity again and again (so heartbeats and pages really
write ``last_active`` while the data writes run, and slow requests carry an older "now"). A
watcher reads every record from the store throughout. Afterwards every write is there,
and ``last_active`` (and the idle expiry) never went backwards, neither as watched nor at
the end.
"""

from __future__ import annotations

import threading
from contextlib import contextmanager
from typing import Any, Callable, Iterator

import pytest

from tether import Record, hash_token
from tether.stores import MemoryStore, SQLiteStore
from tether.stores.base import StoreBase
from tether.testing import FakeClock

from ..apps import FACTORIES
from .conftest import JSON_POST, POLICY, open_site

SESSIONS = 3
WRITES = 12  # per session, one writer each
BEATS = 12  # per heartbeat thread, two per session
TICKS, TICK = 50, 6.0  # 300 s in all: past the 30 s granularity many times, under the 600 s idle timeout


@pytest.fixture(params=["memory", "sqlite", "redis"])
def any_store(request: pytest.FixtureRequest, tmp_path: Any) -> Iterator[Any]:
    if request.param == "memory":
        yield MemoryStore()
        return
    if request.param == "sqlite":
        store = SQLiteStore(tmp_path / "sessions.db")
        yield store
        store.close()
        return
    from ..redis.helpers import sync_client
    from tether.stores.redis import RedisStore

    server = request.getfixturevalue("redis_server")
    store = RedisStore(sync_client(server.port), prefix=request.getfixturevalue("prefix"))
    yield store
    store.client.close()


def run_all(workers: list[Callable[[], None]]) -> list[BaseException]:
    """Run every worker on its own thread, started together; return what they raised."""
    errors: list[BaseException] = []
    start = threading.Barrier(len(workers))

    def wrap(work: Callable[[], None]) -> None:
        try:
            start.wait()
            work()
        except BaseException as exc:  # reported by the test, with the others
            errors.append(exc)

    threads = [threading.Thread(target=wrap, args=(work,)) for work in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads), "a worker hung"
    return errors


@pytest.mark.parametrize("adapter", sorted(FACTORIES))
def test_concurrent_writes_and_heartbeats_lose_nothing_and_never_go_back(adapter, any_store):
    clock = FakeClock()
    with open_site(adapter, any_store, clock) as client:
        tokens = []
        for i in range(SESSIONS):
            signed = client.post("/login", json={"user": f"u{i}"})
            assert signed.status_code == 200
            tokens.append(signed.cookies["tether"])
            client.cookies.clear()  # from now on each request names its session itself
        keys = [hash_token(t) for t in tokens]
        done = threading.Event()
        backwards: list[str] = []

        def cookie(token: str) -> dict[str, str]:
            return {"Cookie": f"tether={token}"}

        def writer(token: str, i: int) -> Callable[[], None]:
            def work() -> None:
                for j in range(WRITES):
                    response = client.post("/data", json={f"w{i}-{j}": j}, headers=cookie(token))
                    assert response.status_code == 200, response.text
            return work

        def beater(token: str) -> Callable[[], None]:
            def work() -> None:
                for _ in range(BEATS):
                    response = client.post("/_tether/heartbeat", content=b"{}", headers={**JSON_POST, **cookie(token)})
                    assert response.status_code == 200, response.text
            return work

        def reader(token: str) -> Callable[[], None]:
            def work() -> None:
                for _ in range(BEATS):
                    assert client.get("/whoami", headers=cookie(token)).json()["user"] is not None
            return work

        def ticker() -> None:
            for _ in range(TICKS):
                clock.advance(TICK)
                done.wait(0.002)  # pacing, so the requests interleave with the ticks

        seen = {key: (0.0, 0.0) for key in keys}

        def watch_once() -> None:
            for key in keys:
                record = any_store.load(key)
                assert record is not None, "a session vanished"
                meta = (record.meta.last_active, record.meta.idle_expires_at)
                if meta < seen[key]:
                    backwards.append(f"{key[:8]}: {seen[key]} -> {meta}")
                seen[key] = max(seen[key], meta)

        def watcher() -> None:
            while not done.is_set():
                watch_once()

        workers: list[Callable[[], None]] = [ticker]
        for i, token in enumerate(tokens):
            workers += [writer(token, i), beater(token), beater(token), reader(token)]
        watch = threading.Thread(target=watcher)
        watch.start()
        errors = run_all(workers)
        done.set()
        watch.join(timeout=60)
        assert not errors, errors
        watch_once()
        assert not backwards, backwards

        for i, token in enumerate(tokens):
            data = client.get("/whoami", headers=cookie(token)).json()["data"]
            assert data == {f"w{i}-{j}": j for j in range(WRITES)}
            record = any_store.load(hash_token(token))
            assert (record.meta.last_active, record.meta.idle_expires_at) >= seen[keys[i]]
            assert record.meta.last_active > clock.now - POLICY.touch_granularity - TICK


# -- the two races, made to happen on purpose -----------------------------------------------


class Between(StoreBase):
    """A store that, once armed, runs ``meanwhile()`` just before the next call of
    ``method``: what another app server does while this request is slow. Its
    ``load_and_touch`` is the contract's default (a load, then a touch, through this
    wrapper), which is what memory and SQLite run: the gap between the two is real."""

    def __init__(self, store: Any, method: str):
        self.inner = store
        self.method = method
        self.meanwhile: Callable[[], None] | None = None

    def __getattr__(self, name: str) -> Any:
        call = getattr(self.inner, name)
        if name != self.method:
            return call

        def interleaved(*args: Any, **kwargs: Any) -> Any:
            hook, self.meanwhile = self.meanwhile, None
            if hook is not None:
                hook()
            return call(*args, **kwargs)

        return interleaved


@contextmanager
def slow(adapter: str, store: Any, method: str) -> Iterator[tuple[Any, Between, str, FakeClock]]:
    """A signed-in client 100 s after sign-in, over ``Between(store, method)``; yields the
    client, the wrapper (arm it with ``meanwhile``), the session's key and the clock."""
    clock = FakeClock()
    between = Between(store, method)
    with open_site(adapter, between, clock) as client:
        token = client.post("/login", json={"user": "ada"}).cookies["tether"]
        clock.advance(100)
        yield client, between, hash_token(token), clock
        assert between.meanwhile is None, f"the request never called {method}()"


@pytest.mark.parametrize("adapter", sorted(FACTORIES))
def test_a_slow_data_write_keeps_a_newer_heartbeat(adapter, any_store):
    """The data write loaded the session at t; before it saves, a heartbeat elsewhere slides
    the session at t + 40. The save stores the data and keeps the newer activity."""
    with slow(adapter, any_store, "save") as (client, between, key, clock):

        def heartbeat_elsewhere() -> None:
            record = any_store.load(key)
            assert any_store.touch(key, POLICY.touched(record.meta, clock.advance(40)))

        between.meanwhile = heartbeat_elsewhere
        assert client.post("/data", json={"draft": "hello"}).status_code == 200
    record = any_store.load(key)
    assert record.data == {"draft": "hello"}
    assert record.meta.last_active == clock.now
    assert record.meta.idle_expires_at == clock.now + POLICY.idle_timeout


# Redis loads and touches in one atomic round trip (load_and_touch): there is no gap.
@pytest.mark.parametrize("any_store", ["memory", "sqlite"], indirect=True)
@pytest.mark.parametrize("adapter", sorted(FACTORIES))
def test_a_slow_heartbeat_keeps_a_newer_data_write(adapter, any_store):
    """The heartbeat loaded the session at t; before it touches, a request elsewhere writes
    data and slides at t + 40. The touch neither drops that data nor goes back in time."""
    assert type(any_store).load_and_touch is StoreBase.load_and_touch  # load, then touch
    with slow(adapter, any_store, "touch") as (client, between, key, clock):

        def write_elsewhere() -> None:
            record = any_store.load(key)
            meta = POLICY.touched(record.meta, clock.advance(40))
            assert any_store.save(Record(key, meta, {**record.data, "late": 1}))

        between.meanwhile = write_elsewhere
        beat = client.post("/_tether/heartbeat", content=b"{}", headers=JSON_POST)
        assert beat.status_code == 200, beat.text
    record = any_store.load(key)
    assert record.data == {"late": 1}
    assert record.meta.last_active == clock.now
