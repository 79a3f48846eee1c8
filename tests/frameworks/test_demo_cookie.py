"""``tether demo --store cookie:`` on each framework, as a person uses it: a random key
for the run (said at start-up), sign in on two browsers, the heartbeat re-signs the
cookie, the sessions page says it cannot list sessions, and "sign out everywhere" ends
the other browser's session too."""

from __future__ import annotations

import os
import subprocess
from typing import Iterator

import httpx
import pytest

from .test_demo import start_demo


@pytest.fixture(params=["starlette", "flask", "django"])
def cookie_demo(request) -> Iterator[tuple[str, subprocess.Popen]]:
    env = {k: v for k, v in os.environ.items() if k != "TETHER_SECRET_KEY"}
    base, proc = start_demo(request.param, "cookie:", env)
    yield base, proc
    proc.terminate()
    out, _ = proc.communicate(timeout=10)
    assert "a random key for this run" in out


def test_cookie_demo_signs_in_lists_nothing_and_signs_out_everywhere(cookie_demo):
    base, _ = cookie_demo
    origin = {"Origin": base}
    with httpx.Client(base_url=base) as laptop, httpx.Client(base_url=base) as phone:
        for browser in (laptop, phone):
            signed = browser.post("/login", data={"username": "ada"}, headers=origin)
            assert signed.status_code == 303 and "Hello, ada" in browser.get("/").text
        beat = laptop.post("/_tether/heartbeat", json={}, headers=origin)
        assert beat.status_code == 200 and beat.json()["idle_timeout"] == 60
        page = laptop.get("/sessions")
        assert page.status_code == 200 and "cannot list" in page.text and "<table" not in page.text
        out = laptop.post("/sessions/revoke", data={"everywhere": "1"}, headers=origin)
        assert out.status_code == 303 and out.headers["location"] == "/login"
        assert laptop.get("/_tether/status").status_code == 401
        ended = phone.get("/_tether/status")
        assert ended.status_code == 401 and ended.json()["reason"] == "revoked"
