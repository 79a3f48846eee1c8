"""The same small app on every adapter, for the one protocol conformance suite.

Routes (besides tether's own endpoints):
- ``GET /whoami``: JSON ``{"user", "data", "ended"}`` with the app's own
  ``Vary: Accept-Language``; ``/api/poll/...`` is the same
  page under a configured passive path.
- ``POST /login`` (JSON ``{"user": ...}``): sign in; ``POST /logout``: sign out, then
  write the JSON object it was sent, if any, to the session (a "signed out" message).
- ``POST /data`` (JSON object): merge into the session data.
- ``POST /end-others``: ``end_other_sessions()``.

A client's ``runtime`` attribute is the adapter's runtime (for revoking and sweeping).

A factory takes ``(store, clock, **config)`` with a *sync* store and returns an
``httpx.Client``-like client whose base URL is ``http://testserver``. Other adapters
register their factory in ``FACTORIES``.
"""

from __future__ import annotations

from typing import Any, Callable

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from tether import TetherMiddleware

PASSIVE = ["/api/poll"]


async def whoami(request: Request) -> JSONResponse:
    handle = request.scope["tether"]
    body = {"user": handle.user, "data": dict(request.session), "ended": handle.ended_reason}
    return JSONResponse(body, headers={"Vary": "Accept-Language"})


async def login(request: Request) -> JSONResponse:
    body = await request.json()
    request.scope["tether"].login(body["user"])
    return JSONResponse({"ok": True})


async def logout(request: Request) -> JSONResponse:
    request.scope["tether"].logout()
    request.session.update(await request.json() if await request.body() else {})
    return JSONResponse({"ok": True})


async def end_others(request: Request) -> JSONResponse:
    request.scope["tether"].end_other_sessions()
    return JSONResponse({"ok": True})


async def data(request: Request) -> JSONResponse:
    request.session.update(await request.json())
    return JSONResponse({"ok": True})


def starlette_app(store: Any, clock: Any, **config: Any) -> Any:
    app = Starlette(
        routes=[
            Route("/whoami", whoami),
            Route("/api/poll/whoami", whoami),
            Route("/login", login, methods=["POST"]),
            Route("/logout", logout, methods=["POST"]),
            Route("/data", data, methods=["POST"]),
            Route("/end-others", end_others, methods=["POST"]),
        ]
    )
    config.setdefault("passive_paths", PASSIVE)
    return TetherMiddleware(app, store=store, clock=clock, sweep_interval=None, **config)


def asgi_client(store: Any, clock: Any, **config: Any) -> TestClient:
    client = TestClient(starlette_app(store, clock, **config), base_url="http://testserver")
    client.runtime = client.app  # what revokes and sweeps (tests/conformance/test_events.py)
    return client


FACTORIES: dict[str, Callable[..., Any]] = {"asgi": asgi_client}


def _register_wsgi_adapters() -> None:
    """The WSGI middleware, Flask and Django run the same suite (tests/frameworks/)."""
    from importlib.util import find_spec

    from .frameworks.wsgi_app import wsgi_client

    FACTORIES["wsgi"] = wsgi_client
    if find_spec("flask") is not None and find_spec("tests.frameworks.flask_app") is not None:
        from .frameworks.flask_app import flask_client

        FACTORIES["flask"] = flask_client
    if find_spec("django") is not None and find_spec("tests.frameworks.django_app") is not None:
        from .frameworks.django_app import django_client

        FACTORIES["django"] = django_client


_register_wsgi_adapters()
