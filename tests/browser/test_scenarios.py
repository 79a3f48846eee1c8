"""Issue 3's scenarios (a)-(j) and the CSP check, in a real Chromium against the demo.

Every test runs on the demo's own pages, which send a strict CSP (``script-src 'self';
style-src 'self'``), with the server and the browser on fake clocks moved together
(see conftest.py). Idle timeout 60 s, warning 12 s before, unless a test says otherwise.
"""

from __future__ import annotations

from tests.browser.conftest import IDLE, WARN, World, dialog_open, events, on_login


def open_tabs(w: World, *paths: str, user: str = "ada") -> list:
    """Sign in in the first tab, then open the other paths in new tabs."""
    first = w.ctx.new_page()
    w.login(first, user, paths[0])
    tabs = [first]
    for path in paths[1:]:
        tabs.append(w.open(path))
    return tabs


def click(page, locator) -> None:
    """A real click. The tab comes to the front first: headless Chromium paints only the
    front tab, and Playwright waits for a painted, stable element."""
    page.bring_to_front()
    locator.click()


def leader_of(tabs: list) -> list:
    return [t for t in tabs if t.evaluate("() => tether.leader")]


def shadow(page, selector: str) -> str:
    return f"document.querySelector('[data-tether-ui]').shadowRoot.querySelector('{selector}')"


def wiggle(page, n: float) -> None:
    """User activity: a real (trusted) key press that types nothing. Real mouse moves
    work too (scenario c) but take up to a second each in a background headless tab."""
    page.keyboard.press("Shift")


def mouse(page, n: float) -> None:
    page.mouse.move(20 + int(n * 7) % 200, 40 + int(n) % 50)


# -- (a) ----------------------------------------------------------------------------------------


def test_a_active_user_in_one_of_three_tabs_costs_about_one_beat_per_window(world):
    w = world
    tabs = open_tabs(w, "/", "/form", "/sessions")
    leaders = leader_of(tabs)
    assert len(leaders) == 1, "exactly one tab leads"
    worker = next(t for t in tabs if t is not leaders[0])  # work in a tab that does not lead

    def work(moved: float) -> None:
        if round(moved * 2) % 5 == 0:  # every 2.5 s
            wiggle(worker, moved)

    w.advance(5 * IDLE, each=work)
    beats = w.counts.beats
    print(f"\nscenario (a): {beats} heartbeats over 5 idle windows, 3 tabs")
    assert not any(on_login(t) for t in tabs)
    assert all(t.evaluate("() => tether.state") == "active" for t in tabs)
    assert not any(events(t, "warning") for t in tabs), "an active user is never warned"
    assert w.counts.beat_401 == 0
    assert 4 <= beats <= 1.25 * 5 + 1
    # Every tab saw every beat (the heart beats everywhere).
    assert all(len(events(t, "beat")) == beats for t in tabs)


# -- (b) ----------------------------------------------------------------------------------------


def test_b_idle_user_no_beats_warned_everywhere_then_signed_out_everywhere(world):
    w = world
    paths = ["/", "/form", "/sessions"]
    tabs = open_tabs(w, *paths)
    w.advance_until(lambda: all(dialog_open(t) for t in tabs), limit=IDLE)
    for t in tabs:
        (warning,) = events(t, "warning")
        assert warning[2]["remaining"] >= WARN
    w.advance_until(lambda: all(on_login(t) for t in tabs), limit=WARN + 10)
    assert w.counts.beats == 0
    for t, path in zip(tabs, paths):
        assert t.url.endswith("/login?next=" + path.replace("/", "%2F") + "&reason=idle")
        assert "signed out after 1 minute without activity" in t.locator("#end-notice").inner_text()
    assert not tabs[0].locator("#draft-notice").is_visible(), "nothing was typed"


# -- (c) ----------------------------------------------------------------------------------------


def test_c_stay_signed_in_ten_times_each_one_beat_and_escape_means_stay(world):
    w = world
    a, b = open_tabs(w, "/", "/form")
    for i in range(10):
        w.advance_until(lambda: dialog_open(a) and dialog_open(b), limit=IDLE)
        before = w.counts.beats
        if i == 0:
            # Mouse movement alone does not dismiss the warning, nor does it beat.
            for n in range(4):
                mouse(a, n)
                w.advance(0.5)
            assert dialog_open(a) and dialog_open(b) and w.counts.beats == before
        tab = a if i % 2 == 0 else b
        click(tab, tab.get_by_role("button", name="Stay signed in"))
        w.settle()
        assert w.counts.beats == before + 1, f"round {i}"
        assert not dialog_open(a) and not dialog_open(b)
        assert events(a, "extended") and events(b, "extended")
    # Escape = stay.
    w.advance_until(lambda: dialog_open(a), limit=IDLE)
    before = w.counts.beats
    b.keyboard.press("Escape")
    w.settle()
    assert w.counts.beats == before + 1
    assert not dialog_open(a) and not dialog_open(b)
    assert not on_login(a) and not on_login(b)


# -- (d) ----------------------------------------------------------------------------------------


def test_d_sign_out_in_one_tab_ends_every_tab(world):
    w = world
    tabs = open_tabs(w, "/", "/form", "/sessions")
    w.advance(5)
    click(tabs[1], tabs[1].get_by_role("button", name="Sign out").first)  # the demo's own form
    tabs[1].wait_for_url("**/login?reason=logout")
    w.settle()
    w.advance_until(lambda: all(on_login(t) for t in tabs), limit=5)


def test_d_sign_out_from_the_warning_ends_every_tab(world):
    w = world
    tabs = open_tabs(w, "/", "/form", "/sessions")
    w.advance_until(lambda: all(dialog_open(t) for t in tabs), limit=IDLE)
    root = tabs[2].locator("[data-tether-ui]")
    click(tabs[2], root.get_by_role("button", name="Sign out"))
    w.settle()
    w.advance_until(lambda: all(t.url.endswith("/login?reason=logout") for t in tabs), limit=3)
    assert tabs[0].locator("#end-notice").inner_text() == "You have signed out."
    assert w.counts.ends == 1
    assert w.counts.beats == 0


# -- (e) ----------------------------------------------------------------------------------------


def test_e_server_unreachable_retries_without_signing_out_then_recovers(world):
    w = world
    a, b = open_tabs(w, "/", "/form")
    work = lambda moved: wiggle(a, moved) if round(moved * 2) % 4 == 0 else None  # noqa: E731

    # 1. The tether endpoints answer 503 for 12 s around the first beat.
    w.advance(40, each=work)
    w.h.down = True
    w.advance(12, each=work)
    assert w.counts.beat_failed >= 3, "retried with back-off"
    assert w.counts.beats == 0
    assert a.evaluate("() => tether.online") is False
    assert events(a, "offline") and events(b, "offline")
    w.h.down = False
    w.advance(4, each=work)
    assert w.counts.beats == 1
    assert events(a, "online") and events(b, "online")
    assert not dialog_open(a) and not on_login(a) and not on_login(b)

    # 2. The network itself goes away; `online` resumes at once, without waiting.
    w.advance(40, each=work)
    w.ctx.set_offline(True)
    w.advance(8, each=work)
    assert w.counts.beats == 1
    w.ctx.set_offline(False)
    w.settle()  # no fake time passes: the `online` event alone retries
    assert w.counts.beats == 2
    assert not any(on_login(t) for t in (a, b))

    # 3. An outage longer than the session: still no sign-out while unreachable...
    w.ctx.set_offline(True)
    w.advance(IDLE + 20, each=work)
    assert not any(on_login(t) for t in (a, b))
    assert a.evaluate("() => tether.state") != "ended"
    # ...and only the server's 401, once reachable, ends it.
    w.ctx.set_offline(False)
    w.settle()
    w.advance_until(lambda: on_login(a) and on_login(b), limit=10)


# -- (f) ----------------------------------------------------------------------------------------

HIDE = """() => {
  Object.defineProperty(document, "visibilityState", { configurable: true, get: () => "hidden" });
  Object.defineProperty(document, "hidden", { configurable: true, get: () => true });
  document.dispatchEvent(new Event("visibilitychange"));
}"""
SHOW = """() => {
  delete document.visibilityState; delete document.hidden;
  document.dispatchEvent(new Event("visibilitychange"));
}"""


def test_f_leader_in_a_hidden_tab_while_the_user_works_in_another(world):
    w = world
    a, b = open_tabs(w, "/", "/form")
    a.evaluate(SHOW)  # a becomes visible last: it leads
    w.settle()
    assert a.evaluate("() => tether.leader") and not b.evaluate("() => tether.leader")
    a.evaluate(HIDE)  # ...and is then hidden, still holding the lock
    w.settle()
    assert a.evaluate("() => tether.leader")

    work = lambda moved: wiggle(b, moved) if round(moved * 2) % 5 == 0 else None  # noqa: E731
    w.advance(3 * IDLE, each=work)
    beats_hidden_leader = w.counts.beats
    assert beats_hidden_leader >= 3, "the hidden leader beat for the working tab"
    assert not events(b, "warning") and not events(a, "warning")

    # b is shown again (e.g. its window comes back): it takes the lead.
    b.evaluate(HIDE)
    b.evaluate(SHOW)
    w.settle()
    assert b.evaluate("() => tether.leader") and not a.evaluate("() => tether.leader")
    w.advance(2 * IDLE, each=work)
    assert not any(on_login(t) for t in (a, b))
    assert not events(b, "warning")
    assert w.counts.beats <= 1.25 * 5 + 1


def test_f_a_closed_leader_is_replaced(world):
    w = world
    a, b = open_tabs(w, "/", "/form")
    a.evaluate(SHOW)
    w.settle()
    assert a.evaluate("() => tether.leader")
    a.close()
    w.wait_for(lambda: b.evaluate("() => tether.leader"))
    w.advance(2 * IDLE, each=lambda moved: wiggle(b, moved) if round(moved * 2) % 5 == 0 else None)
    assert w.counts.beats >= 2 and not on_login(b)


# -- (g) ----------------------------------------------------------------------------------------


def back_to_home_after_server_side_expiry(w: World):
    """Sign in on "/", follow the link to /form ("/" goes into the back/forward cache),
    let the session expire at the server, then go back."""
    (tab,) = open_tabs(w, "/")
    click(tab, tab.locator("a[href='/form']"))
    tab.wait_for_url("**/form")
    w.settle()
    # Only the server's clock moves: Playwright's clock control evaluates script in the
    # context, which would evict "/" from the cache. The client asks the server anyway.
    w.h.clock.advance(IDLE + 5)
    tab.go_back(wait_until="commit")
    w.wait_for(lambda: on_login(tab))
    return tab


def test_g_a_page_restored_from_bfcache_after_expiry_never_shows_content(world):
    w = world
    w.h.cacheable_pages = True  # an app that does not send no-store
    tab = back_to_home_after_server_side_expiry(w)
    assert tab.url.endswith("/login?next=%2F&reason=idle")
    shows = tab.evaluate("() => JSON.parse(sessionStorage.getItem('__shows'))")
    after = shows[[s[2] for s in shows].index("/form") + 1 :]
    # "/" came back from the back/forward cache veiled, and left for the login page
    # without ever being shown.
    assert after[0] == [True, "hidden", "/"], shows
    assert after[1:] == [[False, "visible", "/login"]], shows
    assert ("GET", "/_tether/status", 401) in [e[1:] for e in w.counts.log[-3:]]


def test_g_with_no_store_pages_too(world):
    w = world  # the demo's own headers: Cache-Control: no-store
    tab = back_to_home_after_server_side_expiry(w)
    assert "/login" in tab.url
    shows = tab.evaluate("() => JSON.parse(sessionStorage.getItem('__shows'))")
    after = shows[[s[2] for s in shows].index("/form") + 1 :]
    assert [s for s in after if s[2] == "/" and s[1] == "visible"] == [], shows


def test_g_a_page_restored_from_bfcache_while_active_is_shown_after_the_check(world):
    w = world
    w.h.cacheable_pages = True
    (tab,) = open_tabs(w, "/")
    click(tab, tab.locator("a[href='/form']"))
    tab.wait_for_url("**/form")
    w.settle()
    status = w.counts.status
    tab.go_back(wait_until="commit")
    w.wait_for(lambda: tab.evaluate("() => (window.__shows || []).some((s) => s[0])"))
    w.settle()
    assert [s for s in tab.evaluate("() => __shows") if s[0]] == [[True, "hidden", "/"]]
    assert w.counts.status > status
    assert tab.evaluate("() => getComputedStyle(document.documentElement).visibility") == "visible"
    assert tab.evaluate("() => tether.state") == "active"


# -- (h) ----------------------------------------------------------------------------------------


def test_h_a_form_draft_survives_sign_in_again(world):
    w = world
    (tab,) = open_tabs(w, "/form")
    tab.fill("#title", "Quarterly report")
    tab.fill("#body", "Three long paragraphs\nof careful prose.")
    tab.check("input[name=urgent]")
    w.advance_until(lambda: on_login(tab), limit=IDLE + 30)
    assert tab.url.endswith("/login?next=%2Fform&reason=idle")
    assert tab.locator("#draft-notice").is_visible(), "the login page says the draft was kept"
    assert tab.evaluate("() => !!sessionStorage.getItem('tether:draft:/form')")
    tab.bring_to_front()
    tab.fill("#username", "ada")
    tab.click("button[type=submit]")
    tab.wait_for_url("**/form")
    w.settle()
    assert tab.input_value("#title") == "Quarterly report"
    assert tab.input_value("#body") == "Three long paragraphs\nof careful prose."
    assert tab.is_checked("input[name=urgent]")
    assert events(tab, "restored")
    assert tab.evaluate("() => sessionStorage.getItem('tether:draft:/form')") is None


def test_h_a_draft_is_not_given_to_another_user(world):
    w = world
    (tab,) = open_tabs(w, "/form")
    tab.fill("#title", "private notes of ada")
    w.advance_until(lambda: on_login(tab), limit=IDLE + 30)
    tab.bring_to_front()
    tab.fill("#username", "bob")
    tab.click("button[type=submit]")
    tab.wait_for_url("**/form")
    w.settle()
    assert tab.input_value("#title") == ""
    assert tab.evaluate("() => sessionStorage.getItem('tether:draft:/form')") is None


# -- (i) ----------------------------------------------------------------------------------------


def test_i_warning_dialog_roles_focus_trap_and_restore(world):
    w = world
    (tab,) = open_tabs(w, "/form")
    tab.focus("#body")
    w.advance_until(lambda: dialog_open(tab), limit=IDLE)

    dialog = tab.get_by_role("alertdialog", name="Are you still there?")
    assert dialog.is_visible()
    assert dialog.get_attribute("aria-modal") == "true"
    desc = tab.evaluate(f"() => {{ const d = {shadow(tab, 'dialog')}; return d.getRootNode().getElementById(d.getAttribute('aria-describedby')).textContent; }}")
    assert "signed out in 0:1" in desc
    focused = "() => { const a = document.activeElement; return a && a.shadowRoot ? a.shadowRoot.activeElement.textContent : (a && a.id); }"
    assert tab.evaluate(focused) == "Stay signed in"
    seen = []
    for _ in range(5):
        tab.keyboard.press("Tab")
        seen.append(tab.evaluate(focused))
    assert seen == ["Sign out", "Stay signed in", "Sign out", "Stay signed in", "Sign out"]
    tab.keyboard.press("Shift+Tab")
    assert tab.evaluate(focused) == "Stay signed in"
    # The rest of the page is inert while the modal dialog is open.
    assert tab.evaluate("() => document.querySelector('#title').matches(':modal') === false")

    # The live region is polite and speaks only at coarse steps, not every second.
    live = tab.evaluate(f"() => [{shadow(tab, '[aria-live]')}.getAttribute('aria-live'), {shadow(tab, '[aria-live]')}.getAttribute('role')]")
    assert live == ["polite", "status"]
    said, shown = set(), set()
    for _ in range(8):
        w.advance(1)
        said.add(tab.evaluate(f"() => {shadow(tab, '[aria-live]')}.textContent"))
        shown.add(tab.evaluate(f"() => {shadow(tab, '.time')}.textContent"))
    assert len(shown) == 8, "the countdown changes every second"
    assert said <= {"", "10 seconds left before you are signed out."}
    assert "10 seconds left before you are signed out." in said

    tab.keyboard.press("Escape")
    w.settle()
    assert not dialog_open(tab)
    assert tab.evaluate("() => document.activeElement.id") == "body", "focus returns where it was"


# -- (j) ----------------------------------------------------------------------------------------

HEART = "() => { const h = document.querySelector('[data-tether-ui]').shadowRoot.querySelector('.heart'); return [Number(h.getAttribute('data-beats') || 0), h.getAnimations().length, h.getAttribute('aria-hidden')]; }"


def test_j_the_heart_beats_once_per_successful_heartbeat(world):
    w = world
    a, b = open_tabs(w, "/", "/form")
    assert a.evaluate(HEART) == [0, 0, "true"]
    work = lambda moved: wiggle(a, moved) if round(moved * 2) % 5 == 0 else None  # noqa: E731
    w.advance_until(lambda: w.counts.beats == 1, limit=IDLE, each=work)
    beats, animations, _ = a.evaluate(HEART)
    assert beats == 1 and animations == 1
    assert b.evaluate(HEART)[0] == 1
    # A failed heartbeat does not beat the heart.
    w.h.down = True
    w.advance(50, each=work)
    assert w.counts.beat_failed >= 1
    assert a.evaluate(HEART)[0] == 1
    w.h.down = False
    w.advance(4, each=work)
    assert a.evaluate(HEART)[0] == w.counts.beats == 2


def test_j_the_heart_stays_still_under_reduced_motion(make_world):
    w = make_world(reduced_motion="reduce")
    (tab,) = open_tabs(w, "/")
    work = lambda moved: wiggle(tab, moved) if round(moved * 2) % 5 == 0 else None  # noqa: E731
    w.advance_until(lambda: w.counts.beats == 1, limit=IDLE, each=work)
    assert tab.evaluate(HEART)[:2] == [1, 0]


# -- CSP -----------------------------------------------------------------------------------------


def test_csp_script_src_self_the_client_works_without_violations(world):
    w = world
    first = w.ctx.new_page()
    response = first.goto(w.url + "/login")
    csp = response.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "style-src 'self'" in csp
    w.login(first, "ada", "/")
    w.advance_until(lambda: dialog_open(first), limit=IDLE)
    # The constructed stylesheet applied (CSP does not block it) ...
    radius = first.evaluate(f"() => getComputedStyle({shadow(first, 'dialog')}).borderTopLeftRadius")
    assert radius not in ("", "0px")
    # ... and nothing was blocked.
    assert first.evaluate("() => __csp") == []
    click(first, first.get_by_role("button", name="Stay signed in"))
    w.settle()
    assert w.counts.beats == 1


# -- the absolute limit -------------------------------------------------------------------------


def test_absolute_limit_warns_an_active_user_and_cannot_be_extended(make_world):
    from tether import Policy

    w = make_world(Policy(idle_timeout=IDLE, absolute_timeout=150, warn_before=WARN))
    (tab,) = open_tabs(w, "/")
    work = lambda moved: wiggle(tab, moved) if round(moved * 2) % 5 == 0 else None  # noqa: E731
    w.advance_until(lambda: dialog_open(tab), limit=150, each=work)
    (warning,) = events(tab, "warning")
    assert warning[2]["absolute"] is True and warning[2]["remaining"] >= WARN
    assert tab.get_by_role("button", name="OK").is_visible()
    beats = w.counts.beats
    click(tab, tab.get_by_role("button", name="OK"))  # acknowledged; it does not come back
    w.settle()
    assert not dialog_open(tab) and w.counts.beats == beats
    # Still active, but the absolute limit ends it (no second warning on the way).
    w.advance_until(lambda: on_login(tab) or len(events(tab, "warning")) > 1, limit=WARN + 10, each=work)
    assert tab.url.endswith("/login?next=%2F&reason=absolute")
    assert "Your session reached its time limit of 150 seconds." in tab.locator("#end-notice").inner_text()
