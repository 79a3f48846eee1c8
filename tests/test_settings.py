"""One configuration vocabulary for every adapter (issue 10 item 2), checked at construction."""

from __future__ import annotations

from typing import Any

import pytest

from tether import AsyncMemoryStore, AsyncSQLiteStore, Config, ConfigurationError, MemoryStore, Policy, SQLiteStore
from tether.asgi import TetherMiddleware as ASGIMiddleware
from tether.wsgi import TetherMiddleware as WSGIMiddleware


async def asgi_app(scope: Any, receive: Any, send: Any) -> None:
    """Never called: these tests only construct middlewares."""


def wsgi_app(environ: Any, start_response: Any) -> list[bytes]:
    return []


MIDDLEWARES = {"asgi": (ASGIMiddleware, asgi_app), "wsgi": (WSGIMiddleware, wsgi_app)}


@pytest.fixture(params=sorted(MIDDLEWARES))
def build(request: pytest.FixtureRequest) -> Any:
    cls, app = MIDDLEWARES[request.param]
    return lambda **settings: cls(app, **settings)


def test_policy_fields_are_settings(build: Any) -> None:
    middleware = build(idle_timeout=60, warn_before=20, store=MemoryStore(), sweep_interval=None)
    assert middleware.config.policy == Policy(idle_timeout=60, warn_before=20)


def test_config_fields_and_a_policy_are_settings(build: Any) -> None:
    policy = Policy(idle_timeout=600)
    middleware = build(policy=policy, prefix="/_s", login_url="/signin", store="memory://")
    assert (middleware.config.policy, middleware.config.prefix, middleware.config.login_url) == (policy, "/_s", "/signin")


@pytest.mark.parametrize(
    "adapter,url,expected",
    [
        ("asgi", "memory://", AsyncMemoryStore),
        ("wsgi", "memory://", MemoryStore),
        ("asgi", "sqlite:///{tmp}/s.db", AsyncSQLiteStore),
        ("wsgi", "sqlite:///{tmp}/s.db", SQLiteStore),
    ],
)
def test_a_store_url_opens_the_adapters_twin(adapter: str, url: str, expected: type, tmp_path: Any) -> None:
    cls, app = MIDDLEWARES[adapter]
    middleware = cls(app, store=url.format(tmp=str(tmp_path).lstrip("/")), sweep_interval=None)
    assert isinstance(middleware.store, expected)


def test_an_asgi_store_url_serves_requests(tmp_path: Any) -> None:
    """The fault of issue 10: a URL was accepted at start-up and failed on the first request."""
    from starlette.testclient import TestClient

    from tether import system_clock

    from .apps import starlette_app

    middleware = starlette_app(f"sqlite:///{tmp_path}/s.db", system_clock)  # absolute: sqlite:////tmp/...
    with TestClient(middleware, base_url="http://testserver") as client:
        assert client.post("/login", json={"user": "ada"}).status_code == 200
        headers = {"Content-Type": "application/json", "Origin": "http://testserver"}
        assert client.post("/_tether/heartbeat", content=b"{}", headers=headers).status_code == 200
    assert (tmp_path / "s.db").exists()


def test_an_unknown_key_names_itself_and_the_accepted_ones(build: Any) -> None:
    with pytest.raises(ConfigurationError) as caught:
        build(idle_timeuot=60)
    message = str(caught.value)
    assert "idle_timeuot" in message
    for accepted in ("idle_timeout", "store", "sweep_interval", "prefix", "policy"):
        assert accepted in message


@pytest.mark.parametrize(
    "settings,key",
    [
        ({"idle_timeout": -1}, "idle_timeout"),
        ({"idle_timeout": "60"}, "idle_timeout"),
        ({"sweep_interval": 0}, "sweep_interval"),
        ({"store": 42}, "store"),
        ({"store": "nosuch://x"}, "nosuch://x"),
        ({"prefix": "no-slash"}, "prefix"),
        ({"trusted_origins": "https://a.example"}, "trusted_origins"),
        # Wrong types that used to pass and go wrong later (a stranger's test, 2026-12):
        ({"secure": "false"}, "secure"),  # truthy: a Secure cookie on http
        ({"record_ip": "no"}, "record_ip"),
        ({"login_url": 5}, "login_url"),
        ({"cookie_path": "app"}, "cookie_path"),
        ({"max_body": "4096"}, "max_body"),  # a TypeError (500) on every heartbeat
        ({"max_body": 0}, "max_body"),  # every heartbeat a 413
        ({"retry_after": -1}, "retry_after"),
        ({"retry_after": "5"}, "retry_after"),
        ({"passive_paths": ["api"]}, "passive path 'api' must start with '/'"),  # never matches a path
        ({"trusted_origins": ["https://a.example/app"]}, "https://a.example/app"),  # never an Origin
        ({"policy_for": "admins"}, "policy_for"),
        ({"clock": 5}, "clock"),
        ({"prefix": 5}, "prefix"),
        ({"same_site": None}, "same_site"),
    ],
)
def test_a_bad_value_names_its_key_at_construction(build: Any, settings: dict[str, Any], key: str) -> None:
    with pytest.raises(ConfigurationError, match=key):
        build(**{"store": MemoryStore(), **settings})


def test_a_ready_config_takes_only_the_store_and_sweep_interval_beside_it(build: Any) -> None:
    config = Config(policy=Policy(idle_timeout=600))
    assert build(config=config, store=MemoryStore(), sweep_interval=None).config is config
    with pytest.raises(ConfigurationError, match="idle_timeout"):
        build(config=config, idle_timeout=60)


def test_every_adapter_has_the_same_defaults(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # the default store is a SQLite file in the working directory
    asgi, wsgi = ASGIMiddleware(asgi_app), WSGIMiddleware(wsgi_app)
    assert asgi.config == wsgi.config == Config()
    assert asgi.sweep_interval == wsgi.sweep_interval == 60.0
    assert isinstance(asgi.store, AsyncSQLiteStore) and isinstance(wsgi.store, SQLiteStore)
    flask = pytest.importorskip("flask")
    from tether.contrib.flask import Tether

    app = flask.Flask(__name__)
    Tether(app)
    middleware = app.extensions["tether"]
    assert middleware.config == Config() and middleware.sweep_interval == 60.0
    assert isinstance(middleware.store, SQLiteStore)


def test_flask_names_a_bad_value_as_the_config_key() -> None:
    """A Flask app writes TETHER_IDLE_TIMEOUT; the error says that, not Policy's field name."""
    flask = pytest.importorskip("flask")
    from tether.contrib.flask import Tether

    for config, named in (
        ({"TETHER_IDLE_TIMEOUT": "20m"}, "TETHER_IDLE_TIMEOUT must be a number"),
        ({"TETHER_IDLE_TIMEOUT": 100}, "TETHER_WARN_BEFORE (120 s) must be positive and shorter than TETHER_IDLE_TIMEOUT"),
        ({"TETHER_MAX_BODY": "4096"}, "TETHER_MAX_BODY must be"),
    ):
        app = flask.Flask(__name__)
        app.config.update(TETHER_STORE="memory://", **config)
        with pytest.raises(ConfigurationError) as caught:
            Tether(app)
        assert named in str(caught.value)


def test_middleware_errors_keep_the_field_names(build: Any) -> None:
    with pytest.raises(ConfigurationError, match=r"^warn_before \(120 s\) must be positive and shorter than idle_timeout"):
        build(idle_timeout=100, store=MemoryStore())
