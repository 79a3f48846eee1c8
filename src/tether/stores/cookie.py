"""Signed-cookie mode: the cookie carries the session (data and meta), signed; no store.

:class:`SignedCookieStore` is what an app passes as ``store`` (or the URL ``cookie:``).
It holds the keys, the size cap and an optional *revocation store*; the runtime sees
``carries_record = True`` and answers with :class:`tether._cookie_mode.CookieProtocol`,
whose :class:`CookieCodec` turns a cookie value into a :class:`Record` and back. The
same idle and absolute rules then apply, read from the signed meta (never from the
cookie's Max-Age, which the browser controls).

The revocation store is any existing store (memory, SQLite, Redis, PostgreSQL). It holds
only deny entries, tombstone records keyed by the hash of a session id (``Meta.ended`` is
``"logout"`` or ``"revoked"``), and per-user "not before" entries, each expiring when no
cookie it refuses can still be live, so the ordinary sweeper removes them. Without it, a
logout only clears this browser's cookie: a copied cookie stays valid until it expires.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
import zlib
from typing import Any, Sequence

from itsdangerous import BadData, BadSignature, SignatureExpired

from .._clock import Clock
from .._records import Meta, Record, hash_token
from ..exceptions import ConfigurationError, CookieTooLarge, NotInCookieMode
from .base import is_async_store

#: What every browser keeps of one cookie (RFC 6265 §6.1 asks for at least 4096 bytes of
#: name, value and attributes); a longer one is dropped by the browser without a word.
MAX_COOKIE_BYTES = 4096
#: The attributes tether adds (``Path=/; HttpOnly; SameSite=Strict; Secure``), counted
#: against the cap so that the whole Set-Cookie fits.
_ATTRIBUTES_BYTES = 48
_SALT = "tether.session"


def split_keys(secret_key: str | bytes | Sequence[str | bytes] | None) -> list[str | bytes]:
    """The signing keys, newest first, from one key, a comma-separated string or a list."""
    if secret_key is None:
        secret_key = os.environ.get("TETHER_SECRET_KEY")
    if isinstance(secret_key, str):
        keys: list[str | bytes] = [k.strip() for k in secret_key.split(",") if k.strip()]
    elif isinstance(secret_key, bytes):
        keys = [secret_key] if secret_key else []
    elif secret_key is None:
        keys = []
    else:
        keys = [k for k in secret_key if k]
    if not keys:
        raise ConfigurationError(
            "signed-cookie mode needs a secret key: set TETHER_SECRET_KEY or the secret_key setting "
            "(several keys comma-separated, newest first); there is no default key"
        )
    for key in keys:
        if len(key) < 16:
            raise ConfigurationError("each secret key must be at least 16 characters (use secrets.token_urlsafe(32))")
    return keys


class SignedCookieStore:
    """The session lives in the browser's cookie, signed with ``secret_key``.

    - ``secret_key``: a key, a comma-separated string or a list, newest first (the newest
      signs; older ones still verify, for rotation). None: ``TETHER_SECRET_KEY``.
    - ``revocations``: an optional store for logout and revoke deny entries (see the
      module docstring); without one, a copied cookie outlives a logout.
    - ``max_size``: the cap on name, value and attributes, 4096 bytes by default.

    As a store it answers nothing about live sessions: they are not on the server. The
    listing methods raise :class:`~tether.exceptions.NotInCookieMode` with the reason.
    """

    carries_record = True

    def __init__(
        self,
        secret_key: str | bytes | Sequence[str | bytes] | None = None,
        *,
        revocations: Any = None,
        max_size: int = MAX_COOKIE_BYTES,
    ) -> None:
        self.secret_keys = split_keys(secret_key)
        if revocations is not None and is_async_store(revocations):
            raise ConfigurationError("revocations must be a sync store (an async adapter runs it off the loop)")
        self.revocations = revocations
        if not 256 <= max_size <= MAX_COOKIE_BYTES:
            raise ConfigurationError(f"max_size must be between 256 and {MAX_COOKIE_BYTES} bytes")
        self.max_size = max_size
        #: Memory revocations (or none) never block; a networked or file store does.
        self.blocking = getattr(revocations, "blocking", True) if revocations is not None else False

    # -- what the protocol asks of the revocation store (deny entries only) ----------------

    def _revocations(self, what: str) -> Any:
        if self.revocations is None:
            raise self._unsupported(what)
        return self.revocations

    def load(self, key: str) -> Record | None:
        """A deny entry (a tombstone or a user's not-before mark), or None."""
        entry: Record | None = self._revocations("look up a deny entry without a revocation store").load(key)
        return entry

    def save(self, record: Record, *, create: bool = False) -> bool:
        saved: bool = self._revocations("deny a session without a revocation store").save(record, create=create)
        return saved

    def sweep(self, now: float, limit: int = 100) -> list[Record]:
        """Expired deny entries only: the sessions' own silent expiry is never seen."""
        return [] if self.revocations is None else self.revocations.sweep(now, limit)

    # -- what only a server-side store could answer --------------------------------------

    def _unsupported(self, what: str) -> NotInCookieMode:
        return NotInCookieMode(f"signed-cookie mode cannot {what}: each session lives only in its browser's cookie")

    def touch(self, key: str, meta: Meta) -> bool:
        raise self._unsupported("touch a session on the server")

    def load_and_touch(self, key: str, now: float, policy: Any) -> Record | None:
        raise self._unsupported("load a session by key")

    def delete(self, key: str) -> Record | None:
        raise self._unsupported("delete a session by key (revoke it instead)")

    def list_by_user(self, user: str) -> list[Record]:
        raise self._unsupported("list a user's sessions")

    def delete_by_user(self, user: str) -> list[Record]:
        raise self._unsupported("delete a user's sessions (revoke(user=...) them instead)")

    def count(self) -> int:
        raise self._unsupported("count sessions")

    def close(self) -> None:
        if self.revocations is not None:
            self.revocations.close()


_URL_SAFE = bytes.maketrans(b"-_", b"+/")
_COMPRESS_FROM = 512
_dump_json = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


def _b64decode(data: bytes) -> bytes:
    """itsdangerous' URL-safe, unpadded base64, decoded in one C call."""
    return binascii.a2b_base64(data.translate(_URL_SAFE) + b"=" * (-len(data) % 4))


def _load_payload(payload: bytes) -> Any:
    """An already verified itsdangerous ``URLSafeSerializer`` payload: base64 of JSON,
    zlib-compressed when it starts with a dot."""
    if payload.startswith(b"."):
        return json.loads(zlib.decompress(_b64decode(payload[1:])))
    return json.loads(_b64decode(payload))


def _dump_payload(payload: Any) -> bytes:
    """itsdangerous' ``URLSafeSerializer`` payload, compressed only past
    ``_COMPRESS_FROM`` bytes of JSON: a small cookie then verifies without a zlib call,
    while a large one still gets the room compression gives under the cap."""
    raw = _dump_json(payload).encode()
    if len(raw) >= _COMPRESS_FROM:
        packed = zlib.compress(raw)
        if len(packed) < len(raw) - 1:
            return b"." + base64.urlsafe_b64encode(packed).rstrip(b"=")
    return base64.urlsafe_b64encode(raw).rstrip(b"=")


def not_before_key(user: str) -> str:
    """The revocation store's key of ``user``'s "not before" entry: a hash, like every key
    (a user id never appears as a key), in a space apart from session ids' hashes."""
    return hashlib.sha256(b"tether.not-before\0" + user.encode()).hexdigest()


class CookieCodec:
    """Cookie value ↔ :class:`Record`: itsdangerous' ``URLSafeTimedSerializer`` format,
    signed by its ``TimestampSigner`` (a value either one makes, the other reads).

    The payload is a compact JSON list (id, the meta's times, user, data, device, ip); the
    record's key is ``hash_token(id)``, what logout and revoke name in the revocation store.
    ``read`` returns None for anything that is not a cookie this app signed and still
    within ``max_age`` of its signing: tampered, truncated, wrong key, garbage.
    """

    def __init__(self, keys: Sequence[str | bytes], *, clock: Clock, max_size: int) -> None:
        from itsdangerous import TimestampSigner

        class ClockSigner(TimestampSigner):
            """Timestamps from tether's clock (an injected clock drives the signature age),
            and each key derived once rather than on every signature (a third of a
            verification's cost: this is the heartbeat's hot path)."""

            derived: dict[bytes, bytes] = {}

            def get_timestamp(self) -> int:
                return int(clock())

            def derive_key(self, secret_key: str | bytes | None = None) -> bytes:
                raw = self.secret_keys[-1] if secret_key is None else secret_key
                raw = raw.encode() if isinstance(raw, str) else raw
                key = self.derived.get(raw)
                if key is None:
                    key = self.derived[raw] = super().derive_key(raw)
                return key

        # itsdangerous takes the keys oldest first and signs with the last. One signer for
        # every request; payloads are itsdangerous' URL-safe serializer format (below).
        oldest_first: list[Any] = list(reversed(keys))
        self._signer = ClockSigner(oldest_first, salt=_SALT)
        # Verification, the hot path, checks the same signature as the signer's
        # ``unsign`` (HMAC-SHA1 with each derived key over ``payload.timestamp``) in a
        # few calls instead of its dozens: one keyed HMAC per key, copied per request.
        self._macs = [hmac.new(self._signer.derive_key(k), digestmod=hashlib.sha1) for k in keys]
        self._clock = clock
        self._bad = (BadData, ValueError, TypeError, OverflowError, UnicodeError, binascii.Error)
        self.max_size = max_size

    def _unsign(self, value: str, max_age: float | None) -> bytes:
        """The payload of a value signed with one of the keys, at most ``max_age`` old."""
        signed, _, signature = value.encode("ascii").rpartition(b".")
        payload, _, stamp = signed.rpartition(b".")
        expected = _b64decode(signature)
        for template in self._macs:
            mac = template.copy()
            mac.update(signed)
            if hmac.compare_digest(mac.digest(), expected):
                break
        else:
            raise BadSignature("signature does not match")
        if max_age is not None and self._clock() - int.from_bytes(_b64decode(stamp), "big") > max_age:
            raise SignatureExpired("signature too old")
        return payload

    def read(self, value: str, *, max_age: float | None) -> tuple[str, Record] | None:
        """``(session id, record)``, or None for a value this app did not sign."""
        try:
            payload = _load_payload(self._unsign(value, max_age))
            sid, created, last, idle, absolute, user, data, device, ip = payload
            # The id's shape needs no check: only this app's keys sign a cookie.
            if not isinstance(sid, str) or not isinstance(data, dict):
                return None
            if user is not None and not isinstance(user, str):
                return None
            meta = Meta(float(created), float(last), float(idle), float(absolute), user, device, ip)
        except self._bad:
            return None
        return sid, Record(hash_token(sid), meta, data)

    def write(self, sid: str, record: Record, name: str) -> str:
        """The cookie value for ``record``; :class:`CookieTooLarge` when it would not fit."""
        m = record.meta
        payload = [sid, m.created_at, m.last_active, m.idle_expires_at, m.absolute_expires_at, m.user, record.data, m.device, m.ip]
        value = self._signer.sign(_dump_payload(payload)).decode("ascii")
        size = len(name) + 1 + len(value) + _ATTRIBUTES_BYTES
        if size > self.max_size:
            raise CookieTooLarge(
                f"the session cookie would be {size} bytes, over the {self.max_size}-byte cap: "
                "keep large data server-side and store only its id in the session"
            )
        return value


__all__ = ["SignedCookieStore", "CookieCodec", "MAX_COOKIE_BYTES", "not_before_key", "split_keys"]
