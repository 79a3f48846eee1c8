"""One run on real clocks (no fake time anywhere), so that nothing above depends on
Playwright's clock: a 6 s idle timeout, warned 2 s before (margin 1 s)."""

from __future__ import annotations

import time

from tether import Policy
from tests.browser.conftest import dialog_open, events, on_login


def test_real_clock_beat_then_warning_then_sign_out_in_both_tabs(make_world):
    w = make_world(Policy(idle_timeout=6, absolute_timeout=600, warn_before=2), real_time=True)
    a = w.ctx.new_page()
    w.login(a, "ada", "/")
    b = w.open("/form")
    # Active for a while: beats keep the session alive past the first expiry.
    started = time.monotonic()
    while time.monotonic() - started < 8:
        b.keyboard.press("Shift")
        w.wait_for(lambda: True)  # let the pages run
        assert not on_login(a) and not on_login(b)
    assert w.counts.beats >= 1
    # Then idle: the warning in both tabs, then both on the login page.
    w.wait_for(lambda: dialog_open(a) and dialog_open(b), timeout=8)
    assert all(e[2]["remaining"] >= 2 for e in events(a, "warning"))
    w.wait_for(lambda: on_login(a) and on_login(b), timeout=8)
    assert "next=%2Fform" in b.url
