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


def _old_request_headers(environ: dict[str, Any]) -> dict[str, str]:
    """What request_from_environ's headers were when it rewrote every HTTP_* key (the
    oracle for the one that reads only the protocol's keys)."""
    headers: dict[str, str] = {}
    for key, value in environ.items():
        if key.startswith("HTTP_"):
            headers[key[5:].replace("_", "-").lower()] = value
    for key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
        if environ.get(key):
            headers[key.replace("_", "-").lower()] = environ[key]
    if "host" not in headers and "SERVER_NAME" in environ:
        port, scheme = str(environ.get("SERVER_PORT", "")), environ.get("wsgi.url_scheme", "http")
        default = port in ("", "80") if scheme == "http" else port in ("", "443")
        headers["host"] = environ["SERVER_NAME"] if default else f"{environ['SERVER_NAME']}:{port}"
    return headers


GUNICORN = {
    "REQUEST_METHOD": "POST", "PATH_INFO": "/_tether/heartbeat", "QUERY_STRING": "v=1", "RAW_URI": "/_tether/heartbeat",
    "SERVER_NAME": "0.0.0.0", "SERVER_PORT": "8000", "SERVER_PROTOCOL": "HTTP/1.1", "REMOTE_ADDR": "192.0.2.1",
    "wsgi.url_scheme": "http", "HTTP_HOST": "example.org", "HTTP_COOKIE": "a=1, tether=tok",
    "HTTP_ORIGIN": "http://example.org", "HTTP_SEC_FETCH_SITE": "same-origin", "HTTP_SEC_FETCH_MODE": "cors",
    "HTTP_USER_AGENT": "café", "HTTP_ACCEPT": "*/*", "CONTENT_TYPE": "application/json", "CONTENT_LENGTH": "2",
    "HTTP_TETHER_PASSIVE": "1", "HTTP_IF_NONE_MATCH": '"v"',
}
ENVIRONS = {
    "gunicorn": GUNICORN,
    "no Host: SERVER_NAME and a port": {k: v for k, v in GUNICORN.items() if k != "HTTP_HOST"},
    "no Host: the default port": {"SERVER_NAME": "example.org", "SERVER_PORT": "80", "wsgi.url_scheme": "http"},
    "no Host: https on 443": {"SERVER_NAME": "example.org", "SERVER_PORT": "443", "wsgi.url_scheme": "https"},
    "no Host: https on 80": {"SERVER_NAME": "example.org", "SERVER_PORT": "80", "wsgi.url_scheme": "https"},
    "Content-Type twice": {"CONTENT_TYPE": "application/json", "HTTP_CONTENT_TYPE": "text/plain"},
    "an empty CONTENT_TYPE": {"CONTENT_TYPE": "", "HTTP_CONTENT_TYPE": "text/plain"},
    "empty values": {"HTTP_COOKIE": "", "HTTP_ORIGIN": "", "CONTENT_TYPE": ""},
    "nothing": {},
}


@pytest.mark.parametrize("environ", list(ENVIRONS.values()), ids=list(ENVIRONS))
def test_request_from_environ_reads_what_it_always_read_for_the_protocol(environ: dict[str, Any]) -> None:
    from tether._environ import request_from_environ
    from tether._protocol import HEADERS_READ

    request = request_from_environ(environ)
    assert request.headers == {k: v for k, v in _old_request_headers(environ).items() if k in HEADERS_READ}
    assert (request.method, request.path, request.scheme, request.query, request.client) == (
        environ.get("REQUEST_METHOD", "GET"), environ.get("PATH_INFO") or "/", environ.get("wsgi.url_scheme", "http"),
        environ.get("QUERY_STRING", ""), environ.get("REMOTE_ADDR"))
