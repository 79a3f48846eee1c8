"""The store contract: one for every backend, sync and async with the same method names.

All times are Unix seconds (float). Keys are token hashes (see ``tether._records``);
a store never sees a token. Every method that removes records *claims* them: it returns
what it removed, and a record is returned by exactly one caller, even with many app
servers. That is what lets ``on_end`` fire exactly once per session.

Stores raise :class:`tether.exceptions.StoreUnavailable` when the backend cannot be
reached or is locked, never their driver's own exceptions.
"""

from __future__ import annotations

import asyncio
import functools
from typing import Any, Protocol, runtime_checkable

from .._records import Meta, Record


@runtime_checkable
class Store(Protocol):
    """A synchronous session store."""

    def load(self, key: str) -> Record | None:
        """The record stored under ``key``, or None. Expired records may still be returned:
        the caller decides expiry with its policy and clock."""

    def save(self, record: Record, *, create: bool = False) -> bool:
        """Write data and meta.

        ``create=True`` inserts a new record (a new token: sign-in). Otherwise only an
        existing record is updated, so a slow request never resurrects a session that was
        ended meanwhile; the stored ``last_active`` and ``idle_expires_at`` never move
        backwards. Returns False when there was nothing to update.
        """

    def touch(self, key: str, meta: Meta) -> bool:
        """Write meta only: never data, never creating a missing record, never moving
        ``last_active`` backwards. Returns False when the record is missing."""

    def delete(self, key: str) -> Record | None:
        """Remove and return the record, or None when another caller removed it first."""

    def sweep(self, now: float, limit: int = 100) -> list[Record]:
        """Claim and remove up to ``limit`` records whose expiry is at or before ``now``."""

    def list_by_user(self, user: str) -> list[Record]:
        """Every stored record of ``user``, oldest first."""

    def delete_by_user(self, user: str) -> list[Record]:
        """Remove and return every record of ``user`` (revoke all their sessions)."""

    def count(self) -> int:
        """How many records are stored (expired ones not yet swept included)."""

    def close(self) -> None:
        """Release connections."""


@runtime_checkable
class AsyncStore(Protocol):
    """The same contract as :class:`Store`, awaited."""

    async def load(self, key: str) -> Record | None: ...
    async def save(self, record: Record, *, create: bool = False) -> bool: ...
    async def touch(self, key: str, meta: Meta) -> bool: ...
    async def delete(self, key: str) -> Record | None: ...
    async def sweep(self, now: float, limit: int = 100) -> list[Record]: ...
    async def list_by_user(self, user: str) -> list[Record]: ...
    async def delete_by_user(self, user: str) -> list[Record]: ...
    async def count(self) -> int: ...
    async def close(self) -> None: ...


METHODS = ("load", "save", "touch", "delete", "sweep", "list_by_user", "delete_by_user", "count", "close")


class InlineAsyncStore:
    """An :class:`AsyncStore` over a sync store whose calls never block (memory).

    The awaitable methods are made once per instance and cached, so a call costs one
    coroutine and nothing more.
    """

    def __init__(self, store: Store):
        self.sync = store

    def _wrap(self, method: Any) -> Any:
        async def call(*args: Any, **kwargs: Any) -> Any:
            return method(*args, **kwargs)

        return call

    def __getattr__(self, name: str) -> Any:
        if name not in METHODS:
            raise AttributeError(name)
        call = self._wrap(getattr(self.sync, name))
        setattr(self, name, call)
        return call


class ThreadedAsyncStore(InlineAsyncStore):
    """Runs a sync store in a worker thread so that an event loop never blocks on it.

    Use it for stores without a native async twin. One worker thread keeps one connection
    (SQLite serialises writers anyway) and preserves the order of calls.
    """

    def __init__(self, store: Store, *, executor: Any = None):
        from concurrent.futures import ThreadPoolExecutor

        super().__init__(store)
        self._executor = executor or ThreadPoolExecutor(max_workers=1, thread_name_prefix="tether-store")

    def _wrap(self, method: Any) -> Any:
        async def call(*args: Any, **kwargs: Any) -> Any:
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(self._executor, functools.partial(method, *args, **kwargs))

        return call


def is_async_store(store: object) -> bool:
    return asyncio.iscoroutinefunction(getattr(store, "load", None))


__all__ = ["Store", "AsyncStore", "InlineAsyncStore", "ThreadedAsyncStore", "is_async_store"]
