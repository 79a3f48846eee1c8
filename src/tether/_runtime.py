"""The runtime: a protocol, its store, ``on_end``, revoking, sweeping and the 503 guard.

Assembled here once, as a sync and an async twin (the way httpx pairs ``Client`` and
``AsyncClient``), and used by every adapter: the ASGI and WSGI middlewares are runtimes
that also speak their server interface, and Django's configured runtime is a
:class:`Runtime`. An adapter then only translates requests and responses.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
from typing import Any, Callable, Generator, TypeVar

from ._config import Config
from ._drive import run_async, run_sync
from ._events import StoreFailed, SweepRan, emit
from ._ops import Op
from ._protocol import Protocol, Request, Response
from ._settings import Settings, build_settings
from .exceptions import ConfigurationError, StoreUnavailable
from .stores.base import as_async_store, as_sync_store

logger = logging.getLogger("tether")

T = TypeVar("T")

#: What a middleware accepts beside a ready ``config=Config(...)``.
_BESIDE_CONFIG = ("store", "sweep_interval")


def middleware_settings(config: Config | None, values: dict[str, Any], *, asynchronous: bool) -> Settings:
    """A middleware's keyword settings: the one vocabulary (:mod:`tether._settings`), or a
    ready ``Config`` plus ``store`` and ``sweep_interval``."""
    if config is None:
        return build_settings(values, asynchronous=asynchronous)
    extra = sorted(set(values) - set(_BESIDE_CONFIG))
    if extra:
        raise ConfigurationError(
            f"pass config=Config(...) or separate settings, not both (got config and {', '.join(extra)})"
        )
    built = build_settings({k: values[k] for k in _BESIDE_CONFIG if k in values}, asynchronous=asynchronous)
    return Settings(config, built.store, built.sweep_interval)


class _BaseRuntime:
    """What both twins hold: the validated config and the protocol made from it."""

    def __init__(self, settings: Settings) -> None:
        self.config = settings.config
        self.sweep_interval = settings.sweep_interval
        if getattr(settings.store, "carries_record", False) is True:  # not a mock answering any name
            # Signed-cookie mode: the cookie is the record; the store only ever answers
            # for its optional revocation store (without one, no operation is yielded).
            from ._cookie_mode import CookieProtocol

            self.protocol: Protocol = CookieProtocol(settings.config, settings.store)
        else:
            self.protocol = Protocol(settings.config)
        self.on_event = settings.config.on_event

    def unavailable(self, exc: StoreUnavailable) -> Response:
        """The store is down or locked: log it, answer 503 with Retry-After (never "ended")."""
        logger.warning("tether: %s", exc)
        emit(self.on_event, StoreFailed(str(exc), answered_503=True))
        return self.protocol.unavailable(exc)

    def sweep_skipped(self, exc: StoreUnavailable) -> None:
        """A sweep met a store that is down: log it; the next one retries."""
        logger.warning("tether: sweep skipped: %s", exc)
        emit(self.on_event, StoreFailed(str(exc), answered_503=False))

    def swept(self, claimed: int, started: float) -> int:
        """Report a finished sweep (``started``: its ``time.perf_counter()``)."""
        if claimed:
            logger.info("tether: swept %d expired session(s)", claimed)
        emit(self.on_event, SweepRan(claimed, time.perf_counter() - started))
        return claimed


class Runtime(_BaseRuntime):
    """The sync runtime (WSGI, Django, scripts): a sync store, and a sweeper thread that
    :meth:`Sweeper.ensure` starts on the first request of each process."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self.store = as_sync_store(settings.store)
        self.sweeper = Sweeper(self.sweep_all, settings.sweep_interval, self.sweep_skipped)

    def run(self, gen: Generator[Op, Any, T]) -> T:
        return run_sync(gen, self.store, self.config.on_end, self.on_event)

    def answer(self, request: Request, body: bytes | None = b"") -> Response:
        """An endpoint's answer; a 503 when the store fails."""
        try:  # run_sync directly, not self.run: the heartbeat is the hot path
            return run_sync(self.protocol.endpoint(request, body), self.store, self.config.on_end, self.on_event)
        except StoreUnavailable as exc:
            return self.unavailable(exc)

    def revoke(self, key: str | None = None, *, user: str | None = None, keep: str | None = None) -> int:
        """End one session (by store key) or all of a user's but ``keep``; ``on_end`` sees
        ``revoked`` (see :meth:`Protocol.revoke`)."""
        return self.run(self.protocol.revoke(key, user=user, keep=keep))

    def sweep_all(self, limit: int = 100) -> int:
        """Claim every expired session now, in batches of ``limit``; returns how many."""
        started, total = time.perf_counter(), 0
        while True:
            count = self.run(self.protocol.sweep(limit))
            total += count
            if count < limit:
                return self.swept(total, started)

    sweep = sweep_all  # the adapters' public name


class AsyncRuntime(_BaseRuntime):
    """The async runtime (ASGI): an async store (a sync one is run off the loop), and a
    sweeper task that lives from the server's lifespan startup to its shutdown."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self.store = as_async_store(settings.store)
        self._sweeper: asyncio.Task[None] | None = None
        self._sweeping: asyncio.Future[int] | None = None

    async def run(self, gen: Generator[Op, Any, T]) -> T:
        return await run_async(gen, self.store, self.config.on_end, self.on_event)

    async def answer(self, request: Request, body: bytes | None = b"") -> Response:
        """An endpoint's answer; a 503 when the store fails."""
        try:  # run_async directly, not self.run: the heartbeat is the hot path
            return await run_async(self.protocol.endpoint(request, body), self.store, self.config.on_end, self.on_event)
        except StoreUnavailable as exc:
            return self.unavailable(exc)

    async def revoke(self, key: str | None = None, *, user: str | None = None, keep: str | None = None) -> int:
        """End one session (by store key) or all of a user's but ``keep``; ``on_end`` sees
        ``revoked`` (see :meth:`Protocol.revoke`)."""
        return await self.run(self.protocol.revoke(key, user=user, keep=keep))

    async def sweep_all(self, limit: int = 100) -> int:
        """Claim every expired session now, in batches of ``limit``; returns how many."""
        started, total = time.perf_counter(), 0
        while True:
            count = await self.run(self.protocol.sweep(limit))
            total += count
            if count < limit:
                return self.swept(total, started)

    sweep = sweep_all  # the adapters' public name

    def start_sweeping(self) -> None:
        """At lifespan startup: sweep every ``sweep_interval`` seconds (None: never)."""
        if self.sweep_interval:
            self._sweeper = asyncio.ensure_future(self._sweep_forever(self.sweep_interval))

    async def stop_sweeping(self) -> None:
        """At lifespan shutdown: stop, but let a batch in flight report what it claimed."""
        if self._sweeper is None:
            return
        self._sweeper.cancel()
        self._sweeper = None
        sweeping = self._sweeping
        if sweeping is not None and not sweeping.done():
            await asyncio.wait([sweeping])
            if not sweeping.cancelled() and sweeping.exception() is not None:
                logger.warning("tether: last sweep failed: %s", sweeping.exception())

    async def _sweep_forever(self, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            try:
                # Shielded: cancelling the sweeper at shutdown must not drop the endings
                # of records a batch has already claimed.
                self._sweeping = asyncio.ensure_future(self.sweep_all())
                await asyncio.shield(self._sweeping)
            except StoreUnavailable as exc:
                self.sweep_skipped(exc)
            except Exception:  # the sweeper must outlive a failing on_end hook
                logger.exception("tether: sweep failed")


class Sweeper:
    """A daemon thread that calls ``sweep()`` every ``interval`` seconds.

    Started by :meth:`ensure` on the first request of each process, so a forking server
    (gunicorn, uWSGI) gets one per worker rather than one in the parent that dies at fork.
    """

    def __init__(
        self, sweep: Callable[[], int], interval: float | None, skipped: Callable[[StoreUnavailable], None] | None = None
    ):
        self.sweep = sweep
        self.interval = interval
        self.skipped = skipped
        self._pid: int | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()

    def ensure(self) -> None:
        if self.interval and self._pid != os.getpid():
            with self._lock:
                if self._pid != os.getpid():
                    self._pid = os.getpid()
                    self._stop = threading.Event()
                    threading.Thread(
                        target=self._forever, args=(self._stop, self.interval), name="tether-sweeper", daemon=True
                    ).start()

    def stop(self) -> None:
        self._stop.set()

    def _forever(self, stop: threading.Event, interval: float) -> None:
        while not stop.wait(interval):
            try:
                self.sweep()
            except StoreUnavailable as exc:
                if self.skipped is not None:
                    self.skipped(exc)
                else:
                    logger.warning("tether: sweep skipped: %s", exc)
            except Exception:  # the sweeper must outlive a failing on_end hook
                logger.exception("tether: sweep failed")


__all__ = ["Runtime", "AsyncRuntime", "Sweeper", "middleware_settings"]
