"""The store operations the protocol's generators yield, as typed values.

A generator in :mod:`tether._protocol` yields one of these, a driver
(:mod:`tether._drive`) performs it with a sync or async store and sends the result back.
Typed values rather than tuples named by strings: a reader, a type checker and a test
(``assert ops == [LoadAndTouch(key, now, policy)]``) can all follow an operation from
the decision to the store method that answers it. Each one's docstring names the answer
the generator receives.

Slotted dataclasses, not frozen ones: one or two are built per request, and a frozen
dataclass's ``__init__`` (``object.__setattr__`` per field) costs about four times a
plain slotted one (1.2 µs against 0.3 µs here). Treat them as values: nothing mutates
an operation once yielded.
"""

from __future__ import annotations

from dataclasses import dataclass

from ._events import Event
from ._policy import Policy
from ._records import Meta, Record


@dataclass(slots=True)
class Load:
    """``store.load(key)`` → ``Record | None``."""

    key: str


@dataclass(slots=True)
class LoadAndTouch:
    """``store.load_and_touch(key, now, policy)`` → ``Record | None`` (slid when due)."""

    key: str
    now: float
    policy: Policy


@dataclass(slots=True)
class Touch:
    """``store.touch(key, meta)`` → ``bool`` (False: the record is gone)."""

    key: str
    meta: Meta


@dataclass(slots=True)
class Save:
    """``store.save(record)`` → ``bool``: update an existing record's data and meta."""

    record: Record


@dataclass(slots=True)
class Create:
    """``store.save(record, create=True)`` → ``bool``: a new token's record."""

    record: Record


@dataclass(slots=True)
class Delete:
    """``store.delete(key)`` → ``Record | None``: claimed by this caller, or by another."""

    key: str


@dataclass(slots=True)
class ListByUser:
    """``store.list_by_user(user)`` → ``list[Record]``, oldest first."""

    user: str


@dataclass(slots=True)
class DeleteByUser:
    """``store.delete_by_user(user)`` → ``list[Record]``, all claimed by this caller."""

    user: str


@dataclass(slots=True)
class Sweep:
    """``store.sweep(now, limit)`` → ``list[Record]``: expired records, claimed."""

    now: float
    limit: int


@dataclass(slots=True)
class ReportEnd:
    """Call ``on_end(record, reason)`` (a failing hook is logged) → ``None``."""

    record: Record
    reason: str


@dataclass(slots=True)
class Emit:
    """Call ``on_event(event)`` (a failing hook is logged) → ``None``. Yielded only when a
    hook is set, so a request without one builds no event."""

    event: Event


Op = Load | LoadAndTouch | Touch | Save | Create | Delete | ListByUser | DeleteByUser | Sweep | ReportEnd | Emit

__all__ = ["Op", "Load", "LoadAndTouch", "Touch", "Save", "Create", "Delete", "ListByUser", "DeleteByUser", "Sweep", "ReportEnd", "Emit"]
