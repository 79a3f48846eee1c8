"""A browser smoke test per framework: the real `tether demo --framework X` in a
subprocess, Debian's Chromium, real clocks and short timeouts (idle 8 s, warned 3 s
before). Heartbeats are counted where they happen, on the wire, from the browser's side:
POSTs to /_tether/heartbeat and their statuses."""

from __future__ import annotations

import subprocess
import sys
import time

import httpx
import pytest

from tests.browser.conftest import RECORDER, on_login
from tests.test_demo_and_cli import free_port, wait_until


@pytest.fixture(params=["starlette", "flask", "django", "starlette-cookie"])
def demo_site(request, tmp_path):
    """Each framework over SQLite, and Starlette once in signed-cookie mode (issue 9)."""
    framework, _, mode = request.param.partition("-")
    store = "cookie:" if mode == "cookie" else f"sqlite:///{tmp_path / 'smoke.db'}"
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "tether", "demo", "--framework", framework, "--port", str(port),
         "--store", store, "--idle", "8", "--warn", "3", "--absolute", "600"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    base = f"http://127.0.0.1:{port}"

    def up() -> bool:
        try:
            return httpx.get(base + "/login", timeout=1).status_code == 200
        except httpx.TransportError:
            return proc.poll() is not None

    wait_until(up)
    assert proc.poll() is None, proc.stdout.read()
    yield request.param, base
    proc.terminate()
    proc.wait(timeout=10)


def test_beat_after_activity_then_warning_then_expiry_to_login(browser, demo_site):
    framework, base = demo_site
    context = browser.new_context()
    context.add_init_script(RECORDER)
    page = context.new_page()
    beats: list[int] = []
    page.on("response", lambda r: beats.append(r.status) if r.url.endswith("/_tether/heartbeat") else None)
    try:
        page.goto(base + "/login?next=/form")
        page.fill("#username", "ada")
        page.click("button[type=submit]")
        page.wait_for_url(base + "/form")
        assert page.locator("script[data-tether]").count() == 1, framework

        # Activity: the client beats before the idle expiry (8 s), and the session lives on.
        started = time.monotonic()
        while not beats and time.monotonic() - started < 15:
            page.keyboard.press("Shift")
            page.wait_for_timeout(250)
        assert beats and set(beats) == {200}, (framework, beats)
        assert not on_login(page)

        # Then nothing: the warning, at least about warn_before ahead, then the login page.
        page.wait_for_function(
            "() => { const h = document.querySelector('[data-tether-ui]');"
            " const d = h && h.shadowRoot.querySelector('dialog'); return !!(d && d.open); }",
            timeout=15_000,
        )
        shown = time.monotonic()
        warnings = page.evaluate("() => __ev.filter(e => e[0] === 'warning').map(e => e[2].remaining)")
        assert warnings and warnings[0] >= 2.5, (framework, warnings)
        page.wait_for_url("**/login?next=*", timeout=15_000)
        assert time.monotonic() - shown >= 1.5 and on_login(page)
        assert "next=%2Fform" in page.url, page.url
        # The server agrees: this browser's session is over.
        status = page.evaluate("() => fetch('/_tether/status', {cache: 'no-store'}).then(r => r.status)")
        assert status == 401
    finally:
        context.close()
