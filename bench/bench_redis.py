"""Heartbeats on Redis: tether + RedisStore against starsessions + its RedisStore.

One private redis-server (a free port, its own temp dir, no persistence) serves every
case; each case runs in its own uvicorn process (``common.serve``: one worker, pinned to
one core) and is loaded by the same client (``common.run_load``, another process, pinned
to the other core) for the same duration, once:

- ``bare ASGI endpoint``: the heartbeat's exact headers and JSON, no session at all;
- ``tether, no write``: ``POST /_tether/heartbeat`` inside ``touch_granularity`` (the
  default 60 s): one EVALSHA of the load-and-touch script, which only reads;
- ``tether, writes``: ``touch_granularity=0``, so every heartbeat also slides the idle
  expiry, in the same one script, as a browser's real once-per-window beat does;
- ``starsessions rolling``: starsessions' ``SessionMiddleware(rolling=True)`` on its
  ``RedisStore`` (the same Redis), a raw ASGI heartbeat endpoint that reads the session.

Before the load, an in-process check sends one heartbeat through each app and counts,
for that one request: client round trips to Redis (a counting redis-py connection),
Redis commands (``INFO commandstats`` deltas, split into the client's own commands and
those run inside Lua scripts) and ``Set-Cookie`` headers. A second in-process check
times the store work alone (CPU per heartbeat): ``load``, ``load`` then ``touch``, and
``load_and_touch`` (what the middleware runs for a heartbeat: one round trip).

    PYTHONPATH=src .venv/bin/python bench/bench_redis.py [--duration 5] [--concurrency 32]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.join(os.path.dirname(HERE), "src")
sys.path.insert(0, HERE)
if os.path.isdir(SRC) and SRC not in sys.path:
    sys.path.insert(1, SRC)

from common import (  # noqa: E402
    asgi_call,
    HEARTBEAT_BODY,
    HEARTBEAT_HEADERS,
    login_app,
    sign_in,
    LoadResult,
    LoadSpec,
    cookie_from,
    cpu_plan,
    free_port,
    http_impl,
    loop_impl,
    print_table,
    run_load,
    serve,
)

HEARTBEAT = "/_tether/heartbeat"
STARSESSIONS_HEARTBEAT = "/heartbeat"
IDLE = 1200
# -- the apps (uvicorn factories, configured through the environment) ------------------------


def tether_app(store: Any = None, clock: Any = None) -> Any:
    """TetherMiddleware on ``AsyncRedisStore`` at ``BENCH_REDIS_URL``;
    ``BENCH_GRANULARITY`` seconds (empty: the policy's default)."""
    from tether import Policy, TetherMiddleware
    from tether.stores.redis import AsyncRedisStore

    if store is None:
        store = AsyncRedisStore.from_url(os.environ["BENCH_REDIS_URL"], prefix="bench:")
    granularity = os.environ.get("BENCH_GRANULARITY") or None
    policy = Policy(idle_timeout=IDLE, touch_granularity=None if granularity is None else float(granularity))
    options: dict[str, Any] = {"clock": clock} if clock is not None else {}
    return TetherMiddleware(login_app(), store=store, policy=policy, sweep_interval=None, **options)


def starsessions_app(connection: Any = None) -> Any:
    """starsessions' SessionMiddleware(rolling=True) on its RedisStore; ``POST /login``
    puts a user in the session, ``POST /heartbeat`` reads it and answers like tether."""
    import redis.asyncio
    from starsessions import SessionAutoloadMiddleware, SessionMiddleware
    from starsessions.stores.redis import RedisStore

    if connection is None:
        connection = redis.asyncio.Redis.from_url(os.environ["BENCH_REDIS_URL"])

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        if scope["method"] == "POST":
            while (await receive()).get("more_body"):
                pass
        session = scope["session"]
        if scope["path"] == "/login":
            session["user"] = "bench-user"
            body = b'{"ok":true}'
            status = 200
        elif session.get("user"):
            body, status = HEARTBEAT_BODY, 200
        else:
            body, status = b'{"state":"ended","reason":"none"}', 401
        await send({"type": "http.response.start", "status": status, "headers": HEARTBEAT_HEADERS})
        await send({"type": "http.response.body", "body": body})

    store = RedisStore(connection=connection, prefix="bench-starsessions.")
    return SessionMiddleware(
        SessionAutoloadMiddleware(app), store=store, lifetime=IDLE, rolling=True, cookie_https_only=False
    )


# -- a private redis-server ----------------------------------------------------------------------


class PrivateRedis:
    """redis-server on a free loopback port with its own temp dir, no RDB, no AOF."""

    def __init__(self) -> None:
        binary = shutil.which("redis-server") or "/usr/bin/redis-server"
        if not os.path.exists(binary):
            raise SystemExit("redis-server not found (apt-get install redis-server)")
        self.dir = tempfile.mkdtemp(prefix="tether-bench-redis-")
        self.port = free_port()
        self.proc = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", self.dir, "--daemonize", "no", "--logfile", os.path.join(self.dir, "redis.log")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as s:
                    s.sendall(b"PING\r\n")
                    if s.recv(16).startswith(b"+PONG"):
                        return
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise SystemExit("redis-server did not start")

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
        shutil.rmtree(self.dir, ignore_errors=True)


# -- the in-process count of one heartbeat ------------------------------------------------------------


def _counting_client(url: str) -> tuple[Any, dict[str, int]]:
    """An asyncio redis client whose connections count socket writes (round trips)."""
    import redis.asyncio
    from redis.asyncio.connection import Connection

    counts = {"round_trips": 0}

    class Counting(Connection):
        async def send_packed_command(self, command: Any, check_health: bool = True) -> None:
            counts["round_trips"] += 1
            await super().send_packed_command(command, check_health)

    pool = redis.asyncio.ConnectionPool.from_url(url, connection_class=Counting)
    return redis.asyncio.Redis(connection_pool=pool), counts


_STATS_CLIENTS: dict[str, Any] = {}


def _commandstats(url: str) -> dict[str, int]:
    """INFO commandstats calls per command, over one kept connection (a new one would
    add its own HELLO / CLIENT SETINFO to the counts)."""
    import redis

    client = _STATS_CLIENTS.get(url)
    if client is None:
        client = _STATS_CLIENTS[url] = redis.Redis.from_url(url)
    return {k.removeprefix("cmdstat_"): int(v["calls"]) for k, v in client.info("commandstats").items()}


def _delta(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    changed = {k: after[k] - before.get(k, 0) for k in after if after[k] != before.get(k, 0)}
    changed.pop("info", None)
    return changed


CLIENT_COMMANDS = {"evalsha", "eval", "script|load", "hgetall", "get", "set", "setex", "ping", "client|setinfo", "hello"}


def count_one_heartbeat(url: str, case: str) -> dict[str, Any]:
    """Round trips, commands and Set-Cookie of one heartbeat through ``case``'s app."""
    from tether.stores.redis import AsyncRedisStore
    from tether.testing import FakeClock

    async def scenario() -> dict[str, Any]:
        client, counts = _counting_client(url)
        clock = FakeClock(time.time())
        if case == "starsessions rolling":
            app = starsessions_app(client)
            path, name = STARSESSIONS_HEARTBEAT, "session"
        else:
            os.environ["BENCH_GRANULARITY"] = "0" if case == "tether, writes" else ""
            app = tether_app(AsyncRedisStore(client, prefix="bench-count:"), clock)
            path, name = HEARTBEAT, "tether"
        status, headers = await asgi_call(app, "POST", "/login", {"host": "bench", "origin": "http://bench",
                                                               "content-type": "application/json"}, b"{}")
        assert status == 200, status
        cookie = cookie_from(headers, name)
        beat = {"host": "bench", "origin": "http://bench", "content-type": "application/json", "cookie": cookie}
        clock.advance(1)
        await asgi_call(app, "POST", path, beat, b"{}")  # warm: scripts loaded, connection made
        clock.advance(1)
        await client.ping()
        before = _commandstats(url)
        trips = counts["round_trips"]
        status, headers = await asgi_call(app, "POST", path, beat, b"{}")
        trips = counts["round_trips"] - trips
        stats = _delta(before, _commandstats(url))
        await client.aclose()
        assert status == 200, status
        own = {k: v for k, v in stats.items() if k in CLIENT_COMMANDS}
        inside = {k: v for k, v in stats.items() if k not in CLIENT_COMMANDS}
        return {
            "round_trips": trips,
            "client_commands": own,
            "in_scripts": inside,
            "commands_total": sum(stats.values()),
            "set_cookie": sum(1 for k, _ in headers if k.lower() == "set-cookie"),
        }

    return asyncio.run(scenario())


def store_work_cpu(url: str, concurrency: int = 32, per_task: int = 300) -> list[tuple[str, float]]:
    """CPU µs per heartbeat spent on the session store alone (redis-py included), in process,
    ``concurrency`` tasks at once: what each design costs before any HTTP."""
    import redis.asyncio
    from starsessions.stores.redis import RedisStore as StarStore

    from tether import Policy
    from tether.stores.redis import AsyncRedisStore
    from tether.testing import make_record

    async def scenario() -> list[tuple[str, float]]:
        client = redis.asyncio.Redis.from_url(url)
        store = AsyncRedisStore(client, prefix="bench-work:")
        star = StarStore(connection=client, prefix="bench-work-star.")
        policy = Policy(idle_timeout=IDLE, touch_granularity=0)
        now = time.time()
        records = [make_record(now, policy=policy, user="bench-user") for _ in range(concurrency)]
        for r in records:
            await store.save(r, create=True)
            await star.write(r.key, b'{"user":"bench-user"}', IDLE, IDLE)

        async def no_write(r: Any) -> None:
            await store.load(r.key)

        async def load_then_touch(r: Any) -> None:
            loaded = await store.load(r.key)
            await store.touch(r.key, policy.touched(loaded.meta, time.time()))

        async def fused(r: Any) -> None:
            await store.load_and_touch(r.key, time.time(), policy)

        async def starsessions(r: Any) -> None:
            data = await star.read(r.key, IDLE)
            await star.write(r.key, data, IDLE, IDLE)

        out = []
        for name, work in (("tether load (no write)", no_write), ("tether load + touch (2 round trips)", load_then_touch),
                           ("tether load_and_touch (1 round trip)", fused), ("starsessions read + write", starsessions)):
            async def loop(r: Any) -> None:
                for _ in range(per_task):
                    await work(r)

            await asyncio.gather(*(loop(r) for r in records[:4]))  # warm: scripts, connections
            started = time.process_time()
            await asyncio.gather(*(loop(r) for r in records))
            out.append((name, (time.process_time() - started) / (concurrency * per_task) * 1e6))
        await client.aclose()
        return out

    return asyncio.run(scenario())


# -- the run --------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--duration", type=float, default=5.0, help="seconds of measured load per case (default 5)")
    p.add_argument("--warmup", type=float, default=1.0, help="seconds of unmeasured load first (default 1)")
    p.add_argument("--concurrency", type=int, default=32, help="keep-alive connections, one session each (default 32)")
    p.add_argument("--http", default="auto", choices=("auto", "h11", "httptools"),
                   help="uvicorn's HTTP parser (auto: httptools when installed, else h11)")
    args = p.parse_args(argv)

    redis_server = PrivateRedis()
    env = {"BENCH_REDIS_URL": redis_server.url,
           "PYTHONPATH": os.pathsep.join(x for x in (SRC, os.environ.get("PYTHONPATH", "")) if x)}
    cases: list[tuple[str, str, dict[str, str], str, str]] = [
        ("bare ASGI endpoint", "common:bare_app", {}, HEARTBEAT, ""),
        ("tether, no write", "bench_redis:tether_app", {"BENCH_GRANULARITY": ""}, HEARTBEAT, "tether"),
        ("tether, writes", "bench_redis:tether_app", {"BENCH_GRANULARITY": "0"}, HEARTBEAT, "tether"),
        ("starsessions rolling", "bench_redis:starsessions_app", {}, STARSESSIONS_HEARTBEAT, "session"),
    ]
    try:
        print("## One heartbeat, counted in process (same Redis)\n")
        print("| case | client round trips | client commands | commands inside scripts | Set-Cookie |")
        print("|---|---:|---|---|---:|")
        counted = {}
        for name, *_ in cases[1:]:
            c = counted[name] = count_one_heartbeat(redis_server.url, name)
            fmt = lambda d: ", ".join(f"{k.upper()}×{v}" for k, v in sorted(d.items())) or "—"  # noqa: E731
            print(f"| {name} | {c['round_trips']} | {fmt(c['client_commands'])} | {fmt(c['in_scripts'])} | {c['set_cookie']} |")

        print("\n## Store work alone per heartbeat, in process (CPU µs, 32 tasks at once)\n")
        print("| store work | CPU µs |\n|---|---:|")
        for name, us in store_work_cpu(redis_server.url):
            print(f"| {name} | {us:,.0f} |")

        rows: list[tuple[str, LoadResult]] = []
        per_request: dict[str, float] = {}
        for name, app, case_env, path, cookie_name in cases:
            with serve(app, env={**env, **case_env}, ready_path="/", extra_args=["--http", args.http]) as server:
                cookies = sign_in(server.url, args.concurrency, cookie_name or None)
                spec = LoadSpec(
                    url=server.url + path, method="POST",
                    headers={"Content-Type": "application/json", "Origin": server.url}, body="{}",
                    cookies=cookies, duration=args.duration, warmup=args.warmup, concurrency=args.concurrency,
                )
                before = _commandstats(redis_server.url)
                result = run_load(spec, server=server)
                stats = _delta(before, _commandstats(redis_server.url))
                rows.append((name, result))
                # The deltas span the warm-up too: scale the measured answers to the whole run.
                estimated = sum(result.statuses.values()) * (args.warmup + args.duration) / args.duration
                per_request[name] = sum(stats.values()) / estimated if estimated else 0.0
                print(f"  {name}: {result.rps:,.0f} req/s", file=sys.stderr, flush=True)
    finally:
        for client in _STATS_CLIENTS.values():
            client.close()
        redis_server.stop()

    server_core, client_core = cpu_plan()
    print(f"\n## Heartbeat req/s ({args.duration:g} s each after {args.warmup:g} s warm-up, one run, "
          f"{args.concurrency} connections)\n")
    http = http_impl() if args.http == "auto" else args.http
    print(f"Python {platform.python_version()}, uvicorn http={http} loop={loop_impl()}, "
          f"{os.cpu_count()} CPUs; server pinned to core {server_core}, client to core {client_core}, "
          f"redis-server unpinned.\n")
    print_table(rows)
    results = dict(rows)
    star, bare = results["starsessions rolling"], results["bare ASGI endpoint"]
    print("\n| case | req/s ÷ starsessions | starsessions CPU ÷ case CPU (per request) | "
          "middleware CPU over bare: starsessions ÷ case | ≈ Redis commands / heartbeat under load |")
    print("|---|---:|---:|---:|---:|")
    for name in ("tether, no write", "tether, writes", "starsessions rolling"):
        r = results[name]
        us, star_us, bare_us = r.server_us_per_request, star.server_us_per_request, bare.server_us_per_request
        by_cpu = f"{star_us / us:.2f}×" if us and star_us else "?"
        over = f"{(star_us - bare_us) / (us - bare_us):.2f}×" if us and star_us and bare_us and us > bare_us else "?"
        print(f"| {name} | {r.rps / star.rps:.2f}× | {by_cpu} | {over} | {per_request.get(name, 0):.1f} |")
    bad = [name for name, r in rows if set(r.statuses) != {200} or r.errors]
    if bad:
        print(f"\nWARNING: non-200 answers or connection errors in: {', '.join(bad)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
