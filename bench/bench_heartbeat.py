"""What does tether's heartbeat cost? req/s under uvicorn, against a bare ASGI endpoint.

Serves, each in its own uvicorn process (one worker, no access log, pinned to one core):

- ``bare``: a plain ASGI endpoint answering the heartbeat's exact headers and JSON body;
- tether's ``POST /_tether/heartbeat`` (TetherMiddleware around a trivial app) with the
  memory store and with the SQLite store (a temp file), each in two cases:
  ``no write``: heartbeats inside ``touch_granularity`` (the default, 60 s) load the
  session and write nothing; ``writes``: ``touch_granularity=0``, so every heartbeat
  also does its one meta-only ``touch`` — the cost of a heartbeat that really slides the
  idle expiry, which is what a browser sending one heartbeat per minute or less causes.

Each connection of the load client (another process, pinned to the other core) has its
own signed-in session, made through the app's ``POST /login`` before each round. Cases
are loaded in turns (``--rounds`` × ``--duration`` s each, after a warm-up), and each
case is reported at its best round (``--pick median`` for the median): noise from other
processes on the machine only ever slows a round down, so the best round is the closest
to what the server can do, and taking turns spreads any burst of noise over every case.
The table also gives the server's CPU time per request, which other processes move much
less than req/s.

Before the load, an in-process check counts store calls per heartbeat with
``tether.testing.CountingStore``: one ``load``, and a ``touch`` only past the granularity.

    .venv/bin/python bench/bench_heartbeat.py [--duration 2] [--rounds 3] [--concurrency 32]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import sys
import tempfile
from contextlib import ExitStack
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from common import (  # noqa: E402
    cookie_from,
    asgi_call,
    bare_app,
    login_app,
    sign_in,
    LoadResult,
    LoadSpec,
    cpu_plan,
    http_impl,
    loop_impl,
    print_table,
    run_load,
    serve,
)

HEARTBEAT = "/_tether/heartbeat"

# -- the apps (uvicorn factories, configured through the environment) -------------------------


def tether_app() -> Any:
    """TetherMiddleware with ``BENCH_STORE`` (memory | sqlite at ``BENCH_DB``) and
    ``BENCH_GRANULARITY`` seconds (empty: the policy's default)."""
    from tether import Policy, TetherMiddleware
    from tether.stores import MemoryStore
    from tether.stores.sqlite import AsyncSQLiteStore

    kind = os.environ.get("BENCH_STORE", "memory")
    store: Any = MemoryStore() if kind == "memory" else AsyncSQLiteStore(os.environ["BENCH_DB"])
    granularity = os.environ.get("BENCH_GRANULARITY") or None
    policy = Policy(touch_granularity=None if granularity is None else float(granularity))
    return TetherMiddleware(login_app(), store=store, policy=policy, sweep_interval=None)


# -- the in-process store-call check ----------------------------------------------------------


def count_store_calls(tmpdir: str) -> list[str]:
    """Store calls per heartbeat, inside and past the granularity, for memory and SQLite."""
    from tether import Policy, TetherMiddleware
    from tether.stores import MemoryStore, SQLiteStore
    from tether.testing import CountingStore, FakeClock

    lines = []
    for name, inner in (("memory", MemoryStore()), ("sqlite", SQLiteStore(os.path.join(tmpdir, "count.db")))):
        clock = FakeClock()
        store = CountingStore(inner)
        policy = Policy()
        app = TetherMiddleware(login_app(), store=store, policy=policy, clock=clock, sweep_interval=None)

        async def scenario() -> tuple[dict[str, int], dict[str, int]]:
            _, headers = await asgi_call(app, "POST", "/login", {"host": "bench"})
            cookie = cookie_from(headers, "tether")
            beat = {"host": "bench", "origin": "http://bench", "content-type": "application/json", "cookie": cookie}
            store.reset()
            clock.advance(policy.granularity / 2)
            status, _ = await asgi_call(app, "POST", HEARTBEAT, beat, b"{}")
            assert status == 200, status
            inside = dict(store.calls)
            store.reset()
            clock.advance(policy.granularity)
            status, _ = await asgi_call(app, "POST", HEARTBEAT, beat, b"{}")
            assert status == 200, status
            return inside, dict(store.calls)

        inside, past = asyncio.run(scenario())
        assert inside == {"load": 1}, inside
        assert past == {"load": 1, "touch": 1}, past
        lines.append(f"- {name}: heartbeat inside granularity → {inside}; past it → {past}")
        inner.close()
    return lines


# -- tether's own CPU per heartbeat, in process ------------------------------------------------------


def _cpu() -> float:
    import resource

    usage = resource.getrusage(resource.RUSAGE_SELF)  # every thread, the SQLite worker included
    return usage.ru_utime + usage.ru_stime


def inprocess_cost(tmpdir: str, n: int = 10_000, concurrency: int = 32) -> list[tuple[str, float]]:
    """CPU µs per heartbeat through the middleware alone (no HTTP server, no sockets):
    ``concurrency`` tasks on one event loop, as under uvicorn. The bare app is included
    so the harness's own cost is visible."""
    from tether import Policy, TetherMiddleware
    from tether.stores import MemoryStore
    from tether.stores.sqlite import AsyncSQLiteStore

    async def measure(app: Any, cookie: str | None) -> float:
        headers = [(b"host", b"127.0.0.1:8000"), (b"origin", b"http://127.0.0.1:8000"),
                   (b"content-type", b"application/json"), (b"content-length", b"2"),
                   (b"user-agent", b"bench"), (b"accept", b"*/*")]
        if cookie:
            headers.append((b"cookie", cookie.encode()))
        message = {"type": "http.request", "body": b"{}", "more_body": False}

        async def receive() -> dict[str, Any]:
            return message

        async def send(_: Any) -> None:
            pass

        async def worker(count: int) -> None:
            for _ in range(count):
                scope = {"type": "http", "method": "POST", "path": HEARTBEAT, "scheme": "http",
                         "query_string": b"", "headers": headers}
                await app(scope, receive, send)

        await asyncio.gather(*(worker(100) for _ in range(concurrency)))  # warm-up
        start = _cpu()
        await asyncio.gather(*(worker(n // concurrency) for _ in range(concurrency)))
        return (_cpu() - start) / (n // concurrency * concurrency) * 1e6

    async def run() -> list[tuple[str, float]]:
        out = [("bare ASGI endpoint", await measure(bare_app(), None))]
        for name, granularity in (("no write", None), ("writes", 0.0)):
            for kind in ("memory", "sqlite"):
                store: Any = MemoryStore() if kind == "memory" else AsyncSQLiteStore(
                    os.path.join(tmpdir, f"inprocess-{name}.db"))
                app = TetherMiddleware(login_app(), store=store, policy=Policy(touch_granularity=granularity),
                                       sweep_interval=None)
                _, headers = await asgi_call(app, "POST", "/login", {"host": "bench"})
                out.append((f"{kind}, {name}", await measure(app, cookie_from(headers, "tether"))))
        return out

    return asyncio.run(run())


# -- the run ----------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--duration", type=float, default=2.0, help="seconds of load per case per round (default 2)")
    p.add_argument("--rounds", type=int, default=3, help="rounds, each case loaded once per round (default 3; 0: in-process checks only)")
    p.add_argument("--pick", choices=("best", "median"), default="best", help="which round to report (default best)")
    p.add_argument("--warmup", type=float, default=0.5, help="seconds of unmeasured load before each round (default 0.5)")
    p.add_argument("--concurrency", type=int, default=32, help="keep-alive connections, one session each (default 32)")
    p.add_argument("--only", default="", help="comma-separated case names to run (bare always runs)")
    p.add_argument("--no-inprocess", action="store_true", help="skip the in-process CPU measurement")
    p.add_argument("--http", default="auto", choices=("auto", "h11", "httptools"),
                   help="uvicorn's HTTP parser (auto: httptools when installed, else h11)")
    args = p.parse_args(argv)

    server_core, client_core = cpu_plan()
    tmpdir = tempfile.mkdtemp(prefix="tether-bench-")
    print("## Store calls per heartbeat (in process, tether.testing.CountingStore)\n")
    for line in count_store_calls(tmpdir):
        print(line)
    if not args.no_inprocess:
        print("\n## tether's CPU per heartbeat, in process (no HTTP server; 32 concurrent tasks)\n")
        print("| case | CPU µs per heartbeat |\n|---|---:|")
        for name, us in inprocess_cost(tmpdir):
            print(f"| {name} | {us:.1f} |")

    cases: list[tuple[str, str, dict[str, str]]] = [
        ("bare ASGI endpoint", "common:bare_app", {}),
        ("memory, no write", "bench_heartbeat:tether_app", {"BENCH_STORE": "memory"}),
        ("memory, writes", "bench_heartbeat:tether_app", {"BENCH_STORE": "memory", "BENCH_GRANULARITY": "0"}),
        ("sqlite, no write", "bench_heartbeat:tether_app",
         {"BENCH_STORE": "sqlite", "BENCH_DB": os.path.join(tmpdir, "nowrite.db")}),
        ("sqlite, writes", "bench_heartbeat:tether_app",
         {"BENCH_STORE": "sqlite", "BENCH_DB": os.path.join(tmpdir, "writes.db"), "BENCH_GRANULARITY": "0"}),
    ]
    if args.only:
        wanted = {s.strip() for s in args.only.split(",")}
        cases = [c for c in cases if c[0] in wanted or c[1].endswith("bare_app")]

    if args.rounds < 1:
        return 0
    results: dict[str, list[LoadResult]] = {name: [] for name, _, _ in cases}
    with ExitStack() as stack:
        servers = {
            name: stack.enter_context(serve(app, env=env, extra_args=["--http", args.http]))
            for name, app, env in cases
        }
        for r in range(args.rounds):
            for name, app, _ in cases:
                server = servers[name]
                url = server.url
                cookies = [] if app.endswith("bare_app") else sign_in(url, args.concurrency, "tether")
                spec = LoadSpec(
                    url=url + HEARTBEAT,
                    method="POST",
                    headers={"Content-Type": "application/json", "Origin": url},
                    body="{}",
                    cookies=cookies,
                    duration=args.duration,
                    warmup=args.warmup,
                    concurrency=args.concurrency,
                )
                result = run_load(spec, server=server)
                results[name].append(result)
                print(f"  round {r + 1}: {name}: {result.rps:,.0f} req/s", file=sys.stderr, flush=True)

    rows = []
    for name, runs in results.items():
        ranked = sorted(runs, key=lambda x: x.rps)
        rows.append((name, ranked[-1] if args.pick == "best" else ranked[len(ranked) // 2]))
    print(
        f"\n## Heartbeat req/s ({args.pick} of {args.rounds} rounds × {args.duration:g} s, "
        f"{args.concurrency} connections)\n"
    )
    http = http_impl() if args.http == "auto" else args.http
    print(f"Python {platform.python_version()}, uvicorn http={http} loop={loop_impl()}, "
          f"{os.cpu_count()} CPUs; server pinned to core {server_core}, client to core {client_core}.\n")
    print_table(rows)
    print("\nrounds (req/s | server CPU µs/req):")
    for name, runs in results.items():
        cells = ", ".join(f"{r.rps:,.0f} | {r.server_us_per_request or 0:,.0f}" for r in runs)
        print(f"- {name}: {cells}")
    bad = [name for name, r in rows if set(r.statuses) != {200} or r.errors]
    if bad:
        print(f"\nWARNING: non-200 answers or connection errors in: {', '.join(bad)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
