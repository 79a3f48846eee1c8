"""Pure ASGI middleware: I/O only; every decision is made by :mod:`tether._protocol`.

``scope["session"]`` is the session's data dict (so Starlette's ``request.session``
works) and ``scope["tether"]`` the :class:`~tether.Session` handle (``login(user)``,
``logout()``, ``meta``, ``state()``).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Awaitable, Callable, Iterable, MutableMapping

from ._cookies import vary_with_cookie
from ._policy import Policy
from ._protocol import Config, Protocol, configure, Request, Response, run_async
from .exceptions import StoreUnavailable
from .stores.base import InlineAsyncStore, ThreadedAsyncStore, is_async_store

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

logger = logging.getLogger("tether")

DEFAULT_SQLITE_PATH = "tether-sessions.sqlite3"


def as_async_store(store: Any) -> Any:
    """Accept an async store as is; run a sync one off the event loop (memory inline)."""
    if store is None:
        from .stores.sqlite import AsyncSQLiteStore

        return AsyncSQLiteStore(DEFAULT_SQLITE_PATH)
    if is_async_store(store):
        return store
    from .stores.memory import MemoryStore

    return InlineAsyncStore(store) if isinstance(store, MemoryStore) else ThreadedAsyncStore(store)


#: The only headers the protocol reads; the others are never decoded (hot path).
_WANTED = frozenset(
    (b"cookie", b"host", b"origin", b"sec-fetch-site", b"content-type", b"tether-passive", b"if-none-match")
)


def request_from_scope(scope: Scope) -> Request:
    headers: dict[str, str] = {}
    for raw_name, raw_value in scope.get("headers", ()):
        if raw_name not in _WANTED:  # ASGI servers send header names in lower case
            continue
        name = raw_name.decode("latin-1")
        value = raw_value.decode("latin-1")
        # Browsers split cookies over several headers under HTTP/2: join them.
        headers[name] = f"{headers[name]}; {value}" if name == "cookie" and name in headers else value
    return Request(
        method=scope.get("method", "GET"),
        path=scope.get("path", "/"),
        scheme=scope.get("scheme", "http"),
        headers=headers,
        query=scope.get("query_string", b"").decode("latin-1"),
    )


async def send_response(send: Send, response: Response) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": response.status,
            "headers": [(k.encode("latin-1"), v.encode("latin-1")) for k, v in response.headers],
        }
    )
    await send({"type": "http.response.body", "body": response.body})


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


class TetherMiddleware:
    """Server-side sessions with idle and absolute timeouts, plus the heartbeat endpoints.

    ``store`` is any async store, or a sync one (it is then driven off the event loop);
    the default is a SQLite file in the working directory. ``sweep_interval`` (seconds)
    is how often expired sessions are claimed and reported to ``on_end`` while the
    server's lifespan runs; ``None`` turns the sweeper off (e.g. when a cron job runs
    ``tether sessions sweep``). Other keyword arguments are :class:`tether.Config` fields.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        store: Any = None,
        policy: Policy | None = None,
        sweep_interval: float | None = 60.0,
        config: Config | None = None,
        **options: Any,
    ) -> None:
        self.app = app
        self.config = config = configure(config, policy, options)
        self.protocol = Protocol(config)
        self.store = as_async_store(store)
        self.sweep_interval = sweep_interval
        self._sweeper: asyncio.Task[None] | None = None
        self._sweeping: asyncio.Future[int] | None = None

    async def run(self, gen: Any) -> Any:
        return await run_async(gen, self.store, self.config.on_end)

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
            try:
                response = await self.run(protocol.endpoint(request, body))
            except StoreUnavailable as exc:
                logger.warning("tether: %s", exc)
                response = protocol.unavailable(exc)
            await send_response(send, response)
            return
        try:
            # A websocket handshake reads the session but is never activity.
            session = await self.run(protocol.open(request, passive=True if kind == "websocket" else None))
        except StoreUnavailable as exc:
            logger.warning("tether: %s", exc)
            if kind == "http":
                await send_response(send, protocol.unavailable(exc))
            else:
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
                    cookies = await self.run(protocol.close(session))
                except StoreUnavailable as exc:
                    # The sign-in or data write was not stored: say so rather than
                    # sending a page that pretends it was.
                    logger.warning("tether: %s", exc)
                    replaced = True
                    await send_response(send, protocol.unavailable(exc))
                    return
                if cookies or session.carried_cookie:
                    message["headers"] = [
                        *_with_vary_cookie(message.get("headers", ())),
                        *((b"set-cookie", c.encode("latin-1")) for c in cookies),
                    ]
            await send(message)

        await self.app(scope, receive, send_with_cookie)

    # -- the sweeper -----------------------------------------------------------------------

    def _lifespan_receive(self, receive: Receive) -> Receive:
        async def wrapped() -> Message:
            message = await receive()
            if message["type"] == "lifespan.startup" and self.sweep_interval:
                self._sweeper = asyncio.ensure_future(self._sweep_forever())
            elif message["type"] == "lifespan.shutdown" and self._sweeper is not None:
                self._sweeper.cancel()
                self._sweeper = None
                if self._sweeping is not None and not self._sweeping.done():
                    # A batch in flight has claimed records: let it report them.
                    await asyncio.wait([self._sweeping])
                    if not self._sweeping.cancelled() and self._sweeping.exception() is not None:
                        logger.warning("tether: last sweep failed: %s", self._sweeping.exception())
            return message

        return wrapped

    async def revoke(self, key: str | None = None, *, user: str | None = None) -> int:
        """End one session (by store key) or all of a user's; ``on_end`` sees ``revoked``."""
        return await self.run(self.protocol.revoke(key, user=user))

    async def sweep(self, limit: int = 100) -> int:
        """Claim every expired session now, in batches of ``limit``; returns how many."""
        total = 0
        while True:
            count = await self.run(self.protocol.sweep(limit))
            total += count
            if count < limit:
                return total

    async def _sweep_forever(self) -> None:
        assert self.sweep_interval
        while True:
            await asyncio.sleep(self.sweep_interval)
            try:
                # Shielded: cancelling the sweeper at shutdown must not drop the endings
                # of records a batch has already claimed.
                self._sweeping = asyncio.ensure_future(self.sweep())
                await asyncio.shield(self._sweeping)
            except StoreUnavailable as exc:
                logger.warning("tether: sweep skipped: %s", exc)
            except Exception:  # the sweeper must outlive a failing on_end hook
                logger.exception("tether: sweep failed")


__all__ = ["TetherMiddleware", "request_from_scope", "send_response", "read_body", "as_async_store"]
