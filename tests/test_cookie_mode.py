"""Signed-cookie mode (issue 9, DESIGN §6): exact timeouts, rotation, bad cookies, size,
logout and revoke with and without a revocation store. Through the ASGI adapter with an
injected clock; the conformance suite runs the rest of §4 in this mode on every adapter."""

from __future__ import annotations

import asyncio
import logging
import secrets
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from tether import MemoryStore, Policy, TetherMiddleware
from tether._settings import build_settings
from tether.exceptions import ConfigurationError, CookieTooLarge, NotInCookieMode
from tether.stores.cookie import CookieCodec, SignedCookieStore
from tether.stores.urls import open_store

from .apps import asgi_client

KEY, OLD_KEY = "new-signing-key-0123456789abcdef", "old-signing-key-0123456789abcdef"
POLICY = Policy(idle_timeout=600, absolute_timeout=3600, warn_before=60)  # granularity 30 s
T, G = 600.0, 30.0
JSON_POST = {"Content-Type": "application/json", "Origin": "http://testserver"}


def client_for(clock: Any, *, keys: Any = KEY, revocations: Any = None, ended: list | None = None) -> TestClient:
    store = SignedCookieStore(keys, revocations=revocations)
    on_end = None if ended is None else (lambda record, reason: ended.append((record.meta.user, reason)))
    return asgi_client(store, clock, policy=POLICY, on_end=on_end)


def beat(client: TestClient):
    return client.post("/_tether/heartbeat", content=b"{}", headers=JSON_POST)


def plant(client: TestClient, value: str) -> None:
    client.cookies.clear()
    client.cookies.set("tether", value, domain="testserver.local")


def signed(clock: Any, payload: Any, key: str = KEY) -> str:
    """``payload`` signed by itsdangerous itself, timestamped by ``clock``."""
    from itsdangerous import TimestampSigner, URLSafeTimedSerializer

    class At(TimestampSigner):
        def get_timestamp(self) -> int:
            return int(clock())

    return URLSafeTimedSerializer(key, salt="tether.session", signer=At).dumps(payload)


# -- exact timeouts ---------------------------------------------------------------------------


def test_idle_is_exact_to_the_granularity_at_both_boundaries(clock):
    with client_for(clock) as client:
        client.post("/login", json={"user": "ada"})
        start = clock.now
        clock.advance(G - 1)  # within the granularity: nothing re-issued ...
        assert "set-cookie" not in client.get("/whoami").headers
        clock.advance(1)  # ... at it: the cookie slides to now + T
        assert "set-cookie" in client.get("/whoami").headers
        clock.advance(G - 1)  # last activity, 59 s after sign-in: not written
        assert client.get("/whoami").json()["user"] == "ada"
        last = clock.now
        clock.set(start + G + T - 0.01)  # just before the slid expiry: alive
        assert client.get("/_tether/status").json()["state"] == "active"
        clock.set(start + G + T)  # at it: ended, T - (G - 1) after the last activity
        body = client.get("/_tether/status").json()
        assert body == {"state": "ended", "reason": "idle"}
        assert clock.now - last == T - (G - 1)


def renew_if_old_end(issued: float, activity: float) -> float:
    """ASP.NET's RenewTicketIfOld: a ticket is renewed only once more than half of its
    window has passed; otherwise it still ends at ``issued + T``."""
    return activity + T if activity - issued > T / 2 else issued + T


@pytest.mark.parametrize("offset", [G + 1, 100.0, T / 2 - 1])
def test_a_half_window_renewal_would_end_users_early(clock, offset):
    """Every active user keeps at least T - G after their last activity; the half-window
    rule gives only T - offset here (as little as T/2), and fails the same check."""
    with client_for(clock) as client:
        client.post("/login", json={"user": "ada"})
        issued = clock.now
        clock.advance(offset)
        client.get("/whoami")  # the last activity
        activity = clock.now
        assert renew_if_old_end(issued, activity) - activity < T - G  # the rule tether rejects
        clock.set(activity + T - G)
        assert client.get("/_tether/status").json()["state"] == "active"


def test_absolute_is_never_extended_by_activity_or_writes(clock):
    with client_for(clock) as client:
        client.post("/login", json={"user": "ada"})
        start = clock.now
        for step in range(1, 12):
            clock.set(start + step * 300)
            assert client.post("/data", json={"step": step}).status_code == 200
            beat(client)
        clock.set(start + 3600)
        assert beat(client).json() == {"state": "ended", "reason": "absolute"}
        assert client.get("/whoami").json()["user"] is None


def test_status_never_reissues(clock):
    with client_for(clock) as client:
        client.post("/login", json={"user": "ada"})
        clock.advance(300)
        assert "set-cookie" not in client.get("/_tether/status").headers


# -- keys ----------------------------------------------------------------------------------


def test_key_rotation_old_key_verifies_new_key_signs(clock):
    with client_for(clock, keys=OLD_KEY) as old_app:
        old_app.post("/login", json={"user": "ada"})
        old_cookie = old_app.cookies.get("tether")
    with client_for(clock, keys=[KEY, OLD_KEY]) as rotated:
        plant(rotated, old_cookie)
        assert rotated.get("/whoami").json()["user"] == "ada"
        clock.advance(G)
        response = beat(rotated)  # slides: re-signed with the newest key
        assert response.status_code == 200 and "set-cookie" in response.headers
        new_cookie = rotated.cookies.get("tether")
    with client_for(clock, keys=KEY) as retired:
        plant(retired, new_cookie)
        assert retired.get("/whoami").json()["user"] == "ada"
        plant(retired, old_cookie)  # the old key retired: its cookies are nothing
        assert beat(retired).json() == {"state": "ended", "reason": "none"}


def test_keys_from_the_environment_comma_separated_newest_first(monkeypatch, clock):
    monkeypatch.setenv("TETHER_SECRET_KEY", f"{KEY}, {OLD_KEY}")
    store = open_store("cookie:")
    assert store.secret_keys == [KEY, OLD_KEY] and store.revocations is None
    with_revocations = open_store("cookie:memory://")
    assert isinstance(with_revocations.revocations, MemoryStore)


def test_no_default_key(monkeypatch):
    monkeypatch.delenv("TETHER_SECRET_KEY", raising=False)
    with pytest.raises(ConfigurationError, match="no default key"):
        open_store("cookie:")
    with pytest.raises(ConfigurationError, match="at least 16"):
        SignedCookieStore("short")
    with pytest.raises(ConfigurationError, match="signed-cookie mode"):
        build_settings({"store": "memory://", "secret_key": KEY})
    assert build_settings({"store": "cookie:", "secret_key": KEY}).store.secret_keys == [KEY]


# -- bad cookies -------------------------------------------------------------------------------


def bad_cookies(clock: Any) -> dict[str, str]:
    with client_for(clock) as client:
        client.post("/login", json={"user": "ada"})
        good = client.cookies.get("tether")
    head, _, sig = good.rpartition(".")
    future = clock.now + 10 * 3600
    live_meta = ["A" * 43, clock.now, clock.now, future, future, "ada", {}, None, None]
    clock.advance(-2 * 3600)
    old_signature = signed(clock, live_meta)  # live meta, but signed 2 h ago (> absolute)
    clock.advance(2 * 3600)
    return {
        "tampered": head[:-2] + ("AA" if head[-2:] != "AA" else "BB") + "." + sig,
        "truncated": good[: len(good) // 2],
        "signature-cut": good.rpartition(".")[0],
        "wrong-key": signed(clock, live_meta, key=OLD_KEY),
        "expired-signature": old_signature,
        "oversized": good + "A" * 5000,
        "garbage": "%00%ff<script>",
        "a-token": "x" * 43,
        "wrong-shape": signed(clock, {"user": "ada"}),
    }


def test_bad_cookies_are_refused_cleared_and_logged_quietly(clock, caplog):
    cases = bad_cookies(clock)
    with client_for(clock) as client:
        for name, value in cases.items():
            caplog.clear()
            with caplog.at_level(logging.DEBUG, logger="tether"):
                plant(client, value)
                response = beat(client)
                assert response.status_code == 401, name
                assert response.json() == {"state": "ended", "reason": "none"}, name
                assert "Max-Age=0" in response.headers["set-cookie"], name
                plant(client, value)
                page = client.get("/whoami")
                assert page.status_code == 200 and page.json()["user"] is None, name
            assert all(r.levelno < logging.WARNING for r in caplog.records), name
            assert len(caplog.records) <= 2, name  # one line per request at most


# -- size -----------------------------------------------------------------------------------


async def put(request: Request) -> JSONResponse:
    try:
        request.session.update(await request.json())
    except CookieTooLarge as exc:
        return JSONResponse({"error": str(exc)}, status_code=413)
    return JSONResponse({"ok": True})


async def grow(request: Request) -> JSONResponse:
    request.session["items"].append(secrets.token_urlsafe(4000))  # in place: unseen by the dict
    return JSONResponse({"ok": True})


async def show(request: Request) -> JSONResponse:
    return JSONResponse(dict(request.session))


def size_client(clock: Any) -> TestClient:
    app = Starlette(routes=[Route("/put", put, methods=["POST"]), Route("/grow", grow, methods=["POST"]),
                            Route("/show", show)])
    return TestClient(TetherMiddleware(app, store=SignedCookieStore(KEY), clock=clock, policy=POLICY,
                                       sweep_interval=None))


def test_a_write_past_4096_bytes_raises_at_the_write_and_changes_nothing(clock):
    with size_client(clock) as client:
        assert client.post("/put", json={"items": ["a"]}).status_code == 200
        cookie = client.cookies.get("tether")
        response = client.post("/put", json={"big": secrets.token_urlsafe(4000)})  # incompressible
        assert response.status_code == 413 and "4096" in response.json()["error"]
        assert "set-cookie" not in response.headers
        assert client.get("/show").json() == {"items": ["a"]}
        assert client.cookies.get("tether") == cookie and len(cookie) < 4096


def test_an_in_place_overflow_is_logged_and_keeps_the_previous_cookie(clock, caplog):
    with size_client(clock) as client:
        client.post("/put", json={"items": []})
        with caplog.at_level(logging.ERROR, logger="tether"):
            response = client.post("/grow")
        assert response.status_code == 200 and "set-cookie" not in response.headers
        assert [r.levelno for r in caplog.records] == [logging.ERROR] and "4096" in caplog.text
        assert client.get("/show").json() == {"items": []}


# -- logout and revoke --------------------------------------------------------------------------


def test_logout_without_a_revocation_store_only_clears_this_browser(clock):
    ended: list = []
    with client_for(clock, ended=ended) as client:
        client.post("/login", json={"user": "ada"})
        copy = client.cookies.get("tether")
        assert "Max-Age=0" in client.post("/logout").headers["set-cookie"]
        assert ended == [("ada", "logout")]
        plant(client, copy)  # the documented limit: a copied cookie lives until it expires
        assert client.get("/whoami").json()["user"] == "ada"


def test_logout_with_a_revocation_store_refuses_the_copy(clock):
    ended: list = []
    revocations = MemoryStore()
    with client_for(clock, revocations=revocations, ended=ended) as client:
        client.post("/login", json={"user": "ada"})
        copy = client.cookies.get("tether")
        client.post("/_tether/end", content=b"{}", headers=JSON_POST)
        assert ended == [("ada", "logout")]
        plant(client, copy)
        assert beat(client).json() == {"state": "ended", "reason": "none"}
        assert client.get("/whoami").json()["user"] is None
        assert ended == [("ada", "logout")]
        assert revocations.count() == 1  # one deny entry, until the absolute expiry:
        assert asyncio.run(client.app.sweep_all()) == 0
        clock.advance(3600)
        assert asyncio.run(client.app.sweep_all()) == 1 and revocations.count() == 0
        assert ended == [("ada", "logout")]  # removing a deny entry reports nothing


def test_revoke_user_refuses_every_earlier_session_and_reports_each_once(clock):
    ended: list = []
    revocations = MemoryStore()
    with client_for(clock, revocations=revocations, ended=ended) as client:
        client.post("/login", json={"user": "ada"})
        copy = client.cookies.get("tether")
        clock.advance(1)
        assert asyncio.run(client.app.revoke(user="ada")) == 0  # ended at each one's next request
        assert ended == []
        assert beat(client).json() == {"state": "ended", "reason": "revoked"}
        assert ended == [("ada", "revoked")]
        plant(client, copy)
        assert beat(client).json() == {"state": "ended", "reason": "revoked"}
        assert ended == [("ada", "revoked")]  # the copy is denied by id, not reported again
        clock.advance(1)
        client.post("/login", json={"user": "ada"})  # a new sign-in after the revoke: fine
        assert client.get("/whoami").json()["user"] == "ada"


def test_without_a_server_record_listing_and_revoking_say_why(clock):
    store = SignedCookieStore(KEY)
    with pytest.raises(NotInCookieMode, match="list a user's sessions"):
        store.list_by_user("ada")
    with client_for(clock) as client:
        with pytest.raises(NotInCookieMode, match="revocation store"):
            asyncio.run(client.app.revoke(user="ada"))
        assert asyncio.run(client.app.sweep_all()) == 0


def test_the_cookie_is_itsdangerous_format_both_ways(clock):
    """Values signed by itsdangerous' own URLSafeTimedSerializer (same salt) verify, and
    tether's verify with it: the fast reader is the same format, not a new one."""
    from itsdangerous import URLSafeTimedSerializer

    theirs = URLSafeTimedSerializer([KEY], salt="tether.session")
    live = ["A" * 43, clock.now, clock.now, clock.now + 600, clock.now + 3600, "ada", {"n": "é" * 50}, None, None]
    codec = CookieCodec([KEY], clock=clock, max_size=4096)
    sid, record = codec.read(theirs.dumps(live), max_age=None)
    assert sid == "A" * 43 and record.meta.user == "ada" and record.data == {"n": "é" * 50}
    assert theirs.loads(codec.write(sid, record, "tether")) == live


def test_the_cli_says_what_cookie_mode_cannot_do(monkeypatch, capsys):
    from tether.cli import main

    monkeypatch.setenv("TETHER_SECRET_KEY", KEY)
    assert main(["sessions", "--store", "cookie:", "sweep"]) == 2
    assert "expire silently in browsers and on_end never hears of it" in capsys.readouterr().err
    assert main(["sessions", "--store", "cookie:", "list", "--user", "ada"]) == 2
    assert "cannot list a user's sessions" in capsys.readouterr().err
