"""What happens to sessions, as typed events for one hook, ``on_event(event)``, and the
built-in counters (:class:`Metrics`) that hook can feed.

The protocol yields :class:`Emit` operations and the runtime emits the rest (store
failures, sweep runs), so every adapter reports the same events from the same places.
Nothing is built or emitted when no hook is set: the hot path pays one ``is None`` check.

Events name a session by its store key (the token's SHA-256), never by its token.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass
from typing import Any, Callable

logger = logging.getLogger("tether")


@dataclass(frozen=True)
class SessionStarted:
    """A new token's record was created: a sign-in (``user`` set) or a first data write."""

    key: str
    user: str | None


@dataclass(frozen=True)
class HeartbeatAnswered:
    """``POST /heartbeat`` reached the session: ``active`` (200) or ended (401)."""

    key: str | None
    active: bool


@dataclass(frozen=True)
class TouchWritten:
    """Activity slid a session's idle expiry in the store (at most once per granularity)."""

    key: str


@dataclass(frozen=True)
class SessionEnded:
    """A session ended, reported once (as ``on_end`` sees it): idle, absolute, logout, revoked."""

    key: str
    reason: str


@dataclass(frozen=True)
class Refused:
    """An endpoint refused a request before the session decided: 400, 403, 404, 405, 413, 415."""

    status: int
    endpoint: str


@dataclass(frozen=True)
class StoreFailed:
    """The store could not be reached; ``answered_503`` when a request got a 503 for it
    (a sweep that fails is skipped instead)."""

    error: str
    answered_503: bool


@dataclass(frozen=True)
class SweepRan:
    """One sweep (every batch until the expired were all claimed): how many, how long (s)."""

    claimed: int
    duration: float


Event = SessionStarted | HeartbeatAnswered | TouchWritten | SessionEnded | Refused | StoreFailed | SweepRan
OnEvent = Callable[[Event], Any]


def emit(on_event: OnEvent | None, event: Event) -> None:
    """Call the hook; a failing hook is logged, never a 500 nor a lost session write."""
    if on_event is None:
        return
    try:
        on_event(event)
    except Exception:
        logger.exception("tether: on_event failed for %s", type(event).__name__)


class Metrics:
    """Built-in counters: pass an instance as ``on_event`` (or call it from your own hook).

    Plain integers and :class:`collections.Counter` objects, safe to read at any time;
    :mod:`tether.contrib.prometheus` exports them. Counting is a dict increment per event,
    so it is cheap enough for every request.
    """

    def __init__(self) -> None:
        self.sessions_started = 0
        self.heartbeats: Counter[str] = Counter()  # "active" | "ended"
        self.touches = 0
        self.ends: Counter[str] = Counter()  # by reason
        self.refusals: Counter[int] = Counter()  # by status
        self.store_errors = 0
        self.unavailable = 0  # 503 answers
        self.sweeps = 0
        self.swept = 0
        self.sweep_seconds = 0.0

    def __call__(self, event: Event) -> None:
        match event:
            case TouchWritten():
                self.touches += 1
            case HeartbeatAnswered():
                self.heartbeats["active" if event.active else "ended"] += 1
            case SessionStarted():
                self.sessions_started += 1
            case SessionEnded():
                self.ends[event.reason] += 1
            case Refused():
                self.refusals[event.status] += 1
            case StoreFailed():
                self.store_errors += 1
                self.unavailable += event.answered_503
            case SweepRan():
                self.sweeps += 1
                self.swept += event.claimed
                self.sweep_seconds += event.duration


__all__ = [
    "Event",
    "OnEvent",
    "SessionStarted",
    "HeartbeatAnswered",
    "TouchWritten",
    "SessionEnded",
    "Refused",
    "StoreFailed",
    "SweepRan",
    "Metrics",
    "emit",
]
