"""What the WSGI middleware adds to the shared conformance suite: store outages, lazy
responses, configuration errors and the sweeper thread."""

from __future__ import annotations

import threading
from typing import Any, Iterator

import pytest

from tether import AsyncMemoryStore, ConfigurationError, MemoryStore, Policy, StoreUnavailable
from tether.testing import FakeClock
from tether.wsgi import TetherMiddleware

from .frameworks.transport import wsgi_test_client
from .frameworks.wsgi_app import app as conformance_app

POLICY = Policy(idle_timeout=600, absolute_timeout=3600, warn_before=60)
JSON_POST = {"Content-Type": "application/json", "Origin": "http://testserver"}


class FlakyStore:
    """A memory store that can be switched off, as a Redis outage would."""

    def __init__(self) -> None:
        self.inner = MemoryStore()
        self.down = False

    def __getattr__(self, name: str) -> Any:
        method = getattr(self.inner, name)

        def call(*args: Any, **kwargs: Any) -> Any:
            if self.down:
                raise StoreUnavailable("test outage", retry_after=7)
            return method(*args, **kwargs)

        return call


def client_for(app: Any, store: Any, clock: FakeClock, **options: Any) -> Any:
    options.setdefault("sweep_interval", None)
    return wsgi_test_client(TetherMiddleware(app, store=store, clock=clock, policy=POLICY, **options))


def assert_503(response: Any) -> None:
    assert response.status_code == 503
    assert response.headers["retry-after"] == "7"
    assert response.headers["cache-control"] == "no-store"
    assert "error" in response.json()


def test_store_outage_is_503_never_ended() -> None:
    store = FlakyStore()
    with client_for(conformance_app, store, FakeClock()) as client:
        client.post("/login", json={"user": "ada"})
        store.down = True
        assert_503(client.post("/_tether/heartbeat", content=b"{}", headers=JSON_POST))
        assert_503(client.get("/whoami"))
        store.down = False
        assert client.get("/whoami").json()["user"] == "ada"


def test_outage_while_storing_replaces_the_page_with_503() -> None:
    store = FlakyStore()
    seen: list[str] = []

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        environ["tether.session"].login("ada")
        store.down = True  # the store fails between the app's work and the response
        start_response("200 OK", [("Content-Type", "text/plain")])
        seen.append("ran")
        return [b"signed in"]

    with client_for(app, store, FakeClock()) as client:
        response = client.get("/")
        assert_503(response)
        assert "set-cookie" not in response.headers and seen == ["ran"]


def test_lazy_start_response_is_handled() -> None:
    store = FlakyStore()

    def app(environ: dict[str, Any], start_response: Any) -> Iterator[bytes]:
        environ["tether.data"]["draft"] = environ["PATH_INFO"]  # tether.data is the data dict
        assert environ["tether.data"] is environ["tether.session"].data
        store.down = environ["PATH_INFO"] == "/fail"
        start_response("200 OK", [("Content-Type", "text/plain")])
        yield b"page"

    with client_for(app, store, FakeClock()) as client:
        ok = client.get("/")
        assert ok.text == "page" and ok.headers["set-cookie"].startswith("tether=")
        store.down = False
        failed = client.get("/fail")
        assert failed.status_code == 503 and "error" in failed.json()


def test_async_store_is_refused_with_a_reason() -> None:
    with pytest.raises(ConfigurationError, match="async store"):
        TetherMiddleware(conformance_app, store=AsyncMemoryStore())


def test_sweeper_thread_reports_expired_sessions() -> None:
    clock = FakeClock()
    ended: list[str] = []
    done = threading.Event()

    def on_end(record: Any, reason: str) -> None:
        ended.append(reason)
        done.set()

    middleware = TetherMiddleware(
        conformance_app, store=MemoryStore(), clock=clock, policy=POLICY, on_end=on_end, sweep_interval=0.02
    )
    with wsgi_test_client(middleware) as client:
        client.post("/login", json={"user": "ada"})  # the first request starts the sweeper
        clock.advance(601)
        assert done.wait(5)
        middleware.sweeper.stop()
    assert ended == ["idle"]


class BrokenInput:
    """``wsgi.input`` of a request whose framing is broken (werkzeug raises OSError on a
    bad chunk header)."""

    def read(self, *args: Any) -> bytes:
        raise OSError("Invalid chunk header")

    readline = read


@pytest.mark.parametrize("adapter", ["wsgi", "flask", "django"])
@pytest.mark.parametrize("endpoint", ["heartbeat", "end"])
def test_a_body_that_cannot_be_read_is_a_400_json_refusal(adapter: str, endpoint: str) -> None:
    """Issue 8 fault 1: the server's error while reading the body never becomes a 500."""
    from .apps import FACTORIES

    if adapter not in FACTORIES:
        pytest.skip(f"{adapter} is not installed")
    store = MemoryStore()
    with FACTORIES[adapter](store, FakeClock(), policy=POLICY) as client:
        client.post("/login", json={"user": "ada"})
        environ = {
            "REQUEST_METHOD": "POST",
            "PATH_INFO": f"/_tether/{endpoint}",
            "SERVER_NAME": "testserver",
            "SERVER_PORT": "80",
            "HTTP_HOST": "testserver",
            "HTTP_ORIGIN": "http://testserver",
            "HTTP_COOKIE": f"tether={client.cookies['tether']}",
            "HTTP_TRANSFER_ENCODING": "chunked",
            "CONTENT_TYPE": "application/json",
            "CONTENT_LENGTH": "10",
            "wsgi.input": BrokenInput(),
            "wsgi.input_terminated": True,
            "wsgi.url_scheme": "http",
            "wsgi.errors": __import__("sys").stderr,
            "wsgi.multithread": False,
            "wsgi.multiprocess": False,
            "wsgi.run_once": False,
            "wsgi.version": (1, 0),
            "SCRIPT_NAME": "",
            "QUERY_STRING": "",
        }
        started: list[tuple[str, dict[str, str]]] = []

        def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            started.append((status, {k.lower(): v for k, v in headers}))
            return lambda data: None

        body = b"".join(client._transport.app(environ, start_response))
        status, headers = started[-1]
        assert status.startswith("400"), (status, body)
        assert headers["content-type"] == "application/json"
        assert headers["cache-control"] == "no-store"
        assert b"error" in body and b"Traceback" not in body
        assert store.count() == 1  # the session neither ended nor was created
