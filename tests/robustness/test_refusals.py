"""Refusals are not activity (DESIGN §4): a refused request slides nothing.

Every refusal path of the endpoints (403 cross-site or neither header, 405, 413, 415,
400) and unsafe-method requests to the app's own pages that fail the same-origin rule
(whatever the app answers them: the test app's 404/405, the demo's own 403) must leave
``idle_remaining`` where it was. It is read with the passive status endpoint after moving
the FakeClock past the touch granularity, so that any request counted as activity would
show as a slid expiry. On every adapter; the demos on the Starlette, Flask and Django
adapters.
"""

from __future__ import annotations

import json
import sys
from types import ModuleType
from typing import Any, Iterator

import pytest

from tether.demo.pages import DemoSettings
from tether.testing import FakeClock

from .conftest import JSON_POST, ORIGIN, POLICY, Site

ELAPSED = 100.0  # well past the 30 s granularity: activity would slide idle back to 600
CROSS = {"Origin": "http://evil.example", "Sec-Fetch-Site": "cross-site"}
JSON = {"Content-Type": "application/json"}

# (method, path, headers, body, the refusal's status)
ENDPOINT_REFUSALS = {
    "heartbeat-cross-site": ("POST", "/_tether/heartbeat", {**JSON, **CROSS}, b"{}", 403),
    "heartbeat-foreign-origin": ("POST", "/_tether/heartbeat", {**JSON, "Origin": "http://evil.example"}, b"{}", 403),
    "heartbeat-same-site": ("POST", "/_tether/heartbeat", {**JSON, "Sec-Fetch-Site": "same-site"}, b"{}", 403),
    "heartbeat-neither-header": ("POST", "/_tether/heartbeat", JSON, b"{}", 403),
    "end-cross-site": ("POST", "/_tether/end", {**JSON, **CROSS}, b"{}", 403),
    "end-neither-header": ("POST", "/_tether/end", JSON, b"{}", 403),
    "heartbeat-get": ("GET", "/_tether/heartbeat", {}, b"", 405),
    "end-get": ("GET", "/_tether/end", {}, b"", 405),
    "heartbeat-put": ("PUT", "/_tether/heartbeat", JSON_POST, b"{}", 405),
    "status-post": ("POST", "/_tether/status", JSON_POST, b"{}", 405),
    "heartbeat-too-large": ("POST", "/_tether/heartbeat", JSON_POST, json.dumps({"pad": "x" * 10_000}).encode(), 413),
    "heartbeat-text-plain": ("POST", "/_tether/heartbeat", {**ORIGIN, "Content-Type": "text/plain"}, b"{}", 415),
    "end-form-encoded": ("POST", "/_tether/end", {**ORIGIN, "Content-Type": "application/x-www-form-urlencoded"}, b"a=1", 415),
    "heartbeat-broken-json": ("POST", "/_tether/heartbeat", JSON_POST, b'{"a": }', 400),
    "end-broken-json": ("POST", "/_tether/end", JSON_POST, b"{", 400),
    "unknown-endpoint": ("POST", "/_tether/nope", JSON_POST, b"{}", 404),
}

# Unsafe methods on the test app's pages that fail the same-origin rule; the app itself
# answers them (404 or 405: no such route for POST), and tether must not count them.
PAGE_REFUSALS = {
    "post-cross-site": ("POST", "/whoami", CROSS),
    "post-foreign-origin": ("POST", "/nowhere", {"Origin": "http://evil.example"}),
    "post-neither-header": ("POST", "/nowhere", {}),
    "delete-cross-site": ("DELETE", "/whoami", CROSS),
    "put-neither-header": ("PUT", "/whoami", {}),
}


def signed_in_and_idle(site: Site) -> float:
    site.login()
    site.clock.advance(ELAPSED)
    before = site.idle_remaining()
    assert before == POLICY.idle_timeout - ELAPSED
    return before


@pytest.mark.parametrize("case", sorted(ENDPOINT_REFUSALS))
def test_endpoint_refusals_are_not_activity(site, case):
    method, path, headers, body, status = ENDPOINT_REFUSALS[case]
    before = signed_in_and_idle(site)
    response = site.client.request(method, path, content=body, headers=headers)
    assert response.status_code == status, response.text
    assert response.headers["cache-control"] == "no-store" and "error" in response.json()
    assert site.idle_remaining() == before


@pytest.mark.parametrize("case", sorted(PAGE_REFUSALS))
def test_cross_site_requests_to_app_pages_are_not_activity(site, case):
    method, path, headers = PAGE_REFUSALS[case]
    before = signed_in_and_idle(site)
    response = site.client.request(method, path, headers=headers)
    assert response.status_code in (403, 404, 405), response.text
    assert site.idle_remaining() == before


def test_same_origin_requests_are_activity(site):
    """The control: what the rule accepts does slide, so the tests above can fail."""
    signed_in_and_idle(site)
    assert site.client.get("/whoami").status_code == 200
    assert site.idle_remaining() == POLICY.idle_timeout
    site.clock.advance(ELAPSED)
    site.client.request("POST", "/nowhere", headers=ORIGIN)
    assert site.idle_remaining() == POLICY.idle_timeout


# -- the demo's own refusals ----------------------------------------------------------------

DEMO_SETTINGS = DemoSettings(policy=POLICY, store_url="memory://", framework="test")
DEMO_REFUSALS = {
    "logout-cross-site": ("/logout", CROSS, {}),
    "logout-neither-header": ("/logout", {}, {}),
    "form-cross-site": ("/form", CROSS, {"title": "Q3"}),
    "revoke-cross-site": ("/sessions/revoke", CROSS, {"key": "0" * 64}),
    "login-foreign-origin": ("/login", {"Origin": "http://evil.example"}, {"username": "mallory"}),
}


def starlette_demo(clock: FakeClock) -> Any:
    from starlette.testclient import TestClient

    from tether.demo.starlette_app import build

    app = build(DEMO_SETTINGS, clock=clock, sweep_interval=None)
    return TestClient(app, base_url="http://testserver", follow_redirects=False)


def flask_demo(clock: FakeClock) -> Any:
    from tether.demo.flask_app import build

    from ..frameworks.transport import wsgi_test_client

    return wsgi_test_client(build(DEMO_SETTINGS, clock=clock, sweep_interval=None))


DJANGO_DEMO_URLS = "tests.robustness._django_demo_urls"


def django_demo(clock: FakeClock) -> Any:
    """The Django demo's routes in this test process's Django (configured once, by
    tests/frameworks/django_setup), with the demo's urls as ``ROOT_URLCONF``."""
    from django.core.wsgi import get_wsgi_application

    from tether.demo.django_app import routes
    from tether.stores import MemoryStore

    from ..frameworks.django_app import DjangoClient
    from ..frameworks.django_setup import setup
    from ..frameworks.transport import wsgi_test_client

    setup()
    if DJANGO_DEMO_URLS not in sys.modules:
        urls = sys.modules[DJANGO_DEMO_URLS] = ModuleType(DJANGO_DEMO_URLS)
        urls.urlpatterns = routes(DEMO_SETTINGS)  # type: ignore[attr-defined]

    class DemoClient(DjangoClient):
        def __enter__(self) -> DemoClient:
            from django.test import override_settings

            self._urls = override_settings(ROOT_URLCONF=DJANGO_DEMO_URLS)
            self._urls.enable()
            return super().__enter__()

        def __exit__(self, *exc: Any) -> None:
            super().__exit__(*exc)
            self._urls.disable()

    client = wsgi_test_client(get_wsgi_application(), DemoClient)
    client.tether = {"store": MemoryStore(), "clock": clock, "policy": POLICY, "sweep_interval": None}
    return client


@pytest.fixture(params=["starlette", "flask", "django"])
def demo(request: pytest.FixtureRequest, clock: FakeClock) -> Iterator[Site]:
    pytest.importorskip(request.param)
    with globals()[f"{request.param}_demo"](clock) as client:
        signed = client.post("/login", data={"username": "ada"}, headers=ORIGIN)
        assert signed.status_code == 303 and client.cookies.get("tether"), signed.text
        yield Site(request.param, client, None, clock)


@pytest.mark.parametrize("case", sorted(DEMO_REFUSALS))
def test_demo_refusals_are_not_activity(demo, case):
    path, headers, form = DEMO_REFUSALS[case]
    demo.clock.advance(ELAPSED)
    before = demo.idle_remaining()
    assert before == POLICY.idle_timeout - ELAPSED
    response = demo.client.post(path, data=form, headers=headers)
    assert response.status_code == 403, response.text
    assert demo.idle_remaining() == before
    assert demo.client.get("/").status_code == 200  # still signed in: nothing was done
