"""The one ``<script>`` tag that installs the browser client, for any template engine.

``script_tag(session)`` renders::

    <script src="/_tether/tether.js?v=…" defer data-tether='{…}' nonce="…"></script>

The JSON config carries the endpoints, the session's state at render time (the same body
``GET /_tether/status`` answers, so the page starts from the server's numbers without a
request), ``login_url``, the texts, and a short hash that lets the client restore a saved
form draft only to the user who typed it. No inline script: the tag works under
``script-src 'self'`` (the nonce is only for policies that use nonces).

The result is a ``str``; it also has ``__html__`` so Jinja and Django-style autoescapers
that honour that protocol insert it as is, without tether importing markupsafe.
"""

from __future__ import annotations

import hashlib
import html
import json
from functools import lru_cache
from importlib import resources
from typing import Any, Mapping

#: Every text the client shows, with its default. ``{time}`` is replaced by the countdown.
TEXTS: dict[str, str] = {
    "title": "Are you still there?",
    "body": "For your security you will be signed out in {time}.",
    "absolute": "Your session reaches its time limit in {time}. Save your work: you will need to sign in again.",
    "stay": "Stay signed in",
    "ok": "OK",
    "signout": "Sign out",
    "left": "{time} left before you are signed out.",
}


class ScriptTag(str):
    """A plain ``str`` that template engines recognise as already-safe HTML."""

    __slots__ = ()

    def __html__(self) -> str:
        return str(self)


@lru_cache(maxsize=1)
def script_bytes() -> bytes:
    """The served client (the minified copy when present), read once."""
    static = resources.files("tether") / "static"
    for name in ("tether.min.js", "tether.js"):
        path = static / name
        if path.is_file():
            return path.read_bytes()
    return b""  # pragma: no cover - a broken install


def script_version() -> str:
    """The served file's version: the first 16 hex digits of its SHA-256.

    The same value the protocol uses for ``?v=``, so a versioned URL is cached for a year
    and a new release is fetched at once.
    """
    return hashlib.sha256(script_bytes()).hexdigest()[:16]


def draft_owner(user: str | None) -> str | None:
    """A short, non-reversible tag of the signed-in user, used to match form drafts."""
    if user is None:
        return None
    return hashlib.sha256(b"tether-draft\0" + user.encode("utf-8")).hexdigest()[:16]


def client_config(
    session: Any,
    *,
    prefix: str | None = None,
    login_url: str | None = None,
    ui: bool = True,
    heart: bool = False,
    texts: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The client's config as a dict (what ``data-tether`` carries)."""
    config = getattr(session, "config", None)
    if prefix is None:
        prefix = getattr(config, "prefix", "/_tether")
    if login_url is None:
        login_url = getattr(config, "login_url", "/login")
    if texts:
        unknown = set(texts) - set(TEXTS)
        if unknown:
            raise ValueError(f"unknown tether text(s) {sorted(unknown)}; known: {sorted(TEXTS)}")
    state = session.state() if session is not None else {"state": "ended", "reason": "none"}
    out: dict[str, Any] = {
        "heartbeat": f"{prefix}/heartbeat",
        "status": f"{prefix}/status",
        "end": f"{prefix}/end",
        "login_url": login_url,
        "session": state,
        "user": draft_owner(getattr(session, "user", None)) if state.get("state") == "active" else None,
    }
    if not ui:
        out["ui"] = False
    if heart:
        out["heart"] = True
    if texts:
        out["texts"] = dict(texts)
    return out


def script_tag(
    session: Any,
    *,
    prefix: str | None = None,
    login_url: str | None = None,
    nonce: str | None = None,
    ui: bool = True,
    heart: bool = False,
    texts: Mapping[str, str] | None = None,
) -> ScriptTag:
    """Render the client's ``<script>`` tag for ``session`` (the tether handle, or None).

    - ``prefix`` / ``login_url``: default to the middleware's settings (else
      ``/_tether`` and ``/login``).
    - ``nonce``: for a CSP that allows scripts by nonce.
    - ``ui=False``: no dialog or heart; the app listens to ``tether:*`` DOM events.
    - ``heart=True``: the small ♥ that beats once per successful heartbeat.
    - ``texts``: overrides for :data:`TEXTS` (e.g. translations).
    """
    config = client_config(session, prefix=prefix, login_url=login_url, ui=ui, heart=heart, texts=texts)
    src = f"{config['heartbeat'][: -len('/heartbeat')]}/tether.js?v={script_version()}"
    data = json.dumps(config, separators=(",", ":"), ensure_ascii=False)
    attrs = f'src="{html.escape(src)}" defer data-tether=\'{html.escape(data)}\''
    if nonce is not None:
        attrs += f' nonce="{html.escape(nonce)}"'
    return ScriptTag(f"<script {attrs}></script>")


__all__ = ["script_tag", "script_version", "client_config", "draft_owner", "ScriptTag", "TEXTS"]
