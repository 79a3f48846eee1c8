"""Session records and tokens.

The cookie carries a 256-bit random token; the store only ever sees ``hash_token(token)``.
A leaked store or log therefore hands out no live cookie. Data (the application's dict)
is kept apart from meta (tether's timestamps) so that sliding the idle expiry never
rewrites, and so never loses, the application's data.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
from dataclasses import dataclass, field
from typing import Any

TOKEN_BYTES = 32  # 256 bits
_TOKEN_RE = re.compile(r"\A[A-Za-z0-9_-]{43}\Z")


def new_token() -> str:
    """A fresh session token: 32 bytes from :mod:`secrets`, URL-safe base64 (43 chars)."""
    return secrets.token_urlsafe(TOKEN_BYTES)


def is_token(value: str) -> bool:
    """True when ``value`` has the exact shape of a token; anything else is never looked up."""
    return bool(_TOKEN_RE.match(value))


def hash_token(token: str) -> str:
    """The store key for ``token``: SHA-256, hex.

    A plain hash is enough (no salt, no stretching): the token has 256 bits of entropy,
    so there is nothing to brute-force.
    """
    return hashlib.sha256(token.encode("ascii")).hexdigest()


def short_key(key: str) -> str:
    """How logs name a session: 8 hex characters of its store key (the token's hash).
    Enough to follow one session through a day's logs; useless to sign in with."""
    return key[:8]


@dataclass(frozen=True)
class Meta:
    """tether's own facts about a session, in Unix seconds. Never part of ``data``."""

    created_at: float
    last_active: float
    idle_expires_at: float
    absolute_expires_at: float
    user: str | None = None
    #: What a person recognises the session by: a label from the User-Agent at sign-in
    #: (e.g. "Firefox on Linux"), and the client address at sign-in when configured.
    device: str | None = None
    ip: str | None = None
    #: Set on a tombstone: the session was ended (e.g. ``"revoked"``) and its ``on_end``
    #: already reported; the record stays until its expiry only so that the browser that
    #: used it learns why.
    ended: str | None = None

    @property
    def expires_at(self) -> float:
        """When the session ends if nothing happens: the earlier of the two expiries."""
        return min(self.idle_expires_at, self.absolute_expires_at)


@dataclass
class Record:
    """One stored session: its key (the token's hash), the app's data and tether's meta."""

    key: str
    meta: Meta
    data: dict[str, Any] = field(default_factory=dict)


def dump_data(data: dict[str, Any]) -> str:
    """Serialise session data. JSON only: never pickle, so a store cannot run code."""
    return json.dumps(data, separators=(",", ":"), sort_keys=True)


def load_data(raw: str | bytes | None) -> dict[str, Any]:
    if not raw:
        return {}
    value = json.loads(raw)
    return value if isinstance(value, dict) else {}


__all__ = ["Meta", "Record", "new_token", "is_token", "hash_token", "short_key", "dump_data", "load_data"]
