"""What do ``on_event`` and :class:`tether.Metrics` cost a heartbeat? In-process, no server.

Calls the WSGI middleware's ``POST /_tether/heartbeat`` directly (environ in, bytes out,
memory store, one signed-in session, every heartbeat inside ``touch_granularity``: one
``load``, no write) in three cases: no hook, ``on_event=Metrics()``, and a no-op hook.
Reported as the best of ``--repeat`` runs of ``--number`` heartbeats, in CPU time of
this process (``time.process_time``), the cases taking turns: on a shared machine other
processes only ever slow a run down, and CPU time moves much less than wall time. Runs on any tether checkout: without ``on_event`` support
(before it existed) only the first case is measured.

    .venv/bin/python bench/bench_events.py [--number 20000] [--repeat 7]
"""

from __future__ import annotations

import argparse
import io
import time
import timeit
from typing import Any, Callable

from tether import MemoryStore
from tether.wsgi import TetherMiddleware


def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
    environ["tether.session"].login("ada")
    start_response("200 OK", [("content-type", "text/plain")])
    return [b"ok"]


def environ(method: str, path: str, cookie: str = "") -> dict[str, Any]:
    return {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "SERVER_NAME": "testserver",
        "SERVER_PORT": "80",
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(b"{}"),
        "CONTENT_TYPE": "application/json",
        "CONTENT_LENGTH": "2",
        "HTTP_ORIGIN": "http://testserver",
        "HTTP_COOKIE": cookie,
    }


def heartbeat(**settings: Any) -> Callable[[], None]:
    """One signed-in session's heartbeat through a fresh middleware, as a call."""
    middleware = TetherMiddleware(app, store=MemoryStore(), sweep_interval=None, **settings)
    headers: list[tuple[str, str]] = []
    middleware(environ("POST", "/login"), lambda status, h, *rest: headers.extend(h))
    cookie = next(v for k, v in headers if k.lower() == "set-cookie").split(";", 1)[0]
    template = environ("POST", "/_tether/heartbeat", cookie)

    def beat() -> None:
        env = dict(template)
        env["wsgi.input"] = io.BytesIO(b"{}")
        middleware(env, lambda status, h, *rest: None)

    return beat


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--number", type=int, default=20000)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    cases: list[tuple[str, dict[str, Any]]] = [("no hook", {})]
    try:
        from tether import Metrics
    except ImportError:
        pass
    else:
        cases += [("on_event=Metrics()", {"on_event": Metrics()}), ("on_event=no-op", {"on_event": lambda event: None})]
    timers = [timeit.Timer(heartbeat(**settings), timer=time.process_time) for _, settings in cases]
    best = [float("inf")] * len(cases)
    for _ in range(args.repeat):
        for i, timer in enumerate(timers):
            best[i] = min(best[i], timer.timeit(args.number) / args.number)
    for (name, _), seconds in zip(cases, best):
        print(f"{name:22} {seconds * 1e6:7.2f} µs/heartbeat CPU  ({seconds / best[0] - 1:+.1%})")


if __name__ == "__main__":
    main()
