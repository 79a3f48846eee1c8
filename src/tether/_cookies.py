"""Set-Cookie building and Cookie parsing, for the one cookie tether owns."""

from __future__ import annotations

_EXPIRED = "Thu, 01 Jan 1970 00:00:00 GMT"


def cookie_name(base: str, *, secure: bool, path: str) -> str:
    """``__Host-`` + base when the cookie is Secure with Path=/ (and never a Domain):
    the browser then refuses the cookie from any sibling subdomain or plain-http page."""
    return f"__Host-{base}" if secure and path == "/" else base


def read_cookie(header: str | None, name: str) -> str | None:
    """The first value of cookie ``name`` in a Cookie header, or None.

    Tolerant of junk (it is attacker-controlled): pairs without '=' are skipped and
    nothing here raises.
    """
    if not header:
        return None
    for part in header.split(";"):
        key, sep, value = part.partition("=")
        if sep and key.strip() == name:
            return value.strip().strip('"')
    return None


def set_cookie(
    name: str, value: str, *, secure: bool, same_site: str = "Lax", path: str = "/", max_age: int | None = None
) -> str:
    """A Set-Cookie value. No Max-Age by default: a browser-session cookie, because the
    server enforces the timeouts and the cookie only carries the token."""
    parts = [f"{name}={value}", f"Path={path}", "HttpOnly", f"SameSite={same_site}"]
    if max_age is not None:
        parts.append(f"Max-Age={max_age}")
    if secure:
        parts.append("Secure")
    return "; ".join(parts)


def clear_cookie(name: str, *, secure: bool, same_site: str = "Lax", path: str = "/") -> str:
    return set_cookie(name, "", secure=secure, same_site=same_site, path=path, max_age=0) + f"; Expires={_EXPIRED}"




def vary_with_cookie(current: str | None) -> str | None:
    """The ``Vary`` value for a page whose answer depends on the session cookie, merged
    with the app's own (``current``); None when that already covers ``Cookie``."""
    if not current:
        return "Cookie"
    if any(part.strip().lower() in ("cookie", "*") for part in current.split(",")):
        return None
    return f"{current}, Cookie"


__all__ = ["cookie_name", "read_cookie", "set_cookie", "clear_cookie", "vary_with_cookie"]
