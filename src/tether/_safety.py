"""Two checks every app with a sign-in page needs, so nobody has to write them by hand.

- :func:`safe_next`: where to send someone after sign-in. The browser client sends people
  whose session ended to ``login_url?next=<the page they were on>``; honouring ``next``
  without a check is an open redirect (a link to your login page that lands on a
  look-alike site).
- :func:`cross_site_refusal`: the same-origin rule tether applies to its own endpoints,
  for the app's own state-changing forms (sign-in, sign-out, "revoke this session").

The framework helpers in ``tether.contrib`` call these with each framework's request.
"""

from __future__ import annotations

from typing import Iterable
from urllib.parse import urlsplit, urlunsplit

from ._protocol import Request, same_origin_refusal
from ._session import Session

#: Methods that must change nothing (RFC 9110 §9.2.1), so a link from another site may use them.
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})


def _is_local_path(value: str) -> bool:
    """A path on this site: one leading slash, never ``//`` (another host, scheme-relative)."""
    return value.startswith("/") and not value.startswith("//")


def safe_next(url: object, request_host: str, allowed_hosts: Iterable[str] = (), *, default: str = "/") -> str:
    """``url`` if it is a safe place to send someone after sign-in, else ``default``.

    Safe means a path on this site (``/reports?id=3``), or an ``http``/``https`` URL whose
    host (with its port, compared without case) is ``request_host`` (the request's Host
    header) or one of ``allowed_hosts``. A URL to this very host comes back as its path, so
    it cannot switch scheme; one to an allowed host comes back whole.

    Refused, whatever follows: anything not a string; white space or control characters
    anywhere (browsers drop tabs and newlines, so ``/\\t/evil.example`` would become
    ``//evil.example``); backslashes (browsers read them as ``/``); scheme-relative
    ``//host``; other schemes (``javascript:``, ``data:``) and scheme-only forms such as
    ``http:evil.example``; user names in the authority (``https://you@evil.example``);
    relative paths (``page``, ``?q``), which only mean something relative to a page.
    """
    if not isinstance(url, str) or not url:
        return default
    if any(c == "\\" or c.isspace() or not c.isprintable() for c in url):
        return default
    if _is_local_path(url):
        return url
    try:
        parts = urlsplit(url)
    except ValueError:  # e.g. a malformed IPv6 host, or characters NFKC turns into '/'
        return default
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname or "@" in parts.netloc:
        return default
    netloc = parts.netloc.lower()
    if netloc == request_host.lower():
        local = urlunsplit(("", "", parts.path or "/", parts.query, parts.fragment))
        return local if _is_local_path(local) else default
    if netloc in {host.lower() for host in allowed_hosts}:
        return url
    return default


def cross_site_refusal(session: Session, request: Request) -> str | None:
    """Why ``request`` must be refused as coming from another site, or None when it may go on.

    The rule is the one tether's own endpoints follow, with the app's own settings
    (``trusted_origins``; ``secure`` behind a TLS-terminating proxy): a browser's
    ``Origin`` must be this site's or a trusted one, ``Sec-Fetch-Site`` must not say
    ``cross-site`` (nor ``same-site`` from an origin that is not trusted), and a request
    carrying neither header is refused. Safe methods (GET, HEAD, OPTIONS, TRACE) always
    pass: they must change nothing, and a link followed from another site must still work.

    ``session`` is the request's tether handle, which knows the app's settings.
    """
    if request.method.upper() in SAFE_METHODS:
        return None
    # The handle carries the app's own settings: the same rule as its endpoints.
    config = session.config
    trusted = frozenset(origin.lower() for origin in config.trusted_origins)
    return same_origin_refusal(request, secure=config.secure, trusted=trusted)


__all__ = ["SAFE_METHODS", "safe_next", "cross_site_refusal"]
