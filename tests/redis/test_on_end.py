"""on_end fires exactly once per ended session when several app servers sweep one Redis."""

from __future__ import annotations

import asyncio
from typing import Any

from tether import Policy, TetherMiddleware
from tether.stores.redis import AsyncRedisStore
from tether.testing import FakeClock, make_record

from .helpers import async_client

NOW = 1_800_000_000.0
POLICY = Policy(idle_timeout=600, absolute_timeout=3600, warn_before=60)


async def _app(scope: Any, receive: Any, send: Any) -> None:  # never reached: only sweeping
    raise AssertionError("no requests in this test")


def test_servers_sweeping_together_report_each_end_once(redis_server, prefix):
    async def main() -> tuple[list[tuple[str, str]], list[str], list[str], int]:
        clock = FakeClock(NOW)
        ended: list[tuple[str, str]] = []
        servers, stores = [], []
        for name in "abc":
            store = AsyncRedisStore(async_client(redis_server.port), prefix=prefix)
            stores.append(store)

            def on_end(record: Any, reason: str, name: str = name) -> None:
                ended.append((name, record.key, reason))  # type: ignore[arg-type]

            servers.append(TetherMiddleware(_app, store=store, policy=POLICY, clock=clock, on_end=on_end,
                                            sweep_interval=None))
        idle = [make_record(NOW - 700 - i, policy=POLICY) for i in range(120)]
        absolute = []
        for i in range(30):  # active until the absolute end
            r = make_record(NOW - 3600 - i, policy=POLICY)
            r.meta = POLICY.touched(r.meta, NOW - 10)
            absolute.append(r)
        alive = [make_record(NOW - 10, policy=POLICY) for _ in range(10)]
        for r in idle + absolute + alive:
            await stores[0].save(r, create=True)
        while await stores[0].count() > len(alive):
            await asyncio.gather(*(s.sweep(limit=7) for s in servers))
        remaining = await stores[1].count()
        for store in stores:
            await store.client.aclose()
        return ended, [r.key for r in idle], [r.key for r in absolute], remaining

    ended, idle, absolute, remaining = asyncio.run(main())
    keys = [key for _, key, _ in ended]
    assert len(keys) == len(set(keys)) == len(idle) + len(absolute)
    reasons = {key: reason for _, key, reason in ended}
    assert all(reasons[k] == "idle" for k in idle) and all(reasons[k] == "absolute" for k in absolute)
    assert remaining == 10
