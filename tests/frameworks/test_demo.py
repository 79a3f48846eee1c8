"""``tether demo --framework flask|django``: the same pages and routes as the Starlette
demo, served for real (a subprocess, as a person would run it)."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import time
from typing import Iterator

import httpx
import pytest

FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_demo(framework: str, store: str, env: dict[str, str] | None = None) -> tuple[str, subprocess.Popen]:
    """``tether demo`` in a subprocess, answering: (its base URL, the process)."""
    pytest.importorskip(framework)
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "tether", "demo", "--framework", framework, "--port", str(port),
         "--store", store, "--idle", "60", "--warn", "20"],
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
    return base, proc


@pytest.fixture(params=["starlette", "flask", "django"])
def demo(request, tmp_path) -> Iterator[str]:
    base, proc = start_demo(request.param, f"sqlite:///{tmp_path / 'demo.db'}")
    yield base
    proc.terminate()
    proc.wait(timeout=10)


def test_demo_pages_through_each_adapter(demo):
    origin = {"Origin": demo}
    with httpx.Client(base_url=demo) as laptop, httpx.Client(base_url=demo) as phone:
        assert laptop.get("/").status_code == 303
        page = laptop.get("/login")
        assert page.status_code == 200 and "content-security-policy" in page.headers and 'name="username"' in page.text
        assert laptop.post("/login", data={"username": "ada"}, headers={"Origin": "https://evil.example"}).status_code == 403
        away = laptop.post("/login", data={"username": "ada", "next": "/\\evil.example"}, headers=origin)
        assert away.status_code == 303 and away.headers["location"] == "/"
        signed = laptop.post("/login", data={"username": "ada", "next": "/form"}, headers=origin)
        assert signed.status_code == 303 and signed.headers["location"] == "/form"
        home = laptop.get("/")
        assert "Hello, ada" in home.text and "/_tether/tether.js?v=" in home.text
        assert laptop.get("/static/demo.css").status_code == 200
        beat = laptop.post("/_tether/heartbeat", json={}, headers=origin)
        assert beat.status_code == 200 and beat.json()["idle_timeout"] == 60
        saved = laptop.post("/form", data={"title": "Q3"}, headers=origin)
        assert saved.status_code == 303 and "Q3" in laptop.get(saved.headers["location"]).text
        phone.post("/login", data={"username": "ada"}, headers=origin)
        rows = re.findall(r'<tr( class="current")?>.*?name="key" value="([0-9a-f]{64})"', laptop.get("/sessions").text.split("<tbody>")[1], re.S)
        other = next(key for current, key in rows if not current)
        assert laptop.post("/sessions/revoke", data={"key": other}, headers=origin).status_code == 200
        assert phone.get("/_tether/status").json() == {"state": "ended", "reason": "revoked"}
        assert laptop.post("/sessions/revoke", data={"key": "0" * 64}, headers=origin).status_code == 404
        # "Sign out everywhere else": the phone ends (revoked), the laptop stays.
        phone.cookies.clear()
        phone.post("/login", data={"username": "ada"}, headers={**origin, "User-Agent": FIREFOX})
        listing = laptop.get("/sessions").text
        assert "Firefox on Linux" in listing and "(this browser)" in listing and "Sign out everywhere else" in listing
        assert laptop.post("/sessions/others", headers={"Origin": "https://evil.example"}).status_code == 403
        assert phone.get("/_tether/status").status_code == 200
        others = laptop.post("/sessions/others", headers=origin)
        assert others.status_code == 303 and "Signed out everywhere else" in laptop.get(others.headers["location"]).text
        assert phone.get("/_tether/status").json() == {"state": "ended", "reason": "revoked"}
        assert laptop.get("/_tether/status").status_code == 200
        out = laptop.post("/logout", headers=origin)
        assert out.status_code == 303 and laptop.get("/_tether/status").status_code == 401
