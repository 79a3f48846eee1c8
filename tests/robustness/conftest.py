"""Shared parts of the robustness suite (issue 8's kinds of test).

- ``site``: the conformance app (tests/apps.py) on every adapter in ``FACTORIES``, over a
  counting memory or SQLite store and a FakeClock.
- ``redis_server`` and ``prefix`` are the Redis suite's fixtures (a private
  redis-server on its own port), re-exported so the lost-update tests can use them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterator

import pytest
from hypothesis.configuration import set_hypothesis_home_dir

from tether import Policy, hash_token
from tether.testing import CountingStore, FakeClock

from ..apps import FACTORIES
from ..redis.conftest import prefix, redis_server  # noqa: F401  (fixtures, used by name)

ORIGIN = {"Origin": "http://testserver"}
JSON_POST = {"Content-Type": "application/json", **ORIGIN}
POLICY = Policy(idle_timeout=600, absolute_timeout=3600, warn_before=60)  # granularity 30 s
TRACEBACK_MARKS = (b"Traceback (most recent call last)", b'File "/', b"Internal Server Error")


@pytest.fixture(autouse=True, scope="session")
def _hypothesis_home(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Hypothesis caches (e.g. its Unicode tables) go to a temp dir, not ``.hypothesis/``
    in the repository; the fuzz tests keep no example database at all."""
    set_hypothesis_home_dir(tmp_path_factory.mktemp("hypothesis"))


@dataclass
class Site:
    """One adapter's client with the store and clock behind it."""

    name: str
    client: Any
    store: Any
    clock: FakeClock

    def login(self, user: str = "ada") -> str:
        response = self.client.post("/login", json={"user": user})
        assert response.status_code == 200, response.text
        return self.token()

    def token(self) -> str:
        return self.client.cookies.get("tether")

    def beat(self, **headers: str) -> Any:
        return self.client.post("/_tether/heartbeat", content=b"{}", headers={**JSON_POST, **headers})

    def idle_remaining(self) -> float:
        """Read with the passive status endpoint: reading must not slide anything."""
        response = self.client.get("/_tether/status")
        assert response.status_code == 200, response.text
        return response.json()["idle_remaining"]

    def record(self, token: str | None = None) -> Any:
        return self.store.load(hash_token(token or self.token()))


def open_site(name: str, store: Any, clock: FakeClock, **config: Any) -> Any:
    """The client of adapter ``name`` (a context manager) with the suite's policy."""
    config.setdefault("policy", POLICY)
    return FACTORIES[name](store, clock, **config)


@pytest.fixture(params=sorted(FACTORIES))
def site(request: pytest.FixtureRequest, store: CountingStore, clock: FakeClock) -> Iterator[Site]:
    with open_site(request.param, store, clock) as client:
        yield Site(request.param, client, store, clock)


def assert_clean(response: Any, *, store_down: bool = False) -> None:
    """What every answer must be, whatever the request: no 5xx (503 with Retry-After only
    when the store is down), no traceback text, tether's JSON (its endpoints' answers and
    its 503) never cacheable. The test apps' own JSON pages are theirs to cache."""
    status = response.status_code
    if store_down and status == 503:
        assert response.headers.get("retry-after", "").isdigit(), response.headers
    else:
        assert status < 500, (status, response.content[:500])
    body = response.content
    assert not any(mark in body for mark in TRACEBACK_MARKS), body[:500]
    ours = response.request.url.path.startswith("/_tether/") or status == 503
    if ours and response.headers.get("content-type", "").startswith("application/json"):
        assert response.headers.get("cache-control") == "no-store", response.headers
