"""The soak (issue 8): many sessions, mixed traffic, a minute, per store.

For SQLite (a temp file) and Redis (a private redis-server), one uvicorn server (uvloop +
httptools, pinned to core 0) runs ``TetherMiddleware`` around ``apps.py``'s app.
``--sessions`` (10,000) people sign in through ``POST /login``; then wrk (pinned to
core 1, ``--connections`` 32) sends, for ``--duration`` (60) seconds, what their
browsers send: each session in turn loads a page, beats and asks the status
(``--mix``). Reported: req/s, p50/p99, errors (socket errors and answers ≥ 400; goal 0),
the server's CPU per request, its RSS at the start of the load, every 5 s during it
(the peak) and at the end (goal: flat), and the store's size on disk or in memory.

    .venv/bin/python bench/bench_soak.py [--duration 60] [--sessions 10000] [--stores sqlite,redis]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from typing import Iterator

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from common import Server, WrkResult, load_average, private_redis, run_wrk, serve, sign_in  # noqa: E402


@dataclass
class Soak:
    store: str
    signed_in: int
    sign_in_seconds: float
    result: WrkResult
    rss_start: float
    rss_peak: float
    rss_end: float
    stored: str


@contextlib.contextmanager
def rss_watch(server: Server, every: float = 5.0) -> Iterator[list[float]]:
    """Samples the server's RSS (MB) every ``every`` seconds while the block runs."""
    samples: list[float] = []
    stop = threading.Event()

    def watch() -> None:
        while not stop.wait(every):
            rss = server.rss_mb()
            if rss is not None:
                samples.append(rss)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    try:
        yield samples
    finally:
        stop.set()
        thread.join()


def stored_size(store_url: str, db: str | None) -> str:
    """What the store holds afterwards: the SQLite file and its WAL, or Redis' used memory."""
    if db is not None:
        sizes = {suffix or "db": os.path.getsize(db + suffix) for suffix in ("", "-wal") if os.path.exists(db + suffix)}
        return ", ".join(f"{name} {size / 1e6:.1f} MB" for name, size in sizes.items())
    import redis

    with redis.Redis.from_url(store_url) as client:
        info = client.info("memory")
        return f"used_memory {info['used_memory'] / 1e6:.1f} MB, {client.dbsize()} keys"


def soak(name: str, store_url: str, db: str | None, args: argparse.Namespace) -> Soak:
    with serve("apps:asgi_tether", env={"BENCH_STORE": store_url},
               extra_args=["--loop", "uvloop", "--http", "httptools"]) as server:
        started = time.monotonic()
        cookies = sign_in(server.url, args.sessions, "tether")
        signed = time.monotonic() - started
        rss_start = server.rss_mb() or 0.0
        with rss_watch(server) as samples:
            result = run_wrk(server, mix=args.mix, cookies=cookies, duration=args.duration,
                             connections=args.connections)
        rss_end = server.rss_mb() or 0.0
        return Soak(name, len(cookies), signed, result, rss_start, max([rss_start, *samples, rss_end]), rss_end,
                    stored_size(store_url, db))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--duration", type=int, default=60, help="seconds of load per store (default 60)")
    p.add_argument("--sessions", type=int, default=10_000, help="signed-in sessions (default 10,000)")
    p.add_argument("--connections", type=int, default=32, help="wrk keep-alive connections (default 32)")
    p.add_argument("--mix", default="page,heartbeat,status", help="the requests each session makes in its turn")
    p.add_argument("--stores", default="sqlite,redis", help="sqlite,redis (default both)")
    args = p.parse_args(argv)

    print(f"Load average before the run (uptime): {load_average()}", flush=True)
    runs: list[Soak] = []
    tmpdir = tempfile.mkdtemp(prefix="tether-bench-soak-")
    for name in args.stores.split(","):
        if name == "sqlite":
            db = os.path.join(tmpdir, "soak.db")
            runs.append(soak("SQLite", "sqlite:///" + db, db, args))
        elif name == "redis":
            with private_redis() as url:
                runs.append(soak("Redis", url, None, args))
        else:
            raise SystemExit(f"unknown store {name!r}")
        print(f"  {runs[-1].store}: {runs[-1].result.rps:,.0f} req/s", file=sys.stderr, flush=True)
    print(f"Load average after the run: {load_average()}\n")
    print(f"{args.sessions:,} sessions, {args.connections} connections, {args.duration} s per store, "
          f"each session in turn: {args.mix}.\n")
    print("| store | sessions signed in (s) | requests | req/s | p50 ms | p99 ms | errors | server CPU µs/req "
          "| RSS start MB | RSS peak MB | RSS end MB | stored afterwards |")
    print("|---|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|---|")
    for s in runs:
        r = s.result
        errors = ", ".join(f"{k} {v}" for k, v in r.errors.items()) or "0"
        print(f"| {s.store} | {s.signed_in:,} ({s.sign_in_seconds:.0f} s) | {r.requests:,} | {r.rps:,.0f} | "
              f"{r.p50_ms:.2f} | {r.p99_ms:.2f} | {errors} | {r.server_us_per_request or 0:,.0f} | "
              f"{s.rss_start:.1f} | {s.rss_peak:.1f} | {s.rss_end:.1f} | {s.stored} |")
    return 1 if any(s.result.error_count for s in runs) else 0


if __name__ == "__main__":
    sys.exit(main())
