"""Issue 11.1 and 11.3 through every adapter: each event and counter, revoking with
tombstones, ``end_other_sessions()``, and the device label at sign-in.

The ``server`` fixture (from the protocol suite) wires ``on_event`` to a list and a
:class:`tether.Metrics`, so each test asserts both what was emitted and what was counted.
"""

from __future__ import annotations

import asyncio
from functools import partial
from typing import Any

import pytest

from tether import StoreUnavailable, hash_token
from tether.events import HeartbeatAnswered, Refused, SessionEnded, SessionStarted, StoreFailed, SweepRan, TouchWritten

from .test_protocol import JSON_POST, POLICY, assert_json

# The fixtures (conftest.py): ``server`` is every variant, signed-cookie mode too;
# ``server_side`` every one whose sessions live in a store.

# Signed-cookie mode emits the same events for what it does alike (sign-in, heartbeats,
# the re-signed cookie that slides the expiry, logout, refusals) and records the device in
# the cookie. Its sessions expire silently (no record to find: ``on_end`` and the ended
# event never hear of it, see docs/cookie-mode.md), it keeps deny entries instead of
# tombstones and cannot end a user's other sessions: those tests take ``server_side``.
# The cookie mode's own revocation rules are in tests/test_cookie_mode.py.

def runtime(server, name: str, *args: Any, **kwargs: Any) -> Any:
    """Call the adapter's runtime (revoke, sweep); the ASGI one on the client's loop."""
    method = getattr(server.client.runtime, name)
    if asyncio.iscoroutinefunction(method):
        return server.client.portal.call(partial(method, *args, **kwargs))
    return method(*args, **kwargs)


FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"


def test_sign_in_is_a_session_started_with_its_user(server):
    token = server.login()
    assert server.of(SessionStarted) == [SessionStarted(server.key(token), "ada")]
    assert server.metrics.sessions_started == 1


def test_a_first_data_write_starts_an_anonymous_session(server):
    server.client.post("/data", json={"cart": [1]})
    assert server.of(SessionStarted) == [SessionStarted(server.key(server.token()), None)]


def test_heartbeats_are_counted_active_and_ended(server):
    token = server.login()
    server.beat()
    server.clock.advance(600)
    server.beat()
    assert server.of(HeartbeatAnswered) == [HeartbeatAnswered(server.key(token), True), HeartbeatAnswered(None, False)]
    assert server.metrics.heartbeats == {"active": 1, "ended": 1}


def test_a_touch_is_an_event_only_when_the_store_was_written(server):
    token = server.login()
    server.clock.advance(10)
    server.beat()  # inside the 30 s granularity: no write
    server.client.get("/whoami")
    assert server.of(TouchWritten) == []
    server.clock.advance(30)
    server.store.reset()
    server.beat()
    server.clock.advance(30)
    server.client.get("/whoami")
    # The write is the store's touch, or in cookie mode the re-signed cookie each answer sent.
    assert server.store.calls.get("touch", 0) == (0 if server.cookie_mode else 2)
    assert server.of(TouchWritten) == [TouchWritten(server.key(token))] * 2
    assert server.metrics.touches == 2


def test_status_is_never_a_touch(server):
    server.login()
    server.clock.advance(100)
    server.status()
    assert server.of(TouchWritten) == []


LOGOUTS = [
    lambda s: s.client.post("/_tether/end", content=b"{}", headers=JSON_POST),
    lambda s: s.client.post("/logout"),
]
EXPIRIES = [
    ("idle", lambda s: (s.clock.advance(600), s.status())),
    ("absolute", lambda s: [(s.clock.advance(590), s.beat()) for _ in range(7)]),
]


@pytest.mark.parametrize("end", LOGOUTS, ids=["endpoint", "app"])
def test_a_logout_is_one_end_counted_once(server, end):
    token = server.login()
    end(server)
    end(server)  # a second logout of the same browser ends nothing more
    assert server.of(SessionEnded) == [SessionEnded(server.key(token), "logout")]
    assert server.ended == [(server.key(token), "logout")]
    assert server.metrics.ends == {"logout": 1}


@pytest.mark.parametrize("reason, end", EXPIRIES, ids=[reason for reason, _ in EXPIRIES])
def test_expiries_are_counted_by_reason_once(server_side, reason, end):
    server = server_side
    token = server.login()
    end(server)
    assert server.of(SessionEnded) == [SessionEnded(hash_token(token), reason)]
    assert server.ended == [(hash_token(token), reason)]
    assert server.metrics.ends == {reason: 1}


@pytest.mark.parametrize(
    "status, method, path, headers, body",
    [
        (404, "GET", "/_tether/nosuch", {}, b""),
        (405, "GET", "/_tether/heartbeat", {}, b""),
        (403, "POST", "/_tether/heartbeat", {"Content-Type": "application/json", "Origin": "https://evil.example"}, b"{}"),
        (415, "POST", "/_tether/heartbeat", {"Content-Type": "text/plain", "Origin": "http://testserver"}, b"{}"),
        (413, "POST", "/_tether/heartbeat", JSON_POST, b" " * 5000),
        (400, "POST", "/_tether/end", JSON_POST, b"{nope"),
    ],
)
def test_refusals_are_counted_by_status(server, status, method, path, headers, body):
    server.login()
    response = server.client.request(method, path, headers=headers, content=body)
    assert_json(response, status)
    assert server.of(Refused) == [Refused(status, path.rsplit("/", 1)[1] if status != 404 else "unknown")]
    assert server.metrics.refusals == {status: 1}
    assert server.of(HeartbeatAnswered) == []  # a refusal never reaches the session


def test_sweep_is_one_event_with_its_count_and_duration(server_side):
    server = server_side
    for user in ("ada", "bob"):
        server.client.cookies.clear()
        server.login(user)
    server.clock.advance(601)
    assert runtime(server, "sweep") == 2
    (swept,) = server.of(SweepRan)
    assert swept.claimed == 2 and swept.duration >= 0
    assert sorted(e.reason for e in server.of(SessionEnded)) == ["idle", "idle"]
    assert (server.metrics.sweeps, server.metrics.swept) == (1, 2)


# -- revoking: tombstones, "sign out everywhere else" -------------------------------------------


def test_a_revoked_session_answers_revoked_then_the_sweeper_removes_it_silently(server_side):
    server = server_side
    token = server.login()
    assert runtime(server, "revoke", user="ada") == 1
    assert server.ended == [(hash_token(token), "revoked")]
    tombstone = server.record(token)
    assert (tombstone.meta.ended, tombstone.meta.user, tombstone.data) == ("revoked", None, {})
    assert server.store.list_by_user("ada") == []
    assert assert_json(server.status(), 401) == {"state": "ended", "reason": "revoked"}
    server.plant(token)
    response = server.client.get("/whoami")
    assert response.json() == {"user": None, "data": {}, "ended": "revoked"}
    assert "Max-Age=0" in response.headers["set-cookie"]
    server.plant(token)
    assert assert_json(server.beat(), 401)["reason"] == "revoked"
    server.clock.advance(POLICY.idle_timeout + 1)
    assert runtime(server, "sweep") == 1
    assert server.record(token) is None
    assert server.ended == [(hash_token(token), "revoked")]  # no second on_end
    assert server.metrics.ends == {"revoked": 1}


def test_end_other_sessions_ends_the_others_and_keeps_this_one(server_side):
    server = server_side
    others = []
    for _ in range(2):
        server.client.cookies.clear()
        others.append(server.login())
    server.client.cookies.clear()
    mine = server.login()
    response = server.client.post("/end-others")
    assert response.status_code == 200
    assert sorted(server.ended) == sorted((hash_token(t), "revoked") for t in others)
    assert [r.key for r in server.store.list_by_user("ada")] == [hash_token(mine)]
    assert assert_json(server.status(), 200)["state"] == "active"
    for token in others:
        server.plant(token)
        assert assert_json(server.status(), 401)["reason"] == "revoked"


def test_sign_in_records_the_device_and_no_address_by_default(server):
    server.client.post("/login", json={"user": "ada"}, headers={"User-Agent": FIREFOX})
    meta = server.record().meta  # in cookie mode: as the signed cookie carries it
    assert (meta.device, meta.ip) == ("Firefox on Linux", None)
    if not server.cookie_mode:  # the store lists the user's sessions; a cookie store has none
        assert [r.meta.device for r in server.store.list_by_user("ada")] == ["Firefox on Linux"]


def test_a_store_failure_is_counted_with_its_503(server_side):
    server = server_side
    server.login()

    def down(*args: Any) -> Any:
        raise StoreUnavailable("store down")

    server.store.load = down  # the heartbeat's load_and_touch loads first
    response = server.beat()
    assert response.status_code == 503
    assert server.of(StoreFailed) == [StoreFailed("store down", answered_503=True)]
    assert (server.metrics.store_errors, server.metrics.unavailable) == (1, 1)
