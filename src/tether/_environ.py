"""A WSGI environ (PEP 3333) as the protocol's :class:`~tether.Request` facts.

Its own module because two adapters parse environs: the WSGI middleware and Django
(whose ``request.META`` is one, under WSGI and ASGI alike), and Django must not depend
on the WSGI adapter.
"""

from __future__ import annotations

from typing import Any

from ._protocol import HEADERS_READ, Request, make_request

Environ = dict[str, Any]

#: Where PEP 3333 puts each header the protocol reads: ``HTTP_`` + the name in upper case
#: with ``_`` for ``-``. Only these keys are read, rather than rewriting every ``HTTP_*``
#: key of the environ into a dict per request. Content-Type is the CGI ``CONTENT_TYPE``.
_ENVIRON_KEYS = tuple((name, "HTTP_" + name.upper().replace("-", "_")) for name in HEADERS_READ)


def request_from_environ(environ: Environ) -> Request:
    """The protocol's facts about the request in ``environ``. ``headers`` holds only the
    headers tether reads (:data:`~tether._protocol.HEADERS_READ`), never the whole environ."""
    headers: dict[str, str] = {}
    for name, key in _ENVIRON_KEYS:
        if key in environ:
            headers[name] = environ[key]
    content_type = environ.get("CONTENT_TYPE")
    if content_type:
        headers["content-type"] = content_type
    scheme = environ.get("wsgi.url_scheme", "http")
    if "host" not in headers and "SERVER_NAME" in environ:
        port = str(environ.get("SERVER_PORT", ""))
        default = port in ("", "80") if scheme == "http" else port in ("", "443")
        headers["host"] = environ["SERVER_NAME"] if default else f"{environ['SERVER_NAME']}:{port}"
    return make_request(
        environ.get("REQUEST_METHOD", "GET"),
        environ.get("PATH_INFO", "") or "/",
        scheme,
        headers,
        environ.get("QUERY_STRING", ""),
        environ.get("REMOTE_ADDR") or None,
    )


__all__ = ["Environ", "request_from_environ"]
