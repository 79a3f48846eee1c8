"""Shared parts of the robustness suite (issue 8's kinds of test).

- ``site``: the conformance app (tests/apps.py) on every adapter in ``FACTORIES``, over a
  counting memory or SQLite store and a FakeClock.
- ``redis_server`` and ``prefix`` are the Redis suite's fixtures (a private
  redis-server on its own port), re-exported so the lost-update tests can use them.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import httpx

import pytest
from hypothesis.configuration import set_hypothesis_home_dir

from tether import Policy, hash_token
from tether.testing import CountingStore, FakeClock

from ..apps import FACTORIES
from ..redis.conftest import free_port, prefix, wait_until  # noqa: F401  (prefix: a fixture, used by name)

ROOT = Path(__file__).resolve().parents[2]

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


class Served:
    """A real server process on a free loopback port, its output in a log file."""

    def __init__(self, argv: list[str], directory: Path, *, port: int, ready_path: str = "/_tether/status", **env: str):
        self.port = port
        self.base = f"http://127.0.0.1:{port}"
        self.log = directory / f"server-{port}.log"
        with open(self.log, "wb") as out:
            self.process = subprocess.Popen(
                argv, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
                env={**os.environ, "PYTHONPATH": str(ROOT), **env},
            )
        wait_until(lambda: self.answers(ready_path) or self.process.poll() is not None, 30, f"{argv[:3]} on {port}")
        assert self.process.poll() is None, self.output()

    def answers(self, path: str) -> bool:
        try:
            return httpx.get(self.base + path, timeout=2).status_code < 500
        except httpx.TransportError:
            return False

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]

    def kill(self) -> None:
        """``kill -9`` of the server and its workers (its own process group)."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()


SERVERS = ("uvicorn-h11", "uvicorn-httptools", "flask-demo", "django-demo", "gunicorn")


def start_server(kind: str, directory: Path, app: str | None = None, workers: int = 1, **env: str) -> Served:
    """One of ``SERVERS`` on the demo, run as the demo and the docs run it, on a SQLite
    file in ``directory``. ``app`` names the factory in tests/robustness/servers.py for
    uvicorn (ASGI; the Starlette demo by default) and gunicorn (WSGI; the Flask demo)."""
    port = free_port()
    store = f"sqlite:///{directory / 'sessions.db'}"
    py, bind = sys.executable, ["--host", "127.0.0.1", "--port", str(port)]
    if kind.startswith("uvicorn-"):
        app = app or "starlette_demo"
        argv = [py, "-m", "uvicorn", "--factory", f"tests.robustness.servers:{app}", "--http", kind[8:], "--log-level", "warning", *bind]
    elif kind == "gunicorn":
        app = app or "flask_demo"
        argv = [py, "-m", "gunicorn", "-b", f"127.0.0.1:{port}", "-w", str(workers),
                "--control-socket", str(directory / "gunicorn.ctl"), f"tests.robustness.servers:{app}()"]
    else:
        argv = [py, "-m", "tether", "demo", "--framework", kind.split("-")[0], "--store", store, *bind]
    return Served(argv, directory, port=port, TETHER_TEST_STORE=store, **env)
