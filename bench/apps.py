"""The servers the benchmarks load: tether and its peers, ASGI and WSGI.

Every factory is configured through the environment (it runs in a uvicorn or gunicorn
child process): ``BENCH_STORE`` is tether's store URL (``memory://``, ``sqlite:////abs.db``,
``redis://…``), ``BENCH_REDIS`` the peers' Redis, ``BENCH_GRANULARITY`` tether's
``touch_granularity`` in seconds (unset: the policy's default).

Each app answers the same three routes with the same bytes, so only the session layer
differs between cases:

- ``POST /login``: signs in (puts ``user`` in the session; tether also ``login()``s);
- ``POST /_tether/heartbeat``: what ``tether.js`` sends. tether answers it in its
  middleware; a peer answers it from a view that reads the session (so its layer loads
  the session, slides it and re-sends its cookie, the way a keep-alive ping works there);
- ``GET /page``: an ordinary signed-in page that reads one session value.

The bare apps answer the heartbeat's exact JSON and the same page without any session.
"""

from __future__ import annotations

import os
import sys
from typing import Any, Callable

from common import HEARTBEAT_BODY

HEARTBEAT = "/_tether/heartbeat"
STATUS = "/_tether/status"
PAGE = "/page"
USER = "bench-user"
IDLE = 1200

ENDED_BODY = b'{"state":"ended","reason":"none"}'
JSON_HEADERS = [("content-type", "application/json"), ("cache-control", "no-store"),
                ("x-content-type-options", "nosniff")]
HTML_HEADERS = [("content-type", "text/html; charset=utf-8")]


def page_body(user: str) -> bytes:
    return f"<!doctype html><title>bench</title><p>Signed in as {user}.</p>".encode()


def answer(path: str, user: str | None) -> tuple[int, list[tuple[str, str]], bytes]:
    """(status, headers, body) for ``path``, given the signed-in user or None."""
    if path == PAGE:
        return (200, HTML_HEADERS, page_body(user)) if user else (401, HTML_HEADERS, b"sign in")
    if path == "/login":
        return 200, JSON_HEADERS, b'{"ok":true}'
    return (200, JSON_HEADERS, HEARTBEAT_BODY) if user else (401, JSON_HEADERS, ENDED_BODY)


def _granularity() -> float | None:
    raw = os.environ.get("BENCH_GRANULARITY")
    return float(raw) if raw else None


def _policy() -> Any:
    from tether import Policy

    return Policy(idle_timeout=IDLE, touch_granularity=_granularity())


def _store(asynchronous: bool) -> Any:
    from tether.stores.urls import open_store

    return open_store(os.environ["BENCH_STORE"], asynchronous=asynchronous)


# -- ASGI (uvicorn factories) ------------------------------------------------------------------


async def _drain(receive: Any) -> None:
    while (await receive()).get("more_body"):
        pass


async def _send(send: Any, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
    raw = [(k.encode(), v.encode()) for k, v in headers]
    raw.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


def asgi_bare() -> Any:
    """No session layer: the same routes and bytes, the user taken as signed in."""
    return _asgi_session_app(sessions=False)


def _asgi_session_app(sessions: bool = True) -> Any:
    """The app behind every ASGI session layer: reads ``scope["session"]``."""

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        if scope["method"] == "POST":
            await _drain(receive)
        if not sessions:
            await _send(send, *answer(scope["path"], USER))
            return
        session = scope["session"]
        if scope["path"] == "/login" and scope["method"] == "POST":
            session["user"] = USER
            if "tether" in scope:
                scope["tether"].login(USER)
        await _send(send, *answer(scope["path"], session.get("user")))

    return app


def asgi_tether() -> Any:
    from tether import TetherMiddleware

    return TetherMiddleware(_asgi_session_app(), store=_store(True), policy=_policy(), sweep_interval=None)


def asgi_starlette_cookie() -> Any:
    """Starlette's signed-cookie ``SessionMiddleware`` (the whole session in the cookie)."""
    from starlette.middleware.sessions import SessionMiddleware

    return SessionMiddleware(_asgi_session_app(), secret_key="bench", max_age=IDLE)


def asgi_starsessions() -> Any:
    """starsessions on its Redis store, ``rolling=True`` (every request slides the expiry)."""
    import redis.asyncio
    from starsessions import SessionAutoloadMiddleware, SessionMiddleware
    from starsessions.stores.redis import RedisStore

    store = RedisStore(connection=redis.asyncio.Redis.from_url(os.environ["BENCH_REDIS"]), prefix="bench-star.")
    return SessionMiddleware(SessionAutoloadMiddleware(_asgi_session_app()), store=store, lifetime=IDLE,
                             rolling=True, cookie_https_only=False)


# -- WSGI (gunicorn factories) -----------------------------------------------------------------

StartResponse = Callable[..., Any]


def _wsgi_reply(start_response: StartResponse, status: int, headers: list[tuple[str, str]], body: bytes) -> list[bytes]:
    from http import HTTPStatus

    start_response(f"{status} {HTTPStatus(status).phrase}", [*headers, ("Content-Length", str(len(body)))])
    return [body]


def wsgi_bare() -> Any:
    def app(environ: dict[str, Any], start_response: StartResponse) -> list[bytes]:
        environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        return _wsgi_reply(start_response, *answer(environ["PATH_INFO"], USER))

    return app


def wsgi_tether() -> Any:
    from tether.wsgi import TetherMiddleware

    def app(environ: dict[str, Any], start_response: StartResponse) -> list[bytes]:
        environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        session = environ["tether.session"]
        if environ["PATH_INFO"] == "/login":
            session.data["user"] = USER
            session.login(USER)
        return _wsgi_reply(start_response, *answer(environ["PATH_INFO"], session.data.get("user")))

    return TetherMiddleware(app, store=_store(False), policy=_policy(), sweep_interval=None)


def _flask(name: str) -> Any:
    """A Flask app whose routes read ``flask.session`` (none for ``bare``)."""
    from flask import Flask, Response, request, session

    app = Flask(name)

    def reply(path: str) -> Response:
        user = USER if name == "bare" else session.get("user")
        status, headers, body = answer(path, user)
        return Response(body, status=status, headers=headers)

    @app.post("/login")
    def login() -> Response:
        if name != "bare":
            session["user"] = USER
        if name == "tether":
            from tether.contrib.flask import sign_in

            sign_in(USER)
        return reply(request.path)

    app.add_url_rule(HEARTBEAT, "heartbeat", lambda: reply(HEARTBEAT), methods=["POST"])
    app.add_url_rule(PAGE, "page", lambda: reply(PAGE))
    return app


def flask_bare() -> Any:
    return _flask("bare")


def flask_tether() -> Any:
    from tether.contrib.flask import Tether

    app = _flask("tether")
    Tether(app, store=_store(False), policy=_policy(), sweep_interval=None)
    return app


def flask_session() -> Any:
    """Flask-Session on Redis, Flask's default ``SESSION_REFRESH_EACH_REQUEST``."""
    import redis
    from flask_session import Session

    app = _flask("flask-session")
    app.config.update(SECRET_KEY="bench", SESSION_TYPE="redis", SESSION_PERMANENT=True,
                      SESSION_REDIS=redis.Redis.from_url(os.environ["BENCH_REDIS"]),
                      SESSION_REFRESH_EACH_REQUEST=True)
    Session(app)
    return app


def _django(settings: dict[str, Any]) -> Any:
    import types

    import django
    from django.conf import settings as django_settings
    from django.core.wsgi import get_wsgi_application
    from django.http import HttpResponse
    from django.urls import path
    from django.views.decorators.csrf import csrf_exempt

    def view(request: Any) -> HttpResponse:
        session = getattr(request, "session", None)
        if request.path == "/login" and session is not None:
            session["user"] = USER
            if hasattr(session, "tether"):
                session.tether.login(USER)
        status, headers, body = answer(request.path, USER if session is None else session.get("user"))
        return HttpResponse(body, status=status, headers=dict(headers))

    sys.modules["bench_urls"] = urls = types.ModuleType("bench_urls")
    django_settings.configure(DEBUG=False, SECRET_KEY="bench", ALLOWED_HOSTS=["127.0.0.1"],
                              ROOT_URLCONF="bench_urls", USE_TZ=True, **settings)
    django.setup()
    urls.urlpatterns = [path(p.lstrip("/"), csrf_exempt(view)) for p in ("/login", HEARTBEAT, PAGE)]  # type: ignore[attr-defined]
    return get_wsgi_application()


def django_bare() -> Any:
    return _django({"INSTALLED_APPS": [], "MIDDLEWARE": []})


def django_tether() -> Any:
    return _django({
        "INSTALLED_APPS": ["tether.contrib.django"],
        "MIDDLEWARE": ["tether.contrib.django.middleware.TetherMiddleware"],
        "SESSION_ENGINE": "tether.contrib.django.session",
        "SESSION_COOKIE_NAME": "tether",
        "TETHER": {"store": _store(False), "sweep_interval": None, "policy": _policy()},
    })


def django_cache() -> Any:
    """Django's cache sessions on Redis with ``SESSION_SAVE_EVERY_REQUEST`` (a sliding expiry)."""
    return _django({
        "INSTALLED_APPS": [],
        "MIDDLEWARE": ["django.contrib.sessions.middleware.SessionMiddleware"],
        "SESSION_ENGINE": "django.contrib.sessions.backends.cache",
        "SESSION_SAVE_EVERY_REQUEST": True,
        "CACHES": {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache",
                               "LOCATION": os.environ["BENCH_REDIS"]}},
    })
