"""The conformance app (tests/apps.py routes) on Flask with ``Tether(app)``."""

from __future__ import annotations

from typing import Any

from flask import Flask, jsonify, request, session

from tether.contrib.flask import Tether, current_session, sign_in, sign_out

from . import PASSIVE
from .transport import wsgi_test_client


def flask_app(store: Any, clock: Any, **config: Any) -> Flask:
    app = Flask(__name__)
    app.config.update(TETHER_STORE=store, TETHER_CLOCK=clock, TETHER_SWEEP_INTERVAL=None, TETHER_PASSIVE_PATHS=PASSIVE)
    app.config.update({f"TETHER_{key.upper()}": value for key, value in config.items()})

    @app.get("/whoami")
    @app.get("/api/poll/whoami")
    def whoami() -> Any:
        handle = current_session()
        response = jsonify(user=handle.user, data=dict(session), ended=handle.ended_reason)
        response.vary.add("Accept-Language")
        return response

    @app.post("/login")
    def login() -> Any:
        sign_in(request.get_json()["user"])
        return jsonify(ok=True)

    @app.post("/logout")
    def logout() -> Any:
        sign_out()
        session.update(request.get_json(silent=True) or {})
        return jsonify(ok=True)

    @app.post("/end-others")
    def end_others() -> Any:
        current_session().end_other_sessions()
        return jsonify(ok=True)

    @app.post("/data")
    def data() -> Any:
        session.update(request.get_json())
        return jsonify(ok=True)

    Tether(app)
    return app


def flask_client(store: Any, clock: Any, **config: Any) -> Any:
    app = flask_app(store, clock, **config)
    client = wsgi_test_client(app)
    client.runtime = app.extensions["tether"]
    return client
