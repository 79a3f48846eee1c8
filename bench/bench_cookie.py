"""Signed-cookie mode against Starlette's ``SessionMiddleware`` and the bare app, one run.

Two requests, each served under uvicorn (one worker, pinned to one core; the load client
in another process on the other core, see common.py), every case with one signed-in
session per connection:

- ``heartbeat``: ``POST /_tether/heartbeat`` for tether; for Starlette, the nearest
  equivalent, a ``POST`` to an endpoint that reads its signed session and answers the
  same JSON body (Starlette has no heartbeat and checks no timeout);
- ``page``: ``GET /page``, an ordinary request whose app reads the signed-in user.

tether runs in two cases: ``no re-sign`` (the default granularity: a request within it
verifies the cookie and checks both timeouts, and sends no Set-Cookie) and ``re-sign
every request`` (``touch_granularity=0``: every answer carries a new signed cookie, as
Starlette's does whenever the session is not empty). Cases are loaded in turns and
reported at their best round (noise only slows a round down).

    .venv/bin/python bench/bench_cookie.py [--duration 2] [--rounds 3] [--concurrency 32]
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
from contextlib import ExitStack
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from common import (  # noqa: E402
    HEARTBEAT_BODY,
    HEARTBEAT_HEADERS,
    LoadResult,
    LoadSpec,
    cpu_plan,
    http_impl,
    loop_impl,
    print_table,
    run_load,
    serve,
    sign_in,
)

KEY = "bench-signing-key-not-a-secret-0123456789"


def _inner(user_of: Any, login: Any) -> Any:
    """The app behind either middleware: ``POST /login`` signs in, every other path reads
    the user (the page's work) and answers the heartbeat's JSON body. A POST's body is
    read, as the bare app and tether's heartbeat read it."""

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        if scope["method"] == "POST":
            while (await receive()).get("more_body"):
                pass
        if scope["path"] == "/login":
            login(scope)
        elif user_of(scope) is None:
            await send({"type": "http.response.start", "status": 401, "headers": HEARTBEAT_HEADERS})
            await send({"type": "http.response.body", "body": b'{"state":"ended"}'})
            return
        await send({"type": "http.response.start", "status": 200, "headers": HEARTBEAT_HEADERS})
        await send({"type": "http.response.body", "body": HEARTBEAT_BODY})

    return app


def tether_app() -> Any:
    """TetherMiddleware in signed-cookie mode; ``BENCH_GRANULARITY`` seconds (empty: default)."""
    from tether import Policy, TetherMiddleware
    from tether.stores.cookie import SignedCookieStore

    granularity = os.environ.get("BENCH_GRANULARITY") or None
    policy = Policy(touch_granularity=None if granularity is None else float(granularity))
    inner = _inner(lambda scope: scope["tether"].user, lambda scope: scope["tether"].login("bench-user"))
    return TetherMiddleware(inner, store=SignedCookieStore(KEY), policy=policy, sweep_interval=None)


def starlette_app() -> Any:
    """Starlette's ``SessionMiddleware`` (itsdangerous ``TimestampSigner``, 14-day max age)."""
    from starlette.middleware.sessions import SessionMiddleware

    def login(scope: Any) -> None:
        scope["session"]["user"] = "bench-user"

    inner = _inner(lambda scope: scope["session"].get("user"), login)
    return SessionMiddleware(inner, secret_key=KEY)


CASES: list[tuple[str, str, dict[str, str], str | None]] = [
    ("bare", "common:bare_app", {}, None),
    ("Starlette SessionMiddleware", "bench_cookie:starlette_app", {}, "session"),
    ("tether cookie, no re-sign", "bench_cookie:tether_app", {}, "tether"),
    ("tether cookie, re-sign every request", "bench_cookie:tether_app", {"BENCH_GRANULARITY": "0"}, "tether"),
]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--duration", type=float, default=2.0, help="seconds of load per case per round (default 2)")
    p.add_argument("--rounds", type=int, default=3, help="rounds, each case loaded once per request per round")
    p.add_argument("--warmup", type=float, default=0.5, help="seconds of unmeasured load before each round")
    p.add_argument("--concurrency", type=int, default=32, help="keep-alive connections, one session each")
    args = p.parse_args(argv)

    server_core, client_core = cpu_plan()
    kinds = {
        "heartbeat": ("POST", "/_tether/heartbeat", "POST", "/beat"),
        "page": ("GET", "/page", "GET", "/page"),
    }
    results: dict[tuple[str, str], list[LoadResult]] = {}
    with ExitStack() as stack:
        servers = {name: stack.enter_context(serve(app, env=env)) for name, app, env, _ in CASES}
        for r in range(args.rounds):
            for kind, (t_method, t_path, s_method, s_path) in kinds.items():
                for name, app, _, cookie_name in CASES:
                    url = servers[name].url
                    tether = app.endswith("tether_app")
                    method, path = (t_method, t_path) if tether or app.endswith("bare_app") else (s_method, s_path)
                    post = method == "POST"
                    spec = LoadSpec(
                        url=url + path,
                        method=method,
                        headers={"Content-Type": "application/json", "Origin": url} if post else {},
                        body="{}" if post else "",
                        cookies=sign_in(url, args.concurrency, cookie_name),
                        duration=args.duration,
                        warmup=args.warmup,
                        concurrency=args.concurrency,
                    )
                    result = run_load(spec, server=servers[name])
                    results.setdefault((kind, name), []).append(result)
                    print(f"  round {r + 1}: {kind}: {name}: {result.rps:,.0f} req/s", file=sys.stderr, flush=True)

    print(f"Python {platform.python_version()}, uvicorn http={http_impl()} loop={loop_impl()}, "
          f"{os.cpu_count()} CPUs; server pinned to core {server_core}, client to core {client_core}; "
          f"best of {args.rounds} rounds × {args.duration:g} s, {args.concurrency} connections.")
    failed = False
    for kind in kinds:
        print(f"\n### {kind}\n")
        rows = [(name, max(results[(kind, name)], key=lambda x: x.rps)) for name, _, _, _ in CASES]
        print_table(rows, baseline="Starlette SessionMiddleware")
        failed |= any(set(r.statuses) != {200} or r.errors for _, r in rows)
    if failed:
        print("\nWARNING: non-200 answers or connection errors")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
