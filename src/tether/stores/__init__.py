"""Session stores. Optional backends (redis) are imported from their own modules only."""

from .base import AsyncStore, InlineAsyncStore, Store, StoreSummary, ThreadedAsyncStore
from .memory import AsyncMemoryStore, MemoryStore
from .sqlite import AsyncSQLiteStore, SQLiteStore

__all__ = [
    "Store",
    "AsyncStore",
    "StoreSummary",
    "InlineAsyncStore",
    "ThreadedAsyncStore",
    "MemoryStore",
    "AsyncMemoryStore",
    "SQLiteStore",
    "AsyncSQLiteStore",
]
