"""The Flask extension beyond the shared suite: config, Flask-Login, the Jinja helper."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask, jsonify, render_template_string, session

from tether import ConfigurationError, MemoryStore, hash_token
from tether.contrib.flask import Tether, current_session
from tether.testing import FakeClock

from .transport import wsgi_test_client

flask_login = pytest.importorskip("flask_login")


def make_app(**config: Any) -> tuple[Flask, MemoryStore]:
    store = MemoryStore()
    app = Flask(__name__)
    app.config.update(SECRET_KEY="test", TETHER_STORE=store, TETHER_SWEEP_INTERVAL=None, **config)
    return app, store


def test_config_is_read_once_and_typos_are_named() -> None:
    app, _ = make_app(TETHER_IDLE_TIMEOUT=300, TETHER_WARN_BEFORE=30, TETHER_PREFIX="/keepalive")
    tether = Tether(app)
    config = app.extensions["tether"].config
    assert config.policy.idle_timeout == 300 and config.prefix == "/keepalive"
    assert tether.options == {}
    app2, _ = make_app(TETHER_IDLE_TIMOUT=300)
    with pytest.raises(ConfigurationError, match="TETHER_IDLE_TIMOUT"):
        Tether(app2)


def test_init_app_and_keyword_overrides() -> None:
    app, store = make_app()
    ext = Tether(idle_timeout=900, warn_before=60)
    ext.init_app(app)
    assert app.extensions["tether"].config.policy.idle_timeout == 900

    @app.get("/")
    def home() -> Any:
        session["seen"] = True
        return jsonify(dict(session))

    with wsgi_test_client(app) as client:
        response = client.get("/")
        assert response.json() == {"seen": True}
        assert "Cookie" in response.headers["vary"]
        assert store.count() == 1


def test_session_outside_the_middleware_fails_readably() -> None:
    app, _ = make_app()
    Tether(app)
    with app.test_request_context("/"):
        assert dict(session) == {}
        with pytest.raises(RuntimeError, match="tether did not see this request"):
            session["x"] = 1


def test_flask_login_rotates_on_login_and_ends_on_logout() -> None:
    app, store = make_app(TETHER_CLOCK=FakeClock())
    manager = flask_login.LoginManager(app)

    class User(flask_login.UserMixin):
        def __init__(self, name: str) -> None:
            self.id = name

    manager.user_loader(User)
    Tether(app)

    @app.post("/login/<name>")
    def login(name: str) -> Any:
        flask_login.login_user(User(name), remember=True)
        return jsonify(ok=True)

    @app.post("/logout")
    def logout() -> Any:
        flask_login.logout_user()
        return jsonify(ok=True)

    @app.get("/me")
    def me() -> Any:
        user = flask_login.current_user
        return jsonify(user=user.get_id() if user.is_authenticated else None, tether=current_session().user)

    with wsgi_test_client(app) as client:
        client.post("/login/ada")
        first = client.cookies.get("tether")
        assert client.get("/me").json() == {"user": "ada", "tether": "ada"}
        assert store.load(hash_token(first)).meta.user == "ada"
        client.post("/login/ada")  # signing in again: a new token, the old one dies
        second = client.cookies.get("tether")
        assert second != first and store.load(hash_token(first)) is None
        response = client.post("/logout")
        cleared = {c.split("=", 1)[0] for c in response.headers.get_list("set-cookie") if "Max-Age=0" in c or "1970" in c}
        assert cleared == {"tether", "remember_token"}  # Flask-Login's remember cookie goes too
        assert store.count() == 0
        assert client.get("/me").json() == {"user": None, "tether": None}
        # "Remember me" restoring a user (the tether session ended) is a sign-in too.
        client.post("/login/bob")
        client.cookies.delete("tether")
        assert client.get("/me").json() == {"user": "bob", "tether": "bob"}
        assert store.load(hash_token(client.cookies.get("tether"))).meta.user == "bob"
        # Switching person without signing out: carol is signed in (Flask-Login's own keys
        # survive), bob's session ends and nothing of his is carried over.
        bobs = client.cookies.get("tether")
        client.post("/login/carol")
        assert client.get("/me").json() == {"user": "carol", "tether": "carol"}
        assert store.load(hash_token(bobs)) is None


def test_tether_script_global() -> None:
    app, _ = make_app()
    Tether(app)

    @app.get("/")
    def page() -> Any:
        return render_template_string("<body>{{ tether_script() }}</body>")

    with wsgi_test_client(app) as client:
        html = client.get("/").text
        try:
            import tether._script  # noqa: F401
        except ImportError:
            assert html == "<body></body>"
        else:
            assert "<script" in html and "/_tether/tether.js" in html
