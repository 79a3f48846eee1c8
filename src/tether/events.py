"""The events ``on_event(event)`` receives, and :class:`Metrics`, the built-in counters.

A public module of its own so that a hook can ``match`` on the classes::

    from tether import events

    def on_event(event: events.Event) -> None:
        match event:
            case events.SessionEnded(reason="revoked"):
                audit.write("revoked", event.key[:8])
"""

from . import _events
from ._events import (  # noqa: F401 - re-exported through __all__ below
    Event,
    HeartbeatAnswered,
    Metrics,
    OnEvent,
    Refused,
    SessionEnded,
    SessionStarted,
    StoreFailed,
    SweepRan,
    TouchWritten,
)

#: The public names: everything in the private module but the internal ``emit``.
__all__ = [name for name in _events.__all__ if name != "emit"]
