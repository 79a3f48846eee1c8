"""Apps for real server processes (uvicorn, gunicorn), built from environment variables.

The servers import these by name, e.g. ``uvicorn --factory
tests.robustness.servers:starlette_demo`` or ``gunicorn
'tests.robustness.servers:flask_demo()'``, so the settings travel in the environment:

- ``TETHER_TEST_STORE``: the store URL (a SQLite file in the test's temp dir).
- ``TETHER_TEST_IDLE``: the idle timeout in seconds (default 600).
"""

from __future__ import annotations

import os
from typing import Any

from tether import Policy
from tether.demo.pages import DemoSettings
from tether.stores.urls import open_store


def _policy() -> Policy:
    idle = float(os.environ.get("TETHER_TEST_IDLE", "600"))
    return Policy(idle_timeout=idle, absolute_timeout=max(3600.0, idle * 2), warn_before=min(60.0, idle / 4))


def _settings(framework: str) -> DemoSettings:
    return DemoSettings(policy=_policy(), store_url=os.environ["TETHER_TEST_STORE"], framework=framework)


def starlette_demo() -> Any:
    """The Starlette demo (what ``tether demo`` serves), for uvicorn with a chosen parser."""
    from tether.demo.starlette_app import build

    return build(_settings("starlette"), sweep_interval=None)


def flask_demo() -> Any:
    """The Flask demo as a WSGI app, for gunicorn."""
    from tether.demo.flask_app import build

    return build(_settings("flask"), sweep_interval=None)


def conformance_asgi() -> Any:
    """The conformance app of tests/apps.py (JSON sign-in and data writes) on the real
    clock, for uvicorn."""
    from tether import system_clock

    from ..apps import starlette_app

    return starlette_app(open_store(os.environ["TETHER_TEST_STORE"]), system_clock, policy=_policy())


def conformance_wsgi() -> Any:
    """The same app on the bare WSGI middleware, for gunicorn."""
    from tether import system_clock

    from ..frameworks.wsgi_app import wsgi_app

    return wsgi_app(open_store(os.environ["TETHER_TEST_STORE"]), system_clock, policy=_policy())
