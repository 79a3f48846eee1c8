"""The session engine: ``SESSION_ENGINE = "tether.contrib.django.session"``.

``request.session`` is a :class:`SessionStore` bound by the middleware to the request's
tether session (``request.session.tether`` is the handle). Django's session API maps onto
the handle, so ``django.contrib.auth`` works unchanged:

- ``login()`` calls ``cycle_key()`` (or ``flush()``) and sends ``user_logged_in``: the
  session is signed in as that user, with a new token and a new absolute window;
- ``logout()`` calls ``flush()``: the session ends (reason ``logout``) and its cookie is
  cleared; data written afterwards starts a new anonymous session;
- ``update_session_auth_hash()`` calls ``cycle_key()``: a new token for the same user.

Nothing is written until the response starts (the middleware persists it) and only what
changed is written. Expiry is the policy's (``TETHER`` settings): ``set_expiry()`` is
accepted and ignored, and the cookie always ends with the browser session.

Without the middleware (Django's test client ``login()``, scripts) the store works
standalone: ``session_key`` is then the cookie token and ``save()`` writes at once.
"""

from __future__ import annotations

import datetime
from typing import Any

from asgiref.sync import sync_to_async
from django.contrib.sessions.backends.base import SessionBase
from django.utils import timezone

from ..._session import Session
from ..._records import hash_token, is_token
from .conf import Runtime, runtime

AUTH_USER_KEY = "_auth_user_id"  # django.contrib.auth.SESSION_KEY, without importing auth


class SessionStore(SessionBase):
    def __init__(self, session_key: str | None = None, *, handle: Session | None = None, tether: Runtime | None = None):
        # SessionBase.__init__ is not called: the key and the data live in the handle.
        self.accessed = False
        self.modified = False
        self._runtime = tether or runtime()
        self._bound = handle is not None
        #: The request came with a session cookie: its page must say ``Vary: Cookie``.
        self.carried_cookie = handle is not None and handle.carried_cookie
        self._handle = handle
        self._token = session_key if session_key and is_token(session_key) else None
        self._ended: list[Session] = []
        self._user: str | None = None
        self._rotate = False

    @property
    def tether(self) -> Session:
        """The tether session handle (``login``, ``logout``, ``user``, ``meta``, ``state()``)."""
        if self._handle is None:
            self._handle = self._runtime.open_token(self._token)
        return self._handle

    @property
    def session_key(self) -> str | None:
        """The store key (the token's hash, safe to log) when bound to a request; the token
        itself when standalone, because Django's test client puts it in the cookie."""
        if not self._bound:
            return self._token
        record = self.tether.record
        return None if record is None else record.key

    _session_key = session_key

    def _get_session(self, no_load: bool = False) -> dict[str, Any]:
        self.accessed = True
        return self.tether.data

    _session = property(_get_session)

    async def _aget_session(self, no_load: bool = False) -> dict[str, Any]:
        if self._handle is None:
            await sync_to_async(lambda: self.tether)()
        return self._get_session()

    def load(self) -> dict[str, Any]:
        return self._get_session()

    def is_empty(self) -> bool:
        if self._handle is None:
            return self._token is None
        return self._handle.record is None and not self._handle.data

    def clear(self) -> None:
        self._get_session().clear()
        self.modified = True

    def exists(self, session_key: str) -> bool:
        return is_token(session_key) and self._runtime.store.load(hash_token(session_key)) is not None

    # -- sign-in, sign-out, rotation -------------------------------------------------------

    def signed_in(self, user: str) -> None:
        """Sign ``user`` in when the session is stored (the ``user_logged_in`` receiver)."""
        self._user = user

    def cycle_key(self) -> None:
        """A new token at the next save, for the signed-in user. An anonymous session is
        not rotated: tether issues the new token when someone signs in."""
        self._rotate = True
        self.modified = True

    def create(self) -> None:
        self.cycle_key()

    def flush(self) -> None:
        """End this session (``logout``); later writes go to a new anonymous session."""
        ended = self.tether
        ended.logout()
        self._ended.append(ended)
        self._handle = Session(self._runtime.config, None, now=ended.now, secure=ended.secure)
        self._user, self._rotate, self.modified = None, False, True
        if not self._bound:
            self.save()

    def delete(self, session_key: str | None = None) -> None:
        if session_key is None:
            self.flush()
        elif is_token(session_key):
            self._runtime.run(self._runtime.protocol.revoke(hash_token(session_key)))

    # -- persisting ------------------------------------------------------------------------

    def close(self) -> list[str]:
        """Persist every change through the protocol; returns the Set-Cookie values, the
        last one for each cookie name."""
        handle = self.tether
        user = self._user
        if not user and self._rotate:
            user = handle.data.get(AUTH_USER_KEY) or handle.user
        if user:
            handle.login(str(user))
        last: dict[str, str] = {}
        for session in [*self._ended, handle]:
            for cookie in self._runtime.run(self._runtime.protocol.save_session(session)):
                # One Set-Cookie per name: a clear followed by a new token keeps the token.
                last[cookie.partition("=")[0]] = cookie
        return list(last.values())

    def save(self, must_create: bool = False) -> None:
        """Bound to a request: nothing now, the middleware stores the session when the
        response starts. Standalone: store now and remember the token."""
        if self._bound:
            return
        for cookie in self.close():
            self._token = cookie.split(";", 1)[0].partition("=")[2] or None
        self._handle, self._ended, self._user, self._rotate = None, [], None, False

    async def asave(self, must_create: bool = False) -> None:
        await sync_to_async(self.save)(must_create)

    async def aflush(self) -> None:
        await sync_to_async(self.flush)()

    async def acycle_key(self) -> None:
        self.cycle_key()

    # -- expiry: the policy decides ----------------------------------------------------------

    def get_expiry_age(self, **kwargs: Any) -> int:
        """Seconds until the session ends if nothing happens (the idle or absolute limit)."""
        handle = self.tether
        if handle.meta is None:
            return int(self._runtime.config.policy.idle_timeout)
        return max(0, int(handle.meta.expires_at - handle.now))

    def get_expiry_date(self, **kwargs: Any) -> datetime.datetime:
        expiry: datetime.datetime = timezone.now() + datetime.timedelta(seconds=self.get_expiry_age())
        return expiry

    def set_expiry(self, value: Any) -> None:
        """Ignored: ``TETHER`` timeouts decide, and the cookie lasts the browser session."""

    def get_expire_at_browser_close(self) -> bool:
        return True

    async def aget_expiry_age(self, **kwargs: Any) -> int:
        return self.get_expiry_age()

    async def aget_expiry_date(self, **kwargs: Any) -> datetime.datetime:
        return self.get_expiry_date()

    async def aset_expiry(self, value: Any) -> None:
        """Ignored, as :meth:`set_expiry`."""

    async def aget_expire_at_browser_close(self) -> bool:
        return True

    @classmethod
    def clear_expired(cls) -> None:
        """``manage.py clearsessions``: claim expired sessions, reporting each to ``on_end``."""
        runtime().sweep()


__all__ = ["SessionStore"]
