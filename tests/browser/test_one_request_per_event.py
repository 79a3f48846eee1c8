"""Issue 8 fault 3: one browser, one request per event, whatever the number of tabs.

Every ``/_tether/*`` request the server sees is counted (heartbeats, status, end; only
the script file itself, a part of loading a page, is left out) through four events: the
beats of an active user, the warning, a Stay click in a tab that does not lead, and the
expiry. The leader shares what it learns over the BroadcastChannel; the other tabs
never ask the server for it, so 1, 3 and 10 tabs cost the same.
"""

from __future__ import annotations

import pytest

from tests.browser.conftest import IDLE, World, dialog_open, on_login

PATHS = ["/", "/form", "/sessions"]


def api_requests(w: World, since: int) -> list[tuple[str, str, int]]:
    """(method, path, status) of every tether endpoint request after log entry ``since``."""
    return [
        (method, path, status)
        for _, method, path, status in w.counts.log[since:]
        if path.startswith("/_tether/") and not path.endswith(".js")
    ]


@pytest.mark.parametrize("tab_count", [1, 3, 10])
def test_the_server_sees_one_request_per_event_for_any_number_of_tabs(world, tab_count):
    w = world
    tabs = [w.ctx.new_page()]
    w.login(tabs[0], "ada", "/")
    for i in range(1, tab_count):
        tabs.append(w.open(PATHS[i % len(PATHS)]))
    mark = len(w.counts.log)
    assert api_requests(w, 0) == [], "opening pages asks the server nothing"

    # 1. Beats: an active user (in the last tab opened) for three idle windows.
    worker = tabs[-1]
    w.advance(3 * IDLE, each=lambda moved: worker.keyboard.press("Shift") if round(moved * 2) % 5 == 0 else None)
    beats = api_requests(w, mark)
    assert beats and set(beats) == {("POST", "/_tether/heartbeat", 200)}, beats
    assert len(beats) <= 4, f"{len(beats)} heartbeats for 3 idle windows"
    assert not any(dialog_open(t) for t in tabs)

    # 2. The warning: the user stops; the leader confirms with the server, every tab shows it.
    mark = len(w.counts.log)
    w.advance_until(lambda: all(dialog_open(t) for t in tabs), limit=IDLE)
    warning = api_requests(w, mark)
    assert warning == [("GET", "/_tether/status", 200)], "the leader confirms, once"

    # 3. Stay, clicked in a tab that does not lead: one heartbeat, dismissed everywhere.
    mark = len(w.counts.log)
    follower = next((t for t in tabs if not t.evaluate("() => tether.leader")), tabs[0])
    follower.bring_to_front()
    follower.locator("[data-tether-ui]").get_by_role("button", name="Stay signed in").click()
    w.settle()
    w.advance(2)
    assert api_requests(w, mark) == [("POST", "/_tether/heartbeat", 200)]
    assert not any(dialog_open(t) for t in tabs)

    # 4. Expiry: warned again (at most one request), then confirmed once, and every
    # tab goes to the login page.
    mark = len(w.counts.log)
    w.advance_until(lambda: all(dialog_open(t) for t in tabs), limit=IDLE)
    assert api_requests(w, mark) == [("GET", "/_tether/status", 200)]
    mark = len(w.counts.log)
    w.advance_until(lambda: all(on_login(t) for t in tabs), limit=IDLE)
    w.advance(2)
    expiry = api_requests(w, mark)
    assert len(expiry) == 1 and expiry[0][2] == 401, expiry
    print(f"\n{tab_count} tab(s): {len(beats)} beats, warning {len(warning)}, stay 1, expiry {len(expiry)}")


@pytest.mark.parametrize("tab_count", [3, 10])
def test_a_session_revoked_in_one_tab_is_confirmed_once_for_all(world, tab_count):
    """Revoking this browser's own session on /sessions lands that tab on a page rendered
    signed out; it tells the others, and one of them (the leader, or the tab that takes
    over when the revoking tab led) confirms with the server for all of them."""
    w = world
    tabs = [w.ctx.new_page()]
    w.login(tabs[0], "ada", "/")
    for i in range(1, tab_count):
        tabs.append(w.open(PATHS[i % len(PATHS)]))
    revoking = next(t for t in tabs if t.url.endswith("/sessions"))
    w.advance(5)
    mark = len(w.counts.log)
    revoking.bring_to_front()
    revoking.locator("tr.current").get_by_role("button", name="Sign out").click()
    revoking.wait_for_url("**/login")
    w.wait_for(lambda: all(on_login(t) for t in tabs))
    w.advance(2)
    confirmations = api_requests(w, mark)
    assert len(confirmations) == 1 and confirmations[0][:2] == ("GET", "/_tether/status"), confirmations
    assert confirmations[0][2] == 401
