"""Real-browser tests: the demo site in-process, Debian's Chromium driven by Playwright.

Time is the hard part. The server runs on a :class:`tether.testing.FakeClock` and every
page of the browser context on Playwright's paused fake clock; :meth:`World.advance`
moves both together in small steps, and after each step waits (on conditions, never on
a guess) until no request is in flight anywhere. So a 60 s idle timeout runs five
idle windows in a few seconds of real time, and the server's and the browser's view of
"now" never drift apart by more than one step.

Heartbeats are counted at the server by :class:`Harness`, an ASGI wrapper around the
demo that can also play a broken server (503) for scenario (e).
"""

from __future__ import annotations

import os
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import pytest

from tether import Policy
from tether.testing import FakeClock

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
IDLE, WARN = 60.0, 12.0
BROWSER_EPOCH_MS = 1_900_000_000_000  # the browser's fake "now" at the start of a test

# Recorded in every page before any page script runs: tether's events and CSP reports.
RECORDER = """
window.__ev = [];
window.__csp = [];
for (const n of ["beat", "warning", "extended", "expired", "ended", "offline", "online", "restored"])
  document.addEventListener("tether:" + n, (e) => __ev.push([n, Date.now(), e.detail]));
document.addEventListener("securitypolicyviolation", (e) => __csp.push(e.violatedDirective + " " + e.blockedURI));
window.__shows = [];
addEventListener("pageshow", (e) => {
  const show = [e.persisted, getComputedStyle(document.documentElement).visibility, location.pathname];
  __shows.push(show);
  // Kept for the whole tab, across navigations (scenario g).
  const log = JSON.parse(sessionStorage.getItem("__shows") || "[]");
  sessionStorage.setItem("__shows", JSON.stringify(log.concat([show])));
});
"""


@pytest.fixture(scope="package")
def browser():
    # Package scope: Playwright's sync API keeps an event loop running in the main thread
    # while it is open, which would break every later test that runs a loop of its own.
    if not os.path.exists(CHROMIUM):
        if IN_CI:
            pytest.fail(f"{CHROMIUM} is required in CI (apt-get install chromium)")
        pytest.skip(f"{CHROMIUM} is not installed")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        # Playwright turns the back/forward cache off by default; scenario (g) needs it.
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, ignore_default_args=["--disable-back-forward-cache"])
        yield b
        b.close()


# -- the server ------------------------------------------------------------------------------


class RealClock(FakeClock):
    """The system clock, with FakeClock's interface (``now``) for the request log."""

    def __init__(self) -> None:
        super().__init__(time.time())

    @property  # type: ignore[override]
    def now(self) -> float:
        return time.time()

    @now.setter
    def now(self, value: float) -> None:
        pass

    def __call__(self) -> float:
        return time.time()


@dataclass
class Counts:
    beats: int = 0  # heartbeats answered 200
    beat_401: int = 0
    beat_failed: int = 0  # heartbeats the harness refused with 503
    status: int = 0
    ends: int = 0
    pages: int = 0
    log: list[tuple[float, str, str, int]] = field(default_factory=list)


class Harness:
    """Wraps the current demo app: counts tether requests, can fail them, and can make
    pages cacheable (the demo sends no-store, which keeps pages out of the bfcache)."""

    def __init__(self) -> None:
        self.app: Any = None
        self.clock = FakeClock()
        self.counts = Counts()
        self.down = False
        self.cacheable_pages = False
        self.inflight = 0

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        path, method = scope["path"], scope["method"]
        self.inflight += 1
        try:
            if self.down and path.startswith("/_tether/") and not path.endswith(".js"):
                self._count(path, method, 503)
                await send({"type": "http.response.start", "status": 503,
                            "headers": [(b"content-type", b"application/json"), (b"retry-after", b"1")]})
                await send({"type": "http.response.body", "body": b'{"error":"down for the test"}'})
                return
            status = 0

            async def spy(message: dict) -> None:
                nonlocal status
                if message["type"] == "http.response.start":
                    status = message["status"]
                    if self.cacheable_pages and not path.startswith("/_tether/"):
                        message["headers"] = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"cache-control"]
                await send(message)

            await self.app(scope, receive, spy)
            self._count(path, method, status)
        finally:
            self.inflight -= 1

    def _count(self, path: str, method: str, status: int) -> None:
        c = self.counts
        c.log.append((self.clock.now, method, path, status))
        if path == "/_tether/heartbeat" and method == "POST":
            if status == 200:
                c.beats += 1
            elif status == 401:
                c.beat_401 += 1
            else:
                c.beat_failed += 1
        elif path == "/_tether/status":
            c.status += 1
        elif path == "/_tether/end":
            c.ends += 1
        elif not path.startswith("/_tether/") and not path.startswith("/static/"):
            c.pages += 1

    def reset(self, policy: Policy, *, real_time: bool = False) -> None:
        from tether.demo.pages import DemoSettings
        from tether.demo.starlette_app import build

        self.clock = RealClock() if real_time else FakeClock()
        self.counts = Counts()
        self.down = False
        self.cacheable_pages = False
        settings = DemoSettings(policy=policy, store_url="memory://", framework="starlette")
        self.app = build(settings, clock=self.clock, sweep_interval=None)


@pytest.fixture(scope="session")
def harness():
    import uvicorn

    h = Harness()
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(h, lifespan="off", log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.01)
    h.base_url = f"http://127.0.0.1:{port}"
    yield h
    server.should_exit = True
    thread.join(5)


# -- the world: server + browser context, moving in step ----------------------------------------

YIELD_THEN_PENDING = """async () => {
  await new Promise((r) => { const c = new MessageChannel(); c.port1.onmessage = r; c.port2.postMessage(0); });
  return (window.tether && tether.pending) || 0;
}"""


class World:
    def __init__(self, harness: Harness, context: Any):
        self.h = harness
        self.ctx = context
        self.url = harness.base_url

    @property
    def counts(self) -> Counts:
        return self.h.counts

    @property
    def pages(self) -> list[Any]:
        return [p for p in self.ctx.pages if not p.is_closed()]

    def open(self, path: str = "/") -> Any:
        page = self.ctx.new_page()
        page.goto(self.url + path)
        self.settle()
        return page

    def login(self, page: Any, user: str = "ada", next_path: str = "/") -> None:
        page.goto(f"{self.url}/login?next={next_path}")
        page.bring_to_front()  # headless paints only the front tab; clicks wait for paint
        page.fill("#username", user)
        page.click("button[type=submit]")
        page.wait_for_url(f"{self.url}{next_path}")
        self.settle()

    def pending(self) -> int:
        """Requests in flight at the server and in every page's client. Each page first
        yields one task, so that responses and messages already delivered get handled."""
        total = self.h.inflight
        for page in self.pages:
            try:
                total += page.evaluate(YIELD_THEN_PENDING)
            except Exception:  # navigating: ask again
                total += 1
        return total + self.h.inflight

    def settle(self, timeout: float = 10.0) -> None:
        """Wait until nothing is in flight anywhere, twice in a row (a response may start
        a follow-up request, or a message to another tab)."""
        end = time.monotonic() + timeout
        quiet = 0
        while quiet < 2:
            if time.monotonic() > end:
                raise AssertionError("requests still in flight after the timeout")
            quiet = quiet + 1 if self.pending() == 0 else 0

    def wait_for(self, condition: Callable[[], bool], timeout: float = 10.0) -> None:
        """Wait (real time, no fake time passing) for something the browser does on its
        own, such as handing a lock to the next tab after one closed."""
        end = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > end:
                raise AssertionError("condition not met in time")
            self.settle()

    def advance(self, seconds: float, *, step: float = 1.0, each: Callable[[float], None] | None = None) -> None:
        """Move the server's and every page's clock forward together."""
        moved = 0.0
        while moved < seconds - 1e-9:
            dt = min(step, seconds - moved)
            self.h.clock.advance(dt)
            self.ctx.clock.run_for(int(round(dt * 1000)))
            moved += dt
            self.settle()
            if each is not None:
                each(moved)

    def advance_until(self, condition: Callable[[], bool], *, limit: float, step: float = 1.0,
                      each: Callable[[float], None] | None = None) -> float:
        """Advance step by step until ``condition()``; returns the seconds it took."""
        moved = 0.0
        while not condition():
            if moved >= limit:
                raise AssertionError(f"condition not met within {limit} s")
            self.advance(step, step=step)
            moved += step
            if each is not None:
                each(moved)
        return moved


@pytest.fixture
def make_world(browser, harness):
    contexts = []

    def make(
        policy: Policy | None = None, *, real_time: bool = False, reset: bool = True, **context_options: Any
    ) -> World:
        """A new browser context (a device); ``reset=False``: one more on the same server."""
        if reset:
            harness.reset(policy or Policy(idle_timeout=IDLE, absolute_timeout=3600, warn_before=WARN), real_time=real_time)
        ctx = browser.new_context(**context_options)
        ctx.add_init_script(RECORDER)
        if not real_time:
            ctx.clock.install(time=BROWSER_EPOCH_MS)
            ctx.clock.pause_at(BROWSER_EPOCH_MS + 1000)
        contexts.append(ctx)
        return World(harness, ctx)

    yield make
    for ctx in contexts:
        ctx.close()


@pytest.fixture
def world(make_world) -> World:
    return make_world()


# -- small helpers the scenarios share ------------------------------------------------------------


def events(page: Any, name: str | None = None) -> list[Any]:
    evs = page.evaluate("() => window.__ev || []")
    return [e for e in evs if name is None or e[0] == name]


def dialog_open(page: Any) -> bool:
    return page.evaluate(
        "() => { const h = document.querySelector('[data-tether-ui]');"
        " const d = h && h.shadowRoot.querySelector('dialog'); return !!(d && d.open); }"
    )


def on_login(page: Any) -> bool:
    return "/login" in page.url
