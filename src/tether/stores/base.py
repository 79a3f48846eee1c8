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
import inspect
import queue
import threading
import weakref
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from .._records import Meta, Record
from ..exceptions import ConfigurationError

if TYPE_CHECKING:
    from .._policy import Policy

#: Where the default store keeps its file (the working directory of the server).
DEFAULT_SQLITE_PATH = "tether-sessions.sqlite3"


@dataclass(frozen=True)
class StoreSummary:
    """What a store holds at one moment (``tether sessions stats``), counted by the store
    itself so that nobody reads every record to learn it.

    - ``live``: records not expired and not tombstones (``meta.ended``).
    - ``users``: distinct signed-in users among the live records (anonymous ones excluded).
    - ``expiring``: live records whose expiry is at most ``within`` seconds away.
    - ``ended``: records that have ended but are still stored (expired and not yet swept,
      or tombstones); None when the store cannot tell without reading every record.
    """

    live: int
    users: int
    expiring: int
    ended: int | None


@runtime_checkable
class Store(Protocol):
    """A synchronous session store."""

    def load(self, key: str) -> Record | None:
        """The record stored under ``key``, or None. Expired records may still be returned:
        the caller decides expiry with its policy and clock."""

    def save(self, record: Record, *, create: bool = False) -> bool:
        """Write data and meta.

        ``create=True`` inserts a new record (a new token: sign-in) with all of its meta.
        Otherwise only an existing record is updated (its data, ``user``, and activity
        times), so a slow request never resurrects a session that was ended meanwhile; the
        stored ``last_active`` and ``idle_expires_at`` never move backwards, and
        ``created_at``, ``absolute_expires_at``, ``device``, ``ip`` and ``ended`` keep
        their stored values. Returns False when there was nothing to update.
        """

    def touch(self, key: str, meta: Meta) -> bool:
        """Write meta only: never data, never creating a missing record, never moving
        ``last_active`` backwards. Returns False when the record is missing."""

    def load_and_touch(self, key: str, now: float, policy: Policy) -> Record | None:
        """:meth:`load`, then, when the record is live and ``policy`` wants activity
        written (``wants_touch``), :meth:`touch` it with ``policy.touched`` meta and return
        it with that meta; None when it is missing or vanished before the touch. One step
        so that a store that can (Redis) does it in one round trip; :class:`StoreBase`
        gives every other store this default."""

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

    def summary(self, now: float, within: float) -> StoreSummary:
        """Counts at ``now``: live sessions, their users, how many expire by ``now + within``
        and how many ended ones await the sweeper. Read-only: it claims nothing."""

    def close(self) -> None:
        """Release connections."""


@runtime_checkable
class AsyncStore(Protocol):
    """The same contract as :class:`Store`, awaited."""

    async def load(self, key: str) -> Record | None: ...
    async def save(self, record: Record, *, create: bool = False) -> bool: ...
    async def touch(self, key: str, meta: Meta) -> bool: ...
    async def load_and_touch(self, key: str, now: float, policy: Policy) -> Record | None: ...
    async def delete(self, key: str) -> Record | None: ...
    async def sweep(self, now: float, limit: int = 100) -> list[Record]: ...
    async def list_by_user(self, user: str) -> list[Record]: ...
    async def delete_by_user(self, user: str) -> list[Record]: ...
    async def count(self) -> int: ...
    async def summary(self, now: float, within: float) -> StoreSummary: ...
    async def close(self) -> None: ...


#: The contract's methods: what a wrapper (an async adapter, a proxy) forwards.
METHODS = (
    "load", "load_and_touch", "save", "touch", "delete", "sweep", "list_by_user", "delete_by_user", "count", "summary",
    "close",
)


class StoreBase:
    """The contract's default for ``load_and_touch``, over the store's ``load`` and
    ``touch`` (two calls; a store that can do it in one overrides it)."""

    def load_and_touch(self, key: str, now: float, policy: Policy) -> Record | None:
        record: Record | None = self.load(key)  # type: ignore[attr-defined]
        if record is None or policy.end_reason(record.meta, now) is not None or not policy.wants_touch(record.meta, now):
            return record
        meta = policy.touched(record.meta, now)
        if not self.touch(key, meta):  # type: ignore[attr-defined]
            return None  # ended by another request between the load and the touch
        record.meta = meta
        return record


class AsyncStoreBase:
    """:class:`StoreBase`'s default for native async stores."""

    async def load_and_touch(self, key: str, now: float, policy: Policy) -> Record | None:
        record: Record | None = await self.load(key)  # type: ignore[attr-defined]
        if record is None or policy.end_reason(record.meta, now) is not None or not policy.wants_touch(record.meta, now):
            return record
        meta = policy.touched(record.meta, now)
        if not await self.touch(key, meta):  # type: ignore[attr-defined]
            return None
        record.meta = meta
        return record


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
    """Runs a sync store on one worker thread so that an event loop never blocks on it.

    For stores without a native async twin (SQLite). Calls run in order on one thread, so
    one connection serves them all. They are handed over through a plain queue and
    resolved with one ``call_soon_threadsafe``, rather than through
    ``loop.run_in_executor``: about 7 µs of CPU per call instead of about 23 µs, and a
    heartbeat makes one or two calls (bench/README.md).
    """

    def __init__(self, store: Store):
        super().__init__(store)
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        # The worker holds the queue, not the store: it stops when the store is collected.
        weakref.finalize(self, self._queue.put, None)

    def _wrap(self, method: Any) -> Any:
        async def call(*args: Any, **kwargs: Any) -> Any:
            loop = asyncio.get_running_loop()
            future = loop.create_future()
            self._queue.put((method, args, kwargs, loop, future))
            thread = self._thread
            if thread is None or not thread.is_alive():  # first call, or after a fork
                self._start()
            return await future

        return call

    def _start(self) -> None:
        with self._start_lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=_work, args=(self._queue,), name="tether-store", daemon=True)
                self._thread.start()


def _work(jobs: queue.SimpleQueue[Any]) -> None:
    while True:
        job = jobs.get()
        if job is None:
            return
        method, args, kwargs, loop, future = job
        del job
        if future.cancelled():  # the caller gave up before its turn came: skip, as an executor does
            continue
        try:
            outcome, ok = method(*args, **kwargs), True
        except BaseException as exc:  # handed to the awaiting coroutine, like an executor
            outcome, ok = exc, False
        try:
            loop.call_soon_threadsafe(_resolve, future, outcome, ok)
        except RuntimeError:  # the loop was closed meanwhile: nobody is waiting
            pass
        del method, args, kwargs, loop, future, outcome


def _resolve(future: asyncio.Future[Any], outcome: Any, ok: bool) -> None:
    if future.done():  # cancelled while the call ran
        return
    if ok:
        future.set_result(outcome)
    else:
        future.set_exception(outcome)


def is_async_store(store: object) -> bool:
    return inspect.iscoroutinefunction(getattr(store, "load", None))


def _check_contract(store: Any) -> Any:
    if not callable(getattr(store, "load_and_touch", None)):
        raise ConfigurationError(
            f"{type(store).__name__} has no load_and_touch(key, now, policy); subclass "
            "tether.stores.base.StoreBase (or AsyncStoreBase) for the contract's default"
        )
    return store


def as_sync_store(store: Any) -> Any:
    """A sync store as is; the SQLite file by default. An async store cannot serve WSGI."""
    if store is None:
        from .sqlite import SQLiteStore

        return SQLiteStore(DEFAULT_SQLITE_PATH)
    if is_async_store(store):
        raise ConfigurationError(
            f"{type(store).__name__} is an async store; WSGI needs its sync twin (e.g. SQLiteStore, RedisStore)"
        )
    return _check_contract(store)


def as_async_store(store: Any) -> Any:
    """An async store as is; a sync one runs off the event loop on a worker thread, or
    inline when its calls never block (``blocking = False``: memory). Default: SQLite."""
    if store is None:
        from .sqlite import AsyncSQLiteStore

        return AsyncSQLiteStore(DEFAULT_SQLITE_PATH)
    if is_async_store(store):
        return _check_contract(store)
    _check_contract(store)
    return ThreadedAsyncStore(store) if getattr(store, "blocking", True) else InlineAsyncStore(store)


__all__ = [
    "Store",
    "AsyncStore",
    "StoreBase",
    "AsyncStoreBase",
    "StoreSummary",
    "InlineAsyncStore",
    "ThreadedAsyncStore",
    "DEFAULT_SQLITE_PATH",
    "is_async_store",
    "as_sync_store",
    "as_async_store",
]
