"""The two drivers of the protocol's generators: the only place an operation meets a store.

``run_sync`` performs each :mod:`tether._ops` operation with a sync store, ``run_async``
with an async one (awaiting what it returns). They live apart from the protocol so that
the module which promises no I/O imports neither asyncio nor a store.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from typing import Any, Callable, Generator, TypeVar

from ._events import OnEvent, SessionEnded, emit
from ._ops import Create, Delete, DeleteByUser, Emit, ListByUser, Load, LoadAndTouch, Op, ReportEnd, Save, Sweep, Touch
from ._records import Record, short_key

logger = logging.getLogger("tether")

T = TypeVar("T")
OnEnd = Callable[[Record, str], Any]


def perform(store: Any, op: Op) -> Any:
    """Call the store method that answers ``op`` (its result, or an awaitable of it).
    The hot operations come first (a heartbeat is one ``LoadAndTouch``); class patterns
    without sub-patterns, because binding fields in the pattern costs 3× more here."""
    match op:
        case LoadAndTouch():
            return store.load_and_touch(op.key, op.now, op.policy)
        case Load():
            return store.load(op.key)
        case Touch():
            return store.touch(op.key, op.meta)
        case Save():
            return store.save(op.record)
        case Create():
            return store.save(op.record, create=True)
        case Delete():
            return store.delete(op.key)
        case ListByUser():
            return store.list_by_user(op.user)
        case DeleteByUser():
            return store.delete_by_user(op.user)
        case Sweep():
            return store.sweep(op.now, op.limit)
    raise TypeError(f"not a store operation: {op!r}")


def report(on_end: OnEnd | None, record: Record, reason: str) -> Any:
    """Call the hook; a failing hook is logged and never stops the other endings (the
    record is already claimed) nor turns a request into a 500."""
    if on_end is None:
        return None
    try:
        return on_end(record, reason)
    except Exception:
        logger.exception("tether: on_end failed for session %s (%s)", short_key(record.key), reason)
        return None


def run_sync(
    gen: Generator[Op, Any, T], store: Any, on_end: OnEnd | None = None, on_event: OnEvent | None = None
) -> T:
    """Drive a protocol generator with a sync store; ``on_end`` and ``on_event`` are the hooks."""
    try:
        op = next(gen)
        while True:
            if isinstance(op, ReportEnd):
                report(on_end, op.record, op.reason)
                emit(on_event, SessionEnded(op.record.key, op.reason))
                op = gen.send(None)
            elif isinstance(op, Emit):
                emit(on_event, op.event)
                op = gen.send(None)
            else:
                op = gen.send(perform(store, op))
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]


async def run_async(
    gen: Generator[Op, Any, T], store: Any, on_end: OnEnd | None = None, on_event: OnEvent | None = None
) -> T:
    """Drive a protocol generator with an async store. ``on_end`` may be a coroutine
    function (awaited) or a plain one (run in a thread: it may do I/O; the loop goes on).
    ``on_event`` is called on the loop: it must be quick (a counter, a queue put)."""
    try:
        op = next(gen)
        while True:
            if isinstance(op, ReportEnd):
                await areport(on_end, op.record, op.reason)
                emit(on_event, SessionEnded(op.record.key, op.reason))
                op = gen.send(None)
                continue
            if isinstance(op, Emit):
                emit(on_event, op.event)
                op = gen.send(None)
                continue
            result = perform(store, op)
            if inspect.isawaitable(result):
                result = await result
            op = gen.send(result)
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]


async def areport(on_end: OnEnd | None, record: Record, reason: str) -> None:
    """:func:`report` from an event loop: a plain hook runs in a thread."""
    if on_end is None:
        return
    if inspect.iscoroutinefunction(on_end):
        result = report(on_end, record, reason)
    else:
        result = await asyncio.to_thread(report, on_end, record, reason)
    if inspect.isawaitable(result):
        try:
            await result
        except Exception:
            logger.exception("tether: on_end failed for session %s (%s)", short_key(record.key), reason)


__all__ = ["Op", "OnEnd", "perform", "report", "areport", "run_sync", "run_async"]
