"""Malformed HTTP framing over raw sockets against the real servers the demo and docs use.

uvicorn (h11 and httptools) with the Starlette demo, ``tether demo --framework flask`` and
``--framework django`` (werkzeug's server), gunicorn with the Flask demo. Each gets bad
chunk headers, Content-Length mismatches both ways, oversized headers and bodies on GET,
on the heartbeat, on end and on an ordinary form POST (the demo's sign-in). Whatever the
server makes of the bytes: no 5xx and no traceback in any answer (a 400 JSON refusal from
tether, or the server's own 4xx, or a closed connection for framing it rejects itself),
and the server still answers a normal request afterwards.
"""

from __future__ import annotations

import re
import socket
import time
from typing import Callable, Iterator

import httpx
import pytest

from .conftest import SERVERS, TRACEBACK_MARKS, Served, start_server

TARGETS = {
    "heartbeat": ("/_tether/heartbeat", b"application/json", b"{}"),
    "end": ("/_tether/end", b"application/json", b"{}"),
    "form": ("/login", b"application/x-www-form-urlencoded", b"username=ada&next=%2F"),
}
WAIT = 5.0  # seconds a server may take to answer or close a connection


def head(method: bytes, path: str, port: int, *lines: bytes) -> bytes:
    """A request head with the browser's same-origin header and ``Connection: close``."""
    origin = f"Origin: http://127.0.0.1:{port}".encode()
    return b"\r\n".join([method + b" " + path.encode() + b" HTTP/1.1", f"Host: 127.0.0.1:{port}".encode(), origin,
                         b"Connection: close", *lines, b"", b""])


# Each malformation: (path, content type, body, port) -> (bytes to send, half-close after?).
Malformed = Callable[[str, bytes, bytes, int], tuple[bytes, bool]]
MALFORMED: dict[str, Malformed] = {
    "bad-chunk-header": lambda p, ct, body, port: (
        head(b"POST", p, port, b"Content-Type: " + ct, b"Transfer-Encoding: chunked") + b"zz\r\n" + body + b"\r\n0\r\n\r\n", False),
    "chunk-cut-short": lambda p, ct, body, port: (
        head(b"POST", p, port, b"Content-Type: " + ct, b"Transfer-Encoding: chunked") + b"40\r\n" + body, True),
    "content-length-short": lambda p, ct, body, port: (  # fewer bytes declared than sent
        head(b"POST", p, port, b"Content-Type: " + ct, b"Content-Length: 1") + body, False),
    "content-length-long": lambda p, ct, body, port: (  # more declared than sent, then EOF
        head(b"POST", p, port, b"Content-Type: " + ct, f"Content-Length: {len(body) + 50}".encode()) + body, True),
    "content-length-junk": lambda p, ct, body, port: (
        head(b"POST", p, port, b"Content-Type: " + ct, b"Content-Length: 2x") + body, False),
    "content-length-and-chunked": lambda p, ct, body, port: (
        head(b"POST", p, port, b"Content-Type: " + ct, b"Content-Length: 3", b"Transfer-Encoding: chunked")
        + b"2\r\n" + body[:2] + b"\r\n0\r\n\r\n", False),
    "oversized-header": lambda p, ct, body, port: (
        head(b"POST", p, port, b"Content-Type: " + ct, b"X-Big: " + b"a" * 100_000, f"Content-Length: {len(body)}".encode()) + body, False),
    "many-headers": lambda p, ct, body, port: (
        head(b"POST", p, port, b"Content-Type: " + ct, *(b"X-H%d: v" % i for i in range(300)), f"Content-Length: {len(body)}".encode()) + body, False),
    "body-on-get": lambda p, ct, body, port: (
        head(b"GET", p, port, b"Content-Type: " + ct, f"Content-Length: {len(body)}".encode()) + body, False),
    "chunked-body-on-get": lambda p, ct, body, port: (
        head(b"GET", p, port, b"Transfer-Encoding: chunked") + b"zz\r\n" + body + b"\r\n0\r\n\r\n", False),
}


def exchange(port: int, data: bytes, *, half_close: bool) -> tuple[bytes, bool]:
    """Send raw bytes; return what came back and whether the server closed in time."""
    with socket.create_connection(("127.0.0.1", port), timeout=WAIT) as sock:
        try:
            sock.sendall(data)
            if half_close:
                sock.shutdown(socket.SHUT_WR)
        except OSError:  # the server may refuse and close before reading everything
            pass
        received = b""
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            try:
                chunk = sock.recv(65536)
            except TimeoutError:
                break
            except OSError:  # reset: the server dropped the connection
                return received, True
            if not chunk:
                return received, True
            received += chunk
    return received, False


def statuses(data: bytes) -> list[int]:
    return [int(code) for code in re.findall(rb"(?:^|\r\n)HTTP/1\.[01] (\d{3})", data)]


@pytest.fixture(scope="module", params=SERVERS)
def served(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    server = start_server(request.param, tmp_path_factory.mktemp(request.param))
    yield server
    server.stop()


@pytest.mark.parametrize("malformed", sorted(MALFORMED))
@pytest.mark.parametrize("target", sorted(TARGETS))
def test_malformed_framing_is_never_a_500_and_the_server_stays_up(served, target, malformed):
    path, content_type, body = TARGETS[target]
    data, half_close = MALFORMED[malformed](path, content_type, body, served.port)
    received, closed = exchange(served.port, data, half_close=half_close)
    codes = statuses(received)
    assert closed, f"no answer and no close within {WAIT} s; got {received[:300]!r}"
    assert all(code < 500 for code in codes), (codes, received[:600])
    assert not any(mark in received for mark in TRACEBACK_MARKS), received[:600]
    first_head = received.split(b"\r\n\r\n", 1)[0].lower()
    if path.startswith("/_tether/") and b"content-type: application/json" in first_head:
        assert b"cache-control: no-store" in first_head, first_head
    after = httpx.get(served.base + "/_tether/status", timeout=WAIT)
    assert after.status_code == 401 and after.json() == {"state": "ended", "reason": "none"}, served.output()
