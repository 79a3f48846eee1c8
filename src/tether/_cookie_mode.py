"""Signed-cookie mode: the same protocol, with the session read from and written to the
cookie instead of a store (DESIGN §6).

:class:`CookieProtocol` overrides only where the record comes from and where it goes:
``open_session`` verifies the signature, then applies the very same idle and absolute
rules from the signed meta; ``save_session`` re-signs the cookie when the app wrote data
or the idle expiry slid (at most once per ``touch_granularity``, so the idle timeout is
exact to the granularity); ``live_cookies`` does the same for a heartbeat. Everything
else (refusals, endpoints, the script) is the base protocol's. The only store operations
left are against the optional revocation store, so a server without one does no I/O.
"""

from __future__ import annotations

import logging
from typing import Any, Callable, Generator, Sequence

from ._config import Config
from ._cookies import read_cookie
from ._events import SessionStarted, TouchWritten
from ._ops import Create, Emit, Load, Op, ReportEnd, Sweep
from ._protocol import Protocol, Request
from ._records import Meta, Record, hash_token, new_token
from ._session import Session, TrackedData
from .exceptions import CookieTooLarge, NotInCookieMode
from .stores.cookie import CookieCodec, SignedCookieStore, not_before_key

logger = logging.getLogger("tether")


class CappedData(TrackedData):
    """The session's data dict; a write that would overflow the cookie raises
    :class:`CookieTooLarge` at that write, in the app's code, and is undone (and so is
    no change: :class:`TrackedData` compares the JSON)."""

    __slots__ = ("_check",)

    def __init__(self, data: dict[str, Any], check: Callable[[dict[str, Any]], object]) -> None:
        super().__init__(data)
        self._check = check

    def _guarded(self, change: Callable[[], Any]) -> Any:
        self._write()
        before = dict(self)
        result = change()
        try:
            self._check(self)
        except CookieTooLarge:
            dict.clear(self)
            dict.update(self, before)
            raise
        return result

    def __setitem__(self, key: str, value: Any) -> None:
        self._guarded(lambda: dict.__setitem__(self, key, value))

    def update(self, *args: Any, **kwargs: Any) -> None:
        self._guarded(lambda: dict.update(self, *args, **kwargs))

    def setdefault(self, key: str, default: Any = None) -> Any:
        return self._guarded(lambda: dict.setdefault(self, key, default))

    def __ior__(self, other: Any) -> CappedData:  # type: ignore[misc]  # dict's |= returns Self
        self.update(other)
        return self


class CookieSession(Session):
    """A :class:`Session` whose record came from the cookie: it knows the session id (to
    re-sign the cookie) and whether this request slid the idle expiry (``reissue``)."""

    def __init__(self, config: Config, record: Record | None, *, sid: str | None = None, reissue: bool = False,
                 check: Callable[[dict[str, Any]], object] | None = None, **kwargs: Any) -> None:
        super().__init__(config, record, **kwargs)
        self.sid = sid
        self.reissue = reissue
        if check is not None:
            self.data = CappedData(self.data, check)
            if record is not None:
                record.data = self.data


class CookieProtocol(Protocol):
    """The protocol of DESIGN §4 over a signed cookie (see the module docstring)."""

    def __init__(self, config: Config, store: SignedCookieStore) -> None:
        super().__init__(config)
        self.codec = CookieCodec(store.secret_keys, clock=config.clock, max_size=store.max_size)
        self.revocable = store.revocations is not None
        # A signature older than the longest absolute window cannot belong to a live
        # session; with per-user policies only the signed meta decides.
        self._max_age = config.policy.absolute_timeout if config.policy_for is None else None

    # -- reading the cookie ------------------------------------------------------------------

    def open_session(
        self, request: Request, *, passive: bool | None = None, snapshot: bool = True
    ) -> Generator[Op, Any, Session]:
        secure = self._secure(request)
        config = self.config
        now = config.clock()
        value = read_cookie(request.headers.get("cookie"), self._cookie_name(secure))
        if value is None:
            return self._anonymous(now, secure, None, request)
        opened = self.codec.read(value, max_age=self._max_age) if len(value) < self.codec.max_size else None
        if opened is None:
            logger.info("tether: refused a session cookie that is not one this app signed (or too old)")
            return self._anonymous(now, secure, "none", request)
        sid, record = opened
        policy = config.policy_of(record.meta.user)
        reason: str | None = policy.end_reason(record.meta, now)
        if reason is None and self.revocable:
            reason = yield from self._denied(record)
        if reason is not None:
            return self._anonymous(now, secure, reason, request)
        if passive is None:
            passive = self.is_passive(request) or self.refused_unsafe(request)
        reissue = not passive and policy.wants_touch(record.meta, now)
        if reissue:
            record.meta = policy.touched(record.meta, now)
            if self._on_event is not None:
                yield Emit(TouchWritten(record.key))  # this answer re-signs the cookie: the write
        # Without a snapshot the session is never saved (the endpoints): no cap to guard.
        check = self._checker(sid, record.meta, secure) if snapshot else None
        return CookieSession(config, record, sid=sid, reissue=reissue, check=check, now=now, secure=secure,
                             snapshot=snapshot, request=request)

    def _anonymous(self, now: float, secure: bool, reason: Any, request: Request) -> Session:
        """No live session: a fresh anonymous one (its first write signs a new cookie)."""
        meta = self.config.policy.start(now)
        return CookieSession(self.config, None, check=self._checker(new_token(), meta, secure), now=now,
                             secure=secure, ended_reason=reason, clears_cookie=reason is not None, request=request)

    def _checker(self, sid: str, meta: Meta, secure: bool) -> Callable[[dict[str, Any]], object]:
        name = self._cookie_name(secure)
        return lambda data: self.codec.write(sid, Record("", meta, data), name)

    def _denied(self, record: Record) -> Generator[Op, Any, str | None]:
        """The revocation store's verdict: ended by logout or revoke, or None (live)."""
        tombstone = yield Load(record.key)
        if tombstone is not None:
            # As a store-backed session's: a revoked browser learns why; one that logged
            # out or rotated its id is simply unknown.
            return "revoked" if tombstone.meta.ended == "revoked" else "none"
        user = record.meta.user
        if user is None:
            return None
        mark = yield Load(not_before_key(user))
        if mark is None or record.meta.created_at >= mark.meta.created_at:
            return None
        # First sight of a session its user's revoke ended: report it, and deny it by id
        # from now on so that a copy of it is not reported again.
        yield from self._end(record, "revoked")
        return "revoked"

    # -- writing the cookie ------------------------------------------------------------------

    def _issue(self, sid: str, record: Record, secure: bool) -> str:
        return self._set(self.codec.write(sid, record, self._cookie_name(secure)), secure)

    def live_cookies(self, session: Session) -> Sequence[tuple[str, str]]:
        """A heartbeat that slid the idle expiry re-signs the cookie: there is no other way
        to move it. The status endpoint never slides, so never sends one."""
        if not isinstance(session, CookieSession) or not session.reissue or session.record is None:
            return ()
        assert session.sid is not None
        return [("set-cookie", self._issue(session.sid, session.record, session.secure))]

    def saves_nothing(self, session: Session) -> bool:
        """As the base protocol's, and no slid idle expiry to re-sign (``reissue``)."""
        if not isinstance(session, CookieSession) or (session.record is not None and session.sid is None):
            return False  # not a session this protocol read: save_session decides
        return not session.reissue and super().saves_nothing(session)

    def save_session(self, session: Session) -> Generator[Op, Any, list[str]]:
        """Logout ends (and denies) the session; sign-in or a first write signs a new id
        and window; a data write or a slide re-signs the same id. A cookie that would not
        fit (data mutated in place past the cap) is logged and the old cookie kept."""
        secure = session.secure
        record = session.record
        if session.wants_logout:
            if record is not None:
                yield from self._end(record, "logout")
            if not session.data:
                return [self._clear(secure)] if record is not None or session.clears_cookie else []
            record = None  # written after logout(): a new anonymous session carries it (as above)
        user = session.wants_login
        try:
            if user is not None or (record is None and session.data):
                if record is not None:
                    if session.replaces:
                        yield from self._end(record, "logout")
                    elif self.revocable:
                        yield from self._deny(record, "none")  # rotated: the old id dies
                meta = self.policy_of(user).start(self.config.clock(), user)
                if user is not None:
                    meta = self._signed_in_from(meta, session.request)
                sid = new_token()
                cookie = self._issue(sid, Record(hash_token(sid), meta, dict(session.data)), secure)
                if self._on_event is not None:
                    yield Emit(SessionStarted(hash_token(sid), user))
                return [cookie]
            if record is not None and isinstance(session, CookieSession) and session.sid is not None:
                if session.changed or session.reissue:
                    return [self._issue(session.sid, Record(record.key, record.meta, dict(session.data)), secure)]
                return []
        except CookieTooLarge as exc:
            logger.error("tether: session not saved, the previous cookie stays: %s", exc)
            return []
        return [self._clear(secure)] if session.clears_cookie else []

    def _end(self, record: Record, reason: str) -> Generator[Op, Any, None]:
        """Deny the session id until its absolute expiry (with a revocation store) and
        report the end. Without the store only this browser's cookie is cleared."""
        if self.revocable:
            yield from self._deny(record, reason)
        if self._reports_end:
            yield ReportEnd(record, reason)

    def _deny(self, record: Record, reason: str) -> Generator[Op, Any, None]:
        """A deny entry for the session id, kept until the session's absolute expiry (when
        the sweeper removes it: no cookie of that id can be live after it)."""
        m = record.meta
        ended = Meta(m.created_at, m.last_active, m.absolute_expires_at, m.absolute_expires_at, m.user,
                     m.device, m.ip, ended=reason)
        yield Create(Record(record.key, ended, {}))

    # -- revoking and sweeping ---------------------------------------------------------------

    def revoke(
        self, key: str | None = None, *, user: str | None = None, keep: str | None = None
    ) -> Generator[Op, Any, int]:
        """Deny one session id (``key`` is its record key) or every session of ``user``
        signed in before now. Returns how many sessions were ended *now*: one for a key
        (``on_end`` sees the tombstone: the server never had the session's data), none for
        a user, whose sessions each end and are reported at their next request.

        ``keep`` (every session but this one) cannot be done here: the server knows no
        list of a user's sessions, only a "not before" time that would end this one too."""
        if keep is not None:
            raise NotInCookieMode("signed-cookie mode cannot end a user's other sessions and keep this one")
        if not self.revocable:
            raise NotInCookieMode("revoking a signed-cookie session needs a revocation store (revocations=...)")
        if (key is None) == (user is None):
            raise ValueError("revoke() takes a key or a user, not both")
        now = self.config.clock()
        window = self.policy_of(user).absolute_timeout
        if user is not None:
            mark = Meta(now, now, now + window, now + window, user, ended="revoked")
            yield Create(Record(not_before_key(user), mark, {}))
            return 0
        assert key is not None
        tombstone = Record(key, Meta(now, now, now + window, now + window, ended="revoked"), {})
        yield Create(tombstone)
        if self._reports_end:
            yield ReportEnd(tombstone, "revoked")
        return 1

    def sweep(self, limit: int = 100) -> Generator[Op, Any, int]:
        """Remove expired deny entries (nothing is reported: each end was reported when it
        happened). The sessions' own silent expiry cannot be seen, nor reported."""
        if not self.revocable:
            yield from ()  # a generator all the same: the runtime drives every sweep alike
            return 0
        removed: list[Record] = yield Sweep(self.config.clock(), limit)
        return len(removed)


__all__ = ["CookieProtocol", "CookieSession", "CappedData"]
