"""Client CPU of a Redis store call with and without hiredis, in the same run.

redis-py parses replies and packs commands in C when ``hiredis`` is importable (the
``[redis]`` extra installs it). This measures what that saves per ``load``: each round
runs two child processes against one private redis-server, one with hiredis blocked
(``sys.modules["hiredis"] = None`` before redis-py is imported) and one with it, and
reports process CPU per call, medians over interleaved rounds.

    .venv/bin/python bench/bench_hiredis.py            # 5 rounds
    .venv/bin/python bench/bench_hiredis.py --rounds 9
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

CALLS = 20_000
CONCURRENCY = 32  # async calls in flight together: one batch per loop turn, as under load


def _child(mode: str, url: str) -> dict[str, float]:
    """One measurement, in a fresh process so that redis-py sees hiredis or not."""
    if mode == "python":
        sys.modules["hiredis"] = None  # type: ignore[assignment]  # import now fails
    import redis.utils

    from tether._records import Meta, Record
    from tether.stores.redis import AsyncRedisStore, RedisStore

    assert redis.utils.HIREDIS_AVAILABLE == (mode == "hiredis"), mode
    prefix = f"bench-hiredis-{os.getpid()}:"
    meta = Meta(created_at=1000.0, last_active=1000.0, idle_expires_at=1e12, absolute_expires_at=1e12, user="ada")
    keys = [f"k{i}" for i in range(CONCURRENCY)]

    async def run_async() -> float:
        store = AsyncRedisStore.from_url(url, prefix=prefix + "a:")
        try:
            for key in keys:
                await store.save(Record(key=key, meta=meta, data={"user": "ada"}), create=True)
            start = time.process_time()
            for _ in range(CALLS // CONCURRENCY):
                await asyncio.gather(*(store.load(key) for key in keys))
            return (time.process_time() - start) / CALLS * 1e6
        finally:
            for key in keys:
                await store.delete(key)
            await store.close()

    def run_sync() -> float:
        store = RedisStore.from_url(url, prefix=prefix + "s:")
        try:
            for key in keys:
                store.save(Record(key=key, meta=meta, data={"user": "ada"}), create=True)
            calls = CALLS // 4
            start = time.process_time()
            for i in range(calls):
                store.load(keys[i % CONCURRENCY])
            return (time.process_time() - start) / calls * 1e6
        finally:
            for key in keys:
                store.delete(key)
            store.close()

    return {"async": asyncio.run(run_async()), "sync": run_sync()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(_child(*args.child)))
        return

    from common import private_redis

    results: dict[str, dict[str, list[float]]] = {"python": {"async": [], "sync": []}, "hiredis": {"async": [], "sync": []}}
    with private_redis() as url:
        for _ in range(args.rounds):
            for mode in ("python", "hiredis"):
                out = subprocess.run([sys.executable, __file__, "--child", mode, url], check=True,
                                     capture_output=True, text=True).stdout
                for twin, value in json.loads(out).items():
                    results[mode][twin].append(value)
    print(f"client CPU per load, µs (median of {args.rounds} interleaved rounds)")
    print("| store | redis-py parser | hiredis | saved |")
    print("|---|---:|---:|---:|")
    for twin, label in (("sync", "RedisStore"), ("async", f"AsyncRedisStore ({CONCURRENCY} in flight)")):
        python, fast = statistics.median(results["python"][twin]), statistics.median(results["hiredis"][twin])
        print(f"| {label} | {python:.1f} | {fast:.1f} | {python - fast:.1f} |")


if __name__ == "__main__":
    main()
