"""Heartbeat req/s through the WSGI framework adapters, against the session layers people
use today and against the bare framework.

Flask: bare | tether (Redis; SQLite) | Flask-Session on Redis (refreshed and saved on
every request, Flask's default ``SESSION_REFRESH_EACH_REQUEST``).
Django: bare | tether (Redis) | Django cache sessions on Redis with
``SESSION_SAVE_EVERY_REQUEST = True``.

A heartbeat is what keeps a session alive: for tether it is ``POST /_tether/heartbeat``
(load, and a meta-only ``touch`` at most once per ``touch_granularity``; the
``touch every beat`` rows set the granularity to 0 so every heartbeat also writes); for
the others it is a route that reads the session, so the session layer saves it and
re-sends the cookie. The bare rows answer the same path with the same JSON and no
session. Every case runs in its own gunicorn process (one ``gthread`` worker, 4 threads,
keep-alive) pinned to one core; the load client (``common.py``, one signed-in session per
keep-alive connection) runs pinned to another. A private ``redis-server`` on a free port
is started and stopped here; nothing else is touched.

    .venv/bin/python bench/bench_frameworks.py [--duration 2] [--rounds 3] [--concurrency 16]
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack, contextmanager
from types import SimpleNamespace
from typing import Any, Iterator

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from common import (  # noqa: E402
    sign_in,
    stop,
    LoadResult,
    LoadSpec,
    Server,
    _pinned,
    cpu_plan,
    free_port,
    print_table,
    request,
    run_load,
)

HERE = os.path.dirname(os.path.abspath(__file__))
STATE = b'{"state":"active"}'


def _env(name: str) -> str:
    return os.environ[name]


def _tether_store() -> Any:
    from tether.stores.urls import open_store

    return open_store(_env("BENCH_STORE"))


def _granularity() -> dict[str, Any]:
    from tether import Policy

    raw = os.environ.get("BENCH_GRANULARITY")
    return {"policy": Policy(touch_granularity=float(raw))} if raw else {}


# -- Flask apps (gunicorn factories) -----------------------------------------------------------


def flask_bare() -> Any:
    from flask import Flask, Response

    app = Flask("bare")

    @app.post("/_tether/heartbeat")
    def beat() -> Response:
        return Response(STATE, content_type="application/json", headers={"Cache-Control": "no-store"})

    return app


def flask_tether() -> Any:
    from flask import Flask, jsonify

    from tether.contrib.flask import Tether, sign_in

    app = Flask("tether")

    @app.post("/login")
    def login() -> Any:
        sign_in("bench")
        return jsonify(ok=True)

    Tether(app, store=_tether_store(), sweep_interval=None, **_granularity())
    return app


def flask_session() -> Any:
    import redis
    from flask import Flask, Response, jsonify, session
    from flask_session import Session

    app = Flask("flask-session")
    app.config.update(
        SECRET_KEY="bench",
        SESSION_TYPE="redis",
        SESSION_REDIS=redis.Redis.from_url(_env("BENCH_REDIS")),
        SESSION_PERMANENT=True,
        SESSION_REFRESH_EACH_REQUEST=True,
    )
    Session(app)

    @app.post("/login")
    def login() -> Any:
        session["user"] = "bench"
        return jsonify(ok=True)

    @app.post("/_tether/heartbeat")
    def beat() -> Response:
        assert session.get("user") == "bench"
        return Response(STATE, content_type="application/json", headers={"Cache-Control": "no-store"})

    return app


# -- Django apps ---------------------------------------------------------------------------------


def _django(settings: dict[str, Any], patterns: list[Any]) -> Any:
    import types

    import django
    from django.conf import settings as django_settings
    from django.core.wsgi import get_wsgi_application

    sys.modules["bench_urls"] = urls = types.ModuleType("bench_urls")
    django_settings.configure(
        DEBUG=False, SECRET_KEY="bench", ALLOWED_HOSTS=["127.0.0.1"], ROOT_URLCONF="bench_urls", USE_TZ=True, **settings
    )
    django.setup()
    urls.urlpatterns = patterns  # type: ignore[attr-defined]
    return get_wsgi_application()


def _state_view(request: Any) -> Any:
    from django.http import HttpResponse

    if hasattr(request, "session"):
        assert request.session.get("user") == "bench"
    return HttpResponse(STATE, content_type="application/json", headers={"Cache-Control": "no-store"})


def _django_login(request: Any) -> Any:
    from django.http import JsonResponse

    request.session["user"] = "bench"
    if hasattr(request.session, "tether"):
        request.session.tether.login("bench")
    return JsonResponse({"ok": True})


def django_bare() -> Any:
    from django.urls import path
    from django.views.decorators.csrf import csrf_exempt

    return _django({"INSTALLED_APPS": [], "MIDDLEWARE": []}, [path("_tether/heartbeat", csrf_exempt(_state_view))])


def django_tether() -> Any:
    from django.urls import include, path
    from django.views.decorators.csrf import csrf_exempt

    return _django(
        {
            "INSTALLED_APPS": ["tether.contrib.django"],
            "MIDDLEWARE": ["tether.contrib.django.middleware.TetherMiddleware"],
            "SESSION_ENGINE": "tether.contrib.django.session",
            "SESSION_COOKIE_NAME": "tether",
            "TETHER": {"store": _tether_store(), "sweep_interval": None, **_granularity()},
        },
        [path("login", csrf_exempt(_django_login)), path("_tether/", include("tether.contrib.django.urls"))],
    )


def django_cache() -> Any:
    from django.urls import path
    from django.views.decorators.csrf import csrf_exempt

    return _django(
        {
            "INSTALLED_APPS": [],
            "MIDDLEWARE": ["django.contrib.sessions.middleware.SessionMiddleware"],
            "SESSION_ENGINE": "django.contrib.sessions.backends.cache",
            "SESSION_SAVE_EVERY_REQUEST": True,
            "CACHES": {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": _env("BENCH_REDIS")}},
        },
        [path("login", csrf_exempt(_django_login)), path("_tether/heartbeat", csrf_exempt(_state_view))],
    )


# -- processes -----------------------------------------------------------------------------------


@contextmanager
def redis_server(tmpdir: str) -> Iterator[str]:
    """A private redis-server on a free port, no persistence; yields its URL."""
    exe = shutil.which("redis-server")
    if exe is None:
        raise SystemExit("redis-server is not on PATH")
    port = free_port()
    proc = subprocess.Popen(
        [exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", tmpdir],
        stdout=subprocess.DEVNULL,
    )
    try:
        import redis

        client = redis.Redis(port=port)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        proc.wait(10)


@contextmanager
def gunicorn(factory: str, env: dict[str, str], cpu: int | None) -> Iterator[Server]:
    port = free_port()
    cmd = [
        sys.executable, "-m", "gunicorn", f"bench_frameworks:{factory}()",
        "--chdir", HERE, "--bind", f"127.0.0.1:{port}",
        "--workers", "1", "--worker-class", "gthread", "--threads", "4", "--keep-alive", "30",
        "--log-level", "warning",
    ]
    proc = subprocess.Popen(_pinned(cmd, cpu), env={**os.environ, **env})
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                request(url + "/ready")
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"{factory} did not start")
                time.sleep(0.1)
        # The requests are served by gunicorn's worker, not by its master: measure the worker.
        yield Server(url=url, port=port, proc=SimpleNamespace(pid=_worker_of(proc.pid)), cpu=cpu)  # type: ignore[arg-type]
    finally:
        stop(proc)


def _worker_of(master: int) -> int:
    """The pid of the (only) child of gunicorn's master (Linux /proc)."""
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            if ppid == master:
                return int(entry)
    return master


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--duration", type=float, default=2.0, help="seconds of load per case per round (default 2)")
    p.add_argument("--rounds", type=int, default=3, help="rounds; each case is reported at its best (default 3)")
    p.add_argument("--warmup", type=float, default=0.5)
    p.add_argument("--concurrency", type=int, default=16, help="keep-alive connections, one session each (default 16)")
    args = p.parse_args(argv)
    server_core, client_core = cpu_plan()
    tmpdir = tempfile.mkdtemp(prefix="tether-bench-frameworks-")
    with ExitStack() as stack:
        redis_url = stack.enter_context(redis_server(tmpdir))
        sqlite = f"sqlite:///{os.path.join(tmpdir, 'flask.db')}"
        groups: dict[str, list[tuple[str, str, dict[str, str], str | None]]] = {
            "Flask": [
                ("flask bare", "flask_bare", {}, None),
                ("flask + tether (redis)", "flask_tether", {"BENCH_STORE": redis_url}, "tether"),
                ("flask + tether (redis, touch every beat)", "flask_tether",
                 {"BENCH_STORE": redis_url, "BENCH_GRANULARITY": "0"}, "tether"),
                ("flask + tether (sqlite)", "flask_tether", {"BENCH_STORE": sqlite}, "tether"),
                ("flask + Flask-Session (redis, refresh each request)", "flask_session", {"BENCH_REDIS": redis_url}, "session"),
            ],
            "Django": [
                ("django bare", "django_bare", {}, None),
                ("django + tether (redis)", "django_tether", {"BENCH_STORE": redis_url}, "tether"),
                ("django + tether (redis, touch every beat)", "django_tether",
                 {"BENCH_STORE": redis_url, "BENCH_GRANULARITY": "0"}, "tether"),
                ("django + cache sessions (redis, SAVE_EVERY_REQUEST)", "django_cache", {"BENCH_REDIS": redis_url}, "sessionid"),
            ],
        }
        cases = [case for group in groups.values() for case in group]
        servers = {name: stack.enter_context(gunicorn(factory, env, server_core)) for name, factory, env, _ in cases}
        results: dict[str, list[LoadResult]] = {name: [] for name, *_ in cases}
        for r in range(args.rounds):
            for name, _, _, cookie in cases:
                url = servers[name].url
                spec = LoadSpec(
                    url=url + "/_tether/heartbeat",
                    method="POST",
                    headers={"Content-Type": "application/json", "Origin": url},
                    body="{}",
                    cookies=sign_in(url, args.concurrency, cookie),
                    duration=args.duration,
                    warmup=args.warmup,
                    concurrency=args.concurrency,
                )
                results[name].append(run_load(spec, server=servers[name]))
                print(f"  round {r + 1}: {name}: {results[name][-1].rps:,.0f} req/s", file=sys.stderr, flush=True)

    from importlib.metadata import version

    print(f"\nPython {platform.python_version()}, Flask {version('flask')}, Flask-Session {version('flask-session')}, "
          f"Django {version('django')}, gunicorn {version('gunicorn')} "
          f"(1 gthread worker × 4 threads), {os.cpu_count()} CPUs; server on core {server_core}, client on core "
          f"{client_core}; best of {args.rounds} rounds × {args.duration:g} s, {args.concurrency} connections.")
    bad = []
    for group, members in groups.items():
        rows = [(name, max(results[name], key=lambda x: x.rps)) for name, *_ in members]
        print(f"\n## {group}: heartbeat req/s\n")
        print_table(rows)
        bad += [name for name, res in rows if set(res.statuses) != {200} or res.errors]
        theirs = rows[-1][1].rps
        for name, res in rows[1:-1]:
            print(f"- {name}: {res.rps / theirs:.2f}× {rows[-1][0]}")
    if bad:
        print(f"\nWARNING: non-200 answers or connection errors in: {', '.join(bad)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
