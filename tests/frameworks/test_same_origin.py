"""The same-origin check for an app's own forms, on every framework, through the public
helpers only; and Django's ``safe_next`` on the shared redirect table.

Each app has one guarded form (``POST /form``, which records that it ran) and a trusted
sibling origin; the same requests must get the same verdicts everywhere.
"""

from __future__ import annotations

from typing import Any, Callable

import pytest

from tether import MemoryStore
from tether.testing import FakeClock

from ..test_safety import ALLOWED, HOST, SAFE_NEXT_CASES

TRUSTED = "http://sso.testserver"
OWN = "http://testserver"

#: (headers of a request, the method, whether the form may run)
ORIGIN_CASES = [
    ({"Origin": OWN}, "POST", True),
    ({"Origin": OWN, "Sec-Fetch-Site": "same-origin"}, "POST", True),
    ({"Sec-Fetch-Site": "same-origin"}, "POST", True),
    ({"Origin": TRUSTED, "Sec-Fetch-Site": "same-site"}, "POST", True),
    ({"Origin": "http://evil.example"}, "POST", False),
    ({"Origin": "https://testserver"}, "POST", False),  # another scheme is another origin
    ({"Origin": "null"}, "POST", False),
    ({"Sec-Fetch-Site": "cross-site"}, "POST", False),
    ({"Origin": OWN, "Sec-Fetch-Site": "cross-site"}, "POST", False),
    ({"Origin": "http://blog.testserver", "Sec-Fetch-Site": "same-site"}, "POST", False),
    ({"Sec-Fetch-Site": "same-site"}, "POST", False),
    ({}, "POST", False),  # neither header: refused on an unsafe method
    ({"Origin": "http://evil.example"}, "PUT", False),
    ({"Origin": "http://evil.example"}, "DELETE", False),
    ({}, "GET", True),  # safe methods pass: a link from anywhere must work
    ({"Sec-Fetch-Site": "cross-site"}, "GET", True),
]

Client = Callable[[str, dict[str, str]], Any]  # (method, headers) -> response


def starlette_client(ran: list[str]) -> Client:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route
    from starlette.testclient import TestClient

    from tether import TetherMiddleware
    from tether.contrib.starlette import require_same_origin

    async def form(request: Request) -> JSONResponse:
        require_same_origin(request)
        ran.append("ran")
        return JSONResponse({"ok": True})

    app = Starlette(routes=[Route("/form", form, methods=["GET", "POST", "PUT", "DELETE"])])
    wrapped = TetherMiddleware(app, store=MemoryStore(), trusted_origins=[TRUSTED], sweep_interval=None)
    client = TestClient(wrapped)
    return lambda method, headers: client.request(method, "/form", headers=headers)


def fastapi_client(ran: list[str]) -> Client:
    from fastapi import Depends, FastAPI
    from fastapi.testclient import TestClient

    from tether import TetherMiddleware
    from tether.contrib.starlette import require_same_origin

    app = FastAPI()
    app.add_middleware(TetherMiddleware, store=MemoryStore(), trusted_origins=[TRUSTED], sweep_interval=None)

    @app.api_route("/form", methods=["GET", "POST", "PUT", "DELETE"], dependencies=[Depends(require_same_origin)])
    def form() -> dict[str, bool]:
        ran.append("ran")
        return {"ok": True}

    client = TestClient(app)
    return lambda method, headers: client.request(method, "/form", headers=headers)


def flask_client(ran: list[str]) -> Client:
    from flask import Flask

    from tether.contrib.flask import Tether, require_same_origin

    app = Flask(__name__)
    app.before_request(require_same_origin)
    Tether(app, store=MemoryStore(), trusted_origins=[TRUSTED], sweep_interval=None)

    @app.route("/form", methods=["GET", "POST", "PUT", "DELETE"])
    def form() -> dict[str, bool]:
        ran.append("ran")
        return {"ok": True}

    client = app.test_client()
    return lambda method, headers: client.open("/form", method=method, headers=headers, base_url=OWN)


def django_client(ran: list[str], view: str = "/form") -> Client:
    pytest.importorskip("django")
    from .django_setup import setup

    setup()
    from django.test import Client as DjangoClient
    from django.test.utils import override_settings

    from . import safety_django_urls

    safety_django_urls.RAN = ran
    tether = {"store": MemoryStore(), "clock": FakeClock(), "trusted_origins": [TRUSTED], "sweep_interval": None}
    client = DjangoClient()

    def call(method: str, headers: dict[str, str]) -> Any:
        with override_settings(TETHER=tether, ROOT_URLCONF="tests.frameworks.safety_django_urls"):
            return client.generic(method, view, headers=headers)

    return call


FRAMEWORKS: dict[str, Callable[[list[str]], Client]] = {
    "starlette": starlette_client,
    "fastapi": fastapi_client,
    "flask": flask_client,
    "django": django_client,
    "django-async-view": lambda ran: django_client(ran, "/async-form"),
}


@pytest.fixture(params=sorted(FRAMEWORKS))
def framework(request: pytest.FixtureRequest) -> tuple[str, list[str], Client]:
    ran: list[str] = []
    return request.param, ran, FRAMEWORKS[request.param](ran)


@pytest.mark.parametrize(("headers", "method", "allowed"), ORIGIN_CASES)
def test_own_forms_refuse_other_sites(framework: tuple[str, list[str], Client], headers: dict[str, str], method: str, allowed: bool) -> None:
    name, ran, call = framework
    response = call(method, headers)
    if allowed:
        assert response.status_code == 200
        assert ran == ["ran"]
    else:
        assert response.status_code == 403
        assert ran == []
        assert response.headers["cache-control"] == "no-store"
        if name != "starlette":  # Starlette's own handler answers HTTPException in plain text
            assert "application/json" in response.headers["content-type"]


@pytest.mark.parametrize(("value", "expected"), SAFE_NEXT_CASES)
def test_django_safe_next_on_the_shared_table(value: object, expected: str) -> None:
    pytest.importorskip("django")
    from .django_setup import setup

    setup()
    from django.test import RequestFactory
    from django.test.utils import override_settings

    from tether.contrib.django.safety import safe_next

    with override_settings(ALLOWED_HOSTS=[HOST]):
        request = RequestFactory().get("/login", HTTP_HOST=HOST)
        assert safe_next(request, value, ALLOWED) == expected  # type: ignore[arg-type]


def test_django_safe_next_wants_https_on_https() -> None:
    pytest.importorskip("django")
    from .django_setup import setup

    setup()
    from django.test import RequestFactory
    from django.test.utils import override_settings

    from tether.contrib.django.safety import safe_next

    with override_settings(ALLOWED_HOSTS=[HOST]):
        request = RequestFactory().get("/login", HTTP_HOST=HOST, secure=True)
        assert safe_next(request, "http://accounts.example/p", ALLOWED) == "/"
        assert safe_next(request, "https://accounts.example/p", ALLOWED) == "https://accounts.example/p"
