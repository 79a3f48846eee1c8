"""The demo on Starlette, through :class:`tether.TetherMiddleware`."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from .._protocol import Record
from .._records import short_key
from .._safety import safe_next
from ..asgi import TetherMiddleware
from ..contrib.starlette import cross_site_refusal
from ..exceptions import NotInCookieMode
from ..stores.urls import open_store
from .pages import HEADERS, DemoSettings, client_script, end_notice, login_redirect, render, session_rows, valid_username

logger = logging.getLogger("tether.demo")


def log_end(record: Record, reason: str) -> None:
    logger.info("session %s of %s ended: %s", short_key(record.key), record.meta.user or "anonymous", reason)


def build(settings: DemoSettings, **options: Any) -> TetherMiddleware:
    """The demo as an ASGI app. ``options`` go to the middleware (e.g. ``clock``)."""
    middleware: TetherMiddleware

    def page(request: Request, template: str, code: int = 200, **context: Any) -> HTMLResponse:
        session = request.scope["tether"]
        html = render(template, session=session, settings=settings, script=client_script(session, settings), **context)
        return HTMLResponse(html, status_code=code, headers=dict(HEADERS))

    def refused(request: Request) -> Response | None:
        """The demo's own forms obey the same same-origin rule as tether's endpoints."""
        reason = cross_site_refusal(request)
        return page(request, "error.html", 403, status=403, message=reason) if reason else None

    async def home(request: Request) -> Response:
        if not request.scope["tether"].active:
            return RedirectResponse(login_redirect("/"), status_code=303)
        return page(request, "index.html")

    async def login(request: Request) -> Response:
        if request.method == "GET":
            return page(request, "login.html", next=safe_next(request.query_params.get("next"), request.url.netloc), notice=end_notice(request.query_params.get("reason"), settings.policy))
        if (refusal := refused(request)) is not None:
            return refusal
        form = await request.form()
        target = safe_next(form.get("next"), request.url.netloc)
        name = valid_username(form.get("username"))
        if name is None:
            return page(request, "login.html", 400, next=target, error="Enter a name of 1 to 64 characters.")
        request.scope["tether"].login(name)
        return RedirectResponse(target, status_code=303)

    async def logout(request: Request) -> Response:
        if (refusal := refused(request)) is not None:
            return refusal
        request.scope["tether"].logout()
        return RedirectResponse("/login", status_code=303)

    async def form(request: Request) -> Response:
        session = request.scope["tether"]
        if not session.active:
            return RedirectResponse(login_redirect("/form"), status_code=303)
        if request.method == "POST":
            if (refusal := refused(request)) is not None:
                return refusal
            data = await request.form()
            session.data["last_report"] = str(data.get("title") or "(untitled)")[:200]
            return RedirectResponse("/form?saved=1", status_code=303)
        saved = session.data.get("last_report") if request.query_params.get("saved") else None
        return page(request, "form.html", saved=saved)

    async def sessions(request: Request) -> Response:
        session = request.scope["tether"]
        if not session.active:
            return RedirectResponse(login_redirect("/sessions"), status_code=303)
        revoked = None
        if request.method == "POST":
            if (refusal := refused(request)) is not None:
                return refusal
            form = await request.form()
            if form.get("everywhere"):
                await middleware.revoke(user=session.user)
                session.logout()
                return RedirectResponse("/login", status_code=303)
            key = str(form.get("key") or "")
            record = await middleware.store.load(key) if key else None
            if record is None or record.meta.user != session.user:
                return page(request, "error.html", 404, status=404, message="No such session of yours.")
            if session.record is not None and key == session.record.key:
                session.logout()  # this browser: a plain sign-out, no tombstone needed
                return RedirectResponse("/login", status_code=303)
            await middleware.revoke(key)
            revoked = short_key(key)
        try:
            records, unlisted = await middleware.store.list_by_user(session.user), None
        except NotInCookieMode as exc:  # signed-cookie mode: say so, never invent rows
            records, unlisted = [], str(exc)
        current = session.record.key if session.record else None
        others = request.query_params.get("others") is not None
        rows = session_rows(records, current, session.now)
        return page(request, "sessions.html", rows=rows, revoked=revoked, others=others, unlisted=unlisted)

    async def sign_out_others(request: Request) -> Response:
        session = request.scope["tether"]
        if not session.active:
            return RedirectResponse(login_redirect("/sessions"), status_code=303)
        if (refusal := refused(request)) is not None:
            return refusal
        session.end_other_sessions()
        return RedirectResponse("/sessions?others=1", status_code=303)

    app = Starlette(
        routes=[
            Route("/", home),
            Route("/login", login, methods=["GET", "POST"]),
            Route("/logout", logout, methods=["POST"]),
            Route("/form", form, methods=["GET", "POST"]),
            Route("/sessions", sessions, methods=["GET"]),
            Route("/sessions/revoke", sessions, methods=["POST"]),
            Route("/sessions/others", sign_out_others, methods=["POST"]),
            Mount("/static", StaticFiles(directory=Path(__file__).parent / "static"), name="static"),
        ]
    )
    options.setdefault("on_end", log_end)
    middleware = TetherMiddleware(
        app, store=open_store(settings.store_url, asynchronous=True), policy=settings.policy, prefix=settings.prefix, **options
    )
    return middleware


__all__ = ["build"]
