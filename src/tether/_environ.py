"""A WSGI environ (PEP 3333) as the protocol's :class:`~tether.Request` facts.

Its own module because two adapters parse environs: the WSGI middleware and Django
(whose ``request.META`` is one, under WSGI and ASGI alike), and Django must not depend
on the WSGI adapter.
"""

from __future__ import annotations

from typing import Any

from ._protocol import Request

Environ = dict[str, Any]


def request_from_environ(environ: Environ) -> Request:
    headers: dict[str, str] = {}
    for key, value in environ.items():
        if key.startswith("HTTP_"):
            headers[key[5:].replace("_", "-").lower()] = value
    for key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
        if environ.get(key):
            headers[key.replace("_", "-").lower()] = environ[key]
    scheme = environ.get("wsgi.url_scheme", "http")
    if "host" not in headers and "SERVER_NAME" in environ:
        port = str(environ.get("SERVER_PORT", ""))
        default = port in ("", "80") if scheme == "http" else port in ("", "443")
        headers["host"] = environ["SERVER_NAME"] if default else f"{environ['SERVER_NAME']}:{port}"
    return Request(
        method=environ.get("REQUEST_METHOD", "GET"),
        path=environ.get("PATH_INFO", "") or "/",
        scheme=scheme,
        headers=headers,
        query=environ.get("QUERY_STRING", ""),
        client=environ.get("REMOTE_ADDR") or None,
    )


__all__ = ["Environ", "request_from_environ"]
