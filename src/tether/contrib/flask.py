"""Flask: ``Tether(app)`` makes ``flask.session`` a tether session.

The extension wraps ``app.wsgi_app`` in :class:`tether.wsgi.TetherMiddleware` (which
answers the endpoints, enforces both timeouts, stores the session and sets the cookie)
and installs a session interface that only hands Flask the middleware's session. So
there is one implementation of the rules, and Flask code keeps using ``session[...]``.

Settings are read once, in :meth:`Tether.init_app`, from ``app.config`` keys
``TETHER_<NAME>`` where ``<name>`` is a :class:`tether.Config` or :class:`tether.Policy`
field, or ``STORE`` (a sync store or a store URL) or ``SWEEP_INTERVAL``; keyword
arguments to ``Tether(...)`` override them.

Sign in and out with :func:`sign_in` / :func:`sign_out`; with Flask-Login,
``login_user`` and ``logout_user`` do it through its signals. Guard the app's own forms
with :func:`require_same_origin`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any, NoReturn

from flask import Flask, Response, abort, request
from flask.sessions import NullSession, SessionInterface, SessionMixin
from markupsafe import Markup

from .. import _safety
from .._environ import request_from_environ
from .._script import script_tag
from .._session import Session
from .._settings import build_settings
from ..wsgi import TetherMiddleware

CONFIG_PREFIX = "TETHER_"


class TetherSession(SessionMixin):
    """``flask.session``: a view of the tether session's data; ``.tether`` is the handle."""

    def __init__(self, handle: Session):
        self.tether = handle
        self.accessed = False
        self.modified = False

    def __getitem__(self, key: str) -> Any:
        self.accessed = True
        return self.tether.data[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self.accessed = self.modified = True
        self.tether.data[key] = value

    def __delitem__(self, key: str) -> None:
        self.accessed = self.modified = True
        del self.tether.data[key]

    def __iter__(self) -> Iterator[str]:
        self.accessed = True
        return iter(self.tether.data)

    def __len__(self) -> int:
        self.accessed = True
        return len(self.tether.data)

    def __repr__(self) -> str:
        return f"<TetherSession user={self.tether.user!r} {self.tether.data!r}>"


def _not_seen(*args: Any, **kwargs: Any) -> NoReturn:
    raise RuntimeError(
        "tether did not see this request: call Tether(app) before serving, and use "
        "app.test_client() rather than app.test_request_context() to exercise sessions"
    )


class _Missing(NullSession):
    """Readable failure when a request did not pass through tether's middleware."""

    __setitem__ = __delitem__ = clear = pop = popitem = update = setdefault = _not_seen


class TetherSessionInterface(SessionInterface):
    """Hands Flask the middleware's session. Saving happens in the middleware, when the
    response starts, so nothing is written here."""

    null_session_class = _Missing

    def open_session(self, app: Flask, request: Any) -> TetherSession | None:
        handle = request.environ.get("tether.session")
        return None if handle is None else TetherSession(handle)

    def save_session(self, app: Flask, session: Any, response: Response) -> None:
        if getattr(session, "accessed", False):
            response.vary.add("Cookie")


class Tether:
    """The Flask extension. ``Tether(app)`` or ``tether = Tether(); tether.init_app(app)``."""

    def __init__(self, app: Flask | None = None, **options: Any) -> None:
        self.options = {k.lower(): v for k, v in options.items()}
        if app is not None:
            self.init_app(app)

    def init_app(self, app: Flask) -> TetherMiddleware:
        values = {k[len(CONFIG_PREFIX):].lower(): v for k, v in app.config.items() if k.startswith(CONFIG_PREFIX)}
        settings = build_settings({**values, **self.options}, lambda key: CONFIG_PREFIX + key.upper())
        middleware = TetherMiddleware(
            app.wsgi_app, store=settings.store, config=settings.config, sweep_interval=settings.sweep_interval
        )
        app.wsgi_app = middleware  # type: ignore[method-assign]
        app.session_interface = TetherSessionInterface()
        app.extensions["tether"] = middleware
        app.jinja_env.globals["tether_script"] = tether_script
        _connect_flask_login()
        return middleware


def current_session() -> Session:
    """The tether handle of the current request (``login``, ``logout``, ``meta``, ``state()``)."""
    handle: Session | None = request.environ.get("tether.session")
    if handle is None:
        _not_seen()
    return handle


def sign_in(user: str) -> None:
    """Sign ``user`` in: a new token and a new absolute window; session data carries over."""
    current_session().login(str(user))


def sign_out() -> None:
    """End the session now (reason ``logout``) and clear the cookie."""
    current_session().logout()


def cross_site_refusal() -> str | None:
    """Why the current request must be refused as coming from another site, or None (safe
    methods always pass); see :func:`tether.cross_site_refusal`."""
    return _safety.cross_site_refusal(current_session(), request_from_environ(request.environ))


def require_same_origin() -> None:
    """Stop a request from another site with a JSON 403: ``app.before_request(require_same_origin)``
    guards every form of the app, or call it at the top of one view."""
    reason = cross_site_refusal()
    if reason is not None:
        abort(Response(json.dumps({"error": reason}), 403, {"Cache-Control": "no-store"}, content_type="application/json"))


def tether_script(**options: Any) -> Markup:
    """``{{ tether_script() }}``: the one ``<script>`` tag that loads tether.js."""
    return Markup(str(script_tag(current_session(), **options)))


def _connect_flask_login() -> None:
    """With Flask-Login, ``login_user`` rotates the token and ``logout_user`` ends the session."""
    try:
        from flask_login import user_loaded_from_cookie, user_logged_in, user_logged_out
    except ImportError:
        return
    # A "remember me" cookie restoring a user is a sign-in too: a new token for it.
    user_logged_in.connect(_on_login, weak=False)
    user_loaded_from_cookie.connect(_on_login, weak=False)
    user_logged_out.connect(_on_logout, weak=False)


#: What Flask-Login writes for the new user just before it signals the sign-in.
_FLASK_LOGIN_KEYS = ("_user_id", "_fresh", "_id", "_remember", "_remember_seconds")


def _on_login(app: Flask, user: Any, **extra: Any) -> None:
    if "tether" in app.extensions:
        data = current_session().data
        # Signing in a different person clears the old person's data; keep Flask-Login's
        # own keys, which already describe the new user.
        keep = {key: data[key] for key in _FLASK_LOGIN_KEYS if key in data}
        sign_in(str(user.get_id()))
        data.update(keep)


def _on_logout(app: Flask, user: Any = None, **extra: Any) -> None:
    if "tether" in app.extensions:
        handle = current_session()
        remember = handle.data.get("_remember")
        handle.logout()
        if remember is not None:
            # Flask-Login clears its remember cookie after this request from this flag;
            # it lives in this request only, since the ended session is never stored.
            handle.data["_remember"] = remember


__all__ = ["Tether", "TetherSession", "TetherSessionInterface", "current_session", "cross_site_refusal", "require_same_origin", "sign_in", "sign_out", "tether_script"]
