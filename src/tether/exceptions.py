"""tether's exceptions.

Hierarchy::

    TetherError
    ├── ConfigurationError      bad settings, raised at start-up, never per request
    └── StoreUnavailable        the store cannot be reached or is locked: callers answer
                                503 with Retry-After, never "ended"
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


__all__ = ["TetherError", "ConfigurationError", "StoreUnavailable"]
