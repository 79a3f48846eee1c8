"""The demo on Flask, through :class:`tether.contrib.flask.Tether`: the same pages and
routes as the Starlette demo."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from . import missing_extra

try:
    from flask import Flask, Response, redirect, request
    from werkzeug.wrappers import Response as BaseResponse
except ImportError as exc:
    raise missing_extra(exc, "demo,flask") from None

from .._records import Record, short_key
from .._safety import safe_next
from ..contrib.flask import Tether, cross_site_refusal, current_session
from ..exceptions import NotInCookieMode
from ..stores.urls import open_store
from .pages import HEADERS, DemoSettings, client_script, end_notice, login_redirect, render, session_rows, valid_username

logger = logging.getLogger("tether.demo")


def log_end(record: Record, reason: str) -> None:
    logger.info("session %s of %s ended: %s", short_key(record.key), record.meta.user or "anonymous", reason)


def build(settings: DemoSettings, **options: Any) -> Flask:
    """The demo as a WSGI app. ``options`` go to the extension (e.g. ``clock``)."""
    app = Flask(__name__, static_folder=str(Path(__file__).parent / "static"), static_url_path="/static")

    def page(template: str, code: int = 200, **context: Any) -> Response:
        session = current_session()
        html = render(template, session=session, settings=settings, script=client_script(session, settings), **context)
        return Response(html, status=code, headers=HEADERS, content_type="text/html; charset=utf-8")

    def refused() -> Response | None:
        """The demo's own forms obey the same same-origin rule as tether's endpoints, and a
        form body that cannot be read (a broken chunked body, a connection cut short) is
        a 400, never a 500."""
        reason = cross_site_refusal()
        if reason:
            return page("error.html", 403, status=403, message=reason)
        try:
            request.form  # noqa: B018 - parsed here so that a broken body is refused here
        except Exception as exc:  # werkzeug raises OSError, gunicorn its own ParseException
            logger.info("unreadable form body: %r", exc)
            return page("error.html", 400, status=400, message="The form could not be read.")
        return None

    def signed_out(path: str) -> BaseResponse | None:
        return None if current_session().active else redirect(login_redirect(path), code=303)

    @app.get("/")
    def home() -> Any:
        return signed_out("/") or page("index.html")

    @app.route("/login", methods=["GET", "POST"])
    def login() -> Any:
        if request.method == "GET":
            return page("login.html", next=safe_next(request.args.get("next"), request.host), notice=end_notice(request.args.get("reason"), settings.policy))
        if (refusal := refused()) is not None:
            return refusal
        target = safe_next(request.form.get("next"), request.host)
        name = valid_username(request.form.get("username"))
        if name is None:
            return page("login.html", 400, next=target, error="Enter a name of 1 to 64 characters.")
        current_session().login(name)
        return redirect(target, code=303)

    @app.post("/logout")
    def logout() -> Any:
        if (refusal := refused()) is not None:
            return refusal
        current_session().logout()
        return redirect("/login", code=303)

    @app.route("/form", methods=["GET", "POST"])
    def form() -> Any:
        if (away := signed_out("/form")) is not None:
            return away
        session = current_session()
        if request.method == "POST":
            if (refusal := refused()) is not None:
                return refusal
            session.data["last_report"] = str(request.form.get("title") or "(untitled)")[:200]
            return redirect("/form?saved=1", code=303)
        saved = session.data.get("last_report") if request.args.get("saved") else None
        return page("form.html", saved=saved)

    @app.get("/sessions")
    @app.post("/sessions/revoke")
    def sessions() -> Any:
        if (away := signed_out("/sessions")) is not None:
            return away
        session = current_session()
        tether = app.extensions["tether"]
        revoked = None
        if request.method == "POST":
            if (refusal := refused()) is not None:
                return refusal
            if request.form.get("everywhere"):
                tether.revoke(user=session.user)
                session.logout()
                return redirect("/login", code=303)
            key = request.form.get("key", "")
            record = tether.store.load(key) if key else None
            if record is None or record.meta.user != session.user:
                return page("error.html", 404, status=404, message="No such session of yours.")
            if session.record is not None and key == session.record.key:
                session.logout()  # this browser: a plain sign-out, no tombstone needed
                return redirect("/login", code=303)
            tether.revoke(key)
            revoked = short_key(key)
        try:
            records, unlisted = tether.store.list_by_user(session.user), None
        except NotInCookieMode as exc:  # signed-cookie mode: say so, never invent rows
            records, unlisted = [], str(exc)
        current = session.record.key if session.record else None
        others = "others" in request.args
        return page("sessions.html", rows=session_rows(records, current, session.now), revoked=revoked, others=others,
                    unlisted=unlisted)

    @app.post("/sessions/others")
    def sign_out_others() -> Any:
        if (away := signed_out("/sessions")) is not None:
            return away
        if (refusal := refused()) is not None:
            return refusal
        current_session().end_other_sessions()
        return redirect("/sessions?others=1", code=303)

    options.setdefault("on_end", log_end)
    Tether(app, store=open_store(settings.store_url), policy=settings.policy, prefix=settings.prefix, **options)
    return app


__all__ = ["build"]
