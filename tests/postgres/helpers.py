"""Drive an :class:`AsyncPostgresStore` from sync test code."""

from __future__ import annotations

import asyncio
import threading
from typing import Any, Callable, Coroutine

from tether.stores.base import METHODS
from tether.stores.postgres import AsyncPostgresStore


class PerThreadAsync:
    """Each calling thread gets its own event loop and its own async store (an async
    pool belongs to one loop): like one app server per thread, on the same table. The
    contract's concurrent tests then model several servers."""

    def __init__(self, make: Callable[[], AsyncPostgresStore]):
        self._make = make
        self._local = threading.local()
        self._all: list[tuple[asyncio.AbstractEventLoop, AsyncPostgresStore]] = []
        self._lock = threading.Lock()

    def _mine(self) -> tuple[asyncio.AbstractEventLoop, AsyncPostgresStore]:
        mine = getattr(self._local, "mine", None)
        if mine is None:
            mine = self._local.mine = (asyncio.new_event_loop(), self._make())
            with self._lock:
                self._all.append(mine)
        return mine

    def run(self, coro: Callable[[AsyncPostgresStore], Coroutine[Any, Any, Any]]) -> Any:
        loop, store = self._mine()
        return loop.run_until_complete(coro(store))

    def __getattr__(self, name: str) -> Any:
        if name not in METHODS + ("load_and_touch",) or name == "close":
            raise AttributeError(name)
        return lambda *args, **kwargs: self.run(lambda store: getattr(store, name)(*args, **kwargs))

    def close(self) -> None:
        """Close every thread's pool; a loop can only run here, so each runs its close."""
        with self._lock:
            everything, self._all = self._all, []
        for loop, store in everything:
            loop.run_until_complete(store.close())
            loop.close()
