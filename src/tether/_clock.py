"""Time is injected, never patched.

A clock is any zero-argument callable returning Unix time in float seconds. Production
uses :func:`time.time`; tests pass :class:`tether.testing.FakeClock` and move it by hand,
so every timeout rule can be checked at its exact boundary without sleeping.
"""

from __future__ import annotations

import time
from typing import Callable

Clock = Callable[[], float]

system_clock: Clock = time.time

__all__ = ["Clock", "system_clock"]
