"""Property-based fuzzing of cookies, headers and bodies through every adapter.

Every endpoint (``/_tether/heartbeat``, ``/status``, ``/end``, ``/tether.js``, unknown
ones) and the test app's ordinary pages get generated methods, cookies, headers and
bodies. Whatever arrives: no 5xx (503 with Retry-After only when the store is down), no
traceback text in a body, tether's JSON never cacheable, and no session created.

Deterministic (``derandomize=True``, no example database: nothing is written to a
``.hypothesis`` directory) and small: a few seconds per adapter.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from tether import hash_token
from tether.exceptions import StoreUnavailable
from tether.stores import MemoryStore
from tether.testing import FakeClock

from ..apps import FACTORIES
from .conftest import assert_clean, open_site

FUZZ = settings(
    derandomize=True,
    database=None,
    deadline=None,
    max_examples=25,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

ENDPOINTS = ["/_tether/heartbeat", "/_tether/status", "/_tether/end", "/_tether/tether.js", "/_tether/", "/_tether/x"]
#: Pages of tests/apps.py that never parse a body (the test apps' own body parsing is not
#: under test: a bare WSGI app fed ``{`` as JSON is the app's own 500).
PAGES = ["/whoami", "/api/poll/whoami", "/logout", "/nowhere"]
BODILESS_PAGES = {"/logout"}
REAL = object()  # stands for the signed-in session's own cookie in a generated Cookie header

# Header values as a WSGI server would pass them (latin-1, no line breaks).
values = st.binary(max_size=80).map(lambda b: b.replace(b"\r", b"").replace(b"\n", b"").replace(b"\x00", b""))
well_known = st.sampled_from(
    [b"", b"1", b"0", b"null", b"http://testserver", b"https://testserver", b"http://evil.example", b"same-origin",
     b"same-site", b"cross-site", b"none", b"application/json", b"application/json; charset=utf-8", b"text/plain",
     b"multipart/form-data; boundary=x", b"application/x-www-form-urlencoded", b'"' + b"0" * 16 + b'"']
)
header_names = st.sampled_from(
    ["origin", "sec-fetch-site", "content-type", "tether-passive", "if-none-match", "accept", "x-forwarded-proto",
     "cookie2", "referer", "x-junk"]
)
headers = st.one_of(st.just({}), st.dictionaries(header_names, st.one_of(well_known, values), min_size=1, max_size=5))
hosts = st.sampled_from([None, b"testserver", b"testserver:80", b"evil.example", b"", b"[::1", b"a" * 300])

token_like = st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", min_size=43, max_size=43)
cookie_value = st.one_of(token_like.map(str.encode), values, st.just(b"A" * 5000), st.just(b'"quoted"'))
cookie_piece = st.one_of(
    st.just(REAL),
    cookie_value.map(lambda v: b"tether=" + v),
    cookie_value.map(lambda v: b"__Host-tether=" + v),
    values,
    st.just(b"tether"),
    st.just(b";;==;"),
)
# Hypothesis leans to the first branch of one_of and sampled_from: the first is the normal
# case (the session's own cookie, the browser's headers), the others the mutations.
cookies = st.one_of(st.just([REAL]), st.lists(cookie_piece, min_size=1, max_size=4), st.none())
bodies = st.one_of(
    st.just(b""),
    st.just(b"{}"),
    st.binary(max_size=200),
    st.text(max_size=100).map(str.encode),
    st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=10),
                 lambda kids: st.lists(kids, max_size=3) | st.dictionaries(st.text(max_size=5), kids, max_size=3),
                 max_leaves=10).map(lambda v: json.dumps(v).encode()),
    st.just(b"[" * 5000),
    st.just(b"x" * 6000),
)
#: Each test runs once per route with the method it expects (so requests get past the 405
#: to the origin, type, body and session checks), and once with any method on any route.
ROUTES = [
    ("POST", "/_tether/heartbeat"), ("POST", "/_tether/end"), ("GET", "/_tether/status"),
    ("HEAD", "/_tether/status"), ("GET", "/_tether/tether.js"), ("GET", "/whoami"),
    ("GET", "/api/poll/whoami"), ("POST", "/logout"), ("any", "any"),
]
any_route = st.tuples(
    st.sampled_from(["GET", "POST", "HEAD", "PUT", "DELETE", "OPTIONS", "PATCH", "BREW"]),
    st.sampled_from(ENDPOINTS + PAGES),
)
queries = st.sampled_from(["", "?v=1", "?v=", "?%ff=%00", "?" + "a" * 2000])
#: A browser's same-origin JSON POST, which the generated headers then change or replace.
BASE = {"origin": b"http://testserver", "content-type": b"application/json"}


def requests(route: tuple[str, str]) -> st.SearchStrategy[dict[str, Any]]:
    """Requests to ``route`` (or to any route, any method) with generated everything else."""
    return st.fixed_dictionaries(
        {"route": any_route if route[0] == "any" else st.just(route), "query": queries, "base": st.sampled_from([True, False]),
         "headers": headers, "host": hosts, "cookie": cookies, "body": bodies}
    )


def send(client: Any, draw: dict[str, Any], token: str | None) -> Any:
    """Send one generated request with exactly the generated headers."""
    client.cookies.clear()  # only the generated Cookie header goes out
    raw = {**(BASE if draw["base"] else {}), **draw["headers"]}
    if draw["host"] is not None:
        raw["host"] = draw["host"]
    if draw["cookie"] is not None:
        real = f"tether={token}".encode() if token else b"tether="
        raw["cookie"] = b"; ".join(real if piece is REAL else piece for piece in draw["cookie"])
    method, path = draw["route"]
    body = b"" if path in BODILESS_PAGES else draw["body"]
    response = client.request(method, path + draw["query"], content=body, headers=raw)
    event(f"{method} {path} -> {response.status_code}")
    return response


class DownStore:
    """A store that cannot be reached: every call raises, as a dead Redis would."""

    def __getattr__(self, name: str) -> Any:
        def unreachable(*args: Any, **kwargs: Any) -> Any:
            raise StoreUnavailable("fuzz: store down", retry_after=3)

        return unreachable

    def close(self) -> None:
        pass


@pytest.mark.parametrize("route", ROUTES, ids=" ".join)
@pytest.mark.parametrize("adapter", sorted(FACTORIES))
def test_anonymous_requests_never_fail_and_never_create_a_session(adapter, route, clock):
    store = MemoryStore()  # nothing is ever stored here; the signed-in test covers SQLite
    with open_site(adapter, store, clock) as client:

        @FUZZ
        @given(requests(route))
        def check(draw: dict[str, Any]) -> None:
            response = send(client, draw, None)
            assert_clean(response)
            assert store.count() == 0, draw

        check()


@pytest.mark.parametrize("route", ROUTES, ids=" ".join)
@pytest.mark.parametrize("adapter", sorted(FACTORIES))
def test_signed_in_requests_never_fail_and_never_add_a_session(adapter, route, store, clock):
    with open_site(adapter, store, clock) as client:
        token: str | None = None

        @FUZZ
        @given(requests(route))
        def check(draw: dict[str, Any]) -> None:
            nonlocal token
            if token is None or store.load(hash_token(token)) is None:
                client.cookies.clear()
                assert client.post("/login", json={"user": "ada"}).status_code == 200
                token = client.cookies.get("tether")
            assert store.count() == 1
            response = send(client, draw, token)
            assert_clean(response)
            # At most the session we signed in: ended by /end or /logout, never replaced.
            assert store.count() == (store.load(hash_token(token)) is not None), draw

        check()


@pytest.mark.parametrize("route", ROUTES, ids=" ".join)
@pytest.mark.parametrize("adapter", sorted(FACTORIES))
def test_store_down_is_503_with_retry_after_never_500(adapter, route):
    with open_site(adapter, DownStore(), FakeClock()) as client:

        @FUZZ
        @given(requests(route))
        def check(draw: dict[str, Any]) -> None:
            assert_clean(send(client, draw, "A" * 43), store_down=True)

        check()
