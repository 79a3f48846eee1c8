"""``tether demo --store cookie:`` on each framework, as a person uses it: a random key
for the run (said at start-up), sign in on two browsers, the heartbeat re-signs the
cookie, the sessions page says it cannot list sessions, and "sign out everywhere" ends
the other browser's session too."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from typing import Iterator

import httpx
import pytest

from .test_demo import free_port


@pytest.fixture(params=["starlette", "flask", "django"])
def cookie_demo(request) -> Iterator[tuple[str, subprocess.Popen]]:
    pytest.importorskip(request.param)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "TETHER_SECRET_KEY"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "tether", "demo", "--framework", request.param, "--port", str(port),
         "--store", "cookie:", "--idle", "60", "--warn", "20"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            httpx.get(base + "/login", timeout=1)
            break
        except httpx.TransportError:
            time.sleep(0.05)
    assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
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
