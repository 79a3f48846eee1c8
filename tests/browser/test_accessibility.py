"""Issue 10 item 5: axe-core finds nothing on any demo page or on the open warning, in the
light and the dark colour scheme, and the dialog fits a 360 px wide screen.

axe-core is the npm package pinned in package.json (``npm ci``), injected with
``page.add_script_tag``. The demo's CSP (``script-src 'self'``) would block an injected
script, so these contexts bypass CSP; tests/browser/test_scenarios.py checks the CSP.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from tests.browser.conftest import IDLE, dialog_open
from tests.conftest import need

AXE = Path(__file__).resolve().parents[2] / "node_modules" / "axe-core" / "axe.min.js"
SCHEMES = ["light", "dark"]

# WCAG 2.0-2.2 A and AA, plus axe's best practices; the whole page, shadow roots included.
START_AXE = """() => {
  window.__axe = null;
  axe.run(document, {
    runOnly: { type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa", "best-practice"] },
  }).then((result) => {
    window.__axe = result.violations.map((v) => [v.id, v.nodes.map((n) => n.target.join(" ")).join(", ")]);
  }, (error) => { window.__axe = ["axe failed", String(error)]; });
}"""


def violations(w, page) -> list:
    """axe's violations on the page. axe waits on timers, and the page's clock is
    Playwright's paused one, so the browser's clock (only) moves in small steps until
    axe answers; a second or two against a 60 s idle timeout changes nothing."""
    page.add_script_tag(path=str(AXE))
    page.evaluate(START_AXE)
    deadline = time.monotonic() + 60
    while (result := page.evaluate("() => window.__axe")) is None:
        assert time.monotonic() < deadline, "axe did not finish"
        w.ctx.clock.run_for(50)
    return result


@pytest.fixture
def axe_world(make_world):
    need(AXE.is_file(), "axe-core (npm ci)")

    def make(scheme: str, **options):
        return make_world(color_scheme=scheme, bypass_csp=True, **options)

    return make


@pytest.mark.parametrize("scheme", SCHEMES)
def test_every_demo_page_has_no_axe_violations(axe_world, scheme):
    w = axe_world(scheme)
    page = w.ctx.new_page()
    page.goto(w.url + "/login")
    assert violations(w, page) == [], "/login"
    w.login(page, "ada", "/")
    for path in ["/", "/form", "/sessions"]:
        page.goto(w.url + path)
        w.settle()
        assert violations(w, page) == [], path
    page.goto(w.url + "/login?next=%2Fform&reason=idle")
    assert violations(w, page) == [], "/login with a notice"


@pytest.mark.parametrize("scheme", SCHEMES)
def test_the_open_warning_has_no_axe_violations_and_follows_the_scheme(axe_world, scheme):
    w = axe_world(scheme)
    page = w.ctx.new_page()
    w.login(page, "ada", "/form")
    w.advance_until(lambda: dialog_open(page), limit=IDLE)
    assert violations(w, page) == []
    background = page.evaluate(
        "() => getComputedStyle(document.querySelector('[data-tether-ui]').shadowRoot.querySelector('dialog')).backgroundColor"
    )
    assert background == ("rgb(255, 255, 255)" if scheme == "light" else "rgb(29, 35, 42)")


@pytest.mark.parametrize("scheme", SCHEMES)
def test_the_warning_fits_a_360_px_screen(axe_world, scheme):
    w = axe_world(scheme, viewport={"width": 360, "height": 640})
    page = w.ctx.new_page()
    w.login(page, "ada", "/")
    w.advance_until(lambda: dialog_open(page), limit=IDLE)
    box = page.evaluate(
        "() => { const r = document.querySelector('[data-tether-ui]').shadowRoot.querySelector('dialog')"
        ".getBoundingClientRect(); return [r.left, r.right, document.documentElement.clientWidth]; }"
    )
    left, right, width = box
    assert width == 360 and left >= 0 and right <= width, box
    for name in ("Stay signed in", "Sign out"):
        button = page.locator("[data-tether-ui]").get_by_role("button", name=name).bounding_box()
        assert button and button["x"] >= left and button["x"] + button["width"] <= right, (name, button)
    if os.environ.get("TETHER_SCREENSHOTS"):  # for a person to look at: a directory
        page.screenshot(path=os.path.join(os.environ["TETHER_SCREENSHOTS"], f"dialog-360-{scheme}.png"))
