"""The session handle an app sees, and what the app asked of it (its *intent*).

The handle records intent only: ``login(user)`` and ``logout()`` take effect when the
response starts, in :meth:`tether.Protocol.save_session`, which reads the public
read-only intent below (``wants_login``, ``wants_logout``, ``replaces``,
``clears_cookie``, ``changed``) rather than the handle's insides.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterable

from ._policy import EndReason
from ._records import Meta, Record, dump_data

if TYPE_CHECKING:
    from ._config import Config
    from ._protocol import Request

#: Values that cannot change in place: data holding only these needs no snapshot until
#: it is written to (exact types: a subclass could be mutable).
_SCALARS = frozenset((str, int, float, bool, type(None)))


class TrackedData(dict):  # type: ignore[type-arg]
    """The session's data dict, which tells whether it changed without serialising it on
    every request.

    "Changed" means what it always meant: its JSON (:func:`dump_data`, keys sorted)
    differs from the JSON it had when loaded. That JSON (the snapshot) is taken when the
    dict is built if a value is a list, a dict or anything else that can be mutated in
    place, where no write to this dict would be seen. Otherwise it is taken only at the
    first write, just before it: most pages read their data and never write, and then
    pay for no serialisation at all. A write that puts back an equal value is therefore
    not a change, as before.
    """

    __slots__ = ("_before",)

    def __init__(self, data: Iterable[Any] = (), /, **kwargs: Any) -> None:
        super().__init__(data, **kwargs)
        self._before: str | None = None if _SCALARS.issuperset(map(type, self.values())) else dump_data(self)

    def __reduce__(self) -> tuple[type[dict[str, Any]], tuple[dict[str, Any]]]:
        """Copies and pickles are plain dicts, as the session's data was before it was
        tracked (and a pickle then loads without tether)."""
        return dict, (dict(self),)

    @property
    def changed(self) -> bool:
        """Its JSON differs from the JSON it was built with."""
        return self._before is not None and dump_data(self) != self._before

    def _write(self) -> None:
        """Called before every mutation: the first one takes the snapshot."""
        if self._before is None:
            self._before = dump_data(self)

    def __setitem__(self, key: str, value: Any) -> None:
        self._write()
        super().__setitem__(key, value)

    def __delitem__(self, key: str) -> None:
        self._write()
        super().__delitem__(key)

    def __ior__(self, other: Any) -> TrackedData:  # type: ignore[misc]  # dict's |= returns Self
        self._write()
        super().update(other)
        return self

    def update(self, *args: Any, **kwargs: Any) -> None:
        self._write()
        super().update(*args, **kwargs)

    def setdefault(self, key: str, default: Any = None) -> Any:
        self._write()
        return super().setdefault(key, default)

    def pop(self, *args: Any) -> Any:
        self._write()
        return super().pop(*args)

    def popitem(self) -> tuple[str, Any]:
        self._write()
        return super().popitem()

    def clear(self) -> None:
        self._write()
        super().clear()


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
        self.data: dict[str, Any]
        if record is not None and snapshot:
            # Tracked, for `changed`; the record keeps the very dict the app sees.
            self.data = record.data = TrackedData(record.data)
        else:
            # No record: nothing to compare with (any data is a first write). No snapshot:
            # the endpoints, which never save the session.
            self.data = record.data if record is not None else {}
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
        """The app changed ``data`` since it was loaded (its JSON differs)."""
        data = self.data
        if isinstance(data, TrackedData):
            return data.changed
        return dump_data(data) != "{}"  # untracked: compared with an empty snapshot, as always

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
        """End the session now (reason ``logout``) and clear the cookie. Data written after
        this (a "you are signed out" message) goes to a new anonymous session."""
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


__all__ = ["Session", "TrackedData"]
