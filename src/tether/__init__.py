"""tether: server-side sessions that stay alive while people work and end safely when
they leave. See the README for a quick start."""

from ._clock import Clock, system_clock
from ._policy import EndReason, Policy
from ._config import Config
from ._drive import run_async, run_sync
from ._device import device_label
from ._events import Metrics
from ._protocol import Protocol, Request, Response
from ._session import Session
from ._records import Meta, Record, hash_token, new_token
from ._safety import cross_site_refusal, safe_next
from ._script import script_tag
from .asgi import TetherMiddleware
from .exceptions import ConfigurationError, StoreUnavailable, TetherError
from .stores import (
    AsyncMemoryStore,
    AsyncSQLiteStore,
    AsyncStore,
    MemoryStore,
    SQLiteStore,
    Store,
)

__version__ = "0.1.0"

__all__ = [
    "__version__",
    # configuration
    "Policy",
    "Config",
    "Clock",
    "system_clock",
    # sessions
    "Session",
    "Meta",
    "Record",
    "EndReason",
    "new_token",
    "hash_token",
    # stores
    "Store",
    "AsyncStore",
    "MemoryStore",
    "AsyncMemoryStore",
    "SQLiteStore",
    "AsyncSQLiteStore",
    # adapters and the sans-I/O core
    "TetherMiddleware",
    "Protocol",
    "Request",
    "Response",
    "run_sync",
    "run_async",
    "script_tag",
    # operating it
    "Metrics",
    "device_label",
    # safety for the app's own pages
    "safe_next",
    "cross_site_refusal",
    # errors
    "TetherError",
    "ConfigurationError",
    "StoreUnavailable",
]
