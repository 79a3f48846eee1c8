"""The hot path on the setup users deploy: tether and its peers under wrk (issue 13).

Servers (``apps.py``), each in its own process on a free port, pinned to core 0:

- ASGI under uvicorn with uvloop and httptools (one worker, no access log): bare ASGI,
  Starlette's signed-cookie ``SessionMiddleware``, starsessions on Redis (rolling), and
  ``tether.TetherMiddleware`` with the memory, SQLite and Redis stores;
- WSGI under gunicorn (one worker, ``gthread`` × 4 threads, keep-alive): bare WSGI,
  ``tether.wsgi.TetherMiddleware`` (memory, SQLite, Redis), bare Flask, Flask + tether
  (Redis), Flask-Session (Redis), bare Django, Django + tether (Redis), Django cache
  sessions (Redis).

Load: wrk (one thread, 32 keep-alive connections, pinned to core 1) with
``browser.lua``, each connection's requests cycling over 32 signed-in sessions. Two
workloads: ``heartbeat`` (``POST /_tether/heartbeat`` with what tether.js sends) and
``page`` (``GET /page``, a signed-in page that reads one session value). One private
redis-server (a free port, its own temp dir, on wrk's core) serves every Redis case.

Rounds are interleaved (every case of a workload once per round, after a 1 s warm-up);
the tables give medians over rounds, and ratios are medians of the per-round ratios to
the baseline measured in the same round. Server CPU per request is the serving
process's utime+stime over the run (from /proc) ÷ requests: other processes on the
machine move it much less than req/s.

    .venv/bin/python bench/bench_hotpath.py [--rounds 3] [--duration 3] [--only tether,bare]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import socket
import statistics
import sys
import tempfile
import urllib.parse
from dataclasses import dataclass, field
from importlib.metadata import version
from typing import Iterator

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from common import (  # noqa: E402
    Server,
    asgi_call,
    cookie_from,
    WrkResult,
    cpu_plan,
    load_average,
    private_redis,
    redis_calls,
    run_wrk,
    serve,
    serve_wsgi,
    sign_in,
)

WORKLOADS = ("heartbeat", "page")


@dataclass
class Case:
    name: str
    app: str  # apps.py factory
    wsgi: bool = False
    env: dict[str, str] = field(default_factory=dict)
    cookie: str | None = "tether"  # the session cookie's name; None: no sessions
    baseline: str = "bare ASGI"
    peer: str | None = None  # the session layer this case is compared with
    workloads: tuple[str, ...] = WORKLOADS
    redis: bool = False

    @contextlib.contextmanager
    def serve(self) -> Iterator[Server]:
        if self.wsgi:
            with serve_wsgi(f"apps:{self.app}()", env=self.env) as server:
                yield server
        else:
            with serve(f"apps:{self.app}", env=self.env,
                       extra_args=["--loop", "uvloop", "--http", "httptools"]) as server:
                yield server


def cases(redis_url: str, tmpdir: str) -> list[Case]:
    def sqlite(name: str) -> str:
        return "sqlite:///" + os.path.join(tmpdir, f"{name}.db")

    redis_env = {"BENCH_STORE": redis_url, "BENCH_REDIS": redis_url}
    every_beat = {"BENCH_GRANULARITY": "0"}
    wsgi = "bare WSGI"
    return [
        Case("bare ASGI", "asgi_bare", cookie=None),
        Case("Starlette SessionMiddleware (signed cookie)", "asgi_starlette_cookie", cookie="session"),
        Case("starsessions + Redis (rolling)", "asgi_starsessions", env=redis_env, cookie="session", redis=True),
        Case("tether ASGI + memory", "asgi_tether", env={"BENCH_STORE": "memory://"}, peer="starsessions + Redis (rolling)"),
        Case("tether ASGI + SQLite", "asgi_tether", env={"BENCH_STORE": sqlite("asgi")}, peer="starsessions + Redis (rolling)"),
        Case("tether ASGI + SQLite, touch every beat", "asgi_tether", env={"BENCH_STORE": sqlite("asgi-0"), **every_beat},
             peer="starsessions + Redis (rolling)", workloads=("heartbeat",)),
        Case("tether ASGI + Redis", "asgi_tether", env=redis_env, peer="starsessions + Redis (rolling)", redis=True),
        Case("tether ASGI + Redis, touch every beat", "asgi_tether", env={**redis_env, **every_beat},
             peer="starsessions + Redis (rolling)", workloads=("heartbeat",), redis=True),
        Case(wsgi, "wsgi_bare", wsgi=True, cookie=None, baseline=wsgi),
        Case("tether WSGI + memory", "wsgi_tether", wsgi=True, env={"BENCH_STORE": "memory://"}, baseline=wsgi,
             peer="Flask-Session + Redis"),
        Case("tether WSGI + SQLite", "wsgi_tether", wsgi=True, env={"BENCH_STORE": sqlite("wsgi")}, baseline=wsgi,
             peer="Flask-Session + Redis"),
        Case("tether WSGI + Redis", "wsgi_tether", wsgi=True, env=redis_env, baseline=wsgi, peer="Flask-Session + Redis",
             redis=True),
        Case("bare Flask", "flask_bare", wsgi=True, cookie=None, baseline=wsgi),
        Case("Flask + tether + Redis", "flask_tether", wsgi=True, env=redis_env, baseline=wsgi,
             peer="Flask-Session + Redis", redis=True),
        Case("Flask-Session + Redis", "flask_session", wsgi=True, env=redis_env, cookie="session", baseline=wsgi,
             redis=True),
        Case("bare Django", "django_bare", wsgi=True, cookie=None, baseline=wsgi),
        Case("Django + tether + Redis", "django_tether", wsgi=True, env=redis_env, baseline=wsgi,
             peer="Django cache sessions + Redis", redis=True),
        Case("Django cache sessions + Redis", "django_cache", wsgi=True, env=redis_env, cookie="sessionid",
             baseline=wsgi, redis=True),
    ]


# -- one request as it goes over the wire ------------------------------------------------------


def browser_request(kind: str, url: str, cookie: str | None) -> bytes:
    """The request ``browser.lua`` sends for ``kind``, with ``Connection: close``."""
    host = urllib.parse.urlsplit(url).netloc
    lines = ["POST /_tether/heartbeat HTTP/1.1" if kind == "heartbeat" else "GET /page HTTP/1.1",
             f"Host: {host}", "Sec-Fetch-Site: same-origin", "Connection: close"]
    if cookie:
        lines.append(f"Cookie: {cookie}")
    if kind == "heartbeat":
        lines += ["Content-Type: application/json", f"Origin: {url}", "Content-Length: 2"]
    return ("\r\n".join(lines) + "\r\n\r\n" + ("{}" if kind == "heartbeat" else "")).encode()


@dataclass
class Wire:
    status: int
    size: int  # bytes of the whole answer, head and body
    framing: str  # "Content-Length" | "chunked" | "close"
    set_cookies: int


def on_the_wire(server: Server, kind: str, cookie: str | None) -> Wire:
    """Send one request and read the answer to EOF (the server closes: Connection: close)."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as s:
        s.sendall(browser_request(kind, server.url, cookie))
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    head = data.split(b"\r\n\r\n", 1)[0].decode("latin-1").lower().split("\r\n")
    names = [line.split(":", 1)[0] for line in head[1:]]
    framing = "Content-Length" if "content-length" in names else (
        "chunked" if any(line.startswith("transfer-encoding:") and "chunked" in line for line in head) else "close")
    return Wire(int(head[0].split()[1]), len(data), framing, names.count("set-cookie"))


# -- store calls per request, counted in process ------------------------------------------------


def store_calls() -> list[str]:
    """What each request costs the store (memory, ``tether.testing.CountingStore``), through
    the same app as the servers, with a fake clock: a page and a heartbeat inside the touch
    granularity, and a heartbeat past it."""
    import asyncio

    from apps import _asgi_session_app
    from tether import Policy, TetherMiddleware
    from tether.stores import MemoryStore
    from tether.testing import CountingStore, FakeClock

    clock, store, policy = FakeClock(), CountingStore(MemoryStore()), Policy()
    app = TetherMiddleware(_asgi_session_app(), store=store, policy=policy, clock=clock, sweep_interval=None)
    post = {"host": "bench", "origin": "http://bench", "content-type": "application/json",
            "sec-fetch-site": "same-origin"}

    async def counted(method: str, path: str, cookie: str, advance: float) -> str:
        clock.advance(advance)
        store.reset()
        status, headers = await asgi_call(app, method, path, {**post, "cookie": cookie}, b"{}" if method == "POST" else b"")
        cookies = sum(1 for k, _ in headers if k.lower() == "set-cookie")
        return f"{status}, store calls {dict(sorted(store.calls.items()))}, Set-Cookie ×{cookies}"

    async def scenario() -> list[str]:
        _, headers = await asgi_call(app, "POST", "/login", post, b"{}")
        cookie = cookie_from(headers, "tether")
        return [
            f"- page inside the granularity: {await counted('GET', '/page', cookie, policy.granularity / 4)}",
            f"- heartbeat inside the granularity: {await counted('POST', '/_tether/heartbeat', cookie, policy.granularity / 4)}",
            f"- heartbeat past the granularity: {await counted('POST', '/_tether/heartbeat', cookie, policy.granularity)}",
            f"- page past the granularity: {await counted('GET', '/page', cookie, policy.granularity)}",
        ]

    return asyncio.run(scenario())


# -- the run -------------------------------------------------------------------------------------


@dataclass
class Measured:
    runs: list[WrkResult] = field(default_factory=list)
    redis_per_request: list[float] = field(default_factory=list)
    wire: Wire | None = None


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def measure(case: Case, server: Server, kind: str, cookies: list[str], args: argparse.Namespace,
            redis_url: str) -> tuple[WrkResult, float | None]:
    run_wrk(server, mix=kind, cookies=cookies, duration=1, connections=args.connections)  # warm-up
    before = redis_calls(redis_url) if case.redis else 0
    result = run_wrk(server, mix=kind, cookies=cookies, duration=args.duration, connections=args.connections)
    per_request = (redis_calls(redis_url) - before) / result.requests if case.redis and result.requests else None
    return result, per_request


def ratio_per_round(results: dict[tuple[str, str], Measured], case: Case, kind: str, other: str,
                    metric: str) -> float:
    """Median over rounds of case ÷ other (req/s) or other ÷ case (CPU per request)."""
    mine, theirs = results[case.name, kind].runs, results[other, kind].runs
    if metric == "rps":
        values = [a.rps / b.rps for a, b in zip(mine, theirs) if b.rps]
    else:
        values = [b.server_us_per_request / a.server_us_per_request for a, b in zip(mine, theirs)
                  if a.server_us_per_request and b.server_us_per_request]
    return median(values)


def table(kind: str, chosen: list[Case], results: dict[tuple[str, str], Measured]) -> list[str]:
    names = {c.name for c in chosen}
    lines = [
        "| case | req/s | × baseline | server CPU µs/req | best round µs/req | × baseline by CPU | × peer (req/s) | × peer by CPU "
        "| p50 ms | p99 ms | errors | Redis cmds/req | bytes/answer | framing | Set-Cookie |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|",
    ]
    for case in chosen:
        m = results.get((case.name, kind))
        if m is None or not m.runs:
            continue
        rps = median([r.rps for r in m.runs])
        cpu = [r.server_us_per_request or float("nan") for r in m.runs]
        us = median(cpu)
        base = ratio_per_round(results, case, kind, case.baseline, "rps") if case.baseline in names else float("nan")
        base_cpu = ratio_per_round(results, case, kind, case.baseline, "cpu") if case.baseline in names else float("nan")
        has_peer = case.peer in names and (case.peer, kind) in results
        peer = ratio_per_round(results, case, kind, case.peer, "rps") if has_peer else None  # type: ignore[arg-type]
        peer_cpu = ratio_per_round(results, case, kind, case.peer, "cpu") if has_peer else None  # type: ignore[arg-type]
        errors = sum(r.error_count for r in m.runs)
        redis = f"{median(m.redis_per_request):.1f}" if m.redis_per_request else "—"
        wire = m.wire
        lines.append(
            f"| {case.name} | {rps:,.0f} | {base:.2f} | {us:,.0f} | {min(cpu):,.0f} | {base_cpu:.2f} | "
            f"{'—' if peer is None else f'{peer:.2f}'} | {'—' if peer_cpu is None else f'{peer_cpu:.2f}'} | "
            f"{median([r.p50_ms for r in m.runs]):.2f} | {median([r.p99_ms for r in m.runs]):.2f} | {errors} | {redis} | "
            f"{wire.size if wire else '?'} | {wire.framing if wire else '?'} | {wire.set_cookies if wire else '?'} |"
        )
    return lines


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rounds", type=int, default=3, help="interleaved rounds (default 3)")
    p.add_argument("--duration", type=int, default=3, help="measured seconds per case per round (default 3)")
    p.add_argument("--connections", type=int, default=32, help="wrk keep-alive connections (default 32)")
    p.add_argument("--sessions", type=int, default=32, help="signed-in sessions per case (default 32)")
    p.add_argument("--only", default="", help="comma-separated substrings of case names (baselines and peers stay)")
    p.add_argument("--workloads", default=",".join(WORKLOADS), help="heartbeat,page (default both)")
    args = p.parse_args(argv)
    kinds = [k for k in args.workloads.split(",") if k]

    server_core, client_core = cpu_plan()
    print(f"Load average before the run (uptime): {load_average()}", flush=True)
    tmpdir = tempfile.mkdtemp(prefix="tether-bench-hotpath-")
    with private_redis() as redis_url, contextlib.ExitStack() as stack:
        chosen = cases(redis_url, tmpdir)
        if args.only:
            wanted = [w.strip() for w in args.only.split(",") if w.strip()]
            keep = {c.name for c in chosen if any(w in c.name for w in wanted)}
            keep |= {c.baseline for c in chosen if c.name in keep} | {c.peer for c in chosen if c.name in keep and c.peer}
            chosen = [c for c in chosen if c.name in keep]
        servers = {c.name: stack.enter_context(c.serve()) for c in chosen}
        cookies = {c.name: sign_in(servers[c.name].url, args.sessions, c.cookie) for c in chosen}
        results: dict[tuple[str, str], Measured] = {}
        for case in chosen:
            for kind in case.workloads:
                if kind in kinds:
                    results[case.name, kind] = Measured(
                        wire=on_the_wire(servers[case.name], kind, cookies[case.name][0] if cookies[case.name] else None))
        for r in range(args.rounds):
            for kind in kinds:
                for case in chosen:
                    if kind not in case.workloads:
                        continue
                    result, per_request = measure(case, servers[case.name], kind, cookies[case.name], args, redis_url)
                    m = results[case.name, kind]
                    m.runs.append(result)
                    if per_request is not None:
                        m.redis_per_request.append(per_request)
                    print(f"  round {r + 1} {kind}: {case.name}: {result.rps:,.0f} req/s, "
                          f"{result.server_us_per_request or 0:,.0f} µs/req, errors {result.errors or 0}",
                          file=sys.stderr, flush=True)
    print(f"Load average after the run: {load_average()}\n")
    print(f"Python {platform.python_version()}; uvicorn {version('uvicorn')} (uvloop {version('uvloop')}, "
          f"httptools {version('httptools')}), gunicorn {version('gunicorn')} (1 gthread worker × 4 threads), "
          f"Starlette {version('starlette')}, starsessions {version('starsessions')}, Flask {version('flask')}, "
          f"Flask-Session {version('flask-session')}, Django {version('django')}, redis-py {version('redis')}; "
          f"{os.cpu_count()} CPUs; server on core {server_core}, wrk and redis-server on core {client_core}. "
          f"Medians of {args.rounds} interleaved rounds × {args.duration} s, {args.connections} connections, "
          f"{args.sessions} sessions per case.\n")
    print("Store calls per request (in process, memory store, tether.testing.CountingStore):\n")
    print("\n".join(store_calls()) + "\n")
    bad = False
    for kind in kinds:
        print(f"## {kind}\n")
        print("\n".join(table(kind, chosen, results)))
        print()
        bad |= any(r.error_count for (_, k), m in results.items() if k == kind for r in m.runs)
    print("Baselines: ASGI cases against bare ASGI, WSGI cases against bare WSGI. Peers: tether ASGI against "
          "starsessions, tether WSGI and Flask + tether against Flask-Session, Django + tether against Django "
          "cache sessions. Redis cmds/req counts commands inside Lua scripts too.")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
