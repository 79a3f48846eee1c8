"""The async store's coalescing of one-call operations (every heartbeat, load, save,
touch, delete): the calls that tasks make in one turn of the event loop go to Redis
together, as one round trip sent at the start of the next turn.

redis-py's per-command cost (pool checkout and release, retry wrapper, instrumentation
hooks, a socket write and a read) is most of a heartbeat's store CPU; a pipeline pays it
once for all (heartbeat CPU 437 -> 343 µs when this came in). Each call still gets its
own result or its own error, scripts stay separate (a call is never retried because
another one failed), and a lone call is sent as a plain command.
"""

from __future__ import annotations

import asyncio
from typing import Any, Awaitable, Callable

from redis.exceptions import RedisError

from ._layout import Call

_Pending = tuple[asyncio.AbstractEventLoop, list[tuple[Call, "asyncio.Future[Any]"]]]


class Batcher:
    """Gathers calls per loop turn and hands each batch to ``send``, which returns one
    result per call (a call's own error as its result) or raises for the whole batch."""

    def __init__(self, send: Callable[[list[Call]], Awaitable[list[Any]]]):
        self._send = send
        #: The calls gathered in the current turn, and the loop they belong to.
        self.pending: _Pending | None = None
        self.sending: set[asyncio.Task[None]] = set()  # strong references until done

    def submit(self, call: Call, loop: asyncio.AbstractEventLoop) -> asyncio.Future[Any]:
        """The future result of ``call``, sent with the other calls of this loop turn
        (the running ``loop``); its error, or the batch's, is the future's exception."""
        future: asyncio.Future[Any] = loop.create_future()
        pending = self.pending
        if pending is None or pending[0] is not loop:
            pending = self.pending = (loop, [])
            loop.call_soon(self._send_next_turn, pending)
        pending[1].append((call, future))
        return future

    def _send_next_turn(self, pending: _Pending) -> None:
        if self.pending is pending:
            self.pending = None
        task = pending[0].create_task(self._send_and_resolve(pending[1]))
        self.sending.add(task)
        task.add_done_callback(self.sending.discard)

    async def _send_and_resolve(self, batch: list[tuple[Call, asyncio.Future[Any]]]) -> None:
        try:
            results = await self._send([call for call, _ in batch])
        except BaseException as exc:
            # The round trip as a whole failed (connection, timeout) or this task was
            # cancelled (the loop is shutting down): every call in it fails alike.
            error = exc if isinstance(exc, Exception) else RedisError(f"redis call interrupted: {exc!r}")
            for _, future in batch:
                if not future.done():
                    future.set_exception(error)
            if not isinstance(exc, Exception):
                raise
            return
        for (_, future), result in zip(batch, results):
            if future.done():  # its caller was cancelled meanwhile
                continue
            if isinstance(result, BaseException):
                future.set_exception(result)
            else:
                future.set_result(result)
