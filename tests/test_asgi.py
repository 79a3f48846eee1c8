"""ASGI-specific behaviour: the lifespan sweeper, websockets, store wrapping."""

from __future__ import annotations

import asyncio
import threading

from starlette.applications import Starlette
from starlette.routing import WebSocketRoute
from starlette.testclient import TestClient

from tether import MemoryStore, Policy, TetherMiddleware
from tether.stores import SQLiteStore
from tether.stores.base import InlineAsyncStore, ThreadedAsyncStore
from tether.testing import FakeClock, make_record

POLICY = Policy(idle_timeout=600, absolute_timeout=3600, warn_before=60)


def test_lifespan_sweeper_reports_sessions_that_expired_without_a_request():
    clock = FakeClock()
    store = MemoryStore()
    expired = [make_record(clock.now - 700, user=f"u{i}", policy=POLICY) for i in range(3)]
    alive = make_record(clock.now, user="live", policy=POLICY)
    for record in (*expired, alive):
        store.save(record, create=True)
    ended: list[tuple[str, str]] = []
    done = threading.Event()

    def on_end(record, reason):
        ended.append((record.meta.user, reason))
        if len(ended) == 3:
            done.set()

    app = TetherMiddleware(Starlette(), store=store, policy=POLICY, clock=clock, on_end=on_end, sweep_interval=0.01)
    with TestClient(app):
        assert done.wait(10), "the sweeper did not run"
    assert sorted(ended) == [("u0", "idle"), ("u1", "idle"), ("u2", "idle")]
    assert store.load(alive.key) is not None and store.count() == 1


def test_sweep_runs_in_batches_until_done():
    clock = FakeClock()
    store = MemoryStore()
    for i in range(250):
        store.save(make_record(clock.now - 700 - i, policy=POLICY), create=True)
    ended = []
    app = TetherMiddleware(Starlette(), store=store, policy=POLICY, clock=clock, on_end=lambda r, why: ended.append(why))
    assert asyncio.run(app.sweep(limit=100)) == 250
    assert ended == ["idle"] * 250 and store.count() == 0


def test_async_on_end_hook_is_awaited():
    clock = FakeClock()
    store = MemoryStore()
    store.save(make_record(clock.now - 700, policy=POLICY), create=True)
    seen = []

    async def on_end(record, reason):
        await asyncio.sleep(0)
        seen.append(reason)

    app = TetherMiddleware(Starlette(), store=store, policy=POLICY, clock=clock, on_end=on_end)
    assert asyncio.run(app.sweep()) == 1 and seen == ["idle"]


def test_websocket_sees_the_session_without_sliding_it():
    clock = FakeClock()
    store = MemoryStore()

    async def ws(websocket):
        await websocket.accept()
        await websocket.send_json({"user": websocket.scope["tether"].user})
        await websocket.close()

    inner = Starlette(routes=[WebSocketRoute("/ws", ws)])
    app = TetherMiddleware(inner, store=store, policy=POLICY, clock=clock, sweep_interval=None)
    record = make_record(clock.now, user="ada", policy=POLICY)
    from tether import new_token, hash_token

    token = new_token()
    record.key = hash_token(token)
    store.save(record, create=True)
    clock.advance(100)
    with TestClient(app) as client:
        with client.websocket_connect("/ws", headers={"Cookie": f"tether={token}"}) as conn:
            assert conn.receive_json() == {"user": "ada"}
    assert store.load(record.key).meta.last_active == record.meta.last_active


def test_sync_stores_are_wrapped_off_the_loop(tmp_path):
    assert type(TetherMiddleware(Starlette(), store=MemoryStore()).store) is InlineAsyncStore
    assert isinstance(TetherMiddleware(Starlette(), store=SQLiteStore(tmp_path / "x.db")).store, ThreadedAsyncStore)


def test_shutdown_waits_for_a_sweep_in_flight():
    """Records a batch has claimed are still reported when the server stops meanwhile."""
    clock = FakeClock()
    inner = MemoryStore()
    for i in range(3):
        inner.save(make_record(clock.now - 700 - i, policy=POLICY), create=True)
    ended = []

    class SlowSweep(InlineAsyncStore):
        started = asyncio.Event()
        release = asyncio.Event()

        async def sweep(self, now, limit=100):
            claimed = inner.sweep(now, limit)
            self.started.set()
            await self.release.wait()  # the claim is done; the answer is slow to come back
            return claimed

    async def scenario() -> None:
        store = SlowSweep(inner)
        store.started, store.release = asyncio.Event(), asyncio.Event()
        app = TetherMiddleware(Starlette(), store=store, policy=POLICY, clock=clock,
                               on_end=lambda r, why: ended.append(why), sweep_interval=0.001)
        messages = asyncio.Queue()
        await messages.put({"type": "lifespan.startup"})
        sent = []

        shutdown_taken = asyncio.Event()

        async def receive():
            message = await messages.get()
            if message["type"] == "lifespan.shutdown":
                shutdown_taken.set()
            return message

        async def send(message):
            sent.append(message["type"])

        server = asyncio.ensure_future(app({"type": "lifespan"}, receive, send))
        await store.started.wait()
        await messages.put({"type": "lifespan.shutdown"})
        await shutdown_taken.wait()
        await asyncio.sleep(0)  # one turn: the middleware has cancelled the sweeper and waits
        store.release.set()
        await asyncio.wait_for(server, 5)
        assert sent == ["lifespan.startup.complete", "lifespan.shutdown.complete"]

    asyncio.run(scenario())
    assert ended == ["idle"] * 3 and inner.count() == 0


def test_config_or_settings_not_both():
    import pytest

    from tether import ConfigurationError
    from tether._protocol import Config

    with pytest.raises(ConfigurationError, match="not both"):
        TetherMiddleware(Starlette(), store=MemoryStore(), config=Config(), policy=POLICY)
    assert TetherMiddleware(Starlette(), store=MemoryStore(), config=Config(policy=POLICY)).config.policy is POLICY


def test_every_tether_answer_carries_content_length_never_chunked():
    """Issue 13's hot path: an answer without Content-Length goes out chunked."""
    from tether._script import script_version

    sent: list[dict] = []

    async def call(method: str, path: str, headers: list[tuple[bytes, bytes]], body: bytes = b"") -> None:
        scope = {"type": "http", "method": method, "path": path, "scheme": "http", "query_string": b"", "headers": headers}
        messages = [{"type": "http.request", "body": body, "more_body": False}]

        async def receive():
            return messages.pop(0) if messages else {"type": "http.disconnect"}

        async def send(message):
            sent.append(message)

        await app(scope, receive, send)

    app = TetherMiddleware(Starlette(), store=MemoryStore(), policy=POLICY, clock=FakeClock(), sweep_interval=None)
    host = [(b"host", b"testserver")]
    post = [*host, (b"origin", b"http://testserver"), (b"content-type", b"application/json")]
    requests = [
        ("POST", "/_tether/heartbeat", post, b"{}"),  # 401: no session
        ("GET", "/_tether/status", host, b""),
        ("HEAD", "/_tether/status", host, b""),
        ("GET", "/_tether/heartbeat", host, b""),  # 405
        ("GET", "/_tether/nosuch", host, b""),  # 404
        ("POST", "/_tether/heartbeat", [*host, (b"origin", b"http://evil.example")], b"{}"),  # 403
        ("GET", "/_tether/tether.js", host, b""),
        ("GET", "/_tether/tether.js", [*host, (b"if-none-match", f'"{script_version()}"'.encode())], b""),  # 304
    ]
    for method, path, headers, body in requests:
        sent.clear()
        asyncio.run(call(method, path, headers, body))
        start, *bodies = sent
        names = [name for name, _ in start["headers"]]
        assert b"transfer-encoding" not in names
        assert names.count(b"content-length") == 1, (method, path)
        length = int(dict(start["headers"])[b"content-length"])
        assert length == len(b"".join(m.get("body", b"") for m in bodies)), (method, path, start["status"])


def test_send_response_sends_exactly_the_answers_headers():
    """The JSON prefix goes out pre-encoded: the bytes must still be the answer's own
    headers, in order, extra ones (Allow, Retry-After, Set-Cookie) after them."""
    from tether._protocol import Protocol, Request, Response
    from tether.asgi import send_response

    protocol = Protocol()
    answers = [
        protocol.refusal(405, "method GET not allowed", [("allow", "POST")]),
        protocol.unavailable(),
        protocol.json_response(200, b'{"state":"active"}'),
        protocol.json_response(401, {"state": "ended"}, [("set-cookie", "tether=; Max-Age=0")]),
        protocol.script(Request("GET", "/_tether/tether.js")),
        Response(204, [("x-one", "1")]),
    ]
    for response in answers:
        sent: list[dict] = []

        async def send(message: dict) -> None:
            sent.append(message)

        asyncio.run(send_response(send, response))
        expected = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in response.headers]
        assert sent[0]["headers"] == [*expected, (b"content-length", str(len(response.body)).encode())], response
        assert sent[0]["status"] == response.status and sent[1]["body"] == response.body


def test_request_from_scope_reads_the_protocols_headers_as_asgi_sends_them():
    from tether.asgi import request_from_scope

    scope = {
        "type": "http", "method": "POST", "path": "/_tether/heartbeat", "scheme": "https", "query_string": b"v=1",
        "client": ("192.0.2.1", 5000),
        "headers": [
            (b"host", b"example.org"), (b"cookie", b"a=1"), (b"accept", b"*/*"), (b"origin", b"https://example.org"),
            (b"cookie", b"tether=tok"),  # HTTP/2 splits cookies: joined, in order
            (b"user-agent", b"caf\xe9"),  # latin-1, as HTTP allows
            (b"sec-fetch-site", b"cross-site"), (b"sec-fetch-site", b"same-origin"),  # others: the last one
            (b"Content-Type", b"text/plain"),  # ASGI names are lower case: this is not one
            (b"content-type", b"application/json"),
        ],
    }
    request = request_from_scope(scope)
    assert request.headers == {
        "host": "example.org", "cookie": "a=1; tether=tok", "origin": "https://example.org", "user-agent": "café",
        "sec-fetch-site": "same-origin", "content-type": "application/json",
    }
    assert (request.method, request.path, request.scheme, request.query, request.client) == (
        "POST", "/_tether/heartbeat", "https", "v=1", "192.0.2.1")
    bare = request_from_scope({"type": "http"})
    assert (bare.method, bare.path, bare.scheme, bare.headers, bare.query, bare.client) == ("GET", "/", "http", {}, "", None)
