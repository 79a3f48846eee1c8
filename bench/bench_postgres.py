"""tether on PostgreSQL next to Django's database sessions, on the same private server.

One private PostgreSQL cluster (``initdb`` in a temp dir, its own port, as ``nobody`` when
run as root; ``tests/postgres/server.py``) with ``pg_stat_statements``. Each case is one
gunicorn process (one worker, 4 threads) loaded by ``wrk`` for the same duration, in one
run, so the ratios are comparable:

- ``bare WSGI``: the heartbeat's JSON from a plain WSGI function, no session at all;
- ``Django, no session``: a Django view returning it, no session middleware;
- ``Django db sessions``: ``django.contrib.sessions.backends.db`` (what most Django sites
  run). "heartbeat" is a POST whose view marks the session modified (Django's way to
  extend it: a save), "page" a GET whose view reads the session;
- ``tether``: :class:`tether.wsgi.TetherMiddleware` with a :class:`PostgresStore`;
  "heartbeat" is ``POST /_tether/heartbeat`` inside the touch granularity (default), or
  with ``touch_granularity=0`` (every beat slides the session: a write), and "page" a
  GET of a plain WSGI page that reads the session.

Round trips are counted at the server: ``pg_stat_statements`` is reset, 100 requests are
sent one by one, and the statements executed (``calls``, BEGIN/COMMIT included) and WAL
records written (``wal_records``: 0 means nothing was written) are divided by 100.

    PYTHONPATH=src .venv/bin/python bench/bench_postgres.py [--duration 5] [--connections 4]

Writes the table to stdout (and to ``bench/POSTGRES.md`` with ``--write``).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
for path in (ROOT, os.path.join(ROOT, "src")):
    if path not in sys.path:
        sys.path.insert(0, path)

BEAT = json.dumps({"state": "active", "idle_remaining": 1199.9, "absolute_remaining": 43199.9,
                   "idle_timeout": 1200, "warn_before": 120}).encode()
USER = "ada"

# -- the apps (imported by gunicorn: bench_postgres:app("case")) ----------------------------


def _bare(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    start_response("200 OK", [("Content-Type", "application/json"), ("Cache-Control", "no-store")])
    return [BEAT]


def _django(with_sessions: bool) -> Any:
    import django
    from django.http import HttpResponse, JsonResponse
    from django.urls import path
    from django.views.decorators.csrf import csrf_exempt

    def bare(request: Any) -> Any:
        return HttpResponse(BEAT, content_type="application/json")

    def login(request: Any) -> Any:
        request.session["user"] = USER
        return JsonResponse({"ok": True})

    @csrf_exempt
    def beat(request: Any) -> Any:
        request.session.modified = True  # saved: the expiry moves on, as a heartbeat must
        return HttpResponse(BEAT, content_type="application/json")

    def page(request: Any) -> Any:
        return HttpResponse(f"<p>hello {request.session.get('user')}</p>")

    module = type(sys)("bench_pg_urls")
    module.urlpatterns = [path("bare", bare), path("login", login), path("beat", beat), path("page", page)]
    sys.modules["bench_pg_urls"] = module
    configure_django(os.environ["BENCH_PG_URL"], sessions=with_sessions)
    django.setup()
    from django.core.wsgi import get_wsgi_application

    return get_wsgi_application()


def configure_django(url: str, *, sessions: bool = True) -> None:
    from django.conf import settings
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    settings.configure(
        DEBUG=False, SECRET_KEY="bench-" + "x" * 40, ALLOWED_HOSTS=["*"], ROOT_URLCONF="bench_pg_urls",
        INSTALLED_APPS=["django.contrib.sessions"],
        MIDDLEWARE=["django.contrib.sessions.middleware.SessionMiddleware"] if sessions else [],
        SESSION_ENGINE="django.contrib.sessions.backends.db",
        DATABASES={"default": {
            "ENGINE": "django.db.backends.postgresql", "NAME": parts.path.lstrip("/"), "USER": parts.username,
            "HOST": parts.hostname, "PORT": parts.port, "CONN_MAX_AGE": None,  # persistent: Django at its best
        }},
        USE_TZ=True,
    )


def _tether(granularity: float | None) -> Any:
    from tether import Policy
    from tether.stores.postgres import PostgresStore
    from tether.wsgi import TetherMiddleware

    def page(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        user = environ["tether.session"].user
        start_response("200 OK", [("Content-Type", "text/html; charset=utf-8")])
        return [f"<p>hello {user}</p>".encode()]

    store = PostgresStore.from_url(os.environ["BENCH_PG_URL"])
    return TetherMiddleware(page, store=store, policy=Policy(touch_granularity=granularity), sweep_interval=None)


def app(case: str) -> Any:
    """The WSGI app of one case, built inside the gunicorn worker."""
    if case == "bare":
        return _bare
    if case.startswith("django"):
        return _django(case == "django-db")
    return _tether(0.0 if case == "tether-writes" else None)


# -- the harness -------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def serve(case: str, url: str) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    env = {**os.environ, "BENCH_PG_URL": url, "PYTHONPATH": os.pathsep.join([HERE, os.path.join(ROOT, "src"), ROOT])}
    proc = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-w", "1", "-k", "gthread", "--threads", "4", "-b", f"127.0.0.1:{port}",
         "--log-level", "warning", f"bench_postgres:app({case!r})"],
        env=env, cwd=HERE, stdout=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return proc, port
        except OSError:
            if proc.poll() is not None:
                raise RuntimeError(f"gunicorn for {case} exited") from None
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError(f"gunicorn for {case} did not start")


def post_headers(port: int) -> dict[str, str]:
    """A same-origin JSON POST, as the browser client sends it (DESIGN §4)."""
    return {"Content-Type": "application/json", "Origin": f"http://127.0.0.1:{port}"}


def call(port: int, method: str, path: str, cookie: str | None = None) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    headers = post_headers(port) if method == "POST" else {}
    if cookie:
        headers["Cookie"] = cookie
    conn.request(method, path, body=b"{}" if method == "POST" else None, headers=headers)
    response = conn.getresponse()
    body = response.read()
    conn.close()
    return response.status, {k.lower(): v for k, v in response.getheaders()}, body


def tether_cookie(url: str) -> str:
    """Sign in directly in the store, as a login view would: a fresh token and its record."""
    from tether import Policy
    from tether._records import Record, hash_token, new_token
    from tether.stores.postgres import PostgresStore

    token = new_token()
    store = PostgresStore.from_url(url)
    store.save(Record(hash_token(token), Policy().start(time.time(), USER), {"theme": "dark"}), create=True)
    store.close()
    return f"tether={token}"


def django_cookie(port: int) -> str:
    status, headers, _ = call(port, "GET", "/login")
    assert status == 200, status
    return headers["set-cookie"].split(";", 1)[0]


def statements(url: str, reset: bool = False) -> tuple[int, int]:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        if reset:
            conn.execute("SELECT pg_stat_statements_reset()")
            return 0, 0
        calls, wal = conn.execute(
            "SELECT coalesce(sum(calls), 0), coalesce(sum(wal_records), 0) FROM pg_stat_statements"
            " WHERE query NOT LIKE '%pg_stat_statements%'"
        ).fetchone()
    return int(calls), int(wal)


def count_per_request(url: str, port: int, method: str, path: str, cookie: str | None, n: int = 100) -> tuple[float, float]:
    statements(url, reset=True)
    for _ in range(n):
        status, _, _ = call(port, method, path, cookie)
        assert status == 200, (path, status)
    calls, wal = statements(url)
    return calls / n, wal / n


def wrk(port: int, method: str, path: str, cookie: str | None, duration: float, connections: int, tmp: str) -> dict[str, Any]:
    script = os.path.join(tmp, "wrk.lua")
    headers = post_headers(port) if method == "POST" else {}
    if cookie:
        headers["Cookie"] = cookie
    with open(script, "w") as f:
        f.write(f'wrk.method = "{method}"\n')
        if method == "POST":
            f.write('wrk.body = "{}"\n')
        for name, value in headers.items():
            f.write(f'wrk.headers["{name}"] = "{value}"\n')
    out = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{max(1, round(duration))}s", "--latency", "-s", script, f"http://127.0.0.1:{port}{path}"],
        capture_output=True, text=True, timeout=duration + 60,
    ).stdout
    found = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if found is None:
        raise RuntimeError(f"wrk gave no result: {out}")
    rps = float(found.group(1))
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    p50 = re.search(r"50%\s+([\d.]+\w+)", out).group(1)
    p99 = re.search(r"99%\s+([\d.]+\w+)", out).group(1)
    return {"rps": rps, "p50": p50, "p99": p99, "non_2xx": int(bad.group(1)) if bad else 0}


CASES = [
    # (label, server case, method, path, cookie kind)
    ("bare WSGI (no session)", "bare", "POST", "/", None),
    ("Django, no session", "django-bare", "POST", "/bare", None),
    ("Django db sessions: heartbeat (save)", "django-db", "POST", "/beat", "django"),
    ("Django db sessions: page (read)", "django-db", "GET", "/page", "django"),
    ("tether: heartbeat, inside granularity", "tether", "POST", "/_tether/heartbeat", "tether"),
    ("tether: heartbeat, every beat writes", "tether-writes", "POST", "/_tether/heartbeat", "tether"),
    ("tether: page (read)", "tether", "GET", "/page", "tether"),
]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--write", action="store_true", help="also write bench/POSTGRES.md")
    args = parser.parse_args()
    from tests.postgres.server import PostgresServer, bin_dir

    bindir = bin_dir()
    if bindir is None or shutil.which("wrk") is None:
        print("needs PostgreSQL (apt-get install postgresql) and wrk", file=sys.stderr)
        return 2
    server = PostgresServer(bindir, preload="pg_stat_statements").start()
    tmp = tempfile.mkdtemp(prefix="tether-bench-pg-")
    rows: list[tuple[str, dict[str, Any]]] = []
    running: dict[str, tuple[subprocess.Popen[bytes], int]] = {}
    try:
        url = server.url()
        import psycopg

        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        configure_django(url)
        import django
        from django.core.management import call_command

        django.setup()
        call_command("migrate", "sessions", verbosity=0)
        for label, case, method, path, kind in CASES:
            if case not in running:
                for proc, _ in running.values():
                    proc.terminate()
                    proc.wait()
                running = {case: serve(case, url)}
            port = running[case][1]
            cookie = None if kind is None else django_cookie(port) if kind == "django" else tether_cookie(url)
            for _ in range(20):  # warm: connections opened, statements prepared
                call(port, method, path, cookie)
            per_request, wal = count_per_request(url, port, method, path, cookie)
            result = wrk(port, method, path, cookie, args.duration, args.connections, tmp)
            result.update(statements=per_request, wal=wal)
            rows.append((label, result))
            print(f"{label}: {result}", file=sys.stderr, flush=True)
    finally:
        for proc, _ in running.values():
            proc.terminate()
            proc.wait()
        server.destroy()
        shutil.rmtree(tmp, ignore_errors=True)
    table = render(rows, args)
    print(table)
    if args.write:
        with open(os.path.join(HERE, "POSTGRES.md"), "w") as f:
            f.write(table)
    return 0


def render(rows: list[tuple[str, dict[str, Any]]], args: argparse.Namespace) -> str:
    by = dict(rows)
    django_beat = by["Django db sessions: heartbeat (save)"]["rps"]
    django_page = by["Django db sessions: page (read)"]["rps"]
    lines = [
        "# tether on PostgreSQL next to Django's database sessions",
        "",
        f"`bench/bench_postgres.py --duration {args.duration:g} --connections {args.connections}`, one run;"
        f" {platform.python_implementation()} {platform.python_version()},"
        f" {subprocess.run(['pg_config', '--version'], capture_output=True, text=True).stdout.strip() or '(pg_config missing)'},"
        f" gunicorn 1 worker × 4 threads, wrk 1 thread, {os.cpu_count()} shared cores (numbers move from run to run"
        " on a busy machine; the ratios within one run are what to read).",
        "",
        "Statements and WAL records are per request, counted by the server (`pg_stat_statements`) over 100"
        " requests: a statement is a round trip; 0 WAL records means nothing was written.",
        "",
        "| case | req/s | p50 | p99 | statements | WAL records | vs Django db (same kind) |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for label, r in rows:
        base = django_page if "page" in label else django_beat
        lines.append(
            f"| {label} | {r['rps']:.0f} | {r['p50']} | {r['p99']} | {r['statements']:.2f} | {r['wal']:.2f} |"
            f" {r['rps'] / base:.2f}× |" + (f" ({r['non_2xx']} non-2xx)" if r["non_2xx"] else "")
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
