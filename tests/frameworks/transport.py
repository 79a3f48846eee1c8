"""An httpx client for WSGI apps that passes header bytes the way WSGI servers do.

httpx's ``WSGITransport`` decodes header values as ASCII and fails on other bytes;
PEP 3333 servers (gunicorn, werkzeug, wsgiref) decode them as latin-1. The conformance
suite sends such cookies on purpose, so this transport carries non-ASCII values in one
ASCII (JSON) header and the wrapped app puts them back into the environ as latin-1.
"""

from __future__ import annotations

import json
from typing import Any, Callable, Iterable

import httpx

_CARRIER = "x-test-latin1-headers"


class LatinWSGITransport(httpx.WSGITransport):
    def __init__(self, app: Callable[..., Iterable[bytes]], **kwargs: Any) -> None:
        def restore(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
            carried = environ.pop("HTTP_" + _CARRIER.upper().replace("-", "_"), None)
            if carried:
                environ.update(json.loads(carried))
            return app(environ, start_response)

        super().__init__(app=restore, **kwargs)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        carried = {}
        for name, value in list(request.headers.raw):
            if not value.isascii():
                key = name.decode("latin-1").upper().replace("-", "_")
                carried[key if key in ("CONTENT_TYPE", "CONTENT_LENGTH") else f"HTTP_{key}"] = value.decode("latin-1")
                del request.headers[name.decode("latin-1")]
        if carried:
            request.headers[_CARRIER] = json.dumps(carried)
        return super().handle_request(request)


def wsgi_test_client(app: Callable[..., Iterable[bytes]], cls: type[httpx.Client] = httpx.Client) -> Any:
    return cls(transport=LatinWSGITransport(app), base_url="http://testserver")
