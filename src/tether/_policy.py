"""Timeout policy and the pure decisions made from it.

Every function here takes "now" as an argument and does no I/O, so the rules can be
tested at their exact boundaries with a fake clock.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass
from typing import Literal

from ._records import Meta
from .exceptions import ConfigurationError

logger = logging.getLogger("tether")

EndReason = Literal["idle", "absolute", "logout", "revoked", "none"]

#: WCAG 2.2.1 (Timing Adjustable) asks that users get at least 20 seconds to extend.
WCAG_MIN_WARNING = 20.0


@dataclass(frozen=True)
class Policy:
    """How long sessions live.

    - ``idle_timeout``: seconds without activity before the session ends (default 20 min,
      the ASP.NET session default).
    - ``absolute_timeout``: seconds from sign-in after which the session ends whatever the
      activity (default 12 h, NIST SP 800-63B AAL2 re-authentication).
    - ``warn_before``: seconds before idle expiry at which the browser warns (default 120 s).
    - ``touch_granularity``: activity is written to the store at most this often (default
      ``min(60 s, idle_timeout / 20)``): the idle timeout is then exact to within it.
    """

    idle_timeout: float = 20 * 60
    absolute_timeout: float = 12 * 60 * 60
    warn_before: float = 120
    touch_granularity: float | None = None

    def __post_init__(self) -> None:
        for name in ("idle_timeout", "absolute_timeout", "warn_before"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
                raise ConfigurationError(f"{name} must be a number of seconds, got {value!r}")
        if self.idle_timeout <= 0:
            raise ConfigurationError(f"idle_timeout must be positive, got {self.idle_timeout!r}")
        if self.absolute_timeout < self.idle_timeout:
            raise ConfigurationError(
                f"absolute_timeout ({self.absolute_timeout:g} s) is shorter than idle_timeout "
                f"({self.idle_timeout:g} s): the idle timeout could never apply"
            )
        if self.warn_before <= 0 or self.warn_before >= self.idle_timeout:
            raise ConfigurationError(
                f"warn_before ({self.warn_before:g} s) must be positive and shorter than "
                f"idle_timeout ({self.idle_timeout:g} s)"
            )
        if self.warn_before < WCAG_MIN_WARNING:
            logger.warning(
                "tether: warn_before=%gs is below the 20 s WCAG 2.2.1 asks for; fine for tests only",
                self.warn_before,
            )
        if self.touch_granularity is None:
            object.__setattr__(self, "touch_granularity", min(60.0, self.idle_timeout / 20))
        g = self.touch_granularity
        if not isinstance(g, (int, float)) or isinstance(g, bool) or not (0 <= g < self.idle_timeout - self.warn_before):
            raise ConfigurationError(
                f"touch_granularity ({g!r}) must be >= 0 and shorter than idle_timeout - warn_before"
            )

    @property
    def granularity(self) -> float:
        assert self.touch_granularity is not None  # set in __post_init__
        return float(self.touch_granularity)

    # -- decisions -----------------------------------------------------------------------

    def start(self, now: float, user: str | None = None) -> Meta:
        """Meta for a session signed in at ``now``: a new absolute window."""
        absolute = now + self.absolute_timeout
        return Meta(
            created_at=now,
            last_active=now,
            idle_expires_at=min(now + self.idle_timeout, absolute),
            absolute_expires_at=absolute,
            user=user,
        )

    def end_reason(self, meta: Meta, now: float) -> EndReason | None:
        """Why the session has ended at ``now``, or None while it is alive."""
        if now >= meta.absolute_expires_at:
            return "absolute"
        if now >= meta.idle_expires_at:
            return "idle"
        return None

    def wants_touch(self, meta: Meta, now: float) -> bool:
        """Should activity at ``now`` be written? At most once per granularity, only when
        ``now`` is later than the stored activity (so a record a store has just slid is not
        written twice), and only while there is idle expiry left to slide."""
        since = now - meta.last_active
        return since > 0 and since >= self.granularity and meta.idle_expires_at < meta.absolute_expires_at

    def touched(self, meta: Meta, now: float) -> Meta:
        """Meta after activity at ``now``: idle expiry slides, absolute expiry never does."""
        return Meta(
            created_at=meta.created_at,
            last_active=max(meta.last_active, now),
            idle_expires_at=min(max(meta.idle_expires_at, now + self.idle_timeout), meta.absolute_expires_at),
            absolute_expires_at=meta.absolute_expires_at,
            user=meta.user,
            device=meta.device,
            ip=meta.ip,
            ended=meta.ended,
        )

    def state(self, meta: Meta, now: float) -> dict[str, object]:
        """The 200 body of the heartbeat and status endpoints. Relative times only, so the
        browser's own clock never matters."""
        return {
            "state": "active",
            "idle_remaining": round(meta.idle_expires_at - now, 3),
            "absolute_remaining": round(meta.absolute_expires_at - now, 3),
            "idle_timeout": self.idle_timeout,
            "warn_before": self.warn_before,
        }

    def state_json(self, meta: Meta, now: float) -> bytes:
        """:meth:`state` as the JSON bytes the endpoints send, formatted directly: the same
        bytes as the shared encoder gives (``float.__repr__`` is what ``json`` writes for a
        finite float), at a fraction of the cost of the encoder on the heartbeat's path."""
        idle = round(meta.idle_expires_at - now, 3)
        absolute = round(meta.absolute_expires_at - now, 3)
        if not (math.isfinite(idle) and math.isfinite(absolute)):  # a corrupt record: let json spell it
            return json.dumps(self.state(meta, now), separators=(",", ":")).encode()
        return (
            '{"state":"active","idle_remaining":%r,"absolute_remaining":%r,"idle_timeout":%r,"warn_before":%r}'  # noqa: UP031 - the cheapest formatting, on the hot path
            % (idle, absolute, self.idle_timeout, self.warn_before)
        ).encode()


__all__ = ["Policy", "EndReason", "WCAG_MIN_WARNING"]
