"""tether.contrib.prometheus: the counters of a real run, scraped over HTTP and parsed."""

from __future__ import annotations

from importlib.util import find_spec

import pytest

from .conftest import need

import httpx
from starlette.testclient import TestClient

from tether import MemoryStore, Policy
from tether.testing import FakeClock

from .apps import asgi_client

JSON_POST = {"Content-Type": "application/json", "Origin": "http://testserver"}


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    from prometheus_client.parser import text_string_to_metric_families

    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


@pytest.fixture
def scraped():
    """Sign in, beat, slide, refuse, log out, sweep: then scrape ``/metrics`` (ASGI)."""
    need(find_spec("prometheus_client") is not None, "prometheus_client (the [prometheus] extra)")
    from prometheus_client import CollectorRegistry

    from tether.contrib.prometheus import metrics_asgi_app, register

    registry = CollectorRegistry()
    metrics = register(registry=registry)
    clock = FakeClock()
    policy = Policy(idle_timeout=600, absolute_timeout=3600, warn_before=60)
    with asgi_client(MemoryStore(), clock, policy=policy, on_event=metrics) as client:
        client.post("/login", json={"user": "ada"})
        clock.advance(40)
        client.post("/_tether/heartbeat", content=b"{}", headers=JSON_POST)
        client.get("/_tether/heartbeat")  # 405
        client.post("/_tether/heartbeat", content=b"{}", headers={"Origin": "http://testserver"})  # 415
        client.post("/logout")
        client.cookies.clear()
        client.post("/login", json={"user": "bob"})
        clock.advance(601)
        assert client.portal.call(client.runtime.sweep) == 1
        text = TestClient(metrics_asgi_app(registry)).get("/metrics").text
    return registry, text


def test_the_scrape_counts_what_happened(scraped):
    _, text = scraped
    got = samples(text)
    assert got[("tether_sessions_started_total", ())] == 2
    assert got[("tether_heartbeats_total", (("result", "active"),))] == 1
    assert got[("tether_heartbeats_total", (("result", "ended"),))] == 0
    assert got[("tether_touches_total", ())] == 1
    assert got[("tether_sessions_ended_total", (("reason", "logout"),))] == 1
    assert got[("tether_sessions_ended_total", (("reason", "idle"),))] == 1
    assert got[("tether_sessions_ended_total", (("reason", "revoked"),))] == 0
    assert got[("tether_refusals_total", (("status", "405"),))] == 1
    assert got[("tether_refusals_total", (("status", "415"),))] == 1
    assert got[("tether_refusals_total", (("status", "403"),))] == 0
    assert got[("tether_store_errors_total", ())] == 0
    assert got[("tether_unavailable_total", ())] == 0
    assert got[("tether_sweeps_total", ())] == 1
    assert got[("tether_swept_total", ())] == 1
    assert got[("tether_sweep_seconds_total", ())] >= 0


def test_the_wsgi_helper_serves_the_same_registry(scraped):
    from tether.contrib.prometheus import metrics_wsgi_app

    registry, text = scraped
    with httpx.Client(transport=httpx.WSGITransport(app=metrics_wsgi_app(registry)), base_url="http://x") as client:
        response = client.get("/metrics")
    assert response.status_code == 200
    assert samples(response.text) == samples(text)
