"""SQLite-specific behaviour: several processes on one file, locks, schema."""

from __future__ import annotations

import multiprocessing
import sqlite3

import pytest

from tether import Policy
from tether.exceptions import StoreUnavailable
from tether.stores import SQLiteStore
from tether.testing import CountingStore, FakeClock, make_record

from .apps import asgi_client

T0 = 1_800_000_000.0
POLICY = Policy(idle_timeout=600, absolute_timeout=3600, warn_before=60)


def _hammer(path: str, worker: int, keys: list[str], rounds: int, queue) -> None:
    """One worker process: touch and save the shared sessions, create its own, sweep."""
    store = SQLiteStore(path, busy_timeout=30)
    created = 0
    for i in range(rounds):
        for key in keys:
            record = store.load(key)
            assert record is not None
            t = T0 + 1 + i + worker / 100
            store.touch(key, POLICY.touched(record.meta, t))
            record.data[f"w{worker}"] = i
            store.save(record)
        mine = make_record(T0 - 10_000, user=f"w{worker}", policy=POLICY)  # already expired
        store.save(mine, create=True)
        created += 1
    swept = [r.key for r in store.sweep(T0, limit=7)]
    queue.put((worker, created, swept))
    store.close()


def test_several_processes_hammering_one_file(tmp_path):
    path = str(tmp_path / "shared.db")
    store = SQLiteStore(path)
    shared = [make_record(T0, user="ada", policy=POLICY) for _ in range(3)]
    for record in shared:
        store.save(record, create=True)
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    workers, rounds = 4, 40
    procs = [ctx.Process(target=_hammer, args=(path, w, [r.key for r in shared], rounds, queue)) for w in range(workers)]
    for p in procs:
        p.start()
    results = [queue.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    # Activity only moved forward, whichever process wrote last; no row was lost.
    for record in shared:
        loaded = store.load(record.key)
        assert loaded.meta.last_active == max(T0 + rounds + w / 100 for w in range(workers))
        assert loaded.meta.absolute_expires_at == record.meta.absolute_expires_at
        assert loaded.data and set(loaded.data) <= {f"w{w}" for w in range(workers)}
    # Expired sessions: each claimed exactly once across all processes and the final sweep.
    claimed = [key for _, _, swept in results for key in swept]
    claimed += [r.key for r in store.sweep(T0, limit=10_000)]
    assert len(claimed) == len(set(claimed)) == workers * rounds
    store.close()


def test_wal_and_indexes(tmp_path):
    SQLiteStore(tmp_path / "s.db").close()
    db = sqlite3.connect(tmp_path / "s.db")
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    plan = " ".join(str(r) for r in db.execute(
        "EXPLAIN QUERY PLAN SELECT key FROM tether_sessions WHERE expires_at <= 1 ORDER BY expires_at LIMIT 5"
    ))
    assert "tether_sessions_expiry" in plan
    db.close()


def test_locked_database_is_store_unavailable(tmp_path):
    path = tmp_path / "locked.db"
    store = SQLiteStore(path, busy_timeout=0.05)
    record = make_record(T0, policy=POLICY)
    store.save(record, create=True)
    blocker = sqlite3.connect(path, isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(StoreUnavailable) as info:
            store.touch(record.key, POLICY.touched(record.meta, T0 + 100))
        assert "locked" in str(info.value)
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert store.touch(record.key, POLICY.touched(record.meta, T0 + 100)) is True


def test_locked_store_answers_503_with_retry_after(tmp_path):
    path = tmp_path / "locked.db"
    store = CountingStore(SQLiteStore(path, busy_timeout=0.05))
    clock = FakeClock(T0)
    with asgi_client(store, clock, policy=POLICY) as client:
        client.post("/login", json={"user": "ada"})
        clock.advance(100)
        blocker = sqlite3.connect(path, isolation_level=None)
        blocker.execute("BEGIN EXCLUSIVE")
        try:
            headers = {"Content-Type": "application/json", "Origin": "http://testserver"}
            beat = client.post("/_tether/heartbeat", content=b"{}", headers=headers)
            assert beat.status_code == 503
            assert beat.headers["retry-after"] == "1"
            assert beat.headers["cache-control"] == "no-store"
            assert "error" in beat.json() and "state" not in beat.json()
            page = client.get("/whoami")
            assert page.status_code == 503 and "error" in page.json()
            login = client.post("/login", json={"user": "bob"})
            assert login.status_code == 503 and "set-cookie" not in login.headers
        finally:
            blocker.execute("ROLLBACK")
            blocker.close()
        # The session was never "ended" by the outage.
        assert client.post("/_tether/heartbeat", content=b"{}", headers=headers).status_code == 200


def test_unreachable_file_is_503(tmp_path, clock):
    store = SQLiteStore(tmp_path / "gone.db")
    with asgi_client(store, clock, policy=POLICY) as client:
        client.post("/login", json={"user": "ada"})
        store.close()
        (tmp_path / "a-file").write_text("not a directory")
        store.path = str(tmp_path / "a-file" / "gone.db")  # can no longer be opened
        response = client.get("/_tether/status")
        assert response.status_code == 503
        assert response.headers["retry-after"] == "1"


def test_a_thread_connection_closes_with_its_thread(tmp_path):
    import gc
    import threading

    store = SQLiteStore(tmp_path / "threads.db")
    record = make_record(T0, policy=POLICY)
    store.save(record, create=True)
    for _ in range(50):
        thread = threading.Thread(target=store.load, args=(record.key,))
        thread.start()
        thread.join()
    gc.collect()
    assert len(store._connections) <= 2  # this thread's, and none left by the 50 others
    store.close()


def test_a_forked_child_opens_its_own_connection(tmp_path):
    import os

    store = SQLiteStore(tmp_path / "fork.db")
    record = make_record(T0, policy=POLICY)
    store.save(record, create=True)
    parent = store._local.db
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: must not touch the parent's connection object
        try:
            ok = store.load(record.key) is not None and store._local.db is not parent
            os.write(write, b"1" if ok else b"0")
        finally:
            os._exit(0)
    os.waitpid(pid, 0)
    assert os.read(read, 1) == b"1"
    assert store._local.db is parent
    store.close()


def test_create_false_never_makes_a_file_or_directory(tmp_path):
    from tether.exceptions import ConfigurationError

    missing = tmp_path / "no" / "such" / "x.db"
    with pytest.raises(ConfigurationError, match="no SQLite database at"):
        SQLiteStore(missing, create=False)
    assert list(tmp_path.iterdir()) == []


def test_create_false_opens_an_existing_database_read_write(tmp_path):
    path = tmp_path / "x.db"
    record = make_record(T0, user="ada", policy=POLICY)
    SQLiteStore(path).save(record, create=True)
    store = SQLiteStore(path, create=False)
    assert store.load(record.key).meta.user == "ada"
    assert store.delete(record.key) is not None and store.count() == 0
    # Removed behind its back, the store fails as unavailable and does not recreate it.
    store.close()
    for leftover in tmp_path.iterdir():
        leftover.unlink()
    with pytest.raises(StoreUnavailable):
        store.count()
    assert list(tmp_path.iterdir()) == []
