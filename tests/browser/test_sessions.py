"""Issue 11.3 in a real browser: two browser contexts are two devices signed in as the
same user; "Sign out everywhere else" on one ends the other and keeps this one."""

from __future__ import annotations

from .conftest import IDLE, on_login

#: The reason the client reports, kept across its navigation to the login page.
KEEP_REASON = "() => document.addEventListener('tether:expired', (e) => sessionStorage.setItem('expired', e.detail.reason))"
STATUS = "() => fetch('/_tether/status').then((r) => r.json())"


def test_sign_out_everywhere_else_ends_the_other_device_and_keeps_this_one(make_world):
    laptop = make_world()
    phone = make_world(reset=False)
    phone_page = phone.ctx.new_page()
    phone.login(phone_page, "ada", "/")
    laptop_page = laptop.ctx.new_page()
    laptop.login(laptop_page, "ada", "/sessions")

    rows = laptop_page.locator("tbody tr")
    assert rows.count() == 2
    assert "(this browser)" in laptop_page.locator("tr.current").inner_text()
    laptop_page.get_by_role("button", name="Sign out everywhere else").click()
    laptop_page.wait_for_url(f"{laptop.url}/sessions?others=1")
    laptop.settle()
    assert laptop_page.get_by_role("status").inner_text() == "Signed out everywhere else."
    assert rows.count() == 1 and laptop_page.locator("tr.current").count() == 1

    # The phone learns it at its next request: someone works there, so its next heartbeat
    # (before the idle window ends) is answered 401 revoked and it lands on the login page.
    phone_page.bring_to_front()
    phone_page.evaluate(KEEP_REASON)
    beats_before = phone.counts.beat_401
    phone.advance_until(lambda: on_login(phone_page), limit=IDLE - 5, each=lambda moved: phone_page.keyboard.press("Shift"))
    assert phone.counts.beat_401 == beats_before + 1
    assert phone_page.evaluate("() => sessionStorage.getItem('expired')") == "revoked"
    assert phone_page.locator("#username").is_visible()
    assert phone_page.evaluate(STATUS) == {"state": "ended", "reason": "none"}  # cookie cleared

    # This browser stays signed in (less than one idle window has passed).
    assert laptop_page.evaluate(STATUS)["state"] == "active"
    assert not on_login(laptop_page)
