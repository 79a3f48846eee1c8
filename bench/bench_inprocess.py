"""tether's own cost per request, in process: no sockets, no server, no event loop.

The ASGI and WSGI apps of ``apps.py`` (tether's middleware around the trivial app, the
memory store, a signed-in session) are called with hand-made requests: an ASGI scope
with ``receive``/``send`` coroutines that never suspend, so each request is driven by
one ``coroutine.send(None)``, and a WSGI environ with a no-op ``start_response``. The
bare apps answer the same bytes with no session layer; each round times every case
once, interleaved, so a busy machine slows them alike. The headers are what
``browser.lua`` sends (plus, for WSGI, the keys gunicorn adds to every environ).

This isolates what the wrk tables cannot: tether's Python, without uvicorn's or
gunicorn's. It is still noisy on a shared machine (run it more than once); the figures
are medians over rounds, and each ratio is the median of the per-round ratios.

    .venv/bin/python bench/bench_inprocess.py                 # 5 rounds × 20,000 requests
    .venv/bin/python bench/bench_inprocess.py --rounds 7 -n 50000
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import io
import os
import statistics
import sys
import time
from typing import Any, Callable, Coroutine

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
os.environ.setdefault("BENCH_STORE", "memory://")

import apps  # noqa: E402  (needs the path above; reads BENCH_STORE when a factory runs)
from common import asgi_call, cookie_from  # noqa: E402

HOST = "127.0.0.1:8000"
ORIGIN = f"http://{HOST}"


# -- ASGI ----------------------------------------------------------------------------------------


def _drive(coro: Coroutine[Any, Any, None]) -> None:
    """Run a coroutine that never suspends (memory store, the receive/send below)."""
    try:
        coro.send(None)
    except StopIteration:
        return
    coro.close()
    raise RuntimeError("the app suspended: this bench needs a store that answers inline")


async def _receive() -> dict[str, Any]:
    return {"type": "http.request", "body": b"{}", "more_body": False}


def _asgi_scope(kind: str, cookie: str | None) -> dict[str, Any]:
    headers = [(b"host", HOST.encode()), (b"sec-fetch-site", b"same-origin"), (b"user-agent", b"bench-browser")]
    if cookie:
        headers.append((b"cookie", cookie.encode()))
    if kind == "heartbeat":
        headers += [(b"content-type", b"application/json"), (b"origin", ORIGIN.encode()),
                    (b"sec-fetch-mode", b"cors"), (b"content-length", b"2")]
        method, path = "POST", apps.HEARTBEAT
    else:
        headers += [(b"accept", b"text/html"), (b"sec-fetch-mode", b"navigate")]
        method, path = "GET", apps.PAGE
    return {"type": "http", "asgi": {"version": "3.0", "spec_version": "2.3"}, "http_version": "1.1",
            "server": ("127.0.0.1", 8000), "client": ("127.0.0.1", 50000), "scheme": "http", "method": method,
            "root_path": "", "path": path, "raw_path": path.encode(), "query_string": b"", "headers": headers}


def asgi_runner(app: Any, kind: str, cookie: str | None) -> Callable[[int], None]:
    template = _asgi_scope(kind, cookie)
    sent: list[Any] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    # One request, checked: a 200, and no Set-Cookie (inside the granularity).
    _drive(app(dict(template), _receive, send))
    start = sent[0]
    assert start["status"] == 200, start
    assert not any(k == b"set-cookie" for k, _ in start["headers"]), start

    async def quiet(message: dict[str, Any]) -> None:
        pass

    def run(n: int) -> None:
        for _ in range(n):
            _drive(app(dict(template), _receive, quiet))

    return run


def asgi_cookie(app: Any) -> str:
    post = {"host": HOST, "origin": ORIGIN, "content-type": "application/json", "sec-fetch-site": "same-origin"}
    _, headers = asyncio.run(asgi_call(app, "POST", "/login", post, b"{}"))
    return cookie_from(headers, "tether")


# -- WSGI ----------------------------------------------------------------------------------------


def _environ(kind: str, cookie: str | None, body: bytes) -> dict[str, Any]:
    environ: dict[str, Any] = {
        "REQUEST_METHOD": "GET", "PATH_INFO": apps.PAGE, "SCRIPT_NAME": "", "QUERY_STRING": "",
        "RAW_URI": apps.PAGE, "SERVER_NAME": "127.0.0.1", "SERVER_PORT": "8000", "SERVER_PROTOCOL": "HTTP/1.1",
        "SERVER_SOFTWARE": "gunicorn/27.0.1", "REMOTE_ADDR": "127.0.0.1", "REMOTE_PORT": "50000",
        "wsgi.url_scheme": "http", "wsgi.version": (1, 0), "wsgi.multithread": True, "wsgi.multiprocess": False,
        "wsgi.run_once": False, "wsgi.errors": sys.stderr, "wsgi.input_terminated": True,
        "wsgi.file_wrapper": object, "gunicorn.socket": None,
        "HTTP_HOST": HOST, "HTTP_SEC_FETCH_SITE": "same-origin", "HTTP_USER_AGENT": "bench-browser",
    }
    if cookie:
        environ["HTTP_COOKIE"] = cookie
    if kind == "heartbeat":
        environ.update(REQUEST_METHOD="POST", PATH_INFO=apps.HEARTBEAT, RAW_URI=apps.HEARTBEAT,
                       CONTENT_TYPE="application/json", CONTENT_LENGTH=str(len(body)), HTTP_ORIGIN=ORIGIN,
                       HTTP_SEC_FETCH_MODE="cors")
    elif kind == "login":
        environ.update(REQUEST_METHOD="POST", PATH_INFO="/login", RAW_URI="/login",
                       CONTENT_TYPE="application/json", CONTENT_LENGTH=str(len(body)), HTTP_ORIGIN=ORIGIN)
    else:
        environ.update(HTTP_ACCEPT="text/html", HTTP_SEC_FETCH_MODE="navigate")
    return environ


def _wsgi_call(app: Any, environ: dict[str, Any], start_response: Callable[..., Any]) -> None:
    result = app(environ, start_response)
    for _ in result:
        pass
    close = getattr(result, "close", None)
    if close is not None:
        close()


def wsgi_runner(app: Any, kind: str, cookie: str | None) -> Callable[[int], None]:
    body = b"{}" if kind == "heartbeat" else b""
    template = _environ(kind, cookie, body)
    started: list[Any] = []

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Callable[[bytes], Any]:
        started.append((status, headers))
        return lambda data: None

    _wsgi_call(app, {**template, "wsgi.input": io.BytesIO(body)}, start_response)
    status, headers = started[0]
    assert status.startswith("200"), started
    assert not any(k.lower() == "set-cookie" for k, _ in headers), started

    def quiet(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Callable[[bytes], Any]:
        return _ignore

    def run(n: int) -> None:
        for _ in range(n):
            _wsgi_call(app, {**template, "wsgi.input": io.BytesIO(body)}, quiet)

    return run


def _ignore(data: bytes) -> None:
    pass


def wsgi_cookie(app: Any) -> str:
    started: list[Any] = []

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Callable[[bytes], Any]:
        started.append(headers)
        return _ignore

    _wsgi_call(app, {**_environ("login", None, b"{}"), "wsgi.input": io.BytesIO(b"{}")}, start_response)
    return cookie_from(started[0], "tether")


# -- the run -------------------------------------------------------------------------------------


def measure(cases: dict[str, Callable[[int], None]], n: int, rounds: int) -> dict[str, list[tuple[float, float]]]:
    """Per case, per round: (wall µs/request, process CPU µs/request)."""
    out: dict[str, list[tuple[float, float]]] = {name: [] for name in cases}
    for run in cases.values():
        run(max(1, n // 10))  # warm-up
    for _ in range(rounds):
        for name, run in cases.items():
            gc.collect()
            wall, cpu = time.perf_counter_ns(), time.process_time_ns()
            run(n)
            out[name].append(((time.perf_counter_ns() - wall) / n / 1000, (time.process_time_ns() - cpu) / n / 1000))
    return out


def report(title: str, results: dict[str, list[tuple[float, float]]], baseline: str) -> list[str]:
    lines = [f"| {title} | wall µs/req | CPU µs/req | tether − bare, µs | × bare (CPU) |", "|---|---:|---:|---:|---:|"]
    base = results[baseline]
    for name, rows in results.items():
        wall = statistics.median(r[0] for r in rows)
        cpu = statistics.median(r[1] for r in rows)
        extra = statistics.median(r[1] - b[1] for r, b in zip(rows, base))
        # As in the wrk tables: the bare app's cost over this case's (1.00 for bare).
        ratio = statistics.median(b[1] / r[1] for r, b in zip(rows, base))
        lines.append(f"| {name} | {wall:.1f} | {cpu:.1f} | {extra:.1f} | {ratio:.2f} |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", type=int, default=20_000, help="requests per case per round")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()

    tether_asgi, bare_asgi = apps.asgi_tether(), apps.asgi_bare()
    tether_wsgi, bare_wsgi = apps.wsgi_tether(), apps.wsgi_bare()
    acookie, wcookie = asgi_cookie(tether_asgi), wsgi_cookie(tether_wsgi)
    print(f"Python {sys.version.split()[0]}; {args.rounds} rounds × {args.n:,} requests per case; "
          f"load average {os.getloadavg()[0]:.2f} before\n")
    for kind in ("heartbeat", "page"):
        asgi = measure({"bare ASGI": asgi_runner(bare_asgi, kind, None),
                        "tether ASGI + memory": asgi_runner(tether_asgi, kind, acookie)}, args.n, args.rounds)
        wsgi = measure({"bare WSGI": wsgi_runner(bare_wsgi, kind, None),
                        "tether WSGI + memory": wsgi_runner(tether_wsgi, kind, wcookie)}, args.n, args.rounds)
        print("\n".join(report(kind, asgi, "bare ASGI") + report(kind, wsgi, "bare WSGI")[2:]), end="\n\n")
    print(f"load average {os.getloadavg()[0]:.2f} after")


if __name__ == "__main__":
    main()
