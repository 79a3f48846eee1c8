"""The session handle an app sees, and what the app asked of it (its *intent*).

The handle records intent only: ``login(user)`` and ``logout()`` take effect when the
response starts, in :meth:`tether.Protocol.save_session`, which reads the public
read-only intent below (``wants_login``, ``wants_logout``, ``replaces``,
``clears_cookie``, ``changed``) rather than the handle's insides.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._policy import EndReason
from ._records import Meta, Record, dump_data

if TYPE_CHECKING:
    from ._config import Config
    from ._protocol import Request


class Session:
    """The session handle an app sees (``scope["tether"]``, ``environ["tether.session"]``).

    ``data`` is the application's dict (``scope["session"]``). ``login(user)`` and
    ``logout()`` take effect when the response starts: sign-in always issues a new token
    and a new absolute window (the old token dies), sign-out deletes the record.
    ``config`` is the :class:`tether.Config` in force (the client script reads it).
    """

    def __init__(
        self,
        config: Config,
        record: Record | None,
        *,
        now: float,
        secure: bool,
        ended_reason: EndReason | None = None,
        clears_cookie: bool = False,
        snapshot: bool = True,
        request: Request | None = None,
    ):
        self.config = config
        self.record = record
        self.data: dict[str, Any] = record.data if record is not None else {}
        # What `changed` compares the data with. The endpoints never save the session, so
        # they skip the serialisation.
        self._snapshot = dump_data(self.data) if record is not None and snapshot else "{}"
        self.now = now
        self.secure = secure
        self.ended_reason = ended_reason
        self._clears_cookie = clears_cookie
        #: The request it came with: sign-in reads the User-Agent (and address) from it.
        self.request = request
        self._login: str | None = None
        self._logout = False
        self._replace = False
        self._end_others = False

    # -- what the app asked for (read by the protocol when the response starts) -----------

    @property
    def wants_login(self) -> str | None:
        """The user ``login()`` asked to sign in, or None."""
        return self._login

    @property
    def wants_logout(self) -> bool:
        """``logout()`` was called (and no ``login()`` after it)."""
        return self._logout

    @property
    def replaces(self) -> bool:
        """The loaded session ends (``on_end`` sees ``logout``) rather than rotating to a
        new token: signed out, or signed in as someone else."""
        return self._replace

    @property
    def wants_end_others(self) -> bool:
        """``end_other_sessions()`` was called."""
        return self._end_others

    @property
    def clears_cookie(self) -> bool:
        """The request's cookie named no live session (ended, unknown or malformed)."""
        return self._clears_cookie

    @property
    def changed(self) -> bool:
        """The app changed ``data`` since it was loaded."""
        return dump_data(self.data) != self._snapshot

    @property
    def carried_cookie(self) -> bool:
        """True when the request came with a session cookie (live, ended or unknown): its
        answer depends on that cookie, so a shared cache must key on it (``Vary: Cookie``)."""
        return self.record is not None or self._clears_cookie

    # -- the app's view ---------------------------------------------------------------------

    @property
    def meta(self) -> Meta | None:
        return None if self.record is None else self.record.meta

    @property
    def user(self) -> str | None:
        if self._login is not None:
            return self._login
        return None if self.record is None or self._logout else self.record.meta.user

    @property
    def active(self) -> bool:
        """True when a live session came with the request (or sign-in is pending)."""
        return (self.record is not None and not self._logout) or self._login is not None

    def login(self, user: str) -> None:
        """Sign ``user`` in: a new token and a new absolute window.

        Data carries over from an anonymous session or the same user's (a cart kept across
        sign-in). A different person's session ends (``on_end`` sees ``logout``) and its
        data stays behind.
        """
        if not isinstance(user, str) or not user:
            raise ValueError("login(user) needs a non-empty string id")
        current = self.user
        if current is not None and current != user:
            self._replace = True
            self.data.clear()
        self._login = user
        self._logout = False

    def logout(self) -> None:
        """End the session now (reason ``logout``) and clear the cookie."""
        self._logout = True
        self._replace = True
        self._login = None
        self.data.clear()

    def end_other_sessions(self) -> None:
        """Sign this user out everywhere else: every other session of theirs ends (reason
        ``revoked``, ``on_end`` fires for each) when the response starts; this one stays.
        Their browsers learn it at their next request (401 ``revoked`` from the endpoints)."""
        if self.user is None:
            raise ValueError("end_other_sessions() needs a signed-in session")
        self._end_others = True

    def state(self) -> dict[str, Any]:
        """The status body as of this request: what the page's script starts from."""
        policy = self.config.policy_of(self.user)
        if self._login is not None:
            return policy.state(policy.start(self.now, self._login), self.now)
        if self.record is None or self._logout:
            return {"state": "ended", "reason": self.ended_reason or "none"}
        return policy.state(self.record.meta, self.now)


__all__ = ["Session"]
