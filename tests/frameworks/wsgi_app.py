"""The conformance app (tests/apps.py routes) as a bare WSGI app under tether's middleware."""

from __future__ import annotations

import json
from typing import Any, Iterable

from tether.wsgi import TetherMiddleware

from . import PASSIVE
from .transport import wsgi_test_client


def _json(start_response: Any, body: Any, status: str = "200 OK", vary: tuple[tuple[str, str], ...] = ()) -> Iterable[bytes]:
    payload = json.dumps(body).encode()
    start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(payload))), *vary])
    return [payload]


def app(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
    handle = environ["tether.session"]
    path, method = environ["PATH_INFO"], environ["REQUEST_METHOD"]
    if path in ("/whoami", "/api/poll/whoami") and method == "GET":
        body = {"user": handle.user, "data": dict(environ["tether.data"]), "ended": handle.ended_reason}
        return _json(start_response, body, vary=(("Vary", "Accept-Language"),))
    if method == "POST" and path == "/end-others":
        handle.end_other_sessions()
        return _json(start_response, {"ok": True})
    if method == "POST" and path in ("/login", "/logout", "/data"):
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = json.loads(environ["wsgi.input"].read(length) or b"{}")
        if path == "/login":
            handle.login(body["user"])
        elif path == "/logout":
            handle.logout()
            environ["tether.data"].update(body)
        else:
            environ["tether.data"].update(body)
        return _json(start_response, {"ok": True})
    return _json(start_response, {"error": "not found"}, "404 Not Found")


def wsgi_app(store: Any, clock: Any, **config: Any) -> TetherMiddleware:
    config.setdefault("passive_paths", PASSIVE)
    return TetherMiddleware(app, store=store, clock=clock, sweep_interval=None, **config)


def wsgi_client(store: Any, clock: Any, **config: Any) -> Any:
    middleware = wsgi_app(store, clock, **config)
    client = wsgi_test_client(middleware)
    client.runtime = middleware
    return client
