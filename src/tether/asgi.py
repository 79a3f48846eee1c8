"""Pure ASGI middleware: I/O only; every decision is made by :mod:`tether._protocol`.

``scope["session"]`` is the session's data dict (so Starlette's ``request.session``
works) and ``scope["tether"]`` the :class:`~tether.Session` handle (``login(user)``,
``logout()``, ``meta``, ``state()``).
"""

from __future__ import annotations

from typing import Any, Awaitable, Callable, Iterable, MutableMapping

from ._config import Config
from ._cookies import vary_with_cookie
from ._protocol import HEADERS_READ, JSON_HEADERS, Request, Response, make_request
from ._runtime import AsyncRuntime, middleware_settings
from .exceptions import StoreUnavailable
from .stores.base import as_async_store

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


#: The headers the protocol reads, by the name ASGI servers send (lower case, bytes):
#: one dict lookup per request header, and no decoding of the others (the hot path).
_WANTED = {name.encode("latin-1"): name for name in HEADERS_READ}


def request_from_scope(scope: Scope) -> Request:
    headers: dict[str, str] = {}
    for raw_name, raw_value in scope.get("headers", ()):
        name = _WANTED.get(raw_name)  # ASGI servers send header names in lower case
        if name is None:
            continue
        value = raw_value.decode("latin-1")
        if name == "cookie" and name in headers:
            # Browsers split cookies over several headers under HTTP/2: join them.
            value = f"{headers[name]}; {value}"
        headers[name] = value
    client = scope.get("client")
    return make_request(
        scope.get("method", "GET"),
        scope.get("path", "/"),
        scope.get("scheme", "http"),
        headers,
        scope.get("query_string", b"").decode("latin-1"),
        client[0] if client else None,
    )


#: :data:`JSON_HEADERS` as ASGI sends them, encoded once: every endpoint answer starts with them.
_RAW_JSON_HEADERS = tuple((k.encode("latin-1"), v.encode("latin-1")) for k, v in JSON_HEADERS)
_N_JSON = len(JSON_HEADERS)


async def send_response(send: Send, response: Response) -> None:
    """Send a tether answer, always with Content-Length (never chunked)."""
    body = response.body
    if response.json:
        # Only what follows the fixed prefix is encoded here (for a heartbeat: nothing).
        headers = list(_RAW_JSON_HEADERS)
        for k, v in response.headers[_N_JSON:]:
            headers.append((k.encode("latin-1"), v.encode("latin-1")))
    else:
        headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in response.headers]
    headers.append((b"content-length", b"%d" % len(body)))
    await send({"type": "http.response.start", "status": response.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def read_body(receive: Receive, limit: int) -> bytes:
    """Read at most ``limit + 1`` bytes: enough to tell the protocol the body is too large."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunk = message.get("body", b"")
        if size <= limit:
            chunks.append(chunk)
        size += len(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _with_vary_cookie(headers: Iterable[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """The response headers with ``Cookie`` merged into the app's ``Vary``."""
    headers = list(headers)
    vary = [value for name, value in headers if name.lower() == b"vary"]
    merged = vary_with_cookie(b", ".join(vary).decode("latin-1") if vary else None)
    if merged is None:
        return headers
    return [*(h for h in headers if h[0].lower() != b"vary"), (b"vary", merged.encode("latin-1"))]


class TetherMiddleware(AsyncRuntime):
    """Server-side sessions with idle and absolute timeouts, plus the heartbeat endpoints.

    Settings are the one vocabulary of every adapter (:mod:`tether._settings`), checked
    here at construction: :class:`tether.Policy` fields (``idle_timeout=60``, ...) or
    ``policy``, :class:`tether.Config` fields, or a ready ``config=Config(...)``;
    ``store`` is an async store, a sync one (then driven off the event loop) or a store
    URL (``"sqlite:///sessions.db"``, opened as its async twin); the default is a SQLite
    file in the working directory. ``sweep_interval`` (seconds, default 60) is how often
    expired sessions are claimed and reported to ``on_end`` while the server's lifespan
    runs; ``None`` turns the sweeper off (e.g. when a cron job runs ``tether sessions sweep``).
    """

    def __init__(self, app: ASGIApp, *, config: Config | None = None, **settings: Any) -> None:
        super().__init__(middleware_settings(config, settings, asynchronous=True))
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "lifespan":
            await self.app(scope, self._lifespan_receive(receive), send)
            return
        if kind not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        request = request_from_scope(scope)
        protocol = self.protocol
        if kind == "http" and protocol.is_endpoint(request.path):
            body = await read_body(receive, self.config.max_body) if request.method == "POST" else b""
            await send_response(send, await self.answer(request, body))
            return
        try:
            # A websocket handshake reads the session but is never activity.
            session = await self.run(protocol.open_session(request, passive=True if kind == "websocket" else None))
        except StoreUnavailable as exc:
            if kind == "http":
                await send_response(send, self.unavailable(exc))
            else:
                self.unavailable(exc)
                await send({"type": "websocket.close", "code": 1013})
            return
        scope["session"] = session.data
        scope["tether"] = session
        if kind == "websocket":
            await self.app(scope, receive, send)
            return

        replaced = False

        async def send_with_cookie(message: Message) -> None:
            nonlocal replaced
            if replaced:
                return  # the app's response was replaced by a 503; drop its body
            if message["type"] == "http.response.start":
                try:
                    # Most pages ask nothing and change nothing: no generator to drive then.
                    cookies = [] if protocol.saves_nothing(session) else await self.run(protocol.save_session(session))
                except StoreUnavailable as exc:
                    # The sign-in or data write was not stored: say so rather than
                    # sending a page that pretends it was.
                    replaced = True
                    await send_response(send, self.unavailable(exc))
                    return
                if cookies or session.carried_cookie:
                    message["headers"] = [
                        *_with_vary_cookie(message.get("headers", ())),
                        *((b"set-cookie", c.encode("latin-1")) for c in cookies),
                    ]
            await send(message)

        await self.app(scope, receive, send_with_cookie)

    def _lifespan_receive(self, receive: Receive) -> Receive:
        async def wrapped() -> Message:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self.start_sweeping()
            elif message["type"] == "lifespan.shutdown":
                await self.stop_sweeping()
            return message

        return wrapped


__all__ = ["TetherMiddleware", "request_from_scope", "send_response", "read_body", "as_async_store"]
