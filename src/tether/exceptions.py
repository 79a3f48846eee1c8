"""tether's exceptions.

Hierarchy::

    TetherError
    ├── ConfigurationError      bad settings, raised at start-up, never per request
    ├── StoreUnavailable        the store cannot be reached or is locked: callers answer
    │                           503 with Retry-After, never "ended"
    ├── CookieTooLarge          signed-cookie mode: the session no longer fits in 4096
    │                           bytes; raised where the app writes ``session.data``
    └── NotInCookieMode         signed-cookie mode cannot answer this (listing sessions,
                                sweeping them): they live in browsers, not on the server
"""

from __future__ import annotations


class TetherError(Exception):
    """Root of every error tether raises on purpose."""


class ConfigurationError(TetherError, ValueError):
    """A setting is invalid. The message says which one and why."""


class StoreUnavailable(TetherError):
    """The session store did not answer (down, locked, timed out).

    This is never a reason to end a session: the protocol answers 503 and the client
    retries. ``retry_after`` is the suggested wait in seconds.
    """

    def __init__(self, message: str = "session store unavailable", *, retry_after: int = 5):
        super().__init__(message)
        self.retry_after = retry_after


class CookieTooLarge(TetherError, ValueError):
    """Signed-cookie mode: the session's data would make the cookie longer than its cap
    (4096 bytes, what every browser keeps). Raised in the app's code by the write to
    ``session.data`` that crosses the cap; the data is left as it was before that write."""


class NotInCookieMode(TetherError):
    """Signed-cookie mode keeps no server-side record of live sessions, so it cannot list
    or count them, nor sweep them (and so cannot report their silent expiry)."""


__all__ = ["TetherError", "ConfigurationError", "StoreUnavailable", "CookieTooLarge", "NotInCookieMode"]
