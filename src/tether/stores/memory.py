"""In-process stores, for tests and one-process apps. Nothing survives a restart."""

from __future__ import annotations

import copy
import threading
from typing import Any

from .._records import Meta, Record
from .base import InlineAsyncStore, StoreBase, StoreSummary


class MemoryStore(StoreBase):
    """A dict behind a lock. Records are copied in and out, as a real store would."""

    #: Its calls never wait on I/O: an event loop may call it inline, without a thread.
    blocking = False

    def __init__(self) -> None:
        self._records: dict[str, Record] = {}
        self._lock = threading.Lock()

    @staticmethod
    def _copy(record: Record) -> Record:
        return Record(key=record.key, meta=record.meta, data=_copied(record.data))

    def load(self, key: str) -> Record | None:
        with self._lock:
            record = self._records.get(key)
            return None if record is None else self._copy(record)

    def save(self, record: Record, *, create: bool = False) -> bool:
        with self._lock:
            old = self._records.get(record.key)
            if old is None and not create:
                return False
            meta = record.meta
            if old is not None and not create:
                meta = _forward(old.meta, meta)
            self._records[record.key] = Record(record.key, meta, _copied(record.data))
            return True

    def touch(self, key: str, meta: Meta) -> bool:
        with self._lock:
            old = self._records.get(key)
            if old is None:
                return False
            old.meta = _forward(old.meta, meta)
            return True

    def delete(self, key: str) -> Record | None:
        with self._lock:
            return self._records.pop(key, None)

    def sweep(self, now: float, limit: int = 100) -> list[Record]:
        with self._lock:
            due = sorted((r for r in self._records.values() if r.meta.expires_at <= now), key=lambda r: r.meta.expires_at)
            claimed = due[:limit]
            for record in claimed:
                del self._records[record.key]
            return claimed

    def list_by_user(self, user: str) -> list[Record]:
        with self._lock:
            mine = [self._copy(r) for r in self._records.values() if r.meta.user == user]
        return sorted(mine, key=lambda r: r.meta.created_at)

    def delete_by_user(self, user: str) -> list[Record]:
        with self._lock:
            mine = [r for r in self._records.values() if r.meta.user == user]
            for record in mine:
                del self._records[record.key]
        return sorted(mine, key=lambda r: r.meta.created_at)

    def count(self) -> int:
        return len(self._records)

    def summary(self, now: float, within: float) -> StoreSummary:
        with self._lock:
            metas = [r.meta for r in self._records.values()]
        live = [m for m in metas if m.expires_at > now and m.ended is None]
        return StoreSummary(
            live=len(live),
            users=len({m.user for m in live if m.user is not None}),
            expiring=sum(m.expires_at <= now + within for m in live),
            ended=len(metas) - len(live),
        )

    def close(self) -> None:
        pass


class AsyncMemoryStore(InlineAsyncStore):
    """The async twin of :class:`MemoryStore`; it never blocks, so no thread is needed."""

    def __init__(self, sync: MemoryStore | None = None) -> None:
        super().__init__(sync or MemoryStore())


#: Values that are never mutated in place: shared, not copied.
_IMMUTABLE = frozenset((str, int, float, bool, type(None)))


def _copied(data: dict[str, Any]) -> dict[str, Any]:
    """A copy of session data that shares nothing mutable with ``data``: what
    ``copy.deepcopy`` gives, but scalar values (the usual session data, and every load of
    the heartbeat) are taken as they are, without deepcopy's memo and dispatch (about
    2 µs a load); only lists, dicts and other objects go through it."""
    return {k: v if type(v) in _IMMUTABLE else copy.deepcopy(v) for k, v in data.items()}


def _forward(old: Meta, new: Meta) -> Meta:
    """Merge meta so that activity times only move forward (a slow request loses); what
    only sign-in sets (created, absolute expiry, device, ip, ended) keeps its stored value."""
    return Meta(
        created_at=old.created_at,
        last_active=max(old.last_active, new.last_active),
        idle_expires_at=max(old.idle_expires_at, new.idle_expires_at),
        absolute_expires_at=old.absolute_expires_at,
        user=new.user,
        device=old.device,
        ip=old.ip,
        ended=old.ended,
    )


__all__ = ["MemoryStore", "AsyncMemoryStore"]
