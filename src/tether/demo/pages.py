"""Framework-neutral parts of the demo: page rendering and the small rules every
framework's routes share. The routing (and so the I/O) lives in one module per framework.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass
from typing import Any, Iterable

from jinja2 import Environment, PackageLoader, select_autoescape

from .._policy import Policy
from .._records import Record, short_key

_env = Environment(loader=PackageLoader("tether.demo", "templates"), autoescape=select_autoescape(["html"]))

#: A strict policy: no inline script or style anywhere on the demo, tether.js included.
CSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'"

HEADERS = [("content-security-policy", CSP), ("cache-control", "no-store"), ("referrer-policy", "same-origin")]


@dataclass(frozen=True)
class DemoSettings:
    policy: Policy
    store_url: str
    framework: str
    prefix: str = "/_tether"


def login_redirect(path: str) -> str:
    from urllib.parse import quote

    return f"/login?next={quote(path, safe='/')}"


def _duration(seconds: float) -> str:
    """A policy's timeout in the largest whole unit: "12 hours", "20 minutes", "90 seconds"."""
    whole = round(seconds)
    for unit, size in (("hour", 3600), ("minute", 60)):
        count, rest = divmod(whole, size)
        if count and not rest:
            return f"{count} {unit}{'s' if count != 1 else ''}"
    return f"{whole} seconds"


def end_notice(reason: str | None, policy: Policy) -> str | None:
    """What the login page says about why the session ended (the client's ``reason``).

    ``none`` and anything unknown say nothing: the query string is the visitor's to edit.
    """
    if reason == "idle":
        return f"You were signed out after {_duration(policy.idle_timeout)} without activity, for your security."
    if reason == "absolute":
        return f"Your session reached its time limit of {_duration(policy.absolute_timeout)}. Please sign in again."
    if reason == "logout":
        return "You have signed out."
    if reason == "revoked":
        return "Your session was ended from another device or by an administrator."
    return None


def valid_username(value: Any) -> str | None:
    name = (value or "").strip() if isinstance(value, str) else ""
    return name if 0 < len(name) <= 64 and name.isprintable() else None


def _when(seconds: float) -> str:
    return _dt.datetime.fromtimestamp(seconds, _dt.timezone.utc).strftime("%H:%M:%S UTC")


def session_rows(records: Iterable[Record], current_key: str | None, now: float) -> list[dict[str, Any]]:
    return [
        {
            "key": r.key,
            "short": short_key(r.key),
            "current": r.key == current_key,
            "device": r.meta.device or "Unknown browser",
            "ip": r.meta.ip,
            "created": _when(r.meta.created_at),
            "last_active": _when(r.meta.last_active),
            "expires_in": max(0, round(r.meta.expires_at - now)),
        }
        for r in records
    ]


def render(template: str, *, session: Any, settings: DemoSettings, script: str = "", **context: Any) -> str:
    """Render a demo page. ``session`` is the tether handle; ``script`` the client tag."""
    return _env.get_template(template).render(
        session=session,
        state=session.state() if session is not None else None,
        user=session.user if session is not None else None,
        settings=settings,
        script=script,
        **context,
    )


def client_script(session: Any, settings: DemoSettings) -> str:
    """The one ``<script>`` tag for tether.js, when the client is installed."""
    from .._script import script_tag

    return script_tag(session, prefix=settings.prefix, login_url="/login", heart=True)


__all__ = ["CSP", "HEADERS", "DemoSettings", "login_redirect", "end_notice", "valid_username", "session_rows", "render", "client_script"]
