"""Concurrency on a real server: sweepers in several processes, and data writes racing
heartbeats on one session."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path

from tether import Policy
from tether.stores.postgres import PostgresStore
from tether.testing import make_record

NOW = 1_800_000_000.0
POLICY = Policy(idle_timeout=600, absolute_timeout=3600, warn_before=60, touch_granularity=0)

SWEEPER = """
import json, sys, time
from pathlib import Path
from tether.stores.postgres import PostgresStore

url, go, now = sys.argv[1], Path(sys.argv[2]), float(sys.argv[3])
store = PostgresStore.from_url(url)
store.count()  # connected and ready before the start signal
deadline = time.monotonic() + 60
while not go.exists() and time.monotonic() < deadline:
    time.sleep(0.005)
claimed = []
while True:
    batch = store.sweep(now, limit=7)
    if not batch:
        break
    claimed += [r.key for r in batch]
store.close()
print(json.dumps(claimed))
"""


def test_sweepers_in_several_processes_claim_each_record_exactly_once(postgres_url, tmp_path: Path):
    store = PostgresStore.from_url(postgres_url)
    expired = [make_record(NOW - 10_000 - i, policy=POLICY) for i in range(400)]
    alive = [make_record(NOW, policy=POLICY) for _ in range(20)]
    for record in expired + alive:
        store.save(record, create=True)
    go = tmp_path / "go"
    processes = [
        subprocess.Popen([sys.executable, "-c", SWEEPER, postgres_url, str(go), repr(NOW)], stdout=subprocess.PIPE, text=True)
        for _ in range(4)
    ]
    go.touch()
    outputs = [json.loads(p.communicate(timeout=120)[0]) for p in processes]
    assert all(p.returncode == 0 for p in processes)
    claimed = [key for out in outputs for key in out]
    assert len(claimed) == len(set(claimed)) == len(expired)  # nobody claimed a record twice
    assert set(claimed) == {r.key for r in expired}
    assert store.count() == len(alive)
    store.close()


def test_data_writes_and_heartbeats_in_parallel_lose_nothing(postgres_url):
    """One writer saves ever newer data with the meta it loaded at the start (a slow
    request); two heartbeat threads slide the session with interleaved times, through
    touch and load_and_touch. Afterwards the data is the writer's last and the activity the
    latest heartbeat's: neither kind of write undid the other."""
    store = PostgresStore.from_url(postgres_url.replace("timeout=3", "timeout=10"))
    record = make_record(NOW, policy=POLICY, data={"n": 0})
    store.save(record, create=True)
    stale_meta = record.meta
    rounds = 300
    started = threading.Barrier(3)

    def writer() -> None:
        started.wait()
        for n in range(1, rounds + 1):
            assert store.save(type(record)(record.key, stale_meta, {"n": n, "pad": "x" * (n % 50)}))

    def heartbeat(offset: float, combined: bool) -> None:
        started.wait()
        for i in range(rounds):
            now = NOW + 1 + 2 * i + offset
            if combined:
                assert store.load_and_touch(record.key, now, POLICY) is not None
            else:
                assert store.touch(record.key, POLICY.touched(stale_meta, now))

    threads = [threading.Thread(target=writer), threading.Thread(target=heartbeat, args=(0.0, True)),
               threading.Thread(target=heartbeat, args=(1.0, False))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    latest = NOW + 1 + 2 * (rounds - 1) + 1.0
    loaded = store.load(record.key)
    assert loaded.data == {"n": rounds, "pad": "x" * (rounds % 50)}
    assert loaded.meta.last_active == latest
    assert loaded.meta.idle_expires_at == latest + POLICY.idle_timeout
    assert loaded.meta.created_at == record.meta.created_at
    store.close()


def test_a_sweep_never_claims_a_session_a_heartbeat_just_slid(postgres_url):
    """Sweeps racing heartbeats at the expiry instant: every record is either slid (and
    kept) or claimed, never both, and a slid one is never claimed by this sweep time."""
    store = PostgresStore.from_url(postgres_url)
    records = [make_record(NOW, policy=POLICY) for _ in range(150)]
    for record in records:
        store.save(record, create=True)
    edge = NOW + POLICY.idle_timeout - 0.5  # alive at this instant, expired at the sweep's
    slid: set[str] = set()
    claimed: list[str] = []
    go = threading.Event()

    def beats() -> None:
        go.wait()
        for record in records:
            loaded = store.load_and_touch(record.key, edge, POLICY)
            if loaded is not None and loaded.meta.last_active == edge:
                slid.add(record.key)

    def sweeps() -> None:
        go.wait()
        while True:
            batch = store.sweep(NOW + POLICY.idle_timeout, limit=5)
            claimed.extend(r.key for r in batch)
            if not batch:
                return

    threads = [threading.Thread(target=beats), threading.Thread(target=sweeps)]
    for thread in threads:
        thread.start()
    go.set()
    for thread in threads:
        thread.join(timeout=120)
    assert len(claimed) == len(set(claimed))
    assert not slid & set(claimed)
    assert slid | set(claimed) == {r.key for r in records}
    assert store.count() == len(slid)
    store.close()
