"""Protocol conformance (DESIGN §4) through real adapters, every row and every refusal.

Parametrised over every adapter in ``tests.apps.FACTORIES`` and over the memory and
SQLite, Redis and PostgreSQL stores (private servers), plus ASGI over a native async
store (``async-memory``), plus signed-cookie mode (``cookie``: the session is in the
cookie; ``store`` is then its revocation store, so a test about store traffic branches on
``server.cookie_mode`` with the reason). Time is a FakeClock shared by the server and the test.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from contextlib import contextmanager
from typing import Any, Iterator

import pytest

from tether import AsyncMemoryStore, Metrics, Policy, hash_token
from tether.events import Event
from tether.stores.cookie import CookieCodec, SignedCookieStore
from tether.testing import CountingStore, FakeClock

from ..apps import FACTORIES
from ..conftest import STORE_KINDS, make_store

ORIGIN = {"Origin": "http://testserver"}
JSON_POST = {"Content-Type": "application/json", **ORIGIN}
POLICY = Policy(idle_timeout=600, absolute_timeout=3600, warn_before=60)  # granularity 30 s


@dataclass
class Server:
    client: Any
    store: CountingStore
    clock: FakeClock
    ended: list[tuple[str, str]]
    codec: CookieCodec | None = None
    #: Every ``on_event`` event of the test, in order, and the same events counted.
    events: list[Event] = field(default_factory=list)
    metrics: Metrics = field(default_factory=Metrics)

    @property
    def cookie_mode(self) -> bool:
        return self.codec is not None

    def on_event(self, event: Event) -> None:
        self.events.append(event)
        self.metrics(event)

    def of(self, kind: type) -> list[Any]:
        """The events of one class."""
        return [e for e in self.events if isinstance(e, kind)]

    def login(self, user: str = "ada") -> str:
        response = self.client.post("/login", json={"user": user})
        assert response.status_code == 200
        return self.token()

    def token(self) -> str:
        return self.client.cookies.get("tether")

    def plant(self, token: str) -> None:
        """Make the client send ``token`` as its cookie from now on."""
        self.client.cookies.clear()
        self.client.cookies.set("tether", token, domain="testserver.local")

    def beat(self, **headers: str):
        return self.client.post("/_tether/heartbeat", content=b"{}", headers={**JSON_POST, **headers})

    def status(self):
        return self.client.get("/_tether/status")

    def key(self, token: str) -> str:
        """The session's record key (what ``on_end`` sees): the token's hash, or in cookie
        mode the hash of the session id the signed cookie carries."""
        if self.codec is None:
            return hash_token(token)
        opened = self.codec.read(token, max_age=None)
        assert opened is not None
        return opened[1].key

    def record(self, token: str | None = None):
        """The session's record: from the store, or (cookie mode) as the browser now
        carries it (the cookie of ``token``'s session id, re-signed since), None when the
        revocation store denies that id."""
        if self.codec is None:
            return self.store.load(hash_token(token or self.token()))
        opened = self.codec.read(token or self.token(), max_age=None)
        if opened is None or self.store.load(opened[1].key) is not None:
            return None
        current = self.codec.read(self.token() or "", max_age=None)
        record = current[1] if current is not None and current[0] == opened[0] else opened[1]
        # An expired cookie names no live session, as an expired record is claimed.
        return None if POLICY.end_reason(record.meta, self.clock.now) else record


#: Every adapter over the sync stores; ASGI also over a native async store (no thread
#: hop: the store's coroutines are awaited on the loop).
VARIANTS = [(adapter, kind) for adapter in sorted(FACTORIES) for kind in (*STORE_KINDS, "cookie")] + [
    ("asgi", "async-memory")
]
COOKIE_KEY = "conformance-signing-key-0123456789"


#: The variants whose sessions live on the server (every one but signed-cookie mode).
SERVER_SIDE = [variant for variant in VARIANTS if variant[1] != "cookie"]
# The fixtures ``server`` (every variant) and ``server_side`` are in conftest.py, for
# this suite and the event suite alike.


def serve(request, clock, tmp_path):
    adapter, kind = request.param
    inner = make_store("memory" if kind in ("async-memory", "cookie") else kind, request, tmp_path)
    store = CountingStore(inner)  # what the test inspects: every call the adapter makes
    served: Any = AsyncMemoryStore(store) if kind == "async-memory" else store
    codec = None
    if kind == "cookie":
        served = SignedCookieStore(COOKIE_KEY, revocations=store)
        codec = CookieCodec(served.secret_keys, clock=clock, max_size=served.max_size)
    server = Server(None, store, clock, [], codec)
    server.client = FACTORIES[adapter](
        served,
        clock,
        policy=POLICY,
        on_end=lambda record, reason: server.ended.append((record.key, reason)),
        on_event=server.on_event,
    )
    with server.client, logs_never_name_a_token(server.client):
        yield server
    inner.close()


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))  # message, arguments and any traceback


@contextmanager
def logs_never_name_a_token(client: Any) -> Iterator[None]:
    """Issue 11.2, over the whole suite: capture every ``tether`` log line at DEBUG,
    collect every token the server issued (its Set-Cookie headers), and fail the test
    if any line contains one."""
    issued: set[str] = set()

    def collect(response: Any) -> None:
        for value in response.headers.get_list("set-cookie"):
            token = value.split(";", 1)[0].partition("=")[2]
            if token:
                issued.add(token)

    client.event_hooks["response"].append(collect)
    handler = _Records()
    logger = logging.getLogger("tether")
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    leaks = [line for line in handler.lines for token in issued if token in line]
    assert not leaks, f"a log line names a session token: {leaks[0]!r}"


def assert_json(response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    assert response.headers["cache-control"] == "no-store"
    return response.json()


# -- the rows of the table ------------------------------------------------------------------


def test_heartbeat_answers_state_and_slides_idle_expiry(server):
    token = server.login()
    server.clock.advance(100)
    body = assert_json(server.beat(), 200)
    assert body == {
        "state": "active",
        "idle_remaining": 600.0,
        "absolute_remaining": 3500.0,
        "idle_timeout": 600,
        "warn_before": 60,
    }
    assert server.record(token).meta.last_active == server.clock.now


def test_heartbeat_never_sends_set_cookie(server):
    token = server.login()
    server.clock.advance(100)
    response = server.beat()
    assert response.status_code == 200
    if server.cookie_mode:
        # The cookie is the record: sliding the idle expiry can only be a re-signed cookie
        # of the same session id; within the granularity nothing slides, nothing is sent.
        assert server.key(server.token()) == server.key(token) and server.token() != token
        server.clock.advance(29)
        assert "set-cookie" not in server.beat().headers
        return
    assert "set-cookie" not in response.headers


def test_heartbeat_is_sub_second_precise(server):
    server.login()
    server.clock.advance(100.25)
    server.beat()
    server.clock.advance(0.5)
    assert assert_json(server.status(), 200)["idle_remaining"] == 599.5


def test_status_reads_and_never_extends(server):
    token = server.login()
    server.clock.advance(300)
    server.store.reset()
    body = assert_json(server.status(), 200)
    assert body["idle_remaining"] == 300.0
    assert server.store.writes() == 0
    assert server.record(token).meta.last_active == server.clock.now - 300


def test_head_status(server):
    server.login()
    response = server.client.head("/_tether/status")
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    assert response.content == b""


def test_end_logs_out_and_clears_cookie(server):
    token = server.login()
    response = server.client.post("/_tether/end", content=b"{}", headers=JSON_POST)
    assert assert_json(response, 200) == {"state": "ended", "reason": "logout"}
    assert "Max-Age=0" in response.headers["set-cookie"]
    assert server.record(token) is None
    assert server.ended == [(server.key(token), "logout")]
    server.plant(token)
    assert assert_json(server.status(), 401) == {"state": "ended", "reason": "none"}


def test_script_is_served_versioned_and_cacheable(server):
    plain = server.client.get("/_tether/tether.js")
    assert plain.status_code == 200
    assert plain.headers["content-type"].startswith("text/javascript")
    etag = plain.headers["etag"].strip('"')
    versioned = server.client.get(f"/_tether/tether.js?v={etag}")
    assert "immutable" in versioned.headers["cache-control"]
    assert plain.headers["cache-control"] == "no-cache"
    again = server.client.get("/_tether/tether.js", headers={"If-None-Match": plain.headers["etag"]})
    assert again.status_code == 304


# -- timeouts enforced on every request -----------------------------------------------------


def test_idle_timeout_ends_session(server):
    token = server.login()
    server.clock.advance(600)
    response = server.status()
    assert assert_json(response, 401) == {"state": "ended", "reason": "idle"}
    assert "Max-Age=0" in response.headers["set-cookie"]
    if server.cookie_mode:
        # Expiry is never reported in cookie mode (docs/cookie-mode.md): the server keeps
        # no record to claim, so any copy of the cookie could report it again.
        assert server.ended == []
        return
    assert server.record(token) is None
    assert server.ended == [(server.key(token), "idle")]


def test_idle_timeout_enforced_on_ordinary_requests(server):
    server.login()
    server.clock.advance(599.9)
    assert server.client.get("/whoami").json()["user"] == "ada"
    server.clock.advance(600)
    body = server.client.get("/whoami").json()
    assert body == {"user": None, "data": {}, "ended": "idle"}


def test_absolute_timeout_is_never_extended_by_heartbeats(server):
    server.login()
    start = server.clock.now
    for _ in range(7):
        server.clock.advance(500)
        body = assert_json(server.beat(), 200)
        assert body["absolute_remaining"] == 3600 - (server.clock.now - start)
    server.clock.advance(100)  # exactly 3600 s after sign-in
    assert assert_json(server.beat(), 401) == {"state": "ended", "reason": "absolute"}
    # Cookie mode never reports expiry (see test_idle_timeout_ends_session).
    assert server.ended == [] if server.cookie_mode else server.ended[0][1] == "absolute"


def test_idle_expiry_never_passes_absolute(server):
    server.login()
    for _ in range(11):
        server.clock.advance(300)
        server.beat()
    body = assert_json(server.status(), 200)
    assert body["absolute_remaining"] == 300.0
    assert body["idle_remaining"] == 300.0


def test_login_starts_new_window_with_new_token(server):
    old = server.login()
    server.clock.advance(3000)
    new = server.login()
    assert new != old
    assert server.record(old) is None
    body = assert_json(server.status(), 200)
    assert body["absolute_remaining"] == 3600.0
    server.plant(old)
    # A store claimed the idle record, so its token is unknown; a signed cookie still says
    # it idled out 2400 s ago (its meta is signed in it).
    assert assert_json(server.status(), 401)["reason"] == ("idle" if server.cookie_mode else "none")


def test_login_carries_data_over(server):
    server.client.post("/data", json={"cart": [1]})
    anonymous = server.token()
    server.login()
    assert server.token() != anonymous
    assert server.client.get("/whoami").json()["data"] == {"cart": [1]}


def test_logout_route_ends_session(server):
    token = server.login()
    response = server.client.post("/logout")
    assert "Max-Age=0" in response.headers["set-cookie"]
    assert server.record(token) is None
    assert server.ended == [(server.key(token), "logout")]


def test_data_written_after_logout_goes_to_a_new_anonymous_session(server):
    """A "you are signed out" message written after logout() is not lost (Django's own
    sessions do the same): the old session stays ended, a new token carries the data."""
    token = server.login()
    server.client.post("/data", json={"cart": [1]})
    response = server.client.post("/logout", json={"flash": "signed out"})
    assert response.status_code == 200
    fresh = server.token()
    assert fresh and fresh != token and "Max-Age=0" not in response.headers["set-cookie"]
    assert server.ended == [(server.key(token), "logout")]
    assert server.record(token) is None
    assert server.client.get("/whoami").json() == {"user": None, "data": {"flash": "signed out"}, "ended": None}
    server.plant(token)  # the old token still names nothing
    assert assert_json(server.status(), 401)["state"] == "ended"


def vary(response) -> list[str]:
    return [part.strip().lower() for value in response.headers.get_list("vary") for part in value.split(",")]


def test_pages_of_a_session_cookie_vary_on_cookie_merged_with_the_apps_vary(server):
    """Issue 8 fault 6: a shared cache must never hand one person's page to another."""
    assert vary(server.client.post("/login", json={"user": "ada"})) == ["cookie"]  # set a cookie
    page = server.client.get("/whoami")  # carried one; the app says Vary: Accept-Language
    assert sorted(vary(page)) == ["accept-language", "cookie"]
    server.plant("x" * 43)  # an unknown token is a session cookie too (it gets cleared)
    assert "cookie" in vary(server.client.get("/whoami"))


# -- activity and granularity ---------------------------------------------------------------


def test_activity_writes_at_most_once_per_granularity(server):
    token = server.login()
    if server.cookie_mode:
        # The write is a re-signed cookie; the store (revocations) is only ever read.
        issued = []
        for _ in range(29):
            server.clock.advance(1)
            issued += [r.headers.get("set-cookie") for r in (server.client.get("/whoami"), server.beat())]
        assert issued == [None] * 58
        server.clock.advance(1)  # 30 s: the granularity
        assert "set-cookie" in server.client.get("/whoami").headers
        assert server.store.writes() == 0
        assert server.record(token).meta.last_active == server.clock.now
        return
    server.store.reset()
    for _ in range(29):
        server.clock.advance(1)
        server.client.get("/whoami")
        server.beat()
    assert server.store.writes() == 0
    assert server.store.calls["load"] == 58
    server.clock.advance(1)  # 30 s: the granularity
    server.client.get("/whoami")
    assert server.store.calls == {"load": 59, "touch": 1}
    assert server.record(token).meta.last_active == server.clock.now


def test_heartbeat_is_one_read_and_one_meta_write(server):
    server.login()
    server.clock.advance(100)
    server.store.reset()
    response = server.beat()
    if server.cookie_mode:
        # Two reads of the revocation store (the id's deny entry, the user's not-before);
        # the meta write is the re-signed cookie.
        assert server.store.calls == {"load": 2} and "set-cookie" in response.headers
        return
    assert server.store.calls == {"load": 1, "touch": 1}


def test_passive_requests_never_slide(server):
    token = server.login()
    server.store.reset()
    server.clock.advance(100)
    server.client.get("/whoami", headers={"Tether-Passive": "1"})
    server.client.get("/api/poll/whoami")
    server.status()
    assert server.store.writes() == 0
    assert server.record(token).meta.last_active == server.clock.now - 100
    response = server.client.get("/whoami")
    if server.cookie_mode:  # the slide is a re-signed cookie, not a store write
        assert "set-cookie" in response.headers and server.record(token).meta.last_active == server.clock.now
        return
    assert server.store.calls["touch"] == 1


def test_data_write_and_heartbeat_do_not_lose_each_other(server):
    server.login()
    server.client.post("/data", json={"draft": "hello"})
    server.clock.advance(100)
    server.beat()
    assert server.client.get("/whoami").json()["data"] == {"draft": "hello"}


def test_unchanged_data_is_not_written(server):
    server.login()
    server.client.post("/data", json={"a": 1})
    server.store.reset()
    server.client.post("/data", json={"a": 1})
    assert server.store.writes() == 0


# -- sessions that end without a request --------------------------------------------------


def test_sweep_reports_each_expired_session_once(server):
    tokens = []
    for user in ("ada", "bob", "cy"):
        server.client.cookies.clear()
        tokens.append(server.login(user))
    server.clock.advance(601)
    store = server.store
    from tether import Protocol, run_sync  # the same sweeper the middlewares run
    from tether._protocol import Config

    ended: list[tuple[str, str]] = []
    config = Config(policy=POLICY, clock=server.clock, on_end=lambda r, why: ended.append((r.key, why)))
    if server.cookie_mode:
        # The sessions are in three browsers' cookies: the server cannot see them expire,
        # so the sweep (of the revocation store) claims nothing and reports nothing.
        from tether._cookie_mode import CookieProtocol

        protocol = CookieProtocol(config, SignedCookieStore(COOKIE_KEY, revocations=store))
        assert run_sync(protocol.sweep(), store, config.on_end) == 0 and ended == []
        return
    protocol = Protocol(config)
    assert run_sync(protocol.sweep(), store, protocol.config.on_end) == 3
    assert run_sync(protocol.sweep(), store, protocol.config.on_end) == 0
    assert sorted(ended) == sorted((server.key(t), "idle") for t in tokens)


# -- refusals, in order ---------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/_tether/heartbeat", "/_tether/end"])
def test_get_on_post_endpoints_is_405_with_allow(server, path):
    body = assert_json(server.client.get(path), 405)
    assert "error" in body
    assert server.client.get(path).headers["allow"] == "POST"


@pytest.mark.parametrize("method", ["PUT", "DELETE", "PATCH", "OPTIONS", "BREW"])
def test_odd_methods_are_405(server, method):
    response = server.client.request(method, "/_tether/heartbeat", headers=JSON_POST)
    assert_json(response, 405)
    response = server.client.request(method, "/_tether/status")
    assert assert_json(response, 405) and response.headers["allow"] == "GET, HEAD"


def test_post_on_status_is_405(server):
    assert_json(server.client.post("/_tether/status", headers=JSON_POST), 405)


def test_unknown_endpoint_is_404_json(server):
    assert "error" in assert_json(server.client.get("/_tether/nope"), 404)


#: Headers of POSTs that fail the same-origin rule (DESIGN §4).
NOT_SAME_ORIGIN = [
    {"Origin": "https://evil.example"},
    {"Origin": "null"},
    {"Origin": "https://testserver"},  # other scheme: another origin
    {"Sec-Fetch-Site": "cross-site"},
    {"Sec-Fetch-Site": "cross-site", "Origin": "http://testserver"},
    {"Sec-Fetch-Site": "same-site"},
    {},  # neither header on a POST
]


@pytest.mark.parametrize("headers", NOT_SAME_ORIGIN)
@pytest.mark.parametrize("path", ["/_tether/heartbeat", "/_tether/end"])
def test_cross_site_posts_are_403(server, headers, path):
    token = server.login()
    server.clock.advance(100)
    server.store.reset()
    response = server.client.post(path, content=b"{}", headers={"Content-Type": "application/json", **headers})
    assert "error" in assert_json(response, 403)
    assert server.store.calls == {}
    assert server.record(token).meta.last_active == server.clock.now - 100


@pytest.mark.parametrize("headers", NOT_SAME_ORIGIN)
@pytest.mark.parametrize("path", ["/data", "/whoami-missing"])
def test_unsafe_requests_failing_the_same_origin_rule_are_never_activity(server, headers, path):
    """Issue 8 fault 2: whatever the app answers, a cross-site POST does not slide."""
    token = server.login()
    server.clock.advance(100)
    server.client.post(path, json={}, headers=headers)
    assert server.record(token).meta.last_active == server.clock.now - 100
    server.client.post(path, json={}, headers=ORIGIN)  # the same request, same-origin: activity
    assert server.record(token).meta.last_active == server.clock.now


def test_same_origin_by_sec_fetch_site_alone_is_accepted(server):
    server.login()
    response = server.client.post(
        "/_tether/heartbeat", content=b"{}", headers={"Content-Type": "application/json", "Sec-Fetch-Site": "same-origin"}
    )
    assert_json(response, 200)


def test_trusted_sibling_origin(store, clock):
    with FACTORIES["asgi"](store, clock, trusted_origins=["https://app.example.com"]) as client:
        client.post("/login", json={"user": "ada"})
        headers = {"Content-Type": "application/json", "Origin": "https://app.example.com", "Sec-Fetch-Site": "same-site"}
        assert client.post("/_tether/heartbeat", content=b"{}", headers=headers).status_code == 200
        headers["Origin"] = "https://other.example.com"
        assert client.post("/_tether/heartbeat", content=b"{}", headers=headers).status_code == 403


@pytest.mark.parametrize(
    "content_type,body",
    [
        ("text/plain", b"{}"),
        ("application/x-www-form-urlencoded", b"a=1"),
        ("multipart/form-data; boundary=x", b"--x--"),
        (None, b"{}"),
    ],
)
def test_non_json_bodies_are_415(server, content_type, body):
    server.login()
    headers = dict(ORIGIN)
    if content_type:
        headers["Content-Type"] = content_type
    assert "error" in assert_json(server.client.post("/_tether/heartbeat", content=body, headers=headers), 415)


def test_json_with_charset_is_accepted(server):
    server.login()
    headers = {**ORIGIN, "Content-Type": "application/json; charset=utf-8"}
    assert_json(server.client.post("/_tether/heartbeat", content=b"{}", headers=headers), 200)


def test_refusal_order_405_then_403_then_415(server):
    # Wrong method wins over a foreign origin; a foreign origin wins over a bad type.
    r = server.client.get("/_tether/heartbeat", headers={"Origin": "https://evil.example", "Content-Type": "text/plain"})
    assert r.status_code == 405
    r = server.client.post("/_tether/heartbeat", content=b"x", headers={"Origin": "https://evil.example", "Content-Type": "text/plain"})
    assert r.status_code == 403


@pytest.mark.parametrize("body", [b"{", b"\xff\xfe\x00", b'{"a": }', b"nul", b"[" * 4000])
def test_broken_json_is_400(server, body):
    server.login()
    assert "error" in assert_json(server.client.post("/_tether/heartbeat", content=body, headers=JSON_POST), 400)


def test_oversized_body_is_413(server):
    server.login()
    body = json.dumps({"pad": "x" * 10_000}).encode()
    assert_json(server.client.post("/_tether/heartbeat", content=body, headers=JSON_POST), 413)


# -- strict mode and bad cookies ----------------------------------------------------------


def test_heartbeat_with_unknown_token_is_401_and_creates_nothing(server):
    from tether import new_token

    server.plant(new_token())
    response = server.beat()
    assert assert_json(response, 401) == {"state": "ended", "reason": "none"}
    assert "Max-Age=0" in response.headers["set-cookie"]
    assert server.store.count() == 0
    assert server.store.writes() == 0


def test_heartbeat_without_cookie_is_401_and_sets_nothing(server):
    response = server.beat()
    assert assert_json(response, 401) == {"state": "ended", "reason": "none"}
    assert "set-cookie" not in response.headers
    assert server.store.count() == 0


def test_unknown_token_is_never_adopted_by_ordinary_requests(server):
    from tether import new_token

    planted = new_token()
    response = server.client.post("/data", json={"a": 1}, headers={"Cookie": f"tether={planted}"})
    assert response.status_code == 200
    # A session was created for the data, under a fresh token, not the planted one.
    issued = response.headers["set-cookie"].split(";")[0].split("=", 1)[1]
    if server.cookie_mode:  # the issued cookie is the record, signed; the planted one is nothing
        assert server.record(issued).data == {"a": 1} and server.codec.read(planted, max_age=None) is None
        assert server.store.count() == 0
        return
    assert issued != planted and server.store.load(hash_token(issued)) is not None
    assert server.store.load(hash_token(planted)) is None


@pytest.mark.parametrize(
    "cookie",
    [
        "tether=" + "A" * 5000,
        "tether=not-a-token",
        "tether=\"quoted\"",
        "tether=%00%ff",
        "tether",
        ";;;==;tether=;",
        "tether=" + "é" * 10,
    ],
)
def test_malformed_cookies_are_refused_cleanly(server, cookie):
    response = server.client.post(
        "/_tether/heartbeat", content=b"{}", headers={**JSON_POST, "Cookie": cookie.encode("utf-8")}
    )
    assert response.status_code == 401
    assert response.json()["reason"] == "none"
    assert server.store.count() == 0
    page = server.client.get("/whoami", headers={"Cookie": cookie.encode("utf-8")})
    assert page.status_code == 200 and page.json()["user"] is None
    assert server.store.count() == 0


def test_binary_cookie_bytes(server):
    raw = bytes(range(1, 256)).replace(b";", b"").replace(b"\r", b"").replace(b"\n", b"")
    response = server.client.post(
        "/_tether/heartbeat", content=b"{}", headers={**JSON_POST, "Cookie": b"tether=" + raw}
    )
    assert response.status_code == 401
    assert server.store.count() == 0


# -- cookies -----------------------------------------------------------------------------


def test_cookie_defaults(server):
    response = server.client.post("/login", json={"user": "ada"})
    cookie = response.headers["set-cookie"]
    parts = [p.strip() for p in cookie.split(";")]
    # A token is 43 characters; in cookie mode the value is the signed record.
    assert parts[0].startswith("tether=") and (server.cookie_mode or len(parts[0]) == len("tether=") + 43)
    assert "HttpOnly" in parts and "SameSite=Lax" in parts and "Path=/" in parts
    assert not any(p.lower().startswith(("max-age", "expires", "domain")) for p in parts)
    assert "Secure" not in parts  # plain http


def test_secure_cookie_uses_host_prefix(store, clock):
    app = FACTORIES["asgi"](store, clock).app
    from starlette.testclient import TestClient

    with TestClient(app, base_url="https://testserver") as client:
        response = client.post("/login", json={"user": "ada"})
        cookie = response.headers["set-cookie"]
        assert cookie.startswith("__Host-tether=") and "Secure" in cookie
        headers = {"Content-Type": "application/json", "Origin": "https://testserver"}
        assert client.post("/_tether/heartbeat", content=b"{}", headers=headers).status_code == 200


def test_store_keeps_only_the_hash(server):
    token = server.login()
    assert server.store.load(token) is None
    assert server.record(token) is not None


def test_per_user_policy(store, clock):
    admin = Policy(idle_timeout=120, absolute_timeout=600, warn_before=30)
    policy_for = lambda user: admin if user == "root" else POLICY  # noqa: E731
    with FACTORIES["asgi"](store, clock, policy=POLICY, policy_for=policy_for) as client:
        client.post("/login", json={"user": "root"})
        body = client.get("/_tether/status").json()
        assert (body["idle_timeout"], body["warn_before"], body["absolute_remaining"]) == (120, 30, 600.0)
        clock.advance(120)
        assert client.get("/_tether/status").json() == {"state": "ended", "reason": "idle"}
        client.post("/login", json={"user": "ada"})
        assert client.get("/_tether/status").json()["idle_timeout"] == 600


def test_login_as_someone_else_ends_the_first_session_and_drops_its_data(server):
    first = server.login("alice")
    server.client.post("/data", json={"cart": "alice-private"})
    second = server.login("bob")
    assert second != first and server.record(first) is None
    assert server.client.get("/whoami").json() == {"user": "bob", "data": {}, "ended": None}
    assert server.ended == [(server.key(first), "logout")]


def test_login_again_as_the_same_user_rotates_without_ending(server):
    first = server.login("alice")
    server.client.post("/data", json={"cart": [1]})
    server.login("alice")
    assert server.record(first) is None
    assert server.client.get("/whoami").json()["data"] == {"cart": [1]}
    assert server.ended == []


def test_a_failing_on_end_hook_neither_breaks_requests_nor_loses_endings(store, clock, caplog):
    seen = []

    def on_end(record, reason):
        seen.append(reason)
        raise RuntimeError("audit log is down")

    with FACTORIES["asgi"](store, clock, policy=POLICY, on_end=on_end) as client:
        client.post("/login", json={"user": "ada"})
        clock.advance(600)
        response = client.get("/_tether/status")
        assert response.status_code == 401 and response.json()["reason"] == "idle"
    assert seen == ["idle"] and "audit log is down" in caplog.text

    from tether import Protocol, run_sync
    from tether._protocol import Config
    from tether.testing import make_record

    for _ in range(3):
        store.save(make_record(clock.now - 10_000, policy=POLICY), create=True)
    protocol = Protocol(Config(policy=POLICY, clock=clock, on_end=on_end))
    seen.clear()
    assert run_sync(protocol.sweep(), store, on_end) == 3
    assert seen == ["absolute"] * 3  # every claimed session reported, despite the failures


def test_sync_on_end_runs_off_the_event_loop(clock):
    import asyncio
    import threading

    from tether import MemoryStore, Protocol, run_async
    from tether._protocol import Config
    from tether.stores import AsyncMemoryStore
    from tether.testing import make_record

    inner = MemoryStore()
    inner.save(make_record(clock.now - 10_000, policy=POLICY), create=True)
    hook_threads = []
    on_end = lambda record, why: hook_threads.append(threading.get_ident())  # noqa: E731

    async def sweep_on_a_loop() -> int:
        protocol = Protocol(Config(policy=POLICY, clock=clock, on_end=on_end))
        assert await run_async(protocol.sweep(), AsyncMemoryStore(inner), on_end) == 1
        return threading.get_ident()

    loop_thread = asyncio.run(sweep_on_a_loop())
    assert len(hook_threads) == 1 and hook_threads[0] != loop_thread


def test_secure_config_behind_a_tls_proxy_accepts_the_https_origin(store, clock):
    with FACTORIES["asgi"](store, clock, policy=POLICY, secure=True) as client:
        login = client.post("/login", json={"user": "ada"})
        cookie = login.headers["set-cookie"].split(";")[0]
        assert cookie.startswith("__Host-tether=") and "Secure" in login.headers["set-cookie"]
        headers = {"Content-Type": "application/json", "Origin": "https://testserver", "Cookie": cookie}
        assert client.post("/_tether/heartbeat", content=b"{}", headers=headers).status_code == 200
        headers["Origin"] = "http://testserver"
        assert client.post("/_tether/heartbeat", content=b"{}", headers=headers).status_code == 403
